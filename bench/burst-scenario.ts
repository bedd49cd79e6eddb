import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { startFakeAnthropic } from '../test/fakes/anthropic-server.js';
import { fixInOneEdit } from '../test/fakes/fix-add-script.js';
import { createBareFixture } from '../test/fakes/fixture-repo.js';
import { startFakeSlack } from '../test/fakes/slack/index.js';
import { scratchConfig, slackBotEnv } from '../test/support/workspace.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface BurstResult {
  ack: { p50: number; p99: number; max: number };
  /** The bot's event-loop delay: p99 within each second (median and worst second), and the max. */
  loop: { p99Median: number; p99: number; max: number };
  health: { p99: number; max: number };
  redelivered: number;
  dropped: number;
  runs: number;
  /** Mentions that made more than one run. */
  doubles: number;
  rssMaxBytes: number;
  states: Record<string, number>;
  /** Slack stand-in problems other than dropped envelopes (refusals, unknown methods). */
  problems: string[];
  /** The stand-ins' own event-loop delay (this process): acks are timed here. */
  standInLoopMaxMs: number;
}

export interface BurstOptions {
  mentions: number;
  /** limits.concurrent_runs; the policy's default when undefined. */
  concurrentRuns?: number;
  /** How long the burst is watched, from the first mention. */
  windowSeconds: number;
  /** Slack's tier limits × this (1: Slack's own). */
  rateScale?: number;
  /** local sandbox isolation: bubblewrap (auto) as in production, or none. */
  isolation?: 'auto' | 'none';
}

/**
 * N mentions in N channels at once against `airlock serve` in its own process: the bot's event
 * loop is measured by the bot itself (/metrics), acks by the Slack stand-in (when each delivery
 * went out, when its ack came back), /healthz from outside.
 */
export async function measureBurst(opts: BurstOptions): Promise<BurstResult> {
  const fixture = createBareFixture();
  const slack = await startFakeSlack({ rateScale: opts.rateScale ?? 1, ackTimeoutMs: 3000, maxRetries: 3 });
  const model = await startFakeAnthropic({
    apiKey: 'sk-ant-burst-bench-key-000',
    script: Array.from({ length: opts.mentions * 3 }, fixInOneEdit),
  });
  const channels = Array.from({ length: opts.mentions }, (_, i) => `C0B${String(i).padStart(6, '0')}`);
  const scratch = scratchConfig(
    [
      'repos:',
      '  acme/widgets:',
      `    url: ${fixture.bare}`,
      '    forge: git',
      '    approvers: [U0APPROVER]',
      'channels:',
      ...channels.map((c) => `  ${c}: { repo: acme/widgets }`),
      ...(opts.concurrentRuns ? [`limits: { concurrent_runs: ${opts.concurrentRuns} }`] : []),
      'sandbox:',
      `  local: { isolation: ${opts.isolation ?? 'auto'} }`,
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    ANTHROPIC_API_KEY: 'sk-ant-burst-bench-key-000',
    ANTHROPIC_BASE_URL: model.url,
    ...slackBotEnv(slack, scratch),
    AIRLOCK_HTTP_PORT: String(port),
    AIRLOCK_LOG_LEVEL: 'info',
  };
  // BURST_CPU_PROFILE=dir: the bot writes a V8 CPU profile there when it stops.
  const profile = process.env.BURST_CPU_PROFILE
    ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BURST_CPU_PROFILE}`]
    : [];
  const bot = spawn(process.execPath, [...profile, '--import', 'tsx', join(ROOT, 'src/cli.ts'), 'serve'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let botErr = '';
  bot.stderr.on('data', (c: Buffer) => {
    botErr = (botErr + c.toString()).slice(-4000);
  });
  const exited = new Promise<number | null>((resolve) => bot.on('exit', (code) => resolve(code)));
  try {
    await slack.waitForConnection(60_000).catch((error: Error) => {
      throw new Error(`airlock serve did not connect: ${error.message}\n${botErr}`);
    });
    const base = `http://127.0.0.1:${port}`;
    await untilOk(`${base}/healthz`, 30_000);

    const health: number[] = [];
    const lagP99: number[] = [];
    const lagMax: number[] = [];
    let rssMax = 0;
    let watching = true;
    const healthLoop = (async () => {
      while (watching) {
        const t = performance.now();
        const ok = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(10_000) })
          .then((r) => r.ok)
          .catch(() => false);
        health.push(ok ? performance.now() - t : 10_000);
        await sleep(200);
      }
    })();
    const metricsLoop = (async () => {
      while (watching) {
        const text = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(10_000) })
          .then((r) => r.text())
          .catch(() => '');
        const value = (name: string) => Number(new RegExp(`^${name} ([0-9.e+-]+)`, 'm').exec(text)?.[1] ?? 0);
        // prom-client resets its event-loop histogram at each scrape: each value covers ~1 s.
        lagP99.push(value('airlock_nodejs_eventloop_lag_p99_seconds') * 1000);
        lagMax.push(value('airlock_nodejs_eventloop_lag_max_seconds') * 1000);
        rssMax = Math.max(rssMax, value('airlock_process_resident_memory_bytes'));
        await sleep(1000);
      }
    })();

    const standInLoop = monitorEventLoopDelay({ resolution: 10 });
    standInLoop.enable();
    const started = Date.now();
    const sent = await Promise.all(
      channels.map((channel, i) =>
        slack.mention({ user: `U0REQ${i}`, channel, text: `<@${slack.botUserId}> fix add() #${i}` }),
      ),
    );
    // Every envelope settled (acked or given up on), and the window over.
    const windowEnd = started + opts.windowSeconds * 1000;
    for (;;) {
      const open = slack.envelopes.filter((e) => e.type === 'events_api' && !e.acked && !e.dropped).length;
      if (open === 0 && Date.now() >= windowEnd) break;
      if (Date.now() > windowEnd + 60_000) break;
      await sleep(250);
    }
    watching = false;
    await Promise.all([healthLoop, metricsLoop]);
    standInLoop.disable();

    const events = slack.envelopes.filter((e) => e.type === 'events_api');
    const acks = events
      .filter((e) => e.acked && e.ackedAt !== undefined && e.deliveredAt[0] !== undefined)
      .map((e) => (e.ackedAt as number) - (e.deliveredAt[0] as number));
    const db = new Database(join(scratch.dataDir, 'airlock.db'), { readonly: true, fileMustExist: true });
    const runs = (db.prepare('SELECT count(*) AS n FROM runs').get() as { n: number }).n;
    const doubles = (
      db
        .prepare(
          'SELECT count(*) AS n FROM (SELECT channel, thread_ts FROM run_threads GROUP BY channel, thread_ts HAVING count(*) > 1)',
        )
        .get() as { n: number }
    ).n;
    const states = Object.fromEntries(
      (
        db.prepare('SELECT state, count(*) AS n FROM runs GROUP BY state').all() as Array<{
          state: string;
          n: number;
        }>
      ).map((r) => [r.state, r.n]),
    );
    db.close();
    const mentionsSeen = new Set(sent.map((s) => s.ts)).size;
    if (mentionsSeen !== opts.mentions) throw new Error(`only ${mentionsSeen} mentions were posted`);
    return {
      ack: { p50: percentile(acks, 50), p99: percentile(acks, 99), max: Math.max(0, ...acks) },
      loop: { p99Median: percentile(lagP99, 50), p99: percentile(lagP99, 100), max: Math.max(0, ...lagMax) },
      health: { p99: percentile(health, 99), max: Math.max(0, ...health) },
      redelivered: events.filter((e) => e.deliveries > 1).length,
      dropped: events.filter((e) => e.dropped).length,
      runs,
      doubles,
      rssMaxBytes: rssMax,
      states,
      problems: slack.problems.filter((p) => !p.includes('Slack gives up')),
      standInLoopMaxMs: standInLoop.max / 1e6,
    };
  } finally {
    bot.kill('SIGTERM');
    const code = await Promise.race([exited, sleep(15_000).then(() => 'timeout' as const)]);
    if (code === 'timeout') bot.kill('SIGKILL');
    // The scenario scripts more model steps than runs get to in the window, and reports Slack's
    // problems itself: claimed here, so the stand-ins' strict checks (in tests) see them handled.
    model.takeUnconsumed();
    slack.takeProblems();
    await slack.close();
    await model.close();
    scratch.cleanup();
    fixture.cleanup();
  }
}

export function percentile(values: number[], p: number): number {
  if (!values.length) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function untilOk(url: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (
      await fetch(url)
        .then((r) => r.ok)
        .catch(() => false)
    )
      return;
    await sleep(100);
  }
  throw new Error(`${url} did not answer within ${ms} ms`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
