// Drives the Jira stand-in with the real jira.js clients airlock uses: Version3Client against the
// Cloud flavor (basic auth, ADF, /search/jql) and Version2Client against Data Center (Bearer PAT,
// wiki text, /search with startAt/total).
import { Version2Client, Version3Client } from 'jira.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeJira, type FakeJiraIssue, startFakeJira } from '../fakes/jira/index.js';

const EMAIL = 'bot@example.com';
const API_TOKEN = 'ATATT3xFfGF0-fake-cloud-token';
const PAT = 'NjM4OTk2MzQ0NzA5OkZha2VEYXRhQ2VudGVyUEFU';

const DESCRIPTION = [
  'The login page says "Pasword".',
  'Reported from https://example.com/login by @alice',
  '',
  '- fix the label',
  '- add a **regression** test',
  '',
  '```ts',
  'const label = "Pasword";',
  '```',
].join('\n');

const ISSUES: FakeJiraIssue[] = [
  {
    key: 'AIR-1',
    summary: 'Fix the login typo',
    description: DESCRIPTION,
    labels: ['airlock'],
    comments: [
      { author: 'Alice Smith', body: 'Also see [the style guide](https://docs.example.com/style)' },
      { author: 'Bob Jones', body: 'Agreed, small fix.' },
    ],
  },
  { key: 'AIR-2', summary: 'Rename the helper', status: 'In Progress', labels: ['airlock'] },
  { key: 'AIR-3', summary: 'Tidy the README', labels: ['airlock', 'docs'] },
  { key: 'OPS-1', summary: 'Rotate keys', labels: ['infra'] },
];

let fake: FakeJira;

/** The HTTP status and Jira body a jira.js call was refused with. */
async function refusal(p: Promise<unknown>): Promise<{ status: number; data: unknown }> {
  const err = (await p.then(
    () => {
      throw new Error('expected the call to be refused');
    },
    (e: unknown) => e,
  )) as { status?: number; response?: { data?: unknown } };
  return { status: err.status ?? 0, data: err.response?.data };
}

type AdfNode = { type: string; content?: AdfNode[]; attrs?: Record<string, unknown>; marks?: AdfNode[] };
const nodeTypes = (n: AdfNode): string[] => [n.type, ...(n.content ?? []).flatMap(nodeTypes)];
const linkDoc = (href: string | undefined) => ({
  type: 'doc',
  version: 1,
  content: [
    {
      type: 'paragraph',
      content: [
        { type: 'text', text: 'Opened ' },
        { type: 'text', text: 'the pull request', marks: [{ type: 'link', attrs: href ? { href } : {} }] },
      ],
    },
  ],
});

describe('fake Jira Cloud (REST v3) driven by jira.js Version3Client', () => {
  let jira: Version3Client;
  beforeEach(async () => {
    fake = await startFakeJira({ flavor: 'cloud', email: EMAIL, apiToken: API_TOKEN, issues: ISSUES });
    jira = new Version3Client({
      host: fake.url,
      authentication: { basic: { email: EMAIL, apiToken: API_TOKEN } },
    });
  });
  afterEach(() => fake.close());

  it('answers /myself for the API token owner, authenticated with basic email:token', async () => {
    const me = await jira.myself.getCurrentUser();
    expect(me).toMatchObject({ emailAddress: EMAIL, active: true, accountType: 'atlassian' });
    expect(fake.requests[0]?.authorization).toBe(
      `Basic ${Buffer.from(`${EMAIL}:${API_TOKEN}`).toString('base64')}`,
    );
  });

  it('serves the description as ADF with paragraphs, hardBreak, mention, inlineCard, bulletList and codeBlock', async () => {
    const issue = await jira.issues.getIssue({
      issueIdOrKey: 'AIR-1',
      fields: ['summary', 'description', 'status'],
    });
    expect(issue.key).toBe('AIR-1');
    expect(Object.keys(issue.fields).sort()).toEqual(['description', 'status', 'summary']);
    expect(issue.fields.status.name).toBe('To Do');
    const doc = issue.fields.description as unknown as AdfNode & { version: number };
    expect(doc).toMatchObject({ type: 'doc', version: 1 });
    expect(doc.content?.map((n) => n.type)).toEqual(['paragraph', 'bulletList', 'codeBlock']);
    const types = nodeTypes(doc);
    for (const t of ['hardBreak', 'mention', 'inlineCard', 'listItem', 'text']) expect(types).toContain(t);
    expect(doc.content?.[2]).toEqual({
      type: 'codeBlock',
      attrs: { language: 'ts' },
      content: [{ type: 'text', text: 'const label = "Pasword";' }],
    });
  });

  it('includes fields.comment with ADF bodies, and pages GET /comment by orderBy and maxResults', async () => {
    const issue = await jira.issues.getIssue({ issueIdOrKey: 'AIR-1', fields: ['comment'] });
    const page = issue.fields.comment;
    expect(page).toMatchObject({ total: 2, startAt: 0, maxResults: 2 });
    const first = page.comments[0]?.body as unknown as AdfNode;
    expect(JSON.stringify(first)).toContain('"href":"https://docs.example.com/style"');
    expect(page.comments[0]?.author?.displayName).toBe('Alice Smith');

    const newest = await jira.issueComments.getComments({
      issueIdOrKey: 'AIR-1',
      orderBy: '-created',
      maxResults: 1,
    });
    expect(newest).toMatchObject({ total: 2, maxResults: 1, startAt: 0 });
    expect(newest.comments?.map((c) => c.author?.displayName)).toEqual(['Bob Jones']);
  });

  it('refuses non-integer paging parameters, which jira.js sends when getComments gets a bare key', async () => {
    const r = await refusal(jira.issueComments.getComments('AIR-1'));
    expect(r.status).toBe(400);
    expect(fake.requests.at(-1)?.query).toMatchObject({ startAt: 'false', maxResults: 'false' });
    expect(fake.takeProblems()).toEqual([expect.stringContaining('jira.js sends "false"')]);
  });

  it("refuses wrong credentials with 401 and Jira Cloud's error body", async () => {
    const wrong = new Version3Client({
      host: fake.url,
      authentication: { basic: { email: EMAIL, apiToken: 'nope' } },
    });
    expect(await refusal(wrong.issues.getIssue({ issueIdOrKey: 'AIR-1' }))).toEqual({
      status: 401,
      data: { errorMessages: ['Client must be authenticated to access this resource.'], errors: {} },
    });
    const bearer = new Version3Client({
      host: fake.url,
      authentication: { oauth2: { accessToken: API_TOKEN } },
    });
    expect((await refusal(bearer.myself.getCurrentUser())).status).toBe(401);
    expect(fake.takeProblems()).toEqual([
      expect.stringContaining('Jira Cloud takes "Basic base64(email:apiToken)", got a Bearer credential'),
    ]);
  });

  it("answers 404 with Jira's message for an unknown issue", async () => {
    expect(await refusal(jira.issues.getIssue({ issueIdOrKey: 'AIR-404' }))).toEqual({
      status: 404,
      data: { errorMessages: ['Issue does not exist or you do not have permission to see it.'], errors: {} },
    });
  });

  it('stores an ADF comment carrying a link and answers 201 with it', async () => {
    const doc = linkDoc('https://git.example.com/pr/7');
    const created = await jira.issueComments.addComment({ issueIdOrKey: 'AIR-1', comment: doc as never });
    expect(created.body).toEqual(doc);
    expect(created.author?.emailAddress).toBe(EMAIL);
    const stored = fake.issue('AIR-1').comments;
    expect(stored).toHaveLength(3);
    expect(stored[2]).toEqual({ id: created.id, author: 'Airlock Bot', body: doc });
    expect(fake.requests.at(-1)?.status).toBe(201);
    expect(fake.problems).toEqual([]);
  });

  it('refuses a plain-string comment body on v3 with "Comment body is not valid!"', async () => {
    const sent = jira.sendRequest(
      { url: '/rest/api/3/issue/AIR-1/comment', method: 'POST', data: { body: 'plain text' } },
      undefined as never,
    );
    expect(await refusal(sent)).toEqual({
      status: 400,
      data: { errorMessages: [], errors: { comment: 'Comment body is not valid!' } },
    });
    expect(fake.issue('AIR-1').comments).toHaveLength(2);
    expect(fake.takeProblems()).toEqual([expect.stringContaining('v3 comment body must be an ADF doc')]);
  });

  it('refuses invalid ADF (a link mark without href, an unknown node) with INVALID_INPUT', async () => {
    const noHref = await refusal(
      jira.issueComments.addComment({ issueIdOrKey: 'AIR-1', comment: linkDoc(undefined) as never }),
    );
    expect(noHref).toEqual({ status: 400, data: { errorMessages: ['INVALID_INPUT'], errors: {} } });
    const unknownNode = { type: 'doc', version: 1, content: [{ type: 'markdown', text: '# hi' }] };
    expect(
      (await refusal(jira.issueComments.addComment({ issueIdOrKey: 'AIR-1', comment: unknownNode as never })))
        .status,
    ).toBe(400);
    const extraField = jira.sendRequest(
      {
        url: '/rest/api/3/issue/AIR-1/comment',
        method: 'POST',
        data: { body: linkDoc('https://x.test'), notify: true },
      },
      undefined as never,
    );
    expect((await refusal(extraField)).status).toBe(400);
    expect(fake.takeProblems().join('\n')).toMatch(
      /missing required attrs\.href[\s\S]*unknown node type "markdown"[\s\S]*"notify"/,
    );
    expect(fake.issue('AIR-1').comments).toHaveLength(2);
  });

  it("offers the workflow's transitions and a valid one moves the issue's status", async () => {
    const { transitions } = await jira.issues.getTransitions({ issueIdOrKey: 'AIR-1' });
    expect(transitions?.map((t) => [t.name, t.to?.name])).toEqual([
      ['In Progress', 'In Progress'],
      ['In Review', 'In Review'],
    ]);
    const start = transitions?.find((t) => t.name === 'In Progress');
    await jira.issues.doTransition({ issueIdOrKey: 'AIR-1', transition: { id: start?.id } });
    expect(fake.issue('AIR-1').status).toBe('In Progress');
    const next = await jira.issues.getTransitions({ issueIdOrKey: 'AIR-1' });
    expect(next.transitions?.map((t) => t.name)).toEqual(['In Review', 'Done']);
    expect(fake.requests.at(-2)?.status).toBe(204);
  });

  it('refuses a transition the current status does not offer, and leaves the status alone', async () => {
    const fromProgress = await jira.issues.getTransitions({ issueIdOrKey: 'AIR-2' });
    const done = fromProgress.transitions?.find((t) => t.name === 'Done');
    expect(
      await refusal(jira.issues.doTransition({ issueIdOrKey: 'AIR-1', transition: { id: done?.id } })),
    ).toEqual({
      status: 400,
      data: { errorMessages: [`Transition id '${done?.id}' is not valid for this issue.`], errors: {} },
    });
    expect(fake.issue('AIR-1').status).toBe('To Do');
    expect(fake.takeProblems()).toEqual([expect.stringContaining('is not offered from "To Do" on AIR-1')]);
  });

  it('pages POST /search/jql by nextPageToken, with no total, until isLast', async () => {
    const jql = 'project = AIR AND labels = airlock ORDER BY created ASC';
    const first = await jira.issueSearch.searchForIssuesUsingJqlEnhancedSearchPost({
      jql,
      maxResults: 2,
      fields: ['summary', 'status'],
    });
    expect(first.issues?.map((i) => i.key)).toEqual(['AIR-1', 'AIR-2']);
    expect(first).toMatchObject({ isLast: false });
    expect(first).not.toHaveProperty('total');
    expect(first.issues?.[1]?.fields.status.name).toBe('In Progress');
    const second = await jira.issueSearch.searchForIssuesUsingJqlEnhancedSearchPost({
      jql,
      maxResults: 2,
      fields: ['summary'],
      nextPageToken: first.nextPageToken,
    });
    expect(second.issues?.map((i) => i.key)).toEqual(['AIR-3']);
    expect(second).toMatchObject({ isLast: true });
    expect(second).not.toHaveProperty('nextPageToken');
  });

  it('filters GET /search/jql by status in (...) and created >= -5m, and sees issues added later', async () => {
    const jql = 'project = AIR AND status in ("To Do", "In Review") AND created >= -5m ORDER BY created DESC';
    const before = await jira.issueSearch.searchForIssuesUsingJqlEnhancedSearch({ jql, fields: ['summary'] });
    expect(before.issues?.map((i) => i.key)).toEqual(['AIR-3', 'AIR-1']);
    fake.addIssue({ key: 'AIR-4', summary: 'A new ticket' });
    const after = await jira.issueSearch.searchForIssuesUsingJqlEnhancedSearch({ jql, fields: ['summary'] });
    expect(after.issues?.map((i) => i.key)).toEqual(['AIR-4', 'AIR-3', 'AIR-1']);
    const idsOnly = await jira.issueSearch.searchForIssuesUsingJqlEnhancedSearch({ jql: 'labels = infra' });
    expect(idsOnly.issues).toEqual([{ id: expect.any(String) }]);
  });

  it("refuses JQL it cannot evaluate, unbounded JQL and the removed /search with Jira's errors", async () => {
    const search = (jql: string) =>
      refusal(jira.issueSearch.searchForIssuesUsingJqlEnhancedSearchPost({ jql }));
    for (const jql of [
      'assignee = currentUser()',
      'project = AIR OR project = OPS',
      'summary ~ "typo"',
      'project = AIR ORDER BY rank',
    ]) {
      const r = await search(jql);
      expect(r.status, jql).toBe(400);
      expect((r.data as { errorMessages: string[] }).errorMessages[0], jql).toMatch(
        /^(Error in the JQL Query|Not able)/,
      );
    }
    expect(await search('project = AIR AND')).toMatchObject({ status: 400 });
    expect((await search('priority2 = High')).data).toEqual({
      errorMessages: ["Field 'priority2' does not exist or you do not have permission to view it."],
      errors: {},
    });
    expect((await search('ORDER BY created DESC')).data).toMatchObject({
      errorMessages: [
        'Unbounded JQL queries are not allowed here. Please add a search restriction to your query.',
      ],
    });
    const removed = await refusal(jira.issueSearch.searchForIssuesUsingJqlPost({ jql: 'project = AIR' }));
    expect(removed.status).toBe(410);
    expect(fake.takeProblems()).toHaveLength(8);
  });

  it('does not serve the v2 API on Cloud: 404 and a problem', async () => {
    const v2 = new Version2Client({
      host: fake.url,
      authentication: { basic: { email: EMAIL, apiToken: API_TOKEN } },
    });
    expect((await refusal(v2.issues.getIssue({ issueIdOrKey: 'AIR-1' }))).status).toBe(404);
    expect(fake.takeProblems()).toEqual([expect.stringContaining('REST v3 (/rest/api/3) only')]);
  });
});

describe('fake Jira Data Center (REST v2) driven by jira.js Version2Client', () => {
  let jira: Version2Client;
  beforeEach(async () => {
    fake = await startFakeJira({ flavor: 'datacenter', pat: PAT, issues: ISSUES });
    jira = new Version2Client({ host: fake.url, authentication: { oauth2: { accessToken: PAT } } });
  });
  afterEach(() => fake.close());

  it('authenticates with the PAT as a Bearer token and answers /myself', async () => {
    const me = await jira.myself.getCurrentUser();
    expect(me).toMatchObject({ name: 'airlock', displayName: 'Airlock Bot', active: true });
    expect(fake.requests[0]?.authorization).toBe(`Bearer ${PAT}`);
  });

  it('serves the description and comments as wiki text', async () => {
    const issue = await jira.issues.getIssue({ issueIdOrKey: 'AIR-1', fields: ['description', 'comment'] });
    const text = issue.fields.description as unknown as string;
    expect(typeof text).toBe('string');
    expect(text).toContain('* fix the label');
    expect(text).toContain('* add a *regression* test');
    expect(text).toContain('{code:ts}\nconst label = "Pasword";\n{code}');
    expect(text).toContain('[~alice]');
    // jira.js types the v2 comment text as `comment`; on the wire (and in real Jira) it is `body`.
    const bodyOf = (c: object) => (c as { body?: unknown }).body;
    expect(issue.fields.comment.comments.map(bodyOf)).toEqual([
      'Also see [the style guide|https://docs.example.com/style]',
      'Agreed, small fix.',
    ]);
  });

  it('refuses a wrong PAT and basic auth with 401', async () => {
    const wrong = new Version2Client({ host: fake.url, authentication: { oauth2: { accessToken: 'nope' } } });
    expect(await refusal(wrong.issues.getIssue({ issueIdOrKey: 'AIR-1' }))).toEqual({
      status: 401,
      data: {
        errorMessages: ['You are not authenticated. Authentication required to perform this operation.'],
        errors: {},
      },
    });
    const basic = new Version2Client({
      host: fake.url,
      authentication: { basic: { email: EMAIL, apiToken: PAT } },
    });
    expect((await refusal(basic.myself.getCurrentUser())).status).toBe(401);
    expect(fake.takeProblems()).toEqual([
      expect.stringContaining(
        'Jira Data Center takes "Bearer <personal access token>", got a Basic credential',
      ),
    ]);
  });

  it('answers 404 "Issue Does Not Exist" for an unknown issue', async () => {
    expect(await refusal(jira.issueComments.getComments({ issueIdOrKey: 'AIR-99' }))).toEqual({
      status: 404,
      data: { errorMessages: ['Issue Does Not Exist'], errors: {} },
    });
  });

  it('stores a string comment, and refuses an ADF or empty body on v2', async () => {
    const created = await jira.issueComments.addComment({
      issueIdOrKey: 'AIR-2',
      comment: 'Pushed a fix: [PR|https://x.test]',
    });
    expect((created as { body?: unknown }).body).toBe('Pushed a fix: [PR|https://x.test]');
    expect(fake.issue('AIR-2').comments).toEqual([
      { id: created.id, author: 'Airlock Bot', body: 'Pushed a fix: [PR|https://x.test]' },
    ]);
    const adf = await refusal(
      jira.issueComments.addComment({ issueIdOrKey: 'AIR-2', comment: linkDoc('https://x') as never }),
    );
    expect(adf.status).toBe(400);
    expect(await refusal(jira.issueComments.addComment({ issueIdOrKey: 'AIR-2', comment: ' ' }))).toEqual({
      status: 400,
      data: { errorMessages: [], errors: { comment: 'Comment body can not be empty!' } },
    });
    expect(fake.issue('AIR-2').comments).toHaveLength(1);
    expect(fake.takeProblems()).toEqual([
      expect.stringContaining('ADF is v3 only'),
      expect.stringContaining('comment body is empty'),
    ]);
  });

  it('transitions along the workflow and refuses an id the current status does not offer', async () => {
    const { transitions } = await jira.issues.getTransitions({ issueIdOrKey: 'AIR-2' });
    expect(transitions?.map((t) => t.name)).toEqual(['In Review', 'Done']);
    const review = transitions?.find((t) => t.name === 'In Review');
    await jira.issues.doTransition({ issueIdOrKey: 'AIR-2', transition: { id: review?.id } });
    expect(fake.issue('AIR-2').status).toBe('In Review');
    expect(
      (await refusal(jira.issues.doTransition({ issueIdOrKey: 'AIR-2', transition: { id: '999' } }))).data,
    ).toEqual({
      errorMessages: ["Transition id '999' is not valid for this issue."],
      errors: {},
    });
    const withField = jira.issues.doTransition({
      issueIdOrKey: 'AIR-2',
      transition: { id: transitions?.find((t) => t.name === 'Done')?.id },
      fields: { resolution: { name: 'Fixed' } },
    });
    expect((await refusal(withField)).status).toBe(400);
    expect(fake.issue('AIR-2').status).toBe('In Review');
    expect(fake.takeProblems()).toEqual([
      expect.stringContaining('transition 999 is not offered from "In Review"'),
      expect.stringContaining('transition Done has no screen; cannot set resolution'),
    ]);
  });

  it('pages /search by startAt and maxResults with a total, on GET and POST', async () => {
    const jql = 'project = AIR ORDER BY key ASC';
    const first = await jira.issueSearch.searchForIssuesUsingJql({ jql, maxResults: 2, fields: ['summary'] });
    expect(first).toMatchObject({ startAt: 0, maxResults: 2, total: 3 });
    expect(first.issues?.map((i) => [i.key, i.fields.summary])).toEqual([
      ['AIR-1', 'Fix the login typo'],
      ['AIR-2', 'Rename the helper'],
    ]);
    const second = await jira.issueSearch.searchForIssuesUsingJqlPost({ jql, startAt: 2, maxResults: 2 });
    expect(second).toMatchObject({ startAt: 2, total: 3 });
    expect(second.issues?.map((i) => i.key)).toEqual(['AIR-3']);
    expect(second.issues?.[0]?.fields).toHaveProperty('status');
    expect(second.issues?.[0]?.fields).not.toHaveProperty('comment');
  });

  it("refuses unsupported JQL and unknown values with Data Center's 400s", async () => {
    const search = (jql: string) => refusal(jira.issueSearch.searchForIssuesUsingJql({ jql }));
    expect((await search('project = NOPE')).data).toEqual({
      errorMessages: ["The value 'NOPE' does not exist for the field 'project'."],
      errors: {},
    });
    expect((await search('status = "Blocked"')).status).toBe(400);
    expect((await search('text ~ "typo"')).status).toBe(400);
    expect((await search('project = AIR project = OPS')).data).toMatchObject({
      errorMessages: [
        expect.stringMatching(/^Error in the JQL Query: Expecting either 'OR' or 'AND' but got 'project'/),
      ],
    });
    expect(
      (await refusal(jira.issueSearch.searchForIssuesUsingJqlEnhancedSearch({ jql: 'project = AIR' })))
        .status,
    ).toBe(404);
    expect(fake.takeProblems()).toHaveLength(5);
  });
});
