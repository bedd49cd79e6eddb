import { spawnSync } from 'node:child_process';
import { hostname } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import type { RunRecord } from '../../src/runs/ports/store.js';
import type { Actor, RunLifecycle } from '../../src/runs/run-lifecycle.js';
import { RUN_STATES, type RunState, TERMINAL_STATES, TRANSITIONS } from '../../src/runs/run-state.js';
import { type Kit, lifecycleKit } from '../support/lifecycle-kit.js';

const DIFF = Buffer.from(
  'diff --git a/x b/x\nnew file mode 100644\n--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n+x\n',
);
const APPROVER: Actor = { person: { id: 'U0APPROVER' } };
const REQUESTER = 'U0REQUESTER';

let kit: Kit;
afterEach(() => {
  kit?.owner.stop();
  kit?.store.close();
});

/** A pid of this host that no process has any more. */
function deadPid(): number {
  return spawnSync('true').pid as number;
}

/** The path a run takes through the states, to put one anywhere for the table below. */
const PATH: Record<RunState, RunState[]> = {
  requested: [],
  queued: ['queued'],
  provisioning: ['queued', 'provisioning'],
  working: ['queued', 'provisioning', 'working'],
  awaiting_approval: ['queued', 'provisioning', 'working', 'awaiting_approval'],
  changes_requested: ['queued', 'provisioning', 'working', 'awaiting_approval', 'changes_requested'],
  pushing: ['queued', 'provisioning', 'working', 'awaiting_approval', 'pushing'],
  done: ['queued', 'provisioning', 'working', 'awaiting_approval', 'pushing', 'done'],
  rejected: ['queued', 'provisioning', 'working', 'awaiting_approval', 'rejected'],
  failed: ['queued', 'failed'],
  cancelled: ['queued', 'cancelled'],
  expired: ['queued', 'provisioning', 'working', 'awaiting_approval', 'expired'],
};

/** Test setup only: walks a run to `state` through the store (src/ goes through the lifecycle). */
function runIn(state: RunState, opts: { source?: RunRecord['source'] } = {}): RunRecord {
  const id = `r${Math.random().toString(36).slice(2, 10)}`;
  kit.store.createRun({
    id,
    repo: 'acme/widgets',
    task: 'fix the flaky test',
    requester: REQUESTER,
    source: opts.source ?? 'slack',
    baseRef: 'main',
    ownerId: kit.owner.id(),
  });
  const sha = kit.store.saveDiff(id, DIFF);
  const at = new Date(kit.clock.now).toISOString();
  // The row and its events agree, as the lifecycle writes them (the approval path checks).
  kit.store.updateRun(
    id,
    { baseSha: 'b'.repeat(40), snapshotCommit: 'c'.repeat(40), diffSha256: sha },
    { type: 'diff.taken', data: { bytes: DIFF.length, sha256: sha } },
  );
  for (const to of PATH[state]) {
    const approving = to === 'pushing';
    kit.store.transition(id, {
      from: RUN_STATES,
      to,
      event: approving
        ? {
            type: 'approval.granted',
            data: { by: 'U0APPROVER', diff_sha256: sha, approved_at: at, headless: false },
          }
        : undefined,
      fields: {
        awaitingSince: at,
        sessionStartedAt: at,
        branch: `airlock/${id}-fix`,
        ...(approving ? { approvedBy: 'U0APPROVER', approvedAt: at } : {}),
        ownerId: kit.owner.id(),
      },
    });
  }
  return kit.store.getRun(id) as RunRecord;
}

/** A run asked for through the lifecycle (the way every intake asks), or the test fails. */
function request(
  lifecycle: RunLifecycle,
  req: { task: string; requester: string; source: RunRecord['source'] },
): { run: RunRecord } {
  const requested = lifecycle.request({ repo: 'acme/widgets', ...req, requester: { id: req.requester } });
  if (!requested.allowed) throw new Error(requested.reason);
  return requested;
}

type Command = (run: RunRecord) => Promise<{ allowed?: boolean; run?: RunRecord } | RunRecord | undefined>;

/** Every command a person or a driver can give, and the states it works from (DESIGN.md §2). */
const COMMANDS: Array<{ name: string; from: RunState[]; to: RunState; act: Command }> = [
  {
    name: 'approve',
    from: ['awaiting_approval'],
    to: 'done',
    act: (r) => kit.lifecycle.approve(r.id, APPROVER, r.diffSha256 as string),
  },
  {
    name: 'requestChanges',
    from: ['awaiting_approval'],
    to: 'changes_requested',
    act: async (r) =>
      kit.lifecycle.requestChanges(r.id, { id: REQUESTER }, r.diffSha256 as string, 'smaller'),
  },
  {
    name: 'reject',
    from: ['requested', 'awaiting_approval'],
    to: 'rejected',
    act: async (r) => kit.lifecycle.reject(r.id, APPROVER),
  },
  {
    name: 'cancel (nothing running)',
    from: ['requested', 'queued', 'awaiting_approval', 'changes_requested'],
    to: 'cancelled',
    act: async (r) => kit.lifecycle.cancel(r.id, APPROVER, { running: false }),
  },
  {
    name: 'finishAsPatch',
    from: ['awaiting_approval'],
    to: 'done',
    act: async (r) => {
      try {
        return kit.lifecycle.finishAsPatch(r.id);
      } catch {
        return undefined;
      }
    },
  },
  {
    name: 'fail',
    from: RUN_STATES.filter((s) => !TERMINAL_STATES.has(s)),
    to: 'failed',
    act: async (r) => kit.lifecycle.fail(r.id, 'broke'),
  },
  {
    name: 'expire (past the TTL)',
    from: ['awaiting_approval'],
    to: 'expired',
    act: async () => {
      kit.clock.now += 2 * 3600_000;
      return kit.lifecycle.expire()[0];
    },
  },
];

describe('the run lifecycle: every command from every state', () => {
  for (const command of COMMANDS) {
    for (const state of RUN_STATES) {
      const allowed = command.from.includes(state);
      it(`${command.name} from ${state} ${allowed ? `moves the run to ${command.to}` : 'changes nothing'}`, async () => {
        kit = lifecycleKit();
        const run = runIn(state);
        const before = kit.store.events(run.id).length;
        await command.act(run);
        const after = kit.store.getRun(run.id) as RunRecord;
        if (allowed) {
          expect(after.state).toBe(command.to);
        } else {
          expect(after.state).toBe(state);
          // Nothing but the audit of a refusal may be written.
          const added = kit.store.events(run.id).slice(before);
          expect(added.every((e) => e.type.endsWith('.refused'))).toBe(true);
        }
      });
    }
  }

  it('the store refuses every transition the table does not allow', () => {
    kit = lifecycleKit();
    for (const from of RUN_STATES) {
      for (const to of RUN_STATES) {
        if (from === to || TRANSITIONS[from].includes(to)) continue;
        const run = runIn(from);
        expect(() => kit.store.transition(run.id, { from: [from], to }), `${from} → ${to}`).toThrow(
          /not a valid transition/,
        );
      }
    }
  });

  it('a terminal run has no owner; an active one always has one', () => {
    kit = lifecycleKit();
    for (const state of RUN_STATES) {
      const run = runIn(state);
      if (['done', 'rejected', 'failed', 'cancelled', 'expired'].includes(state))
        expect(run.ownerId).toBeNull();
      else expect(run.ownerId).toBe(kit.owner.id());
    }
  });
});

describe('approval: one decision, in the transaction that moves the run to pushing', () => {
  it('the requester cannot approve their own run when four_eyes is on, and the attempt is audited', async () => {
    kit = lifecycleKit();
    const run = runIn('awaiting_approval');
    const outcome = await kit.lifecycle.approve(
      run.id,
      { person: { id: REQUESTER } },
      run.diffSha256 as string,
    );
    expect(outcome).toMatchObject({ allowed: false, reason: expect.stringContaining('four_eyes') });
    expect(kit.store.getRun(run.id)?.state).toBe('awaiting_approval');
    expect(kit.store.events(run.id).at(-1)).toMatchObject({
      type: 'approval.refused',
      data: { by: REQUESTER },
    });
    expect(kit.publisher.requests).toHaveLength(0);
  });

  it('someone who is not an approver is refused; a member of an approver group is not', async () => {
    kit = lifecycleKit();
    const run = runIn('awaiting_approval');
    const stranger = await kit.lifecycle.approve(run.id, { person: { id: 'U0X' } }, run.diffSha256 as string);
    expect(stranger.allowed).toBe(false);
    const lead = await kit.lifecycle.approve(
      run.id,
      { person: { id: 'U0LEAD', groups: ['S0LEADS'] } },
      run.diffSha256 as string,
    );
    expect(lead).toMatchObject({ allowed: true, run: { state: 'done', approvedBy: 'U0LEAD' } });
  });

  it('only the exact diff shown can be approved', async () => {
    kit = lifecycleKit();
    const run = runIn('awaiting_approval');
    const outcome = await kit.lifecycle.approve(run.id, APPROVER, 'f'.repeat(64));
    expect(outcome).toMatchObject({ allowed: false, reason: expect.stringContaining('diff changed') });
  });

  it('an approval past approval_ttl is refused even before the expiry sweep ran', async () => {
    kit = lifecycleKit();
    const run = runIn('awaiting_approval');
    kit.clock.now += 3600_000;
    const outcome = await kit.lifecycle.approve(run.id, APPROVER, run.diffSha256 as string);
    expect(outcome).toMatchObject({ allowed: false, reason: expect.stringContaining('expired') });
  });

  it('two approvals of one run push once; the second is told someone acted first', async () => {
    kit = lifecycleKit();
    const run = runIn('awaiting_approval');
    const [a, b] = await Promise.all([
      kit.lifecycle.approve(run.id, APPROVER, run.diffSha256 as string),
      kit.lifecycle.approve(
        run.id,
        { person: { id: 'U0LEAD', groups: ['S0LEADS'] } },
        run.diffSha256 as string,
      ),
    ]);
    expect([a.allowed, b.allowed]).toEqual([true, false]);
    expect(b).toMatchObject({ reason: 'Someone else acted on this run first.' });
    expect(kit.publisher.requests).toHaveLength(1);
  });

  it('the approver and the approval time are columns written with the transition', async () => {
    kit = lifecycleKit();
    const run = runIn('awaiting_approval');
    await kit.lifecycle.approve(run.id, APPROVER, run.diffSha256 as string);
    const after = kit.store.getRun(run.id) as RunRecord;
    expect(after).toMatchObject({
      approvedBy: 'U0APPROVER',
      approvedAt: new Date(kit.clock.now).toISOString(),
    });
    const granted = kit.store.events(run.id).find((e) => e.type === 'approval.granted');
    expect(granted?.data).toMatchObject({ by: 'U0APPROVER', from: 'awaiting_approval', to: 'pushing' });
  });
});

describe('a run row edited behind the audit log', () => {
  it('is never approved: the approval path checks the row against its own events', async () => {
    kit = lifecycleKit();
    const run = runIn('awaiting_approval');
    // An insider with database access makes themselves the requester of someone else's run.
    const db = (kit.store as unknown as { db: { prepare(sql: string): { run(...a: unknown[]): unknown } } })
      .db;
    db.prepare('UPDATE runs SET requester = ? WHERE id = ?').run('U0INSIDER', run.id);
    const outcome = await kit.lifecycle.approve(run.id, APPROVER, run.diffSha256 as string);
    expect(outcome).toMatchObject({
      allowed: false,
      reason: expect.stringContaining('disagrees with the audit log'),
    });
    expect(kit.publisher.requests).toHaveLength(0);
  });
});

describe('a push that fails is retryable, never lost', () => {
  it('a failing pull-request call ends the run failed and retryable; retry pushes the same bytes as the same commit', async () => {
    kit = lifecycleKit();
    const run = runIn('awaiting_approval');
    kit.publisher.failures.push('GitHub: pull request creation failed (502)');
    const first = await kit.lifecycle.approve(run.id, APPROVER, run.diffSha256 as string);
    expect(first.run).toMatchObject({ state: 'failed', retryable: true, outcome: 'push_failed' });
    expect(first.run.error).toContain(`airlock retry ${run.id}`);
    expect(kit.store.events(run.id).at(-1)).toMatchObject({ type: 'push.failed', data: { retryable: true } });

    kit.clock.now += 60_000;
    const retried = await kit.lifecycle.retryPush(run.id, { operator: 'cli:ops' });
    expect(retried.run).toMatchObject({ state: 'done', outcome: 'pushed', retryable: false, error: null });
    const [a, b] = kit.publisher.requests;
    expect(b?.diff.equals(a?.diff as Buffer)).toBe(true);
    expect(b?.approvedAt).toBe(a?.approvedAt);
    expect(b?.branch).toBe(a?.branch);
    expect(kit.model.requests).toHaveLength(0);
  });

  it('only a retryable failed run can be retried', async () => {
    kit = lifecycleKit();
    for (const state of ['failed', 'done', 'awaiting_approval', 'working'] as const) {
      const run = runIn(state);
      const outcome = await kit.lifecycle.retryPush(run.id, { operator: 'cli:ops' });
      expect(outcome.allowed, state).toBe(false);
      expect(kit.store.getRun(run.id)?.state).toBe(state);
    }
    expect(kit.publisher.requests).toHaveLength(0);
  });

  it('from Slack, only an approver (or the one who approved) may retry the push', async () => {
    kit = lifecycleKit();
    const run = runIn('awaiting_approval');
    kit.publisher.failures.push('GitHub is down');
    await kit.lifecycle.approve(run.id, APPROVER, run.diffSha256 as string);
    expect(kit.store.getRun(run.id)).toMatchObject({ state: 'failed', retryable: true });
    expect((await kit.lifecycle.retryPush(run.id, { person: { id: REQUESTER } })).allowed).toBe(false);
    expect((await kit.lifecycle.retryPush(run.id, APPROVER)).allowed).toBe(true);
  });
});

describe('a work session', () => {
  it('start takes a queued run to working and ends with the diff; settle asks for approval', async () => {
    kit = lifecycleKit();
    const requested = request(kit.lifecycle, { task: 'fix it', requester: REQUESTER, source: 'cli' });
    kit.sandboxes.nextDiff = DIFF;
    kit.model.push({ content: [{ type: 'text', text: 'Fixed it.' }] });
    const result = await kit.lifecycle.start(requested.run.id);
    expect(result.run).toMatchObject({ state: 'working', summary: 'Fixed it.', baseSha: 'b'.repeat(40) });
    const settled = kit.lifecycle.settle(result);
    expect(settled).toMatchObject({ state: 'awaiting_approval', awaitingSince: expect.any(String) });
  });

  it('no diff ends the run done with no changes', async () => {
    kit = lifecycleKit();
    const requested = request(kit.lifecycle, { task: 'look around', requester: REQUESTER, source: 'cli' });
    kit.model.push({});
    const settled = kit.lifecycle.settle(await kit.lifecycle.start(requested.run.id));
    expect(settled).toMatchObject({ state: 'done', outcome: 'no_changes' });
  });

  it('requested changes reach the agent once, from a column, and are cleared when delivered', async () => {
    kit = lifecycleKit();
    const run = runIn('awaiting_approval');
    await kit.sandboxes.create(run.id);
    kit.lifecycle.requestChanges(
      run.id,
      { id: REQUESTER },
      run.diffSha256 as string,
      'Also update the docs.',
    );
    expect(kit.store.getRun(run.id)?.pendingFeedback).toBe('Also update the docs.');
    kit.model.push({});
    await kit.lifecycle.resume(run.id);
    expect(JSON.stringify(kit.model.requests[0]?.messages)).toContain('Also update the docs.');
    expect(kit.store.getRun(run.id)?.pendingFeedback).toBeNull();
  });

  it('a session that fails ends the run failed and destroys its sandbox', async () => {
    kit = lifecycleKit();
    const requested = request(kit.lifecycle, { task: 'fix it', requester: REQUESTER, source: 'cli' });
    // No scripted reply: the model call fails.
    await expect(kit.lifecycle.start(requested.run.id)).rejects.toThrow(/no reply left/);
    expect(kit.store.getRun(requested.run.id)).toMatchObject({ state: 'failed', ownerId: null });
    expect(kit.sandboxes.live.size).toBe(0);
  });

  it('a requester not on the requesters list is refused before anything is written', () => {
    kit = lifecycleKit({
      policy: 'repos:\n  acme/widgets:\n    requesters: [U0ALLOWED]\n    approvers: [U0APPROVER]\n',
    });
    const refused = kit.lifecycle.request({
      repo: 'acme/widgets',
      task: 'x',
      requester: { id: 'U0OTHER' },
      source: 'slack',
    });
    expect(refused.allowed).toBe(false);
    expect(kit.store.listRuns()).toHaveLength(0);
  });

  it('a repeated intake key finds the first run instead of making a second', () => {
    kit = lifecycleKit();
    const req = {
      repo: 'acme/widgets',
      task: 'x',
      requester: { id: REQUESTER },
      source: 'slack' as const,
      intakeKey: 'Ev1',
    };
    const a = kit.lifecycle.request(req);
    const b = kit.lifecycle.request(req);
    expect(a.allowed && b.allowed && a.run.id === b.run.id && !b.created).toBe(true);
  });
});

describe('ownership and reconciliation', () => {
  it('a headless run whose process died ends failed, interrupted, and its sandbox is destroyed', async () => {
    kit = lifecycleKit();
    const dead = kit.other({ host: hostname(), pid: deadPid(), startToken: null }, { kind: 'run' });
    const requested = request(dead.lifecycle, { task: 'x', requester: 'cli:me', source: 'cli' });
    await kit.sandboxes.create(requested.run.id);
    const { ended } = await kit.lifecycle.reconcile({ adopt: false });
    expect(ended.map((r) => r.id)).toEqual([requested.run.id]);
    const run = kit.store.getRun(requested.run.id) as RunRecord;
    expect(run.state).toBe('failed');
    expect(run.error).toMatch(/^Interrupted: airlock run \(pid \d+ on .+\) stopped while the run was queued/);
    expect(kit.sandboxes.live.has(run.id)).toBe(false);
    expect(kit.store.owners().map((o) => o.kind)).not.toContain('run');
  });

  it('a headless run interrupted while pushing ends retryable', async () => {
    kit = lifecycleKit();
    const run = runIn('pushing', { source: 'cli' });
    const dead = kit.other({ host: hostname(), pid: deadPid(), startToken: null });
    kit.store.adoptRun(run.id, run.ownerId, dead.owner.id());
    await kit.lifecycle.reconcile({ adopt: false });
    expect(kit.store.getRun(run.id)).toMatchObject({ state: 'failed', retryable: true });
  });

  it('Slack runs of a dead owner wait for serve, which adopts them', async () => {
    kit = lifecycleKit();
    const run = runIn('working', { source: 'slack' });
    const dead = kit.other({ host: hostname(), pid: deadPid(), startToken: null });
    kit.store.adoptRun(run.id, run.ownerId, dead.owner.id());
    expect((await kit.lifecycle.reconcile({ adopt: false })).ended).toHaveLength(0);
    expect(kit.store.getRun(run.id)?.state).toBe('working');
    const { adopted } = await kit.lifecycle.reconcile({ adopt: true });
    expect(adopted.map((r) => r.id)).toEqual([run.id]);
    expect(kit.store.getRun(run.id)?.ownerId).toBe(kit.owner.id());
    expect(kit.store.events(run.id).at(-1)?.type).toBe('owner.adopted');
  });

  it('an owner on another host is gone only once its lease lapses', async () => {
    kit = lifecycleKit();
    const elsewhere = kit.other(
      { host: 'another-node', pid: process.pid, startToken: null },
      { kind: 'run' },
    );
    const requested = request(elsewhere.lifecycle, { task: 'x', requester: 'cli:me', source: 'cli' });
    kit.clock.now += 29_000;
    expect((await kit.lifecycle.reconcile({ adopt: false })).ended).toHaveLength(0);
    kit.clock.now += 2_000;
    const { ended } = await kit.lifecycle.reconcile({ adopt: false });
    expect(ended.map((r) => r.id)).toEqual([requested.run.id]);
    elsewhere.owner.stop();
  });

  it('a live owner on this host keeps its runs', async () => {
    kit = lifecycleKit();
    const alive = kit.other({ host: hostname(), pid: process.pid, startToken: null }, { kind: 'run' });
    const requested = request(alive.lifecycle, { task: 'x', requester: 'cli:me', source: 'cli' });
    kit.clock.now += 3600_000;
    expect((await kit.lifecycle.reconcile({ adopt: true })).ended).toHaveLength(0);
    expect(kit.store.getRun(requested.run.id)?.state).toBe('queued');
    alive.owner.stop();
  });

  it('a second serve is refused while a live one holds the store; a dead one is not in the way', () => {
    kit = lifecycleKit();
    const first = kit.other({ host: hostname(), pid: process.pid, startToken: null });
    expect(first.owner.register({ exclusive: true, kind: 'serve' }).ok).toBe(true);
    const second = kit.other({ host: hostname(), pid: process.pid, startToken: null });
    const refused = second.owner.register({ exclusive: true, kind: 'serve' });
    expect(refused).toMatchObject({ ok: false, holder: { kind: 'serve', pid: process.pid } });
    first.owner.stop();
    expect(second.owner.register({ exclusive: true, kind: 'serve' }).ok).toBe(true);
    second.owner.stop();
    const crashed = kit.other({ host: hostname(), pid: deadPid(), startToken: null });
    crashed.owner.register({ exclusive: true, kind: 'serve' });
    const next = kit.other({ host: hostname(), pid: process.pid, startToken: null });
    expect(next.owner.register({ exclusive: true, kind: 'serve' }).ok).toBe(true);
    next.owner.stop();
  });

  it('a failure that cannot be recorded is left to reconciliation, which records it later', async () => {
    kit = lifecycleKit();
    const run = runIn('working', { source: 'cli' });
    const transition = kit.store.transition.bind(kit.store);
    kit.store.transition = () => {
      throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    };
    expect(kit.lifecycle.fail(run.id, 'the model endpoint hung')).toBeUndefined();
    expect(kit.store.getRun(run.id)?.state).toBe('working');
    kit.store.transition = transition;
    await kit.lifecycle.reconcile({ adopt: false });
    expect(kit.store.getRun(run.id)).toMatchObject({ state: 'failed', error: 'the model endpoint hung' });
  });
});
