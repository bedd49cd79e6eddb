/**
 * `npm run bench:burst [-- --mentions N] [--concurrent-runs C] [--window S]`: N mentions (default
 * 1,000) in N channels at once, against `airlock serve` running as its own process (so its event
 * loop is measured apart from the stand-ins'). Slack's redelivery rules apply: an envelope not
 * acked within 3 s is sent again with retry_attempt + 1, and dropped after the third retry.
 * Reports ack latency, the bot's event-loop delay (its own /metrics), /healthz latency, dropped
 * envelopes, runs made and RSS over the first S seconds (default 60) of the burst.
 */
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { measureBurst } from './burst-scenario.js';

const { values } = parseArgs({
  options: {
    mentions: { type: 'string', default: '1000' },
    'concurrent-runs': { type: 'string' },
    window: { type: 'string', default: '60' },
  },
});
const mentions = Number(values.mentions);
const concurrentRuns = values['concurrent-runs'] ? Number(values['concurrent-runs']) : undefined;
const result = await measureBurst({ mentions, concurrentRuns, windowSeconds: Number(values.window) });

const cpu = cpus();
process.stdout.write(
  `Machine: ${cpu.length} × ${cpu[0]?.model ?? 'CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}\n`,
);
process.stdout.write(
  `${mentions} mentions in ${mentions} channels, concurrent_runs ${concurrentRuns ?? 'default'}, window ${values.window} s\n`,
);
const ms = (n: number) => `${n.toFixed(0)} ms`;
const rows: Array<[string, string]> = [
  ['ack latency p50 / p99 / max', `${ms(result.ack.p50)} / ${ms(result.ack.p99)} / ${ms(result.ack.max)}`],
  [
    'event-loop delay p99 (median s / worst s) / max',
    `${ms(result.loop.p99Median)} / ${ms(result.loop.p99)} / ${ms(result.loop.max)}`,
  ],
  ['/healthz latency p99 / max', `${ms(result.health.p99)} / ${ms(result.health.max)}`],
  ['envelopes delivered more than once', String(result.redelivered)],
  ['envelopes dropped (never acked)', String(result.dropped)],
  ['runs made / mentions', `${result.runs} / ${mentions}`],
  ['mentions with more than one run', String(result.doubles)],
  ["the stand-ins' own loop delay, max", ms(result.standInLoopMaxMs)],
  ['RSS max', `${(result.rssMaxBytes / 2 ** 20).toFixed(0)} MiB`],
  ['runs by state at the end of the window', JSON.stringify(result.states)],
];
for (const [what, value] of rows) process.stdout.write(`${what.padEnd(50)} ${value}\n`);
process.exit(result.dropped === 0 && result.doubles === 0 && result.runs === mentions ? 0 : 1);
