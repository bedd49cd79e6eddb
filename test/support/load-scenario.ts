import { type App, buildApp } from '../../src/composition-root.js';
import { type Bot, startBot } from '../../src/serve.js';
import { type FakeAnthropic, startFakeAnthropic } from '../fakes/anthropic-server.js';
import { fixInOneEdit } from '../fakes/fix-add-script.js';
import { createBareFixture } from '../fakes/fixture-repo.js';
import { type FakeSlack, startFakeSlack } from '../fakes/slack/index.js';
import { scratchConfig, slackBotEnv } from './workspace.js';

export interface LoadResult {
  runs: number;
  /** From the first mention until every thread shows its approval message. */
  totalMs: number;
  /** How long the last approval message waited after its run reached awaiting_approval. */
  lastApprovalWaitMs: number;
  rateLimited: number;
  calls: number;
}

/**
 * `runs` mentions across `channels` channels at once; every run goes to approval. Slack's tier
 * limits are multiplied by `rateScale` on both sides (the stand-in and airlock's pacing).
 */
export async function loadScenario(opts: {
  runs: number;
  channels: number;
  rateScale: number;
  concurrentRuns: number;
  /** Wait for every queued Slack call (progress edits included) before measuring. Default true. */
  waitForIdle?: boolean;
}) {
  const fixture = createBareFixture();
  const slack: FakeSlack = await startFakeSlack({ rateScale: opts.rateScale, ackTimeoutMs: 3000 });
  const model: FakeAnthropic = await startFakeAnthropic({
    apiKey: 'sk-ant-load-test-key-000',
    script: Array.from({ length: opts.runs * 2 }, fixInOneEdit),
  });
  const channels = Array.from({ length: opts.channels }, (_, i) => `C0LOAD${i}`);
  const scratch = scratchConfig(
    [
      'repos:',
      '  acme/widgets:',
      `    url: ${fixture.bare}`,
      '    forge: git',
      '    approvers: [U0APPROVER]',
      'channels:',
      ...channels.map((c) => `  ${c}: { repo: acme/widgets }`),
      `limits: { concurrent_runs: ${opts.concurrentRuns} }`,
      'sandbox:',
      '  local: { isolation: none }',
      '',
    ].join('\n'),
  );
  const app: App = buildApp({
    ANTHROPIC_API_KEY: 'sk-ant-load-test-key-000',
    ANTHROPIC_BASE_URL: model.url,
    ...slackBotEnv(slack, scratch),
    AIRLOCK_LOG_LEVEL: 'warn',
  });
  const bot: Bot = await startBot(app, { slackRateScale: opts.rateScale });
  await slack.waitForConnection(10_000);

  const started = Date.now();
  const mentions = await Promise.all(
    Array.from({ length: opts.runs }, (_, i) =>
      slack.mention({
        user: `U0REQ${i}`,
        channel: channels[i % channels.length] as string,
        text: `<@${slack.botUserId}> fix add() #${i}`,
      }),
    ),
  );
  // Poll the store (cheap), not the stand-in's threads, so the test does not starve the bot.
  const deadline = Date.now() + 15 * 60_000;
  for (;;) {
    const runs = app.store.listRuns({ limit: opts.runs * 2 });
    const posted = runs.filter((r) => app.threads.get(r.id)?.approvalTs).length;
    if (posted >= mentions.length || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  if (opts.waitForIdle !== false) await bot.outbox.idle();
  const totalMs = Date.now() - started;

  // When each approval message was posted, from the stand-in's own record of calls.
  const postedAt = new Map<string, number>();
  for (const call of slack.calls) {
    if (
      call.method === 'chat.postMessage' &&
      call.ok &&
      JSON.stringify(call.args.blocks ?? '').includes('airlock_approve')
    ) {
      postedAt.set(`${String(call.args.channel)}:${String(call.args.thread_ts)}`, call.at);
    }
  }
  let lastApprovalWaitMs = 0;
  for (const run of app.store.listRuns({ limit: opts.runs * 2 })) {
    const awaiting = app.store.events(run.id).find((e) => e.type === 'run.awaiting_approval');
    const thread = app.threads.get(run.id);
    const at = thread && postedAt.get(`${thread.channel}:${thread.threadTs}`);
    if (awaiting && at) lastApprovalWaitMs = Math.max(lastApprovalWaitMs, at - Date.parse(awaiting.at));
  }
  const result: LoadResult = {
    runs: mentions.length,
    totalMs,
    lastApprovalWaitMs,
    rateLimited: slack.rateLimited.length,
    calls: slack.calls.length,
  };
  return {
    result,
    slack,
    app,
    mentions,
    channels,
    model,
    close: async () => {
      await bot.stop();
      app.close();
      await slack.close();
      await model.close();
      scratch.cleanup();
      fixture.cleanup();
    },
  };
}
