import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeAnthropic, type ScriptStep, startFakeAnthropic } from '../fakes/anthropic-server.js';
import { fixAddScript } from '../fakes/fix-add-script.js';
import { createBareFixture } from '../fakes/fixture-repo.js';
import { runCli, startCli } from '../support/run-cli.js';
import { until } from '../support/until.js';
import { scratchConfig } from '../support/workspace.js';

const KEY = 'sk-ant-lifecycle-key-4e1f0a';

/**
 * The run lifecycle's promises as a user meets them at the command line: nothing sticks when a
 * process dies, a hung model ends a run, bad paths are refused before tokens are spent.
 */
describe('runs never stick', () => {
  let fake: FakeAnthropic | undefined;
  const cleanups: Array<() => void> = [];
  afterEach(async () => {
    await fake?.close();
    for (const c of cleanups.splice(0)) c();
  });

  async function setup(script: ScriptStep[], extraYaml = '') {
    const { bare, cleanup } = createBareFixture();
    cleanups.push(cleanup);
    const scratch = scratchConfig(`repos:\n  acme/widgets:\n    url: ${bare}\n    forge: git\n${extraYaml}`);
    cleanups.push(scratch.cleanup);
    fake = await startFakeAnthropic({ apiKey: KEY, script });
    const env = {
      ANTHROPIC_API_KEY: KEY,
      ANTHROPIC_BASE_URL: fake.url,
      AIRLOCK_CONFIG: scratch.config,
      AIRLOCK_DATA_DIR: scratch.dataDir,
    };
    return { scratch, env };
  }

  it('a headless run killed with SIGKILL is failed ("interrupted") with no workspace once any later command ran', async () => {
    // The agent's first command outlives the process that started it.
    const { scratch, env } = await setup([
      { content: [{ type: 'tool_use', name: 'bash', input: { command: 'touch started; sleep 60' } }] },
    ]);
    const cli = startCli(['run', '--repo', 'acme/widgets', '--task', 'Fix add()'], env);
    const workspaces = join(scratch.dataDir, 'workspaces');
    const runId = await until(
      () => /airlock run (\w+) on/.exec(cli.output().stderr)?.[1],
      'the run to start',
      20_000,
    );
    await until(
      () => existsSync(join(workspaces, runId, 'ws', 'started')) || undefined,
      'the agent command',
      20_000,
    );
    cli.child.kill('SIGKILL');
    await cli.result;
    expect(existsSync(join(workspaces, runId))).toBe(true);

    const runs = await runCli(['runs', '--json'], env);
    expect(runs.code).toBe(0);
    const run = (JSON.parse(runs.stdout) as Array<Record<string, unknown>>).find((r) => r.id === runId);
    expect(run).toMatchObject({ state: 'failed', ownerId: null });
    expect(String(run?.error)).toMatch(
      /^Interrupted: airlock run \(pid \d+ on .+\) stopped while the run was working/,
    );
    expect(existsSync(join(workspaces, runId))).toBe(false);
    const show = await runCli(['show', runId], env);
    expect(show.stdout).toMatch(/run\.failed.*interrupted/);
  });

  it('a model endpoint that accepts the connection and sends nothing ends the run within the idle timeout', async () => {
    const { env } = await setup(
      [{ hang: true }, { hang: true }],
      'model: { idle_timeout_seconds: 1, request_timeout_seconds: 30 }\n',
    );
    const started = Date.now();
    const r = await runCli(['run', '--repo', 'acme/widgets', '--task', 'Fix add()', '--json'], env);
    const elapsed = Date.now() - started;
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Anthropic: no response for 1 s (model.idle_timeout_seconds)');
    expect(r.stderr).toContain('ANTHROPIC_BASE_URL');
    expect(r.stderr).not.toMatch(/unexpected error|\n\s+at /);
    // Two attempts of one second, the CLI's start-up and the sandbox: well under the SDK's minutes.
    expect(elapsed).toBeLessThan(15_000);
    const runs = JSON.parse((await runCli(['runs', '--json'], env)).stdout) as Array<Record<string, unknown>>;
    expect(runs[0]).toMatchObject({ state: 'failed' });
  });

  it('--patch into a folder that does not exist is refused before the run starts (exit 2, no run, no model call)', async () => {
    const { scratch, env } = await setup([]);
    const r = await runCli(
      [
        'run',
        '--repo',
        'acme/widgets',
        '--task',
        'Fix add()',
        '--patch',
        join(scratch.dir, 'nope', 'out.diff'),
      ],
      env,
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`the folder ${join(scratch.dir, 'nope')} does not exist or is not writable`);
    expect(fake?.requests).toHaveLength(0);
    expect((await runCli(['runs'], env)).stdout).toContain('No runs yet');
  });

  it('a data directory that is a file is named, with what to do (exit 2, no stack trace)', async () => {
    const { scratch, env } = await setup([]);
    const file = join(scratch.dir, 'data-file');
    writeFileSync(file, 'not a directory');
    const r = await runCli(['runs'], { ...env, AIRLOCK_DATA_DIR: file });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `airlock: AIRLOCK_DATA_DIR ${file} is a file, not a directory. Point AIRLOCK_DATA_DIR at a writable directory.\n`,
    );
  });

  it('a database that is not airlock’s is named, never "unexpected error"', async () => {
    const { scratch, env } = await setup([]);
    mkdirSync(scratch.dataDir, { recursive: true });
    writeFileSync(join(scratch.dataDir, 'airlock.db'), 'this is not a database, just some text '.repeat(200));
    const r = await runCli(['runs'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${join(scratch.dataDir, 'airlock.db')} is not an airlock database`);
    expect(r.stderr).not.toContain('unexpected error');
  });

  it('`airlock retry` of an unknown run is bad usage, and of a run that did not fail to push is refused', async () => {
    const { env } = await setup(fixAddScript());
    expect((await runCli(['retry', 'nope'], env)).code).toBe(2);
    const done = await runCli(['run', '--repo', 'acme/widgets', '--task', 'Fix add()', '--json'], env);
    const runId = JSON.parse(done.stdout).run_id as string;
    const r = await runCli(['retry', runId], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('not retried: This run is done; there is no push to retry.');
  });
});
