import type { Policy } from '../config/policy.js';
import type { Logger } from '../log/logger.js';
import type { Redactor } from '../log/redactor.js';
import type { Egress } from './ports/egress.js';
import type { Publisher } from './ports/forge.js';
import type { ModelClient } from './ports/model.js';
import type { ForgeConversation, PullRequestStore } from './ports/pull-requests.js';
import type { RepositorySource } from './ports/repositories.js';
import type { SandboxProvider } from './ports/sandbox.js';
import type { Store } from './ports/store.js';
import type { Tickets } from './ports/tickets.js';

/** Everything a run needs, built once in the composition root and handed down. */
export interface RunPorts {
  store: Store;
  policy: Policy;
  repos: RepositorySource;
  sandboxes: SandboxProvider;
  /** The egress gateway's controls; without one, sandboxes have no way out at all. */
  egress?: Egress;
  publisher: Publisher;
  /** The pull requests airlock opened and follows; without it nothing is followed. */
  pullRequests?: PullRequestStore;
  /** The forge's pull-request conversation for a repository (statuses, replies), if it has one. */
  conversationFor?: (repo: string) => ForgeConversation | undefined;
  tickets: Tickets;
  /** Built on first use, so read-only commands need no model credentials. */
  model: () => ModelClient;
  logger: Logger;
  redactor: Redactor;
  now?: () => number;
}
