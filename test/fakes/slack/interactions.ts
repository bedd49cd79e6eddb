// A person clicking a button or picking an option in a message: the element must exist in the CURRENT
// version of that message (a person cannot click what is not there). Slack sends a block_actions
// payload with a trigger_id (3 s, single use) and a response_url, and waits for the ack.
import type { FakeState, Json } from './api-common.js';
import { interactiveElements } from './block-kit.js';
import { hex } from './http-util.js';
import { USER_ID } from './workspace.js';

export interface ClickOptions {
  user: string;
  channel: string;
  messageTs: string;
  actionId: string;
  value?: string;
  blockId?: string;
}

export interface SelectOptions {
  user: string;
  channel: string;
  messageTs: string;
  actionId: string;
  /** The option's value; for an external_select any value the app's options request could return. */
  value: string;
  /** external_select only: the option's text (defaults to the value). */
  text?: string;
  blockId?: string;
}

interface Target {
  blockId: string;
  element: Json;
  /** The message as the payload shows it; absent for ephemeral messages, as in Slack. */
  message?: Json;
  threadTs?: string;
  ephemeral: boolean;
}

export function userObject(state: FakeState, user: string): Json {
  return { id: user, username: user.toLowerCase(), name: user.toLowerCase(), team_id: state.config.teamId };
}

function findTarget(state: FakeState, opts: ClickOptions | SelectOptions, types: string[]): Target {
  const { ws } = state;
  if (!USER_ID.test(opts.user)) throw new Error(`not a user id: ${opts.user}`);
  const message = ws.find(opts.channel, opts.messageTs);
  const ephemeral = message
    ? undefined
    : ws.ephemerals.find((e) => e.channel === opts.channel && e.ts === opts.messageTs);
  if (!message && !ephemeral) throw new Error(`no message ${opts.messageTs} in ${opts.channel}`);
  if (ephemeral && ephemeral.user !== opts.user)
    throw new Error(`ephemeral ${opts.messageTs} is only visible to ${ephemeral.user}, not ${opts.user}`);
  const blocks = (message ? message.blocks : ephemeral?.blocks) ?? [];
  const matches = interactiveElements(blocks as Json[]).filter(
    (c) =>
      c.element.action_id === opts.actionId && (opts.blockId === undefined || c.blockId === opts.blockId),
  );
  const where = `message ${opts.messageTs} in ${opts.channel}`;
  if (matches.length === 0)
    throw new Error(`no element with action_id ${opts.actionId} in the current ${where}`);
  if (matches.length > 1)
    throw new Error(`action_id ${opts.actionId} is ambiguous in ${where}; pass blockId`);
  const [{ blockId, element }] = matches as [(typeof matches)[number]];
  if (!types.includes(element.type))
    throw new Error(`action_id ${opts.actionId} is a ${element.type}, not one of ${types.join(', ')}`);
  const threadTs = message?.threadTs ?? ephemeral?.threadTs;
  return {
    blockId,
    element,
    ephemeral: !message,
    ...(message ? { message: ws.toApi(message) } : {}),
    ...(threadTs !== undefined && threadTs !== opts.messageTs ? { threadTs } : {}),
  };
}

async function sendBlockActions(
  state: FakeState,
  opts: ClickOptions | SelectOptions,
  target: Target,
  action: Json,
  stateValues: Json,
  tamper: (payload: Json) => Json = (p) => p,
): Promise<{ envelopeId: string; ack: unknown }> {
  const { ws, config, hub } = state;
  const token = hex(12);
  ws.responseUrls.set(token, {
    channel: opts.channel,
    messageTs: opts.messageTs,
    user: opts.user,
    issuedAt: Date.now(),
    uses: 0,
  });
  const payload: Json = {
    type: 'block_actions',
    user: userObject(state, opts.user),
    api_app_id: config.appId,
    token: config.verificationToken,
    container: {
      type: 'message',
      message_ts: opts.messageTs,
      channel_id: opts.channel,
      is_ephemeral: target.ephemeral,
      ...(target.threadTs ? { thread_ts: target.threadTs } : {}),
    },
    trigger_id: ws.issueTrigger(opts.user),
    team: { id: config.teamId, domain: config.teamDomain },
    enterprise: null,
    is_enterprise_install: false,
    channel: {
      id: opts.channel,
      name: opts.channel.startsWith('D') ? 'directmessage' : opts.channel.toLowerCase(),
    },
    ...(target.message ? { message: target.message } : {}),
    state: { values: stateValues },
    response_url: `${state.baseUrl}/actions/${config.teamId}/${Date.now()}/${token}`,
    actions: [{ ...action, action_ts: ws.nextTs() }],
  };
  const { record, ack } = hub.deliverInteractive(tamper(payload));
  return { envelopeId: record.envelopeId, ack: await ack };
}

export async function clickButton(state: FakeState, opts: ClickOptions) {
  const target = findTarget(state, opts, ['button']);
  const el = target.element;
  if (opts.value !== undefined && opts.value !== el.value)
    throw new Error(`button ${opts.actionId} carries value ${JSON.stringify(el.value)}, not ${opts.value}`);
  const action: Json = { action_id: el.action_id, block_id: target.blockId, text: el.text, type: 'button' };
  if (el.value !== undefined) action.value = el.value;
  if (el.style !== undefined) action.style = el.style;
  return sendBlockActions(state, opts, target, action, {});
}

/**
 * For the security tests: a real click whose payload is then altered (another channel or team, a
 * value the button never had), as a red team's forged payload would be. Slack itself never sends
 * these; airlock must refuse them anyway.
 */
export async function forgeClick(state: FakeState, opts: ClickOptions, tamper: (payload: Json) => Json) {
  const target = findTarget(state, opts, ['button']);
  const el = target.element;
  const action: Json = { action_id: el.action_id, block_id: target.blockId, text: el.text, type: 'button' };
  if (el.value !== undefined) action.value = el.value;
  return sendBlockActions(state, opts, target, action, {}, tamper);
}

export function optionsOf(element: Json): Json[] {
  if (Array.isArray(element.options)) return element.options;
  if (Array.isArray(element.option_groups))
    return element.option_groups.flatMap((g: Json) => g.options ?? []);
  return [];
}

export async function selectOption(state: FakeState, opts: SelectOptions) {
  const target = findTarget(state, opts, ['static_select', 'external_select']);
  const el = target.element;
  let option: Json;
  if (el.type === 'static_select') {
    option = optionsOf(el).find((o) => o.value === opts.value);
    if (!option) throw new Error(`static_select ${opts.actionId} has no option with value ${opts.value}`);
  } else {
    option = { text: { type: 'plain_text', text: opts.text ?? opts.value, emoji: true }, value: opts.value };
  }
  const action: Json = {
    type: el.type,
    action_id: el.action_id,
    block_id: target.blockId,
    selected_option: option,
    ...(el.placeholder ? { placeholder: el.placeholder } : {}),
  };
  const values = { [target.blockId]: { [el.action_id]: { type: el.type, selected_option: option } } };
  return sendBlockActions(state, opts, target, action, values);
}
