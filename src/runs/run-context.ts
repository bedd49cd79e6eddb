import type { ModelClient } from '../agent/model-client.js';
import type { Policy } from '../config/policy.js';
import type { Publisher } from '../forge/forge.js';
import type { Logger } from '../log/logger.js';
import type { Redactor } from '../log/redactor.js';
import type { RepositorySource } from '../repos/repository-source.js';
import type { SandboxProvider } from '../sandbox/sandbox.js';
import type { Store } from '../store/store.js';
import type { Tickets } from './tickets.js';

/** Everything a run needs, built once in the composition root and handed down. */
export interface RunPorts {
  store: Store;
  policy: Policy;
  repos: RepositorySource;
  sandboxes: SandboxProvider;
  publisher: Publisher;
  tickets: Tickets;
  /** Built on first use, so read-only commands need no model credentials. */
  model: () => ModelClient;
  logger: Logger;
  redactor: Redactor;
  now?: () => number;
}
