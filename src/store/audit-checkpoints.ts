import type { Logger } from 'pino';
import { type ChainPoint, formatChainPoint } from './audit-chain.js';

/** How often `serve` writes a checkpoint even when nothing is approved or pushed (DESIGN.md §7). */
export const CHECKPOINT_INTERVAL_MS = 10 * 60 * 1000;

/** Somewhere else a checkpoint is copied to (the `audit.channel` Slack channel); may be async. */
export type CheckpointSink = (point: ChainPoint & { reason: string }) => unknown;

/**
 * Audit checkpoints: the head of the chain, written outside the database (a log line
 * `audit checkpoint SEQ:HASH`, and any sinks) so that truncating or rewriting the chain is
 * caught by `airlock audit verify --expect SEQ:HASH`.
 */
export class AuditCheckpoints {
  private readonly sinks: CheckpointSink[] = [];

  constructor(
    private readonly logger: Pick<Logger, 'info' | 'warn'>,
    /** Reads the head of the chain (SqliteStore.auditHead); set later when the store is built after this. */
    private head: () => ChainPoint | undefined = () => undefined,
  ) {}

  /** Where the head is read from, for a store built after this object (the store takes onDurableEvent). */
  readFrom(head: () => ChainPoint | undefined): void {
    this.head = head;
  }

  /** Also copies every checkpoint to `sink` (e.g. a post to audit.channel). Returns its removal. */
  addSink(sink: CheckpointSink): () => void {
    this.sinks.push(sink);
    return () => {
      const i = this.sinks.indexOf(sink);
      if (i >= 0) this.sinks.splice(i, 1);
    };
  }

  /** Reads the head now and writes it as a checkpoint; undefined for an empty chain. */
  checkpoint(reason: string): ChainPoint | undefined {
    const head = this.head();
    if (head) this.emit(head, reason);
    return head;
  }

  /** The store's onCheckpoint: the head right after a durable write (approval, push) committed. */
  readonly onDurableEvent = (seq: number, hash: string, reason = 'durable write'): void => {
    this.emit({ seq, hash }, reason);
  };

  /**
   * A checkpoint every `intervalMs` (for `serve`), even when the head has not moved, so the log
   * always holds a recent one. Returns the function that stops it; the timer never keeps the
   * process alive. A failing read of the head is logged, never thrown.
   */
  every(intervalMs: number = CHECKPOINT_INTERVAL_MS): () => void {
    const timer = setInterval(() => {
      try {
        this.checkpoint('interval');
      } catch (error) {
        this.logger.warn({ err: String(error) }, 'audit checkpoint failed');
      }
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  private emit(point: ChainPoint, reason: string): void {
    this.logger.info(
      { seq: point.seq, hash: point.hash, reason },
      `audit checkpoint ${formatChainPoint(point)}`,
    );
    for (const sink of this.sinks) {
      try {
        const done = sink({ ...point, reason });
        if (done instanceof Promise)
          done.catch((error: unknown) =>
            this.logger.warn({ err: String(error) }, 'audit checkpoint not copied to its sink'),
          );
      } catch (error) {
        this.logger.warn({ err: String(error) }, 'audit checkpoint not copied to its sink');
      }
    }
  }
}
