// The Slack workspace the fake holds: channels and their messages (with edit history counts), threads,
// ephemerals, reactions, modal views, files, user groups and short-lived trigger ids.
import { hex, slackId, TsClock } from './http-util.js';

// biome-ignore lint/suspicious/noExplicitAny: Slack payloads are arbitrary JSON
type Json = any;

export interface FakeConfig {
  botToken: string;
  appToken: string;
  botUserId: string;
  botId: string;
  teamId: string;
  teamDomain: string;
  appId: string;
  verificationToken: string;
  rateScale: number;
  ackTimeoutMs: number;
  maxRetries: number;
  triggerTtlMs: number;
  subscriptions: ReadonlySet<string>;
  userGroups: Record<string, string[]>;
  /** Each person's confirmed email (users.lookupByEmail). */
  emails: Record<string, string>;
}

export interface SlackMessage {
  ts: string;
  threadTs?: string;
  user?: string;
  botId?: string;
  text?: string;
  blocks?: Json[];
  edits: number;
  files?: string[];
}

export interface StoredMessage extends SlackMessage {
  channel: string;
  attachments?: Json[];
  replyBroadcast?: boolean;
  deleted?: boolean;
  clientMsgId?: string;
  editedTs?: string;
}

export interface EphemeralRecord {
  /** The `message_ts` chat.postEphemeral returned; clicks on its buttons refer to it. */
  ts: string;
  channel: string;
  user: string;
  text?: string;
  blocks?: unknown[];
  threadTs?: string;
}

export interface ReactionRecord {
  channel: string;
  ts: string;
  name: string;
  user: string;
}

export interface ViewRecord {
  id: string;
  user: string;
  view: Json;
  triggerId: string;
  closed?: boolean;
}

export interface FileRecord {
  id: string;
  channel: string;
  threadTs?: string;
  filename: string;
  title?: string;
  content: Buffer;
}

export interface PendingUpload {
  id: string;
  filename: string;
  length: number;
  content?: Buffer;
  completed?: boolean;
}

export interface ResponseUrlRecord {
  channel: string;
  messageTs: string;
  user: string;
  issuedAt: number;
  uses: number;
}

export type TriggerCheck = { ok: true; user: string } | { ok: false; error: string };

const CHANNEL_ID = /^[CDG][A-Z0-9]+$/;
export const USER_ID = /^[UW][A-Z0-9]+$/;

export class Workspace {
  readonly ephemerals: EphemeralRecord[] = [];
  readonly reactions: ReactionRecord[] = [];
  readonly views: ViewRecord[] = [];
  readonly files: FileRecord[] = [];
  readonly uploads = new Map<string, PendingUpload>();
  readonly responseUrls = new Map<string, ResponseUrlRecord>();
  private readonly messages = new Map<string, StoredMessage[]>();
  private readonly ims = new Map<string, string>();
  private readonly triggers = new Map<string, { user: string; issuedAt: number; used: boolean }>();
  private readonly clock = new TsClock();

  constructor(readonly config: FakeConfig) {}

  nextTs(): string {
    return this.clock.next();
  }

  /** The IM channel between the bot and `user`, created on first use. */
  imChannelFor(user: string): string {
    let id = this.ims.get(user);
    if (!id) {
      id = slackId('D');
      this.ims.set(user, id);
    }
    return id;
  }

  /** A channel id as Slack accepts it: C/D/G ids as they are, a user id as the bot's IM with them. */
  resolveChannel(id: string | undefined): string | undefined {
    if (id === undefined) return undefined;
    if (CHANNEL_ID.test(id)) return id;
    if (USER_ID.test(id)) return this.imChannelFor(id);
    return undefined;
  }

  post(channel: string, message: Omit<StoredMessage, 'ts' | 'channel' | 'edits'>): StoredMessage {
    const stored: StoredMessage = { ...message, channel, ts: this.nextTs(), edits: 0 };
    if (stored.blocks) stored.blocks = normalizeBlocks(stored.blocks);
    const list = this.messages.get(channel) ?? [];
    list.push(stored);
    this.messages.set(channel, list);
    return stored;
  }

  find(channel: string, ts: string): StoredMessage | undefined {
    return this.messages.get(channel)?.find((m) => m.ts === ts && !m.deleted);
  }

  /** The parent a reply may be posted under: an existing message that is not itself a reply. */
  threadParent(channel: string, ts: string): StoredMessage | undefined {
    const m = this.find(channel, ts);
    return m && (m.threadTs === undefined || m.threadTs === m.ts) ? m : undefined;
  }

  replies(channel: string, parentTs: string): StoredMessage[] {
    return (this.messages.get(channel) ?? []).filter(
      (m) => !m.deleted && m.threadTs === parentTs && m.ts !== parentTs,
    );
  }

  topLevel(channel: string): StoredMessage[] {
    return (this.messages.get(channel) ?? []).filter(
      (m) => !m.deleted && (m.threadTs === undefined || m.threadTs === m.ts || m.replyBroadcast),
    );
  }

  /** A message as the Web API and interaction payloads show it. */
  toApi(m: StoredMessage): Json {
    const { config } = this;
    const out: Json = { type: 'message', text: m.text ?? '', user: m.user, ts: m.ts, team: config.teamId };
    if (m.botId) {
      out.bot_id = m.botId;
      out.app_id = config.appId;
      out.bot_profile = {
        id: m.botId,
        app_id: config.appId,
        name: 'airlock',
        deleted: false,
        team_id: config.teamId,
        icons: { image_36: 'https://a.slack-edge.com/80588/img/plugins/app/bot_36.png' },
      };
    }
    if (m.clientMsgId) out.client_msg_id = m.clientMsgId;
    if (m.blocks) out.blocks = m.blocks;
    if (m.attachments) out.attachments = m.attachments;
    if (m.files) {
      out.files = m.files.map((id) => this.fileObject(id));
      out.upload = true;
    }
    if (m.editedTs) out.edited = { user: m.user, ts: m.editedTs };
    if (m.threadTs !== undefined && m.threadTs !== m.ts) {
      out.thread_ts = m.threadTs;
      out.parent_user_id = this.find(m.channel, m.threadTs)?.user;
      if (m.replyBroadcast) out.subtype = 'thread_broadcast';
    }
    const replies = this.replies(m.channel, m.ts);
    if (replies.length > 0 && (m.threadTs === undefined || m.threadTs === m.ts)) {
      out.thread_ts = m.ts;
      out.reply_count = replies.length;
      out.reply_users_count = new Set(replies.map((r) => r.user)).size;
      out.reply_users = [...new Set(replies.map((r) => r.user))];
      out.latest_reply = replies[replies.length - 1]?.ts;
    }
    const reactions = this.reactions.filter((r) => r.channel === m.channel && r.ts === m.ts);
    if (reactions.length > 0) {
      const names = [...new Set(reactions.map((r) => r.name))];
      out.reactions = names.map((name) => {
        const users = reactions.filter((r) => r.name === name).map((r) => r.user);
        return { name, users, count: users.length };
      });
    }
    return out;
  }

  /** The public view of a message for test assertions. */
  snapshot(m: StoredMessage): SlackMessage {
    const out: SlackMessage = { ts: m.ts, edits: m.edits };
    if (m.threadTs !== undefined) out.threadTs = m.threadTs;
    if (m.user !== undefined) out.user = m.user;
    if (m.botId !== undefined) out.botId = m.botId;
    if (m.text !== undefined) out.text = m.text;
    if (m.blocks !== undefined) out.blocks = m.blocks;
    if (m.files !== undefined) out.files = m.files;
    return out;
  }

  fileObject(id: string): Json {
    const shared = this.files.find((f) => f.id === id);
    const upload = this.uploads.get(id);
    const name = shared?.filename ?? upload?.filename ?? 'file';
    return {
      id,
      created: Math.floor(Date.now() / 1000),
      name,
      title: shared?.title ?? name,
      mimetype: mimetypeOf(name),
      filetype: name.includes('.') ? name.split('.').pop() : 'binary',
      user: this.config.botUserId,
      size: shared?.content.length ?? upload?.length ?? 0,
      is_external: false,
      url_private: `https://files.slack.com/files-pri/${this.config.teamId}-${id}/${encodeURIComponent(name)}`,
    };
  }

  issueTrigger(user: string): string {
    const id = `${Date.now()}.${hex(6)}.${hex(16)}`;
    this.triggers.set(id, { user, issuedAt: Date.now(), used: false });
    return id;
  }

  /** Exchanges a trigger id: unknown, older than Slack's 3 s or already used ones are refused. */
  useTrigger(id: string): TriggerCheck {
    const t = this.triggers.get(id);
    if (!t) return { ok: false, error: 'invalid_trigger_id' };
    if (t.used) return { ok: false, error: 'exchanged_trigger_id' };
    if (Date.now() - t.issuedAt > this.config.triggerTtlMs) return { ok: false, error: 'expired_trigger_id' };
    t.used = true;
    return { ok: true, user: t.user };
  }

  /** Creates a modal as views.open returns it, with Slack's generated ids filled in. */
  makeView(input: Json, user: string, triggerId: string, previous?: ViewRecord): ViewRecord {
    const id = slackId('V');
    const record: ViewRecord = { id, user, triggerId, view: {} };
    this.fillView(record, input, previous ? previous.view.root_view_id : id, previous?.id ?? null);
    this.views.push(record);
    return record;
  }

  /** Replaces a view's content in place (views.update / response_action update). */
  fillView(record: ViewRecord, input: Json, rootViewId: string, previousViewId: string | null): void {
    const { config } = this;
    record.view = {
      id: record.id,
      team_id: config.teamId,
      type: 'modal',
      blocks: normalizeBlocks(input.blocks ?? []),
      private_metadata: input.private_metadata ?? '',
      callback_id: input.callback_id ?? '',
      state: { values: {} },
      hash: `${Math.floor(Date.now() / 1000)}.${hex(4)}`,
      title: withEmoji(input.title),
      clear_on_close: input.clear_on_close ?? false,
      notify_on_close: input.notify_on_close ?? false,
      close: input.close ? withEmoji(input.close) : null,
      submit: input.submit ? withEmoji(input.submit) : null,
      previous_view_id: previousViewId,
      root_view_id: rootViewId,
      app_id: config.appId,
      external_id: input.external_id ?? '',
      app_installed_team_id: config.teamId,
      bot_id: config.botId,
    };
  }

  openView(user: string, id: string): ViewRecord | undefined {
    return this.views.find((v) => v.id === id && v.user === user && !v.closed);
  }
}

function withEmoji(text: Json): Json {
  return text && typeof text === 'object' && text.type === 'plain_text' && text.emoji === undefined
    ? { ...text, emoji: true }
    : text;
}

function mimetypeOf(name: string): string {
  const ext = name.split('.').pop()?.toLowerCase();
  const known: Record<string, string> = {
    txt: 'text/plain',
    md: 'text/plain',
    diff: 'text/plain',
    patch: 'text/plain',
    json: 'application/json',
    png: 'image/png',
    log: 'text/plain',
  };
  return (ext && known[ext]) ?? 'application/octet-stream';
}

/** Slack fills in `block_id`, `action_id` and `emoji: true` when the app leaves them out. */
export function normalizeBlocks(blocks: Json[]): Json[] {
  const visit = (node: Json, parentKey?: string): Json => {
    if (Array.isArray(node)) return node.map((n) => visit(n));
    if (!node || typeof node !== 'object') return node;
    const out: Json = {};
    for (const [k, v] of Object.entries(node)) out[k] = visit(v, k);
    if (out.type === 'plain_text' && out.emoji === undefined && typeof out.text === 'string')
      out.emoji = true;
    const isElement =
      ['button', 'static_select', 'external_select', 'plain_text_input', 'overflow'].includes(out.type) ||
      /_select$|^checkboxes$|^radio_buttons$|picker$|_input$/.test(String(out.type));
    if (isElement && parentKey !== 'text' && out.action_id === undefined) out.action_id = randomShortId();
    return out;
  };
  return blocks.map((b) => {
    const block = visit(b);
    if (block && typeof block === 'object' && block.block_id === undefined) block.block_id = randomShortId();
    return block;
  });
}

function randomShortId(): string {
  return slackId('', 5).replace(/[0-9]/g, (d) => 'abcdefghij'[Number(d)] ?? 'x');
}

/** The rich_text block Slack attaches to a message a person typed, with `<@U…>` mentions as user elements. */
export function richTextBlocks(text: string): Json[] {
  const elements: Json[] = [];
  const re = /<@([UW][A-Z0-9]+)>/g;
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    if (m.index > last) elements.push({ type: 'text', text: text.slice(last, m.index) });
    elements.push({ type: 'user', user_id: m[1] });
    last = m.index + m[0].length;
  }
  if (last < text.length) elements.push({ type: 'text', text: text.slice(last) });
  return [
    { type: 'rich_text', block_id: randomShortId(), elements: [{ type: 'rich_text_section', elements }] },
  ];
}
