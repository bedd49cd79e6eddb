import { afterEach, describe, expect, it } from 'vitest';
import { type FakeAnthropic, type ScriptStep, startFakeAnthropic } from '../fakes/anthropic-server.js';
import { lastToolResult } from '../fakes/fix-add-script.js';
import { FIXTURE_FILES } from '../fakes/fixture-repo.js';
import { type FakeGitHub, startFakeGitHub } from '../fakes/github-server.js';
import { runCli } from '../support/run-cli.js';
import { scratchConfig } from '../support/workspace.js';

const KEY = 'sk-ant-sweep-replay-0001';
const TOKEN = 'ghp_sweepReplayToken0001';
type Body = { messages: Array<{ role: string; content: unknown }> };

/**
 * The agent as Claude would fix add(), stateless so runs in several repositories can interleave:
 * run the test, fix, run it again (plus `extra`), summarise. Each step checks the last tool ran.
 */
function fixer(extra = ''): ScriptStep {
  return (body) => {
    const b = body as Body;
    const seen = lastToolResult(b);
    switch (b.messages.length) {
      case 1:
        return { content: [{ type: 'tool_use', name: 'bash', input: { command: 'sh test.sh' } }] };
      case 3:
        if (!seen.includes('FAIL')) throw new Error(`unexpected: ${seen}`);
        return {
          content: [
            {
              type: 'tool_use',
              name: 'str_replace_based_edit_tool',
              input: { command: 'str_replace', path: 'src/add.js', old_str: 'a - b', new_str: 'a + b' },
            },
          ],
        };
      case 5:
        return { content: [{ type: 'tool_use', name: 'bash', input: { command: `sh test.sh${extra}` } }] };
      default:
        if (!seen.includes('ok: add(2, 3) = 5')) throw new Error(`test did not pass: ${seen}`);
        return { content: [{ type: 'text', text: 'Fixed add().' }] };
    }
  };
}

describe('airlock sweep and airlock replay', () => {
  let model: FakeAnthropic | undefined;
  let github: FakeGitHub | undefined;
  const cleanups: Array<() => void> = [];
  afterEach(async () => {
    await model?.close();
    await github?.close();
    for (const c of cleanups.splice(0)) c();
  });

  async function setUp(script: ScriptStep[], extraPolicy: string[] = []) {
    github = await startFakeGitHub({
      token: TOKEN,
      repos: [
        { owner: 'acme', name: 'widgets', files: FIXTURE_FILES },
        { owner: 'acme', name: 'gadgets', files: FIXTURE_FILES },
      ],
    });
    model = await startFakeAnthropic({ apiKey: KEY, script });
    const scratch = scratchConfig(
      ['repos:', '  acme/widgets: {}', '  acme/gadgets: {}', ...extraPolicy, ''].join('\n'),
    );
    cleanups.push(scratch.cleanup);
    return {
      ANTHROPIC_API_KEY: KEY,
      ANTHROPIC_BASE_URL: model.url,
      GITHUB_TOKEN: TOKEN,
      GITHUB_API_URL: github.apiUrl,
      AIRLOCK_CONFIG: scratch.config,
      AIRLOCK_DATA_DIR: scratch.dataDir,
    };
  }

  it('sweeps two repositories, both done with their diff hashes; replay reproduces one without the model', async () => {
    const env = await setUp(Array.from({ length: 8 }, () => fixer()));
    const r = await runCli(
      ['sweep', '--repos', 'acme/widgets,acme/gadgets', '--task', 'fix add()', '--json'],
      env,
    );
    expect(r.stderr).not.toContain('airlock: ');
    expect(r.code).toBe(0);
    const results = r.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(results.map((x) => x.repo).sort()).toEqual(['acme/gadgets', 'acme/widgets']);
    for (const x of results) {
      expect(x).toMatchObject({
        state: 'done',
        outcome: 'patch',
        diff_sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
      });
      expect(x.id).toEqual(expect.any(String));
    }
    expect(r.stderr).toContain('[acme/widgets] ');
    expect(r.stderr).toContain('sweep: 2 of 2 repositories done.');
    expect(github?.pushes).toEqual([]);

    const calls = model?.requests.length;
    const one = results[0] as { id: string; diff_sha256: string };
    const replay = await runCli(['replay', one.id, '--json'], env);
    expect(replay.stderr).not.toContain('airlock: ');
    expect(replay.code).toBe(0);
    expect(JSON.parse(replay.stdout)).toMatchObject({
      run_id: one.id,
      diff_sha256: one.diff_sha256,
      recorded_diff_sha256: one.diff_sha256,
      matches: true,
      calls: 3,
      first_divergence: null,
    });
    expect(model?.requests.length).toBe(calls); // no model call
    const shown = await runCli(['show', one.id, '--json'], env);
    const types = (JSON.parse(shown.stdout) as { events: Array<{ type: string }> }).events.map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['replay.started', 'replay.finished']));
    const plain = await runCli(['replay', one.id], env);
    expect(plain.stdout.trim()).toBe(one.diff_sha256);
    expect(plain.stderr).toContain("the diff is the run's");
  });

  it('a sweep with a failing repository reports it and exits 1; the other is done', async () => {
    const env = await setUp(
      [fixer(), fixer(), fixer(), fixer()],
      ['  acme/broken: { url: "http://127.0.0.1:9/none.git" }'],
    );
    const r = await runCli(
      ['sweep', '--repos', 'acme/widgets,acme/broken', '--task', 'fix add()', '--json'],
      env,
    );
    expect(r.code).toBe(1);
    const results = r.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const byRepo = Object.fromEntries(results.map((x) => [x.repo, x]));
    expect(byRepo['acme/widgets']).toMatchObject({ state: 'done' });
    expect(byRepo['acme/broken']).toMatchObject({ state: 'failed' });
    expect(r.stderr).toContain('sweep: 1 of 2 repositories done.');
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
    model?.takeUnconsumed();
  });

  it('replay of a run whose commands are not repeatable: exit 1 and the first divergence', async () => {
    const env = await setUp(Array.from({ length: 4 }, () => fixer(' && date +%s%N > stamp.txt')));
    const run = await runCli(['run', '--repo', 'acme/widgets', '--task', 'fix add()', '--json'], env);
    expect(run.code).toBe(0);
    const { id, diff_sha256 } = JSON.parse(run.stdout) as { id: string; diff_sha256: string };
    const replay = await runCli(['replay', id, '--json'], env);
    expect(replay.code).toBe(1);
    const report = JSON.parse(replay.stdout);
    expect(report).toMatchObject({ matches: false, recorded_diff_sha256: diff_sha256 });
    expect(report.diff_sha256).not.toBe(diff_sha256);
    const plain = await runCli(['replay', id], env);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain("the diff differs from the run's");
    const missing = await runCli(['replay', 'nosuchrun'], env);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('airlock: No run nosuchrun.');
  });
});
