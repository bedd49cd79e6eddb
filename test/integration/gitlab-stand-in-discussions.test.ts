// Drives the GitLab stand-in's merge request discussions over HTTP: @gitbeaker/rest (which sends a thread
// with a position as a multipart form) and plain fetch (JSON and urlencoded bodies, exact replies, ETags).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Gitlab } from '@gitbeaker/rest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeGitLab, startFakeGitLab } from '../fakes/gitlab-server.js';
import { gitCli } from '../support/git-cli.js';

const TOKEN = 'glpat-discussionsTest0001';
const PROJECT = 'acme/widgets';
const P = encodeURIComponent(PROJECT);
const BRANCH = 'airlock/fix-typo';
const README = '# widgets\nline two\nline three\n';
const numbered = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => `l${from + i}`);
const LONG = `${numbered(1, 20).join('\n')}\n`;
// l10 is followed by an added line (new 11) and l16 is removed: one hunk, old 8-19 / new 8-19.
const LONG_NEW = `${[...numbered(1, 10), 'NEW', ...numbered(11, 15), ...numbered(17, 20)].join('\n')}\n`;
const LINE_CODE_ERRORS = `:line_code=>["can't be blank", "must be a valid line code"]`;
const LINE_CODE = `400 Bad request - Note {${LINE_CODE_ERRORS}}`;

let fake: FakeGitLab;
let work: string;

const gitlab = () => new Gitlab({ host: fake.url, token: TOKEN });
const api = (path: string, init: RequestInit = {}) =>
  fetch(`${fake.url}/api/v4/${path}`, {
    ...init,
    headers: {
      'PRIVATE-TOKEN': TOKEN,
      ...(typeof init.body === 'string' ? { 'content-type': 'application/json' } : {}),
      ...init.headers,
    },
  });
const reply = async (res: Response) => [res.status, await res.json()];

type Refs = { base_sha: string; start_sha: string; head_sha: string };
interface Mr {
  iid: number;
  refs: Refs;
  discussions: string;
}

/** Pushes a branch changing README.md (line 2 inserted) and long.txt, and opens a merge request for it. */
async function openMr(): Promise<Mr> {
  const dir = join(work, 'clone');
  const auth = `http.extraHeader=Authorization: Basic ${Buffer.from(`oauth2:${TOKEN}`).toString('base64')}`;
  const git = (args: string[], cwd = dir) => gitCli(args, cwd, work);
  expect((await git(['-c', auth, 'clone', '--quiet', fake.gitUrl(PROJECT), dir], work)).code).toBe(0);
  await writeFile(join(dir, 'README.md'), '# widgets\nNEW\nline two\nline three\n');
  await writeFile(join(dir, 'long.txt'), LONG_NEW);
  expect((await git(['commit', '--quiet', '-am', 'Insert a line'])).code).toBe(0);
  const push = await git(['-c', auth, 'push', '--quiet', 'origin', `HEAD:refs/heads/${BRANCH}`]);
  expect(push.code, push.stderr).toBe(0);
  const mr = await gitlab().MergeRequests.create(PROJECT, BRANCH, 'main', 'Fix typo');
  const refs = (await gitlab().MergeRequests.show(PROJECT, mr.iid)).diff_refs as Refs;
  return { iid: mr.iid, refs, discussions: `projects/${P}/merge_requests/${mr.iid}/discussions` };
}

/** POSTs a thread as JSON, a text position on `path` at the merge request's diff_refs plus `lines`. */
async function postAt(mr: Mr, path: string, lines: object, body = 'Look here') {
  const position = { position_type: 'text', ...mr.refs, old_path: path, new_path: path, ...lines };
  return reply(await api(mr.discussions, { method: 'POST', body: JSON.stringify({ body, position }) }));
}

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'gitlab-discussions-'));
  fake = await startFakeGitLab({
    token: TOKEN,
    projects: [{ path: PROJECT, files: { 'README.md': README, 'long.txt': LONG } }],
  });
});

afterEach(async () => {
  await fake.close();
  await rm(work, { recursive: true, force: true });
});

describe('POST /projects/:id/merge_requests/:iid/discussions', () => {
  it('starts a DiffNote thread on a changed line from gitbeaker, shown in notes and discussions', async () => {
    const mr = await openMr();
    const { base_sha, start_sha, head_sha } = mr.refs;
    const created = await gitlab().MergeRequestDiscussions.create(PROJECT, mr.iid, 'Typo here', {
      position: {
        ...{ positionType: 'text', baseSha: base_sha, startSha: start_sha, headSha: head_sha },
        ...{ oldPath: 'README.md', newPath: 'README.md', newLine: '2' },
      },
    });
    // gitbeaker sends a position as multipart/form-data fields named position[...].
    expect(String(fake.requests.at(-1)?.body)).toContain('name="position[new_line]"');
    expect(created.id).toMatch(/^[0-9a-f]{40}$/);
    expect(created).toMatchObject({ individual_note: false, notes: [expect.any(Object)] });
    const [note] = created.notes ?? [];
    expect(note).toMatchObject({
      ...{ type: 'DiffNote', body: 'Typo here', system: false, noteable_iid: mr.iid, commit_id: null },
      ...{ resolvable: true, resolved: false, resolved_by: null, author: { username: 'airlock-bot' } },
    });
    expect(note?.position).toEqual({
      ...{ base_sha, start_sha, head_sha, old_path: 'README.md', new_path: 'README.md' },
      ...{ position_type: 'text', old_line: null, new_line: 2, line_range: null },
    });
    const notes = await gitlab().MergeRequestNotes.all(PROJECT, mr.iid);
    expect(notes.map((n) => [n.id, n.type])).toEqual([[note?.id, 'DiffNote']]);
    const listed = await gitlab().MergeRequestDiscussions.all(PROJECT, mr.iid);
    expect(listed).toEqual([created]);
    expect(fake.discussions(PROJECT, mr.iid)).toEqual([created]);
    expect((await gitlab().MergeRequests.show(PROJECT, mr.iid)).user_notes_count).toBe(1);
  });

  it('finds the line as GitLab does: added, removed, unchanged in a hunk or unfolded around one', async () => {
    const mr = await openMr();
    const lands = async (lines: object) => {
      const [status, json] = await postAt(mr, 'long.txt', lines);
      const thread = json as { message?: string; notes: Array<{ position: object }> };
      return status === 201 ? thread.notes[0]?.position : [status, thread.message];
    };
    expect(await lands({ new_line: 11 })).toMatchObject({ old_line: null, new_line: 11 }); // added
    expect(await lands({ old_line: 16 })).toMatchObject({ old_line: 16, new_line: null }); // removed
    expect(await lands({ old_line: 12, new_line: 13 })).toMatchObject({ new_line: 13 }); // context
    expect(await lands({ old_line: 2, new_line: 2 })).toMatchObject({ new_line: 2 }); // above the hunk
    expect(await lands({ old_line: 20, new_line: 20 })).toMatchObject({ new_line: 20 }); // below it
    // An unchanged line needs both numbers, matching; a new_line alone must be an added line.
    for (const lines of [{ new_line: 13 }, { new_line: 2 }, { old_line: 2, new_line: 3 }, { old_line: 12 }])
      expect(await lands(lines)).toEqual([400, LINE_CODE]);
    expect(await lands({ new_line: 99 })).toEqual([400, LINE_CODE]);
    expect(fake.discussions(PROJECT, mr.iid)).toHaveLength(5);
  });

  it('refuses a line outside the diff, a file not in it and unknown commits with the line_code error', async () => {
    const mr = await openMr();
    expect(await postAt(mr, 'README.md', { new_line: 3 })).toEqual([400, { message: LINE_CODE }]);
    expect(await postAt(mr, 'nope.md', { new_line: 1 })).toEqual([400, { message: LINE_CODE }]);
    const unknown = { ...mr, refs: { ...mr.refs, head_sha: 'f'.repeat(40) } };
    expect(await postAt(unknown, 'README.md', { new_line: 2 })).toEqual([400, { message: LINE_CODE }]);
    expect(await postAt(mr, 'README.md', {})).toEqual([
      400,
      { message: `400 Bad request - Note {${LINE_CODE_ERRORS}, :position=>["is incomplete"]}` },
    ]);
    expect(await postAt(mr, 'README.md', { new_line: 3 }, ' ')).toEqual([
      400,
      { message: `400 Bad request - Note {:note=>["can't be blank"], ${LINE_CODE_ERRORS}}` },
    ]);
    expect(fake.discussions(PROJECT, mr.iid)).toEqual([]);
    await expect(
      gitlab().MergeRequestDiscussions.create(PROJECT, mr.iid, 'x', {
        position: {
          ...{ positionType: 'text', baseSha: mr.refs.base_sha, startSha: mr.refs.start_sha },
          ...{ headSha: mr.refs.head_sha, newPath: 'README.md', newLine: '3' },
        },
      }),
    ).rejects.toMatchObject({ cause: { description: LINE_CODE } });
  });

  it("refuses bad parameters with Grape's messages", async () => {
    const mr = await openMr();
    const post = async (body: object) =>
      reply(await api(mr.discussions, { method: 'POST', body: JSON.stringify(body) }));
    expect(await post({})).toEqual([400, { error: 'body is missing' }]);
    expect(await post({ position: {} })).toEqual([
      400,
      {
        error:
          'body is missing, position[base_sha] is missing, position[start_sha] is missing, ' +
          'position[head_sha] is missing, position[position_type] is missing',
      },
    ]);
    const position = { ...mr.refs, position_type: 'text', new_path: 'README.md', new_line: 'two' };
    expect(await post({ body: 'x', position })).toEqual([400, { error: 'position[new_line] is invalid' }]);
    expect(await post({ body: 'x', position: { ...position, position_type: 'line', new_line: 2 } })).toEqual([
      400,
      { error: 'position[position_type] does not have a valid value' },
    ]);
    expect(await post({ body: 'x', position: 'README.md:2' })).toEqual([
      400,
      { error: 'position is invalid' },
    ]);
    expect(await post({ body: null })).toEqual([
      400,
      { message: `400 Bad request - Note {:note=>["can't be blank"]}` },
    ]);
    expect(
      await reply(
        await api(`projects/${P}/merge_requests/9/discussions`, { method: 'POST', body: '{"body":"x"}' }),
      ),
    ).toEqual([404, { message: '404 Not found' }]);
    expect(await reply(await fetch(`${fake.url}/api/v4/${mr.discussions}`))).toEqual([
      401,
      { message: '401 Unauthorized' },
    ]);
  });

  it('takes a position as urlencoded position[...] fields and flags what GitLab would ignore', async () => {
    const mr = await openMr();
    const form = new URLSearchParams({ body: 'Form' });
    for (const [k, v] of Object.entries({ ...mr.refs, position_type: 'text', new_path: 'README.md' }))
      form.set(`position[${k}]`, v);
    form.set('position[old_path]', 'README.md');
    form.set('position[new_line]', '2');
    form.set('position[old_line]', ''); // what a null becomes in a form: nil for Grape's Integer
    form.set('position[line_code]', 'abc_1_2');
    const res = await api(mr.discussions, {
      method: 'POST',
      body: form,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(201);
    const created = (await res.json()) as { notes: Array<{ position: object }> };
    expect(created.notes[0]?.position).toMatchObject({ old_line: null, new_line: 2, new_path: 'README.md' });
    expect(fake.takeProblems()).toEqual([
      expect.stringContaining('GitLab ignores the parameter "position[line_code]"'),
    ]);
  });

  it('flags a position on diff_refs that are no longer current, which GitLab would trace', async () => {
    const mr = await openMr();
    await fake.pushOutside({ project: PROJECT, branch: BRANCH, files: { 'b.txt': 'b\n' } });
    expect(await postAt(mr, 'README.md', { new_line: 2 })).toEqual([400, { message: LINE_CODE }]);
    expect(fake.takeProblems()).toEqual([
      expect.stringMatching(/not !1's current ones .* trace its position/),
    ]);
  });
});

describe('GET /projects/:id/merge_requests/:iid/discussions', () => {
  it('lists every note in its discussion, oldest first, paginated; a thread without position is a DiscussionNote', async () => {
    const mr = await openMr();
    fake.addNote({ project: PROJECT, iid: mr.iid, author: 'alice', body: 'Plain comment' });
    const thread = await gitlab().MergeRequestDiscussions.create(PROJECT, mr.iid, 'A thread');
    await fake.addDiffNote({
      project: PROJECT,
      iid: mr.iid,
      author: 'bob',
      body: 'On line 2',
      path: 'README.md',
      line: 2,
    });
    expect(thread.notes?.[0]).toMatchObject({ type: 'DiscussionNote', resolvable: true, resolved: false });
    expect(thread.notes?.[0]).not.toHaveProperty('position');
    const page = await api(`${mr.discussions}?per_page=2`);
    expect(['x-total', 'x-total-pages', 'x-next-page'].map((h) => page.headers.get(h))).toEqual([
      '3',
      '2',
      '2',
    ]);
    const first = (await page.json()) as Array<{ individual_note: boolean; notes: Array<{ body: string }> }>;
    expect(first.map((d) => [d.individual_note, d.notes.map((n) => n.body)])).toEqual([
      [true, ['Plain comment']],
      [false, ['A thread']],
    ]);
    const second = await api(`${mr.discussions}?per_page=2&page=2`);
    const rest = (await second.json()) as typeof first;
    expect(rest.map((d) => [d.individual_note, d.notes.map((n) => n.body)])).toEqual([
      [false, ['On line 2']],
    ]);
    expect(fake.discussions(PROJECT, mr.iid)).toEqual([...first, ...rest]);
  });

  it('changes the ETag of the notes and discussions listings when a thread is created', async () => {
    const mr = await openMr();
    const notes = `projects/${P}/merge_requests/${mr.iid}/notes`;
    const notesEtag = (await api(notes)).headers.get('etag') ?? '';
    const discussionsEtag = (await api(mr.discussions)).headers.get('etag') ?? '';
    expect((await api(notes, { headers: { 'If-None-Match': notesEtag } })).status).toBe(304);
    expect((await api(mr.discussions, { headers: { 'If-None-Match': discussionsEtag } })).status).toBe(304);
    expect((await postAt(mr, 'README.md', { new_line: 2 }, 'New thread'))[0]).toBe(201);
    const changed = await api(notes, { headers: { 'If-None-Match': notesEtag } });
    expect(changed.status).toBe(200);
    expect(changed.headers.get('etag')).not.toBe(notesEtag);
    expect(((await changed.json()) as Array<{ body: string }>).map((n) => n.body)).toEqual(['New thread']);
    const threads = await api(mr.discussions, { headers: { 'If-None-Match': discussionsEtag } });
    expect([threads.status, threads.headers.get('etag') === discussionsEtag]).toEqual([200, false]);
  });
});
