import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/store/database.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { runCli } from '../support/run-cli.js';
import { scratchConfig } from '../support/workspace.js';

let dir: string;
let path: string;

function seed(): SqliteStore {
  const store = new SqliteStore(openDatabase(path));
  for (const id of ['run1', 'run2']) {
    store.createRun({
      id,
      repo: 'acme/widgets',
      task: 'fix it',
      requester: 'U1',
      source: 'cli',
      baseRef: 'main',
      ownerId: null,
    });
    store.transition(id, { from: ['requested'], to: 'queued' });
    store.recordModelTurn({
      runId: id,
      step: 1,
      model: 'claude-sonnet-5-5',
      request: { messages: [{ role: 'user', content: [{ type: 'text', text: 'fix it' }] }] },
      response: { content: [{ type: 'text', text: 'done' }] },
      usage: { inputTokens: 10, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0 },
      costUsd: 0.001,
    });
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
    store.saveDiff(id, Buffer.from('diff --git a/x b/x\n'));
  }
  return store;
}

/** Opens the file as an attacker would: triggers dropped, rows changed behind airlock's back. */
function tamper(sql: string): void {
  const db = new Database(path);
  for (const t of ['events', 'model_turns', 'tool_calls', 'diffs']) {
    db.exec(`DROP TRIGGER IF EXISTS ${t}_no_update; DROP TRIGGER IF EXISTS ${t}_no_delete;`);
  }
  db.exec(sql);
  db.close();
}

function verify(): { ok: boolean; problems: string[] } {
  const store = new SqliteStore(openDatabase(path));
  try {
    return store.verifyAudit();
  } finally {
    store.close();
  }
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'airlock-audit-'));
  path = join(dir, 'airlock.db');
  seed().close();
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the audit chain', () => {
  it('verifies an untouched database', () => {
    const report = verify();
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
  });

  it('refuses updates and deletes through the database itself', () => {
    const db = new Database(path);
    expect(() => db.exec("UPDATE events SET type = 'x' WHERE seq = 1")).toThrow(/append-only/);
    expect(() => db.exec('DELETE FROM events WHERE seq = 1')).toThrow(/append-only/);
    expect(() => db.exec("UPDATE tool_calls SET output = 'x'")).toThrow(/append-only/);
    expect(() => db.exec('DELETE FROM model_turns')).toThrow(/append-only/);
    db.close();
  });

  it('catches an edited event', () => {
    tamper(`UPDATE events SET data = replace(data, 'fix it', 'rm -rf') WHERE seq = 1`);
    expect(verify().problems).toEqual([
      expect.stringContaining('event 1 (run.requested, run run1): content does not match'),
    ]);
  });

  it('catches a deleted event', () => {
    tamper('DELETE FROM events WHERE seq = 3');
    const { ok, problems } = verify();
    expect(ok).toBe(false);
    expect(problems.join('\n')).toMatch(/expected sequence number 3/);
  });

  it('catches reordered events', () => {
    tamper(
      'UPDATE events SET seq = seq + 1000 WHERE seq IN (2, 3); UPDATE events SET seq = 3 WHERE seq = 1002; UPDATE events SET seq = 2 WHERE seq = 1003;',
    );
    expect(verify().problems.join('\n')).toMatch(/does not link to the event before it/);
  });

  it('catches altered command output, model turns and diffs', () => {
    tamper(`UPDATE tool_calls SET output = 'tests failed' WHERE id = 1;
            UPDATE model_turns SET response = '{"content":[]}' WHERE id = 2;
            UPDATE diffs SET diff = X'00' WHERE run_id = 'run2';`);
    const problems = verify().problems.join('\n');
    expect(problems).toContain('tool call 1 (run run1) was altered');
    expect(problems).toContain('model turn 2 (run run2) was altered');
    expect(problems).toMatch(/diff [0-9a-f]{12} of run run2 was altered/);
  });

  it('catches a row slipped in without an event', () => {
    tamper(`INSERT INTO tool_calls (run_id, step, tool_use_id, name, input, output, exit_code, is_error, duration_ms, at)
            VALUES ('run1', 2, 't9', 'bash', '{}', 'forged', 0, 0, 1, '2026-01-01')`);
    expect(verify().problems).toEqual([expect.stringContaining('has no audit event')]);
  });

  it('`airlock audit verify` exits 0 on an intact chain and 1 on a tampered one', async () => {
    const scratch = scratchConfig('repos:\n  acme/widgets: {}\n');
    try {
      const env = { AIRLOCK_CONFIG: scratch.config, AIRLOCK_DATA_DIR: dir };
      const intact = await runCli(['audit', 'verify'], env);
      expect(intact.code).toBe(0);
      expect(intact.stdout).toMatch(/audit chain intact: \d+ events/);
      expect(intact.stdout).toMatch(/^head \d+:[0-9a-f]{64}$/m);
      tamper(`UPDATE events SET at = '2020-01-01T00:00:00.000Z' WHERE seq = 2`);
      const broken = await runCli(['audit', 'verify'], env);
      expect(broken.code).toBe(1);
      expect(broken.stderr).toContain('audit chain BROKEN');
      expect(broken.stderr).toContain('event 2');
    } finally {
      scratch.cleanup();
    }
  });
});

describe('the store', () => {
  it('moves a run only from the states the caller expects', () => {
    const store = new SqliteStore(openDatabase(path));
    expect(store.transition('run1', { from: ['requested'], to: 'queued' }).ok).toBe(false);
    expect(store.transition('run1', { from: ['queued'], to: 'provisioning' }).run.state).toBe('provisioning');
    expect(() => store.transition('run1', { from: ['provisioning'], to: 'done' })).toThrow(
      /not a valid transition/,
    );
    expect(store.getRun('run1')?.state).toBe('provisioning');
    store.close();
  });

  it('adds up turns into totals and keeps the whole tool output', () => {
    const store = new SqliteStore(openDatabase(path));
    expect(store.totals('run1')).toEqual({ steps: 1, inputTokens: 10, outputTokens: 5, costUsd: 0.001 });
    expect(store.toolCalls('run1')[0]).toMatchObject({ output: 'all tests passed', exitCode: 0 });
    store.close();
  });

  it('runs in WAL mode and migrates to the newest schema', () => {
    const db = openDatabase(path);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('user_version', { simple: true })).toBeGreaterThanOrEqual(1);
    db.close();
  });
});
