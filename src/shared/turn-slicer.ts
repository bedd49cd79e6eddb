/**
 * Runs queued work in arrival order, a few milliseconds of it per turn of the event loop, so
 * that a thousand things becoming due at once (timers, a burst of events) never keep the loop
 * from reading sockets and answering /healthz (issue 12). Work queued during a slice waits for
 * the next turn: setImmediate callbacks added while immediates run go to the next iteration.
 */
export class TurnSlicer {
  private readonly waiting: Array<() => void> = [];
  private scheduled = false;

  constructor(private readonly sliceMs = 2) {}

  /** `work` started in a later slice; its promise settles as the work does. */
  run<T>(work: () => T | Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.push(() => {
        try {
          Promise.resolve(work()).then(resolve, reject);
        } catch (error) {
          reject(error);
        }
      });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || !this.waiting.length) return;
    this.scheduled = true;
    setImmediate(() => this.slice());
  }

  private slice(): void {
    this.scheduled = false;
    const until = performance.now() + this.sliceMs;
    do (this.waiting.shift() as () => void)();
    while (this.waiting.length && performance.now() < until);
    this.schedule();
  }
}
