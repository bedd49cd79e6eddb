import type { RunState } from './run-state.js';

/**
 * Every audit event airlock writes, with its data typed. The log is the record of what happened;
 * nothing reads it back to learn a run's working state (that lives in the run's columns).
 */
export type TransitionType = `run.${Exclude<RunState, 'requested'>}`;

/** What every state change records; the store adds `from` and `to` in the same transaction. */
export interface TransitionData {
  from: RunState;
  to: RunState;
  by?: string;
  reason?: string;
  feedback?: string;
  diff_sha256?: string | null;
  diffstat?: string;
  /** The process that was gone when reconciliation ended or resumed the run. */
  owner?: string;
}

/** One connection through the egress gateway (DESIGN.md §4), as the audit log keeps it. */
export interface EgressEventData {
  host: string;
  port: number;
  phase: string;
  method: string;
  rule?: string;
  reason?: string;
  bytes_sent: number;
  bytes_received: number;
  duration_ms: number;
  error?: string;
  /** Recorded under '-': the sandbox that was not a run's (a prepared one), or null. */
  sandbox?: string | null;
}

type Transition<T extends string, D = object> = { type: T; data: TransitionData & D };

export type RunEvent =
  | {
      type: 'run.requested';
      data: {
        repo: string;
        task: string;
        requester: string;
        source: string;
        base_ref: string;
        ticket: string | null;
        pull_request?: number;
        mode?: string;
      };
    }
  // What happened on a pull request airlock follows, recorded under the run that opened it.
  | {
      type: 'pr.comment';
      data: { number: number; comment_id: string; author: string; person: string | null; action: string };
    }
  | { type: 'pr.review'; data: { number: number; review_id: string; author: string; state: string } }
  | { type: 'pr.head'; data: { number: number; sha: string; approved: boolean } }
  | { type: 'pr.status'; data: { number: number; sha: string; state: string; error?: string } }
  | {
      type: 'pr.check_failed';
      data: { number: number; check_id: string; name: string; sha: string; url: string; log: string };
    }
  | {
      type: 'pr.fix_requested';
      data: { number: number; check_id: string; by: string; run_id: string | null };
    }
  | { type: 'pr.closed'; data: { number: number; merged: boolean; by: string | null } }
  | {
      type: 'pr.unapproved_shown';
      // Not from/to: those name a state transition in the audit chain.
      data: { number: number; approved_head: string; head: string; bytes: number; sha256: string };
    }
  | { type: 'pr.replied'; data: { number: number; login: string; error?: string } }
  | {
      type: 'review.requested';
      data: { number: number; head_sha: string; base_sha: string; diff_sha256: string | null; url: string };
    }
  | {
      type: 'review.submitted';
      data: { summary: string; comments: Array<{ path: string; line: number; body: string }> };
    }
  | { type: 'review.posted'; data: { number: number; url: string | null; comments: number } }
  | { type: 'review.post_failed'; data: { number: number; error: string } }
  | { type: 'replay.started'; data: { sandbox: string; calls: number } }
  | {
      type: 'replay.finished';
      data: { diff_sha256: string | null; matches: boolean; calls: number; diverged_at_step: number | null };
    }
  | { type: 'replay.failed'; data: { error: string } }
  | Transition<TransitionType>
  | Transition<
      'approval.granted',
      { by: string; diff_sha256: string; approved_at: string; headless: boolean }
    >
  | Transition<
      'push.done',
      {
        branch: string;
        commit: string;
        already_pushed: boolean;
        pr_url: string | null;
        pr_created: boolean | null;
      }
    >
  | Transition<'push.failed', { error: string; retryable: true }>
  | Transition<'push.retried', { by: string }>
  | { type: 'base.fixed'; data: { base_ref: string; base_sha: string } }
  | { type: 'sandbox.ready'; data: { snapshot_commit: string; workdir: string } }
  | { type: 'sandbox.claimed'; data: { prepared_id: string; base_sha: string; snapshot_commit: string } }
  | { type: 'sandbox.rebuilt'; data: { reason: string; snapshot_commit: string; diff_sha256: string | null } }
  | { type: 'setup.finished'; data: { command: string; exit_code: number | null; output_tail: string } }
  | { type: 'agent.stopped'; data: { kind: string; reason?: string } }
  | { type: 'diff.captured'; data: { sha256: string; bytes: number } }
  | { type: 'diff.taken'; data: { bytes: number; sha256: string | null } }
  | { type: 'approval.refused'; data: { by: string; diff_sha256: string; reason: string } }
  | { type: 'action.refused'; data: { by: string; action: string; reason: string } }
  | { type: 'cancel.requested'; data: { by: string } }
  | { type: 'instruction.received'; data: { by: string; text: string } }
  | { type: 'ticket.updated'; data: { ticket: string; action: string } }
  | { type: 'ticket.failed'; data: { ticket: string; action: string; error: string } }
  | { type: 'owner.adopted'; data: { owner: string; previous: string | null } }
  | { type: 'feedback.delivered'; data: Record<string, never> }
  | { type: 'egress.allowed'; data: EgressEventData }
  | { type: 'egress.refused'; data: EgressEventData }
  | { type: 'egress.granted'; data: { target: string; by: string } }
  | {
      type: 'instructions.loaded';
      data: {
        operator_chars: number;
        repository: { path: string; bytes: number; truncated: boolean; sha256: string } | null;
      };
    }
  | {
      type: 'model.turn';
      data: {
        turn_id: number;
        step: number;
        model: string;
        request_sha256: string;
        response_sha256: string;
        input_tokens: number;
        output_tokens: number;
        cache_read_tokens: number;
        cache_write_tokens: number;
        cost_usd: number;
      };
    }
  | {
      type: 'tool.call';
      data: {
        call_id: number;
        step: number;
        name: string;
        input_sha256: string;
        output_sha256: string;
        exit_code: number | null;
        is_error: boolean;
        duration_ms: number;
      };
    };

export type RunEventType = RunEvent['type'];

/** A transition's event without the `from`/`to` the store fills in. */
export type TransitionEvent = RunEvent extends infer E
  ? E extends { type: infer T; data: infer D }
    ? D extends TransitionData
      ? { type: T; data: Omit<D, 'from' | 'to'> }
      : never
    : never
  : never;
