// Drives the Slack stand-in with the real clients airlock uses: @slack/web-api's WebClient and a Bolt
// App in Socket Mode (SocketModeClient over undici's WebSocket). The fake must refuse what Slack
// refuses, in Slack's shapes, and deliver events and interactions the way Slack does.
import { App, type Logger, LogLevel, SocketModeReceiver, webApi } from '@slack/bolt';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { validateMessageBlocks, validateModalView } from '../fakes/slack/block-kit.js';
import { type FakeSlack, type FakeSlackOptions, startFakeSlack } from '../fakes/slack/index.js';
import { RateLimiter, SLACK_RATE_TIERS } from '../fakes/slack/rate-limits.js';
import { until } from '../support/until.js';

const { WebClient, ErrorCode } = webApi;

const silent: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  setLevel: () => {},
  getLevel: () => LogLevel.ERROR,
  setName: () => {},
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
// biome-ignore lint/suspicious/noExplicitAny: envelopes and payloads are asserted as raw JSON
type Json = Record<string, any>;

const section = (text: string) => ({ type: 'section' as const, text: { type: 'mrkdwn' as const, text } });
const button = (actionId: string, text: string, value?: string) => ({
  type: 'button' as const,
  action_id: actionId,
  text: { type: 'plain_text' as const, text },
  ...(value !== undefined ? { value } : {}),
});

let fake: FakeSlack | undefined;
let app: App | undefined;

afterEach(async () => {
  await app?.stop();
  app = undefined;
  await fake?.close();
  fake = undefined;
});

async function start(opts: FakeSlackOptions = {}): Promise<FakeSlack> {
  fake = await startFakeSlack(opts);
  return fake;
}

const client = (f: FakeSlack, token = f.botToken, extra: Record<string, unknown> = {}) =>
  new WebClient(token, { slackApiUrl: f.apiUrl, logger: silent, ...extra });

/** The platform error a WebClient call was refused with. */
async function refusal(call: Promise<unknown>): Promise<Record<string, unknown>> {
  const err = (await call.then(
    () => undefined,
    (e: unknown) => e,
  )) as { code?: string; data?: Record<string, unknown> } | undefined;
  expect(err?.code).toBe(ErrorCode.PlatformError);
  return err?.data ?? {};
}

/** A real Bolt app in Socket Mode against the fake; reconnects quickly (clientPingTimeout drives the delay). */
function boltApp(f: FakeSlack, authorize?: () => Promise<Record<string, string>>): App {
  const receiver = new SocketModeReceiver({
    appToken: f.appToken,
    installerOptions: { clientOptions: { slackApiUrl: f.apiUrl } },
    clientPingTimeout: 200,
    logger: silent,
  });
  app = authorize
    ? new App({ authorize, receiver, clientOptions: { slackApiUrl: f.apiUrl }, logger: silent })
    : new App({ token: f.botToken, receiver, clientOptions: { slackApiUrl: f.apiUrl }, logger: silent });
  return app;
}

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

describe('Block Kit validator', () => {
  it('accepts an ordinary approval message', () => {
    expect(
      validateMessageBlocks([
        { type: 'header', text: { type: 'plain_text', text: 'Run 42' } },
        section('*Diff* ready'),
        {
          type: 'actions',
          elements: [button('approve', 'Approve', 'r42'), button('reject', 'Reject', 'r42')],
        },
        { type: 'context', elements: [{ type: 'mrkdwn', text: 'by <@U1>' }] },
        { type: 'divider' },
      ]),
    ).toEqual([]);
  });

  it('enforces the counts and lengths Slack enforces, with json-pointers', () => {
    expect(validateMessageBlocks(Array.from({ length: 51 }, () => ({ type: 'divider' })))).toEqual([
      'no more than 50 items allowed [json-pointer:/blocks]',
    ]);
    expect(validateMessageBlocks([section('x'.repeat(3001))])).toEqual([
      'must be less than 3001 characters [json-pointer:/blocks/0/text/text]',
    ]);
    expect(validateMessageBlocks([{ type: 'actions', elements: [button('a', 'x'.repeat(76))] }])).toEqual([
      'must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]',
    ]);
    const fields = Array.from({ length: 11 }, () => ({ type: 'mrkdwn', text: 'f' }));
    expect(validateMessageBlocks([{ type: 'section', fields }])).toEqual([
      'no more than 10 items allowed [json-pointer:/blocks/0/fields]',
    ]);
    const options = Array.from({ length: 101 }, (_, i) => ({
      text: { type: 'plain_text', text: `o${i}` },
      value: `${i}`,
    }));
    expect(
      validateMessageBlocks([
        { type: 'actions', elements: [{ type: 'static_select', action_id: 's', options }] },
      ]),
    ).toEqual(['no more than 100 items allowed [json-pointer:/blocks/0/elements/0/options]']);
    expect(
      validateMessageBlocks([{ type: 'header', text: { type: 'plain_text', text: 'h'.repeat(151) } }]),
    ).toEqual(['must be less than 151 characters [json-pointer:/blocks/0/text/text]']);
  });

  it('rejects wrong types, duplicates and empty text', () => {
    expect(validateMessageBlocks([{ type: 'header', text: { type: 'mrkdwn', text: 'h' } }])).toEqual([
      'must be a valid enum value [json-pointer:/blocks/0/text/type]',
    ]);
    expect(validateMessageBlocks([{ type: 'carousel' }])).toEqual([
      'unsupported type: carousel [json-pointer:/blocks/0/type]',
    ]);
    expect(validateMessageBlocks([section('')])).toEqual([
      'must be more than 0 characters [json-pointer:/blocks/0/text/text]',
    ]);
    expect(
      validateMessageBlocks([
        { ...section('a'), block_id: 'b' },
        { ...section('b'), block_id: 'b' },
      ]),
    ).toEqual(['Block ID needs to be unique [json-pointer:/blocks/1/block_id]']);
    expect(
      validateMessageBlocks([{ type: 'actions', elements: [button('a', 'x'), button('a', 'y')] }]),
    ).toEqual(['action_id must be unique within the block [json-pointer:/blocks/0/elements/1/action_id]']);
    expect(
      validateMessageBlocks([{ type: 'actions', elements: [{ ...button('a', 'x'), style: 'green' }] }]),
    ).toEqual(['must be a valid enum value [json-pointer:/blocks/0/elements/0/style]']);
  });

  it('validates modals: title length, submit with inputs, block count', () => {
    const title = (text: string) => ({ type: 'plain_text', text });
    const input = {
      type: 'input',
      label: title('Why'),
      element: { type: 'plain_text_input', action_id: 'why' },
    };
    expect(validateModalView({ type: 'modal', title: title('x'.repeat(25)), blocks: [] })).toEqual([
      'failed to match all allowed schemas [json-pointer:/view]',
      'must be less than 25 characters [json-pointer:/view/title/text]',
    ]);
    expect(validateModalView({ type: 'modal', title: title('Reject'), blocks: [input] })).toContain(
      'must define `submit` to use an `input` block in modals [json-pointer:/view/blocks/0]',
    );
    expect(
      validateModalView({ type: 'modal', title: title('Reject'), submit: title('Send'), blocks: [input] }),
    ).toEqual([]);
    const many = Array.from({ length: 101 }, () => ({ type: 'divider' }));
    expect(validateModalView({ type: 'modal', title: title('t'), blocks: many })).toContain(
      'no more than 100 items allowed [json-pointer:/view/blocks]',
    );
    const longInput = { ...input, element: { type: 'plain_text_input', action_id: 'w', max_length: 3001 } };
    expect(
      validateModalView({ type: 'modal', title: title('t'), submit: title('s'), blocks: [longInput] }),
    ).toContain('must be less than or equal to 3000 [json-pointer:/view/blocks/0/element/max_length]');
  });
});

describe('rate limits', () => {
  it('keep Slack tiers: 10 posts per channel per 10 s, Retry-After in whole seconds until the window frees', () => {
    let now = 1_000_000;
    const limiter = new RateLimiter(1, () => now);
    for (let i = 0; i < 10; i++) expect(limiter.take('chat.postMessage', 'C1')).toBeUndefined();
    expect(limiter.take('chat.postMessage', 'C1')).toEqual({
      key: 'chat.postMessage:C1',
      retryAfterSeconds: 10,
    });
    expect(limiter.take('chat.postMessage', 'C2')).toBeUndefined(); // another channel has its own window
    now += 9_001;
    expect(limiter.take('chat.postMessage', 'C1')?.retryAfterSeconds).toBe(1);
    now += 1_000;
    expect(limiter.take('chat.postMessage', 'C1')).toBeUndefined();
    expect(limiter.take('apps.connections.open', undefined)).toBeUndefined();
    expect(limiter.take('apps.connections.open', undefined)).toEqual({
      key: 'apps.connections.open',
      retryAfterSeconds: 60,
    });
    expect(SLACK_RATE_TIERS.tier3.methods).toContain('chat.update');
  });

  it('scale the window, not the allowance, and lift Tier 1 when scaled', () => {
    let now = 0;
    const limiter = new RateLimiter(60, () => now);
    for (let i = 0; i < 50; i++) expect(limiter.take('chat.update', undefined)).toBeUndefined();
    expect(limiter.take('chat.update', undefined)).toEqual({ key: 'chat.update', retryAfterSeconds: 1 });
    now += 1_001;
    expect(limiter.take('chat.update', undefined)).toBeUndefined();
    for (let i = 0; i < 5; i++) expect(limiter.take('apps.connections.open', undefined)).toBeUndefined();
  });
});

describe('Web API through a real WebClient', () => {
  it('stores posts, thread replies and edits as Slack does', async () => {
    const f = await start();
    const web = client(f);
    const parent = await web.chat.postMessage({
      channel: 'C1',
      text: 'Working on it',
      blocks: [section('*Working*')],
    });
    expect(parent.ts).toMatch(/^\d+\.\d{6}$/);
    expect(parent.message?.bot_id).toBe(f.botId);
    const reply = await web.chat.postMessage({
      channel: 'C1',
      thread_ts: parent.ts as string,
      text: 'step 1',
    });
    await web.chat.update({
      channel: 'C1',
      ts: parent.ts as string,
      text: 'Done',
      blocks: [section('*Done*')],
    });
    expect(f.channel('C1')).toHaveLength(1);
    expect(f.channel('C1')[0]).toMatchObject({ text: 'Done', edits: 1, botId: f.botId });
    expect(f.thread('C1', parent.ts as string).map((m) => m.ts)).toEqual([parent.ts, reply.ts]);
    await web.reactions.add({ channel: 'C1', timestamp: parent.ts as string, name: 'white_check_mark' });
    expect(f.reactions).toEqual([
      { channel: 'C1', ts: parent.ts, name: 'white_check_mark', user: f.botUserId },
    ]);
    expect(f.problems).toEqual([]);
  });

  it('refuses what Slack refuses with its error codes', async () => {
    const f = await start({ userGroups: { S01LEADS: ['U1', 'U2'] } });
    const web = client(f);
    const { ts } = await web.chat.postMessage({ channel: 'C1', text: 'hi' });
    expect((await refusal(web.chat.postMessage({ channel: 'general', text: 'x' }))).error).toBe(
      'channel_not_found',
    );
    expect((await refusal(web.chat.postMessage({ channel: 'C1', text: '' }))).error).toBe('no_text');
    expect(
      (await refusal(web.chat.postMessage({ channel: 'C1', text: 'x', thread_ts: '1.000001' }))).error,
    ).toBe('thread_not_found');
    expect((await refusal(web.chat.postMessage({ channel: 'C1', text: 'x'.repeat(40_001) }))).error).toBe(
      'msg_too_long',
    );
    expect((await refusal(web.chat.update({ channel: 'C1', ts: '1.000001', text: 'x' }))).error).toBe(
      'message_not_found',
    );
    const human = await f.mention({ user: 'U1', channel: 'C1', text: 'hello' });
    expect((await refusal(web.chat.update({ channel: 'C1', ts: human.ts, text: 'x' }))).error).toBe(
      'cant_update_message',
    );
    await web.reactions.add({ channel: 'C1', timestamp: ts as string, name: 'eyes' });
    expect(
      (await refusal(web.reactions.add({ channel: 'C1', timestamp: ts as string, name: 'eyes' }))).error,
    ).toBe('already_reacted');
    expect(
      (await refusal(web.reactions.add({ channel: 'C1', timestamp: ts as string, name: ':eyes:' }))).error,
    ).toBe('invalid_name');
    expect((await web.usergroups.users.list({ usergroup: 'S01LEADS' })).users).toEqual(['U1', 'U2']);
    expect((await refusal(web.usergroups.users.list({ usergroup: 'S404' }))).error).toBe('no_such_subteam');
    expect((await refusal(web.apiCall('chat.nope'))).error).toBe('unknown_method');
    expect(f.takeProblems()).toEqual(['unknown or unimplemented Web API method chat.nope']);
  });

  it('accepts only the bot token for Web API methods and only the app token for apps.connections.open', async () => {
    const f = await start();
    expect((await client(f).auth.test()).user_id).toBe('UAIRLOCKBOT');
    expect((await refusal(client(f, 'xoxb-wrong').auth.test())).error).toBe('invalid_auth');
    expect((await refusal(client(f, '').auth.test())).error).toBe('not_authed');
    expect((await refusal(client(f, f.appToken).auth.test())).error).toBe('not_allowed_token_type');
    expect((await refusal(client(f).apps.connections.open())).error).toBe('not_allowed_token_type');
    const opened = await client(f, f.appToken).apps.connections.open();
    expect(opened.url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+\/link\/\?ticket=/);
    expect(f.calls.map((c) => c.error ?? 'ok')).toEqual([
      'ok',
      'invalid_auth',
      'not_authed',
      'not_allowed_token_type',
      'not_allowed_token_type',
      'ok',
    ]);
  });

  it('reads JSON bodies with a bearer token only, and answers with Slack headers', async () => {
    const f = await start();
    const post = (body: unknown, headers: Record<string, string>) =>
      fetch(`${f.apiUrl}chat.postMessage`, { method: 'POST', headers, body: JSON.stringify(body) });
    const res = await post(
      { channel: 'C1', text: 'json', blocks: [section('*json*')] },
      { 'content-type': 'application/json; charset=utf-8', authorization: `Bearer ${f.botToken}` },
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('x-slack-req-id')).toMatch(/^[0-9a-f]{32}$/);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await res.json()).toMatchObject({ ok: true, channel: 'C1', message: { text: 'json' } });
    const tokenInBody = await post(
      { token: f.botToken, channel: 'C1', text: 'x' },
      { 'content-type': 'application/json' },
    );
    expect(await tokenInBody.json()).toEqual({
      ok: false,
      error: 'not_authed',
      warning: 'missing_charset',
      response_metadata: { warnings: ['missing_charset'] },
    });
    expect(f.channel('C1').map((m) => m.text)).toEqual(['json']);
  });

  it('answers invalid blocks with invalid_blocks, errors and [ERROR] messages', async () => {
    const f = await start();
    const web = client(f);
    const tooMany = Array.from({ length: 51 }, () => ({ type: 'divider' }));
    const cases: Array<[unknown[], string]> = [
      [tooMany, 'no more than 50 items allowed [json-pointer:/blocks]'],
      [
        [{ type: 'actions', elements: [button('a', 'x'.repeat(76))] }],
        'must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]',
      ],
      [[section('y'.repeat(3001))], 'must be less than 3001 characters [json-pointer:/blocks/0/text/text]'],
    ];
    for (const [blocks, error] of cases) {
      const data = await refusal(
        web.chat.postMessage({ channel: 'C1', text: 'fallback', blocks: blocks as never }),
      );
      expect(data).toMatchObject({
        ok: false,
        error: 'invalid_blocks',
        errors: [error],
        response_metadata: { messages: [`[ERROR] ${error}`] },
      });
    }
    expect(f.channel('C1')).toEqual([]);
  });

  it('refuses a modal whose title is over 24 characters before looking at the trigger', async () => {
    const f = await start();
    const view = {
      type: 'modal' as const,
      title: { type: 'plain_text' as const, text: 'A title of 25 characters!' },
      blocks: [],
    };
    const data = await refusal(client(f).views.open({ trigger_id: '1.2.abc', view }));
    expect(data.error).toBe('invalid_arguments');
    expect(data.response_metadata).toMatchObject({
      messages: [
        '[ERROR] failed to match all allowed schemas [json-pointer:/view]',
        '[ERROR] must be less than 25 characters [json-pointer:/view/title/text]',
      ],
    });
    view.title.text = 'Fine';
    expect((await refusal(client(f).views.open({ trigger_id: '1.2.abc', view }))).error).toBe(
      'invalid_trigger_id',
    );
  });

  it('runs filesUploadV2 end to end into a thread', async () => {
    const f = await start();
    const web = client(f);
    const parent = await web.chat.postMessage({ channel: 'C1', text: 'Run 7' });
    const diff = 'diff --git a/x b/x\n+fixed\n';
    await web.files.uploadV2({
      channel_id: 'C1',
      thread_ts: parent.ts as string,
      filename: 'run-7.diff',
      title: 'Proposed diff',
      content: diff,
      initial_comment: 'Here is the diff',
    });
    expect(f.files).toHaveLength(1);
    expect(f.files[0]).toMatchObject({
      channel: 'C1',
      threadTs: parent.ts,
      filename: 'run-7.diff',
      title: 'Proposed diff',
    });
    expect(f.files[0]?.content.toString()).toBe(diff);
    const [, share] = f.thread('C1', parent.ts as string);
    expect(share).toMatchObject({ text: 'Here is the diff', files: [f.files[0]?.id], botId: f.botId });
    const bogus = await refusal(
      web.files.completeUploadExternal({ files: [{ id: 'FNOPE' }], channel_id: 'C1' }),
    );
    expect(bogus.error).toBe('file_not_found');
    expect(f.problems).toEqual([]);
  });

  it('rate-limits a burst of chat.update with 429 + Retry-After, and WebClient retries through it', async () => {
    const f = await start({ rateScale: 60 });
    const { ts } = await client(f).chat.postMessage({ channel: 'C1', text: 'v0' });
    const strict = client(f, f.botToken, { rejectRateLimitedCalls: true });
    const burst = await Promise.allSettled(
      Array.from({ length: 60 }, (_, i) =>
        strict.chat.update({ channel: 'C1', ts: ts as string, text: `v${i}` }),
      ),
    );
    const limited = burst
      .filter((r) => r.status === 'rejected')
      .map((r) => (r as PromiseRejectedResult).reason);
    expect(limited).toHaveLength(10);
    expect(limited[0]).toMatchObject({ code: ErrorCode.RateLimitedError, retryAfter: 1 });
    expect(f.rateLimited).toHaveLength(10);
    expect(f.rateLimited[0]).toMatchObject({ method: 'chat.update', key: 'chat.update' });

    await sleep(1100); // let the 1 s window (60 s / 60) drain
    const patient = client(f, f.botToken, { retryConfig: { retries: 3, minTimeout: 10, maxTimeout: 50 } });
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        patient.chat.update({ channel: 'C1', ts: ts as string, text: `w${i}` }),
      ),
    );
    expect(results.every((r) => r.ok)).toBe(true);
    expect(f.rateLimited.length).toBeGreaterThan(10);
    expect(f.calls.filter((c) => c.status === 429).every((c) => c.error === 'ratelimited')).toBe(true);
  });
});

/** A bare Socket Mode client over `ws`: collects envelopes and acks them unless told not to. */
async function rawSocket(f: FakeSlack, autoAck = true) {
  const { url } = await client(f, f.appToken).apps.connections.open();
  const socket = new WebSocket(url as string);
  const received: Json[] = [];
  const hello = deferred<void>();
  socket.on('message', (data) => {
    const msg = JSON.parse(data.toString());
    received.push(msg);
    if (msg.type === 'hello') hello.resolve();
    if (autoAck && msg.envelope_id)
      socket.send(JSON.stringify({ envelope_id: msg.envelope_id, payload: {} }));
  });
  await hello.promise;
  return { socket, received, url: url as string };
}

describe('Socket Mode protocol', () => {
  it('issues single-use tickets, says hello, answers pings, and refuses a reused ticket with 401', async () => {
    const f = await start();
    const { socket, received, url } = await rawSocket(f);
    expect(received[0]).toEqual({
      type: 'hello',
      num_connections: 1,
      debug_info: { host: 'applink-fake', approximate_connection_time: 18060 },
      connection_info: { app_id: f.appId },
    });
    const pong = deferred<string>();
    socket.once('pong', (data) => pong.resolve(data.toString()));
    socket.ping('are you there');
    expect(await pong.promise).toBe('are you there');
    const status = await new Promise<number>((resolve) => {
      const again = new WebSocket(url);
      again.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      again.on('error', () => undefined);
    });
    expect(status).toBe(401);
    socket.close();
    expect(f.takeProblems()).toEqual([expect.stringContaining('refused connection')]);
  });

  it('redelivers an unacked event with retry_attempt + 1 up to maxRetries, then reports it', async () => {
    const f = await start({ ackTimeoutMs: 100, maxRetries: 2, subscriptions: ['app_mention'] });
    const { socket, received } = await rawSocket(f, false);
    const { envelopeId, eventId } = await f.mention({ user: 'U1', channel: 'C1', text: 'fix it' });
    // Once Slack has given up on the envelope, every delivery it will ever make has been made.
    await until(
      () => f.problems.some((p) => p.includes(`${envelopeId} not acked`)),
      'Slack to give up on the unacked envelope',
    );
    const deliveries = received.filter((m) => m.envelope_id === envelopeId);
    expect(deliveries.map((d) => [d.retry_attempt, d.retry_reason])).toEqual([
      [0, ''],
      [1, 'timeout'],
      [2, 'timeout'],
    ]);
    expect(deliveries[0]).toMatchObject({
      type: 'events_api',
      accepts_response_payload: false,
      payload: {
        type: 'event_callback',
        event_id: eventId,
        api_app_id: f.appId,
        authorizations: [{ team_id: f.teamId, user_id: 'UAIRLOCKBOT', is_bot: true }],
        event: { type: 'app_mention', user: 'U1', text: '<@UAIRLOCKBOT> fix it', channel: 'C1' },
      },
    });
    expect(f.takeProblems()).toEqual([
      expect.stringContaining(`${envelopeId} not acked within 100 ms after 2 retries`),
    ]);
    socket.send(JSON.stringify({ envelope_id: 'not-an-envelope' }));
    expect(await until(() => f.takeProblems()[0], 'the stand-in to refuse the unknown ack')).toContain(
      'ack for unknown envelope not-an-envelope',
    );
    socket.close();
  });

  it('expires trigger ids after 3 s and refuses a second exchange', async () => {
    const f = await start();
    const web = client(f);
    const { socket, received } = await rawSocket(f);
    const { ts } = await web.chat.postMessage({
      channel: 'C1',
      text: 'Approve?',
      blocks: [
        {
          type: 'actions',
          block_id: 'pick',
          elements: [
            button('approve', 'Approve', 'r1'),
            {
              type: 'static_select',
              action_id: 'repo',
              placeholder: { type: 'plain_text', text: 'Repository' },
              options: [{ text: { type: 'plain_text', text: 'widgets' }, value: 'acme/widgets' }],
            },
          ],
        },
      ],
    });
    const view = {
      type: 'modal' as const,
      title: { type: 'plain_text' as const, text: 'Why' },
      blocks: [section('ok')],
    };
    await f.clickButton({ user: 'U1', channel: 'C1', messageTs: ts as string, actionId: 'approve' });
    await f.clickButton({ user: 'U1', channel: 'C1', messageTs: ts as string, actionId: 'approve' });
    const [fresh, stale] = received.filter((m) => m.type === 'interactive').map((m) => m.payload.trigger_id);
    await web.views.open({ trigger_id: fresh, view });
    expect((await refusal(web.views.open({ trigger_id: fresh, view }))).error).toBe('exchanged_trigger_id');
    await sleep(3100);
    expect((await refusal(web.views.open({ trigger_id: stale, view }))).error).toBe('expired_trigger_id');
    await f.selectOption({
      user: 'U1',
      channel: 'C1',
      messageTs: ts as string,
      actionId: 'repo',
      value: 'acme/widgets',
    });
    expect(received.at(-1)?.payload).toMatchObject({
      type: 'block_actions',
      actions: [
        {
          type: 'static_select',
          action_id: 'repo',
          block_id: 'pick',
          selected_option: { value: 'acme/widgets' },
        },
      ],
      state: {
        values: { pick: { repo: { type: 'static_select', selected_option: { value: 'acme/widgets' } } } },
      },
    });
    await expect(
      f.selectOption({
        user: 'U1',
        channel: 'C1',
        messageTs: ts as string,
        actionId: 'repo',
        value: 'acme/nope',
      }),
    ).rejects.toThrow(/no option with value acme\/nope/);
    await expect(
      f.clickButton({ user: 'U1', channel: 'C1', messageTs: ts as string, actionId: 'reject' }),
    ).rejects.toThrow(/no element with action_id reject/);
    socket.close();
    expect(f.problems).toEqual([]);
  });
});

describe('a real Bolt app in Socket Mode', () => {
  it('delivers a mention to app.event("app_mention"), gets it acked, echoes no bot reply, and redelivers on demand', async () => {
    const f = await start({ rateScale: 10 });
    const bolt = boltApp(f);
    const seen = deferred<{ text: string; ts: string }>();
    const redelivered = deferred<unknown>();
    bolt.event('app_mention', async ({ event, say, context }) => {
      if (context.retryNum) return redelivered.resolve(context.retryNum);
      await say({ text: 'On it', thread_ts: event.ts });
      seen.resolve(event);
    });
    await bolt.start();
    const { ts, envelopeId } = await f.mention({ user: 'U1', channel: 'C1', text: 'fix the typo' });
    expect((await seen.promise).text).toBe('<@UAIRLOCKBOT> fix the typo');
    // Wait for both acks the stand-in expects (the mention and its message.channels copy), not a guess.
    await Promise.all(f.envelopes.map((e) => f.waitForAck(e.envelopeId)));
    expect(f.thread('C1', ts).map((m) => [m.user, m.text])).toEqual([
      ['U1', '<@UAIRLOCKBOT> fix the typo'],
      ['UAIRLOCKBOT', 'On it'],
    ]);
    // app_mention plus the message.channels copy of the same message; nothing for the bot's reply
    expect(f.envelopes.map((e) => [e.payloadType, e.acked])).toEqual([
      ['app_mention', true],
      ['message', true],
    ]);
    // at-least-once: a redelivery reaches the app again and must be acked again
    await f.redeliver(envelopeId);
    expect(await redelivered.promise).toBe(1);
    await f.waitForAck(envelopeId);
    expect(f.envelopes[0]).toMatchObject({ retryAttempt: 1, acked: true, deliveries: 2 });
    expect(f.problems).toEqual([]);
  });

  it('redelivers an event with retry_attempt 1 when the connection drops before the ack', async () => {
    const f = await start({ rateScale: 10, subscriptions: ['app_mention'] });
    let authorizations = 0;
    const bolt = boltApp(f, async () => {
      authorizations += 1;
      if (authorizations === 1) {
        f.dropConnection(); // the first delivery is lost before Bolt can ack it
        await sleep(50);
      }
      return { botToken: f.botToken, botUserId: f.botUserId, botId: f.botId, teamId: f.teamId };
    });
    const handled = deferred<{ retryNum: unknown; retryReason: unknown }>();
    bolt.event('app_mention', async ({ context }) => {
      handled.resolve({ retryNum: context.retryNum, retryReason: context.retryReason });
    });
    await bolt.start();
    const { envelopeId } = await f.mention({ user: 'U1', channel: 'C1', text: 'again' });
    expect(await handled.promise).toEqual({ retryNum: 1, retryReason: 'timeout' });
    await f.waitForAck(envelopeId);
    expect(f.envelopes).toEqual([
      expect.objectContaining({ envelopeId, retryAttempt: 1, acked: true, deliveries: 2 }),
    ]);
    expect(f.calls.filter((c) => c.method === 'apps.connections.open')).toHaveLength(2);
    expect(f.problems).toEqual([]);
  });

  it('delivers a button click to app.action, records the ack, and honours respond(replace_original)', async () => {
    const f = await start({ rateScale: 10 });
    const bolt = boltApp(f);
    const clicked = deferred<Json>();
    bolt.action('approve', async ({ ack, action, body, respond }) => {
      await ack();
      await respond({ replace_original: true, text: 'Approved by <@U2>' });
      clicked.resolve({ action, body });
    });
    await bolt.start();
    const { ts } = await bolt.client.chat.postMessage({
      channel: 'C1',
      text: 'Approve run 7?',
      blocks: [
        section('Run 7'),
        { type: 'actions', block_id: 'decide', elements: [button('approve', 'Approve', 'run-7')] },
      ],
    });
    const { envelopeId } = await f.clickButton({
      user: 'U2',
      channel: 'C1',
      messageTs: ts as string,
      actionId: 'approve',
    });
    const { action, body } = await clicked.promise;
    expect(action).toMatchObject({
      type: 'button',
      action_id: 'approve',
      block_id: 'decide',
      value: 'run-7',
    });
    expect(body).toMatchObject({
      type: 'block_actions',
      user: { id: 'U2', team_id: f.teamId },
      container: { type: 'message', message_ts: ts, channel_id: 'C1' },
      channel: { id: 'C1' },
      message: { ts, bot_id: f.botId },
    });
    expect(body.trigger_id).toEqual(expect.any(String));
    expect(f.envelopes.find((e) => e.envelopeId === envelopeId)).toMatchObject({
      acked: true,
      ackPayload: {},
    });
    expect(f.channel('C1')).toEqual([expect.objectContaining({ ts, text: 'Approved by <@U2>', edits: 1 })]);
    expect(f.channel('C1')[0]?.blocks).toBeUndefined();
    await expect(
      f.clickButton({ user: 'U2', channel: 'C1', messageTs: ts as string, actionId: 'approve' }),
    ).rejects.toThrow(/no element with action_id approve/);
    expect(f.problems).toEqual([]);
  });

  it('opens a modal with the fresh trigger from a click and delivers its submission to app.view', async () => {
    const f = await start({ rateScale: 10 });
    const bolt = boltApp(f);
    const opened = deferred<string>();
    bolt.action('reject', async ({ ack, body, client: web }) => {
      await ack();
      const res = await web.views.open({
        trigger_id: (body as { trigger_id: string }).trigger_id,
        view: {
          type: 'modal',
          callback_id: 'reject_reason',
          title: { type: 'plain_text', text: 'Reject run 7' },
          submit: { type: 'plain_text', text: 'Reject' },
          blocks: [
            {
              type: 'input',
              block_id: 'why',
              label: { type: 'plain_text', text: 'Why?' },
              element: { type: 'plain_text_input', action_id: 'text', min_length: 1 },
            },
          ],
        },
      });
      opened.resolve(res.view?.id as string);
    });
    const submissions: string[] = [];
    bolt.view('reject_reason', async ({ ack, view }) => {
      const reason = view.state.values.why?.text?.value ?? '';
      submissions.push(reason);
      if (reason.length < 5) await ack({ response_action: 'errors', errors: { why: 'Say a bit more' } });
      else await ack();
    });
    await bolt.start();
    const { ts } = await bolt.client.chat.postMessage({
      channel: 'C1',
      text: 'Run 7',
      blocks: [{ type: 'actions', elements: [button('reject', 'Reject', 'run-7')] }],
    });
    await f.clickButton({ user: 'U2', channel: 'C1', messageTs: ts as string, actionId: 'reject' });
    const viewId = await opened.promise;
    expect(f.views).toEqual([expect.objectContaining({ id: viewId, user: 'U2' })]);
    const short = await f.submitView({
      user: 'U2',
      viewId,
      values: { why: { text: { type: 'plain_text_input', value: 'no' } } },
    });
    expect(short.response).toEqual({ response_action: 'errors', errors: { why: 'Say a bit more' } });
    expect(f.views[0]?.closed).toBeFalsy();
    await expect(f.submitView({ user: 'U2', viewId, values: {} })).rejects.toThrow(/required and empty/);
    const done = await f.submitView({
      user: 'U2',
      viewId,
      values: { why: { text: { type: 'plain_text_input', value: 'breaks the build' } } },
    });
    expect(done.response).toEqual({});
    expect(submissions).toEqual(['no', 'breaks the build']);
    expect(f.views[0]?.closed).toBe(true);
    expect(f.problems).toEqual([]);
  });

  it('reconnects after disconnect("refresh_requested") and still receives mentions, queued while away', async () => {
    const f = await start({ rateScale: 10 });
    const bolt = boltApp(f);
    const mentions: string[] = [];
    const second = deferred<void>();
    bolt.event('app_mention', async ({ event }) => {
      mentions.push(event.text);
      if (mentions.length === 2) second.resolve();
    });
    await bolt.start();
    const first = await f.mention({ user: 'U1', channel: 'C1', text: 'first' });
    await f.waitForAck(first.envelopeId);
    f.disconnect('refresh_requested');
    expect(f.connected).toBe(false);
    await f.mention({ user: 'U1', channel: 'C1', text: 'while away' });
    await f.waitForConnection();
    await second.promise;
    expect(mentions).toEqual(['<@UAIRLOCKBOT> first', '<@UAIRLOCKBOT> while away']);
    expect(f.calls.filter((c) => c.method === 'apps.connections.open')).toHaveLength(2);
    expect(f.problems).toEqual([]);
  });
});
