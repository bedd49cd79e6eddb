// chat.*, reactions.* and conversations.replies: the messaging methods, with Slack's error codes.
import {
  type ApiContext,
  ApiError,
  type ApiHandler,
  type Args,
  invalidBlocks,
  type Json,
  optBool,
  optJson,
  optString,
  reqString,
} from './api-common.js';
import { validateMessageBlocks } from './block-kit.js';
import { normalizeBlocks, USER_ID, type Workspace } from './workspace.js';

export const MAX_TEXT_CHARS = 40_000;

export interface MessageContent {
  text?: string;
  blocks?: Json[];
  attachments?: Json[];
}

/** text / blocks / attachments of a message, validated as chat.postMessage does. */
export function readMessageContent(args: Args): MessageContent {
  const text = optString(args, 'text') ?? optString(args, 'markdown_text');
  const blocks = optJson(args, 'blocks', new ApiError('invalid_blocks_format'));
  if (blocks !== undefined && !Array.isArray(blocks)) throw new ApiError('invalid_blocks_format');
  if (blocks) {
    const errors = validateMessageBlocks(blocks);
    if (errors.length > 0) throw invalidBlocks(errors);
  }
  const attachments = optJson(args, 'attachments', new ApiError('invalid_attachments'));
  if (attachments !== undefined && !Array.isArray(attachments)) throw new ApiError('invalid_attachments');
  const hasBlocks = Array.isArray(blocks) && blocks.length > 0;
  const hasAttachments = Array.isArray(attachments) && attachments.length > 0;
  if (!text && !hasBlocks && !hasAttachments) throw new ApiError('no_text');
  if (text && Array.from(text).length > MAX_TEXT_CHARS) throw new ApiError('msg_too_long');
  const out: MessageContent = {};
  if (text !== undefined) out.text = text;
  if (blocks !== undefined) out.blocks = blocks as Json[];
  if (attachments !== undefined) out.attachments = attachments as Json[];
  return out;
}

function channelArg(ws: Workspace, args: Args, name = 'channel'): string {
  const channel = ws.resolveChannel(optString(args, name));
  if (!channel) throw new ApiError('channel_not_found');
  return channel;
}

function threadArg(ws: Workspace, channel: string, args: Args): string | undefined {
  const threadTs = optString(args, 'thread_ts');
  if (threadTs === undefined || threadTs === '') return undefined;
  if (!ws.threadParent(channel, threadTs)) throw new ApiError('thread_not_found');
  return threadTs;
}

const postMessage: ApiHandler = ({ state, args }) => {
  const { ws, config } = state;
  const channel = channelArg(ws, args);
  const content = readMessageContent(args);
  const threadTs = threadArg(ws, channel, args);
  const broadcast = optBool(args, 'reply_broadcast');
  const m = ws.post(channel, {
    user: config.botUserId,
    botId: config.botId,
    ...content,
    ...(threadTs ? { threadTs } : {}),
    ...(broadcast && threadTs ? { replyBroadcast: true } : {}),
  });
  return { channel, ts: m.ts, message: ws.toApi(m) };
};

const update: ApiHandler = ({ state, args }) => {
  const { ws, config } = state;
  const channel = channelArg(ws, args);
  const ts = optString(args, 'ts');
  const m = ts ? ws.find(channel, ts) : undefined;
  if (!m) throw new ApiError('message_not_found');
  if (m.botId !== config.botId) throw new ApiError('cant_update_message');
  const content = readMessageContent(args);
  if (content.text !== undefined) m.text = content.text;
  if (content.blocks !== undefined) m.blocks = normalizeBlocks(content.blocks);
  if (content.attachments !== undefined) m.attachments = content.attachments;
  m.edits += 1;
  m.editedTs = ws.nextTs();
  return { channel, ts: m.ts, text: m.text ?? '', message: ws.toApi(m) };
};

const postEphemeral: ApiHandler = ({ state, args }) => {
  const { ws } = state;
  const channel = channelArg(ws, args);
  const user = optString(args, 'user');
  if (!user || !USER_ID.test(user)) throw new ApiError('user_not_found');
  const content = readMessageContent(args);
  const threadTs = threadArg(ws, channel, args);
  const ts = ws.nextTs();
  ws.ephemerals.push({
    ts,
    channel,
    user,
    ...(content.text !== undefined ? { text: content.text } : {}),
    ...(content.blocks !== undefined ? { blocks: normalizeBlocks(content.blocks) } : {}),
    ...(threadTs ? { threadTs } : {}),
  });
  return { message_ts: ts };
};

const EMOJI_NAME = /^[a-z0-9_+'-]{1,100}(::skin-tone-[2-6])?$/;

function reactionTarget({ state, args }: ApiContext): { channel: string; ts: string; name: string } {
  const { ws } = state;
  const channelId = optString(args, 'channel');
  const ts = optString(args, 'timestamp');
  if (!channelId || !ts) throw new ApiError('no_item_specified');
  const channel = channelArg(ws, args);
  const name = optString(args, 'name');
  if (!name || !EMOJI_NAME.test(name)) throw new ApiError('invalid_name');
  if (!ws.find(channel, ts)) throw new ApiError('message_not_found');
  return { channel, ts, name };
}

const reactionsAdd: ApiHandler = (ctx) => {
  const { ws, config } = ctx.state;
  const { channel, ts, name } = reactionTarget(ctx);
  const user = config.botUserId;
  if (ws.reactions.some((r) => r.channel === channel && r.ts === ts && r.name === name && r.user === user))
    throw new ApiError('already_reacted');
  ws.reactions.push({ channel, ts, name, user });
  return {};
};

const reactionsRemove: ApiHandler = (ctx) => {
  const { ws, config } = ctx.state;
  const { channel, ts, name } = reactionTarget(ctx);
  const i = ws.reactions.findIndex(
    (r) => r.channel === channel && r.ts === ts && r.name === name && r.user === config.botUserId,
  );
  if (i < 0) throw new ApiError('no_reaction');
  ws.reactions.splice(i, 1);
  return {};
};

const replies: ApiHandler = ({ state, args }) => {
  const { ws } = state;
  const channel = channelArg(ws, args);
  const ts = reqString(args, 'ts');
  const m = ws.find(channel, ts);
  if (!m) throw new ApiError('thread_not_found');
  const parentTs = m.threadTs ?? m.ts;
  const parent = ws.find(channel, parentTs);
  if (!parent) throw new ApiError('thread_not_found');
  const messages = [parent, ...ws.replies(channel, parentTs)].map((x) => ws.toApi(x));
  return { messages, has_more: false, response_metadata: { next_cursor: '' } };
};

export const CHAT_METHODS: Record<string, ApiHandler> = {
  'chat.postMessage': postMessage,
  'chat.update': update,
  'chat.postEphemeral': postEphemeral,
  'reactions.add': reactionsAdd,
  'reactions.remove': reactionsRemove,
  'conversations.replies': replies,
};
