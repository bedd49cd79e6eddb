// What happens when a person types a message: it lands in the channel (or thread) and Slack sends the
// app every event it subscribed to, wrapped in an event_callback and a Socket Mode envelope. A mention
// in a channel is both an `app_mention` and (with message.channels) a `message` event, as in Slack.
// Messages the bot posts itself are not echoed back as events.
import { randomUUID } from 'node:crypto';
import type { FakeState, Json } from './api-common.js';
import { slackId } from './http-util.js';
import { richTextBlocks, type StoredMessage, USER_ID } from './workspace.js';

export interface UserPost {
  user: string;
  channel: string;
  text: string;
  threadTs?: string;
}

export interface Delivered {
  eventId: string;
  envelopeId: string;
}

export interface PostOutcome {
  message: StoredMessage;
  appMention?: Delivered;
  messageEvent?: Delivered;
}

const CHANNEL_TYPE: Record<string, { type: string; subscription: string }> = {
  C: { type: 'channel', subscription: 'message.channels' },
  G: { type: 'group', subscription: 'message.groups' },
  D: { type: 'im', subscription: 'message.im' },
};

export function channelKind(channel: string): { type: string; subscription: string } {
  const kind = CHANNEL_TYPE[channel[0] ?? ''];
  if (!kind || !/^[CDG][A-Z0-9]+$/.test(channel)) throw new Error(`not a channel id: ${channel}`);
  return kind;
}

/** Posts a person's message and delivers the events Slack would send for it. */
export function postAsUser(state: FakeState, post: UserPost): PostOutcome {
  const { ws, config } = state;
  if (!USER_ID.test(post.user)) throw new Error(`not a user id: ${post.user}`);
  if (post.user === config.botUserId) throw new Error('the bot user cannot type messages as a person');
  const kind = channelKind(post.channel);
  if (post.threadTs !== undefined && !ws.threadParent(post.channel, post.threadTs))
    throw new Error(`no thread ${post.threadTs} in ${post.channel}: a person cannot reply to it`);
  const clientMsgId = randomUUID();
  const blocks = richTextBlocks(post.text);
  const message = ws.post(post.channel, {
    user: post.user,
    text: post.text,
    blocks,
    clientMsgId,
    ...(post.threadTs !== undefined ? { threadTs: post.threadTs } : {}),
  });
  const base: Json = {
    user: post.user,
    text: post.text,
    ts: message.ts,
    team: config.teamId,
    blocks: message.blocks,
    client_msg_id: clientMsgId,
    channel: post.channel,
    event_ts: message.ts,
  };
  if (post.threadTs !== undefined) {
    base.thread_ts = post.threadTs;
    base.parent_user_id = ws.find(post.channel, post.threadTs)?.user;
  }
  const outcome: PostOutcome = { message };
  const mentionsBot = post.text.includes(`<@${config.botUserId}>`);
  if (kind.type !== 'im' && mentionsBot && config.subscriptions.has('app_mention'))
    outcome.appMention = deliverEvent(state, { type: 'app_mention', ...base });
  if (config.subscriptions.has(kind.subscription))
    outcome.messageEvent = deliverEvent(state, { type: 'message', ...base, channel_type: kind.type });
  return outcome;
}

function deliverEvent(state: FakeState, event: Json): Delivered {
  const { config, hub } = state;
  const eventId = slackId('Ev', 10);
  const payload = {
    token: config.verificationToken,
    team_id: config.teamId,
    context_team_id: config.teamId,
    context_enterprise_id: null,
    api_app_id: config.appId,
    event,
    type: 'event_callback',
    event_id: eventId,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [
      {
        enterprise_id: null,
        team_id: config.teamId,
        user_id: config.botUserId,
        is_bot: true,
        is_enterprise_install: false,
      },
    ],
    is_ext_shared_channel: false,
    event_context: `4-${Buffer.from(JSON.stringify({ et: event.type, tid: config.teamId, aid: config.appId, cid: event.channel })).toString('base64url')}`,
  };
  const record = hub.deliverEvent(payload, String(event.type));
  return { eventId, envelopeId: record.envelopeId };
}
