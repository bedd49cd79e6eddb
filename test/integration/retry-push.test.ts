import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeAnthropic, startFakeAnthropic } from '../fakes/anthropic-server.js';
import { fixAddScript } from '../fakes/fix-add-script.js';
import { createBareFixture, FIXTURE_FILES, gitIn } from '../fakes/fixture-repo.js';
import { type FakeGitHub, startFakeGitHub } from '../fakes/github-server.js';
import { runCli } from '../support/run-cli.js';
import { scratchConfig } from '../support/workspace.js';

const SECRETS = { ANTHROPIC_API_KEY: 'sk-ant-retry-key-7c21aa', GITHUB_TOKEN: 'ghp_retryToken93b1c0' };
const PULLS = /^\/repos\/acme\/widgets\/pulls$/;

/**
 * A push whose pull-request call failed is finished by `airlock retry RUN`: one branch, the same
 * commit, one pull request, no new model call (issue: retry a half-done push).
 */
describe('airlock retry finishes a half-done push', () => {
  let model: FakeAnthropic | undefined;
  let github: FakeGitHub | undefined;
  const cleanups: Array<() => void> = [];
  afterEach(async () => {
    await model?.close();
    await github?.close();
    for (const c of cleanups.splice(0)) c();
  });

  async function setup() {
    github = await startFakeGitHub({
      token: SECRETS.GITHUB_TOKEN,
      repos: [{ owner: 'acme', name: 'widgets', files: FIXTURE_FILES }],
    });
    model = await startFakeAnthropic({ apiKey: SECRETS.ANTHROPIC_API_KEY, script: fixAddScript() });
    const scratch = scratchConfig('repos:\n  acme/widgets:\n    headless_push: true\n');
    cleanups.push(scratch.cleanup);
    return {
      ...SECRETS,
      ANTHROPIC_BASE_URL: model.url,
      GITHUB_API_URL: github.apiUrl,
      AIRLOCK_CONFIG: scratch.config,
      AIRLOCK_DATA_DIR: scratch.dataDir,
    };
  }

  it('the branch is pushed, the pull request call fails, the run is retryable; retry converges to one branch, the same commit and one PR', async () => {
    const env = await setup();
    github?.failNext({
      method: 'POST',
      path: PULLS,
      status: 403,
      message: 'Resource not accessible by integration',
    });
    const first = await runCli(
      ['run', '--repo', 'acme/widgets', '--task', 'Fix add()', '--push', '--yes', '--json'],
      env,
    );
    expect(first.code).toBe(1);
    const failed = JSON.parse(first.stdout);
    expect(failed).toMatchObject({ state: 'failed', outcome: 'push_failed', retryable: true, pr_url: null });
    expect(failed.error).toContain('Resource not accessible by integration');
    expect(failed.error).toContain(`airlock retry ${failed.run_id}`);
    expect(first.stderr).toContain('not pushed:');
    const commit = github?.refSha('acme', 'widgets', `refs/heads/${failed.branch}`);
    expect(commit).toMatch(/^[0-9a-f]{40}$/);
    expect(github?.pulls).toHaveLength(0);
    expect((await runCli(['runs'], env)).stdout).toContain('push failed: airlock retry');
    const modelCalls = model?.requests.length;

    const retried = await runCli(['retry', failed.run_id, '--json'], env);
    expect(retried.stderr).not.toContain('airlock: ');
    expect(retried.code).toBe(0);
    const done = JSON.parse(retried.stdout);
    expect(done).toMatchObject({
      run_id: failed.run_id,
      state: 'done',
      outcome: 'pushed',
      branch: failed.branch,
    });
    expect(github?.refSha('acme', 'widgets', `refs/heads/${failed.branch}`)).toBe(commit);
    expect(github?.pulls).toHaveLength(1);
    expect(github?.pulls[0]).toMatchObject({ head: failed.branch, headSha: commit });
    expect(done.pr_url).toBe(github?.pulls[0]?.html_url);
    expect(model?.requests.length).toBe(modelCalls);

    // A second retry has nothing to do and says so; still one branch, one PR.
    const again = await runCli(['retry', failed.run_id], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('there is no push to retry');
    expect(github?.pulls).toHaveLength(1);
  });

  it('a push that failed before anything reached the remote is retryable the same way', async () => {
    const { bare, cleanup } = createBareFixture();
    cleanups.push(cleanup);
    // The remote refuses every push for now (a maintenance window, a broken hook).
    const hook = join(bare, 'hooks', 'pre-receive');
    writeFileSync(hook, '#!/bin/sh\necho "the forge is in maintenance" >&2\nexit 1\n', { mode: 0o755 });
    model = await startFakeAnthropic({ apiKey: SECRETS.ANTHROPIC_API_KEY, script: fixAddScript() });
    const scratch = scratchConfig(
      `repos:\n  acme/widgets:\n    url: ${bare}\n    forge: git\n    headless_push: true\n`,
    );
    cleanups.push(scratch.cleanup);
    const env = {
      ANTHROPIC_API_KEY: SECRETS.ANTHROPIC_API_KEY,
      ANTHROPIC_BASE_URL: model.url,
      AIRLOCK_CONFIG: scratch.config,
      AIRLOCK_DATA_DIR: scratch.dataDir,
    };
    const first = await runCli(
      ['run', '--repo', 'acme/widgets', '--task', 'Fix add()', '--push', '--yes', '--json'],
      env,
    );
    expect(first.code).toBe(1);
    const failed = JSON.parse(first.stdout);
    expect(failed).toMatchObject({ state: 'failed', retryable: true });
    expect(failed.error).toContain('the forge is in maintenance');
    expect(gitIn(bare, 'for-each-ref', '--format=%(refname)')).toBe('refs/heads/main');

    rmSync(hook);
    const retried = await runCli(['retry', failed.run_id, '--json'], env);
    expect(retried.code).toBe(0);
    expect(JSON.parse(retried.stdout)).toMatchObject({
      state: 'done',
      outcome: 'pushed',
      branch: failed.branch,
    });
    expect(gitIn(bare, 'for-each-ref', '--format=%(refname)')).toBe(
      `refs/heads/${failed.branch}\nrefs/heads/main`,
    );
    expect(model.requests.length).toBe(4);
  });
});
