import { afterEach, describe, expect, it } from 'vitest';
import { eventually, type Harness, startHarness } from '../support/bot-harness.js';
import { approvalMessage } from '../support/slack-thread.js';

const CHANNEL = 'C0DEV';

/**
 * `serve` keeps prepared sandboxes (issue 11): one is built at start, a run on that head claims
 * it (no setup of its own), a new one replaces it at once, and /metrics counts the hit.
 */
describe('serve with prepared sandboxes', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  const ready = (harness: Harness) => harness.app.preparedPool.poolStats().repos['acme/widgets']?.ready ?? 0;

  it('builds one at start, a mention claims it, it is replaced, and /metrics shows the hit', async () => {
    h = await startHarness({
      policy: [
        'repos:',
        '  acme/widgets:',
        '    approvers: [U0APPROVER]',
        '    setup: \'echo ran >> "$HOME/setup-runs"\'',
        '    prepared: 1',
        'channels:',
        '  C0DEV: { repo: acme/widgets }',
        '',
      ].join('\n'),
      script: [
        {
          content: [
            {
              type: 'tool_use',
              name: 'bash',
              input: { command: 'wc -l < "$HOME/setup-runs"; echo x > x.txt' },
            },
          ],
        },
        { content: [{ type: 'text', text: 'Wrote x.txt.' }] },
      ],
    });
    const harness = h;
    await eventually(() => ready(harness) === 1, 30_000, 'a prepared sandbox');
    const mention = await harness.slack.mention({
      user: 'U0REQUESTER',
      channel: CHANNEL,
      text: `<@${harness.slack.botUserId}> write x.txt`,
    });
    await approvalMessage(harness.slack, CHANNEL, mention.ts);
    const run = harness.app.store.listRuns({ limit: 1 })[0];
    expect(run).toBeDefined();
    const events = harness.app.store.events(run?.id as string);
    expect(events.some((e) => e.type === 'sandbox.claimed')).toBe(true);
    const bash = harness.app.store.toolCalls(run?.id as string).find((c) => c.name === 'bash');
    // Setup ran once, when the sandbox was prepared, not again for the run.
    expect(bash?.output.trim().split('\n')[0]).toBe('1');

    await eventually(() => ready(harness) === 1, 30_000, 'the claimed sandbox replaced');
    const metrics = await (await fetch(`http://127.0.0.1:${harness.bot.port}/metrics`)).text();
    expect(metrics).toContain('airlock_prepared_claims_total{result="hit"} 1');
    expect(metrics).toContain('airlock_prepared_claims_total{result="miss"} 0');
    expect(metrics).toContain('airlock_prepared_ready{repo="acme/widgets",state="ready"} 1');
    expect(metrics).toContain('airlock_prepared_ready{repo="acme/widgets",state="wanted"} 1');
  });
});
