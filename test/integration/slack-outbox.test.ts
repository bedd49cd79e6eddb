import { WebClient } from '@slack/web-api';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Priority, SlackOutbox } from '../../src/slack/slack-outbox.js';
import { type FakeSlack, startFakeSlack } from '../fakes/slack/index.js';

const logger = pino({ level: 'silent' });

describe('the Slack outbox, at Slack’s real limits', () => {
  let slack: FakeSlack | undefined;
  afterEach(async () => {
    await slack?.close();
  });

  async function outbox() {
    slack = await startFakeSlack({ rateScale: 1 });
    const client = new WebClient(slack.botToken, { slackApiUrl: slack.apiUrl });
    return { box: new SlackOutbox(client, { scale: 1, logger }), slack };
  }

  it('one hot channel does not stall another', async () => {
    const { box } = await outbox();
    for (let i = 0; i < 30; i++)
      void box.call('chat.postMessage', { channel: 'C0HOT', text: `tick ${i}` }, Priority.progress);
    const started = Date.now();
    await box.call('chat.postMessage', { channel: 'C0QUIET', text: 'hello' }, Priority.progress);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(slack?.rateLimited).toEqual([]);
  });

  it('an urgent edit overtakes queued progress edits, and only the latest version of an edit is sent', {
    timeout: 30_000,
  }, async () => {
    const { box, slack: s } = await outbox();
    const posted = await box.call<{ ts: string }>(
      'chat.postMessage',
      { channel: 'C0A', text: 'status' },
      Priority.urgent,
    );
    // Fill chat.update's budget with progress edits of 20 other messages, and edit ours 5 times.
    for (let i = 0; i < 20; i++)
      box.coalesce(`other:${i}`, 'chat.update', () => ({
        channel: 'C0A',
        ts: posted.ts,
        text: `other ${i}`,
      }));
    for (let v = 1; v <= 5; v++)
      box.coalesce('ours', 'chat.update', () => ({ channel: 'C0A', ts: posted.ts, text: `ours v${v}` }));
    const started = Date.now();
    box.coalesce(
      'final',
      'chat.update',
      () => ({ channel: 'C0A', ts: posted.ts, text: 'final state' }),
      Priority.decision,
    );
    for (;;) {
      const sent = s.calls.filter((c) => c.method === 'chat.update').map((c) => String(c.args.text));
      if (sent.includes('final state')) {
        // The first slice of chat.update's budget (5 calls) had started before it was queued;
        // it goes first in the next slice, ahead of the 15 progress edits still waiting.
        expect(sent.indexOf('final state')).toBe(5);
        expect(Date.now() - started).toBeLessThan(8000);
        break;
      }
      if (Date.now() - started > 10_000) throw new Error('the urgent edit never went out');
      await new Promise((r) => setTimeout(r, 20));
    }
    // Coalescing: at most one of our five versions goes out, and it is the last one. (No wait
    // here: the next slice of chat.update's budget starts 6.6 s after the previous one, so
    // nothing more can leave before these lines run.)
    const ours = s.calls.filter((c) => c.method === 'chat.update' && String(c.args.text).startsWith('ours'));
    expect(ours.map((c) => c.args.text).every((t) => t === 'ours v5')).toBe(true);
    expect(ours.length).toBeLessThanOrEqual(1);
    expect(s.rateLimited).toEqual([]);
  });
});
