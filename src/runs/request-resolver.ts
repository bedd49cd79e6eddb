import type { Policy } from '../config/policy.js';
import { AirlockError, messageOf } from '../errors.js';
import type { Ticket, Tickets } from './ports/tickets.js';
import { projectOf, ticketKeys } from './ticket-ref.js';

/** What any intake knows when someone asks for a run: a mention, a command line, a Jira watch hit. */
export interface Intake {
  /** What the person wrote (may hold ticket keys or links). */
  text?: string;
  /** A repository named explicitly (`repo:` in Slack, `--repo`). */
  repo?: string;
  /** A ticket named explicitly (`--jira`, a watch hit): it must be read, or the request is refused. */
  ticket?: string;
  /** Where the request was made, for the channel's default repository. */
  channel?: string;
}

export interface ResolvedRequest {
  repo: string;
  task: string;
  ticketKey?: string;
}

export type Resolution =
  | { ok: true; request: ResolvedRequest; notes: string[] }
  | {
      ok: false;
      reason: string;
      /** `repo`: the intake may ask the person to pick one; `usage`: the input is wrong. */
      kind: 'repo' | 'usage' | 'ticket';
      /** A ticket-based task that only lacks a repository, for a picker. */
      task?: string;
    };

/** Drops the ticket's own key and links from what the person wrote: what is left is extra instruction. */
function extraText(text: string, key: string): string {
  return text
    .replace(/\(?https?:\/\/[^\s)]+\)?/g, ' ')
    .replaceAll(key, ' ')
    .replace(/^[\s:,-]+/, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** The agent's task, built from a ticket: summary, description, the newest comments. */
export function taskFromTicket(ticket: Ticket, extra?: string): string {
  const comments = ticket.comments
    .slice(-5)
    .map((c) => `- ${c.author} (${c.created.slice(0, 10)}): ${c.body.trim()}`);
  return [
    `Jira ticket ${ticket.key}: ${ticket.summary}`,
    ticket.url,
    '',
    ticket.description.trim() || '(no description)',
    ...(comments.length ? ['', 'Recent comments:', ...comments] : []),
    ...(extra?.trim() ? ['', `Also: ${extra.trim()}`] : []),
  ].join('\n');
}

/**
 * The one place that turns any intake into a run request (repository, task, ticket) or a refusal
 * with its reason. Intakes differ only in how they say the answer.
 */
export class RequestResolver {
  constructor(
    private readonly policy: Policy,
    private readonly tickets: Tickets,
  ) {}

  async resolve(intake: Intake): Promise<Resolution> {
    const notes: string[] = [];
    const configured = Object.keys(this.policy.repos);
    if (intake.repo && !this.policy.repos[intake.repo])
      return {
        ok: false,
        kind: 'usage',
        reason: `Repository ${intake.repo} is not configured. Configured: ${configured.join(', ')}.`,
      };
    let task = (intake.text ?? '').trim();
    let ticketKey: string | undefined;
    let ticketRepo: string | undefined;

    const explicit = intake.ticket !== undefined;
    const keys = explicit ? ticketKeys(intake.ticket ?? '') : ticketKeys(task);
    if (explicit && !keys[0])
      return {
        ok: false,
        kind: 'usage',
        reason: `--jira takes a ticket key or link (WID-7, …/browse/WID-7); got "${intake.ticket}".`,
      };
    const key = keys[0];
    if (key && !explicit && !this.tickets.configured) {
      notes.push(
        `I saw ${keys.join(', ')}, but Jira is not configured for airlock (JIRA_BASE_URL), so I'll work from your message alone.`,
      );
    } else if (key) {
      let ticket: Ticket;
      try {
        ticket = await this.tickets.fetch(key);
      } catch (error) {
        return {
          ok: false,
          kind: 'ticket',
          reason: `I could not read ${key}: ${messageOf(error)}`,
        };
      }
      task = taskFromTicket(ticket, extraText(task, key));
      ticketKey = key;
      ticketRepo = this.policy.jira?.projects[projectOf(key)];
    }
    if (!task)
      return {
        ok: false,
        kind: 'usage',
        reason: 'What should the agent do? Give a task (or a Jira ticket).',
      };

    const repo =
      intake.repo ??
      ticketRepo ??
      (intake.channel ? this.policy.channels[intake.channel]?.repo : undefined) ??
      (configured.length === 1 ? configured[0] : undefined);
    if (!repo) {
      const why = ticketKey
        ? `No repository for Jira project ${projectOf(ticketKey)}: name one (--repo, or repo: in Slack), or map it under jira.projects in airlock.yaml.`
        : `Which repository? Configured: ${configured.join(', ')}.`;
      return { ok: false, kind: 'repo', reason: why, task };
    }
    return { ok: true, request: { repo, task, ticketKey }, notes };
  }
}

/** For intakes that cannot ask back (the command line): a refusal as a usage error. */
export function resolvedOrThrow(resolution: Resolution): ResolvedRequest {
  if (resolution.ok) return resolution.request;
  throw new AirlockError(resolution.kind === 'ticket' ? 'config_invalid' : 'usage', resolution.reason);
}
