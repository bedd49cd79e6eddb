import { afterEach, describe, expect, it } from 'vitest';
import type { ScriptStep } from '../fakes/anthropic-server.js';
import { lastToolResult } from '../fakes/fix-add-script.js';
import { createBareFixture } from '../fakes/fixture-repo.js';
import { eventually, type Harness, startHarness } from '../support/bot-harness.js';
import { runCli } from '../support/run-cli.js';
import { buttonsOf } from '../support/slack-thread.js';

const SCHEDULES = 'C0SCHED';
type Body = { messages: Array<{ role: string; content: unknown }> };

/** Fixes add() without keeping state, so runs in two repositories may interleave. */
const fixer: ScriptStep = (body) => {
  const b = body as Body;
  switch (b.messages.length) {
    case 1:
      return {
        content: [
          {
            type: 'tool_use',
            name: 'str_replace_based_edit_tool',
            input: { command: 'str_replace', path: 'src/add.js', old_str: 'a - b', new_str: 'a + b' },
          },
        ],
      };
    default:
      if (!lastToolResult(b).includes('has been edited')) throw new Error('the edit did not run');
      return { content: [{ type: 'text', text: 'Fixed add().' }] };
  }
};

describe('schedules', () => {
  let h: Harness | undefined;
  const cleanups: Array<() => void> = [];
  afterEach(async () => {
    await h?.close();
    h = undefined;
    for (const c of cleanups.splice(0)) c();
  });

  function policy(cron: string): string {
    const gadgets = createBareFixture();
    cleanups.push(gadgets.cleanup);
    return [
      'repos:',
      '  acme/widgets:',
      '    approvers: [U0APPROVER]',
      '  acme/gadgets:',
      `    url: ${gadgets.bare}`,
      '    forge: git',
      '    approvers: [U0APPROVER]',
      'schedules:',
      '  - name: fix-add',
      `    cron: '${cron}'`,
      '    repos: all',
      '    task: fix add()',
      `    channel: ${SCHEDULES}`,
      '',
    ].join('\n');
  }

  const parents = (harness: Harness) =>
    harness.slack.channel(SCHEDULES).filter((m) => String(m.text ?? '').startsWith(':calendar: Schedule'));

  it('a tick posts one parent and one approval thread per repository; later ticks skip a repository whose run is open', async () => {
    h = await startHarness({
      policy: policy('*/2 * * * * *'),
      script: Array.from({ length: 4 }, () => fixer),
    });
    const harness = h;
    // Each repository's run in a thread of its own, with the usual approval buttons.
    const threads = await eventually(
      () => {
        const roots = harness.slack
          .channel(SCHEDULES)
          .filter((m) => String(m.text ?? '').startsWith(':calendar: *fix-add* in'));
        const withApproval = roots.filter((root) =>
          harness.slack
            .thread(SCHEDULES, root.ts)
            .some((m) => buttonsOf(m).some((b) => b.action_id === 'airlock_approve')),
        );
        return withApproval.length === 2 ? roots : undefined;
      },
      30_000,
      'two approval threads',
    );
    expect(threads.map((t) => String(t.text)).sort()).toEqual([
      ':calendar: *fix-add* in `acme/gadgets`: fix add()',
      ':calendar: *fix-add* in `acme/widgets`: fix add()',
    ]);
    const first = parents(harness)[0];
    await eventually(
      () => {
        const text = String(harness.slack.channel(SCHEDULES).find((m) => m.ts === first?.ts)?.text ?? '');
        return (
          text.includes('`acme/widgets`: awaiting approval') &&
          text.includes('`acme/gadgets`: awaiting approval')
        );
      },
      10_000,
      'the parent shows both runs',
    );
    // Two more ticks: both repositories are skipped, no run or thread is added.
    await eventually(() => parents(harness).length >= 3, 10_000, 'two more ticks');
    const later = parents(harness).at(-1);
    await eventually(
      () =>
        String(harness.slack.channel(SCHEDULES).find((m) => m.ts === later?.ts)?.text ?? '').includes(
          'skipped',
        ),
      10_000,
      'a later parent says skipped',
    );
    expect(harness.app.store.listRuns()).toHaveLength(2);
    expect(harness.app.store.listRuns().map((r) => r.source)).toEqual(['schedule', 'schedule']);

    const listed = JSON.parse((await runCli(['schedules', '--json'], harness.env)).stdout) as Array<{
      name: string;
      next: string;
      last: string;
      repos: string[];
    }>;
    expect(listed[0]).toMatchObject({ name: 'fix-add', repos: ['acme/widgets', 'acme/gadgets'] });
    expect(Date.parse(listed[0]?.next ?? '')).toBeGreaterThan(Date.parse(listed[0]?.last ?? ''));
  });

  it('a tick missed while airlock was down fires once at start', async () => {
    h = await startHarness({ policy: policy('0 * * * *'), script: Array.from({ length: 4 }, () => fixer) });
    const harness = h;
    // Hourly: the first start only marks the time. As if airlock had been down for three hours:
    await eventually(() => harness.app.schedules.lastTick('fix-add'), 5000, 'the first mark');
    harness.app.schedules.addTick('fix-add', new Date(Date.now() - 3 * 3600_000).toISOString());
    await harness.restart();
    await eventually(() => parents(harness).length === 1, 10_000, 'one catch-up tick');
    await new Promise((r) => setTimeout(r, 2500));
    expect(parents(harness)).toHaveLength(1);
    await eventually(() => harness.app.store.listRuns().length === 2, 10_000, 'its two runs');
  });
});
