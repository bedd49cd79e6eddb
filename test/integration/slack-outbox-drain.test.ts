import { WebClient } from '@slack/web-api';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Priority, SlackOutbox } from '../../src/slack/slack-outbox.js';
import { type FakeSlack, startFakeSlack } from '../fakes/slack/index.js';

const logger = pino({ level: 'silent' });
/** Slack's limits × 10, on the stand-in and in the outbox alike: chat.update gets 5 calls per 0.66 s. */
const SCALE = 10;

describe('the Slack outbox when the bot stops', () => {
  let slack: FakeSlack | undefined;
  afterEach(async () => {
    await slack?.close();
  });

  async function outbox() {
    slack = await startFakeSlack({ rateScale: SCALE });
    const client = new WebClient(slack.botToken, { slackApiUrl: slack.apiUrl });
    const box = new SlackOutbox(client, { scale: SCALE, logger });
    const status = await box.call<{ ts: string }>(
      'chat.postMessage',
      { channel: 'C0A', text: 's' },
      Priority.urgent,
    );
    return { box, slack, ts: status.ts };
  }

  const updates = (s: FakeSlack) =>
    s.calls.filter((c) => c.method === 'chat.update' && c.ok).map((c) => String(c.args.text));

  it('sends the final states already handed over and drops the waiting progress edits', async () => {
    const { box, slack: s, ts } = await outbox();
    // chat.update's first slice (5 calls) goes at once; the rest waits for the next one.
    for (let i = 0; i < 5; i++)
      box.coalesce(`busy:${i}`, 'chat.update', () => ({ channel: 'C0A', ts, text: `busy ${i}` }));
    box.coalesce('progress', 'chat.update', () => ({ channel: 'C0A', ts, text: 'step 7' }));
    box.coalesce('final', 'chat.update', () => ({ channel: 'C0A', ts, text: 'stopped' }), Priority.decision);
    const cut = await box.drain(5_000);
    expect(cut).toBe(0);
    expect(updates(s)).toContain('stopped');
    expect(updates(s)).not.toContain('step 7');
    // Progress arriving while stopping is dropped at once; nothing is taken after the drain.
    box.coalesce('later', 'chat.update', () => ({ channel: 'C0A', ts, text: 'too late' }), Priority.urgent);
    await expect(box.call('chat.postMessage', { channel: 'C0A', text: 'too late' })).rejects.toThrow(
      /closed/,
    );
    expect(box.backlog).toBe(0);
    expect(s.rateLimited).toEqual([]);
  });

  it('gives up on calls that cannot go out in time: their callers get an error, not a hang', async () => {
    const { box } = await outbox();
    // C0A's budget (one message per 1.1 s / SCALE) was used by the status message.
    const reply = box.call('chat.postMessage', { channel: 'C0A', text: 'reply' }, Priority.urgent);
    const started = Date.now();
    const cut = await box.drain(0);
    expect(cut).toBe(1);
    await expect(reply).rejects.toThrow(/abort/i);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(box.backlog).toBe(0);
  });
});
