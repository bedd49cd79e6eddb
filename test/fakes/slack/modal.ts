// A person submitting a modal: only an open view of theirs with a submit button, only values for input
// blocks that exist (of the element's type), and every required input filled, or Slack's client would
// not send it. The app's ack decides what happens next (response_action errors / update / push / clear).
import type { FakeState, Json } from './api-common.js';
import { validateModalView } from './block-kit.js';
import { optionsOf, userObject } from './interactions.js';
import type { ViewRecord } from './workspace.js';

export interface SubmittedValue {
  type: string;
  value?: string | null;
  selected_option?: { value: string; text?: string } | null;
  selected_options?: Array<{ value: string }>;
  selected_date?: string | null;
  selected_time?: string | null;
  selected_user?: string | null;
  selected_users?: string[];
  selected_conversation?: string | null;
  selected_channel?: string | null;
}

export interface SubmitOptions {
  user: string;
  viewId: string;
  values: Record<string, Record<string, SubmittedValue>>;
}

const TEXT_INPUTS = ['plain_text_input', 'email_text_input', 'url_text_input', 'number_input'];
const SINGLE_SELECTS = ['static_select', 'radio_buttons'];

function pickOption(el: Json, value: string, where: string): Json {
  const option = optionsOf(el).find((o) => o.value === value);
  if (!option) throw new Error(`${where}: ${el.type} has no option with value ${value}`);
  return option;
}

/** The state.values entry Slack sends for one input element. */
function stateValue(el: Json, given: SubmittedValue | undefined, where: string): Json {
  if (given && given.type !== el.type)
    throw new Error(`${where}: element is a ${el.type}, not a ${given.type}`);
  const type = el.type;
  if (TEXT_INPUTS.includes(type)) {
    const value = given?.value ?? null;
    if (value !== null && type === 'plain_text_input') {
      const len = Array.from(value).length;
      if (el.max_length !== undefined && len > el.max_length)
        throw new Error(`${where}: ${len} characters exceed max_length ${el.max_length}`);
      if (el.min_length !== undefined && len < el.min_length)
        throw new Error(`${where}: ${len} characters are under min_length ${el.min_length}`);
    }
    if (value !== null && type === 'number_input' && Number.isNaN(Number(value)))
      throw new Error(`${where}: ${value} is not a number`);
    return { type, value };
  }
  if (SINGLE_SELECTS.includes(type)) {
    const v = given?.selected_option?.value;
    return { type, selected_option: v === undefined ? null : pickOption(el, v, where) };
  }
  if (type === 'external_select') {
    const o = given?.selected_option;
    return {
      type,
      selected_option: o
        ? { text: { type: 'plain_text', text: o.text ?? o.value, emoji: true }, value: o.value }
        : null,
    };
  }
  if (type === 'multi_static_select' || type === 'checkboxes')
    return {
      type,
      selected_options: (given?.selected_options ?? []).map((o) => pickOption(el, o.value, where)),
    };
  const fields: Record<string, keyof SubmittedValue> = {
    datepicker: 'selected_date',
    timepicker: 'selected_time',
    users_select: 'selected_user',
    multi_users_select: 'selected_users',
    conversations_select: 'selected_conversation',
    channels_select: 'selected_channel',
  };
  const field = fields[type];
  if (field) return { type, [field]: given?.[field] ?? (field.endsWith('s') ? [] : null) };
  return { ...given, type };
}

function isEmpty(v: Json): boolean {
  return Object.entries(v).every(
    ([k, x]) => k === 'type' || x === null || x === '' || (Array.isArray(x) && x.length === 0),
  );
}

export async function submitView(
  state: FakeState,
  opts: SubmitOptions,
): Promise<{ envelopeId: string; response: unknown }> {
  const { ws, config, hub } = state;
  const record = ws.openView(opts.user, opts.viewId);
  if (!record) throw new Error(`view ${opts.viewId} is not open for ${opts.user}`);
  const view = record.view;
  if (!view.submit) throw new Error(`view ${opts.viewId} has no submit button`);
  const inputs: Json[] = view.blocks.filter((b: Json) => b.type === 'input');
  for (const [blockId, byAction] of Object.entries(opts.values)) {
    const block = inputs.find((b) => b.block_id === blockId);
    if (!block) throw new Error(`view ${opts.viewId} has no input block ${blockId}`);
    for (const actionId of Object.keys(byAction))
      if (block.element.action_id !== actionId)
        throw new Error(`input ${blockId} has no element ${actionId}`);
  }
  const values: Json = {};
  for (const block of inputs) {
    const el = block.element;
    const where = `input ${block.block_id}/${el.action_id}`;
    const value = stateValue(el, opts.values[block.block_id]?.[el.action_id], where);
    if (block.optional !== true && isEmpty(value)) throw new Error(`${where} is required and empty`);
    values[block.block_id] = { [el.action_id]: value };
  }
  view.state = { values };
  const payload = {
    type: 'view_submission',
    team: { id: config.teamId, domain: config.teamDomain },
    user: userObject(state, opts.user),
    api_app_id: config.appId,
    token: config.verificationToken,
    trigger_id: ws.issueTrigger(opts.user),
    view: structuredClone(view),
    response_urls: [],
    is_enterprise_install: false,
    enterprise: null,
  };
  const delivery = hub.deliverInteractive(payload);
  const response = await delivery.ack;
  applyResponse(state, record, response, delivery.record.envelopeId);
  return { envelopeId: delivery.record.envelopeId, response };
}

function applyResponse(state: FakeState, record: ViewRecord, response: unknown, envelopeId: string): void {
  const { ws, problems } = state;
  if (response === undefined) return; // never acked: the hub recorded it; the modal shows an error
  const r = (response ?? {}) as Json;
  const problem = (what: string) => problems.push(`view_submission ${envelopeId} ack: ${what}`);
  const stack = ws.views.filter((v) => !v.closed && v.view.root_view_id === record.view.root_view_id);
  switch (r.response_action) {
    case undefined:
      record.closed = true;
      return;
    case 'errors': {
      const errors = r.errors;
      const inputIds = record.view.blocks
        .filter((b: Json) => b.type === 'input')
        .map((b: Json) => b.block_id);
      if (!errors || typeof errors !== 'object' || Object.keys(errors).length === 0)
        return void problem('response_action errors needs a non-empty `errors` object');
      for (const [blockId, message] of Object.entries(errors)) {
        if (!inputIds.includes(blockId))
          problem(`errors names ${blockId}, which is not an input block of the view`);
        if (typeof message !== 'string' || message.length === 0)
          problem(`errors.${blockId} must be a string`);
      }
      return;
    }
    case 'update':
    case 'push': {
      const errors = validateModalView(r.view, '/view');
      if (errors.length > 0) return void problem(`invalid view: ${errors.join('; ')}`);
      if (r.response_action === 'update') {
        ws.fillView(record, r.view, record.view.root_view_id, record.view.previous_view_id);
        return;
      }
      if (stack.length >= 3) return void problem('push_limit_reached: a modal stack holds at most 3 views');
      ws.makeView(r.view, record.user, record.triggerId, record);
      return;
    }
    case 'clear':
      for (const v of stack) v.closed = true;
      return;
    default:
      problem(`unknown response_action ${JSON.stringify(r.response_action)}`);
  }
}
