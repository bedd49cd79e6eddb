import PQueue from 'p-queue';

/** At most `limit` pieces of work at once, the rest waiting in arrival order. */
export class ConcurrencyLimit {
  private readonly queue: PQueue;

  constructor(limit: number) {
    this.queue = new PQueue({ concurrency: limit });
  }

  run<T>(work: () => Promise<T>): Promise<T> {
    return this.queue.add(work, { throwOnTimeout: true });
  }
}
