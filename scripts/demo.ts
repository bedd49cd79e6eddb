/**
 * `npm run demo` (also `npx airlock demo`): the Slack bot end to end with no accounts and no
 * network. airlock serve connects over Socket Mode to the built-in Slack stand-in, a person
 * mentions @airlock, the thread unfolds in this terminal, a demo approver clicks Approve & push,
 * and the branch lands on a local bare remote. With ANTHROPIC_API_KEY set the real model works;
 * otherwise a scripted one does, and the demo says so.
 */
import { execFileSync } from 'node:child_process';
import { buildApp } from '../src/composition-root.js';
import { startBot } from '../src/serve.js';
import { type FakeAnthropic, startFakeAnthropic } from '../test/fakes/anthropic-server.js';
import { fixAddScript } from '../test/fakes/fix-add-script.js';
import { createBareFixture } from '../test/fakes/fixture-repo.js';
import { startFakeSlack } from '../test/fakes/slack/index.js';
import { eventually } from '../test/support/bot-harness.js';
import { scratchConfig, slackBotEnv } from '../test/support/workspace.js';
import { ThreadPrinter } from './thread-printer.js';

const CHANNEL = 'C0DEMO';
const ENGINEER = 'U0ENGINEER';
const APPROVER = 'U0APPROVER';

const realModel = !!process.env.ANTHROPIC_API_KEY;
const fixture = createBareFixture();
const slack = await startFakeSlack({ rateScale: 10 });
const model: FakeAnthropic | undefined = realModel
  ? undefined
  : await startFakeAnthropic({ apiKey: 'sk-ant-demo', script: fixAddScript() });
const scratch = scratchConfig(
  [
    'repos:',
    '  acme/widgets:',
    `    url: ${fixture.bare}   # a local bare remote`,
    '    forge: git',
    `    approvers: [${APPROVER}]`,
    '    four_eyes: true',
    'channels:',
    `  ${CHANNEL}: { repo: acme/widgets }`,
    'limits: { max_steps: 20, max_minutes: 10, max_cost_usd: 1 }',
    '',
  ].join('\n'),
);
const app = buildApp({
  ANTHROPIC_API_KEY: process.env.ANTHROPIC_API_KEY ?? 'sk-ant-demo',
  ...(model ? { ANTHROPIC_BASE_URL: model.url } : {}),
  ...(process.env.AIRLOCK_MODEL ? { AIRLOCK_MODEL: process.env.AIRLOCK_MODEL } : {}),
  ...slackBotEnv(slack, scratch),
});

const out = process.stdout;
out.write(
  `\n== airlock demo ==\n${realModel ? 'Model: Claude (ANTHROPIC_API_KEY is set).' : 'Model: a scripted stand-in (set ANTHROPIC_API_KEY to use Claude).'}\n` +
    `Slack: the built-in stand-in, over Socket Mode. Repository: acme/widgets, a local bare remote.\n` +
    `Policy: ${scratch.config}\n\n`,
);

let code = 1;
const bot = await startBot(app, { slackRateScale: 10 });
try {
  await slack.waitForConnection(10_000);
  out.write(`airlock serve is connected (health on :${bot.port}).\n\n`);
  const text = `<@${slack.botUserId}> add() in src/add.js returns the wrong result; fix it so \`sh test.sh\` passes`;
  const mention = await slack.mention({ user: ENGINEER, channel: CHANNEL, text });
  const printer = new ThreadPrinter(out, slack.botUserId);
  printer.show(slack.thread(CHANNEL, mention.ts));
  const approval = await eventually(
    () => {
      const thread = slack.thread(CHANNEL, mention.ts);
      printer.show(thread);
      return thread.find((m) => JSON.stringify(m.blocks ?? []).includes('airlock_approve'));
    },
    10 * 60_000,
    'the approval message',
  );
  const value = JSON.stringify(approval.blocks).match(/"value":"([a-z0-9]+:[0-9a-f]{64})"/)?.[1];
  out.write(`\n>> <@${APPROVER}> clicks [Approve & push]\n\n`);
  await slack.clickButton({
    user: APPROVER,
    channel: CHANNEL,
    messageTs: approval.ts,
    actionId: 'airlock_approve',
    value,
  });
  await eventually(
    () => {
      const thread = slack.thread(CHANNEL, mention.ts);
      printer.show(thread);
      const run = app.store.listRuns()[0];
      return (
        run &&
        ['done', 'failed'].includes(run.state) &&
        (run.state !== 'done' || thread.some((m) => m.text?.includes('Pushed')))
      );
    },
    60_000,
    'the push',
  );
  await bot.outbox.idle();
  printer.show(slack.thread(CHANNEL, mention.ts));
  const run = app.store.listRuns()[0];
  if (run?.state === 'done' && run.branch) {
    out.write(
      `\n== the remote ==\n${execFileSync('git', ['log', '--format=%h %s%n%b', '-1', run.branch], { cwd: fixture.bare, encoding: 'utf8' })}`,
    );
    out.write(
      `${execFileSync('git', ['diff', 'main', run.branch], { cwd: fixture.bare, encoding: 'utf8' })}\n`,
    );
    out.write(
      `Audit chain: ${app.store.verifyAudit().ok ? 'intact' : 'BROKEN'}. Inspect it: AIRLOCK_CONFIG=${scratch.config} AIRLOCK_DATA_DIR=${scratch.dataDir} npx airlock show ${run.id}\n`,
    );
    code = 0;
  } else out.write(`\nThe run ended ${run?.state}: ${run?.error ?? ''}\n`);
} finally {
  await bot.stop();
  app.close();
  await slack.close();
  await model?.close();
}
process.exit(code);
