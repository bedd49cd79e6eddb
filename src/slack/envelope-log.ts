/**
 * Events API envelopes as they are acked: kept first, so an ack never promises work that a crash
 * could lose. One that was kept but not handled (the process stopped in between) is handed over
 * again at the next start; the run's intake key makes a second hand-over find the first run.
 */
export interface EnvelopeLog {
  /** Keeps envelopes, all or none (one transaction: a burst arrives many to a read). */
  received(envelopes: ReadonlyArray<{ envelopeId: string; body: unknown }>): void;
  handled(envelopeId: string): void;
  /** Kept and never handled, oldest first. */
  unhandled(): Array<{ envelopeId: string; body: unknown }>;
  /** Forgets handled envelopes older than `ms`. */
  prune(ms: number): void;
}
