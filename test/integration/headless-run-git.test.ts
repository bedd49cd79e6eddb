import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeAnthropic, startFakeAnthropic } from '../fakes/anthropic-server.js';
import { fixAddScript } from '../fakes/fix-add-script.js';
import { createBareFixture, gitIn } from '../fakes/fixture-repo.js';
import { runCli } from '../support/run-cli.js';
import { scratchConfig } from '../support/workspace.js';

const KEY = 'sk-ant-test-key-0123456789';

describe('airlock run against a plain git remote', () => {
  let fake: FakeAnthropic | undefined;
  const cleanups: Array<() => void> = [];
  afterEach(async () => {
    await fake?.close();
    for (const c of cleanups.splice(0)) c();
  });

  async function setup(headlessPush: boolean) {
    const { bare, head, cleanup } = createBareFixture();
    cleanups.push(cleanup);
    const scratch = scratchConfig(
      `repos:\n  acme/widgets:\n    url: ${bare}\n    forge: git\n    headless_push: ${headlessPush}\n    approvers: [U01APPROVER]\n`,
    );
    cleanups.push(scratch.cleanup);
    fake = await startFakeAnthropic({ apiKey: KEY, script: fixAddScript() });
    const env = {
      ANTHROPIC_API_KEY: KEY,
      ANTHROPIC_BASE_URL: fake.url,
      AIRLOCK_CONFIG: scratch.config,
      AIRLOCK_DATA_DIR: scratch.dataDir,
    };
    return { bare, head, scratch, env };
  }

  it('fixes the fixture, writes the patch, and pushes a branch when headless_push allows it', async () => {
    const { bare, head, scratch, env } = await setup(true);
    const patch = `${scratch.dir}/fix.diff`;
    const result = await runCli(
      ['run', '--repo', 'acme/widgets', '--task', 'Fix add()', '--patch', patch, '--push', '--yes', '--json'],
      env,
    );
    expect(result.stderr).not.toContain('airlock: ');
    expect(result.code).toBe(0);
    expect(fake?.problems).toEqual([]);
    expect(fake?.remaining()).toBe(0);
    const out = JSON.parse(result.stdout);
    expect(out).toMatchObject({ state: 'done', outcome: 'pushed', base_sha: head });
    expect(out.branch).toMatch(new RegExp(`^airlock/${out.run_id}-fix-add$`));
    expect(readFileSync(patch, 'utf8')).toContain('+  return a + b;');

    // The branch holds exactly the approved diff on the base commit, with the run trailer.
    expect(gitIn(bare, 'rev-parse', `${out.branch}^`)).toBe(head);
    expect(gitIn(bare, 'show', `${out.branch}:src/add.js`)).toContain('return a + b;');
    expect(gitIn(bare, 'log', '-1', '--format=%B', out.branch)).toContain(`Airlock-Run: ${out.run_id}`);
    expect(gitIn(bare, 'rev-parse', 'main')).toBe(head);
  });

  it('refuses --push --yes when headless_push is off, pushes nothing, and exits 1 saying why', async () => {
    const { bare, scratch, env } = await setup(false);
    const patch = `${scratch.dir}/fix.diff`;
    const result = await runCli(
      ['run', '--repo', 'acme/widgets', '--task', 'Fix add()', '--patch', patch, '--push', '--yes', '--json'],
      env,
    );
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('headless_push is off for acme/widgets');
    expect(JSON.parse(result.stdout)).toMatchObject({ state: 'rejected' });
    expect(gitIn(bare, 'for-each-ref', '--format=%(refname)')).toBe('refs/heads/main');
    expect(readFileSync(patch, 'utf8')).toContain('+  return a + b;');
  });
});
