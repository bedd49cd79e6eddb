// "Create a review for a pull request" on the GitHub stand-in, driven by the real @octokit/rest:
// submitted and pending reviews, their line comments placed in the diff (or the whole review refused),
// GitHub's 422s, who the review is by, and what the listings (and their ETags) show afterwards.
import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeGitHub, generateAppKeyPair, startFakeGitHub } from '../fakes/github-server.js';

const TOKEN = 'ghs_reviewTestToken0123456789abcdef';
const OWNER = 'acme';
const REPO = 'widgets';
const BRANCH = 'airlock/fix-typo';
const APP_ID = 4711;
const INSTALLATION_ID = 77;
const KEYS = generateAppKeyPair();
const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const repo = { owner: OWNER, repo: REPO };
const DOC = 'https://docs.github.com/rest/pulls/reviews#create-a-review-for-a-pull-request';

const consts = (n: number) => `export const v${n} = ${n};`;
// Twelve lines; the pull request changes line 2 and appends line 13: two hunks (1-5 and 10-13).
const BASE_INDEX = ['// widgets', ...Array.from({ length: 11 }, (_, i) => consts(i + 1))];
const HEAD_INDEX = ['// widgets', consts(100), ...BASE_INDEX.slice(2), consts(12)];
const lines = (l: string[]) => `${l.join('\n')}\n`;

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
    response: { data: { message: string; errors?: unknown[]; documentation_url?: string } };
  };
}

/** Opens a pull request (by the server's bot) changing README.md and src/index.ts. */
async function openPull(): Promise<{ number: number; head: string; first: string }> {
  const first = await fake.pushOutside({
    ...{ ...repo, branch: BRANCH, from: 'main', message: 'Fix typo' },
    files: { 'README.md': '# widgets\n\nFixed typo.\n' },
  });
  const head = await fake.pushOutside({
    ...{ ...repo, branch: BRANCH, message: 'Bump a constant' },
    files: { 'src/index.ts': lines(HEAD_INDEX) },
  });
  const pr = await octokit().pulls.create({ ...repo, head: BRANCH, base: 'main', title: 'Fix typo' });
  return { number: pr.data.number, head, first };
}

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
      { owner: OWNER, name: REPO, files: { 'README.md': '# widgets\n', 'src/index.ts': lines(BASE_INDEX) } },
    ],
    app: {
      appId: APP_ID,
      privateKeyPem: KEYS.privateKeyPem,
      installations: [{ id: INSTALLATION_ID, account: OWNER, repos: [`${OWNER}/${REPO}`] }],
      permissions: { contents: 'write', pull_requests: 'write', issues: 'write', metadata: 'read' },
    },
  });
});

afterEach(async () => {
  await fake.close();
});

describe('creating a review', () => {
  it('lands a COMMENT review with two line comments, and lists them as GitHub does', async () => {
    const { number, head } = await openPull();
    const before = (await octokit().pulls.get({ ...repo, pull_number: number })).data;
    const made = await octokit().pulls.createReview({
      ...{ ...repo, pull_number: number, event: 'COMMENT', body: 'Two notes.' },
      comments: [
        { path: 'README.md', line: 3, body: 'Typo?' },
        { path: 'src/index.ts', line: 13, side: 'RIGHT', body: 'Why a new constant?' },
      ],
    });
    expect(made.status).toBe(200);
    const review = made.data;
    expect(review).toMatchObject({
      ...{ state: 'COMMENTED', body: 'Two notes.', commit_id: head, author_association: 'MEMBER' },
      user: { login: 'airlock-bot' },
      html_url: `${fake.webUrl}/${OWNER}/${REPO}/pull/${number}#pullrequestreview-${review.id}`,
      pull_request_url: `${fake.apiUrl}/repos/${OWNER}/${REPO}/pulls/${number}`,
    });
    expect(review.node_id).toBe(`PRR_${review.id}`);
    expect(review.submitted_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);

    const listed = await octokit().pulls.listReviews({ ...repo, pull_number: number });
    expect(listed.data).toEqual([review]);
    const onPull = await octokit().pulls.listReviewComments({ ...repo, pull_number: number });
    expect(onPull.data.map((c) => [c.path, c.line, c.side, c.position, c.body])).toEqual([
      ['README.md', 3, 'RIGHT', 3, 'Typo?'],
      ['src/index.ts', 13, 'RIGHT', 11, 'Why a new constant?'],
    ]);
    for (const c of onPull.data)
      expect(c).toMatchObject({
        pull_request_review_id: review.id,
        ...{ commit_id: head, original_commit_id: head, user: { login: 'airlock-bot' } },
        ...{ start_line: null, start_side: null, subject_type: 'line' },
      });
    expect(onPull.data[0]?.diff_hunk).toBe('@@ -1 +1,3 @@\n # widgets\n+\n+Fixed typo.');
    expect(onPull.data[1]?.diff_hunk).toBe(
      `@@ -10,3 +10,4 @@ ${consts(8)}\n ${consts(9)}\n ${consts(10)}\n ${consts(11)}\n+${consts(12)}`,
    );
    const repoWide = await octokit().pulls.listReviewCommentsForRepo(repo);
    expect(repoWide.data).toEqual(onPull.data);
    expect(fake.reviews(OWNER, REPO, number)).toEqual([review]);
    expect(fake.reviewComments(OWNER, REPO, number)).toEqual(onPull.data);

    const after = (await octokit().pulls.get({ ...repo, pull_number: number })).data;
    expect(after.review_comments).toBe(2);
    expect(Date.parse(after.updated_at)).toBeGreaterThanOrEqual(Date.parse(before.updated_at));
  });

  it('changes the ETags of the reviews and review comments listings', async () => {
    const { number } = await openPull();
    const reviews = (etag?: string) =>
      octokit().pulls.listReviews({
        ...{ ...repo, pull_number: number },
        headers: etag ? { 'if-none-match': etag } : {},
      });
    const comments = (etag?: string) =>
      octokit().pulls.listReviewComments({
        ...{ ...repo, pull_number: number },
        headers: etag ? { 'if-none-match': etag } : {},
      });
    const [r0, c0] = [await reviews(), await comments()];
    expect((await rejection(reviews(r0.headers.etag))).status).toBe(304);
    expect((await rejection(comments(c0.headers.etag))).status).toBe(304);
    await octokit().pulls.createReview({
      ...{ ...repo, pull_number: number, event: 'COMMENT' },
      comments: [{ path: 'README.md', line: 3, body: 'Nit.' }],
    });
    const r1 = await reviews(r0.headers.etag);
    const c1 = await comments(c0.headers.etag);
    expect([r1.status, r1.data.length, c1.status, c1.data.length]).toEqual([200, 1, 200, 1]);
    expect(r1.headers.etag).not.toBe(r0.headers.etag);
    expect(c1.headers.etag).not.toBe(c0.headers.etag);
    expect(fake.conditional()).toMatchObject({ hits: 2, misses: 2 });
  });

  it('places LEFT-side, multi-line and legacy position comments', async () => {
    const { number } = await openPull();
    await octokit().pulls.createReview({
      ...{ ...repo, pull_number: number, event: 'COMMENT' },
      comments: [
        { path: 'src/index.ts', line: 2, side: 'LEFT', body: 'The old value.' },
        { path: 'src/index.ts', start_line: 1, line: 3, body: 'These three.' },
        { path: 'src/index.ts', position: 3, body: 'By position.' },
      ],
    });
    const { data } = await octokit().pulls.listReviewComments({ ...repo, pull_number: number });
    expect(data.map((c) => [c.line, c.side, c.start_line, c.start_side, c.position])).toEqual([
      [2, 'LEFT', null, null, 2],
      [3, 'RIGHT', 1, 'RIGHT', 4],
      [2, 'RIGHT', null, null, 3],
    ]);
    expect(data[0]?.diff_hunk).toBe(`@@ -1,5 +1,5 @@\n // widgets\n-${consts(1)}`);
  });

  it('reviews an earlier commit of the pull request, and refuses one outside it', async () => {
    const { number, first } = await openPull();
    const early = await octokit().pulls.createReview({
      ...{ ...repo, pull_number: number, commit_id: first, event: 'COMMENT', body: 'First commit.' },
      comments: [{ path: 'README.md', line: 3, body: 'Here.' }],
    });
    expect(early.data.commit_id).toBe(first);
    expect(fake.reviewComments(OWNER, REPO, number)[0]).toMatchObject({ commit_id: first, position: 3 });
    // src/index.ts is not in the diff at that commit yet.
    const notYet = await rejection(
      octokit().pulls.createReview({
        ...{ ...repo, pull_number: number, commit_id: first, event: 'COMMENT' },
        comments: [{ path: 'src/index.ts', line: 13, body: 'x' }],
      }),
    );
    expect(notYet.response.data.errors).toEqual(['Path could not be resolved']);
    const main = String(fake.refSha(OWNER, REPO, 'refs/heads/main'));
    for (const commit_id of [main, 'f'.repeat(40)]) {
      const err = await rejection(
        octokit().pulls.createReview({
          ...repo,
          pull_number: number,
          commit_id,
          event: 'COMMENT',
          body: 'x',
        }),
      );
      expect([err.status, err.response.data.errors]).toEqual([
        422,
        ['commit_id is not part of the pull request'],
      ]);
    }
  });
});

describe('what GitHub refuses (422, and nothing is stored)', () => {
  const refused = async (
    number: number,
    params: Omit<Parameters<Octokit['pulls']['createReview']>[0] & object, 'owner' | 'repo' | 'pull_number'>,
    auth?: string,
  ) => {
    const err = await rejection(
      octokit(auth).pulls.createReview({ ...repo, pull_number: number, ...params }),
    );
    expect(err.status).toBe(422);
    expect(err.response.data.message).toBe('Unprocessable Entity');
    expect(err.response.data.documentation_url).toBe(DOC);
    return err.response.data.errors;
  };

  it('a comment outside the diff refuses the whole review', async () => {
    const { number } = await openPull();
    const good = { path: 'README.md', line: 3, body: 'Fine.' };
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ path: 'src/index.ts', line: 7, body: 'Between the hunks.' }, 'Line could not be resolved'],
      [{ path: 'src/index.ts', line: 14, body: 'Past the end.' }, 'Line could not be resolved'],
      [
        { path: 'src/index.ts', line: 13, side: 'LEFT', body: 'Added, not on the left.' },
        'Line could not be resolved',
      ],
      [{ path: 'LICENSE', line: 1, body: 'Not in the pull request.' }, 'Path could not be resolved'],
      [{ path: 'src', line: 1, body: 'A directory.' }, 'Path could not be resolved'],
      [
        { path: 'src/index.ts', start_line: 3, line: 13, body: 'Across hunks.' },
        'Pull request review thread start line must be part of the same hunk as the line.',
      ],
      [
        { path: 'src/index.ts', start_line: 3, line: 3, body: 'One line.' },
        'Pull request review thread start line must precede the end line.',
      ],
      [
        { path: 'src/index.ts', position: 7, body: 'A hunk header.' },
        "Pull request review thread position is invalid and Pull request review thread diff hunk can't be blank",
      ],
    ];
    for (const [bad, message] of cases)
      expect(
        await refused(number, { event: 'COMMENT', body: 'Notes.', comments: [good, bad] as never }),
      ).toEqual([message]);
    expect(fake.reviews(OWNER, REPO, number)).toEqual([]);
    expect(fake.reviewComments(OWNER, REPO, number)).toEqual([]);
  });

  it('COMMENT and REQUEST_CHANGES need a body or a comment', async () => {
    const { number } = await openPull();
    const asApp = await appToken({ pull_requests: 'write' });
    const needs = ['You need to leave a comment indicating the requested changes.'];
    expect(await refused(number, { event: 'COMMENT' })).toEqual(needs);
    expect(await refused(number, { event: 'COMMENT', body: '  \n' })).toEqual(needs);
    expect(await refused(number, { event: 'REQUEST_CHANGES', body: '' }, asApp)).toEqual(needs);
    expect(fake.reviews(OWNER, REPO, number)).toEqual([]);
    // A comment is enough; APPROVE needs neither.
    const commented = await octokit().pulls.createReview({
      ...{ ...repo, pull_number: number, event: 'COMMENT' },
      comments: [{ path: 'README.md', line: 3, body: 'Only this.' }],
    });
    expect([commented.data.state, commented.data.body]).toEqual(['COMMENTED', '']);
    const approved = await octokit(asApp).pulls.createReview({
      ...repo,
      pull_number: number,
      event: 'APPROVE',
    });
    expect(approved.data.state).toBe('APPROVED');
  });

  it('an author can neither approve nor request changes on their own pull request', async () => {
    const { number } = await openPull(); // opened by airlock-bot, the server token's user
    expect(await refused(number, { event: 'APPROVE' })).toEqual(['Can not approve your own pull request']);
    expect(await refused(number, { event: 'REQUEST_CHANGES', body: 'Hm.' })).toEqual([
      'Can not request changes on your own pull request',
    ]);
    expect(fake.reviews(OWNER, REPO, number)).toEqual([]);
    const own = await octokit().pulls.createReview({
      ...repo,
      pull_number: number,
      event: 'COMMENT',
      body: 'Note.',
    });
    expect(own.data.state).toBe('COMMENTED');
  });

  it('refuses malformed requests as GitHub’s schema does', async () => {
    const { number } = await openPull();
    const raw = (body: unknown) =>
      rejection(
        octokit().request('POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews', {
          ...{ ...repo, pull_number: number },
          ...(body as object),
        }),
      );
    const badEvent = await raw({ event: 'approve' });
    expect([badEvent.status, badEvent.response.data.message]).toEqual([
      422,
      `Invalid request.\n\nFor 'event', "approve" is not a member of ["APPROVE", "REQUEST_CHANGES", "COMMENT"].`,
    ]);
    const noPath = await raw({ event: 'COMMENT', comments: [{ line: 3, body: 'x' }] });
    expect(noPath.response.data.message).toBe(`Invalid request.\n\n"path" wasn't supplied.`);
    expect(fake.reviews(OWNER, REPO, number)).toEqual([]);
    // Keys this endpoint does not take are not acted on: problems, as the client meant something.
    const both = { path: 'README.md', line: 3, position: 3, subject_type: 'line', body: 'x' };
    const extra = await octokit().request('POST /repos/{owner}/{repo}/pulls/{pull_number}/reviews', {
      ...{ ...repo, pull_number: number, event: 'COMMENT', draft: true, comments: [both] },
    });
    expect(extra.data.state).toBe('COMMENTED');
    expect(fake.takeProblems()).toEqual([
      expect.stringMatching(/with "draft": not a parameter of this endpoint/),
      expect.stringMatching(/with "subject_type": not a parameter of this endpoint/),
      expect.stringMatching(/both "line" and "position"/),
    ]);
    const missing = await rejection(
      octokit().pulls.createReview({ ...repo, pull_number: 99, event: 'APPROVE' }),
    );
    expect([missing.status, missing.response.data.message]).toEqual([404, 'Not Found']);
  });
});

describe('pending reviews and App installation tokens', () => {
  it('leaves a review PENDING without an event: its author sees it, no listing shows its comments', async () => {
    const { number } = await openPull();
    const pending = await octokit().pulls.createReview({
      ...{ ...repo, pull_number: number },
      comments: [{ path: 'README.md', line: 3, body: 'Draft.' }],
    });
    expect(pending.data.state).toBe('PENDING');
    expect(pending.data).not.toHaveProperty('submitted_at');
    const mine = await octokit().pulls.listReviews({ ...repo, pull_number: number });
    expect(mine.data.map((v) => v.state)).toEqual(['PENDING']);
    const asApp = octokit(await appToken({ pull_requests: 'read' }));
    expect((await asApp.pulls.listReviews({ ...repo, pull_number: number })).data).toEqual([]);
    expect((await octokit().pulls.listReviewComments({ ...repo, pull_number: number })).data).toEqual([]);
    expect((await octokit().pulls.get({ ...repo, pull_number: number })).data.review_comments).toBe(0);
    expect(fake.reviewComments(OWNER, REPO, number)).toMatchObject([
      { body: 'Draft.', pull_request_review_id: pending.data.id },
    ]);
    const again = await rejection(
      octokit().pulls.createReview({ ...repo, pull_number: number, event: 'COMMENT', body: 'x' }),
    );
    expect(again.response.data.errors).toEqual(['User can only have one pending review per pull request']);
  });

  it('needs pull_requests: write, and reviews as the App’s bot', async () => {
    const { number, head } = await openPull();
    const reader = octokit(await appToken({ pull_requests: 'read' }));
    const denied = await rejection(
      reader.pulls.createReview({ ...repo, pull_number: number, event: 'APPROVE' }),
    );
    expect([denied.status, denied.response.data.message]).toEqual([
      403,
      'Resource not accessible by integration',
    ]);
    const writer = octokit(await appToken({ pull_requests: 'write' }));
    const approved = await writer.pulls.createReview({
      ...{ ...repo, pull_number: number, event: 'APPROVE', body: 'Approved in Slack.' },
      comments: [{ path: 'src/index.ts', line: 2, body: 'Checked.' }],
    });
    expect(approved.data).toMatchObject({
      state: 'APPROVED',
      commit_id: head,
      user: { login: 'airlock-app[bot]', type: 'Bot' },
      author_association: 'NONE',
    });
    expect(fake.reviewComments(OWNER, REPO, number)).toMatchObject([
      { user: { login: 'airlock-app[bot]' }, pull_request_review_id: approved.data.id, position: 3 },
    ]);
  });
});
