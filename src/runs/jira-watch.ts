import type { Policy } from '../config/policy.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Chat } from './ports/chat.js';
import type { Store } from './ports/store.js';
import type { Tickets } from './ports/tickets.js';
import type { RequestResolver } from './request-resolver.js';
import type { RunService } from './run-service.js';

/**
 * jira.watch: polls a JQL query (outbound only) and starts a run for each new matching ticket,
 * in a conversation of its own in the configured channel. The ticket key is the run's intake
 * key, so a ticket is never picked twice, across restarts too.
 */
export class JiraWatch {
  constructor(
    private readonly deps: {
      tickets: Tickets;
      resolver: RequestResolver;
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
      try {
        const resolved = await this.deps.resolver.resolve({ ticket: key });
        if (!resolved.ok) {
          this.deps.logger.warn({ ticket: key, reason: resolved.reason }, 'jira watch: not started');
          continue;
        }
        const { repo, task } = resolved.request;
        const title = task.split('\n')[0]?.replace(`Jira ticket ${key}: `, '') ?? key;
        const url = this.deps.tickets.urlFor(key);
        const origin = await this.deps.chat.open(
          watch.channel,
          `:ticket: Picked up ${url ? `<${url}|${key}>` : key}: ${title} (repository \`${repo}\`).`,
        );
        const requested = this.deps.runs.submit({
          ...resolved.request,
          requester: { id: 'jira:watch' },
          source: 'jira',
          origin,
          intakeKey,
          trusted: true,
        });
        if (requested.allowed) started.push(key);
      } catch (error) {
        this.deps.logger.warn({ ticket: key, err: messageOf(error) }, 'jira watch: could not start a run');
      }
    }
    return started;
  }
}
