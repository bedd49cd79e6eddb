import { createHash, createHmac } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';

export const GENESIS_HASH = '0'.repeat(64);

/**
 * How an event's link was computed, stored per event (`events.chain`). Events written before
 * AIRLOCK_AUDIT_KEY was set are `sha256` and keep verifying; once a key is set every new event
 * is `hmac-sha256`, and verification with the key refuses a plain event after a keyed one (and
 * a plain head), so nobody without the key can extend or re-hash the chain.
 */
export type ChainScheme = 'sha256' | 'hmac-sha256';

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface ChainedEvent {
  seq: number;
  runId: string;
  type: string;
  at: string;
  data: unknown;
}

function canonicalEvent(event: ChainedEvent): string {
  return canonicalJson({
    seq: event.seq,
    run_id: event.runId,
    type: event.type,
    at: event.at,
    data: event.data,
  });
}

/**
 * Without a key: sha256(prev_hash ‖ canonical JSON of the event).
 * With a key: HMAC-SHA-256(key, prev_hash ‖ canonical JSON of the event).
 */
export function eventHash(prevHash: string, event: ChainedEvent, key?: string): string {
  const body = prevHash + canonicalEvent(event);
  return key === undefined ? sha256Hex(body) : createHmac('sha256', key).update(body).digest('hex');
}

/** The scheme new events are written with, given the configured key (or none). */
export function schemeFor(key: string | undefined): ChainScheme {
  return key === undefined ? 'sha256' : 'hmac-sha256';
}

/** A published head of the chain: `SEQ:HASH`, as logged at every checkpoint. */
export interface ChainPoint {
  seq: number;
  hash: string;
}

export function formatChainPoint(point: ChainPoint): string {
  return `${point.seq}:${point.hash}`;
}

/** Parses `SEQ:HASH` (a decimal sequence number, 64 hex digits); undefined when malformed. */
export function parseChainPoint(text: string): ChainPoint | undefined {
  const m = /^(\d{1,15}):([0-9a-fA-F]{64})$/.exec(text.trim());
  if (!m) return undefined;
  return { seq: Number(m[1]), hash: (m[2] as string).toLowerCase() };
}
