// Request/route plumbing shared by the Jira stand-in's handlers.
import type { JiraState, StoredIssue } from './state.js';
import { badRequest, errorBody, isRecord, JiraError, type Json } from './types.js';

export const INVALID_JSON: unique symbol = Symbol('invalid-json');

export interface Req {
  method: string;
  /** Path below the API prefix, e.g. `/issue/ABC-1/comment`. */
  path: string;
  /** Decoded capture groups of the route pattern. */
  params: string[];
  query: URLSearchParams;
  /** Parsed JSON, `undefined` when empty, INVALID_JSON when unparseable. */
  body: unknown;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface Env {
  state: JiraState;
  problem(message: string): void;
}

export type Handler = (req: Req, env: Env) => Reply;
export interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
}

export const ok = (body: unknown, status = 200): Reply => ({ status, body });

/** The JSON object body a write endpoint needs, refused the way Jackson refuses it. */
export function objectBody(req: Req): Record<string, Json> {
  if (req.body === undefined)
    throw badRequest('No content to map to Object due to end of input', 'empty body');
  if (req.body === INVALID_JSON)
    throw badRequest('Unexpected character in JSON body', 'body is not valid JSON');
  if (!isRecord(req.body)) {
    throw badRequest(
      `Can not deserialize instance of bean out of ${Array.isArray(req.body) ? 'START_ARRAY' : 'VALUE_STRING'} token`,
      'body is not a JSON object',
    );
  }
  return req.body;
}

export function issueOr404(state: JiraState, keyOrId: string): StoredIssue {
  const issue = state.find(keyOrId);
  if (issue) return issue;
  const message =
    state.flavor === 'cloud'
      ? 'Issue does not exist or you do not have permission to see it.'
      : 'Issue Does Not Exist';
  throw new JiraError(404, errorBody([message]));
}

/**
 * A non-negative integer query parameter. Data Center's Jersey answers an unconvertible query
 * parameter with a bare 404 (the JAX-RS rule); Cloud is taken to answer 400.
 */
export function intParam(query: URLSearchParams, name: string, fallback: number, cloud: boolean): number {
  const raw = query.get(name);
  if (raw === null) return fallback;
  if (!/^\d+$/.test(raw)) {
    const hint =
      raw === 'false'
        ? ' (jira.js sends "false" for every paging parameter when a method that takes an object is given a bare string)'
        : '';
    const problem = `${name}=${raw} is not an integer${hint}`;
    if (!cloud) throw new JiraError(404, undefined, problem);
    throw new JiraError(
      400,
      errorBody([`The value '${raw}' of parameter '${name}' is not a valid integer.`]),
      problem,
    );
  }
  return Number(raw);
}

/** Comma-separated (and repeatable) list parameter. */
export function listParam(query: URLSearchParams, name: string): string[] | undefined {
  const all = query.getAll(name);
  if (all.length === 0) return undefined;
  return all
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v.length > 0);
}

export function boolParam(query: URLSearchParams, name: string): void {
  const raw = query.get(name);
  if (raw !== null && raw !== 'true' && raw !== 'false') {
    throw badRequest(`The value '${raw}' of parameter '${name}' is not a valid boolean.`, `${name}=${raw}`);
  }
}
