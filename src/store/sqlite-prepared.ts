import type { PreparedRecord, PreparedSandboxes, PreparedState } from '../runs/ports/prepared.js';
import type { Db } from './database.js';

type Row = Record<string, unknown>;

/** Prepared sandboxes in the same database as the runs (the prepared_sandboxes table). */
export class SqlitePreparedSandboxes implements PreparedSandboxes {
  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  add(r: Pick<PreparedRecord, 'id' | 'repo' | 'baseSha' | 'fingerprint' | 'ownerId'>): void {
    this.db
      .prepare(
        `INSERT INTO prepared_sandboxes (id, repo, base_sha, fingerprint, state, owner_id, created_at)
         VALUES (?, ?, ?, ?, 'building', ?, ?)`,
      )
      .run(r.id, r.repo, r.baseSha, r.fingerprint, r.ownerId, this.iso());
  }

  ready(id: string, snapshotCommit: string, setup: PreparedRecord['setup']): void {
    this.db
      .prepare(
        `UPDATE prepared_sandboxes SET state = 'ready', snapshot_commit = ?, setup_command = ?,
         setup_exit = ?, setup_output = ?, setup_ms = ?, ready_at = ? WHERE id = ? AND state = 'building'`,
      )
      .run(
        snapshotCommit,
        setup?.command ?? null,
        setup?.exitCode ?? null,
        setup?.output ?? null,
        setup?.durationMs ?? null,
        this.iso(),
        id,
      );
  }

  claim(repo: string, baseSha: string, fingerprint: string, runId: string): PreparedRecord | undefined {
    // One statement: two runs claiming at once get two different rows, or one gets none.
    const row = this.db
      .prepare(
        `UPDATE prepared_sandboxes SET state = 'claimed', claimed_by = ?
         WHERE id = (SELECT id FROM prepared_sandboxes
                     WHERE repo = ? AND base_sha = ? AND fingerprint = ? AND state = 'ready'
                     ORDER BY ready_at, id LIMIT 1)
         RETURNING *`,
      )
      .get(runId, repo, baseSha, fingerprint) as Row | undefined;
    return row ? toRecord(row) : undefined;
  }

  list(repo?: string): PreparedRecord[] {
    const rows = repo
      ? this.db.prepare('SELECT * FROM prepared_sandboxes WHERE repo = ? ORDER BY created_at, id').all(repo)
      : this.db.prepare('SELECT * FROM prepared_sandboxes ORDER BY created_at, id').all();
    return (rows as Row[]).map(toRecord);
  }

  has(id: string): boolean {
    return this.db.prepare('SELECT 1 FROM prepared_sandboxes WHERE id = ?').get(id) !== undefined;
  }

  remove(id: string): void {
    this.db.prepare('DELETE FROM prepared_sandboxes WHERE id = ?').run(id);
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }
}

function toRecord(row: Row): PreparedRecord {
  const command = row.setup_command as string | null;
  return {
    id: row.id as string,
    repo: row.repo as string,
    baseSha: row.base_sha as string,
    fingerprint: row.fingerprint as string,
    state: row.state as PreparedState,
    snapshotCommit: (row.snapshot_commit as string | null) ?? null,
    setup:
      command === null
        ? null
        : {
            command,
            exitCode: (row.setup_exit as number | null) ?? null,
            output: (row.setup_output as string | null) ?? '',
            durationMs: (row.setup_ms as number | null) ?? 0,
          },
    ownerId: (row.owner_id as string | null) ?? null,
    claimedBy: (row.claimed_by as string | null) ?? null,
    createdAt: row.created_at as string,
    readyAt: (row.ready_at as string | null) ?? null,
  };
}
