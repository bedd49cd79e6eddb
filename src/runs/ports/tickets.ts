/** The Tickets port: where a task can come from and where its pull request is reported. */
export interface Ticket {
  key: string;
  url: string;
  summary: string;
  description: string;
  status: string;
  comments: Array<{ author: string; body: string; created: string }>;
}

export interface Tickets {
  readonly configured: boolean;
  fetch(key: string): Promise<Ticket>;
  /** Comments the pull request's link on the ticket. */
  commentPullRequest(key: string, pr: { url: string; title: string }, runId: string): Promise<void>;
  /** Moves the ticket to the status reached by the transition named `name`. */
  transition(key: string, name: string): Promise<void>;
  /** Keys of the tickets a JQL query matches, oldest first (at most `max`). */
  search(jql: string, max: number): Promise<string[]>;
  /** The ticket's web page, for links. */
  urlFor(key: string): string | undefined;
  /** For `airlock doctor`: who airlock is on Jira. */
  check(): Promise<string>;
}
