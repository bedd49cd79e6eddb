import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeAnthropic, startFakeAnthropic } from '../fakes/anthropic-server.js';
import { createBareFixture, FIXTURE_FILES, gitIn } from '../fakes/fixture-repo.js';
import { runCli } from '../support/run-cli.js';
import { scratchConfig } from '../support/workspace.js';

const KEY = 'sk-ant-prepared-key-0b3e';
/** Counts its own runs in the sandbox's home, which moves with a prepared sandbox. */
const SETUP = 'echo ran >> "$HOME/setup-runs"';

interface Shown {
  events: Array<{ type: string; data: Record<string, unknown> }>;
  tool_calls: Array<{ name: string; output: string }>;
}

/** Prepared sandboxes (issue 11): built by `airlock prepare`, claimed by a run on the same head. */
describe('prepared sandboxes', () => {
  let fake: FakeAnthropic | undefined;
  const cleanups: Array<() => void> = [];
  afterEach(async () => {
    await fake?.close();
    for (const c of cleanups.splice(0)) c();
  });

  function setupRepo(setup = SETUP) {
    const fixture = createBareFixture(FIXTURE_FILES);
    cleanups.push(fixture.cleanup);
    const policy = (command: string) =>
      `repos:\n  acme/widgets:\n    url: ${fixture.bare}\n    forge: git\n    prepared: 1\n    setup: '${command}'\n`;
    const scratch = scratchConfig(policy(setup));
    cleanups.push(scratch.cleanup);
    const env = { AIRLOCK_CONFIG: scratch.config, AIRLOCK_DATA_DIR: scratch.dataDir };
    return {
      ...fixture,
      env,
      setPolicy: (command: string) => writeFileSync(scratch.config, policy(command)),
    };
  }

  async function agentRun(env: Record<string, string>) {
    fake = await startFakeAnthropic({
      apiKey: KEY,
      script: [
        { content: [{ type: 'tool_use', name: 'bash', input: { command: 'wc -l < "$HOME/setup-runs"' } }] },
        { content: [{ type: 'text', text: 'Counted.' }] },
      ],
    });
    const withModel = { ...env, ANTHROPIC_API_KEY: KEY, ANTHROPIC_BASE_URL: fake.url };
    const r = await runCli(['run', '--repo', 'acme/widgets', '--task', 'Count setups', '--json'], withModel);
    await fake.close();
    fake = undefined;
    const id = JSON.parse(r.stdout).run_id;
    const shown = JSON.parse((await runCli(['show', id, '--json'], env)).stdout) as Shown;
    return { code: r.code, shown, stderr: r.stderr };
  }

  const bashOutput = (shown: Shown) => shown.tool_calls.find((c) => c.name === 'bash')?.output.trim();
  const claimed = (shown: Shown) => shown.events.find((e) => e.type === 'sandbox.claimed');

  it('a run on the prepared head claims it and runs no setup; the next run starts cold', async () => {
    const repo = setupRepo();
    const prepared = await runCli(['prepare', '--repo', 'acme/widgets', '--json'], repo.env);
    expect(prepared.code, prepared.stderr).toBe(0);
    expect(JSON.parse(prepared.stdout)).toMatchObject({
      repo: 'acme/widgets',
      built: 1,
      ready: 1,
      failed: [],
    });
    expect(JSON.parse(prepared.stdout).baseSha).toBe(repo.head);

    const first = await agentRun(repo.env);
    expect(first.code, first.stderr).toBe(0);
    expect(claimed(first.shown)?.data).toMatchObject({ base_sha: repo.head });
    // Setup ran once, when the sandbox was prepared; the run's own home came with it.
    expect(bashOutput(first.shown)).toBe('1');

    const second = await agentRun(repo.env);
    expect(second.code, second.stderr).toBe(0);
    expect(claimed(second.shown)).toBeUndefined();
    expect(bashOutput(second.shown)).toBe('1');
  });

  it('a moved base or a changed setup makes prepared sandboxes stale: they are replaced, never claimed', async () => {
    const repo = setupRepo();
    expect((await runCli(['prepare', '--repo', 'acme/widgets'], repo.env)).code).toBe(0);
    // The base branch moves on.
    const work = `${repo.bare}-work`;
    gitIn(repo.bare, 'clone', '-q', repo.bare, work);
    writeFileSync(`${work}/NEWS.md`, 'moved\n');
    gitIn(work, 'add', '-A');
    gitIn(work, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-q', '-m', 'move');
    gitIn(work, 'push', '-q', 'origin', 'HEAD:main');
    const again = await runCli(['prepare', '--repo', 'acme/widgets', '--json'], repo.env);
    expect(JSON.parse(again.stdout)).toMatchObject({ built: 1, removed: 1, ready: 1 });
    expect(JSON.parse(again.stdout).baseSha).not.toBe(repo.head);

    // A different setup is a different sandbox: the run starts cold and runs its own setup.
    repo.setPolicy('echo ran >> "$HOME/setup-runs"; echo changed > /dev/null');
    const run = await agentRun(repo.env);
    expect(run.code, run.stderr).toBe(0);
    expect(claimed(run.shown)).toBeUndefined();
    expect(bashOutput(run.shown)).toBe('1');
  });

  it('a setup that fails leaves nothing prepared and says why; exit 1', async () => {
    const repo = setupRepo('echo broken-registry >&2; exit 3');
    const r = await runCli(['prepare', '--repo', 'acme/widgets', '--json'], repo.env);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('a prepared sandbox could not be built: setup exited 3');
    expect(r.stderr).toContain('broken-registry');
    expect(JSON.parse(r.stdout)).toMatchObject({ built: 0, ready: 0 });
  });

  it("a prepared sandbox's setup goes through the gateway too, audited apart from any run; the chain verifies", async () => {
    const repo = setupRepo('curl -sS http://127.0.0.2:9/pkg; echo ran >> "$HOME/setup-runs"');
    expect((await runCli(['prepare', '--repo', 'acme/widgets'], repo.env)).code).toBe(0);
    const verify = await runCli(['audit', 'verify'], repo.env);
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    const db = new Database(join(repo.env.AIRLOCK_DATA_DIR, 'airlock.db'), { readonly: true });
    const refused = db
      .prepare("SELECT run_id, data FROM events WHERE type = 'egress.refused'")
      .all() as Array<{
      run_id: string;
      data: string;
    }>;
    db.close();
    expect(refused).toHaveLength(1);
    expect(refused[0]?.run_id).toBe('-');
    expect(JSON.parse(refused[0]?.data ?? '{}')).toMatchObject({
      host: '127.0.0.2',
      port: 9,
      phase: 'setup',
    });
    expect(JSON.parse(refused[0]?.data ?? '{}').sandbox).toMatch(/^prep[0-9a-f]{12}$/);
  });

  it('doctor shows readiness', async () => {
    const repo = setupRepo();
    const before = await runCli(['doctor'], repo.env);
    expect(before.stdout).toMatch(/warn {2}prepared acme\/widgets: 0 of 1 ready/);
    await runCli(['prepare', '--repo', 'acme/widgets'], repo.env);
    const after = await runCli(['doctor'], repo.env);
    expect(after.stdout).toMatch(/ok {4}prepared acme\/widgets: 1 of 1 ready \(base [0-9a-f]{12}\)/);
  });
});
