import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeAnthropic, startFakeAnthropic } from '../fakes/anthropic-server.js';
import { fixAddScript } from '../fakes/fix-add-script.js';
import { FIXTURE_FILES } from '../fakes/fixture-repo.js';
import { type FakeGitHub, generateAppKeyPair, startFakeGitHub } from '../fakes/github-server.js';
import { type FakeGitLab, startFakeGitLab } from '../fakes/gitlab-server.js';
import { runCli } from '../support/run-cli.js';
import { scratchConfig } from '../support/workspace.js';

const KEY = 'sk-ant-forges-key-0000';

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('forges', () => {
  let model: FakeAnthropic | undefined;
  let github: FakeGitHub | undefined;
  let gitlab: FakeGitLab | undefined;
  const cleanups: Array<() => void> = [];
  afterEach(async () => {
    await model?.close();
    await github?.close();
    await gitlab?.close();
    for (const c of cleanups.splice(0)) c();
  });

  it('with only GitHub App credentials, a push asks for a token scoped to the one repository, and no key or token leaks', async () => {
    const keys = generateAppKeyPair();
    github = await startFakeGitHub({
      repos: [
        { owner: 'acme', name: 'widgets', files: FIXTURE_FILES },
        { owner: 'acme', name: 'secrets', files: { 'README.md': 'x\n' } },
      ],
      app: {
        appId: 4242,
        privateKeyPem: keys.privateKeyPem,
        installations: [{ id: 77, account: 'acme', repos: ['acme/widgets', 'acme/secrets'] }],
      },
    });
    model = await startFakeAnthropic({ apiKey: KEY, script: fixAddScript() });
    const scratch = scratchConfig(
      'repos:\n  acme/widgets:\n    headless_push: true\n    pr: { labels: [airlock] }\n',
    );
    cleanups.push(scratch.cleanup);
    const env = {
      ANTHROPIC_API_KEY: KEY,
      ANTHROPIC_BASE_URL: model.url,
      GITHUB_API_URL: github.apiUrl,
      GITHUB_APP_ID: '4242',
      // As a Kubernetes secret often carries it: one line with literal \n.
      GITHUB_APP_PRIVATE_KEY: keys.privateKeyPem.replaceAll('\n', '\\n'),
      AIRLOCK_CONFIG: scratch.config,
      AIRLOCK_DATA_DIR: scratch.dataDir,
      AIRLOCK_LOG_LEVEL: 'debug',
    };
    const r = await runCli(
      ['run', '--repo', 'acme/widgets', '--task', 'Fix add()', '--push', '--yes', '--json'],
      env,
    );
    expect(r.stderr).not.toContain('airlock: ');
    expect(r.code).toBe(0);
    expect(github.pulls).toHaveLength(1);
    const pushRequests = github.tokenRequests.filter((t) => t.permissions?.contents === 'write');
    expect(pushRequests.length).toBeGreaterThan(0);
    for (const t of github.tokenRequests) {
      expect(t).toMatchObject({ installationId: 77, repositories: ['widgets'], status: 201 });
    }
    // issues: write only because this repository labels its PRs.
    expect(pushRequests[0]?.permissions).toEqual({
      contents: 'write',
      pull_requests: 'write',
      issues: 'write',
    });
    expect(github.labels('acme', 'widgets', github.pulls[0]?.number as number)).toEqual(['airlock']);
    expect(github.problems).toEqual([]);

    const keyBody = keys.privateKeyPem.split('\n')[1] as string;
    const haystacks = [
      r.stdout,
      r.stderr,
      ...filesUnder(scratch.dataDir).map((f) => readFileSync(f).toString('latin1')),
    ];
    for (const text of haystacks) {
      expect(text).not.toContain(keyBody);
      expect(text).not.toMatch(/ghs_[A-Za-z0-9]{16,}/);
    }
  });

  it('a repository on GitLab gets a merge request, with the token only as a header', async () => {
    gitlab = await startFakeGitLab({ projects: [{ path: 'acme/widgets', files: FIXTURE_FILES }] });
    model = await startFakeAnthropic({ apiKey: KEY, script: fixAddScript() });
    const scratch = scratchConfig(
      'repos:\n  acme/widgets:\n    forge: gitlab\n    headless_push: true\n    pr: { draft: true, labels: [airlock] }\n',
    );
    cleanups.push(scratch.cleanup);
    const env = {
      ANTHROPIC_API_KEY: KEY,
      ANTHROPIC_BASE_URL: model.url,
      GITLAB_URL: gitlab.url,
      GITLAB_TOKEN: gitlab.token,
      AIRLOCK_CONFIG: scratch.config,
      AIRLOCK_DATA_DIR: scratch.dataDir,
    };
    const r = await runCli(
      ['run', '--repo', 'acme/widgets', '--task', 'Fix add()', '--push', '--yes', '--json'],
      env,
    );
    expect(r.stderr).not.toContain('airlock: ');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(gitlab.mergeRequests).toEqual([
      expect.objectContaining({
        source_branch: out.branch,
        target_branch: 'main',
        draft: true,
        labels: ['airlock'],
        state: 'opened',
      }),
    ]);
    expect(out.pr_url).toBe(gitlab.mergeRequests[0]?.web_url);
    expect(gitlab.refSha('acme/widgets', `refs/heads/${out.branch}`)).toBeDefined();
    for (const req of gitlab.requests) expect(req.path).not.toContain(gitlab.token);
    expect(r.stdout + r.stderr).not.toContain(gitlab.token);
    expect(gitlab.problems).toEqual([]);
  });
});
