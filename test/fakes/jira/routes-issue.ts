// /myself, /issue/{key}, its comments and its transitions.
import { validateAdf } from './adf-validate.js';
import {
  type Env,
  type Handler,
  intParam,
  issueOr404,
  listParam,
  objectBody,
  ok,
  type Req,
  type Route,
} from './http.js';
import {
  commentJson,
  commentPage,
  issueJson,
  plainText,
  SUPPORTED_EXPANDS,
  selectFields,
  transitionJson,
  userJson,
} from './repr.js';
import type { StoredIssue } from './state.js';
import {
  badRequest,
  errorBody,
  fieldErrors,
  isRecord,
  JiraError,
  type Json,
  rejectUnknownKeys,
} from './types.js';

const COMMENT_BEAN = 'com.atlassian.jira.issue.fields.rest.json.beans.CommentJsonBean';
const UPDATE_BEAN = 'com.atlassian.jira.rest.v2.issue.IssueUpdateBean';
/** Keys the comment bean declares. Read-only ones are accepted and ignored, as Jira does. */
const COMMENT_KEYS = [
  'body',
  'visibility',
  'properties',
  'author',
  'updateAuthor',
  'created',
  'updated',
  'id',
  'self',
  'renderedBody',
  'jsdPublic',
  'jsdAuthorCanSeeRequest',
  'parentId',
];
const IGNORED_COMMENT_KEYS = ['author', 'updateAuthor', 'created', 'updated', 'id', 'self', 'renderedBody'];
const ROLES = ['Administrators', 'Developers', 'Users'];

export function expandSet(values: string[] | undefined, env: Env, allowed = SUPPORTED_EXPANDS): Set<string> {
  const out = new Set<string>();
  for (const v of values ?? []) {
    if (allowed.has(v)) out.add(v);
    else env.problem(`expand=${v} is not modelled by the stand-in (ignored)`);
  }
  return out;
}

const myself: Handler = (_req, env) => ok(userJson(env.state, env.state.me, true));

const getIssue: Handler = (req, env) => {
  const issue = issueOr404(env.state, req.params[0] ?? '');
  const fields = selectFields(listParam(req.query, 'fields'), '*all', (f) =>
    env.problem(`GET issue asked for unknown field "${f}" (Jira ignores it)`),
  );
  if (req.query.has('properties')) env.problem('issue properties are not modelled by the stand-in (ignored)');
  return ok(issueJson(env.state, issue, fields, expandSet(listParam(req.query, 'expand'), env)));
};

function commentOrder(req: Req, issue: StoredIssue, env: Env) {
  const orderBy = req.query.get('orderBy');
  if (orderBy !== null && !['created', '-created', '+created'].includes(orderBy)) {
    throw badRequest(
      `Invalid orderBy value '${orderBy}'. Accepted values are created, -created and +created.`,
      `comments orderBy=${orderBy}${orderBy === 'false' ? ' (jira.js sends "false" when getComments is given a bare key)' : ''}`,
    );
  }
  const comments = [...issue.comments];
  if (orderBy === '-created') comments.sort((a, b) => b.created.getTime() - a.created.getTime());
  else comments.sort((a, b) => a.created.getTime() - b.created.getTime());
  const expand = req.query.get('expand');
  if (expand !== null && expand !== 'renderedBody')
    env.problem(`comments expand=${expand} is not a comment expand`);
  return { comments, rendered: expand === 'renderedBody' };
}

const listComments: Handler = (req, env) => {
  const issue = issueOr404(env.state, req.params[0] ?? '');
  const cloud = env.state.flavor === 'cloud';
  const startAt = intParam(req.query, 'startAt', 0, cloud);
  // Cloud caps a page at 100; Data Center has no cap and defaults to every comment.
  let maxResults = intParam(req.query, 'maxResults', cloud ? 100 : 5000, cloud);
  if (cloud) maxResults = Math.min(maxResults, 100);
  const { comments, rendered } = commentOrder(req, issue, env);
  return ok(commentPage(env.state, issue, comments, startAt, maxResults, rendered));
};

const getComment: Handler = (req, env) => {
  const issue = issueOr404(env.state, req.params[0] ?? '');
  const c = issue.comments.find((x) => x.id === req.params[1]);
  if (!c) throw new JiraError(404, errorBody([`Can not find a comment for the id: ${req.params[1]}.`]));
  return ok(commentJson(env.state, issue, c, req.query.get('expand') === 'renderedBody'));
};

function checkVisibility(v: unknown): { type: string; value: string } {
  if (!isRecord(v)) throw badRequest('visibility must be an object', 'comment visibility is not an object');
  if (v.value !== undefined && v.identifier !== undefined) {
    throw badRequest(
      "The parameters 'value' and 'identifier' are mutually exclusive.",
      'visibility has value and identifier',
    );
  }
  const value = v.value ?? v.identifier;
  if ((v.type !== 'role' && v.type !== 'group') || typeof value !== 'string') {
    throw fieldErrors(
      { commentLevel: 'You must specify a visibility type and value.' },
      'bad comment visibility',
    );
  }
  if (v.type === 'group') {
    throw fieldErrors(
      { commentLevel: `You are currently not a member of the group: ${value}.` },
      `visibility group ${value}`,
    );
  }
  if (!ROLES.includes(value)) {
    throw fieldErrors(
      { commentLevel: `You are currently not a member of the project role: ${value}.` },
      `visibility role ${value}`,
    );
  }
  return { type: 'role', value };
}

/** The comment body as Jira would store it, or the refusal Jira gives. */
function commentBody(body: unknown, env: Env): unknown {
  const empty = () => fieldErrors({ comment: 'Comment body can not be empty!' }, 'comment body is empty');
  if (env.state.flavor === 'datacenter') {
    if (body === undefined || body === null || body === '') throw empty();
    if (typeof body !== 'string') {
      throw badRequest(
        `Can not deserialize instance of java.lang.String out of ${Array.isArray(body) ? 'START_ARRAY' : 'START_OBJECT'} token\n at [Source: org.apache.catalina.connector.CoyoteInputStream; line: 1, column: 10] (through reference chain: ${COMMENT_BEAN}["body"])`,
        'v2 comment body must be a wiki-markup string (ADF is v3 only)',
      );
    }
    if (body.trim() === '') throw empty();
    return body;
  }
  if (body === undefined || body === null) throw empty();
  if (!isRecord(body)) {
    throw fieldErrors(
      { comment: 'Comment body is not valid!' },
      'v3 comment body must be an ADF doc, got a plain value',
    );
  }
  const check = validateAdf(body);
  if (!check.ok)
    throw new JiraError(400, errorBody([check.code]), `invalid ADF comment body: ${check.reason}`);
  for (const note of check.notes) env.problem(`ADF comment body: ${note}`);
  if (check.doc.content.length === 0 || plainText(check.doc).trim() === '') throw empty();
  return check.doc;
}

const addComment: Handler = (req, env) => {
  const issue = issueOr404(env.state, req.params[0] ?? '');
  const body = objectBody(req);
  const cloudOnly = ['jsdPublic', 'jsdAuthorCanSeeRequest', 'parentId'];
  const keys =
    env.state.flavor === 'cloud' ? COMMENT_KEYS : COMMENT_KEYS.filter((k) => !cloudOnly.includes(k));
  rejectUnknownKeys(body, keys, COMMENT_BEAN);
  for (const k of IGNORED_COMMENT_KEYS) {
    if (k in body) env.problem(`comment field "${k}" is read-only; Jira ignores it`);
  }
  const stored = commentBody(body.body, env);
  const visibility = body.visibility === undefined ? undefined : checkVisibility(body.visibility);
  const c = env.state.addComment(issue, env.state.me, stored);
  if (visibility) c.visibility = visibility;
  return ok(commentJson(env.state, issue, c, req.query.get('expand') === 'renderedBody'), 201);
};

const getTransitions: Handler = (req, env) => {
  const issue = issueOr404(env.state, req.params[0] ?? '');
  let offered = env.state.transitions(issue);
  const only = req.query.get('transitionId');
  if (only !== null) offered = offered.filter((t) => t.transitionId === only);
  const expand = req.query.get('expand');
  if (expand !== null && expand !== 'transitions.fields')
    env.problem(`transitions expand=${expand} is unknown`);
  const list = offered.map((t) => ({
    ...transitionJson(env.state, t),
    ...(expand === 'transitions.fields' ? { fields: {} } : {}),
  }));
  return ok({ expand: 'transitions', transitions: list });
};

const doTransition: Handler = (req, env) => {
  const issue = issueOr404(env.state, req.params[0] ?? '');
  const body = objectBody(req);
  rejectUnknownKeys(body, ['transition', 'fields', 'update', 'historyMetadata', 'properties'], UPDATE_BEAN);
  const t: Json = body.transition;
  if (!isRecord(t) || (t.id === undefined && t.name === undefined)) {
    throw badRequest("Missing 'transition' identifier", 'transition POST without transition.id');
  }
  rejectUnknownKeys(t, ['id', 'name', 'looped'], 'com.atlassian.jira.rest.v2.issue.TransitionBean');
  const id = t.id === undefined ? undefined : String(t.id);
  if (id !== undefined && !/^\d+$/.test(id)) {
    throw badRequest(
      "'transition' identifier must be an integer",
      `transition id ${JSON.stringify(t.id)} is not an integer`,
    );
  }
  const offered = env.state.transitions(issue);
  const target = id !== undefined ? offered.find((x) => x.transitionId === id) : undefined;
  if (!target) {
    throw badRequest(
      `Transition id '${id ?? ''}' is not valid for this issue.`,
      `transition ${id ?? JSON.stringify(t.name)} is not offered from "${issue.status}" on ${issue.key}` +
        (id === undefined ? ' (Jira needs transition.id; a name alone is not used)' : ''),
    );
  }
  for (const section of ['fields', 'update'] as const) {
    const v: Json = body[section];
    if (v === undefined) continue;
    if (!isRecord(v))
      throw badRequest(`'${section}' must be an object`, `transition ${section} is not an object`);
    const keys = Object.keys(v);
    if (keys.length > 0) {
      const errors = Object.fromEntries(
        keys.map((k) => [k, `Field '${k}' cannot be set. It is not on the appropriate screen, or unknown.`]),
      );
      throw new JiraError(
        400,
        errorBody([], errors),
        `transition ${target.name} has no screen; cannot set ${keys.join(', ')}`,
      );
    }
  }
  issue.status = target.name;
  issue.updated = new Date();
  return { status: 204 };
};

export const issueRoutes: Route[] = [
  { method: 'GET', pattern: /^\/myself$/, handler: myself },
  { method: 'GET', pattern: /^\/issue\/([^/]+)$/, handler: getIssue },
  { method: 'GET', pattern: /^\/issue\/([^/]+)\/comment$/, handler: listComments },
  { method: 'POST', pattern: /^\/issue\/([^/]+)\/comment$/, handler: addComment },
  { method: 'GET', pattern: /^\/issue\/([^/]+)\/comment\/([^/]+)$/, handler: getComment },
  { method: 'GET', pattern: /^\/issue\/([^/]+)\/transitions$/, handler: getTransitions },
  { method: 'POST', pattern: /^\/issue\/([^/]+)\/transitions$/, handler: doTransition },
];
