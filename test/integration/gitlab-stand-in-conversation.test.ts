// Drives the PR-watch side of the GitLab stand-in over HTTP: @gitbeaker/rest where it has the call, plain
// fetch for conditional requests and exact headers; the test hooks play reviewers and CI.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GitbeakerRequestError, Gitlab } from '@gitbeaker/rest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeGitLab, startFakeGitLab, type Tier } from '../fakes/gitlab-server.js';
import { gitCli } from '../support/git-cli.js';

const TOKEN = 'glpat-conversationTest0001';
const PROJECT = 'acme/widgets';
const P = encodeURIComponent(PROJECT);
const BRANCH = 'airlock/fix-typo';
const README = '# widgets\nline two\nline three\n';

let fake: FakeGitLab;
let work: string;
const extra: FakeGitLab[] = [];

const gitlab = (f = fake) => new Gitlab({ host: f.url, token: TOKEN });
const api = (path: string, init: RequestInit = {}, f = fake) =>
  fetch(`${f.url}/api/v4/${path}`, {
    ...init,
    headers: {
      'PRIVATE-TOKEN': TOKEN,
      ...(init.body ? { 'content-type': 'application/json' } : {}),
      ...init.headers,
    },
  });
const reply = async (res: Response) => [res.status, await res.json()];
const bodiesOf = async (res: Response) => ((await res.json()) as Array<{ body: string }>).map((n) => n.body);

async function startFake(tier?: Tier): Promise<FakeGitLab> {
  return startFakeGitLab({
    token: TOKEN,
    tier,
    projects: [{ path: PROJECT, files: { 'README.md': README } }],
  });
}

/** Pushes a branch with a change to README.md (line 2 inserted) and opens a merge request for it. */
async function openMr(f = fake, title = 'Fix typo'): Promise<{ iid: number; sha: string }> {
  const dir = join(work, `clone-${Math.random().toString(36).slice(2)}`);
  const auth = `http.extraHeader=Authorization: Basic ${Buffer.from(`oauth2:${TOKEN}`).toString('base64')}`;
  const git = (args: string[], cwd = dir) => gitCli(args, cwd, work);
  expect((await git(['-c', auth, 'clone', '--quiet', f.gitUrl(PROJECT), dir], work)).code).toBe(0);
  await writeFile(join(dir, 'README.md'), '# widgets\nNEW\nline two\nline three\n');
  expect((await git(['commit', '--quiet', '-am', 'Insert a line'])).code).toBe(0);
  const push = await git(['-c', auth, 'push', '--quiet', 'origin', `HEAD:refs/heads/${BRANCH}`]);
  expect(push.code, push.stderr).toBe(0);
  const mr = await gitlab(f).MergeRequests.create(PROJECT, BRANCH, 'main', title);
  return { iid: mr.iid, sha: mr.sha };
}

async function rejection(promise: Promise<unknown>) {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GitbeakerRequestError);
  const cause = (err as GitbeakerRequestError).cause as { description: string; response: Response };
  return { status: cause.response.status, description: cause.description };
}

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'gitlab-conversation-'));
  fake = await startFake();
});

afterEach(async () => {
  for (const f of [fake, ...extra.splice(0)]) await f.close();
  await rm(work, { recursive: true, force: true });
});

describe('conditional requests (Rack::ETag + Rack::ConditionalGet)', () => {
  it('answers a poll with nothing new 304 and a poll after a change in full', async () => {
    const { iid } = await openMr();
    const notes = `projects/${P}/merge_requests/${iid}/notes`;
    const first = await api(notes);
    const etag = first.headers.get('etag') ?? '';
    expect(etag).toMatch(/^W\/"[0-9a-f]{32}"$/);
    expect(first.headers.get('cache-control')).toBe('max-age=0, private, must-revalidate');
    const again = await api(notes, { headers: { 'If-None-Match': etag } });
    expect([again.status, await again.text(), again.headers.get('etag')]).toEqual([304, '', etag]);
    expect(again.headers.get('content-type')).toBeNull();
    expect(fake.requests.at(-1)).toMatchObject({ method: 'GET', status: 304 });
    expect(fake.conditional()).toEqual({ hits: 1, misses: 0 });

    const mrPath = `projects/${P}/merge_requests/${iid}`;
    const mrEtag = (await api(mrPath)).headers.get('etag') ?? '';
    expect((await api(mrPath, { headers: { 'If-None-Match': mrEtag } })).status).toBe(304);
    fake.addNote({ project: PROJECT, iid, author: 'alice', body: 'Please rename it.' });
    const changed = await api(notes, { headers: { 'If-None-Match': etag } });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(etag);
    expect(await bodiesOf(changed)).toEqual(['Please rename it.']);
    // The note bumped the merge request's updated_at, so its ETag moved too.
    expect((await api(mrPath, { headers: { 'If-None-Match': mrEtag } })).status).toBe(200);
    expect(fake.conditional()).toEqual({ hits: 2, misses: 2 });
  });

  it('puts an ETag on every 200/201 (existing routes too), compares it as one exact string, none on errors', async () => {
    const project = await api(`projects/${P}`);
    const etag = project.headers.get('etag') ?? '';
    expect(etag).toMatch(/^W\/"[0-9a-f]{32}"$/);
    expect((await api(`projects/${P}`, { headers: { 'If-None-Match': etag } })).status).toBe(304);
    // Rack compares the header as a whole: a list, or the strong form, is a miss.
    expect((await api(`projects/${P}`, { headers: { 'If-None-Match': `"x", ${etag}` } })).status).toBe(200);
    expect((await api(`projects/${P}`, { headers: { 'If-None-Match': etag.slice(2) } })).status).toBe(200);
    const missing = await api('projects/acme%2Fnope', { headers: { 'If-None-Match': etag } });
    expect([missing.status, missing.headers.get('etag'), missing.headers.get('cache-control')]).toEqual([
      404,
      null,
      'no-cache',
    ]);
    const { iid } = await openMr();
    const created = await api(`projects/${P}/merge_requests/${iid}/notes`, {
      method: 'POST',
      body: JSON.stringify({ body: 'Done.' }),
    });
    expect(created.status).toBe(201);
    expect(created.headers.get('etag')).toMatch(/^W\/"[0-9a-f]{32}"$/);
  });
});

describe('notes', () => {
  it('lists newest first by default, sorts and pages like GitLab', async () => {
    const { iid } = await openMr();
    const comments: Array<[string, string]> = [
      ['alice', 'one'],
      ['bob', 'two'],
      ['alice', 'three'],
    ];
    for (const [author, body] of comments) fake.addNote({ project: PROJECT, iid, author, body });
    const posted = await gitlab().MergeRequestNotes.create(PROJECT, iid, 'four');
    expect(posted).toMatchObject({
      ...{ type: null, body: 'four', system: false, noteable_type: 'MergeRequest', noteable_iid: iid },
      ...{ resolvable: false, internal: false, confidential: false, project_id: 1 },
      author: { username: 'airlock-bot', name: 'Airlock Bot', state: 'active' },
    });
    const bodies = (notes: Array<{ body: string }>) => notes.map((n) => n.body);
    expect(bodies(await gitlab().MergeRequestNotes.all(PROJECT, iid))).toEqual([
      'four',
      'three',
      'two',
      'one',
    ]);
    const asc = await gitlab().MergeRequestNotes.all(PROJECT, iid, { sort: 'asc', orderBy: 'updated_at' });
    expect(bodies(asc)).toEqual(['one', 'two', 'three', 'four']);
    const page = await api(`projects/${P}/merge_requests/${iid}/notes?sort=asc&per_page=3&page=1`);
    expect(await bodiesOf(page)).toEqual(['one', 'two', 'three']);
    expect(['x-total', 'x-page', 'x-next-page'].map((h) => page.headers.get(h))).toEqual(['4', '1', '2']);
    expect(page.headers.get('link')).toContain('?sort=asc&per_page=3&page=2>; rel="next"');
    expect(fake.notes(PROJECT, iid).map((n) => n.body)).toEqual(['one', 'two', 'three', 'four']);
    expect((await gitlab().MergeRequests.show(PROJECT, iid)).user_notes_count).toBe(4);
  });

  it("refuses what GitLab refuses, with GitLab's messages", async () => {
    const { iid } = await openMr();
    const notes = `projects/${P}/merge_requests/${iid}/notes`;
    expect(await reply(await api(notes, { method: 'POST', body: '{}' }))).toEqual([
      400,
      { error: 'body is missing' },
    ]);
    expect(await reply(await api(notes, { method: 'POST', body: JSON.stringify({ body: '  ' }) }))).toEqual([
      400,
      { message: `400 Bad request - Note {:note=>["can't be blank"]}` },
    ]);
    expect(await reply(await api(`${notes}?sort=newest`))).toEqual([
      400,
      { error: 'sort does not have a valid value' },
    ]);
    expect(await reply(await api(`projects/${P}/merge_requests/9/notes`))).toEqual([
      404,
      { message: '404 Not found' },
    ]);
    expect(await reply(await fetch(`${fake.url}/api/v4/${notes}`))).toEqual([
      401,
      { message: '401 Unauthorized' },
    ]);
    await gitlab().MergeRequestNotes.create(PROJECT, iid, '/approve');
    expect(fake.takeProblems()).toEqual([expect.stringContaining('quick action, which is not modelled')]);
  });

  it('has system notes for approvals and pushes, which activity_filter separates from comments', async () => {
    const { iid } = await openMr();
    fake.addNote({ project: PROJECT, iid, author: 'alice', body: 'Why?', discussion: true });
    fake.approve({ project: PROJECT, iid, by: 'bob' });
    const sha = await fake.pushOutside({
      project: PROJECT,
      branch: BRANCH,
      files: { 'b.txt': 'b\n' },
      by: 'carol',
    });
    const all = await gitlab().MergeRequestNotes.all(PROJECT, iid, { sort: 'asc' });
    expect(all.map((n) => [n.author.username, n.system, n.type])).toEqual([
      ['alice', false, 'DiscussionNote'],
      ['bob', true, null],
      ['carol', true, null],
    ]);
    expect(all[0]).toMatchObject({ resolvable: true, resolved: false, resolved_by: null });
    expect(all[1]?.body).toBe('approved this merge request');
    expect(all[2]?.body).toMatch(
      new RegExp(`^added 1 commit\\n\\n<ul><li>${sha.slice(0, 8)} - Update b.txt</li></ul>\\n\\n\\[Compare`),
    );
    const comments = await api(`projects/${P}/merge_requests/${iid}/notes?activity_filter=only_comments`);
    expect(await bodiesOf(comments)).toEqual(['Why?']);
  });
});

describe('DiffNotes', () => {
  it('positions a comment on an added line and on an unchanged one as GitLab text positions', async () => {
    const { iid, sha } = await openMr();
    const main = fake.refSha(PROJECT, 'refs/heads/main');
    await fake.addDiffNote({
      project: PROJECT,
      iid,
      author: 'alice',
      body: 'Typo',
      path: 'README.md',
      line: 2,
    });
    await fake.addDiffNote({
      project: PROJECT,
      iid,
      author: 'alice',
      body: 'Hm',
      path: 'README.md',
      line: 4,
    });
    const [added, kept] = await gitlab().MergeRequestNotes.all(PROJECT, iid, { sort: 'asc' });
    const position = { base_sha: main, start_sha: main, head_sha: sha, position_type: 'text' };
    const paths = { old_path: 'README.md', new_path: 'README.md' };
    expect(added).toMatchObject({ type: 'DiffNote', resolvable: true, resolved: false, commit_id: null });
    expect(added?.position).toEqual({ ...position, ...paths, old_line: null, new_line: 2, line_range: null });
    expect(kept?.position).toMatchObject({ old_line: 3, new_line: 4 });
    await expect(
      fake.addDiffNote({ project: PROJECT, iid, author: 'alice', body: 'x', path: 'nope.md', line: 1 }),
    ).rejects.toThrow(/not in the diff/);
  });
});

describe('approvals', () => {
  it("answers EE's approval state (approved with no rules) and lists who approved", async () => {
    const { iid } = await openMr();
    const before = await gitlab().MergeRequests.show(PROJECT, iid);
    expect(
      await gitlab().MergeRequestApprovals.showConfiguration(PROJECT, { mergerequestIId: iid }),
    ).toMatchObject({
      ...{ iid, approved: true, approvals_required: 0, approvals_left: 0, approved_by: [] },
      user_has_approved: false,
    });
    fake.approve({ project: PROJECT, iid, by: 'alice' });
    const state = await gitlab().MergeRequestApprovals.showConfiguration(PROJECT, { mergerequestIId: iid });
    expect(state.approved_by).toEqual([
      { user: expect.objectContaining({ username: 'alice' }), approved_at: expect.any(String) },
    ]);
    expect((await gitlab().MergeRequests.show(PROJECT, iid)).updated_at > before.updated_at).toBe(true);
    expect(() => fake.approve({ project: PROJECT, iid, by: 'alice' })).toThrow(/already approved/);
  });

  it("answers CE's entity on a FOSS install: approved only once someone approved", async () => {
    const ce = await startFake('ce');
    extra.push(ce);
    const { iid } = await openMr(ce);
    const path = `projects/${P}/merge_requests/${iid}/approvals`;
    expect(await (await api(path, {}, ce)).json()).toEqual({
      ...{ user_has_approved: false, user_can_approve: true, approved: false, approved_by: [] },
    });
    ce.approve({ project: PROJECT, iid, by: 'alice' });
    expect(await (await api(path, {}, ce)).json()).toMatchObject({ approved: true });
  });
});

describe('pipelines, jobs and logs', () => {
  it("lists the merge request's pipelines newest first, their jobs by scope, and job logs", async () => {
    const { iid, sha } = await openMr();
    const old = await fake.addPipeline({
      project: PROJECT,
      sha,
      ref: BRANCH,
      jobs: [{ name: 'lint', status: 'success' }],
    });
    const jobs = [
      { name: 'lint', status: 'success', stage: 'lint', trace: 'ok\n' },
      { name: 'test', status: 'failed', trace: 'FAIL src/a.test.ts\n' },
      { name: 'deploy', status: 'manual', stage: 'deploy' },
    ];
    const p = await fake.addPipeline({ project: PROJECT, sha, ref: BRANCH, jobs });
    await fake.addPipeline({ project: PROJECT, sha, ref: 'main', jobs: [] }); // another ref: not the MR's
    const list = await gitlab().MergeRequests.allPipelines(PROJECT, iid);
    expect(list.map((x) => [x.id, x.iid, x.status, x.source])).toEqual([
      [p.id, 2, 'failed', 'push'],
      [old.id, 1, 'success', 'push'],
    ]);
    expect(list[0]).toMatchObject({
      sha,
      ref: BRANCH,
      web_url: `${fake.url}/${PROJECT}/-/pipelines/${p.id}`,
    });
    const failed = await gitlab().Jobs.all(PROJECT, { pipelineId: p.id, scope: 'failed' });
    expect(failed.map((j) => [j.name, j.stage, j.status, j.failure_reason])).toEqual([
      ['test', 'test', 'failed', 'script_failure'],
    ]);
    expect(failed[0]).toMatchObject({
      pipeline: { id: p.id, sha, ref: BRANCH, status: 'failed' },
      commit: { id: sha },
    });
    const all = await gitlab().Jobs.all(PROJECT, { pipelineId: p.id });
    expect(all.map((j) => [j.name, j.allow_failure, 'failure_reason' in j])).toEqual([
      ['lint', false, false],
      ['test', false, true],
      ['deploy', true, false],
    ]);
    expect(await gitlab().Jobs.showLog(PROJECT, p.jobs[1] ?? 0)).toBe('FAIL src/a.test.ts\n');
    const noLog = await api(`projects/${P}/jobs/${p.jobs[2]}/trace`);
    expect([noLog.status, noLog.headers.get('content-type'), await noLog.text()]).toEqual([
      200,
      'text/plain',
      '',
    ]);
    expect(await reply(await api(`projects/${P}/jobs/999/trace`))).toEqual([
      404,
      { message: '404 Not found' },
    ]);
    expect(await reply(await api(`projects/${P}/pipelines/${p.id}/jobs?scope[]=broken`))).toEqual([
      400,
      { error: 'scope does not have a valid value' },
    ]);
    expect((await gitlab().MergeRequests.show(PROJECT, iid)).head_pipeline).toMatchObject({
      id: p.id,
      status: 'failed',
    });
  });

  it('moves a pipeline to the composite status of its jobs as they run', async () => {
    const { iid, sha } = await openMr();
    const jobs = [
      { name: 'build', status: 'running' },
      { name: 'test', status: 'pending' },
    ];
    const p = await fake.addPipeline({ project: PROJECT, sha, ref: BRANCH, jobs });
    const status = async () => (await gitlab().MergeRequests.allPipelines(PROJECT, iid))[0]?.status;
    expect(await status()).toBe('running');
    fake.updateJob({ project: PROJECT, id: p.jobs[0] ?? 0, status: 'success' });
    fake.updateJob({ project: PROJECT, id: p.jobs[1] ?? 0, status: 'failed', trace: 'boom\n' });
    expect(await status()).toBe('failed');
    expect(await gitlab().Jobs.showLog(PROJECT, p.jobs[1] ?? 0)).toBe('boom\n');
  });
});

describe('commit statuses', () => {
  it('creates, updates in place, refuses same-state repeats and retries finished ones', async () => {
    const { iid, sha } = await openMr();
    const url = 'https://airlock.example/runs/1';
    const pending = await gitlab().Commits.editStatus(PROJECT, sha, 'pending', {
      name: 'airlock',
      targetUrl: url,
    });
    expect(pending).toMatchObject({
      ...{ sha, ref: BRANCH, status: 'pending', name: 'airlock', target_url: url, description: null },
      ...{ allow_failure: false, started_at: null, author: { username: 'airlock-bot' } },
    });
    const running = await gitlab().Commits.editStatus(PROJECT, sha, 'running', {
      name: 'airlock',
      description: 'Working',
    });
    expect(running).toMatchObject({
      id: pending.id,
      status: 'running',
      target_url: url,
      description: 'Working',
    });
    expect(
      await rejection(gitlab().Commits.editStatus(PROJECT, sha, 'running', { name: 'airlock' })),
    ).toEqual({
      status: 400,
      description:
        'Cannot transition status via :run from :running (Reason(s): Status cannot transition via "run")',
    });
    const success = await gitlab().Commits.editStatus(PROJECT, sha, 'success', { name: 'airlock' });
    expect(success).toMatchObject({ id: pending.id, status: 'success', finished_at: expect.any(String) });
    // A finished status is not updated: the next one is a new status and retries it.
    const failed = await gitlab().Commits.editStatus(PROJECT, sha, 'failed', { name: 'airlock' });
    expect(failed.id).not.toBe(pending.id);
    const again = await gitlab().Commits.editStatus(PROJECT, sha, 'success', { name: 'airlock' });
    expect((await gitlab().Commits.allStatuses(PROJECT, sha)).map((s) => [s.id, s.status])).toEqual([
      [again.id, 'success'],
    ]);
    const everything = await gitlab().Commits.allStatuses(PROJECT, sha, { all: true });
    expect(everything.map((s) => s.status)).toEqual(['success', 'failed', 'success']);
    expect(fake.statuses(PROJECT, sha)).toHaveLength(3);
    // The statuses live in an `external` pipeline of the branch, which becomes the MR's pipeline.
    const [pipeline] = await gitlab().MergeRequests.allPipelines(PROJECT, iid);
    expect(pipeline).toMatchObject({ source: 'external', status: 'success', sha, ref: BRANCH });
  });

  it("refuses bad states, unknown commits, protected refs, bad URLs and CI job names with GitLab's errors", async () => {
    const { sha } = await openMr();
    await fake.addPipeline({
      project: PROJECT,
      sha,
      ref: BRANCH,
      jobs: [{ name: 'test', status: 'running' }],
    });
    const post = (s: string, body: object) =>
      api(`projects/${P}/statuses/${s}`, { method: 'POST', body: JSON.stringify(body) });
    expect(await reply(await post(sha, { state: 'error' }))).toEqual([
      400,
      { error: 'state does not have a valid value' },
    ]);
    expect(await reply(await post(sha, {}))).toEqual([
      400,
      { error: 'state is missing, state does not have a valid value' },
    ]);
    expect(await reply(await post('f'.repeat(40), { state: 'success' }))).toEqual([
      404,
      { message: '404 Commit Not Found' },
    ]);
    // The token's user is a Developer: no statuses on a protected ref. (Without `ref`, GitLab takes the
    // first branch containing the commit by name, here the unprotected airlock/fix-typo.)
    const main = fake.refSha(PROJECT, 'refs/heads/main') ?? '';
    expect(await reply(await post(main, { state: 'success', ref: 'main' }))).toEqual([
      403,
      { message: '403 Forbidden' },
    ]);
    expect((await post(main, { state: 'success', name: 'outside' })).status).toBe(201);
    expect(await reply(await post(sha, { state: 'success', target_url: 'git://x' }))).toEqual([
      400,
      { message: { target_url: ['is blocked: Only allowed schemes are http, https'] } },
    ]);
    expect(await reply(await post(sha, { state: 'success', name: 'test' }))).toEqual([
      400,
      { message: { name: ['has already been taken'] } },
    ]);
    // A CI job shows among the statuses too; a short SHA finds the commit but, as in GitLab, no pipeline.
    expect((await gitlab().Commits.allStatuses(PROJECT, sha)).map((s) => [s.name, s.status])).toEqual([
      ['test', 'running'],
    ]);
    expect(await gitlab().Commits.allStatuses(PROJECT, sha.slice(0, 8))).toEqual([]);
  });
});

describe('users, protected branches, external status checks', () => {
  it('finds a user by username (UserBasic) and shows the public email only on GET /users/:id', async () => {
    const alice = fake.addUser('alice', { publicEmail: 'alice@example.com' });
    const [found, ...rest] = await gitlab().Users.all({ username: 'ALICE' });
    expect(rest).toEqual([]);
    expect(found).toEqual({
      ...{ id: alice.id, username: 'alice', name: 'alice', state: 'active', locked: false, avatar_url: null },
      web_url: `${fake.url}/alice`,
    });
    expect(await gitlab().Users.all({ username: 'nobody' })).toEqual([]);
    expect(await gitlab().Users.show(alice.id)).toMatchObject({
      username: 'alice',
      public_email: 'alice@example.com',
    });
    expect(await rejection(gitlab().Users.show(99))).toEqual({
      status: 404,
      description: '404 User Not Found',
    });
  });

  it('shows a protected branch, and external status checks only on Ultimate', async () => {
    expect(await gitlab().ProtectedBranches.show(PROJECT, 'main')).toMatchObject({
      name: 'main',
      push_access_levels: [{ access_level: 40, access_level_description: 'Maintainers' }],
      merge_access_levels: [{ access_level: 40 }],
      allow_force_push: false,
    });
    expect(await rejection(gitlab().ProtectedBranches.show(PROJECT, 'dev'))).toEqual({
      status: 404,
      description: '404 Not found',
    });
    expect(await rejection(gitlab().ExternalStatusChecks.all(PROJECT))).toEqual({
      status: 401,
      description: '401 Unauthorized',
    });
    const ultimate = await startFake('ultimate');
    extra.push(ultimate);
    ultimate.addExternalStatusCheck({
      project: PROJECT,
      name: 'QA',
      externalUrl: 'https://qa.example',
      protectedBranches: ['main'],
    });
    expect(await gitlab(ultimate).ExternalStatusChecks.all(PROJECT)).toEqual([
      {
        ...{ id: 1, name: 'QA', project_id: 1, external_url: 'https://qa.example', hmac: false },
        protected_branches: [expect.objectContaining({ name: 'main', project_id: 1 })],
      },
    ]);
  });
});

describe('merge request lifecycle hooks', () => {
  it('pushOutside moves the merge request head as a push would', async () => {
    const { iid, sha } = await openMr();
    const next = await fake.pushOutside({
      project: PROJECT,
      branch: BRANCH,
      files: { 'README.md': 'rewritten\n' },
    });
    expect(next).toBe(fake.refSha(PROJECT, `refs/heads/${BRANCH}`));
    const mr = await gitlab().MergeRequests.show(PROJECT, iid);
    expect(mr.sha).toBe(next);
    expect(mr.diff_refs).toMatchObject({ head_sha: next });
    expect(fake.refSha(PROJECT, `refs/merge-requests/${iid}/head`)).toBe(next);
    expect(fake.notes(PROJECT, iid).at(-1)).toMatchObject({ system: true, author: { username: 'root' } });
    expect(next).not.toBe(sha);
  });

  it('merge makes the merge commit, records who merged and deletes the source branch', async () => {
    const { iid, sha } = await openMr();
    const mergeSha = await fake.merge({ project: PROJECT, iid, by: 'alice' });
    expect(fake.refSha(PROJECT, 'refs/heads/main')).toBe(mergeSha);
    expect(fake.refSha(PROJECT, `refs/heads/${BRANCH}`)).toBeUndefined();
    const mr = await gitlab().MergeRequests.show(PROJECT, iid);
    expect(mr).toMatchObject({
      ...{ state: 'merged', merge_commit_sha: mergeSha, merged_at: expect.any(String), closed_by: null },
      merged_by: expect.objectContaining({ username: 'alice' }),
      diff_refs: { head_sha: sha },
    });
    await expect(fake.merge({ project: PROJECT, iid, by: 'alice' })).rejects.toThrow(/is merged/);
  });

  it('closeMergeRequest closes it, and a draft cannot be merged', async () => {
    const { iid } = await openMr(fake, 'Draft: Fix typo');
    await expect(fake.merge({ project: PROJECT, iid, by: 'alice' })).rejects.toThrow(/draft/);
    fake.closeMergeRequest({ project: PROJECT, iid, by: 'bob' });
    const [mr] = await gitlab().MergeRequests.all({ projectId: PROJECT, state: 'closed' });
    expect(mr).toMatchObject({ iid, state: 'closed', closed_by: { username: 'bob' }, merged_by: null });
  });
});
