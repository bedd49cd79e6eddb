import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createSlackApp } from '../../src/slack/slack-app.js';
import { type FakeSlack, startFakeSlack } from '../fakes/slack/index.js';
import { startCli } from '../support/run-cli.js';
import { until } from '../support/until.js';
import { scratchConfig, slackBotEnv } from '../support/workspace.js';

const CHANNEL = 'C0DEV';
/** The contract: an idle `airlock serve` is gone this soon after SIGTERM. */
const IDLE_EXIT_MS = 5_000;

// The real CLI (`airlock serve`, started by run-cli.ts) against the Slack stand-in; the bot paces its Slack
// calls at Slack's real numbers.
// A mention with no task gets the help text: a Slack reply and nothing else (no run, no model).
describe('airlock serve shutdown', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup() {
    // The stand-in's limits are loosened (a reconnect within the minute is allowed); the bot still
    // paces itself at Slack's real numbers.
    const slack = await startFakeSlack({ rateScale: 60 });
    const scratch = scratchConfig(
      ['repos:', '  acme/widgets: {}', 'channels:', `  ${CHANNEL}: { repo: acme/widgets }`, ''].join('\n'),
    );
    cleanups.push(
      () => slack.close(),
      () => scratch.cleanup(),
    );
    return { slack, env: slackBotEnv(slack, scratch) };
  }

  /** Starts `airlock serve` and waits until its Socket Mode connection is up. */
  async function serve(slack: FakeSlack, env: Record<string, string>) {
    const cli = startCli(['serve'], env);
    cleanups.push(() => {
      if (cli.child.exitCode === null && cli.child.signalCode === null) cli.child.kill('SIGKILL');
    });
    await slack.waitForConnection(20_000);
    return cli;
  }

  const helpReplies = (slack: FakeSlack) =>
    slack.calls.filter((c) => c.method === 'chat.postMessage' && c.ok && c.args.channel === CHANNEL).length;

  it('an idle bot exits 0 within 5 s of SIGTERM, and leaves Slack', async () => {
    const { slack, env } = await setup();
    const cli = await serve(slack, env);
    const signalled = Date.now();
    cli.child.kill('SIGTERM');
    const { code, stderr } = await cli.result;
    expect(Date.now() - signalled).toBeLessThan(IDLE_EXIT_MS);
    expect(code).toBe(0);
    expect(stderr).toContain('airlock serve: stopping');
    await until(() => !slack.connected, 'the socket to close');
  });

  it('a second signal exits at once, while replies are still waiting for their rate budget', async () => {
    const { slack, env } = await setup();
    const cli = await serve(slack, env);
    // Eight replies in one channel: Slack's pacing (one message a second per channel) keeps most
    // of them waiting, longer than a graceful stop lets them.
    const mentions = 8;
    for (let i = 0; i < mentions; i++) await slack.mention({ user: 'U0ASKER', channel: CHANNEL, text: '' });
    await until(() => helpReplies(slack) >= 1, 'the first reply', 10_000);
    const signalled = Date.now();
    cli.child.kill('SIGTERM');
    await until(() => cli.output().stderr.includes('airlock serve: stopping'), 'the graceful stop to begin');
    const again = Date.now();
    cli.child.kill('SIGINT');
    const { code, stderr } = await cli.result;
    expect(Date.now() - again).toBeLessThan(2_000);
    expect(Date.now() - signalled).toBeLessThan(IDLE_EXIT_MS);
    expect(code).toBe(130);
    expect(stderr).toContain('SIGINT again, exiting now');
    // It did not wait for the replies still queued.
    expect(helpReplies(slack)).toBeLessThan(mentions);
  });

  it('a mention arriving just before SIGTERM is acked: by the stopping bot, or by the next one', async () => {
    const { slack, env } = await setup();
    const cli = await serve(slack, env);
    const mention = await slack.mention({ user: 'U0ASKER', channel: CHANNEL, text: '' });
    const signalled = Date.now();
    cli.child.kill('SIGTERM');
    const { code } = await cli.result;
    expect(Date.now() - signalled).toBeLessThan(IDLE_EXIT_MS);
    expect(code).toBe(0);
    const envelope = slack.envelopes.find((e) => e.envelopeId === mention.envelopeId);
    if (envelope?.acked) {
      // Taken before the signal: acked, and its reply (urgent) went out before the exit.
      expect(helpReplies(slack)).toBe(1);
      return;
    }
    // The signal came first: the envelope was left unacked, and Slack delivers it to the next start.
    const next = await serve(slack, env);
    await slack.waitForAck(mention.envelopeId, 10_000);
    await until(() => helpReplies(slack) === 1, 'the reply from the next start');
    next.child.kill('SIGTERM');
    expect((await next.result).code).toBe(0);
  });

  it('a stop acks the envelope being handled first, and leaves new ones to the next connection', async () => {
    // A short ack timeout makes the stand-in redeliver an unacked envelope soon: that is how the
    // test sees that the bot holds one and did not ack it.
    const slack = await startFakeSlack({ ackTimeoutMs: 200, maxRetries: 20, rateScale: 60 });
    cleanups.push(() => slack.close());
    const connect = (onMention: (text: string) => Promise<void>) => {
      const conn = createSlackApp({
        botToken: slack.botToken,
        appToken: slack.appToken,
        apiUrl: slack.apiUrl,
        logger: pino({ level: 'silent' }),
      });
      conn.app.event('app_mention', async ({ event }) => onMention(event.text));
      return conn;
    };
    let release = () => {};
    const handling = new Promise<void>((resolve) => {
      release = resolve;
    });
    const seen: string[] = [];
    const first = connect(async (text) => {
      seen.push(text);
      if (text.includes('first')) await handling;
    });
    await first.start();
    await slack.waitForConnection();
    const a = await slack.mention({ user: 'U0ASKER', channel: CHANNEL, text: 'first' });
    await until(() => seen.length === 1, 'the first mention to be handled');
    const stopped = first.stop({ ackWithinMs: 10_000 });
    const b = await slack.mention({ user: 'U0ASKER', channel: CHANNEL, text: 'second' });
    const second = () => slack.envelopes.find((e) => e.envelopeId === b.envelopeId);
    // The stopping bot holds the second envelope and does not ack it: Slack sends it again.
    await until(() => (second()?.retryAttempt ?? 0) >= 2, 'the second envelope to go unacked');
    release();
    expect(await stopped).toEqual({ unacked: 0 });
    await until(() => !slack.connected, 'the socket to close');
    expect(slack.envelopes.find((e) => e.envelopeId === a.envelopeId)?.acked).toBe(true);
    expect(second()?.acked).toBe(false);
    expect(seen).toHaveLength(1);

    const next = connect(async (text) => {
      seen.push(text);
    });
    cleanups.push(() => next.stop());
    await next.start();
    await slack.waitForAck(b.envelopeId, 5_000);
    expect(seen.at(-1)).toContain('second');
  });
});
