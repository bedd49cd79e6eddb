import type { RunThread, RunThreads } from '../slack/run-threads.js';
import type { Db } from './database.js';

type Row = Record<string, unknown>;

/** Slack's thread bookkeeping in the same database as the runs (the run_threads table). */
export class SqliteRunThreads implements RunThreads {
  constructor(private readonly db: Db) {}

  bind(runId: string, thread: Pick<RunThread, 'channel' | 'threadTs'>): void {
    this.db
      .prepare('INSERT OR IGNORE INTO run_threads (run_id, channel, thread_ts) VALUES (?, ?, ?)')
      .run(runId, thread.channel, thread.threadTs);
  }

  update(runId: string, fields: Partial<Pick<RunThread, 'statusTs' | 'approvalTs'>>): void {
    if (fields.statusTs !== undefined)
      this.db.prepare('UPDATE run_threads SET status_ts = ? WHERE run_id = ?').run(fields.statusTs, runId);
    if (fields.approvalTs !== undefined)
      this.db
        .prepare('UPDATE run_threads SET approval_ts = ? WHERE run_id = ?')
        .run(fields.approvalTs, runId);
  }

  get(runId: string): RunThread | undefined {
    const row = this.db.prepare('SELECT * FROM run_threads WHERE run_id = ?').get(runId) as Row | undefined;
    if (!row) return undefined;
    return {
      channel: row.channel as string,
      threadTs: row.thread_ts as string,
      statusTs: (row.status_ts as string) ?? null,
      approvalTs: (row.approval_ts as string) ?? null,
    };
  }

  runIn(channel: string, threadTs: string): string | undefined {
    const row = this.db
      .prepare(
        `SELECT runs.id FROM runs JOIN run_threads t ON t.run_id = runs.id
         WHERE t.channel = ? AND t.thread_ts = ? ORDER BY runs.created_at DESC, runs.id DESC LIMIT 1`,
      )
      .get(channel, threadTs) as Row | undefined;
    return row ? (row.id as string) : undefined;
  }
}
