import type { Policy } from '../config/policy.js';
import { messageOf } from '../errors.js';
import type { Tickets } from './ports/tickets.js';

export interface TicketResult {
  ticket: string;
  action: string;
  /** Set when Jira refused or failed; the PR is open regardless. */
  error?: string;
}

/**
 * Comments the PR on the ticket and moves it (jira.on_pr). A Jira failure never loses the PR:
 * each step's outcome comes back for the audit log, the thread and the terminal.
 */
export async function reportToTicket(
  tickets: Tickets,
  policy: Policy,
  key: string,
  runId: string,
  pr: { url: string; title: string },
): Promise<TicketResult[]> {
  const onPr = policy.jira?.on_pr ?? { comment: true };
  const steps: Array<[string, () => Promise<void>]> = [];
  if (onPr.comment) steps.push(['comment', () => tickets.commentPullRequest(key, pr, runId)]);
  const transition = onPr.transition;
  if (transition) steps.push([`transition to ${transition}`, () => tickets.transition(key, transition)]);
  const results: TicketResult[] = [];
  for (const [action, step] of steps) {
    try {
      await step();
      results.push({ ticket: key, action });
    } catch (error) {
      results.push({ ticket: key, action, error: messageOf(error) });
    }
  }
  return results;
}
