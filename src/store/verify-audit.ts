import type { AuditReport } from '../runs/ports/store.js';
import { eventHash, GENESIS_HASH, sha256Hex } from './audit-chain.js';
import type { Db } from './database.js';

type Row = Record<string, unknown>;

/**
 * Recomputes the chain: every event's hash, its link to the one before, gapless sequence
 * numbers, and the content hashes events hold for model turns, tool calls and diffs. Rows
 * that no event vouches for are reported too (an inserted row is as bad as an edited one).
 */
export function verifyAuditChain(db: Db): AuditReport {
  const problems: string[] = [];
  let prev = GENESIS_HASH;
  let expectedSeq = 1;
  let checked = 0;
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
    if (seq !== expectedSeq)
      problems.push(`event ${seq}: expected sequence number ${expectedSeq} (an event is missing)`);
    expectedSeq = seq + 1;
    if (row.prev_hash !== prev)
      problems.push(`event ${seq}: does not link to the event before it (reordered or removed)`);
    let data: Record<string, unknown>;
    try {
      data = JSON.parse(row.data as string);
    } catch {
      problems.push(`event ${seq}: data is not valid JSON`);
      prev = row.hash as string;
      continue;
    }
    const recomputed = eventHash(row.prev_hash as string, { seq, runId, type, at: row.at as string, data });
    if (recomputed !== row.hash)
      problems.push(`event ${seq} (${type}, run ${runId}): content does not match its hash`);
    prev = row.hash as string;

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
  return { ok: problems.length === 0, checked, head: checked ? prev : null, problems };
}
