import { createHash } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';

export const GENESIS_HASH = '0'.repeat(64);

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** hash = sha256(prev_hash || canonical JSON of the event). */
export function eventHash(
  prevHash: string,
  event: { seq: number; runId: string; type: string; at: string; data: unknown },
): string {
  const body = canonicalJson({
    seq: event.seq,
    run_id: event.runId,
    type: event.type,
    at: event.at,
    data: event.data,
  });
  return sha256Hex(prevHash + body);
}
