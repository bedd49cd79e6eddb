// Drives the PR-watch side of the GitHub stand-in with the real @octokit/rest: conditional requests,
// comments, reviews, commit statuses, check runs and their logs, branch rules, users, and what
// happens to a pull request outside the client (merge, close, someone else's push).
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeGitHub, generateAppKeyPair, startFakeGitHub } from '../fakes/github-server.js';

const TOKEN = 'ghs_conversationTestToken0123456789';
const OWNER = 'acme';
const REPO = 'widgets';
const BRANCH = 'airlock/fix-typo';
const APP_ID = 4711;
const INSTALLATION_ID = 77;
const KEYS = generateAppKeyPair();
const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const repo = { owner: OWNER, repo: REPO };

let fake: FakeGitHub;
const octokit = (auth = TOKEN) => new Octokit({ auth, baseUrl: fake.apiUrl, log: quiet });

async function rejection(promise: Promise<unknown>) {
  const err: unknown = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(Error);
  return err as Error & {
    status: number;
    response: { data: { message: string; errors?: unknown[] }; headers: Record<string, string> };
  };
}

/** A raw GET, to see exactly what goes over the wire. */
const get = (path: string, headers: Record<string, string> = {}) =>
  fetch(`${fake.apiUrl}${path}`, {
    headers: { 'user-agent': 'test', authorization: `token ${TOKEN}`, ...headers },
  });

/** Pushes BRANCH (a README change) and opens a pull request from it; returns its number and head. */
async function openPull(branch = BRANCH): Promise<{ number: number; head: string }> {
  const files = { 'README.md': '# widgets\n\nFixed typo.\n' };
  const head = await fake.pushOutside({ ...repo, branch, from: 'main', files, message: 'Fix typo' });
  const pr = await octokit().pulls.create({ ...repo, head: branch, base: 'main', title: `Fix ${branch}` });
  return { number: pr.data.number, head };
}

/** An installation token of the App with exactly `permissions`. */
async function appToken(permissions: Record<string, string>): Promise<string> {
  const app = new Octokit({
    authStrategy: createAppAuth,
    auth: { appId: APP_ID, privateKey: KEYS.privateKeyPem },
    baseUrl: fake.apiUrl,
    log: quiet,
  });
  const auth = (await app.auth({ type: 'installation', installationId: INSTALLATION_ID, permissions })) as {
    token: string;
  };
  return auth.token;
}

beforeEach(async () => {
  fake = await startFakeGitHub({
    token: TOKEN,
    repos: [
      { owner: OWNER, name: REPO, files: { 'README.md': '# widgets\n', 'src/index.ts': 'export {};\n' } },
    ],
    app: {
      appId: APP_ID,
      privateKeyPem: KEYS.privateKeyPem,
      installations: [{ id: INSTALLATION_ID, account: OWNER, repos: [`${OWNER}/${REPO}`] }],
      permissions: {
        ...{ contents: 'write', pull_requests: 'write', issues: 'write', statuses: 'write' },
        ...{ checks: 'read', actions: 'read', administration: 'read', metadata: 'read' },
      },
    },
  });
});

afterEach(async () => {
  await fake.close();
});

describe('conditional requests', () => {
  it('tags every 200 GET, answers a matching If-None-Match 304 and charges no rate limit for it', async () => {
    const first = await octokit().repos.get(repo);
    const etag = first.headers.etag ?? '';
    expect(etag).toMatch(/^"[0-9a-f]{64}"$/);
    expect(first.headers['cache-control']).toBe('private, max-age=60, s-maxage=60');
    expect(first.headers.vary).toBe('Accept, Authorization, Cookie, X-GitHub-OTP');
    const remaining = Number(first.headers['x-ratelimit-remaining']);

    const again = await rejection(octokit().repos.get({ ...repo, headers: { 'if-none-match': etag } }));
    expect(again.status).toBe(304);
    expect(again.response.headers.etag).toBe(etag);
    expect(Number(again.response.headers['x-ratelimit-remaining'])).toBe(remaining);
    // A list of tags, weak or not, matches too (If-None-Match compares weakly).
    for (const header of [`W/${etag}`, `"nope", ${etag}`, '*']) {
      const res = await get(`/repos/${OWNER}/${REPO}`, { 'if-none-match': header });
      expect([res.status, await res.text()]).toEqual([304, '']);
      expect(res.headers.get('x-ratelimit-remaining')).toBe(String(remaining));
    }
    const stale = await get(`/repos/${OWNER}/${REPO}`, { 'if-none-match': '"stale"' });
    expect(stale.status).toBe(200);
    expect(stale.headers.get('x-ratelimit-remaining')).toBe(String(remaining - 1));
    expect(fake.conditional()).toEqual({ hits: 4, misses: 1, unconditional: 1 });
    expect(fake.requests.filter((r) => r.status === 304)).toHaveLength(4);
  });

  it('changes the ETag of a listing when something new arrives, so a poll then gets 200', async () => {
    const { number } = await openPull();
    const poll = (etag?: string) =>
      octokit().issues.listCommentsForRepo({ ...repo, headers: etag ? { 'if-none-match': etag } : {} });
    const first = await poll();
    expect(first.data).toEqual([]);
    const idle = await rejection(poll(first.headers.etag));
    expect(idle.status).toBe(304);
    fake.addComment({ ...repo, number, user: 'alice', body: 'Please also fix the other typo.' });
    const fresh = await poll(first.headers.etag);
    expect(fresh.status).toBe(200);
    expect(fresh.data.map((c) => c.body)).toEqual(['Please also fix the other typo.']);
    expect(fresh.headers.etag).not.toBe(first.headers.etag);
    expect(fake.conditional()).toMatchObject({ hits: 1, misses: 1 });
  });

  it('still wants credentials for a conditional request', async () => {
    const { headers } = await octokit().repos.get(repo);
    const anonymous = await fetch(`${fake.apiUrl}/repos/${OWNER}/${REPO}`, {
      headers: { 'user-agent': 'test', 'if-none-match': headers.etag ?? '' },
    });
    expect(anonymous.status).toBe(401);
    const wrong = await get(`/repos/${OWNER}/${REPO}`, {
      authorization: 'token ghs_wrong',
      'if-none-match': headers.etag ?? '',
    });
    expect(wrong.status).toBe(401);
  });
});

describe('issue comments', () => {
  it('lists a repository’s comments since a time, sorted and paginated as GitHub does', async () => {
    const one = await openPull();
    const two = await openPull('airlock/other');
    const at = (minute: number) => `2025-03-01T10:0${minute}:00Z`;
    fake.addUser('alice', { email: 'alice@example.com' });
    for (let i = 0; i < 5; i++)
      fake.addComment({
        ...repo,
        number: i % 2 ? two.number : one.number,
        user: 'alice',
        body: `c${i}`,
        at: at(i),
      });
    const all = await octokit().issues.listCommentsForRepo(repo);
    expect(all.data.map((c) => c.body)).toEqual(['c0', 'c1', 'c2', 'c3', 'c4']);
    const c0 = all.data[0];
    expect(c0).toMatchObject({
      html_url: `${fake.webUrl}/${OWNER}/${REPO}/pull/${one.number}#issuecomment-${c0?.id}`,
      issue_url: `${fake.apiUrl}/repos/${OWNER}/${REPO}/issues/${one.number}`,
      url: `${fake.apiUrl}/repos/${OWNER}/${REPO}/issues/comments/${c0?.id}`,
      user: { login: 'alice', type: 'User' },
      author_association: 'MEMBER',
      created_at: at(0),
      updated_at: at(0),
    });
    expect(c0?.node_id).toMatch(/^IC_/);

    const since = await octokit().issues.listCommentsForRepo({ ...repo, since: at(2) });
    expect(since.data.map((c) => c.body)).toEqual(['c2', 'c3', 'c4']);
    fake.editComment({ ...repo, id: Number(c0?.id), body: 'c0 (edited)', at: at(9) });
    const edited = await octokit().issues.listCommentsForRepo({
      ...repo,
      since: at(3),
      sort: 'updated',
      direction: 'desc',
    });
    expect(edited.data.map((c) => c.body)).toEqual(['c0 (edited)', 'c4', 'c3']);

    const page1 = await octokit().issues.listCommentsForRepo({ ...repo, per_page: 2 });
    expect(page1.data.map((c) => c.body)).toEqual(['c0 (edited)', 'c1']);
    expect(page1.headers.link).toContain('rel="next"');
    expect(page1.headers.link).toContain('page=3>; rel="last"');
    const paged = await octokit().paginate(octokit().issues.listCommentsForRepo, { ...repo, per_page: 2 });
    expect(paged).toHaveLength(5);
    const perIssue = await octokit().issues.listComments({ ...repo, issue_number: two.number });
    expect(perIssue.data.map((c) => c.body)).toEqual(['c1', 'c3']);
  });

  it('refuses a since that is not ISO 8601 and reports parameters GitHub would ignore', async () => {
    const { number } = await openPull();
    const bad = await rejection(octokit().issues.listCommentsForRepo({ ...repo, since: 'yesterday' }));
    expect([bad.status, bad.response.data.message]).toEqual([
      422,
      'The since parameter needs to be in ISO 8601 format: YYYY-MM-DDTHH:MM:SSZ',
    ]);
    expect(fake.takeProblems()).toEqual([]);
    await octokit().issues.listCommentsForRepo({ ...repo, direction: 'desc' });
    await octokit().request('GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews', {
      ...repo,
      pull_number: number,
      since: '2025-01-01T00:00:00Z',
    });
    const problems = fake.takeProblems();
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/direction=desc but no sort: GitHub ignores direction without sort/);
    expect(problems[1]).toMatch(/reviews with since=.*GitHub silently ignores it/);
  });

  it('takes a comment from the client, 201 with its Location, and refuses an empty one', async () => {
    const { number } = await openPull();
    const before = (await octokit().pulls.get({ ...repo, pull_number: number })).data;
    const made = await octokit().issues.createComment({
      ...repo,
      issue_number: number,
      body: 'Done: see abc123.',
    });
    expect(made.status).toBe(201);
    expect(made.headers.location).toBe(made.data.url);
    expect(made.data.user).toMatchObject({ login: 'airlock-bot' });
    expect(fake.comments(OWNER, REPO, number).map((c) => c.body)).toEqual(['Done: see abc123.']);
    const after = (await octokit().pulls.get({ ...repo, pull_number: number })).data;
    expect(after.comments).toBe(1);
    expect(Date.parse(after.updated_at)).toBeGreaterThanOrEqual(Date.parse(before.updated_at));

    const blank = await rejection(
      octokit().issues.createComment({ ...repo, issue_number: number, body: ' ' }),
    );
    expect(blank.status).toBe(422);
    expect(blank.response.data.errors).toEqual([
      { resource: 'IssueComment', code: 'unprocessable', field: 'data', message: 'Body cannot be blank' },
    ]);
    const missing = await rejection(octokit().issues.createComment({ ...repo, issue_number: 99, body: 'x' }));
    expect([missing.status, missing.response.data.message]).toEqual([404, 'Not Found']);
    const listMissing = await rejection(octokit().issues.listComments({ ...repo, issue_number: 99 }));
    expect(listMissing.status).toBe(404);
    expect(() => fake.addComment({ ...repo, number, user: 'alice', body: '' })).toThrow(
      /Body cannot be blank/,
    );
  });
});

describe('review comments and reviews', () => {
  it('places a line comment in the diff as GitHub does and threads replies', async () => {
    const { number, head } = await openPull();
    const c = await fake.addReviewComment({
      ...repo,
      number,
      user: 'bob',
      body: 'Typo?',
      path: 'README.md',
      line: 3,
    });
    expect(c).toMatchObject({
      path: 'README.md',
      ...{ line: 3, original_line: 3, position: 3, original_position: 3, side: 'RIGHT' },
      ...{ commit_id: head, original_commit_id: head },
      diff_hunk: '@@ -1 +1,3 @@\n # widgets\n+\n+Fixed typo.',
      html_url: `${fake.webUrl}/${OWNER}/${REPO}/pull/${number}#discussion_r${c.id}`,
      pull_request_url: `${fake.apiUrl}/repos/${OWNER}/${REPO}/pulls/${number}`,
      author_association: 'NONE',
    });
    const reply = await fake.addReviewComment({
      ...{ ...repo, number, user: 'alice', body: 'No, it is fine.', path: 'README.md', line: 3 },
      inReplyTo: Number(c.id),
    });
    expect(reply).toMatchObject({ in_reply_to_id: c.id, position: 3 });
    await expect(
      fake.addReviewComment({ ...repo, number, user: 'bob', body: 'x', path: 'README.md', line: 9 }),
    ).rejects.toThrow(/line must be part of the diff/);

    const repoWide = await octokit().pulls.listReviewCommentsForRepo({
      ...repo,
      sort: 'created',
      direction: 'desc',
    });
    expect(repoWide.data.map((x) => x.body)).toEqual(['No, it is fine.', 'Typo?']);
    const onPull = await octokit().pulls.listReviewComments({ ...repo, pull_number: number });
    expect(onPull.data.map((x) => x.id)).toEqual([c.id, reply.id]);
    // "Add single comment": each comes with its own COMMENTED review.
    const reviews = await octokit().pulls.listReviews({ ...repo, pull_number: number });
    expect(reviews.data.map((v) => [v.state, v.body, v.id === c.pull_request_review_id])).toEqual([
      ['COMMENTED', '', true],
      ['COMMENTED', '', false],
    ]);
  });

  it('lists submitted reviews and refuses what GitHub refuses', async () => {
    const { number, head } = await openPull();
    await fake.addReview({
      ...repo,
      number,
      user: 'carol',
      state: 'CHANGES_REQUESTED',
      body: 'Needs a test.',
    });
    await fake.addReview({ ...repo, number, user: 'carol', state: 'APPROVED' });
    const { data } = await octokit().pulls.listReviews({ ...repo, pull_number: number });
    expect(data.map((v) => [v.user?.login, v.state, v.body, v.commit_id])).toEqual([
      ['carol', 'CHANGES_REQUESTED', 'Needs a test.', head],
      ['carol', 'APPROVED', '', head],
    ]);
    expect(data[0]?.html_url).toBe(
      `${fake.webUrl}/${OWNER}/${REPO}/pull/${number}#pullrequestreview-${data[0]?.id}`,
    );
    expect(data[0]?.submitted_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
    await expect(fake.addReview({ ...repo, number, user: 'airlock-bot', state: 'APPROVED' })).rejects.toThrow(
      /Can not approve your own pull request/,
    );
    await expect(fake.addReview({ ...repo, number, user: 'carol', state: 'COMMENTED' })).rejects.toThrow(
      /without a body or comments/,
    );
    expect(fake.reviews(OWNER, REPO, number)).toHaveLength(2);
  });
});

describe('commit statuses', () => {
  it('creates statuses and combines the latest per context', async () => {
    const { head } = await openPull();
    const created = await octokit().repos.createCommitStatus({
      ...{ ...repo, sha: head, state: 'pending', context: 'airlock/approved' },
      description: 'Waiting for approval in Slack',
      target_url: 'https://airlock.example/runs/1',
    });
    expect(created.status).toBe(201);
    expect(created.data).toMatchObject({
      url: `${fake.apiUrl}/repos/${OWNER}/${REPO}/statuses/${head}`,
      state: 'pending',
      context: 'airlock/approved',
      description: 'Waiting for approval in Slack',
      target_url: 'https://airlock.example/runs/1',
      creator: { login: 'airlock-bot' },
    });
    expect(created.headers.location).toBe(`${fake.apiUrl}/repos/${OWNER}/${REPO}/statuses/${head}`);
    await octokit().repos.createCommitStatus({ ...repo, sha: head, state: 'failure', context: 'ci' });
    await octokit().repos.createCommitStatus({ ...repo, sha: head, state: 'success' });

    let combined = await octokit().repos.getCombinedStatusForRef({ ...repo, ref: BRANCH });
    expect(combined.data).toMatchObject({ state: 'failure', sha: head, total_count: 3 });
    expect(combined.data.statuses.map((s) => [s.context, s.state])).toEqual([
      ['airlock/approved', 'pending'],
      ['ci', 'failure'],
      ['default', 'success'],
    ]);
    await octokit().repos.createCommitStatus({ ...repo, sha: head, state: 'success', context: 'CI' });
    combined = await octokit().repos.getCombinedStatusForRef({ ...repo, ref: head });
    expect(combined.data.state).toBe('pending');
    await octokit().repos.createCommitStatus({
      ...repo,
      sha: head,
      state: 'success',
      context: 'airlock/approved',
    });
    combined = await octokit().repos.getCombinedStatusForRef({ ...repo, ref: head });
    expect([combined.data.state, combined.data.total_count]).toEqual(['success', 3]);

    const listed = await octokit().repos.listCommitStatusesForRef({ ...repo, ref: head });
    expect(listed.data.map((s) => s.state)).toEqual(['success', 'success', 'success', 'failure', 'pending']);
    expect(fake.statuses(OWNER, REPO, head).map((s) => s.state)).toEqual([
      'pending',
      'failure',
      'success',
      'success',
      'success',
    ]);
    const main = await octokit().repos.getCombinedStatusForRef({ ...repo, ref: 'main' });
    expect([main.data.state, main.data.statuses]).toEqual(['pending', []]);
  });

  it('refuses a state, a description and a commit GitHub would refuse (422)', async () => {
    const { head } = await openPull();
    const badState = await rejection(
      octokit().repos.createCommitStatus({ ...repo, sha: head, state: 'cancelled' as 'error' }),
    );
    expect([badState.status, badState.response.data.errors]).toEqual([
      422,
      [{ resource: 'Status', code: 'custom', field: 'state', message: 'state is not included in the list' }],
    ]);
    const long = await rejection(
      octokit().repos.createCommitStatus({
        ...repo,
        sha: head,
        state: 'success',
        description: 'x'.repeat(141),
      }),
    );
    expect(long.response.data.errors).toEqual([
      {
        ...{ resource: 'Status', code: 'custom', field: 'description' },
        message: 'description is too long (maximum is 140 characters)',
      },
    ]);
    const ok = await octokit().repos.createCommitStatus({
      ...repo,
      sha: head,
      state: 'success',
      description: 'x'.repeat(140),
    });
    expect(ok.status).toBe(201);
    const unknown = 'f'.repeat(40);
    const missing = await rejection(
      octokit().repos.createCommitStatus({ ...repo, sha: unknown, state: 'success' }),
    );
    expect([missing.status, missing.response.data.message]).toEqual([
      422,
      `No commit found for SHA: ${unknown}`,
    ]);
    const byBranch = await rejection(
      octokit().repos.createCommitStatus({ ...repo, sha: BRANCH, state: 'success' }),
    );
    expect(byBranch.status).toBe(422);
    const noRef = await rejection(
      octokit().repos.getCombinedStatusForRef({ ...repo, ref: 'no-such-branch' }),
    );
    expect([noRef.status, noRef.response.data.message]).toEqual([
      422,
      'No commit found for SHA: no-such-branch',
    ]);
  });
});

describe('check runs and job logs', () => {
  it('lists check runs for a ref, the latest per name unless filter=all', async () => {
    const { number, head } = await openPull();
    const first = await fake.addCheckRun({
      ...repo,
      sha: head,
      name: 'test',
      conclusion: 'failure',
      log: 'boom\n',
    });
    const rerun = await fake.addCheckRun({ ...repo, sha: head, name: 'test', status: 'in_progress' });
    await fake.addCheckRun({
      ...{ ...repo, sha: head, name: 'lint', conclusion: 'success' },
      output: { title: 'Lint', summary: 'All good', text: 'No findings.' },
    });
    const latest = await octokit().checks.listForRef({ ...repo, ref: head });
    expect(latest.data.total_count).toBe(2);
    expect(latest.data.check_runs.map((c) => [c.name, c.status, c.conclusion])).toEqual([
      ['lint', 'completed', 'success'],
      ['test', 'in_progress', null],
    ]);
    const lint = latest.data.check_runs[0];
    expect(lint).toMatchObject({
      head_sha: head,
      app: { slug: 'github-actions', name: 'GitHub Actions' },
      output: { title: 'Lint', summary: 'All good', text: 'No findings.', annotations_count: 0 },
      pull_requests: [{ number, head: { ref: BRANCH, sha: head } }],
    });
    expect(lint?.html_url).toBe(
      `${fake.webUrl}/${OWNER}/${REPO}/actions/runs/${lint?.check_suite?.id}/job/${lint?.id}`,
    );
    const all = await octokit().checks.listForRef({
      ...repo,
      ref: BRANCH,
      filter: 'all',
      check_name: 'test',
    });
    expect(all.data.check_runs.map((c) => c.id)).toEqual([rerun, first]);
    const done = await octokit().checks.listForRef({ ...repo, ref: head, status: 'completed' });
    expect(done.data.check_runs.map((c) => c.name)).toEqual(['lint']);
    fake.updateCheckRun({ ...repo, id: rerun, conclusion: 'success' });
    const after = await octokit().checks.listForRef({ ...repo, ref: head, check_name: 'test' });
    expect(after.data.check_runs[0]).toMatchObject({ status: 'completed', conclusion: 'success' });
    expect(after.data.check_runs[0]?.completed_at).toMatch(/Z$/);
    await expect(fake.addCheckRun({ ...repo, sha: head, name: 'x', status: 'completed' })).rejects.toThrow(
      /without a conclusion/,
    );
  });

  it('redirects a job log download to a link that needs no credentials and expires', async () => {
    const { head } = await openPull();
    const job = await fake.addCheckRun({
      ...repo,
      sha: head,
      name: 'test',
      conclusion: 'failure',
      log: 'FAIL x.test.ts\n',
    });
    const followed = await octokit().actions.downloadJobLogsForWorkflowRun({ ...repo, job_id: job });
    expect(followed.data).toBe('FAIL x.test.ts\n');
    const manual = await octokit().request('GET /repos/{owner}/{repo}/actions/jobs/{job_id}/logs', {
      ...{ ...repo, job_id: job },
      request: { redirect: 'manual' },
    });
    expect(manual.status).toBe(302);
    const location = String(manual.headers.location);
    expect(location.startsWith(`${fake.webUrl}/_logs/`)).toBe(true);
    const download = await fetch(location);
    expect([download.status, download.headers.get('content-type'), await download.text()]).toEqual([
      200,
      'text/plain; charset=utf-8',
      'FAIL x.test.ts\n',
    ]);
    fake.expireLogLinks();
    expect((await fetch(location)).status).toBe(403);

    const silent = await fake.addCheckRun({ ...repo, sha: head, name: 'lint', conclusion: 'success' });
    const noLog = await rejection(
      octokit().actions.downloadJobLogsForWorkflowRun({ ...repo, job_id: silent }),
    );
    expect([noLog.status, noLog.response.data.message]).toEqual([404, 'Not Found']);
  });
});

describe('branch protection and rulesets', () => {
  it('serves required status checks to an App with administration:read, and hides them from a non-admin', async () => {
    const token = await appToken({ administration: 'read' });
    const asApp = octokit(token);
    const notEnabled = await rejection(asApp.repos.getStatusChecksProtection({ ...repo, branch: 'main' }));
    expect([notEnabled.status, notEnabled.response.data.message]).toEqual([
      404,
      'Required status checks not enabled',
    ]);
    fake.requireStatusChecks({ ...repo, branch: 'main', contexts: ['airlock/approved'], strict: true });
    const { data } = await asApp.repos.getStatusChecksProtection({ ...repo, branch: 'main' });
    expect(data).toEqual({
      url: `${fake.apiUrl}/repos/${OWNER}/${REPO}/branches/main/protection/required_status_checks`,
      strict: true,
      contexts: ['airlock/approved'],
      contexts_url: `${fake.apiUrl}/repos/${OWNER}/${REPO}/branches/main/protection/required_status_checks/contexts`,
      checks: [{ context: 'airlock/approved', app_id: null }],
    });
    await openPull();
    const unprotected = await rejection(asApp.repos.getStatusChecksProtection({ ...repo, branch: BRANCH }));
    expect([unprotected.status, unprotected.response.data.message]).toEqual([404, 'Branch not protected']);
    // The server's bot has push, not admin: GitHub answers as if there were nothing.
    const bot = await rejection(octokit().repos.getStatusChecksProtection({ ...repo, branch: 'main' }));
    expect([bot.status, bot.response.data.message]).toEqual([404, 'Not Found']);
    // What anyone who can read the repository sees of it.
    const branch = await octokit().repos.getBranch({ ...repo, branch: 'main' });
    expect(branch.data.protection).toEqual({
      enabled: true,
      required_status_checks: {
        enforcement_level: 'non_admins',
        contexts: ['airlock/approved'],
        checks: [{ context: 'airlock/approved', app_id: null }],
      },
    });
  });

  it('lists the active ruleset rules that apply to a branch', async () => {
    expect((await octokit().repos.getBranchRules({ ...repo, branch: 'main' })).data).toEqual([]);
    const id = fake.addRuleset({ ...repo, requiredStatusChecks: [{ context: 'airlock/approved' }] });
    fake.addRuleset({ ...repo, enforcement: 'evaluate', requiredStatusChecks: [{ context: 'other' }] });
    fake.addRuleset({
      ...repo,
      include: ['refs/heads/release/**'],
      requiredStatusChecks: [{ context: 'rel' }],
    });
    const { data } = await octokit().repos.getBranchRules({ ...repo, branch: 'main' });
    expect(data).toEqual([
      {
        type: 'required_status_checks',
        ruleset_source_type: 'Repository',
        ruleset_source: `${OWNER}/${REPO}`,
        ruleset_id: id,
        parameters: {
          strict_required_status_checks_policy: false,
          do_not_enforce_on_create: false,
          required_status_checks: [{ context: 'airlock/approved' }],
        },
      },
    ]);
    const release = await octokit().repos.getBranchRules({ ...repo, branch: 'release/1.0' });
    expect(
      release.data.map((r) => r.type === 'required_status_checks' && r.parameters?.required_status_checks),
    ).toEqual([[{ context: 'rel' }]]);
  });
});

describe('users', () => {
  it('serves public profiles of known users and 404 for others', async () => {
    fake.addUser('alice', { email: 'alice@example.com', name: 'Alice' });
    const alice = await octokit().users.getByUsername({ username: 'alice' });
    expect(alice.data).toMatchObject({
      login: 'alice',
      type: 'User',
      email: 'alice@example.com',
      name: 'Alice',
    });
    const { number } = await openPull();
    fake.addComment({ ...repo, number, user: 'dave', body: 'Hi' });
    const dave = await octokit().users.getByUsername({ username: 'dave' });
    expect(dave.data).toMatchObject({ login: 'dave', email: null });
    expect(fake.comments(OWNER, REPO, number)[0]?.author_association).toBe('NONE');
    fake.addUser('dave', { email: 'dave@example.com' });
    expect((await octokit().users.getByUsername({ username: 'dave' })).data.email).toBe('dave@example.com');
    expect(fake.comments(OWNER, REPO, number)[0]?.author_association).toBe('MEMBER');
    const bot = await octokit().users.getByUsername({ username: 'airlock-bot' });
    expect(bot.data).toMatchObject({ id: 4242, type: 'User' });
    const nobody = await rejection(octokit().users.getByUsername({ username: 'nobody' }));
    expect([nobody.status, nobody.response.data.message]).toEqual([404, 'Not Found']);
  });
});

describe('the pull request outside the client', () => {
  it('merges, and refuses to reopen a merged pull request', async () => {
    const { number, head } = await openPull();
    fake.merge({ ...repo, number, by: 'carol' });
    const { data } = await octokit().pulls.get({ ...repo, pull_number: number });
    expect(data).toMatchObject({
      state: 'closed',
      merged: true,
      merge_commit_sha: head,
      merged_by: { login: 'carol' },
    });
    expect(data.merged_at).toBe(data.closed_at);
    const reopen = await rejection(octokit().pulls.update({ ...repo, pull_number: number, state: 'open' }));
    expect(reopen.status).toBe(422);
    expect(reopen.response.data.errors).toEqual([
      {
        ...{ resource: 'PullRequest', code: 'custom', field: 'state' },
        message: 'state cannot be changed. The pull request cannot be reopened.',
      },
    ]);
    expect(() => fake.merge({ ...repo, number, by: 'carol' })).toThrow(/closed/);
  });

  it('closes without merging', async () => {
    const { number } = await openPull();
    fake.closePull({ ...repo, number });
    const { data } = await octokit().pulls.get({ ...repo, pull_number: number });
    expect(data).toMatchObject({ state: 'closed', merged: false, merged_at: null, merged_by: null });
    expect(data.closed_at).not.toBeNull();
  });

  it('moves the pull request with someone else’s push to its head, and its ETag with it', async () => {
    const { number, head } = await openPull();
    const before = await octokit().pulls.get({ ...repo, pull_number: number });
    const pushed = await fake.pushOutside({
      ...{ ...repo, branch: BRANCH, files: { 'docs/notes.md': 'by hand\n', 'src/index.ts': null } },
      author: { name: 'Carol', email: 'carol@example.com' },
    });
    expect(pushed).not.toBe(head);
    expect(fake.refSha(OWNER, REPO, `refs/pull/${number}/head`)).toBe(pushed);
    expect(fake.pushes).toEqual([]); // not received over git
    const changed = await octokit().pulls.get({
      ...repo,
      pull_number: number,
      headers: { 'if-none-match': before.headers.etag },
    });
    expect(changed.status).toBe(200);
    expect(changed.data.head.sha).toBe(pushed);
    expect(changed.data.commits).toBe(2);
    const c = await fake.addReviewComment({
      ...repo,
      number,
      user: 'bob',
      body: 'Why?',
      path: 'docs/notes.md',
      line: 1,
    });
    expect(c.commit_id).toBe(pushed);
  });
});

describe('App installation token permissions', () => {
  it('refuses statuses, checks and logs without their permissions, with the accepted permissions named', async () => {
    const { number, head } = await openPull();
    const job = await fake.addCheckRun({
      ...repo,
      sha: head,
      name: 'test',
      conclusion: 'success',
      log: 'ok\n',
    });
    const asApp = octokit(await appToken({ contents: 'read', pull_requests: 'read' }));
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => asApp.repos.createCommitStatus({ ...repo, sha: head, state: 'success' }), 'statuses=write'],
      [() => asApp.repos.getCombinedStatusForRef({ ...repo, ref: head }), 'statuses=read'],
      [() => asApp.checks.listForRef({ ...repo, ref: head }), 'checks=read'],
      [() => asApp.actions.downloadJobLogsForWorkflowRun({ ...repo, job_id: job }), 'actions=read'],
      [() => asApp.repos.getStatusChecksProtection({ ...repo, branch: 'main' }), 'administration=read'],
      [
        () => asApp.issues.createComment({ ...repo, issue_number: number, body: 'x' }),
        'issues=write; pull_requests=write',
      ],
    ];
    for (const [call, accepted] of cases) {
      const err = await rejection(call());
      expect([err.status, err.response.data.message]).toEqual([
        403,
        'Resource not accessible by integration',
      ]);
      expect(err.response.headers['x-accepted-github-permissions']).toBe(accepted);
    }
    // Reading comments takes issues or pull_requests; rules need only metadata.
    expect((await asApp.issues.listCommentsForRepo(repo)).status).toBe(200);
    expect((await asApp.repos.getBranchRules({ ...repo, branch: 'main' })).status).toBe(200);
  });

  it('posts statuses and comments as the App’s bot with the permissions to', async () => {
    const { number, head } = await openPull();
    const asApp = octokit(await appToken({ statuses: 'write', pull_requests: 'write' }));
    const status = await asApp.repos.createCommitStatus({
      ...repo,
      sha: head,
      state: 'success',
      context: 'airlock/approved',
    });
    expect(status.data.creator).toMatchObject({ login: 'airlock-app[bot]', type: 'Bot' });
    const comment = await asApp.issues.createComment({
      ...repo,
      issue_number: number,
      body: 'Approved in Slack.',
    });
    expect(comment.data.user).toMatchObject({ login: 'airlock-app[bot]', type: 'Bot' });
    expect(comment.data.author_association).toBe('NONE');
  });
});
