// Drives the GitHub stand-in with the real clients airlock uses: @octokit/rest and the git CLI.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Octokit } from '@octokit/rest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeGitHub, startFakeGitHub } from '../fakes/github-server.js';
import { type GitResult, gitCli } from '../support/git-cli.js';

const TOKEN = 'ghs_fakeGitHubTestToken0123456789';
const OWNER = 'acme';
const REPO = 'widgets';
const BRANCH = 'airlock/fix-typo';
const ZERO = '0'.repeat(40);

let fake: FakeGitHub;
let work: string;

function git(args: string[], cwd = work): Promise<GitResult> {
  return gitCli(args, cwd, work);
}

const basicHeader = (token: string) =>
  `http.extraHeader=Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
const withToken = (...args: string[]) => ['-c', basicHeader(TOKEN), ...args];
const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const octokit = (auth = TOKEN) => new Octokit({ auth, baseUrl: fake.apiUrl, log: quiet });

async function cloneWithToken(): Promise<string> {
  const dir = join(work, 'clone');
  const res = await git(withToken('clone', '--quiet', fake.gitUrl(OWNER, REPO), dir));
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  return dir;
}

/** Commits a change in the clone and pushes it as `branch`; returns the pushed commit. */
async function pushBranch(dir: string, branch: string, content = 'fixed\n'): Promise<string> {
  await writeFile(join(dir, 'README.md'), content);
  expect((await git(['commit', '--quiet', '-am', `change for ${branch}`], dir)).code).toBe(0);
  const res = await git(withToken('push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`), dir);
  expect(res.code, res.stderr).toBe(0);
  return (await git(['rev-parse', 'HEAD'], dir)).stdout.trim();
}

async function rejection(promise: Promise<unknown>) {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return err as Error & { status: number; response: { data: { message: string; errors?: unknown[] } } };
}

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'fake-github-test-'));
  fake = await startFakeGitHub({
    token: TOKEN,
    repos: [
      { owner: OWNER, name: REPO, files: { 'README.md': '# widgets\n', 'src/index.ts': 'export {};\n' } },
    ],
  });
});

afterEach(async () => {
  try {
    // Tokens travel only in headers (that nothing surprised the fake is checked for every test).
    expect(fake.requests.filter((r) => r.path.includes(TOKEN))).toEqual([]);
  } finally {
    await fake.close();
    await rm(work, { recursive: true, force: true });
  }
});

describe('git smart HTTP', () => {
  it('refuses to clone the private repository without credentials', async () => {
    const res = await git(['clone', fake.gitUrl(OWNER, REPO), join(work, 'anon')]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/could not read Username|Authentication failed/);
    expect(fake.requests.length).toBeGreaterThan(0);
    expect(fake.requests.every((r) => r.status === 401 && r.authorization === undefined)).toBe(true);
  });

  it('refuses git requests whose Basic password is not the token', async () => {
    const res = await git([
      '-c',
      basicHeader('ghs_wrong'),
      'clone',
      fake.gitUrl(OWNER, REPO),
      join(work, 'bad'),
    ]);
    expect(res.code).not.toBe(0);
    expect(fake.requests.map((r) => r.status)).toEqual([401]);
  });

  it('serves a fetch of the seeded commit when the token is sent as a Basic auth header', async () => {
    const dir = await cloneWithToken();
    expect(await readFile(join(dir, 'README.md'), 'utf8')).toBe('# widgets\n');
    const head = (await git(['rev-parse', 'HEAD'], dir)).stdout.trim();
    expect(head).toBe(fake.refSha(OWNER, REPO, 'refs/heads/main'));
    const log = (await git(['log', '--format=%an <%ae>'], dir)).stdout.trim();
    expect(log).toBe('Fixture <fixture@example.com>');
    expect(fake.requests.every((r) => r.authorization?.startsWith('Basic '))).toBe(true);
  });

  it('accepts a push of a new branch and records the ref update', async () => {
    const dir = await cloneWithToken();
    const sha = await pushBranch(dir, BRANCH);
    expect(fake.pushes).toEqual([
      { owner: OWNER, repo: REPO, updates: [{ ref: `refs/heads/${BRANCH}`, oldSha: ZERO, newSha: sha }] },
    ]);
    expect(fake.refSha(OWNER, REPO, `refs/heads/${BRANCH}`)).toBe(sha);
  });

  it('refuses a push to the protected default branch the way GitHub does', async () => {
    const dir = await cloneWithToken();
    const before = fake.refSha(OWNER, REPO, 'refs/heads/main');
    await writeFile(join(dir, 'README.md'), 'direct to main\n');
    await git(['commit', '--quiet', '-am', 'direct'], dir);
    const res = await git(withToken('push', 'origin', 'HEAD:refs/heads/main'), dir);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('GH006: Protected branch update failed for refs/heads/main.');
    expect(res.stderr).toContain('! [remote rejected] HEAD -> main (protected branch hook declined)');
    expect(fake.refSha(OWNER, REPO, 'refs/heads/main')).toBe(before);
    expect(fake.pushes).toEqual([]);
  });
});

describe('REST API through @octokit/rest', () => {
  it('creates a pull request for a pushed branch with 201 and the GitHub pull shape', async () => {
    const sha = await pushBranch(await cloneWithToken(), BRANCH);
    const res = await octokit().pulls.create({
      owner: OWNER,
      repo: REPO,
      title: 'Fix typo',
      head: BRANCH,
      base: 'main',
      body: 'Done.',
    });
    expect(res.status).toBe(201);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(res.headers['x-github-request-id']).toBeTruthy();
    expect(res.data).toMatchObject({
      number: 1,
      state: 'open',
      draft: false,
      title: 'Fix typo',
      body: 'Done.',
      html_url: `${fake.webUrl}/${OWNER}/${REPO}/pull/1`,
      url: `${fake.apiUrl}/repos/${OWNER}/${REPO}/pulls/1`,
      head: { ref: BRANCH, sha, label: `${OWNER}:${BRANCH}` },
      base: { ref: 'main', sha: fake.refSha(OWNER, REPO, 'refs/heads/main'), label: `${OWNER}:main` },
      user: { login: 'airlock-bot' },
    });
    expect(fake.pulls).toMatchObject([
      { number: 1, head: BRANCH, base: 'main', headSha: sha, state: 'open' },
    ]);
    expect(fake.refSha(OWNER, REPO, 'refs/pull/1/head')).toBe(sha);
    const sent = fake.requests.find((r) => r.method === 'POST' && r.path.endsWith('/pulls'));
    expect(sent?.authorization).toBe(`token ${TOKEN}`);
  });

  it('answers a second pull request for the same head with 422, which the SDK throws as RequestError', async () => {
    await pushBranch(await cloneWithToken(), BRANCH);
    const params = { owner: OWNER, repo: REPO, title: 'Fix typo', head: `${OWNER}:${BRANCH}`, base: 'main' };
    await octokit().pulls.create(params);
    const err = await rejection(octokit().pulls.create(params));
    expect(err.constructor.name).toBe('RequestError');
    expect(err.status).toBe(422);
    expect(err.response.data).toMatchObject({
      message: 'Validation Failed',
      errors: [
        {
          resource: 'PullRequest',
          code: 'custom',
          message: `A pull request already exists for ${OWNER}:${BRANCH}.`,
        },
      ],
    });
    expect(fake.pulls).toHaveLength(1);
  });

  it('finds the open pull request when listing with head=owner:branch, and only it', async () => {
    const dir = await cloneWithToken();
    await pushBranch(dir, BRANCH);
    await pushBranch(dir, 'airlock/other', 'other\n');
    await octokit().pulls.create({ owner: OWNER, repo: REPO, title: 'A', head: BRANCH, base: 'main' });
    await octokit().pulls.create({
      owner: OWNER,
      repo: REPO,
      title: 'B',
      head: 'airlock/other',
      base: 'main',
    });
    const found = await octokit().pulls.list({
      owner: OWNER,
      repo: REPO,
      head: `${OWNER}:${BRANCH}`,
      state: 'open',
    });
    expect(found.data.map((p) => [p.number, p.head.ref])).toEqual([[1, BRANCH]]);
    const closed = await octokit().pulls.list({
      owner: OWNER,
      repo: REPO,
      head: `${OWNER}:${BRANCH}`,
      state: 'closed',
    });
    expect(closed.data).toEqual([]);
  });

  it('pages pull listings with Link headers that octokit.paginate follows', async () => {
    const dir = await cloneWithToken();
    for (const n of [1, 2, 3]) {
      await pushBranch(dir, `airlock/b${n}`, `v${n}\n`);
      await octokit().pulls.create({
        owner: OWNER,
        repo: REPO,
        title: `T${n}`,
        head: `airlock/b${n}`,
        base: 'main',
      });
    }
    const first = await octokit().pulls.list({ owner: OWNER, repo: REPO, per_page: 2 });
    expect(first.data.map((p) => p.number)).toEqual([3, 2]);
    expect(first.headers.link).toContain('rel="next"');
    const all = await octokit().paginate(octokit().pulls.list, { owner: OWNER, repo: REPO, per_page: 1 });
    expect(all.map((p) => p.number)).toEqual([3, 2, 1]);
  });

  it('rejects a pull request whose head branch does not exist with 422 head invalid', async () => {
    const create = octokit().pulls.create({
      owner: OWNER,
      repo: REPO,
      title: 'Nope',
      head: 'no-such-branch',
      base: 'main',
    });
    const err = await rejection(create);
    expect(err.status).toBe(422);
    expect(err.response.data.errors).toEqual([{ resource: 'PullRequest', field: 'head', code: 'invalid' }]);
    expect(fake.pulls).toEqual([]);
  });

  it('rejects a pull request whose head has no commits beyond the base', async () => {
    const dir = await cloneWithToken();
    expect((await git(withToken('push', '--quiet', 'origin', 'HEAD:refs/heads/empty'), dir)).code).toBe(0);
    const err = await rejection(
      octokit().pulls.create({ owner: OWNER, repo: REPO, title: 'Empty', head: 'empty', base: 'main' }),
    );
    expect(err.status).toBe(422);
    expect(err.response.data.errors).toEqual([
      { resource: 'PullRequest', code: 'custom', message: 'No commits between main and empty' },
    ]);
  });

  it('rejects a pull request without a title as GitHub does (422 missing_field)', async () => {
    await pushBranch(await cloneWithToken(), BRANCH);
    const err = await rejection(
      octokit().request('POST /repos/{owner}/{repo}/pulls', {
        owner: OWNER,
        repo: REPO,
        head: BRANCH,
        base: 'main',
      }),
    );
    expect(err.status).toBe(422);
    expect(err.response.data.errors).toEqual([{ resource: 'Issue', code: 'missing_field', field: 'title' }]);
  });

  it('answers a bad token with 401 Bad credentials', async () => {
    const err = await rejection(octokit('ghs_not_the_token').repos.get({ owner: OWNER, repo: REPO }));
    expect(err.status).toBe(401);
    expect(err.response.data).toMatchObject({
      message: 'Bad credentials',
      documentation_url: 'https://docs.github.com/rest',
    });
    expect(fake.requests.at(-1)).toMatchObject({ status: 401, authorization: 'token ghs_not_the_token' });
  });

  it('answers an unknown repository with 404 Not Found', async () => {
    const err = await rejection(octokit().repos.get({ owner: OWNER, repo: 'missing' }));
    expect(err.status).toBe(404);
    expect(err.response.data.message).toBe('Not Found');
  });

  it('describes the repository, its branches and the authenticated user', async () => {
    const repo = await octokit().repos.get({ owner: OWNER, repo: REPO });
    expect(repo.data).toMatchObject({ full_name: `${OWNER}/${REPO}`, private: true, default_branch: 'main' });
    expect(repo.data.clone_url).toBe(fake.gitUrl(OWNER, REPO));
    expect(repo.data.permissions?.push).toBe(true);
    const main = await octokit().repos.getBranch({ owner: OWNER, repo: REPO, branch: 'main' });
    expect(main.data).toMatchObject({
      name: 'main',
      protected: true,
      commit: { sha: fake.refSha(OWNER, REPO, 'refs/heads/main') },
    });
    const missing = await rejection(octokit().repos.getBranch({ owner: OWNER, repo: REPO, branch: 'nope' }));
    expect([missing.status, missing.response.data.message]).toEqual([404, 'Branch not found']);
    expect((await octokit().users.getAuthenticated()).data.login).toBe('airlock-bot');
  });

  it('updates a pull request and moves its head when the branch is pushed again', async () => {
    const dir = await cloneWithToken();
    await pushBranch(dir, BRANCH);
    await octokit().pulls.create({ owner: OWNER, repo: REPO, title: 'Fix typo', head: BRANCH, base: 'main' });
    const newSha = await pushBranch(dir, BRANCH, 'fixed again\n');
    const got = await octokit().pulls.get({ owner: OWNER, repo: REPO, pull_number: 1 });
    expect(got.data.head.sha).toBe(newSha);
    const upd = await octokit().pulls.update({
      owner: OWNER,
      repo: REPO,
      pull_number: 1,
      title: 'Better',
      state: 'closed',
    });
    expect(upd.data).toMatchObject({ title: 'Better', state: 'closed' });
    expect(fake.pulls[0]).toMatchObject({ title: 'Better', state: 'closed', headSha: newSha });
  });

  it('rejects a request body that is not JSON with 400 Problems parsing JSON', async () => {
    const res = await fetch(`${fake.apiUrl}/repos/${OWNER}/${REPO}/pulls`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'user-agent': 'test', 'content-type': 'application/json' },
      body: '{"title": ',
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ message: 'Problems parsing JSON' });
  });
});
