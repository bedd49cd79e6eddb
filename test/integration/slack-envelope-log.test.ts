import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { createSlackApp, type SlackConnection } from '../../src/slack/slack-app.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteEnvelopeLog } from '../../src/store/sqlite-envelope-log.js';
import { type FakeSlack, startFakeSlack } from '../fakes/slack/index.js';
import { eventually } from '../support/bot-harness.js';

type Db = ReturnType<typeof openDatabase>;

/**
 * Issue 12: an event is kept and acked before any work is done with it, the work may take as
 * long as it takes, and one kept but never handed over (a crash in between) is handed over at
 * the next start. Real Bolt over the Slack stand-in; the listener is the test's own.
 */
describe('Slack events kept as they are acked', () => {
  let slack: FakeSlack | undefined;
  let conn: SlackConnection | undefined;
  let dir: string | undefined;
  let db: Db | undefined;
  afterEach(async () => {
    await conn?.stop({ ackWithinMs: 100 });
    await slack?.close();
    db?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    conn = slack = db = dir = undefined;
  });

  async function connect(log: SqliteEnvelopeLog, onMention: (text: string) => Promise<void>) {
    slack ??= await startFakeSlack({ ackTimeoutMs: 1000 });
    conn = createSlackApp({
      botToken: slack.botToken,
      appToken: slack.appToken,
      apiUrl: slack.apiUrl,
      logger: pino({ level: 'silent' }),
      envelopes: log,
    });
    conn.app.event('app_mention', async ({ event }) => onMention(String((event as { text?: string }).text)));
    await conn.start();
    await slack.waitForConnection(5000);
  }

  function openLog(): SqliteEnvelopeLog {
    dir ??= mkdtempSync(join(tmpdir(), 'airlock-envelopes-'));
    db = openDatabase(join(dir, 'airlock.db'));
    return new SqliteEnvelopeLog(db);
  }

  const rows = () =>
    (db as Db)
      .prepare('SELECT envelope_id, handled_at FROM slack_envelopes ORDER BY received_at')
      .all() as Array<{ envelope_id: string; handled_at: number | null }>;

  it('acks at once while the work is still running, then marks the envelope handled', async () => {
    const log = openLog();
    let release = () => {};
    const seen: string[] = [];
    await connect(log, async (text) => {
      seen.push(text);
      await new Promise<void>((resolve) => {
        release = resolve;
      });
    });
    const sent = await (slack as FakeSlack).mention({ user: 'U0A', channel: 'C0DEV', text: 'slow work' });
    await (slack as FakeSlack).waitForAck(sent.envelopeId, 900);
    await eventually(() => seen.length === 1, 2000, 'the listener');
    // Acked and kept; not handled while the listener works.
    const mention = rows().find((r) => r.envelope_id === sent.envelopeId);
    expect(mention).toMatchObject({ handled_at: null });
    release();
    await eventually(
      () => rows().find((r) => r.envelope_id === sent.envelopeId)?.handled_at,
      2000,
      'handled',
    );
    expect((slack as FakeSlack).envelopes.find((e) => e.envelopeId === sent.envelopeId)?.deliveries).toBe(1);
  });

  it('an envelope kept but never handed over is handed over at the next start, once', async () => {
    const log = openLog();
    // What a process that acked and then died leaves behind.
    const body = {
      type: 'event_callback',
      event_id: 'Ev0KEPT0001',
      team_id: 'TFAKETEAM1',
      api_app_id: 'AFAKEAPP01',
      event: {
        type: 'app_mention',
        user: 'U0A',
        text: '<@UAIRLOCKBOT> kept before a crash',
        ts: '1700000000.000100',
        channel: 'C0DEV',
        event_ts: '1700000000.000100',
      },
      authorizations: [{ team_id: 'TFAKETEAM1', user_id: 'UAIRLOCKBOT', is_bot: true }],
    };
    log.received([{ envelopeId: 'kept-envelope-1', body }]);
    const seen: string[] = [];
    await connect(log, async (text) => {
      seen.push(text);
    });
    await eventually(() => seen.length === 1, 3000, 'the kept envelope handed over');
    expect(seen).toEqual(['<@UAIRLOCKBOT> kept before a crash']);
    await eventually(() => rows()[0]?.handled_at, 2000, 'handled');
    expect(log.unhandled()).toEqual([]);
  });

  it('an event that cannot be kept is not acked, so Slack delivers it again', async () => {
    const log = openLog();
    const seen: string[] = [];
    await connect(log, async (text) => {
      seen.push(text);
    });
    (db as Db).exec('DROP TABLE slack_envelopes');
    const sent = await (slack as FakeSlack).mention({ user: 'U0A', channel: 'C0DEV', text: 'unkept' });
    const record = (slack as FakeSlack).envelopes.find((e) => e.envelopeId === sent.envelopeId);
    // Slack's own timeout passes without an ack, and it delivers the event again.
    await eventually(() => (record?.deliveries ?? 0) > 1, 3000, 'a redelivery');
    expect(record?.acked).toBe(false);
    expect(seen).toEqual([]);
    (slack as FakeSlack).takeProblems();
  });
});
