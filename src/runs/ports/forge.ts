/** The Forge port: where a repository lives and how pull requests are opened there. */
export interface PullRequest {
  number: number;
  url: string;
  /** false when an open pull request for the branch already existed and was reused. */
  created: boolean;
}

export interface PullRequestDraft {
  branch: string;
  base: string;
  title: string;
  body: string;
  draft: boolean;
  labels?: string[];
}

export interface Forge {
  readonly kind: 'github' | 'gitlab' | 'git';
  /** The clone URL, never with a credential in it. */
  remoteUrl(repo: string): string;
  /** The Authorization header for git over HTTPS for one command, or undefined for none. */
  gitAuthHeader(repo: string, purpose: 'fetch' | 'push'): Promise<string | undefined>;
  /** Finds the open pull request for the branch or opens one; null where the forge has none. */
  ensurePullRequest(repo: string, draft: PullRequestDraft): Promise<PullRequest | null>;
}

/** What runs/ asks of publishing: push the approved diff as a branch and open its PR. */
export interface PublishRequest {
  runId: string;
  repo: string;
  baseRef: string;
  baseSha: string;
  diff: Buffer;
  branch: string;
  commitTitle: string;
  commitBody: string;
  /** Fixed author/committer time, so retrying builds the very same commit. */
  approvedAt: string;
  /**
   * A follow-up: the branch exists and must still be at this head (the one the run started from);
   * the new commit's parent is baseSha, and the push only fast-forwards.
   */
  lease?: string;
  /** The branch the pull request merges into (baseRef, unless a follow-up's branch is the base). */
  pullRequestBase?: string;
  pullRequest: { title: string; body: string; draft: boolean; labels?: string[] };
  /** Called with the commit just before it is pushed (a follow-up records it as airlock's head). */
  beforePush?: (commitSha: string) => void;
}

export interface PublishResult {
  commitSha: string;
  /** true when the branch already held this exact commit (a retry after a crash). */
  alreadyPushed: boolean;
  pullRequest: PullRequest | null;
}

export interface Publisher {
  publish(request: PublishRequest): Promise<PublishResult>;
}
