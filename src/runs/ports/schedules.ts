/** Where schedules keep their ticks and the runs each tick started (the runs' database). */
export interface ScheduleTick {
  id: number;
  name: string;
  at: string;
  /** The tick's parent message, as the chat adapter names it. */
  parent: string | null;
  /** The parent's text when it was last written, so it is only edited when something changed. */
  shown: string | null;
}

export interface ScheduledRun {
  tickId: number;
  repo: string;
  /** null: skipped, because the schedule's run from an earlier tick was still open. */
  runId: string | null;
}

export interface ScheduleStore {
  lastTick(name: string): ScheduleTick | undefined;
  /** The newest tick that fired (posted a parent), not the mark a new schedule starts from. */
  lastFired(name: string): ScheduleTick | undefined;
  addTick(name: string, at: string): ScheduleTick;
  setParent(tickId: number, parent: string): void;
  setShown(tickId: number, shown: string): void;
  addRun(run: ScheduledRun): void;
  runsOf(tickId: number): ScheduledRun[];
  /** The newest run this schedule started in `repo`, if any. */
  lastRunIn(name: string, repo: string): string | undefined;
  /** The newest ticks that posted a parent message, newest first: theirs may still change. */
  recentTicks(limit: number): ScheduleTick[];
}
