import PQueue from 'p-queue';

/**
 * A priority queue that starts at most `cap` tasks in each window of `windowMs`; tasks still
 * running when a window ends count against the next one. The same pacing as p-queue's
 * `intervalCap` + `interval` + `carryoverConcurrencyCount`, but the one timer is ours: it runs only
 * while there is work in the window, and close() clears it, so pacing never holds a stopping
 * process open (p-queue's interval timer lingers for up to two windows and cannot be cleared).
 */
export class PacedQueue {
  private readonly queue = new PQueue({ autoStart: true });
  private readonly closer = new AbortController();
  private startedInWindow = 0;
  private window: NodeJS.Timeout | undefined;

  constructor(
    private readonly cap: number,
    private readonly windowMs: number,
  ) {}

  /**
   * Runs `task` when the budget allows, highest priority first. Rejects with an AbortError if
   * `signal` aborts first, or when the queue is closed before the task settles.
   */
  add<T>(task: () => Promise<T>, opts: { priority?: number; signal?: AbortSignal } = {}): Promise<T> {
    const signal = opts.signal ? AbortSignal.any([opts.signal, this.closer.signal]) : this.closer.signal;
    return this.queue.add(
      () => {
        this.onStart();
        return task();
      },
      { priority: opts.priority, signal, throwOnTimeout: true },
    );
  }

  /** Tasks waiting for their turn. */
  get size(): number {
    return this.queue.size;
  }

  /** Tasks started and not yet settled. */
  get pending(): number {
    return this.queue.pending;
  }

  onIdle(): Promise<void> {
    return this.queue.onIdle();
  }

  /**
   * Rejects every task not yet settled (a running one keeps running, but its caller stops
   * waiting) and clears the window timer. Nothing added afterwards runs.
   */
  close(): void {
    if (this.closer.signal.aborted) return;
    this.closer.abort();
    clearTimeout(this.window);
    this.window = undefined;
    // Aborted tasks leave p-queue only when dequeued: let them all through at once to reject.
    this.queue.start();
  }

  private onStart(): void {
    this.startedInWindow++;
    this.window ??= setTimeout(() => this.nextWindow(), this.windowMs);
    if (this.startedInWindow >= this.cap) this.queue.pause();
  }

  private nextWindow(): void {
    this.window = undefined;
    // A call still running was counted by Slack when it arrived; count it in this window too.
    this.startedInWindow = this.queue.pending;
    if (this.startedInWindow > 0) this.window = setTimeout(() => this.nextWindow(), this.windowMs);
    if (this.startedInWindow < this.cap) this.queue.start();
  }
}
