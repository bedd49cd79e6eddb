import type { RunState } from '../run-state.js';

/** The Store port: what runs/ needs from persistence. */
export interface RunRecord {
  id: string;
  repo: string;
  task: string;
  requester: string;
  source: 'cli' | 'slack' | 'jira';
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
  createdAt: string;
  updatedAt: string;
}

export type NewRun = Pick<RunRecord, 'id' | 'repo' | 'task' | 'requester' | 'source' | 'baseRef'> & {
  ticketKey?: string;
  /** A unique key of what asked for the run (a Slack event id); a repeat returns the first run. */
  intakeKey?: string;
};

export interface RunThread {
  channel: string;
  threadTs: string;
  statusTs: string | null;
  approvalTs: string | null;
}

export type RunFields = Partial<
  Pick<
    RunRecord,
    'baseSha' | 'snapshotCommit' | 'diffSha256' | 'summary' | 'branch' | 'prUrl' | 'outcome' | 'error'
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

export interface Store {
  /** Creates the run, or returns the run already made for the same intakeKey (created: false). */
  createRun(run: NewRun, data?: Record<string, unknown>): RunRecord & { created?: boolean };
  setThread(runId: string, thread: Pick<RunThread, 'channel' | 'threadTs'>): void;
  updateThread(runId: string, fields: Partial<Pick<RunThread, 'statusTs' | 'approvalTs'>>): void;
  thread(runId: string): RunThread | undefined;
  /** The newest run started in a thread. */
  runInThread(channel: string, threadTs: string): RunRecord | undefined;
  /** The run a given intake key (event id, ticket) already made, if any. */
  runByIntakeKey(key: string): RunRecord | undefined;
  getRun(id: string): RunRecord | undefined;
  listRuns(opts?: { limit?: number; states?: RunState[] }): RunRecord[];
  /**
   * Moves a run to `to` and appends the event, in one transaction, only if the run is still in
   * one of `from`. Returns undefined (and writes nothing) if another actor moved it first.
   */
  transition(
    id: string,
    from: readonly RunState[],
    to: RunState,
    event: { type?: string; data?: Record<string, unknown>; fields?: RunFields; durable?: boolean },
  ): RunRecord | undefined;
  updateRun(
    id: string,
    fields: RunFields,
    event: { type: string; data?: Record<string, unknown> },
  ): RunRecord;
  appendEvent(
    runId: string,
    type: string,
    data?: Record<string, unknown>,
    opts?: { durable?: boolean },
  ): AuditEvent;
  events(runId: string): AuditEvent[];
  recordModelTurn(turn: ModelTurnRecord): void;
  modelTurns(runId: string): Array<ModelTurnRecord & { at: string }>;
  recordToolCall(call: ToolCallRecord): void;
  toolCalls(runId: string): Array<ToolCallRecord & { at: string }>;
  totals(runId: string): RunTotals;
  saveDiff(runId: string, diff: Buffer): string;
  diff(runId: string, sha256: string): Buffer | undefined;
  verifyAudit(): AuditReport;
  /** Whether the database takes writes now (takes and drops the write lock; writes nothing). */
  writable(): boolean;
  countByState(): Record<string, number>;
  close(): void;
}
