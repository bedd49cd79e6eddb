import type { DiffStat } from '../diffstat.js';
import type { RunRecord } from './store.js';

/** Commits on a pull request's branch that airlock did not push, from its last approved head. */
export interface UnapprovedCommits {
  /** The newest head airlock pushed below them (or the pull request's own base). */
  from: string;
  to: string;
  diff: Buffer;
}

/** Where a run stands, for a status line: coalesced by the chat adapter, latest wins. */
export interface RunProgress {
  step: number;
  maxSteps: number;
  lastAction?: string;
  lastExitCode?: number | null;
  startedAt: number;
  tokens: number;
  costUsd: number;
}

/** What runs/ tells the people following a run. The Chat port renders it (Slack, or nothing). */
export type RunNotice =
  | { kind: 'accepted'; run: RunRecord; position: number }
  | { kind: 'progress'; run: RunRecord; progress: RunProgress }
  | { kind: 'milestone'; run: RunRecord; text: string }
  | {
      kind: 'awaiting-approval';
      run: RunRecord;
      diff: Buffer;
      stat: DiffStat;
      approvers: string[];
      /** A follow-up's base holds commits nobody approved in airlock: they are shown too. */
      unapproved?: UnapprovedCommits;
    }
  | { kind: 'approved'; run: RunRecord; by: string }
  | { kind: 'changes-requested'; run: RunRecord; by: string }
  | { kind: 'refused'; run: RunRecord; user: string; reason: string }
  /** The agent was refused a host by the egress gateway; approvers may allow it for the run. */
  | { kind: 'egress-refused'; run: RunRecord; target: string; rule: string }
  | { kind: 'finished'; run: RunRecord }
  /** A check failed on a head airlock pushed; `fix` is what a Fix CI button carries (none: no button). */
  | {
      kind: 'check-failed';
      run: RunRecord;
      check: { name: string; url: string; sha: string; log: string };
      fix?: string;
      who: string[];
    }
  /** The pull request the run opened was merged or closed: the conversation ends there. */
  | { kind: 'pr-closed'; run: RunRecord; merged: boolean; by: string | null; url: string };

/**
 * Where in the chat a request was made (a Slack thread), as the chat adapter names it. Opaque to
 * runs/, which only hands it back to the adapter to tie a run to its conversation.
 */
export type ChatOrigin = string;

export interface Chat {
  notify(notice: RunNotice): void;
  /** Ties a run to where it was asked for, before anything is said about it. */
  bind(runId: string, origin: ChatOrigin): void;
  /** Where a run's conversation is, to tie another run (a follow-up) to the same one. */
  originOf(runId: string): ChatOrigin | undefined;
  /** Rewrites the message that opened a conversation (a schedule's parent message). */
  update?(origin: ChatOrigin, text: string): void;
  /** Opens a new conversation (a top-level message) in `channel` that a run will live in. */
  open(channel: string, text: string): Promise<ChatOrigin>;
}
