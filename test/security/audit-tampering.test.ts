import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventHash, GENESIS_HASH } from '../../src/store/audit-chain.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { runCli } from '../support/run-cli.js';
import { scratchConfig } from '../support/workspace.js';

/**
 * Someone with write access to the database file (not to AIRLOCK_AUDIT_KEY) edits it behind
 * airlock's back, dropping the append-only triggers first. Every such edit fails
 * `airlock audit verify`, run as the real CLI, with a message naming what broke.
 */

const KEY = 'k3y-from-a-secret-0123456789abcdef';
const DIFF = Buffer.from('diff --git a/x b/x\n+fixed\n');

let scratch: ReturnType<typeof scratchConfig>;
let path: string;
let env: Record<string, string>;
/** The head of the seeded chain, as airlock would have published it. */
let head: { seq: number; hash: string };

type Row = Record<string, unknown>;

/** run1: reviewed and rejected; run2: approved by U2 and pushed; then two events of no consequence. */
function seed(): void {
  const store = new SqliteStore(openDatabase(path), undefined, { auditKey: KEY });
  for (const id of ['run1', 'run2']) {
    store.createRun({
      id,
      repo: 'acme/widgets',
      task: 'fix it',
      requester: 'U1',
      source: 'slack',
      baseRef: 'main',
      ownerId: null,
    });
    for (const [from, to] of [
      ['requested', 'queued'],
      ['queued', 'provisioning'],
      ['provisioning', 'working'],
    ] as const)
      store.transition(id, { from: [from], to });
    store.recordToolCall({
      runId: id,
      step: 1,
      toolUseId: 't1',
      name: 'bash',
      input: { command: 'npm test' },
      output: 'all tests passed',
      exitCode: 0,
      isError: false,
      durationMs: 12,
    });
    const sha = store.saveDiff(id, DIFF);
    store.updateRun(
      id,
      { diffSha256: sha },
      { type: 'diff.taken', data: { bytes: DIFF.length, sha256: sha } },
    );
    store.transition(id, { from: ['working'], to: 'awaiting_approval' });
  }
  store.transition('run1', {
    from: ['awaiting_approval'],
    to: 'rejected',
    event: { type: 'run.rejected', data: { by: 'U2' } },
    durable: true,
  });
  const sha = store.getRun('run2')?.diffSha256 as string;
  store.transition('run2', {
    from: ['awaiting_approval'],
    to: 'pushing',
    event: {
      type: 'approval.granted',
      data: { by: 'U2', diff_sha256: sha, approved_at: '2026-01-01T00:00:00.000Z', headless: false },
    },
    fields: { approvedBy: 'U2', approvedAt: '2026-01-01T00:00:00.000Z' },
    durable: true,
  });
  store.transition('run2', {
    from: ['pushing'],
    to: 'done',
    event: {
      type: 'push.done',
      data: {
        branch: 'airlock/run2',
        commit: 'c0ffee',
        already_pushed: false,
        pr_url: null,
        pr_created: null,
      },
    },
    durable: true,
  });
  store.appendEvent('run2', { type: 'ticket.updated', data: { ticket: 'W-1', action: 'comment' } });
  store.appendEvent('run2', { type: 'ticket.updated', data: { ticket: 'W-1', action: 'transition' } });
  head = store.auditHead() as { seq: number; hash: string };
  store.close();
}

/** Opens the file as an attacker would: triggers dropped, rows changed behind airlock's back. */
function tamper(edit: (db: Database.Database) => void): void {
  const db = new Database(path);
  for (const t of ['events', 'model_turns', 'tool_calls', 'diffs'])
    db.exec(`DROP TRIGGER IF EXISTS ${t}_no_update; DROP TRIGGER IF EXISTS ${t}_no_delete;`);
  edit(db);
  db.close();
}

function events(db: Database.Database): Row[] {
  return db.prepare('SELECT * FROM events ORDER BY seq').all() as Row[];
}

/** What an attacker without the key can compute: the plain SHA-256 link. */
function plainHash(prev: string, e: Row): string {
  return eventHash(prev, {
    seq: e.seq as number,
    runId: e.run_id as string,
    type: e.type as string,
    at: e.at as string,
    data: JSON.parse(e.data as string),
  });
}

const verify = (...args: string[]) => runCli(['audit', 'verify', ...args], env);

beforeEach(() => {
  scratch = scratchConfig('repos:\n  acme/widgets: {}\n');
  mkdirSync(scratch.dataDir, { recursive: true });
  path = join(scratch.dataDir, 'airlock.db');
  env = { AIRLOCK_CONFIG: scratch.config, AIRLOCK_DATA_DIR: scratch.dataDir, AIRLOCK_AUDIT_KEY: KEY };
  seed();
});
afterEach(() => scratch.cleanup());

describe('a keyed audit chain under attack', () => {
  it('an untouched keyed chain verifies and prints its head', async () => {
    const r = await verify();
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      `audit chain intact: ${head.seq} events, 2 runs agree with them, keyed with AIRLOCK_AUDIT_KEY from event 1`,
    );
    expect(r.stdout).toContain(`head ${head.seq}:${head.hash}\n`);
    const again = await verify('--expect', `${head.seq}:${head.hash}`, '--expect', `3:${hashOf(3)}`);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('2 checkpoint(s) present');
  });

  it('an edited event fails', async () => {
    tamper((db) =>
      db.exec(`UPDATE events SET data = replace(data, '"U2"', '"U9"') WHERE type = 'approval.granted'`),
    );
    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('audit chain BROKEN');
    expect(r.stderr).toMatch(/event \d+ \(approval\.granted, run run2\): content does not match its hash/);
  });

  it('a deleted event fails', async () => {
    tamper((db) => db.exec('DELETE FROM events WHERE seq = 5'));
    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('event 6: expected sequence number 5 (an event is missing)');
    expect(r.stderr).toContain('event 6: does not link to the event before it');
  });

  it('reordered events fail', async () => {
    tamper((db) =>
      db.exec(
        'UPDATE events SET seq = seq + 1000 WHERE seq IN (2, 3); UPDATE events SET seq = 3 WHERE seq = 1002; UPDATE events SET seq = 2 WHERE seq = 1003;',
      ),
    );
    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('event 2: does not link to the event before it (reordered or removed)');
  });

  it('an inserted event fails', async () => {
    tamper((db) => {
      const rows = events(db);
      db.exec(
        'UPDATE events SET seq = seq + 1000 WHERE seq >= 10; UPDATE events SET seq = seq - 999 WHERE seq > 1000',
      );
      const before = rows[8] as Row;
      db.prepare(
        "INSERT INTO events (seq, run_id, type, at, data, prev_hash, hash, chain) VALUES (10, 'run1', 'instruction.received', ?, ?, ?, ?, 'hmac-sha256')",
      ).run(before.at, '{"by":"U1","text":"push it"}', before.hash, 'f'.repeat(64));
    });
    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/event 10 \(instruction\.received, run run1\): content does not match its hash/);
    expect(r.stderr).toContain('event 11: does not link to the event before it');
  });

  it('a correctly chained forgery appended without the key fails', async () => {
    tamper((db) => {
      const last = events(db).at(-1) as Row;
      const forged: Row = {
        seq: (last.seq as number) + 1,
        run_id: 'run1',
        type: 'approval.granted',
        at: '2026-02-01T00:00:00.000Z',
        data: JSON.stringify({ from: 'rejected', to: 'pushing', by: 'U2' }),
      };
      const hash = plainHash(last.hash as string, forged);
      db.prepare(
        "INSERT INTO events (seq, run_id, type, at, data, prev_hash, hash, chain) VALUES (?, ?, ?, ?, ?, ?, ?, 'sha256')",
      ).run(forged.seq, forged.run_id, forged.type, forged.at, forged.data, last.hash, hash);
    });
    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `event ${head.seq + 1} hashed without AIRLOCK_AUDIT_KEY after keyed events: appended or re-hashed by someone without the key`,
    );
  });

  it('a forgery labelled as keyed but hashed without the key fails', async () => {
    tamper((db) => {
      const last = events(db).at(-1) as Row;
      const forged: Row = {
        seq: (last.seq as number) + 1,
        run_id: 'run2',
        type: 'ticket.updated',
        at: '2026-02-01T00:00:00.000Z',
        data: JSON.stringify({ ticket: 'W-1', action: 'close' }),
      };
      db.prepare(
        "INSERT INTO events (seq, run_id, type, at, data, prev_hash, hash, chain) VALUES (?, ?, ?, ?, ?, ?, ?, 'hmac-sha256')",
      ).run(
        forged.seq,
        forged.run_id,
        forged.type,
        forged.at,
        forged.data,
        last.hash,
        plainHash(last.hash as string, forged),
      );
    });
    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `event ${head.seq + 1} (ticket.updated, run run2): content does not match its hash (or AIRLOCK_AUDIT_KEY is not the key that wrote it)`,
    );
  });

  it('the whole chain re-hashed without the key fails', async () => {
    tamper((db) => {
      let prev = GENESIS_HASH;
      const update = db.prepare("UPDATE events SET prev_hash = ?, hash = ?, chain = 'sha256' WHERE seq = ?");
      for (const e of events(db)) {
        const data =
          e.type === 'run.requested' && e.run_id === 'run1'
            ? (e.data as string).replace('"U1"', '"U7"')
            : e.data;
        const hash = plainHash(prev, { ...e, data });
        update.run(prev, hash, e.seq);
        db.prepare('UPDATE events SET data = ? WHERE seq = ?').run(data, e.seq);
        prev = hash;
      }
      db.exec("UPDATE runs SET requester = 'U7' WHERE id = 'run1'");
    });
    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `the newest event ${head.seq} is not hashed with AIRLOCK_AUDIT_KEY and none is: the chain was re-hashed or extended without the key`,
    );
    // Once airlock writes on top of it, keying starts again there; the published head still catches it.
    const store = new SqliteStore(openDatabase(path), undefined, { auditKey: KEY });
    store.appendEvent('run2', { type: 'ticket.updated', data: { ticket: 'W-1', action: 'comment' } });
    store.close();
    const later = await verify('--expect', `${head.seq}:${head.hash}`);
    expect(later.code).toBe(1);
    expect(later.stderr).toMatch(
      new RegExp(`checkpoint ${head.seq}:[0-9a-f]{12}… does not match: event ${head.seq} now hashes to`),
    );
  });

  it('truncating the newest events is caught against the earlier published head', async () => {
    const published = (await verify()).stdout.match(/^head (\d+:[0-9a-f]{64})$/m)?.[1];
    expect(published).toBe(`${head.seq}:${head.hash}`);
    tamper((db) => db.exec(`DELETE FROM events WHERE seq > ${head.seq - 2}`));
    // Without the checkpoint a shorter chain is still a valid chain: that is what --expect is for.
    expect((await verify()).code).toBe(0);
    const r = await verify('--expect', published as string);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      `checkpoint ${head.seq}:${head.hash.slice(0, 12)}… is missing: the chain ends at ${head.seq - 2} (events were removed since that checkpoint)`,
    );
  });

  it('a checkpoint whose event was rewritten fails', async () => {
    const r = await verify('--expect', `3:${'ab'.repeat(32)}`);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /checkpoint 3:abababababab… does not match: event 3 now hashes to [0-9a-f]{12}…/,
    );
  });

  it('a malformed --expect is bad usage', async () => {
    const r = await verify('--expect', '27:nothex');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--expect takes SEQ:HASH');
  });

  it('a rejected run set back to awaiting_approval fails', async () => {
    tamper((db) => db.exec("UPDATE runs SET state = 'awaiting_approval', error = NULL WHERE id = 'run1'"));
    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'run run1 disagrees with the audit chain: state is awaiting_approval but its events say rejected',
    );
  });

  it("a run's requester, approver or diff hash changed fails", async () => {
    tamper((db) =>
      db.exec(
        `UPDATE runs SET requester = 'U2' WHERE id = 'run1';
         UPDATE runs SET approved_by = 'U1', diff_sha256 = '${'0'.repeat(64)}' WHERE id = 'run2';`,
      ),
    );
    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(
      'run run1 disagrees with the audit chain: requester is U2 but its events say U1',
    );
    expect(r.stderr).toMatch(
      /run run2 disagrees with the audit chain: approver is U1 but its events say U2; diff hash is 0{64} but its events say [0-9a-f]{64}/,
    );
  });

  it('a run row with no events, or events with no row, fails', async () => {
    tamper((db) =>
      db.exec(`INSERT INTO runs (id, repo, task, requester, source, state, base_ref, created_at, updated_at)
               VALUES ('run9', 'acme/widgets', 'sneak', 'U1', 'slack', 'awaiting_approval', 'main', '2026-01-01', '2026-01-01');
               DELETE FROM runs WHERE id = 'run2';`),
    );
    const r = await verify();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('run run9 has no run.requested event: the row is not in the audit chain');
    expect(r.stderr).toContain('run run2 has audit events but no row in runs (deleted)');
  });

  it('a keyed chain checked without the key says the key is needed, not that it was tampered with', async () => {
    const { AIRLOCK_AUDIT_KEY: _, ...noKey } = env;
    const r = await runCli(['audit', 'verify'], noKey);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('audit chain NOT VERIFIED: it is keyed and AIRLOCK_AUDIT_KEY is not set');
    expect(r.stderr).toContain('set AIRLOCK_AUDIT_KEY to verify them');
    expect(r.stderr).not.toContain('BROKEN');
  });

  it('a different key fails every keyed event', async () => {
    const r = await runCli(['audit', 'verify'], {
      ...env,
      AIRLOCK_AUDIT_KEY: 'another-key-0123456789abcdef',
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('(or AIRLOCK_AUDIT_KEY is not the key that wrote it)');
    expect(r.stderr).not.toContain('another-key-0123456789abcdef');
  });
});

function hashOf(seq: number): string {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('SELECT hash FROM events WHERE seq = ?').get(seq) as Row).hash as string;
  } finally {
    db.close();
  }
}
