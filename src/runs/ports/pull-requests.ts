/**
 * The pull-request conversation port: what runs/ reads from and writes to a forge about the
 * pull requests (merge requests) airlock opened. Polled, never pushed to airlock: no webhook.
 */

/** A comment on a pull request; a review comment carries the file, line and hunk it is on. */
export interface ForgeComment {
  id: string;
  number: number;
  author: string;
  body: string;
  url: string;
  createdAt: string;
  path?: string;
  line?: number;
  diffHunk?: string;
}

export interface ForgeReview {
  id: string;
  number: number;
  author: string;
  state: 'approved' | 'changes_requested' | 'commented' | 'dismissed';
  body: string;
  url: string;
}

/** A CI result on a commit: a check run or a commit status (GitHub), a job (GitLab). */
export interface ForgeCheck {
  id: string;
  number: number;
  sha: string;
  name: string;
  outcome: 'pending' | 'success' | 'failure';
  url: string;
  /** Where its log is, for checkLog(); absent when the forge keeps none. */
  logRef?: string;
  /** Text the check itself reported (a check run's output), used when there is no log. */
  summary?: string;
}

/** A pull request as the forge shows it now. */
export interface ForgePullState {
  number: number;
  state: 'open' | 'merged' | 'closed';
  headSha: string;
  /** Who merged or closed it, when the forge says. */
  by: string | null;
}

/** Where polling stands for one repository: the ETags it holds and how far comments were read. */
export interface ConversationCursor {
  etags: Record<string, string>;
  /** Comments updated at or after this time are read again (the forges' `since` is inclusive). */
  since: string | null;
}

/** What changed since the cursor. A resource answered `304 Not Modified` contributes nothing. */
export interface Observed {
  pulls: ForgePullState[];
  comments: ForgeComment[];
  reviews: ForgeReview[];
  checks: ForgeCheck[];
  /** The poll's GETs: answered 304 (cost nothing) or with a body. */
  requests: { notModified: number; changed: number };
}

export interface PullToWatch {
  number: number;
  /** The head airlock knows: its checks are read. */
  headSha: string;
  /** Airlock pushed this head; only its checks matter. */
  checkHead: string | null;
}

export interface ForgeConversation {
  /** One poll of `repo`: conditional requests, so nothing new costs nothing. */
  observe(
    repo: string,
    pulls: PullToWatch[],
    cursor: ConversationCursor,
  ): Promise<{ observed: Observed; cursor: ConversationCursor }>;
  /** A comment on the pull request, from airlock. */
  reply(repo: string, number: number, body: string): Promise<void>;
  /** The `airlock/approved` commit status on `sha`. */
  setStatus(
    repo: string,
    sha: string,
    status: { state: 'success' | 'failure'; description: string; targetUrl?: string },
  ): Promise<void>;
  /** The end of a failed check's log (at most `bytes`), or its summary; '' when there is none. */
  checkLog(repo: string, check: ForgeCheck, bytes: number): Promise<string>;
  /** Whether merging into `branch` requires `airlock/approved`; undefined when it cannot tell. */
  requiresApproval(repo: string, branch: string): Promise<boolean | undefined>;
  /** The verified (public) email the forge shows for a login, if any. */
  emailOf(repo: string, login: string): Promise<string | undefined>;
  /** What a review needs of a pull request: its head (a ref the mirror can fetch) and its base. */
  pullRequestFacts(repo: string, number: number): Promise<PullRequestFacts>;
  /**
   * Posts a review that only comments (GitHub: event COMMENT, never APPROVE or REQUEST_CHANGES;
   * GitLab: the summary as a note and a discussion per line comment) on `headSha`.
   */
  postReview(
    repo: string,
    number: number,
    review: {
      headSha: string;
      summary: string;
      comments: Array<{ path: string; line: number; body: string }>;
    },
  ): Promise<{ url: string | null }>;
}

export interface PullRequestFacts {
  number: number;
  url: string;
  title: string;
  body: string;
  /** The head as a ref the mirror fetches: refs/pull/N/head, refs/merge-requests/N/head. */
  headRef: string;
  headSha: string;
  /** The branch it merges into. */
  base: string;
  state: 'open' | 'merged' | 'closed';
}

/** The commit status context that makes an airlock approval a merge rule. */
export const APPROVED_CONTEXT = 'airlock/approved';

/** Marks airlock's own comments so polling never takes them as requests. */
export const AIRLOCK_MARK = '<!-- airlock -->';

/** A pull request airlock opened and follows, as stored. */
export interface WatchedPullRequest {
  repo: string;
  number: number;
  url: string;
  branch: string;
  /** The branch it merges into. */
  base: string;
  /** The run that opened it: its chat thread is the pull request's. */
  originRunId: string;
  state: 'open' | 'merged' | 'closed';
  /** The head as last seen. */
  headSha: string;
  /** Every head airlock pushed here, oldest first. */
  pushedHeads: string[];
  /** Comment, review and check keys already acted on: a restart acts on none twice. */
  handled: string[];
  /** Forge logins already told who may ask, so each hears it once. */
  told: string[];
  fixAttempts: number;
  createdAt: string;
}

export type WatchedFields = Partial<
  Pick<WatchedPullRequest, 'state' | 'headSha' | 'handled' | 'told' | 'fixAttempts'>
>;

/** Where the watched pull requests and the polling cursors are kept (the runs' database). */
export interface PullRequestStore {
  /** Records a push: the pull request is followed from now on, with `head` as airlock's. */
  recordPush(
    pr: Pick<WatchedPullRequest, 'repo' | 'number' | 'url' | 'branch' | 'base' | 'originRunId'>,
    head: string,
  ): WatchedPullRequest;
  get(repo: string, number: number): WatchedPullRequest | undefined;
  list(opts?: { state?: WatchedPullRequest['state'] }): WatchedPullRequest[];
  update(repo: string, number: number, fields: WatchedFields): WatchedPullRequest;
  cursor(repo: string): ConversationCursor | undefined;
  saveCursor(repo: string, cursor: ConversationCursor): void;
}
