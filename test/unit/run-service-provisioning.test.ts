import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/config/policy.js';
import type { Chat } from '../../src/runs/ports/chat.js';
import { RunService } from '../../src/runs/run-service.js';
import { lifecycleKit, POLICY } from '../support/lifecycle-kit.js';

const NO_CHAT: Chat = {
  notify: () => {},
  bind: () => {},
  originOf: () => undefined,
  open: async () => 'thread',
};

/** Issue 12: a burst of runs never becomes a burst of sandboxes being made at once. */
describe('provisioning is bounded', () => {
  it('with concurrent_runs 10 and concurrent_provisioning 2, at most 2 sandboxes are made at a time, and every run goes on', async () => {
    const limits = 'limits: { concurrent_runs: 10, concurrent_provisioning: 2 }\n';
    const kit = lifecycleKit({ policy: POLICY + limits });
    let open = () => {};
    kit.sandboxes.gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    for (let i = 0; i < 6; i++) kit.model.push({});
    const service = new RunService({
      lifecycle: kit.lifecycle,
      store: kit.store,
      policy: parsePolicy(POLICY + limits),
      chat: NO_CHAT,
      logger: pino({ level: 'silent' }),
    });
    for (let i = 0; i < 6; i++)
      service.submit({
        repo: 'acme/widgets',
        task: `task ${i}`,
        requester: { id: `U${i}` },
        source: 'slack',
      });
    // Six runs are working; only two of them are making a sandbox, the rest wait their turn.
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 20 && kit.sandboxes.making < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(kit.sandboxes.making).toBe(2);
    open();
    for (let i = 0; i < 200 && kit.sandboxes.created.length < 6; i++)
      await new Promise((r) => setTimeout(r, 10));
    expect(kit.sandboxes.created).toHaveLength(6);
    expect(kit.sandboxes.mostMadeAtOnce).toBe(2);
  });
});
