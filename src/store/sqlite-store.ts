import { AirlockError } from '../errors.js';
import type {
  AuditEvent,
  AuditReport,
  ModelTurnRecord,
  NewRun,
  OwnerRecord,
  RunFields,
  RunRecord,
  RunTotals,
  Store,
  ToolCallRecord,
  TransitionChange,
  TransitionResult,
} from '../runs/ports/store.js';
import type { RunEvent } from '../runs/run-events.js';
import type { RunState } from '../runs/run-state.js';
import { canTransition, isTerminal } from '../runs/run-state.js';
import { type ChainPoint, eventHash, GENESIS_HASH, schemeFor, sha256Hex } from './audit-chain.js';
import { disagreement, replayRuns } from './audit-replay.js';
import { type Db, durably } from './database.js';
import { type AuditVerification, runColumns, verifyAuditChain } from './verify-audit.js';

/** How the store keys and anchors the audit chain (DESIGN.md §7, AIRLOCK_AUDIT_KEY, checkpoints). */
export interface StoreAuditOptions {
  /** AIRLOCK_AUDIT_KEY: every new event's link is HMAC-SHA-256 with it; without it, plain SHA-256. */
  auditKey?: string;
  /**
   * Called right after a durable write (an approval, a push, a refusal) commits, with the new
   * head of the chain and the event's type: the hook for `audit checkpoint SEQ:HASH`. Its errors
   * are swallowed; the write has already happened.
   */
  onCheckpoint?: (seq: number, hash: string, reason: string) => void;
}

const FIELD_COLUMNS: Record<keyof RunFields, string> = {
  baseSha: 'base_sha',
  snapshotCommit: 'snapshot_commit',
  diffSha256: 'diff_sha256',
  summary: 'summary',
  branch: 'branch',
  prUrl: 'pr_url',
  outcome: 'outcome',
  error: 'error',
  approvedBy: 'approved_by',
  approvedAt: 'approved_at',
  awaitingSince: 'awaiting_since',
  pendingFeedback: 'pending_feedback',
  sessionStartedAt: 'session_started_at',
  retryable: 'retryable',
  ownerId: 'owner_id',
};

type Row = Record<string, unknown>;

function toRun(row: Row): RunRecord {
  return {
    id: row.id as string,
    repo: row.repo as string,
    task: row.task as string,
    requester: row.requester as string,
    source: row.source as RunRecord['source'],
    state: row.state as RunState,
    baseRef: row.base_ref as string,
    baseSha: (row.base_sha as string) ?? null,
    snapshotCommit: (row.snapshot_commit as string) ?? null,
    diffSha256: (row.diff_sha256 as string) ?? null,
    summary: (row.summary as string) ?? null,
    branch: (row.branch as string) ?? null,
    prUrl: (row.pr_url as string) ?? null,
    outcome: (row.outcome as string) ?? null,
    error: (row.error as string) ?? null,
    ticketKey: (row.ticket_key as string) ?? null,
    prNumber: (row.pr_number as number) ?? null,
    mode: ((row.mode as string) ?? 'change') as RunRecord['mode'],
    approvedBy: (row.approved_by as string) ?? null,
    approvedAt: (row.approved_at as string) ?? null,
    awaitingSince: (row.awaiting_since as string) ?? null,
    pendingFeedback: (row.pending_feedback as string) ?? null,
    sessionStartedAt: (row.session_started_at as string) ?? null,
    retryable: row.retryable === 1,
    ownerId: (row.owner_id as string) ?? null,
    createdAt: row.created_at as string,
    updatedAt: row.updated_at as string,
  };
}

function toOwner(row: Row): OwnerRecord {
  return {
    id: row.id as string,
    host: row.host as string,
    pid: row.pid as number,
    startToken: (row.start_token as string) ?? null,
    kind: row.kind as string,
    startedAt: row.started_at as string,
    leaseUntil: row.lease_until as number,
  };
}

function toEvent(row: Row): AuditEvent {
  return {
    seq: row.seq as number,
    runId: row.run_id as string,
    type: row.type as string,
    at: row.at as string,
    data: JSON.parse(row.data as string),
    prevHash: row.prev_hash as string,
    hash: row.hash as string,
  };
}

export class SqliteStore implements Store {
  private readonly auditKey: string | undefined;
  private readonly onCheckpoint: StoreAuditOptions['onCheckpoint'];
  /** The first keyed event after plain ones, to checkpoint once its transaction committed. */
  private keyedAt: ChainPoint | undefined;

  constructor(
    private readonly db: Db,
    private readonly now: () => Date = () => new Date(),
    audit: StoreAuditOptions = {},
  ) {
    this.auditKey = audit.auditKey;
    this.onCheckpoint = audit.onCheckpoint;
  }

  createRun(run: NewRun & { ownerId: string | null }): RunRecord & { created: boolean } {
    const at = this.now().toISOString();
    return this.db.transaction(() => {
      if (run.intakeKey) {
        const seen = this.db.prepare('SELECT id FROM runs WHERE intake_key = ?').get(run.intakeKey) as
          | Row
          | undefined;
        if (seen) return { ...this.mustGetRun(seen.id as string), created: false };
      }
      this.db
        .prepare(
          `INSERT INTO runs (id, repo, task, requester, source, state, base_ref, intake_key, ticket_key, pr_number, mode, owner_id, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, 'requested', ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          run.id,
          run.repo,
          run.task,
          run.requester,
          run.source,
          run.baseRef,
          run.intakeKey ?? null,
          run.ticketKey ?? null,
          run.prNumber ?? null,
          run.mode ?? 'change',
          run.ownerId,
          at,
          at,
        );
      this.appendEventRow(run.id, {
        type: 'run.requested',
        data: {
          repo: run.repo,
          task: run.task,
          requester: run.requester,
          source: run.source,
          base_ref: run.baseRef,
          ticket: run.ticketKey ?? null,
          // Recorded only for follow-ups, so the chain of every other run reads as before.
          ...(run.prNumber ? { pull_request: run.prNumber } : {}),
          ...(run.mode && run.mode !== 'change' ? { mode: run.mode } : {}),
        },
      });
      return { ...this.mustGetRun(run.id), created: true };
    })();
  }

  runByIntakeKey(key: string): RunRecord | undefined {
    const row = this.db.prepare('SELECT * FROM runs WHERE intake_key = ?').get(key) as Row | undefined;
    return row ? toRun(row) : undefined;
  }

  getRun(id: string): RunRecord | undefined {
    const row = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as Row | undefined;
    return row ? toRun(row) : undefined;
  }

  listRuns(opts: { limit?: number; states?: readonly RunState[] } = {}): RunRecord[] {
    const states = opts.states ?? [];
    const where = states.length ? `WHERE state IN (${states.map(() => '?').join(',')})` : '';
    const rows = this.db
      .prepare(`SELECT * FROM runs ${where} ORDER BY created_at DESC, id DESC LIMIT ?`)
      .all(...states, opts.limit ?? 50) as Row[];
    return rows.map(toRun);
  }

  transition(id: string, change: TransitionChange): TransitionResult {
    let appended: AuditEvent | undefined;
    const apply = (): TransitionResult => {
      const current = this.mustGetRun(id);
      if (!change.from.includes(current.state)) return { ok: false, run: current };
      const reason = change.check?.(current);
      if (reason) return { ok: false, run: current, reason };
      if (!canTransition(current.state, change.to)) {
        throw new AirlockError(
          'store_failed',
          `Run ${id}: ${current.state} → ${change.to} is not a valid transition`,
        );
      }
      // A terminal run has no owner: nothing is left to move it.
      const fields = isTerminal(change.to) ? { ...change.fields, ownerId: null } : { ...change.fields };
      this.writeFields(id, fields, change.to);
      const event = change.event ?? { type: `run.${change.to}`, data: {} };
      appended = this.appendEventRow(id, {
        type: event.type,
        data: { from: current.state, to: change.to, ...event.data },
      } as RunEvent);
      return { ok: true, run: this.mustGetRun(id) };
    };
    if (!change.durable) return this.db.transaction(apply)();
    const result = durably(this.db, apply);
    if (appended) this.checkpoint(appended);
    return result;
  }

  updateRun(id: string, fields: RunFields, event: RunEvent): RunRecord {
    return this.db.transaction(() => {
      this.writeFields(id, fields);
      this.appendEventRow(id, event);
      return this.mustGetRun(id);
    })();
  }

  appendEvent(runId: string, event: RunEvent, opts: { durable?: boolean } = {}): AuditEvent {
    const write = () => this.appendEventRow(runId, event);
    if (!opts.durable) return this.db.transaction(write)();
    const appended = durably(this.db, write);
    this.checkpoint(appended);
    return appended;
  }

  events(runId: string): AuditEvent[] {
    return (this.db.prepare('SELECT * FROM events WHERE run_id = ? ORDER BY seq').all(runId) as Row[]).map(
      toEvent,
    );
  }

  recordModelTurn(turn: ModelTurnRecord): void {
    const request = JSON.stringify(turn.request);
    const response = JSON.stringify(turn.response);
    const at = this.now().toISOString();
    this.db.transaction(() => {
      const { lastInsertRowid } = this.db
        .prepare(
          `INSERT INTO model_turns (run_id, step, model, request, response, input_tokens, output_tokens,
             cache_read_tokens, cache_write_tokens, cost_usd, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          turn.runId,
          turn.step,
          turn.model,
          request,
          response,
          turn.usage.inputTokens,
          turn.usage.outputTokens,
          turn.usage.cacheReadTokens,
          turn.usage.cacheWriteTokens,
          turn.costUsd,
          at,
        );
      this.appendEventRow(turn.runId, {
        type: 'model.turn',
        data: {
          turn_id: Number(lastInsertRowid),
          step: turn.step,
          model: turn.model,
          request_sha256: sha256Hex(request),
          response_sha256: sha256Hex(response),
          input_tokens: turn.usage.inputTokens,
          output_tokens: turn.usage.outputTokens,
          cache_read_tokens: turn.usage.cacheReadTokens,
          cache_write_tokens: turn.usage.cacheWriteTokens,
          cost_usd: turn.costUsd,
        },
      });
    })();
  }

  modelTurns(runId: string) {
    const rows = this.db
      .prepare('SELECT * FROM model_turns WHERE run_id = ? ORDER BY id')
      .all(runId) as Row[];
    return rows.map((r) => ({
      runId: r.run_id as string,
      step: r.step as number,
      model: r.model as string,
      request: JSON.parse(r.request as string),
      response: JSON.parse(r.response as string),
      usage: {
        inputTokens: r.input_tokens as number,
        outputTokens: r.output_tokens as number,
        cacheReadTokens: r.cache_read_tokens as number,
        cacheWriteTokens: r.cache_write_tokens as number,
      },
      costUsd: r.cost_usd as number,
      at: r.at as string,
    }));
  }

  recordToolCall(call: ToolCallRecord): void {
    const input = JSON.stringify(call.input);
    const at = this.now().toISOString();
    this.db.transaction(() => {
      const { lastInsertRowid } = this.db
        .prepare(
          `INSERT INTO tool_calls (run_id, step, tool_use_id, name, input, output, exit_code, is_error, duration_ms, at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          call.runId,
          call.step,
          call.toolUseId,
          call.name,
          input,
          call.output,
          call.exitCode,
          call.isError ? 1 : 0,
          call.durationMs,
          at,
        );
      this.appendEventRow(call.runId, {
        type: 'tool.call',
        data: {
          call_id: Number(lastInsertRowid),
          step: call.step,
          name: call.name,
          input_sha256: sha256Hex(input),
          output_sha256: sha256Hex(call.output),
          exit_code: call.exitCode,
          is_error: call.isError,
          duration_ms: call.durationMs,
        },
      });
    })();
  }

  toolCalls(runId: string) {
    const rows = this.db.prepare('SELECT * FROM tool_calls WHERE run_id = ? ORDER BY id').all(runId) as Row[];
    return rows.map((r) => ({
      runId: r.run_id as string,
      step: r.step as number,
      toolUseId: r.tool_use_id as string,
      name: r.name as string,
      input: JSON.parse(r.input as string),
      output: r.output as string,
      exitCode: (r.exit_code as number | null) ?? null,
      isError: r.is_error === 1,
      durationMs: r.duration_ms as number,
      at: r.at as string,
    }));
  }

  totals(runId: string): RunTotals {
    const row = this.db
      .prepare(
        `SELECT COUNT(*) AS steps, COALESCE(SUM(input_tokens + cache_read_tokens + cache_write_tokens), 0) AS input,
                COALESCE(SUM(output_tokens), 0) AS output, COALESCE(SUM(cost_usd), 0) AS cost
         FROM model_turns WHERE run_id = ?`,
      )
      .get(runId) as Row;
    return {
      steps: row.steps as number,
      inputTokens: row.input as number,
      outputTokens: row.output as number,
      costUsd: row.cost as number,
    };
  }

  spendSince(runId: string, since: string): { steps: number; tokens: number; costUsd: number } {
    const row = this.db
      .prepare(
        `SELECT COUNT(*) AS steps,
                COALESCE(SUM(input_tokens + output_tokens + cache_read_tokens + cache_write_tokens), 0) AS tokens,
                COALESCE(SUM(cost_usd), 0) AS cost
         FROM model_turns WHERE run_id = ? AND at >= ?`,
      )
      .get(runId, since) as Row;
    return { steps: row.steps as number, tokens: row.tokens as number, costUsd: row.cost as number };
  }

  saveDiff(runId: string, diff: Buffer): string {
    const sha = sha256Hex(diff);
    this.db.transaction(() => {
      const inserted = this.db
        .prepare('INSERT OR IGNORE INTO diffs (run_id, sha256, diff, created_at) VALUES (?, ?, ?, ?)')
        .run(runId, sha, diff, this.now().toISOString());
      if (inserted.changes > 0)
        this.appendEventRow(runId, { type: 'diff.captured', data: { sha256: sha, bytes: diff.length } });
    })();
    return sha;
  }

  diff(runId: string, sha256: string): Buffer | undefined {
    const row = this.db
      .prepare('SELECT diff FROM diffs WHERE run_id = ? AND sha256 = ?')
      .get(runId, sha256) as Row | undefined;
    return row ? (row.diff as Buffer) : undefined;
  }

  registerOwner(
    owner: OwnerRecord,
    conflict?: (others: OwnerRecord[]) => OwnerRecord | undefined,
  ): { ok: true } | { ok: false; holder: OwnerRecord } {
    return this.db
      .transaction(() => {
        const holder = conflict?.(this.owners());
        if (holder) return { ok: false as const, holder };
        this.db
          .prepare(
            `INSERT INTO owners (id, host, pid, start_token, kind, started_at, lease_until)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(
            owner.id,
            owner.host,
            owner.pid,
            owner.startToken,
            owner.kind,
            owner.startedAt,
            owner.leaseUntil,
          );
        return { ok: true as const };
      })
      .immediate();
  }

  heartbeat(ownerId: string, leaseUntil: number): boolean {
    return (
      this.db.prepare('UPDATE owners SET lease_until = ? WHERE id = ?').run(leaseUntil, ownerId).changes > 0
    );
  }

  releaseOwner(ownerId: string): void {
    this.db.prepare('DELETE FROM owners WHERE id = ?').run(ownerId);
  }

  owners(): OwnerRecord[] {
    return (this.db.prepare('SELECT * FROM owners ORDER BY started_at').all() as Row[]).map(toOwner);
  }

  adoptRun(runId: string, previous: string | null, owner: string): RunRecord | undefined {
    return this.db.transaction(() => {
      const moved = this.db
        .prepare('UPDATE runs SET owner_id = ?, updated_at = ? WHERE id = ? AND owner_id IS ?')
        .run(owner, this.now().toISOString(), runId, previous);
      if (moved.changes === 0) return undefined;
      this.appendEventRow(runId, { type: 'owner.adopted', data: { owner, previous } });
      return this.mustGetRun(runId);
    })();
  }

  verifyAudit(): AuditReport {
    return this.verifyAuditAgainst([]);
  }

  /**
   * The whole chain and every run checked with this store's key, and each published
   * checkpoint required to still be there with the same hash (`audit verify --expect`).
   */
  verifyAuditAgainst(expect: readonly ChainPoint[]): AuditVerification {
    return verifyAuditChain(this.db, { key: this.auditKey, expect });
  }

  /** The newest event, `SEQ:HASH` of a checkpoint; undefined for an empty chain. */
  auditHead(): ChainPoint | undefined {
    this.flushKeyedAt();
    const row = this.db.prepare('SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1').get() as
      | Row
      | undefined;
    return row ? { seq: row.seq as number, hash: row.hash as string } : undefined;
  }

  /**
   * Why a run's row (state, requester, approver, diff hash) disagrees with its own events, or
   * with their hashes under this store's key; undefined when it agrees. For the approval path:
   * a run edited behind airlock's back is refused. Checks only this run's events (not the
   * whole chain's links): `audit verify` does that.
   */
  runAgreesWithChain(runId: string): string | undefined {
    const row = this.db
      .prepare('SELECT id, state, requester, approved_by, diff_sha256 FROM runs WHERE id = ?')
      .get(runId) as Row | undefined;
    if (!row) return `run ${runId} does not exist`;
    const keyedFrom = (
      this.db.prepare("SELECT MIN(seq) AS s FROM events WHERE chain = 'hmac-sha256'").get() as Row
    ).s as number | null;
    const events = this.db.prepare('SELECT * FROM events WHERE run_id = ? ORDER BY seq').all(runId) as Row[];
    for (const e of events) {
      const seq = e.seq as number;
      const keyed = e.chain === 'hmac-sha256';
      if (!keyed && keyedFrom !== null && seq > keyedFrom)
        return `run ${runId}: event ${seq} was hashed without AIRLOCK_AUDIT_KEY after keyed events`;
      if (keyed && this.auditKey === undefined) continue;
      let data: unknown;
      try {
        data = JSON.parse(e.data as string);
      } catch {
        return `run ${runId}: event ${seq} (${e.type}) holds data that is not valid JSON`;
      }
      const hash = eventHash(
        e.prev_hash as string,
        { seq, runId, type: e.type as string, at: e.at as string, data },
        keyed ? this.auditKey : undefined,
      );
      if (hash !== e.hash) return `run ${runId}: event ${seq} (${e.type}) does not match its hash`;
    }
    const replay = replayRuns(events.map(toEvent));
    if (replay.problems.length) return replay.problems[0];
    return disagreement(runId, runColumns(row), replay.runs.get(runId));
  }

  writable(): boolean {
    try {
      this.db.exec('BEGIN IMMEDIATE; ROLLBACK;');
      return true;
    } catch {
      return false;
    }
  }

  countByState(): Record<string, number> {
    const rows = this.db.prepare('SELECT state, COUNT(*) AS n FROM runs GROUP BY state').all() as Row[];
    return Object.fromEntries(rows.map((r) => [r.state as string, r.n as number]));
  }

  close(): void {
    this.db.close();
  }

  private mustGetRun(id: string): RunRecord {
    const run = this.getRun(id);
    if (!run) throw new AirlockError('run_not_found', `No run ${id}. List runs with \`airlock runs\`.`);
    return run;
  }

  private writeFields(id: string, fields: RunFields, state?: RunState): void {
    const sets = ['updated_at = ?'];
    const values: unknown[] = [this.now().toISOString()];
    if (state) {
      sets.push('state = ?');
      values.push(state);
    }
    for (const [key, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      sets.push(`${FIELD_COLUMNS[key as keyof RunFields]} = ?`);
      values.push(typeof value === 'boolean' ? Number(value) : value);
    }
    this.db.prepare(`UPDATE runs SET ${sets.join(', ')} WHERE id = ?`).run(...values, id);
  }

  /** Tells the composition root the new head after a durable write committed. */
  private checkpoint(event: Pick<AuditEvent, 'seq' | 'hash' | 'type'>): void {
    this.flushKeyedAt();
    try {
      this.onCheckpoint?.(event.seq, event.hash, event.type);
    } catch {
      // A checkpoint is a copy of the head elsewhere; failing to make one never undoes the write.
    }
  }

  /** Checkpoints where the key took over, once that event is committed (dropped if it rolled back). */
  private flushKeyedAt(): void {
    const point = this.keyedAt;
    if (!point) return;
    this.keyedAt = undefined;
    const row = this.db.prepare('SELECT hash FROM events WHERE seq = ?').get(point.seq) as Row | undefined;
    if (row?.hash === point.hash) this.checkpoint({ ...point, type: 'audit key took over' });
  }

  private appendEventRow(runId: string, event: RunEvent): AuditEvent {
    this.flushKeyedAt();
    const { type } = event;
    const data = event.data as unknown as Record<string, unknown>;
    const last = this.db.prepare('SELECT seq, hash, chain FROM events ORDER BY seq DESC LIMIT 1').get() as
      | Row
      | undefined;
    const seq = ((last?.seq as number) ?? 0) + 1;
    const prevHash = (last?.hash as string) ?? GENESIS_HASH;
    const at = this.now().toISOString();
    // Round-trip through JSON so the hash covers exactly what is stored.
    const stored = JSON.parse(JSON.stringify(data)) as Record<string, unknown>;
    const hash = eventHash(prevHash, { seq, runId, type, at, data: stored }, this.auditKey);
    this.db
      .prepare(
        'INSERT INTO events (seq, run_id, type, at, data, prev_hash, hash, chain) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
      )
      .run(seq, runId, type, at, JSON.stringify(stored), prevHash, hash, schemeFor(this.auditKey));
    // The first keyed event after plain ones is where the key took over: the plain events before
    // it are vouched for from here on. Said outside the database (a checkpoint) at that moment,
    // since a chain re-hashed without the key and then extended looks the same from inside.
    if (this.auditKey !== undefined && last && last.chain !== 'hmac-sha256') this.keyedAt = { seq, hash };
    return { seq, runId, type, at, data: stored, prevHash, hash };
  }
}
