// Drives the GitLab stand-in with the real clients airlock uses: @gitbeaker/rest and the git CLI.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GitbeakerRequestError, Gitlab } from '@gitbeaker/rest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeGitLab, startFakeGitLab } from '../fakes/gitlab-server.js';
import { type GitResult, gitCli } from '../support/git-cli.js';

const TOKEN = 'glpat-fakeGitLabTestToken01';
const PROJECT = 'acme/widgets';
const BRANCH = 'airlock/fix-typo';
const ZERO = '0'.repeat(40);

let fake: FakeGitLab;
let work: string;

function git(args: string[], cwd = work): Promise<GitResult> {
  return gitCli(args, cwd, work);
}

const basic = (token: string, user = 'oauth2') =>
  `http.extraHeader=Authorization: Basic ${Buffer.from(`${user}:${token}`).toString('base64')}`;
const withToken = (...args: string[]) => ['-c', basic(TOKEN), ...args];
const gitlab = (token = TOKEN) => new Gitlab({ host: fake.url, token });

async function cloneWithToken(name = 'clone'): Promise<string> {
  const dir = join(work, name);
  const res = await git(withToken('clone', '--quiet', fake.gitUrl(PROJECT), dir));
  expect(res.code, res.stderr).toBe(0);
  return dir;
}

async function pushBranch(dir: string, branch: string, content = 'fixed\n'): Promise<string> {
  await writeFile(join(dir, 'README.md'), content);
  expect((await git(['commit', '--quiet', '-am', `change for ${branch}`], dir)).code).toBe(0);
  const res = await git(withToken('push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`), dir);
  expect(res.code, res.stderr).toBe(0);
  return (await git(['rev-parse', 'HEAD'], dir)).stdout.trim();
}

/** The GitbeakerRequestError a rejected call throws, with the HTTP status and GitLab's message. */
async function rejection(promise: Promise<unknown>) {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GitbeakerRequestError);
  const cause = (err as GitbeakerRequestError).cause as { description: string; response: Response };
  return { status: cause.response.status, description: cause.description };
}

const createMr = (source = BRANCH, title = 'Fix typo', options: Record<string, unknown> = {}) =>
  gitlab().MergeRequests.create(PROJECT, source, 'main', title, options);

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'fake-gitlab-test-'));
  fake = await startFakeGitLab({
    token: TOKEN,
    projects: [{ path: PROJECT, files: { 'README.md': '# widgets\n', 'src/index.ts': 'export {};\n' } }],
  });
});

afterEach(async () => {
  try {
    expect(fake.requests.filter((r) => r.path.includes(TOKEN))).toEqual([]);
  } finally {
    await fake.close();
    await rm(work, { recursive: true, force: true });
  }
});

describe('git smart HTTP', () => {
  it('refuses to clone the private project without credentials', async () => {
    const res = await git(['clone', fake.gitUrl(PROJECT), join(work, 'anon')]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/could not read Username/);
    expect(fake.requests.every((r) => r.status === 401 && r.auth === undefined)).toBe(true);
  });

  it('refuses a wrong token with GitLab\'s "HTTP Basic: Access denied"', async () => {
    const header = await git(['-c', basic('glpat-wrong'), 'clone', fake.gitUrl(PROJECT), join(work, 'bad')]);
    expect(header.code).not.toBe(0);
    expect(fake.requests.map((r) => r.status)).toEqual([401]);
    // With credentials git knows of (not an extra header) it shows GitLab's 401 text and gives up.
    const inUrl = fake.gitUrl(PROJECT).replace('http://', 'http://oauth2:glpat-wrong@');
    const res = await git(['clone', inUrl, join(work, 'bad2')]);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('remote: HTTP Basic: Access denied. If a password was provided for Git');
    expect(res.stderr).toContain('Authentication failed');
  });

  it('clones with the token as password under any user name', async () => {
    const dir = await cloneWithToken();
    expect(await readFile(join(dir, 'README.md'), 'utf8')).toBe('# widgets\n');
    const other = await git([
      '-c',
      basic(TOKEN, 'airlock'),
      'clone',
      '--quiet',
      fake.gitUrl(PROJECT),
      join(work, 'b'),
    ]);
    expect(other.code, other.stderr).toBe(0);
    const missing = await git(withToken('clone', `${fake.url}/acme/nope.git`, join(work, 'c')));
    expect(missing.stderr).toContain(
      "remote: The project you were looking for could not be found or you don't",
    );
  });

  it('accepts a push of a new branch and records the ref update', async () => {
    const sha = await pushBranch(await cloneWithToken(), BRANCH);
    expect(fake.pushes).toEqual([
      { project: PROJECT, updates: [{ ref: `refs/heads/${BRANCH}`, oldSha: ZERO, newSha: sha }] },
    ]);
    expect(fake.refSha(PROJECT, `refs/heads/${BRANCH}`)).toBe(sha);
  });

  it('refuses a push to the protected default branch the way GitLab does', async () => {
    const dir = await cloneWithToken();
    const before = fake.refSha(PROJECT, 'refs/heads/main');
    await writeFile(join(dir, 'README.md'), 'direct\n');
    await git(['commit', '--quiet', '-am', 'direct'], dir);
    const res = await git(withToken('push', 'origin', 'HEAD:refs/heads/main', 'HEAD:refs/heads/side'), dir);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain(
      'remote: GitLab: You are not allowed to push code to protected branches on this project.',
    );
    expect(res.stderr).toContain('! [remote rejected] HEAD -> main (pre-receive hook declined)');
    expect(res.stderr).toContain('! [remote rejected] HEAD -> side (pre-receive hook declined)');
    expect(fake.refSha(PROJECT, 'refs/heads/main')).toBe(before);
    expect(fake.pushes).toEqual([]);
    const del = await git(withToken('push', 'origin', ':refs/heads/main'), dir);
    expect(del.stderr).toContain('GitLab: You can only delete protected branches using the web interface.');
  });
});

describe('REST API through @gitbeaker/rest', () => {
  it('shows a project by URL-encoded path and by id, and 404s an unknown one', async () => {
    const project = await gitlab().Projects.show(PROJECT);
    expect(project).toMatchObject({
      path_with_namespace: PROJECT,
      default_branch: 'main',
      http_url_to_repo: fake.gitUrl(PROJECT),
      web_url: `${fake.url}/${PROJECT}`,
      visibility: 'private',
    });
    expect(fake.requests.at(-1)).toMatchObject({
      path: '/api/v4/projects/acme%2Fwidgets',
      auth: `PRIVATE-TOKEN ${TOKEN}`,
    });
    expect((await gitlab().Projects.show(project.id)).path_with_namespace).toBe(PROJECT);
    const err = await rejection(gitlab().Projects.show('acme/missing'));
    expect(err).toEqual({ status: 404, description: '404 Project Not Found' });
  });

  it('answers a bad token with 401 and accepts the token as an OAuth bearer', async () => {
    expect(await rejection(gitlab('glpat-nope').Projects.show(PROJECT))).toEqual({
      status: 401,
      description: '401 Unauthorized',
    });
    const bearer = new Gitlab({ host: fake.url, oauthToken: TOKEN });
    expect((await bearer.Users.showCurrentUser()).username).toBe('airlock-bot');
    expect(fake.requests.at(-1)?.auth).toBe(`Bearer ${TOKEN}`);
    const anon = await fetch(`${fake.url}/api/v4/projects/acme%2Fwidgets`);
    expect([anon.status, await anon.json()]).toEqual([404, { message: '404 Project Not Found' }]);
    const post = await fetch(`${fake.url}/api/v4/projects/1/merge_requests`, { method: 'POST' });
    expect([post.status, await post.json()]).toEqual([401, { message: '401 Unauthorized' }]);
  });

  it('shows branches with their protection and 404s a missing one', async () => {
    const main = await gitlab().Branches.show(PROJECT, 'main');
    expect(main).toMatchObject({ name: 'main', protected: true, default: true, can_push: false });
    expect(main.commit.id).toBe(fake.refSha(PROJECT, 'refs/heads/main'));
    await pushBranch(await cloneWithToken(), BRANCH);
    expect(await gitlab().Branches.show(PROJECT, BRANCH)).toMatchObject({ name: BRANCH, protected: false });
    expect(await rejection(gitlab().Branches.show(PROJECT, 'nope'))).toEqual({
      status: 404,
      description: '404 Branch Not Found',
    });
  });

  it("creates a merge request with 201 and GitLab's shape", async () => {
    const sha = await pushBranch(await cloneWithToken(), BRANCH);
    const mr = await createMr(BRANCH, 'Fix typo', {
      description: 'Done.',
      labels: 'airlock,bot',
      removeSourceBranch: true,
    });
    expect(mr).toMatchObject({
      iid: 1,
      state: 'opened',
      title: 'Fix typo',
      description: 'Done.',
      source_branch: BRANCH,
      target_branch: 'main',
      draft: false,
      labels: ['airlock', 'bot'],
      sha,
      force_remove_source_branch: true,
      web_url: `${fake.url}/${PROJECT}/-/merge_requests/1`,
      references: { full: `${PROJECT}!1` },
      author: { username: 'airlock-bot' },
      changes_count: '1',
    });
    expect(fake.mergeRequests).toMatchObject([
      { iid: 1, project: PROJECT, state: 'opened', labels: ['airlock', 'bot'] },
    ]);
    expect(fake.refSha(PROJECT, 'refs/merge-requests/1/head')).toBe(sha);
  });

  it('marks a draft by its title prefix and flags a `draft` parameter, which GitLab ignores', async () => {
    const dir = await cloneWithToken();
    await pushBranch(dir, BRANCH);
    expect((await createMr(BRANCH, 'Draft: Fix typo')).draft).toBe(true);
    await pushBranch(dir, 'airlock/other', 'other\n');
    const ignored = await createMr('airlock/other', 'Fix other', { draft: true });
    expect(ignored.draft).toBe(false);
    expect(fake.takeProblems()).toEqual([
      'POST /api/v4/projects/acme%2Fwidgets/merge_requests: GitLab ignores the parameter "draft" (mark a draft with a "Draft:" title prefix)',
    ]);
  });

  it('answers a duplicate merge request with 409, which gitbeaker throws', async () => {
    await pushBranch(await cloneWithToken(), BRANCH);
    await createMr();
    const err = await rejection(createMr(BRANCH, 'Again'));
    expect(err).toEqual({
      status: 409,
      description: '["Another open merge request already exists for this source branch: !1"]',
    });
    expect(fake.mergeRequests).toHaveLength(1);
  });

  it('validates branches as GitLab does: 400 for a missing one, 422 for the same one', async () => {
    expect(await rejection(createMr('no-such-branch'))).toEqual({
      status: 400,
      description: '{"source_branch":["does not exist"]}',
    });
    expect(await rejection(createMr('main'))).toEqual({
      status: 422,
      description: `["You can't use same project/branch for source and target"]`,
    });
    const res = await fetch(`${fake.url}/api/v4/projects/1/merge_requests`, {
      method: 'POST',
      headers: { 'private-token': TOKEN, 'content-type': 'application/json' },
      body: JSON.stringify({ source_branch: BRANCH }),
    });
    expect([res.status, await res.json()]).toEqual([
      400,
      { error: 'title is missing, target_branch is missing' },
    ]);
    expect(fake.mergeRequests).toEqual([]);
  });

  it('lists merge requests by source branch and state, paginated with Link headers', async () => {
    const dir = await cloneWithToken();
    for (const n of [1, 2, 3]) {
      await pushBranch(dir, `airlock/b${n}`, `v${n}\n`);
      await createMr(`airlock/b${n}`, `T${n}`);
    }
    const found = await gitlab().MergeRequests.all({
      projectId: PROJECT,
      sourceBranch: 'airlock/b2',
      state: 'opened',
    });
    expect(found.map((m) => [m.iid, m.source_branch])).toEqual([[2, 'airlock/b2']]);
    const page = await gitlab().MergeRequests.all({
      projectId: PROJECT,
      perPage: 2,
      page: 1,
      showExpanded: true,
    });
    expect(page.data.map((m) => m.iid)).toEqual([3, 2]);
    expect(page.paginationInfo).toMatchObject({ total: 3, next: 2, current: 1, perPage: 2, totalPages: 2 });
    const all = await gitlab().MergeRequests.all({ projectId: PROJECT, perPage: 1 });
    expect(all.map((m) => m.iid)).toEqual([3, 2, 1]);
    const closed = await gitlab().MergeRequests.all({ projectId: PROJECT, state: 'closed' });
    expect(closed).toEqual([]);
    expect(
      await rejection(gitlab().MergeRequests.all({ projectId: PROJECT, state: 'open' as 'opened' })),
    ).toEqual({
      status: 400,
      description: 'state does not have a valid value',
    });
  });

  it('edits title, description and labels, closes and reopens', async () => {
    await pushBranch(await cloneWithToken(), BRANCH);
    await createMr();
    const edited = await gitlab().MergeRequests.edit(PROJECT, 1, {
      title: 'Better',
      description: 'More.',
      labels: 'x,y',
    });
    expect(edited).toMatchObject({ title: 'Better', description: 'More.', labels: ['x', 'y'] });
    expect((await gitlab().MergeRequests.edit(PROJECT, 1, { stateEvent: 'close' })).state).toBe('closed');
    expect(fake.mergeRequests[0]).toMatchObject({ state: 'closed', title: 'Better' });
    expect((await gitlab().MergeRequests.edit(PROJECT, 1, { stateEvent: 'reopen' })).state).toBe('opened');
    const none = await rejection(gitlab().MergeRequests.edit(PROJECT, 1, {}));
    expect(none.status).toBe(400);
    expect(none.description).toMatch(/are missing, at least one parameter must be provided$/);
    expect(await rejection(gitlab().MergeRequests.edit(PROJECT, 9, { title: 'x' }))).toEqual({
      status: 404,
      description: '404 Not found',
    });
  });

  it('moves an open merge request with a push to its source branch; refuses hidden refs', async () => {
    const dir = await cloneWithToken();
    await pushBranch(dir, BRANCH);
    await createMr();
    const newSha = await pushBranch(dir, BRANCH, 'fixed again\n');
    expect((await gitlab().MergeRequests.show(PROJECT, 1)).sha).toBe(newSha);
    expect(fake.refSha(PROJECT, 'refs/merge-requests/1/head')).toBe(newSha);
    const hidden = await git(withToken('push', 'origin', 'HEAD:refs/merge-requests/1/head'), dir);
    expect(hidden.code).not.toBe(0);
    expect(hidden.stderr).toContain('deny updating a hidden ref');
  });

  it('answers unknown routes with 404 and records them as problems', async () => {
    const res = await fetch(`${fake.url}/api/v4/projects/acme/widgets`, {
      headers: { 'private-token': TOKEN },
    });
    expect([res.status, await res.json()]).toEqual([404, { error: '404 Not Found' }]);
    expect(fake.takeProblems()).toEqual(['unexpected REST call GET /api/v4/projects/acme/widgets']);
  });
});
