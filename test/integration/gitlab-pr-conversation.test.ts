import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gitlab } from '@gitbeaker/rest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AirlockError } from '../../src/errors.js';
import { GitLabConversation } from '../../src/forge/gitlab/gitlab-conversation.js';
import {
  APPROVED_CONTEXT,
  type ConversationCursor,
  type ForgeCheck,
  type PullToWatch,
} from '../../src/runs/ports/pull-requests.js';
import type { ScriptStep } from '../fakes/anthropic-server.js';
import { fixAddScript } from '../fakes/fix-add-script.js';
import { type FakeGitLab, startFakeGitLab, type Tier } from '../fakes/gitlab-server.js';
import { eventually, type Harness, startHarness } from '../support/bot-harness.js';
import { gitCli } from '../support/git-cli.js';
import { addSubScript, bareGit, prWatchPolicy } from '../support/pull-request-flow.js';
import { approvalMessage, approve, buttonsOf } from '../support/slack-thread.js';

const PROJECT = 'acme/widgets';
const TOKEN = 'glpat-gitlabConversation0042';
const BRANCH = 'airlock/fix-add';

describe('GitLabConversation against the GitLab stand-in', () => {
  let fake: FakeGitLab;
  let work: string;
  const others: FakeGitLab[] = [];

  async function startFake(tier?: Tier) {
    return startFakeGitLab({
      token: TOKEN,
      tier,
      projects: [{ path: PROJECT, files: { 'src/add.js': 'one\ntwo\nthree\n' } }],
    });
  }

  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'gitlab-pr-conversation-'));
    fake = await startFake();
  });
  afterEach(async () => {
    for (const f of [fake, ...others.splice(0)]) await f.close();
    await rm(work, { recursive: true, force: true });
  });

  const conversation = (f = fake, token = TOKEN) => new GitLabConversation({ url: `${f.url}/`, token });

  /** A branch with src/add.js changed (a line inserted after line 1) and a merge request for it. */
  async function openMr(f = fake): Promise<{ iid: number; sha: string; webUrl: string }> {
    const dir = join(work, `clone-${Math.random().toString(36).slice(2)}`);
    const auth = `http.extraHeader=Authorization: Basic ${Buffer.from(`oauth2:${TOKEN}`).toString('base64')}`;
    const git = (args: string[], cwd = dir) => gitCli(args, cwd, work);
    expect((await git(['-c', auth, 'clone', '--quiet', f.gitUrl(PROJECT), dir], work)).code).toBe(0);
    await writeFile(join(dir, 'src/add.js'), 'one\nNEW\ntwo\nthree\n');
    expect((await git(['commit', '--quiet', '-am', 'Insert a line'])).code).toBe(0);
    const push = await git(['-c', auth, 'push', '--quiet', 'origin', `HEAD:refs/heads/${BRANCH}`]);
    expect(push.code, push.stderr).toBe(0);
    const mr = await new Gitlab({ host: f.url, token: TOKEN }).MergeRequests.create(
      PROJECT,
      BRANCH,
      'main',
      'Fix add',
    );
    return { iid: mr.iid, sha: mr.sha, webUrl: String(mr.web_url) };
  }

  const fresh = (): ConversationCursor => ({ etags: {}, since: null });
  const watch = (iid: number, sha: string, checkHead: string | null = sha): PullToWatch[] => [
    { number: iid, headSha: sha, checkHead },
  ];

  it('reads the merge request, its notes (a DiffNote with file and line), and approvals; then nothing new costs only 304s', async () => {
    const { iid, sha, webUrl } = await openMr();
    const note = fake.addNote({ project: PROJECT, iid, author: 'alice', body: '@airlock rename it' });
    const diff = await fake.addDiffNote({
      project: PROJECT,
      iid,
      author: 'bob',
      body: 'why?',
      path: 'src/add.js',
      line: 2,
    });
    fake.approve({ project: PROJECT, iid, by: 'carol' }); // also writes a system note, which is not a comment
    const c = conversation();

    const first = await c.observe(PROJECT, watch(iid, sha), fresh());
    expect(first.observed.pulls).toEqual([{ number: iid, state: 'open', headSha: sha, by: null }]);
    expect(first.observed.comments).toHaveLength(2);
    expect(first.observed.comments).toEqual(
      expect.arrayContaining([
        {
          id: `note:${note.id}`,
          number: iid,
          author: 'alice',
          body: '@airlock rename it',
          url: `${webUrl}#note_${note.id}`,
          createdAt: expect.stringMatching(/^\d{4}-/),
        },
        expect.objectContaining({ id: `note:${diff.id}`, author: 'bob', path: 'src/add.js', line: 2 }),
      ]),
    );
    expect(first.observed.reviews).toEqual([
      { id: `approval:${iid}:carol`, number: iid, author: 'carol', state: 'approved', body: '', url: webUrl },
    ]);
    expect(first.observed.checks).toEqual([]);
    const notesUrl = Object.keys(first.cursor.etags).find((u) => u.includes('/notes'));
    expect(notesUrl).toBe(
      `${fake.url}/api/v4/projects/acme%2Fwidgets/merge_requests/${iid}/notes?order_by=updated_at&sort=desc&per_page=100`,
    );
    expect(Object.values(first.cursor.etags).every((e) => /^W\/"[0-9a-f]{32}"$/.test(e))).toBe(true);
    expect(first.cursor.since).toMatch(/^\d{4}-\d\d-\d\dT/);

    const before = fake.requests.length;
    const counts = fake.conditional();
    const second = await c.observe(PROJECT, watch(iid, sha), first.cursor);
    expect(second.observed).toEqual({
      pulls: [],
      comments: [],
      reviews: [],
      checks: [],
      requests: { notModified: 5, changed: 0 },
    });
    expect(second.cursor.etags).toEqual(first.cursor.etags);
    const polled = fake.requests.slice(before);
    expect(polled.length).toBeGreaterThanOrEqual(4);
    expect(polled.filter((r) => r.status !== 304)).toEqual([]);
    expect(fake.conditional().hits - counts.hits).toBe(polled.length);
    for (const r of fake.requests) expect(r.path).not.toContain(TOKEN);
    for (const r of polled) expect(r.auth).toBe(`PRIVATE-TOKEN ${TOKEN}`);

    // What changed is read again: one more note changes the merge request and its notes.
    fake.addNote({ project: PROJECT, iid, author: 'alice', body: 'and the test too' });
    const third = await c.observe(PROJECT, watch(iid, sha), second.cursor);
    expect(third.observed.pulls).toHaveLength(1);
    expect(third.observed.comments.map((n) => n.body)).toContain('and the test too');
    // EE's approvals carry the merge request's updated_at, so they are read again: the same id, which
    // the watch has handled already.
    expect(third.observed.reviews.map((r) => r.id)).toEqual([`approval:${iid}:carol`]);

    await fake.merge({ project: PROJECT, iid, by: 'carol' });
    const merged = await c.observe(PROJECT, watch(iid, sha), third.cursor);
    expect(merged.observed.pulls).toEqual([{ number: iid, state: 'merged', headSha: sha, by: 'carol' }]);
  });

  it('reads every page of a long conversation', async () => {
    const { iid, sha } = await openMr();
    for (let i = 0; i < 130; i++) fake.addNote({ project: PROJECT, iid, author: 'alice', body: `note ${i}` });
    const { observed } = await conversation().observe(PROJECT, watch(iid, sha, null), fresh());
    expect(observed.comments).toHaveLength(130);
    expect(new Set(observed.comments.map((n) => n.id)).size).toBe(130);
  });

  it('reports the jobs of the pipelines at airlock’s head and other tools’ commit statuses, not its own', async () => {
    const { iid, sha } = await openMr();
    const c = conversation();
    await c.setStatus(PROJECT, sha, { state: 'success', description: 'approved by U0APPROVER' });
    const pipeline = await fake.addPipeline({
      project: PROJECT,
      sha,
      ref: BRANCH,
      jobs: [
        {
          name: 'unit tests',
          status: 'failed',
          trace: '\u001b[32;1m$ npm test\u001b[0;m\nFAIL expected 5, got -1\n',
        },
        { name: 'lint', status: 'failed', allowFailure: true },
        { name: 'e2e', status: 'running' },
      ],
    });
    const [unit, lint, e2e] = pipeline.jobs as [number, number, number];
    const other = await fetch(`${fake.url}/api/v4/projects/acme%2Fwidgets/statuses/${sha}`, {
      method: 'POST',
      headers: { 'PRIVATE-TOKEN': TOKEN, 'content-type': 'application/json' },
      body: JSON.stringify({ state: 'failed', name: 'security/scan', target_url: 'https://scan.example/1' }),
    });
    expect(other.status).toBe(201);

    const first = await c.observe(PROJECT, watch(iid, sha), fresh());
    const byId = Object.fromEntries(first.observed.checks.map((k) => [k.id, k]));
    expect(Object.keys(byId).sort()).toEqual(
      [`job:${unit}`, `job:${lint}`, `job:${e2e}`, `status:security/scan:${sha}`].sort(),
    );
    expect(byId[`job:${unit}`]).toEqual({
      id: `job:${unit}`,
      number: iid,
      sha,
      name: 'unit tests',
      outcome: 'failure',
      url: `${fake.url}/${PROJECT}/-/jobs/${unit}`,
      logRef: String(unit),
      summary: 'The job failed: script failure.',
    });
    expect(byId[`job:${lint}`]?.outcome).toBe('success'); // allowed to fail
    expect(byId[`job:${e2e}`]?.outcome).toBe('pending');
    expect(byId[`status:security/scan:${sha}`]).toMatchObject({
      name: 'security/scan',
      outcome: 'failure',
      url: 'https://scan.example/1',
    });

    // The log's end, without the runner's colours; cut ones start with an ellipsis.
    const failed = byId[`job:${unit}`] as ForgeCheck;
    expect(await c.checkLog(PROJECT, failed, 3000)).toBe('$ npm test\nFAIL expected 5, got -1\n');
    expect(await c.checkLog(PROJECT, failed, 10)).toBe('…5, got -1\n');
    // No log (an empty 200): the summary.
    expect(await c.checkLog(PROJECT, byId[`job:${lint}`] as ForgeCheck, 3000)).toBe(
      'The job failed: script failure.',
    );

    // The running job finishing changes its pipeline's jobs, and only those are read again.
    fake.updateJob({ project: PROJECT, id: e2e, status: 'success' });
    const second = await c.observe(PROJECT, watch(iid, sha), first.cursor);
    expect(second.observed.checks.find((k) => k.id === `job:${e2e}`)?.outcome).toBe('success');
    expect(second.observed.comments).toEqual([]);
    // Without a head of airlock's, no CI is read.
    const before = fake.requests.length;
    await c.observe(PROJECT, watch(iid, sha, null), second.cursor);
    expect(fake.requests.slice(before).map((r) => r.path.split('?')[0])).toEqual([
      `/api/v4/projects/acme%2Fwidgets/merge_requests/${iid}`,
      `/api/v4/projects/acme%2Fwidgets/merge_requests/${iid}/notes`,
      `/api/v4/projects/acme%2Fwidgets/merge_requests/${iid}/approvals`,
    ]);
  });

  it('sets airlock/approved as a GitLab commit status: success, then failed, then success again', async () => {
    const { sha } = await openMr();
    const c = conversation();
    await c.setStatus(PROJECT, sha, { state: 'success', description: 'approved by U0APPROVER · diff abc' });
    await c.setStatus(PROJECT, sha, {
      state: 'failure',
      description: 'not approved in airlock',
      targetUrl: 'https://airlock.example/runs/1',
    });
    await c.setStatus(PROJECT, sha, { state: 'success', description: 'approved again' });
    expect(fake.statuses(PROJECT, sha).map((s) => [s.name, s.status, s.description, s.target_url])).toEqual([
      [APPROVED_CONTEXT, 'success', 'approved by U0APPROVER · diff abc', null],
      [APPROVED_CONTEXT, 'failed', 'not approved in airlock', 'https://airlock.example/runs/1'],
      [APPROVED_CONTEXT, 'success', 'approved again', null],
    ]);
  });

  it('replies with a note; a wrong token or project is a forge_failed error that names the fix and never the token', async () => {
    const { iid, sha } = await openMr();
    await conversation().reply(PROJECT, iid, '<!-- airlock -->\nDone.');
    expect(fake.notes(PROJECT, iid).at(-1)).toMatchObject({
      body: '<!-- airlock -->\nDone.',
      author: { username: 'airlock-bot' },
      system: false,
    });

    const wrong = 'glpat-notTheRightToken99';
    const err = await conversation(fake, wrong)
      .observe(PROJECT, watch(iid, sha), fresh())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AirlockError);
    expect((err as AirlockError).code).toBe('forge_failed');
    expect((err as AirlockError).message).toBe(
      `GitLab: could not poll ${PROJECT}: 401 Unauthorized (/api/v4/projects/acme%2Fwidgets/merge_requests/${iid}). Check GITLAB_TOKEN.`,
    );
    expect((err as AirlockError).message).not.toContain(wrong);

    const missing = await conversation()
      .reply('acme/nope', 1, 'hello')
      .catch((e: unknown) => e as AirlockError);
    expect(missing).toBeInstanceOf(AirlockError);
    expect((missing as AirlockError).message).toMatch(
      /^GitLab: could not comment on acme\/nope: 404 Project Not Found \(\/api\/v4\/projects\/acme%2Fnope\/merge_requests\/1\/notes\)\. Check that the token/,
    );

    const down = new GitLabConversation({ url: 'http://127.0.0.1:9', token: TOKEN });
    const refused = await down
      .setStatus(PROJECT, sha, { state: 'success', description: 'x' })
      .catch((e) => e);
    expect((refused as AirlockError).message).toMatch(
      /^GitLab: could not set the commit status on acme\/widgets: fetch failed/,
    );
    expect((refused as AirlockError).message).not.toContain(TOKEN);
  });

  it('describes a merge request for a review and posts one: the summary as a note, a discussion on the diff line', async () => {
    const { iid, sha, webUrl } = await openMr();
    const c = conversation();
    expect(await c.pullRequestFacts(PROJECT, iid)).toMatchObject({
      number: iid,
      url: webUrl,
      headRef: `refs/merge-requests/${iid}/head`,
      headSha: sha,
      base: 'main',
      state: 'open',
    });
    const posted = await c.postReview(PROJECT, iid, {
      headSha: sha,
      summary: 'One inserted line; it needs a test.',
      comments: [{ path: 'src/add.js', line: 2, body: 'Why NEW?' }],
    });
    expect(posted.url).toContain(`${webUrl}#note_`);
    const notes = fake.notes(PROJECT, iid).filter((n) => !n.system);
    expect(notes.map((n) => [n.type, n.body])).toEqual([
      [null, 'One inserted line; it needs a test.'],
      ['DiffNote', 'Why NEW?'],
    ]);
    expect(notes[1]?.position).toMatchObject({ new_path: 'src/add.js', new_line: 2 });
    // A context line (GitLab wants its old line too): the comment becomes a note naming the line.
    await c.postReview(PROJECT, iid, {
      headSha: sha,
      summary: 's',
      comments: [{ path: 'src/add.js', line: 4, body: 'x' }],
    });
    expect(
      fake
        .notes(PROJECT, iid)
        .filter((n) => !n.system)
        .at(-1)?.body,
    ).toBe('`src/add.js:4`: x');
  });

  it('finds a public email through GET /users/:id only', async () => {
    fake.addUser('dana', { publicEmail: 'dana@example.com' });
    fake.addUser('erin');
    const c = conversation();
    expect(await c.emailOf(PROJECT, 'dana')).toBe('dana@example.com');
    expect(await c.emailOf(PROJECT, 'erin')).toBeUndefined();
    expect(await c.emailOf(PROJECT, 'nobody')).toBeUndefined();
    expect(fake.requests.filter((r) => r.path.startsWith('/api/v4/users')).map((r) => r.path)).toEqual([
      '/api/v4/users?username=dana',
      expect.stringMatching(/^\/api\/v4\/users\/\d+$/),
      '/api/v4/users?username=erin',
      expect.stringMatching(/^\/api\/v4\/users\/\d+$/),
      '/api/v4/users?username=nobody',
    ]);
  });

  it('requires approval where "Pipelines must succeed" is on: a failed airlock/approved fails the pipeline', async () => {
    expect(await conversation().requiresApproval(PROJECT, 'main')).toBe(false);
    const strict = await startFakeGitLab({
      token: TOKEN,
      projects: [{ path: PROJECT, files: { 'src/add.js': 'one\n' }, pipelinesMustSucceed: true }],
    });
    others.push(strict);
    expect(await conversation(strict).requiresApproval(PROJECT, 'main')).toBe(true);
    // Another project, or a token that cannot see it: cannot tell.
    expect(await conversation().requiresApproval('acme/missing', 'main')).toBeUndefined();
  });
});

const CHANNEL = 'C0DEV';
const REQUESTER = 'U0REQUESTER';
const APPROVER = 'U0APPROVER';
const POLICY = prWatchPolicy(['pr_watch: { every: 1s }'], ['    forge: gitlab']);

const addSub = addSubScript('Added sub() as asked on the merge request.');
const git = bareGit;

describe('the merge request is a conversation too (GitLab, by polling)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  /** A run from Slack, approved by the approver: the merge request it opens is followed. */
  async function openedMergeRequest(script: ScriptStep[]) {
    h = await startHarness({ policy: POLICY, script: [...fixAddScript(), ...script], gitlab: {} });
    const harness = h;
    const gitlab = harness.gitlab as FakeGitLab;
    const mention = await harness.slack.mention({
      user: REQUESTER,
      channel: CHANNEL,
      text: `<@${harness.slack.botUserId}> fix add()`,
    });
    const first = await approvalMessage(harness.slack, CHANNEL, mention.ts);
    await approve(harness.slack, { user: APPROVER, channel: CHANNEL, approval: first });
    const mr = await eventually(() => gitlab.mergeRequests[0], 20_000, 'the merge request');
    await eventually(() => harness.app.pullRequests.get(PROJECT, 1), 10_000, 'the MR followed');
    const head = gitlab.refSha(PROJECT, `refs/heads/${mr.source_branch}`) as string;
    expect(head).toMatch(/^[0-9a-f]{40}$/);
    return { harness, gitlab, mention, first, mr, head };
  }

  const notesByAirlock = (gitlab: FakeGitLab) =>
    gitlab.notes(PROJECT, 1).filter((n) => String(n.body).includes('<!-- airlock -->'));

  it('an @airlock note from a mapped requester becomes one new commit on the branch after approval in the thread, with a note in reply', async () => {
    const { harness, gitlab, mention, first, mr, head } = await openedMergeRequest(addSub);
    // The head airlock pushed is marked approved, by whom and for which diff.
    await eventually(() => gitlab.statuses(PROJECT, head).length > 0, 10_000, 'the status');
    expect(gitlab.statuses(PROJECT, head)).toEqual([
      expect.objectContaining({
        name: APPROVED_CONTEXT,
        status: 'success',
        description: expect.stringMatching(/^approved by U0APPROVER · diff [0-9a-f]{12}$/),
      }),
    ]);

    gitlab.addNote({ project: PROJECT, iid: 1, author: 'octocat', body: '@airlock please also add sub()' });
    const second = await approvalMessage(harness.slack, CHANNEL, mention.ts, [first.ts], 30_000);
    expect(JSON.stringify(second.blocks)).toContain('export function sub(a, b)');
    const followUp = harness.app.store.listRuns().find((r) => r.prNumber === 1);
    expect(followUp).toMatchObject({ source: 'forge', requester: REQUESTER, baseRef: mr.source_branch });

    // Four-eyes: octocat is the requester (through people:), so they cannot approve it themselves.
    await approve(harness.slack, { user: REQUESTER, channel: CHANNEL, approval: second });
    await eventually(
      () => harness.app.store.events(followUp?.id as string).some((e) => e.type === 'approval.refused'),
      10_000,
      'the requester refused',
    );
    await approve(harness.slack, { user: APPROVER, channel: CHANNEL, approval: second });
    const newHead = await eventually(
      () => {
        const sha = gitlab.refSha(PROJECT, `refs/heads/${mr.source_branch}`);
        return sha !== head && sha;
      },
      20_000,
      'the new head',
    );
    const bare = gitlab.barePath(PROJECT);
    expect(git(bare, 'rev-parse', `${newHead}^`)).toBe(head);
    expect(git(bare, 'rev-list', '--count', `${head}..${newHead}`)).toBe('1');
    expect(git(bare, 'show', `${newHead}:src/add.js`)).toContain('export function sub(a, b)');
    expect(gitlab.mergeRequests).toHaveLength(1);
    await eventually(
      () => gitlab.mergeRequests[0]?.description?.includes('### Follow-ups'),
      10_000,
      'the description updated',
    );
    await eventually(() => gitlab.statuses(PROJECT, newHead).length > 0, 10_000, 'the status');
    expect(gitlab.statuses(PROJECT, newHead)).toEqual([
      expect.objectContaining({ name: APPROVED_CONTEXT, status: 'success' }),
    ]);
    const replies = await eventually(
      () => {
        const mine = notesByAirlock(gitlab).filter((n) => String(n.body).includes('Pushed'));
        return mine.length ? mine : undefined;
      },
      10_000,
      'the reply on the merge request',
    );
    expect(replies).toHaveLength(1);
    expect(String(replies[0]?.body)).toContain(
      `Pushed ${newHead.slice(0, 12)} for @octocat, approved by @lead`,
    );
    expect(replies[0]).toMatchObject({ author: { username: 'airlock-bot' }, system: false });
    await eventually(
      () =>
        harness.slack
          .thread(CHANNEL, mention.ts)
          .some((m) => String(m.text ?? '').includes('asked on the pull request')),
      5000,
      'the thread told of the note',
    );
    // Polls after the push: airlock's own note and its new head start nothing, and nothing is marked failed.
    const polled = gitlab.conditional().hits;
    await eventually(() => gitlab.conditional().hits > polled + 10, 10_000, 'more polls');
    expect(harness.app.store.listRuns().filter((r) => r.prNumber === 1)).toHaveLength(1);
    expect(gitlab.statuses(PROJECT, newHead).map((s) => s.status)).toEqual(['success']);
    expect(harness.app.store.verifyAudit()).toMatchObject({ ok: true, problems: [] });
    for (const r of gitlab.requests) expect(r.path).not.toContain(gitlab.token);
  });

  it('a note from someone the policy does not know, or not a requester, starts nothing: one short reply each', async () => {
    const { harness, gitlab } = await openedMergeRequest([]);
    for (const author of ['stranger', 'stranger', 'outsider'])
      gitlab.addNote({ project: PROJECT, iid: 1, author, body: '@airlock delete everything' });
    const replies = await eventually(
      () => {
        const mine = notesByAirlock(gitlab);
        return mine.length >= 2 ? mine : undefined;
      },
      10_000,
      'the replies',
    );
    // More polls: nobody is told twice, and nothing started.
    const polled = gitlab.conditional().hits;
    await eventually(() => gitlab.conditional().hits > polled + 10, 10_000, 'two more polls');
    expect(notesByAirlock(gitlab)).toHaveLength(2);
    expect(String(replies[0]?.body)).toContain('@stranger airlock does not know you');
    expect(String(replies[1]?.body)).toContain('@outsider you are not among the requesters');
    expect(harness.app.store.listRuns()).toHaveLength(1);
    const actions = harness.app.store
      .events(harness.app.store.listRuns()[0]?.id as string)
      .filter((e) => e.type === 'pr.comment')
      .map((e) => e.data.action);
    expect(actions).toEqual(['unknown', 'unknown', 'refused']);
  });

  it('a failed job on airlock’s head is named in the thread with Fix CI; a head pushed by someone else gets failed', async () => {
    const { harness, gitlab, mention, mr, head } = await openedMergeRequest([]);
    await gitlab.addPipeline({
      project: PROJECT,
      sha: head,
      ref: mr.source_branch,
      jobs: [
        {
          name: 'unit tests',
          status: 'failed',
          trace: 'npm test\nFAIL test/add.test.js\n  expected 5, got -1\n',
        },
        { name: 'flaky lint', status: 'failed', allowFailure: true, trace: 'lint noise\n' },
      ],
    });
    const failed = await eventually(
      () =>
        harness.slack
          .thread(CHANNEL, mention.ts)
          .find((m) => buttonsOf(m).some((b) => b.action_id === 'airlock_fix_ci')),
      15_000,
      'the Fix CI message',
    );
    const shown = JSON.stringify(failed.blocks);
    expect(shown).toContain('unit tests');
    expect(shown).toContain('expected 5, got -1');
    expect(shown).toContain(`${gitlab.url}/${PROJECT}/-/jobs/`);
    const checkFailed = () =>
      harness.app.store
        .events(harness.app.store.listRuns()[0]?.id as string)
        .filter((e) => e.type === 'pr.check_failed');
    expect(checkFailed().map((e) => e.data.name)).toEqual(['unit tests']);

    const outside = await gitlab.pushOutside({
      project: PROJECT,
      branch: mr.source_branch,
      files: { 'NOTES.md': 'pushed by hand\n' },
    });
    const marked = await eventually(
      () => gitlab.statuses(PROJECT, outside)[0],
      15_000,
      'the outside head marked',
    );
    expect(marked).toMatchObject({
      name: APPROVED_CONTEXT,
      status: 'failed',
      description: 'not approved in airlock',
    });
    await eventually(
      () =>
        harness.slack
          .thread(CHANNEL, mention.ts)
          .some((m) => String(m.text ?? '').includes(`Someone else pushed \`${outside.slice(0, 12)}\``)),
      5000,
      'the thread told of the outside push',
    );
    // The allowed failure never reached the thread; the failure is reported once.
    expect(checkFailed().map((e) => e.data.name)).toEqual(['unit tests']);
    expect(gitlab.statuses(PROJECT, outside)).toHaveLength(1);
  });

  it('polls are conditional: with nothing new, every GET is answered 304; a restart replays no note', async () => {
    const { harness, gitlab } = await openedMergeRequest([]);
    gitlab.addNote({ project: PROJECT, iid: 1, author: 'nobody', body: 'looks good' });
    await eventually(
      () => harness.app.pullRequests.get(PROJECT, 1)?.handled.some((k) => k.startsWith('note:')),
      10_000,
      'the note read',
    );
    const apiGets = () => gitlab.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/api/v4/'));
    await eventually(
      () =>
        apiGets()
          .slice(-6)
          .every((r) => r.status === 304) && apiGets().length > 6,
      10_000,
      'a quiet poll',
    );
    const before = gitlab.requests.length;
    const counts = gitlab.conditional();
    await eventually(() => gitlab.conditional().hits >= counts.hits + 12, 10_000, 'two quiet polls');
    const gets = gitlab.requests
      .slice(before)
      .filter((r) => r.method === 'GET' && r.path.startsWith('/api/v4/'));
    expect(gets.length).toBeGreaterThan(0);
    expect(gets.filter((r) => r.status !== 304).map((r) => r.path)).toEqual([]);
    // Each poll asks after the merge request, its notes, approvals, pipelines, the jobs of the
    // pipeline at airlock's head (its airlock/approved status made one) and its commit statuses.
    const asked = [
      ...new Set(gets.map((r) => r.path.replace(/\/pipelines\/\d+\/jobs/, '/pipelines/:id/jobs'))),
    ];
    expect(asked).toHaveLength(6);
    expect(asked).toEqual(
      expect.arrayContaining([
        '/api/v4/projects/acme%2Fwidgets/merge_requests/1',
        '/api/v4/projects/acme%2Fwidgets/merge_requests/1/notes?order_by=updated_at&sort=desc&per_page=100',
        '/api/v4/projects/acme%2Fwidgets/merge_requests/1/approvals',
        '/api/v4/projects/acme%2Fwidgets/merge_requests/1/pipelines?per_page=100',
        '/api/v4/projects/acme%2Fwidgets/pipelines/:id/jobs?per_page=100',
        expect.stringMatching(
          /^\/api\/v4\/projects\/acme%2Fwidgets\/repository\/commits\/[0-9a-f]{40}\/statuses\?stage=external&per_page=100$/,
        ),
      ]),
    );

    await harness.restart();
    gitlab.addNote({ project: PROJECT, iid: 1, author: 'octocat', body: 'thanks, no action' });
    await eventually(
      () =>
        (harness.app.pullRequests.get(PROJECT, 1)?.handled.filter((k) => k.startsWith('note:')).length ??
          0) >= 2,
      10_000,
      'the new note read after the restart',
    );
    const read = harness.app.store
      .events(harness.app.store.listRuns()[0]?.id as string)
      .filter((e) => e.type === 'pr.comment');
    expect(read).toEqual([]); // neither note mentions @airlock: nothing acted on, twice or once
    expect(harness.app.store.listRuns()).toHaveLength(1);
    expect(notesByAirlock(gitlab)).toEqual([]);
  });
});
