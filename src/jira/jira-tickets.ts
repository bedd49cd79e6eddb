import { Version2Client, Version3Client } from 'jira.js';
import { AirlockError } from '../errors.js';
import type { Ticket, Tickets } from '../runs/ports/tickets.js';
import { adfParagraphWithLink, adfToText } from './adf.js';

interface RawComment {
  author?: { displayName?: string };
  body?: unknown;
  created?: string;
}

/**
 * Jira Cloud (REST v3: email + API token, ADF) and Data Center (REST v2: a personal access token
 * as Bearer, wiki text) through jira.js. Failures are wrapped with the service's name.
 */
export class JiraTickets implements Tickets {
  readonly configured = true;
  // One of the two: their method overloads differ, so each call picks its own.
  private readonly v2?: Version2Client;
  private readonly v3?: Version3Client;

  constructor(private readonly opts: { baseUrl: string; email?: string; apiToken?: string; pat?: string }) {
    if (opts.pat) {
      this.v2 = new Version2Client({
        host: opts.baseUrl,
        authentication: { oauth2: { accessToken: opts.pat } },
      });
    } else if (opts.email && opts.apiToken) {
      this.v3 = new Version3Client({
        host: opts.baseUrl,
        authentication: { basic: { email: opts.email, apiToken: opts.apiToken } },
      });
    } else {
      throw new AirlockError(
        'config_invalid',
        'JIRA_BASE_URL is set but no credentials: set JIRA_EMAIL + JIRA_API_TOKEN (Cloud) or JIRA_PAT (Data Center).',
      );
    }
  }

  async fetch(key: string): Promise<Ticket> {
    const params = { issueIdOrKey: key, fields: ['summary', 'description', 'comment', 'status'] };
    const issue: unknown = await this.call(
      `read ${key}`,
      (): Promise<unknown> =>
        this.v3 ? this.v3.issues.getIssue(params) : (this.v2 as Version2Client).issues.getIssue(params),
    );
    const fields = (issue as { fields?: Record<string, unknown> }).fields ?? {};
    const comments = ((fields.comment as { comments?: RawComment[] } | undefined)?.comments ?? []).map(
      (c) => ({
        author: c.author?.displayName ?? 'someone',
        body: adfToText(c.body),
        created: c.created ?? '',
      }),
    );
    return {
      key,
      url: this.urlFor(key),
      summary: String(fields.summary ?? ''),
      description: adfToText(fields.description),
      status: String((fields.status as { name?: string } | undefined)?.name ?? ''),
      comments,
    };
  }

  async commentPullRequest(key: string, pr: { url: string; title: string }, runId: string): Promise<void> {
    const text = `airlock opened a pull request for this ticket (run ${runId}): `;
    await this.call(`comment on ${key}`, () =>
      this.v3
        ? this.v3.issueComments.addComment({
            issueIdOrKey: key,
            comment: adfParagraphWithLink(text, pr.title, pr.url) as never,
          })
        : (this.v2 as Version2Client).issueComments.addComment({
            issueIdOrKey: key,
            comment: `${text}[${pr.title}|${pr.url}]`,
          }),
    );
  }

  async transition(key: string, name: string): Promise<void> {
    const listed = await this.call(`list transitions of ${key}`, () =>
      this.v3
        ? this.v3.issues.getTransitions({ issueIdOrKey: key })
        : (this.v2 as Version2Client).issues.getTransitions({ issueIdOrKey: key }),
    );
    const transitions: Array<{ id?: string; name?: string; to?: { name?: string } }> =
      listed.transitions ?? [];
    const wanted = transitions.find(
      (t) => t.name?.toLowerCase() === name.toLowerCase() || t.to?.name?.toLowerCase() === name.toLowerCase(),
    );
    if (!wanted?.id) {
      const offered = transitions.map((t) => t.name).join(', ') || 'none';
      throw new AirlockError(
        'forge_failed',
        `Jira: ${key} has no transition "${name}" from its status (offered: ${offered}).`,
      );
    }
    const move = { issueIdOrKey: key, transition: { id: wanted.id } };
    await this.call(`move ${key} to ${name}`, () =>
      this.v3 ? this.v3.issues.doTransition(move) : (this.v2 as Version2Client).issues.doTransition(move),
    );
  }

  urlFor(key: string): string {
    return `${this.opts.baseUrl.replace(/\/+$/, '')}/browse/${key}`;
  }

  async check(): Promise<string> {
    const me = await this.call(
      'read the current user',
      (): Promise<{ displayName?: string }> =>
        this.v3 ? this.v3.myself.getCurrentUser() : (this.v2 as Version2Client).myself.getCurrentUser(),
    );
    return `${this.v3 ? 'Cloud' : 'Data Center'}, signed in as ${me.displayName ?? 'unknown'}`;
  }

  async search(jql: string, max: number): Promise<string[]> {
    const keys: string[] = [];
    if (this.v3) {
      let nextPageToken: string | undefined;
      do {
        const page = await this.call('search', () =>
          (this.v3 as Version3Client).issueSearch.searchForIssuesUsingJqlEnhancedSearch({
            jql,
            fields: ['summary'],
            maxResults: 50,
            nextPageToken,
          }),
        );
        keys.push(...(page.issues ?? []).map((i) => String(i.key)));
        nextPageToken = page.nextPageToken ?? undefined;
      } while (nextPageToken && keys.length < max);
    } else {
      let startAt = 0;
      for (;;) {
        const page = await this.call('search', () =>
          (this.v2 as Version2Client).issueSearch.searchForIssuesUsingJql({
            jql,
            fields: ['summary'],
            maxResults: 50,
            startAt,
          }),
        );
        const issues = page.issues ?? [];
        keys.push(...issues.map((i) => String(i.key)));
        startAt += issues.length;
        if (!issues.length || startAt >= (page.total ?? 0) || keys.length >= max) break;
      }
    }
    return keys.slice(0, max);
  }

  private async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      const status =
        (error as { status?: number; response?: { status?: number } }).status ??
        (error as { response?: { status?: number } }).response?.status;
      const hint =
        status === 401
          ? ' Check JIRA_EMAIL/JIRA_API_TOKEN or JIRA_PAT.'
          : status === 404
            ? ' The ticket does not exist or is not visible to airlock.'
            : '';
      throw new AirlockError('forge_failed', `Jira: could not ${what}: ${(error as Error).message}.${hint}`, {
        cause: error,
      });
    }
  }
}
