/**
 * First in, first out, with at most `limit` running. Knows each waiting run's place so the
 * thread can say it. Not a rate limiter: a count of sandboxes in use.
 */
export class RunQueue {
  private readonly waiting: string[] = [];
  private readonly running = new Set<string>();
  /** Runs added again while running: they go back in line when they stop, never dropped. */
  private readonly again = new Set<string>();

  constructor(
    private readonly limit: number,
    private readonly start: (runId: string) => Promise<void>,
  ) {}

  /** Adds a run; returns its place in line (0 = starting now). */
  add(runId: string): number {
    if (this.running.has(runId)) this.again.add(runId);
    if (this.running.has(runId) || this.waiting.includes(runId)) return this.position(runId);
    this.waiting.push(runId);
    this.pump();
    return this.position(runId);
  }

  remove(runId: string): boolean {
    const at = this.waiting.indexOf(runId);
    if (at < 0) return false;
    this.waiting.splice(at, 1);
    return true;
  }

  position(runId: string): number {
    return this.running.has(runId) ? 0 : this.waiting.indexOf(runId) + 1;
  }

  isRunning(runId: string): boolean {
    return this.running.has(runId);
  }

  get size(): { running: number; waiting: number } {
    return { running: this.running.size, waiting: this.waiting.length };
  }

  private pump(): void {
    while (this.running.size < this.limit && this.waiting.length) {
      const next = this.waiting.shift() as string;
      this.running.add(next);
      void this.start(next).finally(() => {
        this.running.delete(next);
        if (this.again.delete(next)) this.waiting.push(next);
        this.pump();
      });
    }
  }
}
