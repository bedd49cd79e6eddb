import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/config/policy.js';
import { Redactor } from '../../src/log/redactor.js';
import type { Egress } from '../../src/runs/ports/egress.js';
import { replayRun } from '../../src/runs/run-replay.js';
import { lifecycleKit, POLICY, REPOS } from '../support/lifecycle-kit.js';

/** The Egress port as a record of what a replay told the gateway. */
class RecordingEgress implements Egress {
  readonly calls: string[] = [];
  enter(key: string, phase: string): void {
    this.calls.push(`enter ${key} ${phase}`);
  }
  grant(key: string, target: string): void {
    this.calls.push(`grant ${key} ${target}`);
  }
  forget(key: string): void {
    this.calls.push(`forget ${key}`);
  }
}

describe('airlock replay and the egress gateway', () => {
  it("lets the replay's sandbox reach what approvers allowed the run, and nothing once it is over", async () => {
    const kit = lifecycleKit();
    kit.model.push({ content: [{ type: 'text', text: 'Nothing to change.' }] });
    const requested = kit.lifecycle.request({
      repo: 'acme/widgets',
      task: 'look around',
      requester: { id: 'cli:dev' },
      source: 'cli',
      trusted: true,
    });
    if (!requested.allowed) throw new Error(requested.reason);
    const run = requested.run;
    kit.lifecycle.settle(await kit.lifecycle.start(run.id));
    kit.store.appendEvent(run.id, {
      type: 'egress.granted',
      data: { target: 'pypi.org:443', by: 'U0APPROVER' },
    });
    const egress = new RecordingEgress();
    const report = await replayRun(
      {
        store: kit.store,
        policy: parsePolicy(POLICY),
        repos: REPOS,
        sandboxes: kit.sandboxes,
        egress,
        redactor: new Redactor([]),
      },
      run.id,
    );
    expect(report).toMatchObject({ diffMatches: true, replayedCalls: 0 });
    const key = `${run.id}replay`;
    expect(egress.calls).toEqual([
      `enter ${key} setup`,
      `enter ${key} agent`,
      `grant ${key} pypi.org:443`,
      `forget ${key}`,
    ]);
    expect(kit.store.events(run.id).map((e) => e.type)).toEqual(
      expect.arrayContaining(['replay.started', 'replay.finished']),
    );
    expect(kit.sandboxes.live.has(key)).toBe(false);
  });
});
