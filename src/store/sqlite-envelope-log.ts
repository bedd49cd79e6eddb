import type { EnvelopeLog } from '../slack/envelope-log.js';
import type { Db } from './database.js';

/** The slack_envelopes table: one row per events_api envelope, from ack to hand-over. */
export class SqliteEnvelopeLog implements EnvelopeLog {
  private readonly insert;
  private readonly mark;

  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {
    this.insert = db.prepare(
      'INSERT OR IGNORE INTO slack_envelopes (envelope_id, body, received_at) VALUES (?, ?, ?)',
    );
    this.mark = db.prepare('UPDATE slack_envelopes SET handled_at = ? WHERE envelope_id = ?');
  }

  received(envelopes: ReadonlyArray<{ envelopeId: string; body: unknown }>): void {
    const at = this.now();
    this.db.transaction(() => {
      for (const e of envelopes) this.insert.run(e.envelopeId, JSON.stringify(e.body ?? null), at);
    })();
  }

  handled(envelopeId: string): void {
    this.mark.run(this.now(), envelopeId);
  }

  unhandled(): Array<{ envelopeId: string; body: unknown }> {
    const rows = this.db
      .prepare(
        'SELECT envelope_id, body FROM slack_envelopes WHERE handled_at IS NULL ORDER BY received_at, rowid',
      )
      .all() as Array<{ envelope_id: string; body: string }>;
    return rows.map((r) => ({ envelopeId: r.envelope_id, body: JSON.parse(r.body) as unknown }));
  }

  prune(ms: number): void {
    this.db
      .prepare('DELETE FROM slack_envelopes WHERE handled_at IS NOT NULL AND received_at < ?')
      .run(this.now() - ms);
  }
}
