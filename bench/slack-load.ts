/**
 * `npm run bench:slack [-- RUNS SCALE]`: RUNS mentions at once (default 1000) across 10
 * channels, every run to its approval message, against the Slack stand-in with Slack's tier
 * limits × SCALE (default 1: the real limits). Reports how long the last approval message
 * waited after its run was ready, and whether Slack ever answered 429. The test suite runs the
 * same scenario (test/support/load-scenario.ts) as a smaller sibling, 200 runs with the limits
 * × 200, in test/integration/slack-load.test.ts; the thousand-run version lives here.
 */
import { cpus } from 'node:os';
import { loadScenario } from '../test/support/load-scenario.js';

const runs = Number(process.argv[2] ?? 1000);
const scale = Number(process.argv[3] ?? 1);
const load = await loadScenario({
  runs,
  channels: 10,
  rateScale: scale,
  concurrentRuns: 50,
  waitForIdle: false,
});
const { result } = load;
process.stdout.write(`Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, Node ${process.version}\n`);
process.stdout.write(
  `${runs} runs, 10 channels, Slack limits × ${scale}: all approval messages after ${(result.totalMs / 1000).toFixed(1)} s; ` +
    `the last approval waited ${(result.lastApprovalWaitMs / 1000).toFixed(1)} s after its run was ready; ` +
    `${result.calls} Web API calls, ${result.rateLimited} answered 429.\n`,
);
await load.close();
process.exit(0);
