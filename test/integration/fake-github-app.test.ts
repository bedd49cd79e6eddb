// Drives the GitHub App side of the GitHub stand-in with the real @octokit/auth-app, @octokit/rest and
// the git CLI: JWT-only app endpoints, installation tokens scoped to repositories and permissions.
import { createSign } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeGitHub, generateAppKeyPair, startFakeGitHub } from '../fakes/github-server.js';
import { type GitResult, gitCli } from '../support/git-cli.js';

const APP_ID = 31337;
const INSTALLATION_ID = 4711;
const OWNER = 'acme';
const KEYS = generateAppKeyPair();
const OTHER_KEYS = generateAppKeyPair();
const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

let fake: FakeGitHub;
let work: string;

function git(args: string[], cwd = work): Promise<GitResult> {
  return gitCli(args, cwd, work);
}

const withToken = (token: string, ...args: string[]) => [
  '-c',
  `http.extraHeader=Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`,
  ...args,
];

/** An Octokit that authenticates as the app (JWT) and mints installation tokens on demand. */
const appOctokit = (privateKey = KEYS.privateKeyPem, installationId?: number) =>
  new Octokit({
    authStrategy: createAppAuth,
    auth: { appId: APP_ID, privateKey, ...(installationId ? { installationId } : {}) },
    baseUrl: fake.apiUrl,
    log: quiet,
  });
const tokenOctokit = (token: string) => new Octokit({ auth: token, baseUrl: fake.apiUrl, log: quiet });

async function installationToken(repositoryNames: string[], permissions: Record<string, string>) {
  const auth = (await appOctokit().auth({
    type: 'installation',
    installationId: INSTALLATION_ID,
    repositoryNames,
    permissions,
  })) as { token: string; expiresAt: string; repositoryNames?: string[]; permissions: unknown };
  return auth;
}

/** Clones `repo` with the server's own token, commits, and pushes as `token`; returns the push result. */
async function commitAndPush(repo: string, token: string, branch: string): Promise<GitResult> {
  const dir = join(work, `clone-${repo}-${branch.replace(/\W/g, '_')}`);
  const cloned = await git(withToken(fake.token, 'clone', '--quiet', fake.gitUrl(OWNER, repo), dir));
  expect(cloned.code, cloned.stderr).toBe(0);
  await writeFile(join(dir, 'README.md'), `change on ${branch}\n`);
  expect((await git(['commit', '--quiet', '-am', `change for ${branch}`], dir)).code).toBe(0);
  return git(withToken(token, 'push', 'origin', `HEAD:refs/heads/${branch}`), dir);
}

async function rejection(promise: Promise<unknown>) {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return err as Error & {
    status: number;
    response: { data: { message: string }; headers: Record<string, string> };
  };
}

/** Signs a JWT by hand, to send claims @octokit/auth-app would never produce. */
function jwt(claims: Record<string, unknown>, key = KEYS.privateKeyPem): string {
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const head = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(claims)}`;
  return `${head}.${createSign('RSA-SHA256').update(head).sign(key).toString('base64url')}`;
}
const api = (path: string, authorization: string, init: RequestInit = {}) =>
  fetch(`${fake.apiUrl}${path}`, {
    ...init,
    headers: { authorization, 'user-agent': 'test', accept: 'application/vnd.github+json' },
  });

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'fake-github-app-test-'));
  const files = { 'README.md': '# readme\n' };
  fake = await startFakeGitHub({
    repos: [
      { owner: OWNER, name: 'widgets', files },
      { owner: OWNER, name: 'gadgets', files },
      { owner: 'other', name: 'tools', files },
    ],
    app: {
      appId: APP_ID,
      privateKeyPem: KEYS.privateKeyPem,
      installations: [{ id: INSTALLATION_ID, account: OWNER, repos: ['acme/widgets', 'acme/gadgets'] }],
    },
  });
});

afterEach(async () => {
  await fake.close();
  await rm(work, { recursive: true, force: true });
});

describe('app endpoints (JWT)', () => {
  it('describes the app and finds the installation of a repository', async () => {
    const octokit = appOctokit();
    const app = await octokit.apps.getAuthenticated();
    expect(app.data).toMatchObject({ id: APP_ID, slug: 'airlock-app' });
    const inst = await octokit.apps.getRepoInstallation({ owner: OWNER, repo: 'widgets' });
    expect(inst.data).toMatchObject({
      id: INSTALLATION_ID,
      app_id: APP_ID,
      account: { login: OWNER },
      repository_selection: 'selected',
      permissions: { contents: 'write', pull_requests: 'write', issues: 'write', metadata: 'read' },
    });
    const all = await octokit.apps.listInstallations();
    expect(all.data.map((i) => i.id)).toEqual([INSTALLATION_ID]);
    const missing = await rejection(octokit.apps.getRepoInstallation({ owner: 'other', repo: 'tools' }));
    expect([missing.status, missing.response.data.message]).toEqual([404, 'Not Found']);
    const sent = fake.requests.find((r) => r.path.endsWith('/app'));
    expect(sent?.authorization).toMatch(/^bearer eyJ/);
  });

  it('refuses a JWT signed with another key', async () => {
    const err = await rejection(appOctokit(OTHER_KEYS.privateKeyPem).apps.getAuthenticated());
    expect(err.status).toBe(401);
    expect(err.response.data.message).toBe('A JSON web token could not be decoded');
    const token = await rejection(
      appOctokit(OTHER_KEYS.privateKeyPem).auth({ type: 'installation', installationId: INSTALLATION_ID }),
    );
    expect(token.status).toBe(401);
    expect(fake.tokenRequests).toEqual([]);
  });

  it('checks the iat, exp and iss claims as GitHub does', async () => {
    const now = Math.floor(Date.now() / 1000);
    const cases: Array<[Record<string, unknown>, string]> = [
      [
        { iss: APP_ID, iat: now - 30, exp: now + 900 },
        "'Expiration time' claim ('exp') is too far in the future",
      ],
      [{ iss: APP_ID, iat: now - 700, exp: now - 100 }, "'Expiration time' claim ('exp') must be a numeric"],
      [{ iss: APP_ID, iat: now + 300, exp: now + 400 }, "'Issued at' claim ('iat') must be an Integer"],
      [{ iss: APP_ID + 1, iat: now - 30, exp: now + 60 }, 'A JSON web token could not be decoded'],
    ];
    for (const [claims, message] of cases) {
      const res = await api('/app', `Bearer ${jwt(claims)}`);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { message: string }).message).toContain(message);
    }
    const ok = await api('/app', `Bearer ${jwt({ iss: String(APP_ID), iat: now - 30, exp: now + 570 })}`);
    expect(ok.status).toBe(200);
  });

  it('refuses a JWT on other endpoints and an installation token on app endpoints (401)', async () => {
    const now = Math.floor(Date.now() / 1000);
    const appJwt = jwt({ iss: APP_ID, iat: now - 30, exp: now + 570 });
    const res = await api(`/repos/${OWNER}/widgets`, `Bearer ${appJwt}`);
    expect([res.status, ((await res.json()) as { message: string }).message]).toEqual([
      401,
      'Bad credentials',
    ]);
    const { token } = await installationToken(['widgets'], { contents: 'read' });
    const err = await rejection(tokenOctokit(token).apps.getAuthenticated());
    expect([err.status, err.response.data.message]).toEqual([401, 'A JSON web token could not be decoded']);
    const server = await rejection(tokenOctokit(fake.token).apps.getAuthenticated());
    expect(server.status).toBe(401);
  });
});

describe('installation tokens', () => {
  it('mints a token scoped to one repository, pushes a branch with it and opens a pull request', async () => {
    const before = Date.now();
    const auth = await installationToken(['widgets'], { contents: 'write', pull_requests: 'write' });
    expect(auth.token).toMatch(/^ghs_[A-Za-z0-9]{36}$/);
    expect(Date.parse(auth.expiresAt) - before).toBeGreaterThan(3590_000);
    expect(Date.parse(auth.expiresAt) - before).toBeLessThanOrEqual(3600_000);
    expect(auth.repositoryNames).toEqual(['widgets']);
    expect(auth.permissions).toEqual({ contents: 'write', pull_requests: 'write', metadata: 'read' });
    expect(fake.tokenRequests).toEqual([
      {
        installationId: INSTALLATION_ID,
        repositories: ['widgets'],
        permissions: { contents: 'write', pull_requests: 'write' },
        status: 201,
      },
    ]);

    const pushed = await commitAndPush('widgets', auth.token, 'airlock/fix');
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(fake.pushes.map((p) => [p.repo, p.updates[0]?.ref])).toEqual([
      ['widgets', 'refs/heads/airlock/fix'],
    ]);
    const pr = await tokenOctokit(auth.token).pulls.create({
      owner: OWNER,
      repo: 'widgets',
      title: 'Fix',
      head: 'airlock/fix',
      base: 'main',
    });
    expect(pr.status).toBe(201);
    expect(pr.data.user).toMatchObject({ login: 'airlock-app[bot]', type: 'Bot' });
    const sent = fake.requests.find((r) => r.method === 'POST' && r.path.endsWith('/pulls'));
    expect(sent?.authorization).toBe(`token ${auth.token}`);
  });

  it('lets Octokit with the app auth strategy mint the installation token by itself', async () => {
    const pushed = await commitAndPush('gadgets', fake.token, 'airlock/auto');
    expect(pushed.code, pushed.stderr).toBe(0);
    const octokit = appOctokit(KEYS.privateKeyPem, INSTALLATION_ID);
    const pr = await octokit.pulls.create({
      owner: OWNER,
      repo: 'gadgets',
      title: 'A',
      head: 'airlock/auto',
      base: 'main',
    });
    expect(pr.data.number).toBe(1);
    expect(fake.tokenRequests).toEqual([{ installationId: INSTALLATION_ID, status: 201 }]);
  });

  it('keeps a token for repository A away from repository B, on git and on REST', async () => {
    const { token } = await installationToken(['widgets'], { contents: 'write', pull_requests: 'write' });
    const push = await commitAndPush('gadgets', token, 'airlock/sneaky');
    expect(push.code).not.toBe(0);
    expect(push.stderr).toContain('Repository not found.');
    expect(fake.refSha(OWNER, 'gadgets', 'refs/heads/airlock/sneaky')).toBeUndefined();
    const clone = await git(withToken(token, 'clone', fake.gitUrl(OWNER, 'gadgets'), join(work, 'b')));
    expect(clone.code).not.toBe(0);
    const err = await rejection(tokenOctokit(token).repos.get({ owner: OWNER, repo: 'gadgets' }));
    expect([err.status, err.response.data.message]).toEqual([404, 'Not Found']);
    const list = await rejection(tokenOctokit(token).pulls.list({ owner: OWNER, repo: 'gadgets' }));
    expect(list.status).toBe(404);
    expect((await tokenOctokit(token).repos.get({ owner: OWNER, repo: 'widgets' })).status).toBe(200);
    const reachable = await tokenOctokit(token).apps.listReposAccessibleToInstallation();
    expect(reachable.data.repositories.map((r) => r.full_name)).toEqual([`${OWNER}/widgets`]);
  });

  it('refuses a push without contents:write and a pull request without pull_requests:write', async () => {
    const readOnly = await installationToken(['widgets'], { contents: 'read', pull_requests: 'write' });
    const denied = await commitAndPush('widgets', readOnly.token, 'airlock/ro');
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain('remote: Permission to acme/widgets.git denied to airlock-app[bot].');
    expect(denied.stderr).toContain('The requested URL returned error: 403');
    const clone = await git(
      withToken(readOnly.token, 'clone', '--quiet', fake.gitUrl(OWNER, 'widgets'), join(work, 'ro')),
    );
    expect(clone.code, clone.stderr).toBe(0);

    const noPulls = await installationToken(['widgets'], { contents: 'write' });
    expect((await commitAndPush('widgets', noPulls.token, 'airlock/np')).code).toBe(0);
    const err = await rejection(
      tokenOctokit(noPulls.token).pulls.create({
        owner: OWNER,
        repo: 'widgets',
        title: 'T',
        head: 'airlock/np',
        base: 'main',
      }),
    );
    expect(err.status).toBe(403);
    expect(err.response.data).toMatchObject({ message: 'Resource not accessible by integration' });
    expect(err.response.headers['x-accepted-github-permissions']).toBe('pull_requests=write');
    expect(fake.pulls).toEqual([]);
  });

  it('answers 422 for a repository outside the installation or a permission the app lacks', async () => {
    const repo = await rejection(installationToken(['tools'], { contents: 'read' }));
    expect(repo.status).toBe(422);
    expect(repo.response.data.message).toBe(
      'There is at least one repository that does not exist or is not accessible to the parent installation.',
    );
    const full = await rejection(installationToken([`${OWNER}/widgets`], { contents: 'read' }));
    expect(full.status).toBe(422);
    const perm = await rejection(installationToken(['widgets'], { administration: 'write' }));
    expect(perm.status).toBe(422);
    expect(perm.response.data.message).toBe(
      'The permissions requested are not granted to this installation.',
    );
    expect(fake.tokenRequests.map((r) => r.status)).toEqual([422, 422, 422]);
    const unknown = await rejection(
      appOctokit().apps.createInstallationAccessToken({ installation_id: 999 }),
    );
    expect(unknown.status).toBe(404);
  });

  it('answers 401 on REST and on git once the tokens have expired', async () => {
    const { token } = await installationToken(['widgets'], { contents: 'write', pull_requests: 'write' });
    expect((await tokenOctokit(token).repos.get({ owner: OWNER, repo: 'widgets' })).status).toBe(200);
    fake.expireTokens();
    const err = await rejection(tokenOctokit(token).repos.get({ owner: OWNER, repo: 'widgets' }));
    expect([err.status, err.response.data.message]).toEqual([401, 'Bad credentials']);
    const clone = await git(withToken(token, 'clone', fake.gitUrl(OWNER, 'widgets'), join(work, 'late')));
    expect(clone.code).not.toBe(0);
    expect(fake.requests.at(-1)?.status).toBe(401);
    const fresh = await installationToken(['widgets'], { contents: 'read' });
    expect((await tokenOctokit(fresh.token).repos.get({ owner: OWNER, repo: 'widgets' })).status).toBe(200);
  });

  it('refuses an installation token on endpoints outside the installation scope', async () => {
    const { token } = await installationToken(['widgets'], { contents: 'read' });
    const user = await rejection(tokenOctokit(token).users.getAuthenticated());
    expect([user.status, user.response.data.message]).toEqual([
      403,
      'Resource not accessible by integration',
    ]);
    const branch = await tokenOctokit(token).repos.getBranch({
      owner: OWNER,
      repo: 'widgets',
      branch: 'main',
    });
    expect(branch.data.commit.sha).toBe(fake.refSha(OWNER, 'widgets', 'refs/heads/main'));
    const pulls = await rejection(tokenOctokit(token).pulls.list({ owner: OWNER, repo: 'widgets' }));
    expect(pulls.status).toBe(403);
  });
});
