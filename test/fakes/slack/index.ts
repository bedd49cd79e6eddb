// A Slack stand-in at the wire: a Web API (http://127.0.0.1:PORT/api/) and a Socket Mode WebSocket
// (/link/) on one loopback server, strict enough that the real WebClient, SocketModeClient and Bolt
// App meet Slack's errors, rate limits, Block Kit rules, acks and redeliveries. Point clients at it
// with `slackApiUrl: fake.apiUrl`.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { registerStandIn } from '../stand-ins.js';
import type { CallRecord, FakeState } from './api-common.js';
import { channelKind, postAsUser } from './events.js';
import { hex, slackId } from './http-util.js';
import {
  type ClickOptions,
  clickButton,
  forgeClick,
  type SelectOptions,
  selectOption,
} from './interactions.js';
import { type SubmitOptions, submitView } from './modal.js';
import { RateLimiter } from './rate-limits.js';
import { type DisconnectReason, type EnvelopeRecord, SocketHub } from './socket-mode.js';
import { createRequestHandler } from './web-api.js';
import type {
  EphemeralRecord,
  FakeConfig,
  FileRecord,
  ReactionRecord,
  SlackMessage,
  ViewRecord,
} from './workspace.js';
import { Workspace } from './workspace.js';

export { validateMessageBlocks, validateModalView } from './block-kit.js';
export { SLACK_RATE_TIERS } from './rate-limits.js';
export type {
  CallRecord,
  ClickOptions,
  DisconnectReason,
  EnvelopeRecord,
  EphemeralRecord,
  FileRecord,
  ReactionRecord,
  SelectOptions,
  SlackMessage,
  SubmitOptions,
  ViewRecord,
};

export type EventSubscription = 'app_mention' | 'message.channels' | 'message.groups' | 'message.im';

export interface FakeSlackOptions {
  botToken?: string;
  appToken?: string;
  botUserId?: string;
  teamId?: string;
  appId?: string;
  /** Multiplies every rate limit (1 = Slack's real limits); each window shrinks to 60 s / rateScale. */
  rateScale?: number;
  /** How long an envelope may go unacked before Slack gives up on that delivery. Default 3000. */
  ackTimeoutMs?: number;
  /** Redeliveries of an unacked events_api envelope. Default 3. */
  maxRetries?: number;
  userGroups?: Record<string, string[]>;
  /** Confirmed emails of people in the workspace: email → user id (users.lookupByEmail). */
  emails?: Record<string, string>;
  /** The app's bot event subscriptions. Default: all four, so a channel mention is also a `message`. */
  subscriptions?: EventSubscription[];
}

export interface FakeSlack {
  apiUrl: string;
  botToken: string;
  appToken: string;
  botUserId: string;
  botId: string;
  teamId: string;
  appId: string;
  mention(opts: {
    user: string;
    channel: string;
    text: string;
    threadTs?: string;
  }): Promise<{ ts: string; eventId: string; envelopeId: string }>;
  directMessage(opts: {
    user: string;
    text: string;
    threadTs?: string;
  }): Promise<{ channel: string; ts: string; eventId: string; envelopeId: string }>;
  threadReply(opts: {
    user: string;
    channel: string;
    threadTs: string;
    text: string;
  }): Promise<{ ts: string; eventId: string; envelopeId: string }>;
  clickButton(opts: ClickOptions): Promise<{ envelopeId: string; ack: unknown }>;
  /** Changes a user group's members, as an admin would in Slack. */
  setUserGroup(group: string, users: string[]): void;
  /** A real click whose payload `tamper` then alters (security tests only). */
  forgeClick(
    opts: ClickOptions,
    tamper: (payload: Record<string, unknown>) => Record<string, unknown>,
  ): Promise<{ envelopeId: string; ack: unknown }>;
  selectOption(opts: SelectOptions): Promise<{ envelopeId: string; ack: unknown }>;
  submitView(opts: SubmitOptions): Promise<{ envelopeId: string; response: unknown }>;
  redeliver(envelopeId: string): Promise<void>;
  /** Resolves with the ack payload of an envelope; rejects if no delivery of it is acked in time. */
  waitForAck(envelopeId: string, timeoutMs?: number): Promise<unknown>;
  disconnect(reason?: DisconnectReason): void;
  dropConnection(): void;
  waitForConnection(timeoutMs?: number): Promise<void>;
  readonly connected: boolean;
  channel(id: string): SlackMessage[];
  thread(channel: string, ts: string): SlackMessage[];
  ephemerals: EphemeralRecord[];
  reactions: ReactionRecord[];
  views: ViewRecord[];
  files: FileRecord[];
  calls: CallRecord[];
  rateLimited: Array<{ method: string; key: string; at: number }>;
  envelopes: EnvelopeRecord[];
  /** Refusals, unknown methods, unacked envelopes; any a test does not claim with takeProblems() fails it. */
  problems: string[];
  /** Claims the problems not yet checked, for a test that provokes them on purpose. */
  takeProblems(): string[];
  close(): Promise<void>;
}

const ALL_SUBSCRIPTIONS: EventSubscription[] = [
  'app_mention',
  'message.channels',
  'message.groups',
  'message.im',
];

function resolveConfig(opts: FakeSlackOptions): FakeConfig {
  return {
    botToken: opts.botToken ?? `xoxb-fake-${hex(12)}`,
    appToken: opts.appToken ?? `xapp-fake-${hex(12)}`,
    botUserId: opts.botUserId ?? 'UAIRLOCKBOT',
    botId: slackId('B'),
    teamId: opts.teamId ?? 'TFAKETEAM1',
    teamDomain: 'airlock-fake',
    appId: opts.appId ?? 'AFAKEAPP01',
    verificationToken: hex(12),
    rateScale: opts.rateScale ?? 1,
    ackTimeoutMs: opts.ackTimeoutMs ?? 3000,
    maxRetries: opts.maxRetries ?? 3,
    triggerTtlMs: 3000,
    subscriptions: new Set(opts.subscriptions ?? ALL_SUBSCRIPTIONS),
    userGroups: opts.userGroups ?? {},
    emails: opts.emails ?? {},
  };
}

export async function startFakeSlack(opts: FakeSlackOptions = {}): Promise<FakeSlack> {
  const config = resolveConfig(opts);
  const problems: string[] = [];
  const ws = new Workspace(config);
  const hub = new SocketHub({
    appId: config.appId,
    ackTimeoutMs: config.ackTimeoutMs,
    maxRetries: config.maxRetries,
    problems,
  });
  const state: FakeState = {
    config,
    ws,
    hub,
    limiter: new RateLimiter(config.rateScale),
    baseUrl: '',
    calls: [],
    rateLimited: [],
    problems,
  };
  const server = createServer(createRequestHandler(state));
  server.on('upgrade', (req, socket, head) => hub.handleUpgrade(req, socket, head));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const standIn = registerStandIn({ name: `slack ${state.baseUrl}`, problems });

  const requireEvent = <T>(delivered: T | undefined, what: string): T => {
    if (!delivered) throw new Error(`the app is not subscribed to ${what}`);
    return delivered;
  };

  return {
    apiUrl: `${state.baseUrl}/api/`,
    botToken: config.botToken,
    appToken: config.appToken,
    botUserId: config.botUserId,
    botId: config.botId,
    teamId: config.teamId,
    appId: config.appId,
    async mention({ user, channel, text, threadTs }) {
      if (channel.startsWith('D')) throw new Error('Slack sends no app_mention in DMs; use directMessage');
      if (!config.subscriptions.has('app_mention'))
        throw new Error('the app is not subscribed to app_mention');
      const mentionText = text.includes(`<@${config.botUserId}>`) ? text : `<@${config.botUserId}> ${text}`;
      const out = postAsUser(state, { user, channel, text: mentionText, ...(threadTs ? { threadTs } : {}) });
      const d = requireEvent(out.appMention, 'app_mention');
      return { ts: out.message.ts, eventId: d.eventId, envelopeId: d.envelopeId };
    },
    async directMessage({ user, text, threadTs }) {
      if (!config.subscriptions.has('message.im')) throw new Error('the app is not subscribed to message.im');
      const channel = ws.imChannelFor(user);
      const out = postAsUser(state, { user, channel, text, ...(threadTs ? { threadTs } : {}) });
      const d = requireEvent(out.messageEvent, 'message.im');
      return { channel, ts: out.message.ts, eventId: d.eventId, envelopeId: d.envelopeId };
    },
    async threadReply({ user, channel, threadTs, text }) {
      const sub = channelKind(channel).subscription;
      if (!config.subscriptions.has(sub)) throw new Error(`the app is not subscribed to ${sub}`);
      const out = postAsUser(state, { user, channel, threadTs, text });
      const d = requireEvent(out.messageEvent, sub);
      return { ts: out.message.ts, eventId: d.eventId, envelopeId: d.envelopeId };
    },
    clickButton: (o) => clickButton(state, o),
    forgeClick: (o, tamper) => forgeClick(state, o, tamper),
    setUserGroup: (group, users) => {
      state.config.userGroups[group] = [...users];
    },
    selectOption: (o) => selectOption(state, o),
    submitView: (o) => submitView(state, o),
    async redeliver(envelopeId) {
      hub.redeliver(envelopeId);
    },
    waitForAck: (envelopeId, timeoutMs = config.ackTimeoutMs * (config.maxRetries + 1)) =>
      hub.waitForAck(envelopeId, timeoutMs),
    disconnect: (reason = 'refresh_requested') => hub.disconnect(reason),
    dropConnection: () => hub.drop(),
    waitForConnection: (timeoutMs = 5000) => hub.waitForConnection(timeoutMs),
    get connected() {
      return hub.connected;
    },
    channel: (id) => ws.topLevel(id).map((m) => ws.snapshot(m)),
    thread(channel, ts) {
      // Like conversations.replies: the ts of any message in the thread names the whole thread.
      const parent = ws.find(channel, ws.find(channel, ts)?.threadTs ?? ts);
      if (!parent) return [];
      return [parent, ...ws.replies(channel, parent.ts)].map((m) => ws.snapshot(m));
    },
    ephemerals: ws.ephemerals,
    reactions: ws.reactions,
    views: ws.views,
    files: ws.files,
    calls: state.calls,
    rateLimited: state.rateLimited,
    envelopes: hub.envelopes,
    problems,
    takeProblems: standIn.takeProblems,
    async close() {
      standIn.closed();
      await hub.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
