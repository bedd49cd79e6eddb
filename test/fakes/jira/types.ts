// Public types of the Jira stand-in, and the error type its handlers throw.

export type JiraFlavor = 'cloud' | 'datacenter';

export interface FakeJiraIssue {
  key: string;
  summary: string;
  /** Plain text with light markup; served as ADF on v3 and as wiki text on v2. */
  description?: string;
  /** Default 'To Do'. */
  status?: string;
  comments?: Array<{ author: string; body: string; created?: string }>;
  labels?: string[];
  /** ISO timestamp; defaults to "now" (initial issues are spaced one second apart, in order). */
  created?: string;
}

export interface FakeJiraOptions {
  flavor: JiraFlavor;
  /** Cloud auth: HTTP basic `email:apiToken`. */
  email?: string;
  apiToken?: string;
  /** Data Center auth: `Authorization: Bearer <pat>`. */
  pat?: string;
  issues: FakeJiraIssue[];
  /** status -> allowed transition target names. */
  workflow?: Record<string, string[]>;
}

export interface FakeJiraComment {
  id: string;
  author: string;
  /** ADF doc on cloud, string on Data Center. */
  body: unknown;
}

export interface RecordedJiraRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  authorization?: string;
  body?: unknown;
  status: number;
}

export interface FakeJira {
  url: string;
  flavor: JiraFlavor;
  issue(key: string): { key: string; status: string; labels: string[]; comments: FakeJiraComment[] };
  requests: RecordedJiraRequest[];
  /**
   * Every request Jira refused for a reason the client should have known (bad body, bad JQL, wrong
   * API...); any a test does not claim with takeProblems() fails it.
   */
  problems: string[];
  /** Claims the problems not yet checked, for a test that provokes them on purpose. */
  takeProblems(): string[];
  addIssue(issue: FakeJiraIssue): void;
  close(): Promise<void>;
}

export const DEFAULT_WORKFLOW: Record<string, string[]> = {
  'To Do': ['In Progress', 'In Review'],
  'In Progress': ['In Review', 'Done'],
  'In Review': ['Done', 'In Progress'],
};

/** A refusal: status + Jira's body. `problem` (when set) is recorded in `fake.problems`. */
export class JiraError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly problem?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(problem ?? `HTTP ${status}`);
  }
}

export const errorBody = (errorMessages: string[], errors: Record<string, string> = {}) => ({
  errorMessages,
  errors,
});

/** 400 with one loose message; recorded as a problem. */
export const badRequest = (message: string, problem = message): JiraError =>
  new JiraError(400, errorBody([message]), problem);

/** 400 with per-field messages; recorded as a problem. */
export const fieldErrors = (errors: Record<string, string>, problem: string): JiraError =>
  new JiraError(400, errorBody([], errors), problem);

// biome-ignore lint/suspicious/noExplicitAny: request bodies are arbitrary JSON until validated
export type Json = any;

export function isRecord(value: unknown): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Jackson's refusal of a property the bean does not declare. */
export function rejectUnknownKeys(
  body: Record<string, unknown>,
  allowed: readonly string[],
  bean: string,
): void {
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key)) {
      throw badRequest(
        `Unrecognized field "${key}" (Class ${bean}), not marked as ignorable`,
        `unknown top-level field "${key}" in the ${bean.split('.').pop()} body`,
      );
    }
  }
}
