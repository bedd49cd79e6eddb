import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GitPublisher } from '../../src/forge/git-publisher.js';
import { PersonalToken } from '../../src/forge/github/github-credentials.js';
import { GitHubForge } from '../../src/forge/github/github-forge.js';
import { Mirrors } from '../../src/repos/mirror.js';
import type { PublishRequest } from '../../src/runs/ports/forge.js';
import { FIXTURE_FILES } from '../fakes/fixture-repo.js';
import { type FakeGitHub, startFakeGitHub } from '../fakes/github-server.js';

const TOKEN = 'ghp_publishTestToken12345';
const DIFF = Buffer.from(
  [
    'diff --git a/src/add.js b/src/add.js',
    '--- a/src/add.js',
    '+++ b/src/add.js',
    '@@ -1,3 +1,3 @@',
    ' export function add(a, b) {',
    '-  return a - b;',
    '+  return a + b;',
    ' }',
    '',
  ].join('\n'),
);

let github: FakeGitHub;
let dir: string;
let publisher: GitPublisher;
let request: PublishRequest;

beforeEach(async () => {
  github = await startFakeGitHub({
    token: TOKEN,
    repos: [{ owner: 'acme', name: 'widgets', files: FIXTURE_FILES }],
  });
  dir = mkdtempSync(join(tmpdir(), 'airlock-publish-'));
  const mirrors = new Mirrors(dir);
  const forge = new GitHubForge(new PersonalToken(TOKEN), { apiUrl: github.apiUrl, urls: {} });
  publisher = new GitPublisher(mirrors, () => forge);
  const baseSha = await mirrors.fetchBase(
    'acme/widgets',
    forge.remoteUrl('acme/widgets'),
    'main',
    await forge.gitAuthHeader('acme/widgets', 'fetch'),
  );
  request = {
    runId: 'run1',
    repo: 'acme/widgets',
    baseRef: 'main',
    baseSha,
    diff: DIFF,
    branch: 'airlock/run1-fix-add',
    commitTitle: 'Fix add()',
    commitBody: 'It subtracted.',
    approvedAt: '2026-11-27T10:00:00.000Z',
    pullRequest: { title: 'Fix add()', body: 'body', draft: true },
  };
});
afterEach(async () => {
  await github.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('publishing an approved diff', () => {
  it('pushes exactly the diff on the base commit and opens a draft PR', async () => {
    const result = await publisher.publish(request);
    expect(result).toMatchObject({ alreadyPushed: false, pullRequest: { created: true } });
    expect(github.refSha('acme', 'widgets', 'refs/heads/airlock/run1-fix-add')).toBe(result.commitSha);
    const bare = github.barePath('acme', 'widgets');
    const show = (what: string) =>
      execFileSync('git', ['show', '-s', '--format=%P%n%an <%ae>%n%B', what], {
        cwd: bare,
        encoding: 'utf8',
      });
    expect(show(result.commitSha)).toContain(request.baseSha);
    expect(show(result.commitSha)).toContain('Airlock-Run: run1');
    expect(
      execFileSync('git', ['show', `${result.commitSha}:src/add.js`], { cwd: bare, encoding: 'utf8' }),
    ).toContain('a + b');
    expect(github.pulls).toEqual([
      expect.objectContaining({ draft: true, head: 'airlock/run1-fix-add', base: 'main' }),
    ]);
  });

  it('is idempotent: a repeated publish builds the same commit, pushes nothing new and reuses the PR', async () => {
    const first = await publisher.publish(request);
    const pushesAfterFirst = github.pushes.length;
    const second = await publisher.publish(request);
    expect(second.commitSha).toBe(first.commitSha);
    expect(second.alreadyPushed).toBe(true);
    expect(second.pullRequest).toEqual({ ...first.pullRequest, created: false });
    expect(github.pushes.length).toBe(pushesAfterFirst);
    expect(github.pulls).toHaveLength(1);
  });

  it('never overwrites a branch that holds other commits', async () => {
    await publisher.publish(request);
    const other = { ...request, approvedAt: '2026-11-28T10:00:00.000Z' };
    await expect(publisher.publish(other)).rejects.toThrow(/already exists on the remote with other commits/);
  });

  it('refuses to push anything but an airlock/ branch', async () => {
    await expect(publisher.publish({ ...request, branch: 'main' })).rejects.toThrow(
      /pushes only airlock\/ branches/,
    );
    expect(github.pushes).toEqual([]);
  });

  it('refuses a diff that does not apply, pushing nothing', async () => {
    const bad = Buffer.from(DIFF.toString().replace('return a - b;', 'return a * b;'));
    await expect(publisher.publish({ ...request, diff: bad })).rejects.toThrow(/does not apply/);
    expect(github.pushes).toEqual([]);
  });

  it('without a token it says which variable to set', async () => {
    const forge = new GitHubForge(new PersonalToken(undefined), { apiUrl: github.apiUrl, urls: {} });
    const tokenless = new GitPublisher(new Mirrors(dir), () => forge);
    await expect(tokenless.publish(request)).rejects.toThrow(/Set GITHUB_TOKEN/);
  });
});
