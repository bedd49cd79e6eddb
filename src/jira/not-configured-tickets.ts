import { AirlockError } from '../errors.js';
import type { Tickets } from '../runs/ports/tickets.js';

const WHY =
  'Jira is not configured for airlock: set JIRA_BASE_URL and JIRA_EMAIL + JIRA_API_TOKEN (Cloud) or JIRA_PAT (Data Center).';

/** A null object (Atlantis' NotConfiguredVCSClient): every use says what to set. */
export class NotConfiguredTickets implements Tickets {
  readonly configured = false;

  async fetch(): Promise<never> {
    throw new AirlockError('config_invalid', WHY);
  }

  async commentPullRequest(): Promise<void> {}

  async transition(): Promise<void> {}

  urlFor(): undefined {
    return undefined;
  }

  async check(): Promise<string> {
    return 'not configured (only needed for tickets)';
  }

  async search(): Promise<never> {
    throw new AirlockError('config_invalid', WHY);
  }
}

export const JIRA_NOT_CONFIGURED = WHY;
