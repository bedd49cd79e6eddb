import type { RunEvent, TransitionEvent } from '../run-events.js';
import type { RunState } from '../run-state.js';

/** The Store port: what runs/ needs from persistence. */
export type RunMode = 'change' | 'ask' | 'review';

/** Ask and review runs change nothing: the agent's commands see the workspace read-only. */
export function readOnlyMode(mode: RunMode | undefined): boolean {
  return mode === 'ask' || mode === 'review';
}

export interface RunRecord {
  id: string;
  repo: string;
  task: string;
  requester: string;
  source: 'cli' | 'slack' | 'jira' | 'forge' | 'schedule';
  state: RunState;
  baseRef: string;
  baseSha: string | null;
  snapshotCommit: string | null;
  diffSha256: string | null;
  summary: string | null;
  branch: string | null;
  prUrl: string | null;
  /** How a run in `done` ended: pushed, patch (diff handed out, nothing pushed), no_changes. */
  outcome: string | null;
  error: string | null;
  /** The Jira ticket the run came from, if any. */
  ticketKey: string | null;
  /** A follow-up on a pull request airlock opened: it pushes one more commit to that branch. */
  prNumber: number | null;
  /** change: a diff behind the approval gate; ask: a read-only answer. */
  mode: RunMode;
  /** Who approved the diff that is being (or was) pushed, and when (the commit's time). */
  approvedBy: string | null;
  approvedAt: string | null;
  /** When the current approval request was posted; the approval TTL counts from here. */
  awaitingSince: string | null;
  /** A person's feedback that the next work session starts with (Request changes). */
  pendingFeedback: string | null;
  /** When the current work session began: the run's time and spend budgets count from here. */
  sessionStartedAt: string | null;
  /** A failed push that `retry` can finish with the same approved bytes. */
  retryable: boolean;
  /** The process that moves this run (an owners row); null once the run is terminal. */
  ownerId: string | null;
  createdAt: string;
  updatedAt: string;
}

export type NewRun = Pick<RunRecord, 'id' | 'repo' | 'task' | 'requester' | 'source' | 'baseRef'> & {
  ticketKey?: string;
  /** A follow-up: the pull request, whose branch (baseRef) it pushes to. */
  prNumber?: number;
  mode?: RunMode;
  /** A unique key of what asked for the run (a Slack event id); a repeat returns the first run. */
  intakeKey?: string;
};

export type RunFields = Partial<
  Pick<
    RunRecord,
    | 'baseSha'
    | 'snapshotCommit'
    | 'diffSha256'
    | 'summary'
    | 'branch'
    | 'prUrl'
    | 'outcome'
    | 'error'
    | 'approvedBy'
    | 'approvedAt'
    | 'awaitingSince'
    | 'pendingFeedback'
    | 'sessionStartedAt'
    | 'retryable'
    | 'ownerId'
  >
>;

export interface AuditEvent {
  seq: number;
  runId: string;
  type: string;
  at: string;
  data: Record<string, unknown>;
  prevHash: string;
  hash: string;
}

export interface ModelTurnRecord {
  runId: string;
  step: number;
  model: string;
  /** What this turn added to the conversation (the messages sent since the previous turn). */
  request: unknown;
  response: unknown;
  usage: { inputTokens: number; outputTokens: number; cacheReadTokens: number; cacheWriteTokens: number };
  costUsd: number;
}

export interface ToolCallRecord {
  runId: string;
  step: number;
  toolUseId: string;
  name: string;
  input: unknown;
  output: string;
  exitCode: number | null;
  isError: boolean;
  durationMs: number;
}

export interface RunTotals {
  steps: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

export interface AuditReport {
  ok: boolean;
  checked: number;
  head: string | null;
  problems: string[];
}

/** A process that owns runs: it holds a heartbeat lease (DESIGN.md §2, Ownership). */
export interface OwnerRecord {
  id: string;
  host: string;
  pid: number;
  /** The process's start time as the OS reports it, so a reused pid is not taken for the owner. */
  startToken: string | null;
  /** `serve`, `run`, or another command's name. */
  kind: string;
  startedAt: string;
  /** Epoch milliseconds until which the owner counts as alive without a heartbeat. */
  leaseUntil: number;
}

export interface TransitionChange {
  from: readonly RunState[];
  to: RunState;
  /** Checked inside the transaction against the run as it is now; a reason refuses the change. */
  check?: (run: RunRecord) => string | undefined;
  /** The event to record; by default `run.<to>`. The store adds `from` and `to`. */
  event?: TransitionEvent;
  fields?: RunFields;
  /** Committed with synchronous=FULL: approvals and pushes. */
  durable?: boolean;
}

/** A refusal says why: the run was in another state (no reason), or `check` said no. */
export type TransitionResult = { ok: true; run: RunRecord } | { ok: false; run: RunRecord; reason?: string };

export interface Store {
  /** Creates the run, or returns the run already made for the same intakeKey (created: false). */
  createRun(run: NewRun & { ownerId: string | null }): RunRecord & { created: boolean };
  /** The run a given intake key (event id, ticket) already made, if any. */
  runByIntakeKey(key: string): RunRecord | undefined;
  getRun(id: string): RunRecord | undefined;
  listRuns(opts?: { limit?: number; states?: readonly RunState[] }): RunRecord[];
  /**
   * Moves a run and appends its event in one transaction, only if the run is still in one of
   * `from` and `check` passes. Only the run lifecycle calls this.
   */
  transition(id: string, change: TransitionChange): TransitionResult;
  /** Sets fields that are not the state (base commit, snapshot, diff), with their event. */
  updateRun(id: string, fields: RunFields, event: RunEvent): RunRecord;
  appendEvent(runId: string, event: RunEvent, opts?: { durable?: boolean }): AuditEvent;
  events(runId: string): AuditEvent[];
  recordModelTurn(turn: ModelTurnRecord): void;
  modelTurns(runId: string): Array<ModelTurnRecord & { at: string }>;
  recordToolCall(call: ToolCallRecord): void;
  toolCalls(runId: string): Array<ToolCallRecord & { at: string }>;
  totals(runId: string): RunTotals;
  /** Steps, tokens and cost of the model turns since `since` (an ISO time). */
  spendSince(runId: string, since: string): { steps: number; tokens: number; costUsd: number };
  saveDiff(runId: string, diff: Buffer): string;
  diff(runId: string, sha256: string): Buffer | undefined;
  /**
   * Registers a process as an owner. `conflict` sees the other owners inside the same
   * transaction and may name one that forbids this registration (a live `serve`).
   */
  registerOwner(
    owner: OwnerRecord,
    conflict?: (others: OwnerRecord[]) => OwnerRecord | undefined,
  ): { ok: true } | { ok: false; holder: OwnerRecord };
  /** Extends the lease; false when the row is gone (another process reconciled it). */
  heartbeat(ownerId: string, leaseUntil: number): boolean;
  releaseOwner(ownerId: string): void;
  owners(): OwnerRecord[];
  /** Gives a run to a new owner if it still has `previous`; records owner.adopted. */
  adoptRun(runId: string, previous: string | null, owner: string): RunRecord | undefined;
  verifyAudit(): AuditReport;
  /**
   * Why the run's row disagrees with its own events (state, requester, approver, diff hash) or
   * their hashes, or undefined when it agrees. The approval path refuses a run that disagrees.
   */
  runAgreesWithChain(runId: string): string | undefined;
  /** Whether the database takes writes now (takes and drops the write lock; writes nothing). */
  writable(): boolean;
  countByState(): Record<string, number>;
  close(): void;
}
