// Issue search. Cloud: GET|POST /rest/api/3/search/jql (nextPageToken paging, no total), with the
// removed /rest/api/3/search answering 410 Gone. Data Center: GET|POST /rest/api/2/search
// (startAt / maxResults / total).
import { type Env, type Handler, intParam, listParam, objectBody, ok, type Req, type Route } from './http.js';
import { issueJson, selectFields } from './repr.js';
import { expandSet } from './routes-issue.js';
import { SearchContext } from './search.js';
import type { StoredIssue } from './state.js';
import { badRequest, errorBody, isRecord, JiraError, type Json, rejectUnknownKeys } from './types.js';

const REMOVED =
  'The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046';
const UNBOUNDED =
  'Unbounded JQL queries are not allowed here. Please add a search restriction to your query.';

const removedSearch: Handler = () => {
  throw new JiraError(
    410,
    errorBody([REMOVED]),
    '/rest/api/3/search was removed from Jira Cloud; use /search/jql',
  );
};

interface SearchArgs {
  jql: string;
  fields: string[] | undefined;
  expand: string[] | undefined;
  maxResults: number | undefined;
  startAt?: number;
  nextPageToken?: string;
}

function typed(body: Record<string, Json>, types: Record<string, string>, bean: string): void {
  for (const [k, t] of Object.entries(types)) {
    const v = body[k];
    if (v === undefined || v === null) continue;
    const actual = Array.isArray(v) ? 'array' : typeof v;
    const okType =
      t === 'string[]' ? Array.isArray(v) && v.every((x) => typeof x === 'string') : actual === t;
    const intOk = t === 'number' ? Number.isInteger(v) : true;
    if (!okType || !intOk) {
      throw badRequest(
        `Can not deserialize value of ${k} (${bean}): expected ${t}, got ${JSON.stringify(v)}`,
        `search body ${k} must be ${t}, got ${JSON.stringify(v)}`,
      );
    }
  }
}

function getArgs(req: Req, paging: 'token' | 'offset'): SearchArgs {
  const q = req.query;
  const maxRaw = q.get('maxResults');
  return {
    jql: q.get('jql') ?? '',
    fields: listParam(q, 'fields'),
    expand: listParam(q, 'expand'),
    maxResults: maxRaw === null ? undefined : intParam(q, 'maxResults', 50, paging === 'token'),
    ...(paging === 'offset'
      ? { startAt: intParam(q, 'startAt', 0, false) }
      : { nextPageToken: q.get('nextPageToken') ?? undefined }),
  };
}

function postArgs(req: Req, env: Env, paging: 'token' | 'offset'): SearchArgs {
  const body = objectBody(req);
  if (paging === 'token') {
    const bean = 'com.atlassian.jira.rest.v2.search.SearchAndReconcileRequestBean';
    rejectUnknownKeys(
      body,
      [
        'jql',
        'nextPageToken',
        'maxResults',
        'fields',
        'expand',
        'properties',
        'fieldsByKeys',
        'reconcileIssues',
      ],
      bean,
    );
    // Cloud's enhanced search takes `expand` as ONE comma-delimited string, not a list.
    typed(
      body,
      {
        jql: 'string',
        nextPageToken: 'string',
        maxResults: 'number',
        fields: 'string[]',
        expand: 'string',
        properties: 'string[]',
        fieldsByKeys: 'boolean',
        reconcileIssues: 'array',
      },
      bean,
    );
    return {
      jql: body.jql ?? '',
      fields: body.fields,
      expand:
        typeof body.expand === 'string' ? body.expand.split(',').map((s: string) => s.trim()) : undefined,
      maxResults: body.maxResults,
      nextPageToken: body.nextPageToken ?? undefined,
    };
  }
  const bean = 'com.atlassian.jira.rest.v2.search.SearchRequestBean';
  rejectUnknownKeys(
    body,
    ['jql', 'startAt', 'maxResults', 'fields', 'expand', 'properties', 'fieldsByKeys', 'validateQuery'],
    bean,
  );
  typed(
    body,
    { jql: 'string', startAt: 'number', maxResults: 'number', fields: 'string[]', properties: 'string[]' },
    bean,
  );
  let expand: string[] | undefined;
  if (typeof body.expand === 'string') {
    env.problem('DC search POST: expand is declared as a list of strings; a comma string was sent');
    expand = body.expand.split(',');
  } else if (body.expand !== undefined) {
    typed(body, { expand: 'string[]' }, bean);
    expand = body.expand;
  }
  return {
    jql: body.jql ?? '',
    fields: body.fields,
    expand,
    maxResults: body.maxResults,
    startAt: body.startAt ?? 0,
  };
}

/** The page's issues, plus the top-level `names` / `schema` a search answers when they are expanded. */
function render(env: Env, issues: StoredIssue[], args: SearchArgs, fallback: '*navigable' | 'id') {
  const fields = selectFields(args.fields, fallback, (f) =>
    env.problem(`search asked for unknown field "${f}" (Jira ignores it)`),
  );
  const expand = expandSet(args.expand, env);
  const top: Record<string, unknown> = {};
  const list = issues.map((i) => {
    const { names, schema, ...json } = issueJson(env.state, i, fields, expand);
    if (names) top.names = names;
    if (schema) top.schema = schema;
    // Enhanced search returns only what was asked for: by default just the id.
    if (fallback === 'id' && !json.fields && !fields.has('key')) return { id: i.id };
    return json;
  });
  if (expand.has('names') && !top.names) top.names = {};
  if (expand.has('schema') && !top.schema) top.schema = {};
  return { issues: list, top };
}

interface PageToken {
  jql: string;
  offset: number;
}
const encodeToken = (t: PageToken) => Buffer.from(JSON.stringify(t)).toString('base64url');
function decodeToken(token: string, jql: string): number {
  let t: unknown;
  try {
    t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    t = undefined;
  }
  if (!isRecord(t) || typeof t.offset !== 'number') {
    throw badRequest(
      'The provided next page token is invalid.',
      `nextPageToken ${JSON.stringify(token)} is not one the stand-in issued`,
    );
  }
  if (t.jql !== jql) {
    throw badRequest(
      'The provided next page token is not valid for this query.',
      'nextPageToken reused with a different JQL (tokens are bound to the query)',
    );
  }
  return t.offset;
}

function enhancedSearch(args: SearchArgs, env: Env) {
  if (args.jql.trim() === '' || !SearchContext.bounded(args.jql)) {
    throw badRequest(UNBOUNDED, `unbounded JQL ${JSON.stringify(args.jql)} on /search/jql`);
  }
  const hits = new SearchContext(env.state, env.problem).run(args.jql);
  const offset = args.nextPageToken === undefined ? 0 : decodeToken(args.nextPageToken, args.jql);
  const onlyIds = (args.fields ?? []).every((f) => f === 'id' || f === 'key');
  // The page is silently capped (100 with fields; id/key-only pages may be far larger).
  const size = Math.min(args.maxResults ?? 50, onlyIds ? 5000 : 100);
  if (size < 1)
    throw badRequest("The 'maxResults' parameter must be positive.", `maxResults=${args.maxResults}`);
  const page = hits.slice(offset, offset + size);
  const isLast = offset + size >= hits.length;
  const { issues, top } = render(env, page, args, 'id');
  return ok({
    issues,
    ...top,
    ...(isLast ? {} : { nextPageToken: encodeToken({ jql: args.jql, offset: offset + size }) }),
    isLast,
  });
}

function offsetSearch(args: SearchArgs, env: Env) {
  const hits =
    args.jql.trim() === '' ? [...env.state.issues] : new SearchContext(env.state, env.problem).run(args.jql);
  const startAt = args.startAt ?? 0;
  // Data Center caps maxResults at jira.search.views.default.max (1000) and echoes the capped value.
  const maxResults = Math.min(args.maxResults ?? 50, 1000);
  const { issues, top } = render(env, hits.slice(startAt, startAt + maxResults), args, '*navigable');
  return ok({ expand: 'schema,names', startAt, maxResults, total: hits.length, issues, ...top });
}

export const cloudSearchRoutes: Route[] = [
  { method: 'GET', pattern: /^\/search$/, handler: removedSearch },
  { method: 'POST', pattern: /^\/search$/, handler: removedSearch },
  {
    method: 'GET',
    pattern: /^\/search\/jql$/,
    handler: (req, env) => enhancedSearch(getArgs(req, 'token'), env),
  },
  {
    method: 'POST',
    pattern: /^\/search\/jql$/,
    handler: (req, env) => enhancedSearch(postArgs(req, env, 'token'), env),
  },
];

export const dcSearchRoutes: Route[] = [
  { method: 'GET', pattern: /^\/search$/, handler: (req, env) => offsetSearch(getArgs(req, 'offset'), env) },
  {
    method: 'POST',
    pattern: /^\/search$/,
    handler: (req, env) => offsetSearch(postArgs(req, env, 'offset'), env),
  },
];
