import { TurnSlicer } from '../shared/turn-slicer.js';

/** Hand-overs under way at once: each may wait on Slack or the store, none should wait on the rest. */
const IN_FLIGHT = 4;

/**
 * Work that an acked event asks for, started in arrival order in short slices of the event loop
 * and at most IN_FLIGHT at a time, so a burst of events never keeps the loop from reading (and
 * acking) the next envelope or answering /healthz.
 */
export class HandOverQueue {
  private readonly waiting: Array<() => Promise<unknown>> = [];
  private running = 0;

  constructor(private readonly slicer = new TurnSlicer()) {}

  push(work: () => Promise<unknown>): void {
    this.waiting.push(work);
    this.next();
  }

  private next(): void {
    while (this.waiting.length && this.running < IN_FLIGHT) {
      const work = this.waiting.shift() as () => Promise<unknown>;
      this.running++;
      void this.slicer
        .run(work)
        .catch(() => {})
        .finally(() => {
          this.running--;
          this.next();
        });
    }
  }
}
