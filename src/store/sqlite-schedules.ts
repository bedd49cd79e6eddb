import type { ScheduledRun, ScheduleStore, ScheduleTick } from '../runs/ports/schedules.js';
import type { Db } from './database.js';

type Row = Record<string, unknown>;

const toTick = (row: Row): ScheduleTick => ({
  id: row.id as number,
  name: row.name as string,
  at: row.at as string,
  parent: (row.parent as string) ?? null,
  shown: (row.shown as string) ?? null,
});

/** Schedule ticks and the runs they started, next to the runs. */
export class SqliteSchedules implements ScheduleStore {
  constructor(private readonly db: Db) {}

  lastTick(name: string): ScheduleTick | undefined {
    const row = this.db
      .prepare('SELECT * FROM schedule_ticks WHERE name = ? ORDER BY id DESC LIMIT 1')
      .get(name) as Row | undefined;
    return row ? toTick(row) : undefined;
  }

  lastFired(name: string): ScheduleTick | undefined {
    const row = this.db
      .prepare('SELECT * FROM schedule_ticks WHERE name = ? AND parent IS NOT NULL ORDER BY id DESC LIMIT 1')
      .get(name) as Row | undefined;
    return row ? toTick(row) : undefined;
  }

  addTick(name: string, at: string): ScheduleTick {
    const row = this.db
      .prepare('INSERT INTO schedule_ticks (name, at) VALUES (?, ?) RETURNING *')
      .get(name, at) as Row;
    return toTick(row);
  }

  setParent(tickId: number, parent: string): void {
    this.db.prepare('UPDATE schedule_ticks SET parent = ? WHERE id = ?').run(parent, tickId);
  }

  setShown(tickId: number, shown: string): void {
    this.db.prepare('UPDATE schedule_ticks SET shown = ? WHERE id = ?').run(shown, tickId);
  }

  addRun(run: ScheduledRun): void {
    this.db
      .prepare('INSERT INTO schedule_runs (tick_id, repo, run_id) VALUES (?, ?, ?)')
      .run(run.tickId, run.repo, run.runId);
  }

  runsOf(tickId: number): ScheduledRun[] {
    return (
      this.db.prepare('SELECT * FROM schedule_runs WHERE tick_id = ? ORDER BY rowid').all(tickId) as Row[]
    ).map((r) => ({
      tickId: r.tick_id as number,
      repo: r.repo as string,
      runId: (r.run_id as string) ?? null,
    }));
  }

  lastRunIn(name: string, repo: string): string | undefined {
    const row = this.db
      .prepare(
        `SELECT r.run_id FROM schedule_runs r JOIN schedule_ticks t ON t.id = r.tick_id
         WHERE t.name = ? AND r.repo = ? AND r.run_id IS NOT NULL ORDER BY r.rowid DESC LIMIT 1`,
      )
      .get(name, repo) as Row | undefined;
    return (row?.run_id as string) ?? undefined;
  }

  recentTicks(limit: number): ScheduleTick[] {
    return (
      this.db
        .prepare('SELECT * FROM schedule_ticks WHERE parent IS NOT NULL ORDER BY id DESC LIMIT ?')
        .all(limit) as Row[]
    ).map(toTick);
  }
}
