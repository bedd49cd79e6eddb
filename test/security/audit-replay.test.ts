import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { readEnv, secretValues } from '../../src/config/env.js';
import { eventHash, formatChainPoint, parseChainPoint } from '../../src/store/audit-chain.js';
import { AuditCheckpoints } from '../../src/store/audit-checkpoints.js';
import { disagreement, type ReplayInput, replayRuns } from '../../src/store/audit-replay.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';

const KEY = 'k3y-from-a-secret-0123456789abcdef';

function ev(seq: number, runId: string, type: string, data: Record<string, unknown> = {}): ReplayInput {
  return { seq, runId, type, data };
}

const approvedRun: ReplayInput[] = [
  ev(1, 'r1', 'run.requested', { requester: 'U1', repo: 'acme/widgets' }),
  ev(2, 'r1', 'run.queued', { from: 'requested', to: 'queued' }),
  ev(3, 'r1', 'run.provisioning', { from: 'queued', to: 'provisioning' }),
  ev(4, 'r1', 'run.working', { from: 'provisioning', to: 'working' }),
  ev(5, 'r1', 'diff.taken', { bytes: 10, sha256: 'a'.repeat(64) }),
  ev(6, 'r1', 'run.awaiting_approval', {
    from: 'working',
    to: 'awaiting_approval',
    diff_sha256: 'a'.repeat(64),
  }),
  ev(7, 'r1', 'owner.adopted', { owner: 'o2', previous: 'o1' }),
  ev(8, 'r1', 'approval.granted', { from: 'awaiting_approval', to: 'pushing', by: 'U2' }),
  ev(9, 'r1', 'push.failed', { from: 'pushing', to: 'failed', error: 'forge down', retryable: true }),
  ev(10, 'r1', 'push.retried', { from: 'failed', to: 'pushing', by: 'U3' }),
  ev(11, 'r1', 'push.done', { from: 'pushing', to: 'done', branch: 'airlock/r1' }),
];

describe('replaying a run from its events', () => {
  it('gives the state, requester, approver and diff hash the store wrote', () => {
    const { runs, problems } = replayRuns(approvedRun);
    expect(problems).toEqual([]);
    expect(runs.get('r1')).toEqual({
      state: 'done',
      requester: 'U1',
      approvedBy: 'U2',
      diffSha256: 'a'.repeat(64),
    });
  });

  it('a retry does not change the approver; owner adoption changes nothing', () => {
    const { runs } = replayRuns(approvedRun.slice(0, 10));
    expect(runs.get('r1')).toMatchObject({ state: 'pushing', approvedBy: 'U2' });
    expect(replayRuns(approvedRun.slice(0, 7)).runs.get('r1')?.state).toBe('awaiting_approval');
  });

  it('a follow-up with no changes clears the diff hash', () => {
    const { runs } = replayRuns([
      ...approvedRun.slice(0, 6),
      ev(7, 'r1', 'diff.taken', { bytes: 0, sha256: null }),
    ]);
    expect(runs.get('r1')?.diffSha256).toBeNull();
  });

  it('flags a move from a state the run was not in, and events before the run was requested', () => {
    const { problems } = replayRuns([
      ev(1, 'r2', 'run.queued', { from: 'requested', to: 'queued' }),
      ...approvedRun.slice(0, 4),
      ev(5, 'r1', 'approval.granted', { from: 'awaiting_approval', to: 'pushing', by: 'U2' }),
      ev(6, 'r1', 'run.done', { from: 'pushing', to: 'nowhere' }),
    ]);
    expect(problems).toEqual([
      'event 1 (run.queued): run r2 has no run.requested event before it',
      'event 5 (approval.granted, run r1): moves the run from awaiting_approval, but its events left it working',
      'event 6 (run.done, run r1): not a valid move (pushing → nowhere)',
    ]);
  });

  it('names each column of a row that disagrees with its events', () => {
    const expected = replayRuns(approvedRun).runs.get('r1');
    const row = { state: 'done' as const, requester: 'U1', approvedBy: 'U2', diffSha256: 'a'.repeat(64) };
    expect(disagreement('r1', row, expected)).toBeUndefined();
    expect(disagreement('r1', { ...row, state: 'awaiting_approval', requester: 'U9' }, expected)).toBe(
      'run r1 disagrees with the audit chain: state is awaiting_approval but its events say done; requester is U9 but its events say U1',
    );
    expect(disagreement('r9', row, undefined)).toMatch(/run r9 has no run.requested event/);
  });
});

describe('AIRLOCK_AUDIT_KEY', () => {
  it('is a secret (redacted like the others) and refused when too short to be one', () => {
    expect(secretValues({ AIRLOCK_AUDIT_KEY: KEY })).toEqual([KEY]);
    expect(readEnv({ AIRLOCK_AUDIT_KEY: KEY }).AIRLOCK_AUDIT_KEY).toBe(KEY);
    expect(() => readEnv({ AIRLOCK_AUDIT_KEY: 'short' })).toThrow(
      /AIRLOCK_AUDIT_KEY: must be at least 16 characters/,
    );
  });
});

describe('chain points', () => {
  it('parses and formats SEQ:HASH, refusing anything else', () => {
    const hash = 'AB'.repeat(32);
    expect(parseChainPoint(`12:${hash}`)).toEqual({ seq: 12, hash: hash.toLowerCase() });
    expect(formatChainPoint({ seq: 12, hash: 'c'.repeat(64) })).toBe(`12:${'c'.repeat(64)}`);
    for (const bad of ['12', `x:${hash}`, `12:${hash}0`, `-1:${hash}`, ''])
      expect(parseChainPoint(bad)).toBeUndefined();
  });

  it('a keyed link is an HMAC: the plain hash of the same event differs', () => {
    const e = { seq: 1, runId: 'r1', type: 'run.requested', at: '2026-01-01', data: { a: 1 } };
    expect(eventHash('0'.repeat(64), e, KEY)).not.toBe(eventHash('0'.repeat(64), e));
    expect(eventHash('0'.repeat(64), e, KEY)).not.toBe(eventHash('0'.repeat(64), e, `${KEY}x`));
  });
});

function newRun(store: SqliteStore, id: string): void {
  store.createRun({
    id,
    repo: 'acme/widgets',
    task: 't',
    requester: 'U1',
    source: 'slack',
    baseRef: 'main',
    ownerId: null,
  });
}

describe('audit checkpoints', () => {
  const logged: Array<{ fields: Record<string, unknown>; msg: string }> = [];
  const logger = {
    info: (fields: Record<string, unknown>, msg: string) => logged.push({ fields, msg }),
    warn: (fields: Record<string, unknown>, msg: string) => logged.push({ fields, msg }),
  } as never;
  beforeEach(() => {
    logged.length = 0;
  });
  afterEach(() => vi.useRealTimers());

  it('the store checkpoints after every durable write commits, and only then', () => {
    const checkpoints = new AuditCheckpoints(logger);
    const store = new SqliteStore(openDatabase(':memory:'), undefined, {
      auditKey: KEY,
      onCheckpoint: checkpoints.onDurableEvent,
    });
    checkpoints.readFrom(() => store.auditHead());
    newRun(store, 'r1');
    store.transition('r1', { from: ['requested'], to: 'queued' });
    expect(logged).toEqual([]);
    store.transition('r1', { from: ['queued'], to: 'cancelled', durable: true });
    store.transition('r1', { from: ['queued'], to: 'failed', durable: true }); // refused: no event, no checkpoint
    store.appendEvent('r1', { type: 'cancel.requested', data: { by: 'U1' } }, { durable: true });
    const head = store.auditHead();
    expect(head?.seq).toBe(4);
    expect(logged.map((l) => l.msg)).toEqual([
      `audit checkpoint 3:${store.events('r1')[2]?.hash}`,
      `audit checkpoint 4:${head?.hash}`,
    ]);
    expect(logged[1]?.fields).toEqual({ seq: 4, hash: head?.hash, reason: 'cancel.requested' });
    expect(checkpoints.checkpoint('shutdown')).toEqual(head);
    expect(logged[2]?.fields).toEqual({ seq: 4, hash: head?.hash, reason: 'shutdown' });
    store.close();
  });

  it('every interval, and copies each checkpoint to its sinks (a failing sink is only logged)', async () => {
    vi.useFakeTimers();
    const checkpoints = new AuditCheckpoints(logger, () => ({ seq: 7, hash: 'f'.repeat(64) }));
    const posted: unknown[] = [];
    checkpoints.addSink((p) => {
      posted.push(p);
    });
    checkpoints.addSink(() => Promise.reject(new Error('slack down')));
    const stop = checkpoints.every(1000);
    await vi.advanceTimersByTimeAsync(2500);
    stop();
    await vi.advanceTimersByTimeAsync(5000);
    expect(posted).toEqual([
      { seq: 7, hash: 'f'.repeat(64), reason: 'interval' },
      { seq: 7, hash: 'f'.repeat(64), reason: 'interval' },
    ]);
    expect(logged.filter((l) => l.msg === 'audit checkpoint not copied to its sink')).toHaveLength(2);
  });

  it('a database hashed before the key was set keeps verifying once the key takes over', () => {
    const db = openDatabase(':memory:');
    const plain = new SqliteStore(db);
    newRun(plain, 'r1');
    expect(plain.verifyAuditAgainst([])).toMatchObject({ ok: true, keyedFrom: null });

    const checkpoints = new AuditCheckpoints(logger);
    const keyed = new SqliteStore(db, undefined, { auditKey: KEY, onCheckpoint: checkpoints.onDurableEvent });
    // Until something is written with the key, a plain head is what a re-hash would look like.
    expect(keyed.verifyAudit().problems).toEqual([
      expect.stringContaining('is not hashed with AIRLOCK_AUDIT_KEY'),
    ]);
    keyed.transition('r1', { from: ['requested'], to: 'queued' });
    expect(keyed.verifyAuditAgainst([])).toMatchObject({ ok: true, keyedFrom: 2, headSeq: 2 });
    expect(keyed.auditHead()?.seq).toBe(2);
    expect(logged.map((l) => l.fields.reason)).toEqual(['audit key took over']);

    // Without the key the keyed part cannot be checked: it says so instead of calling it tampered.
    const report = plain.verifyAuditAgainst([]);
    expect(report).toMatchObject({ ok: false, needsKey: true });
    expect(report.problems).toEqual([
      'the chain is keyed (HMAC-SHA-256) from event 2: event 2 cannot be checked without the key; set AIRLOCK_AUDIT_KEY to verify them',
    ]);
    keyed.close();
  });
});

describe('a run agrees with its chain', () => {
  it('says why a run edited behind airlock’s back disagrees, so approval can refuse it', () => {
    const db = openDatabase(':memory:');
    const store = new SqliteStore(db, undefined, { auditKey: KEY });
    newRun(store, 'r1');
    store.transition('r1', { from: ['requested'], to: 'queued' });
    expect(store.runAgreesWithChain('r1')).toBeUndefined();
    expect(store.runAgreesWithChain('nope')).toBe('run nope does not exist');

    db.exec("UPDATE runs SET requester = 'U2' WHERE id = 'r1'");
    expect(store.runAgreesWithChain('r1')).toBe(
      'run r1 disagrees with the audit chain: requester is U2 but its events say U1',
    );
    db.exec("UPDATE runs SET requester = 'U1' WHERE id = 'r1'");

    db.exec('DROP TRIGGER events_no_update');
    db.exec(`UPDATE events SET data = replace(data, '"U1"', '"U2"') WHERE seq = 1`);
    expect(store.runAgreesWithChain('r1')).toBe('run r1: event 1 (run.requested) does not match its hash');
    store.close();
  });
});
