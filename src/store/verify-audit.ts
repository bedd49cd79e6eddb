import type { AuditReport } from '../runs/ports/store.js';
import type { RunState } from '../runs/run-state.js';
import { type ChainPoint, type ChainScheme, eventHash, GENESIS_HASH, sha256Hex } from './audit-chain.js';
import { disagreement, type ReplayInput, replayRuns } from './audit-replay.js';
import type { Db } from './database.js';

type Row = Record<string, unknown>;

export interface AuditVerification extends AuditReport {
  /** The newest event's sequence number (null for an empty chain); `head` is its hash. */
  headSeq: number | null;
  /** The first event hashed with AIRLOCK_AUDIT_KEY, if any. */
  keyedFrom: number | null;
  /** True when keyed events could not be checked because no key was given. */
  needsKey: boolean;
  /** How many runs rows were compared with their events. */
  runsChecked: number;
}

export interface VerifyOptions {
  /** AIRLOCK_AUDIT_KEY; without it keyed events cannot be checked (and say so). */
  key?: string;
  /** Published checkpoints that must still be in the chain, with the same hash. */
  expect?: readonly ChainPoint[];
}

function span(seqs: number[]): string {
  const first = seqs[0];
  const last = seqs[seqs.length - 1];
  return first === last ? `event ${first}` : `events ${first}–${last} (${seqs.length})`;
}

function short(hash: string): string {
  return `${hash.slice(0, 12)}…`;
}

/**
 * Recomputes the chain: every event's hash (HMAC with the key for keyed events), its link to
 * the one before, gapless sequence numbers, that no plain event follows a keyed one and (with a
 * key) that the head is keyed, the content hashes events hold for model turns, tool calls and
 * diffs, every run's state, requester, approver and diff hash against its events, and that
 * every expected checkpoint is still there. Rows that no event vouches for are reported too.
 */
export function verifyAuditChain(db: Db, opts: VerifyOptions = {}): AuditVerification {
  const { key } = opts;
  const problems: string[] = [];
  let prev = GENESIS_HASH;
  let expectedSeq = 1;
  let checked = 0;
  let headSeq: number | null = null;
  let headScheme: ChainScheme | null = null;
  let keyedFrom: number | null = null;
  const unverifiedKeyed: number[] = [];
  const downgraded: number[] = [];
  const replayInput: ReplayInput[] = [];
  const turnIds = new Set<number>();
  const callIds = new Set<number>();
  const diffKeys = new Set<string>();

  const turnStmt = db.prepare('SELECT request, response FROM model_turns WHERE id = ?');
  const callStmt = db.prepare('SELECT input, output FROM tool_calls WHERE id = ?');
  const diffStmt = db.prepare('SELECT diff FROM diffs WHERE run_id = ? AND sha256 = ?');

  for (const row of db.prepare('SELECT * FROM events ORDER BY seq').all() as Row[]) {
    checked++;
    const seq = row.seq as number;
    const runId = row.run_id as string;
    const type = row.type as string;
    const scheme = (row.chain as string | undefined) ?? 'sha256';
    headSeq = seq;
    if (seq !== expectedSeq)
      problems.push(`event ${seq}: expected sequence number ${expectedSeq} (an event is missing)`);
    expectedSeq = seq + 1;
    if (row.prev_hash !== prev)
      problems.push(`event ${seq}: does not link to the event before it (reordered or removed)`);
    prev = row.hash as string;
    if (scheme !== 'sha256' && scheme !== 'hmac-sha256') {
      problems.push(`event ${seq}: unknown chain scheme ${scheme}`);
      continue;
    }
    headScheme = scheme;
    if (scheme === 'hmac-sha256') keyedFrom ??= seq;
    else if (keyedFrom !== null) downgraded.push(seq);
    let data: Record<string, unknown>;
    try {
      data = JSON.parse(row.data as string);
    } catch {
      problems.push(`event ${seq}: data is not valid JSON`);
      continue;
    }
    replayInput.push({ seq, runId, type, data });
    const event = { seq, runId, type, at: row.at as string, data };
    if (scheme === 'hmac-sha256' && key === undefined) unverifiedKeyed.push(seq);
    else if (
      eventHash(row.prev_hash as string, event, scheme === 'hmac-sha256' ? key : undefined) !== row.hash
    )
      problems.push(
        `event ${seq} (${type}, run ${runId}): content does not match its hash${scheme === 'hmac-sha256' ? ' (or AIRLOCK_AUDIT_KEY is not the key that wrote it)' : ''}`,
      );

    if (type === 'model.turn') {
      const id = data.turn_id as number;
      turnIds.add(id);
      const turn = turnStmt.get(id) as Row | undefined;
      if (!turn) problems.push(`event ${seq}: model turn ${id} is missing`);
      else if (
        sha256Hex(turn.request as string) !== data.request_sha256 ||
        sha256Hex(turn.response as string) !== data.response_sha256
      )
        problems.push(`model turn ${id} (run ${runId}) was altered`);
    } else if (type === 'tool.call') {
      const id = data.call_id as number;
      callIds.add(id);
      const call = callStmt.get(id) as Row | undefined;
      if (!call) problems.push(`event ${seq}: tool call ${id} is missing`);
      else if (
        sha256Hex(call.input as string) !== data.input_sha256 ||
        sha256Hex(call.output as string) !== data.output_sha256
      )
        problems.push(`tool call ${id} (run ${runId}) was altered`);
    } else if (type === 'diff.captured') {
      const sha = data.sha256 as string;
      diffKeys.add(`${runId}:${sha}`);
      const diff = diffStmt.get(runId, sha) as Row | undefined;
      if (!diff) problems.push(`event ${seq}: diff ${sha.slice(0, 12)} of run ${runId} is missing`);
      else if (sha256Hex(diff.diff as Buffer) !== sha)
        problems.push(`diff ${sha.slice(0, 12)} of run ${runId} was altered`);
    }
  }

  if (downgraded.length)
    problems.push(
      `${span(downgraded)} hashed without AIRLOCK_AUDIT_KEY after keyed events: appended or re-hashed by someone without the key`,
    );
  else if (key !== undefined && headScheme === 'sha256')
    problems.push(
      `the newest event ${headSeq} is not hashed with AIRLOCK_AUDIT_KEY and none is: the chain was re-hashed or extended without the key (unless the key was only just set and nothing has been written since)`,
    );

  for (const r of db.prepare('SELECT id, run_id FROM model_turns').iterate() as Iterable<Row>) {
    if (!turnIds.has(r.id as number))
      problems.push(`model turn ${r.id} (run ${r.run_id}) has no audit event`);
  }
  for (const r of db.prepare('SELECT id, run_id FROM tool_calls').iterate() as Iterable<Row>) {
    if (!callIds.has(r.id as number)) problems.push(`tool call ${r.id} (run ${r.run_id}) has no audit event`);
  }
  for (const r of db.prepare('SELECT run_id, sha256 FROM diffs').iterate() as Iterable<Row>) {
    if (!diffKeys.has(`${r.run_id}:${r.sha256}`)) problems.push(`diff of run ${r.run_id} has no audit event`);
  }

  const replay = replayRuns(replayInput);
  problems.push(...replay.problems);
  let runsChecked = 0;
  const rows = new Set<string>();
  for (const r of db
    .prepare('SELECT id, state, requester, approved_by, diff_sha256 FROM runs ORDER BY created_at, id')
    .iterate() as Iterable<Row>) {
    runsChecked++;
    const id = r.id as string;
    rows.add(id);
    const reason = disagreement(id, runColumns(r), replay.runs.get(id));
    if (reason) problems.push(reason);
  }
  for (const id of replay.runs.keys())
    if (!rows.has(id)) problems.push(`run ${id} has audit events but no row in runs (deleted)`);

  for (const point of opts.expect ?? []) {
    const found = db.prepare('SELECT hash FROM events WHERE seq = ?').get(point.seq) as Row | undefined;
    if (!found)
      problems.push(
        `checkpoint ${point.seq}:${short(point.hash)} is missing: the chain ends at ${headSeq ?? 0} (events were removed since that checkpoint)`,
      );
    else if (found.hash !== point.hash)
      problems.push(
        `checkpoint ${point.seq}:${short(point.hash)} does not match: event ${point.seq} now hashes to ${short(found.hash as string)} (the chain was rewritten since that checkpoint)`,
      );
  }

  const needsKey = unverifiedKeyed.length > 0;
  if (needsKey)
    problems.push(
      `the chain is keyed (HMAC-SHA-256) from event ${keyedFrom}: ${span(unverifiedKeyed)} cannot be checked without the key; set AIRLOCK_AUDIT_KEY to verify them`,
    );
  return {
    ok: problems.length === 0,
    checked,
    head: checked ? prev : null,
    headSeq,
    keyedFrom,
    needsKey,
    runsChecked,
    problems,
  };
}

/** The columns of a runs row the chain vouches for. */
export function runColumns(r: Row): {
  state: RunState;
  requester: string;
  approvedBy: string | null;
  diffSha256: string | null;
} {
  return {
    state: r.state as RunState,
    requester: r.requester as string,
    approvedBy: (r.approved_by as string | null) ?? null,
    diffSha256: (r.diff_sha256 as string | null) ?? null,
  };
}
