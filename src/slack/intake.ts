export interface ParsedRequest {
  task: string;
  /** From `repo:owner/name` in the text. */
  repo?: string;
  /** Jira keys or links found in the text. */
  tickets: string[];
  /** `ask …`: a read-only question; `review <PR>`: a review; anything else asks for a change. */
  mode: 'change' | 'ask' | 'review';
  /** The pull request a review names (a link, #N or !N). */
  pr?: number;
}

const REPO_TOKEN = /(?:^|\s)repo:([\w.-]+\/[\w.-]+)(?=\s|$)/i;
const JIRA_KEY = /\b([A-Z][A-Z0-9]+-\d+)\b/g;

/**
 * A mention's text as a request: the bot's own mention removed, `repo:` taken out, Slack's
 * link and entity markup turned back into what the person typed.
 */
export function parseRequest(text: string, botUserId: string): ParsedRequest {
  let task = text.replaceAll(`<@${botUserId}>`, ' ');
  let repo: string | undefined;
  const repoMatch = REPO_TOKEN.exec(task);
  if (repoMatch) {
    repo = repoMatch[1];
    task = task.replace(REPO_TOKEN, ' ');
  }
  task = task
    .replace(/<(https?:\/\/[^|>]+)\|([^>]+)>/g, '$2 ($1)')
    .replace(/<(https?:\/\/[^>]+)>/g, '$1')
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&')
    .replace(/[ \t]+/g, ' ')
    .trim();
  const tickets = [...new Set([...task.matchAll(JIRA_KEY)].map((m) => m[1] as string))];
  const review = /^review\b[\s:,]*/i.exec(task);
  if (review) {
    const rest = task.slice(review[0].length);
    const link = /https?:\/\/[^\s)]+?\/([\w.-]+\/[\w.-]+?)(?:\/-)?\/(?:pull|merge_requests)\/(\d+)/.exec(
      rest,
    );
    const short = /(?:^|\s)[#!](\d+)\b/.exec(rest);
    const pr = Number(link?.[2] ?? short?.[1] ?? Number.NaN);
    if (Number.isInteger(pr) && pr > 0)
      return { task: rest || `review #${pr}`, repo: repo ?? link?.[1], tickets, mode: 'review', pr };
  }
  const ask = /^ask\b[\s:,]*/i.exec(task);
  if (ask && task.length > ask[0].length)
    return { task: task.slice(ask[0].length), repo, tickets, mode: 'ask' };
  return { task, repo, tickets, mode: 'change' };
}

export const HELP_TEXT =
  'Tell me what to do, e.g. `@airlock repo:acme/widgets fix the flaky date test`. ' +
  'I work in a sandbox and show you the diff; nothing is pushed until an approver approves it.';
