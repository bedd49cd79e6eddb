import { describe, expect, it } from 'vitest';
import { loadScenario } from '../support/load-scenario.js';

/**
 * The suite's sibling of `npm run bench:slack` (bench/slack-load.ts), which runs the same scenario
 * with a thousand runs: a few hundred here keep the assertions and take seconds, not minutes.
 */
const RUNS = 200;
const CHANNELS = 10;
/** Slack's tier limits × this factor, on the stand-in and in airlock's pacing alike. */
const RATE_SCALE = 200;

describe(`${RUNS} runs at once against Slack’s rate tiers`, () => {
  it('every thread ends in its correct final state and no request is rate-limited twice', async () => {
    const load = await loadScenario({
      runs: RUNS,
      channels: CHANNELS,
      rateScale: RATE_SCALE,
      concurrentRuns: 50,
    });
    try {
      const { slack, app, mentions, channels, result } = load;
      expect(app.store.countByState()).toEqual({ awaiting_approval: RUNS });
      for (const [i, m] of mentions.entries()) {
        const thread = slack.thread(channels[i % channels.length] as string, m.ts);
        const runId = app.threads.runIn(channels[i % channels.length] as string, m.ts);
        const run = runId ? app.store.getRun(runId) : undefined;
        const statuses = thread.filter((msg) =>
          JSON.stringify(msg.blocks ?? []).includes(`run \`${run?.id}\``),
        );
        expect(statuses, `thread ${i}`).toHaveLength(1);
        expect(JSON.stringify(statuses[0]?.blocks)).toContain('Waiting for approval');
        const approvals = thread.filter((msg) =>
          JSON.stringify(msg.blocks ?? []).includes('airlock_approve'),
        );
        expect(approvals, `thread ${i}`).toHaveLength(1);
        expect(JSON.stringify(approvals[0]?.blocks)).toContain(`${run?.id}:${run?.diffSha256}`);
      }
      // Paced to the tiers: the stand-in never had to say 429 (so nothing was refused twice).
      expect(slack.rateLimited).toEqual([]);
      expect(slack.problems).toEqual([]);
      expect(load.model.problems).toEqual([]);
      process.stderr.write(`slack load: ${JSON.stringify(result)}\n`);
    } finally {
      await load.close();
    }
  }, 120_000);
});
