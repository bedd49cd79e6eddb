import type { Policy } from '../config/policy.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Chat } from './ports/chat.js';
import type { Store } from './ports/store.js';
import { type Tickets, taskFromTicket } from './ports/tickets.js';
import type { RunService } from './run-service.js';
import { projectOf } from './ticket-ref.js';

/**
 * jira.watch: polls a JQL query (outbound only) and starts a run for each new matching ticket,
 * in a thread of its own in the configured channel. The ticket key is the run's intake key, so
 * a ticket is never picked twice, across restarts too.
 */
export class JiraWatch {
  constructor(
    private readonly deps: {
      tickets: Tickets;
      runs: RunService;
      chat: Chat;
      store: Store;
      policy: Policy;
      logger: Logger;
    },
  ) {}

  /** One poll; returns the keys it started runs for. */
  async poll(): Promise<string[]> {
    const watch = this.deps.policy.jira?.watch;
    if (!watch) return [];
    const started: string[] = [];
    let keys: string[];
    try {
      keys = await this.deps.tickets.search(watch.jql, 50);
    } catch (error) {
      this.deps.logger.warn({ err: messageOf(error) }, 'jira watch: search failed');
      return [];
    }
    for (const key of keys) {
      const intakeKey = `jira:${key}`;
      if (this.deps.store.runByIntakeKey(intakeKey)) continue;
      const repo = this.deps.policy.jira?.projects[projectOf(key)];
      if (!repo) {
        this.deps.logger.warn(
          { ticket: key },
          'jira watch: no repository mapped for this project (jira.projects)',
        );
        continue;
      }
      try {
        const ticket = await this.deps.tickets.fetch(key);
        const thread = await this.deps.chat.startThread(
          watch.channel,
          `:ticket: Picked up <${ticket.url}|${key}>: ${ticket.summary} (repository \`${repo}\`).`,
        );
        const { decision } = this.deps.runs.submit({
          repo,
          task: taskFromTicket(ticket),
          requester: { id: 'jira:watch' },
          source: 'jira',
          thread,
          intakeKey,
          ticketKey: key,
          trusted: true,
        });
        if (decision.allowed) started.push(key);
      } catch (error) {
        this.deps.logger.warn({ ticket: key, err: messageOf(error) }, 'jira watch: could not start a run');
      }
    }
    return started;
  }
}
