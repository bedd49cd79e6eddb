// Block Kit building blocks for the validator in block-kit.ts: error collection, text objects,
// composition objects (options, confirm dialogs) and interactive elements, with Slack's limits.

// biome-ignore lint/suspicious/noExplicitAny: blocks are arbitrary JSON until validated
export type Json = any;

export class Errors {
  readonly list: string[] = [];
  add(message: string, pointer: string): void {
    this.list.push(`${message} [json-pointer:${pointer}]`);
  }
}

export const isObject = (v: unknown): v is Record<string, Json> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Slack counts characters, not UTF-16 units. */
const charLength = (s: string): number => Array.from(s).length;

interface StringRule {
  max?: number;
  min?: number;
  required?: boolean;
}

export function checkString(
  e: Errors,
  obj: Record<string, Json>,
  key: string,
  at: string,
  rule: StringRule,
): void {
  const value = obj[key];
  if (value === undefined) {
    if (rule.required) e.add(`missing required field: ${key}`, at);
    return;
  }
  if (typeof value !== 'string') {
    e.add('must be a string', `${at}/${key}`);
    return;
  }
  const len = charLength(value);
  if (rule.min !== undefined && len < rule.min)
    e.add(`must be more than ${rule.min - 1} characters`, `${at}/${key}`);
  if (rule.max !== undefined && len > rule.max)
    e.add(`must be less than ${rule.max + 1} characters`, `${at}/${key}`);
}

export function checkBoolean(e: Errors, obj: Record<string, Json>, key: string, at: string): void {
  if (obj[key] !== undefined && typeof obj[key] !== 'boolean') e.add('must be a boolean', `${at}/${key}`);
}

interface TextRule {
  max: number;
  plainOnly?: boolean;
  required?: boolean;
}

/** A composition text object: `{type: 'plain_text'|'mrkdwn', text}`. */
export function checkText(
  e: Errors,
  parent: Record<string, Json>,
  key: string,
  at: string,
  rule: TextRule,
): void {
  const value = parent[key];
  const here = `${at}/${key}`;
  if (value === undefined) {
    if (rule.required) e.add(`missing required field: ${key}`, at);
    return;
  }
  if (!isObject(value)) {
    e.add('must provide an object', here);
    return;
  }
  if (value.type === undefined) e.add('missing required field: type', here);
  else if (value.type !== 'plain_text' && (rule.plainOnly || value.type !== 'mrkdwn'))
    e.add('must be a valid enum value', `${here}/type`);
  checkString(e, value, 'text', here, { required: true, min: 1, max: rule.max });
  if (value.type === 'mrkdwn' && value.emoji !== undefined) e.add('invalid additional property: emoji', here);
  checkBoolean(e, value, 'emoji', here);
  checkBoolean(e, value, 'verbatim', here);
}

export function checkArray(
  e: Errors,
  obj: Record<string, Json>,
  key: string,
  at: string,
  limits: { min?: number; max: number; required?: boolean },
): Json[] | undefined {
  const value = obj[key];
  if (value === undefined) {
    if (limits.required) e.add(`missing required field: ${key}`, at);
    return undefined;
  }
  if (!Array.isArray(value)) {
    e.add('must provide an array', `${at}/${key}`);
    return undefined;
  }
  if (value.length < (limits.min ?? 0)) e.add(`must provide at least ${limits.min} items`, `${at}/${key}`);
  if (value.length > limits.max) e.add(`no more than ${limits.max} items allowed`, `${at}/${key}`);
  return value;
}

// ---- composition objects -------------------------------------------------------------------------

function checkOption(e: Errors, option: Json, at: string, allowMrkdwn: boolean): void {
  if (!isObject(option)) {
    e.add('must provide an object', at);
    return;
  }
  checkText(e, { text: option.text }, 'text', at, { max: 75, plainOnly: !allowMrkdwn, required: true });
  checkString(e, option, 'value', at, { required: true, min: 1, max: 150 });
  checkText(e, option, 'description', at, { max: 75, plainOnly: !allowMrkdwn });
  checkString(e, option, 'url', at, { max: 3000 });
}

function checkOptions(
  e: Errors,
  el: Record<string, Json>,
  at: string,
  max: number,
  allowMrkdwn = false,
): Json[] {
  const all: Json[] = [];
  if (el.options !== undefined && el.option_groups !== undefined)
    e.add('must provide either options or option_groups, not both', at);
  const options = checkArray(e, el, 'options', at, { min: 1, max, required: el.option_groups === undefined });
  options?.forEach((o, i) => {
    checkOption(e, o, `${at}/options/${i}`, allowMrkdwn);
    all.push(o);
  });
  const groups = checkArray(e, el, 'option_groups', at, { min: 1, max: 100 });
  groups?.forEach((g, gi) => {
    const gat = `${at}/option_groups/${gi}`;
    if (!isObject(g)) {
      e.add('must provide an object', gat);
      return;
    }
    checkText(e, g, 'label', gat, { max: 75, plainOnly: true, required: true });
    checkArray(e, g, 'options', gat, { min: 1, max: 100, required: true })?.forEach((o, i) => {
      checkOption(e, o, `${gat}/options/${i}`, false);
      all.push(o);
    });
  });
  return all;
}

function checkConfirm(e: Errors, el: Record<string, Json>, at: string): void {
  if (el.confirm === undefined) return;
  const here = `${at}/confirm`;
  if (!isObject(el.confirm)) {
    e.add('must provide an object', here);
    return;
  }
  checkText(e, el.confirm, 'title', here, { max: 100, plainOnly: true, required: true });
  checkText(e, el.confirm, 'text', here, { max: 300, required: true });
  checkText(e, el.confirm, 'confirm', here, { max: 30, plainOnly: true, required: true });
  checkText(e, el.confirm, 'deny', here, { max: 30, plainOnly: true, required: true });
  if (el.confirm.style !== undefined && !['primary', 'danger'].includes(el.confirm.style))
    e.add('must be a valid enum value', `${here}/style`);
}

function checkInitialOption(e: Errors, el: Record<string, Json>, at: string, options: Json[]): void {
  const initials = el.initial_option !== undefined ? [el.initial_option] : el.initial_options;
  if (initials === undefined) return;
  if (!Array.isArray(initials)) {
    e.add('must provide an array', `${at}/initial_options`);
    return;
  }
  for (const initial of initials) {
    const match = options.some((o) => isObject(o) && isObject(initial) && o.value === initial.value);
    if (!match) e.add('initial option must exactly match one of the options', at);
  }
}

// ---- block elements ------------------------------------------------------------------------------

const SELECTS = [
  'static_select',
  'external_select',
  'users_select',
  'conversations_select',
  'channels_select',
];
const MULTI_SELECTS = SELECTS.map((s) => `multi_${s}`);
const PICKERS = ['checkboxes', 'radio_buttons', 'datepicker', 'timepicker', 'datetimepicker'];

export const ELEMENTS_IN: Record<'actions' | 'accessory' | 'input', readonly string[]> = {
  actions: ['button', 'overflow', 'workflow_button', ...SELECTS, ...MULTI_SELECTS, ...PICKERS],
  accessory: ['button', 'overflow', 'image', 'workflow_button', ...SELECTS, ...MULTI_SELECTS, ...PICKERS],
  input: [
    'plain_text_input',
    'email_text_input',
    'url_text_input',
    'number_input',
    'rich_text_input',
    'file_input',
    ...SELECTS,
    ...MULTI_SELECTS,
    ...PICKERS,
  ],
};

export function checkImageElement(e: Errors, el: Record<string, Json>, at: string): void {
  if (el.image_url === undefined && el.slack_file === undefined)
    e.add('missing required field: image_url', at);
  checkString(e, el, 'image_url', at, { min: 1, max: 3000 });
  checkString(e, el, 'alt_text', at, { required: true, min: 1, max: 2000 });
}

export function checkElement(e: Errors, el: Json, at: string, where: keyof typeof ELEMENTS_IN): void {
  if (!isObject(el)) {
    e.add('must provide an object', at);
    return;
  }
  const type = el.type;
  if (typeof type !== 'string') {
    e.add('missing required field: type', at);
    return;
  }
  if (!ELEMENTS_IN[where].includes(type)) {
    e.add(`unsupported type: ${type}`, `${at}/type`);
    return;
  }
  checkString(e, el, 'action_id', at, { min: 1, max: 255 });
  checkConfirm(e, el, at);
  checkBoolean(e, el, 'focus_on_load', at);
  if (type === 'image') {
    checkImageElement(e, el, at);
    return;
  }
  if (type !== 'button' && type !== 'overflow' && type !== 'checkboxes' && type !== 'radio_buttons')
    checkText(e, el, 'placeholder', at, { max: 150, plainOnly: true });
  if (type === 'button' || type === 'workflow_button') {
    checkText(e, el, 'text', at, { max: 75, plainOnly: true, required: true });
    checkString(e, el, 'value', at, { max: 2000 });
    checkString(e, el, 'url', at, { max: 3000 });
    checkString(e, el, 'accessibility_label', at, { max: 75 });
    if (el.style !== undefined && !['primary', 'danger'].includes(el.style))
      e.add('must be a valid enum value', `${at}/style`);
    if (type === 'workflow_button' && el.workflow === undefined)
      e.add('missing required field: workflow', at);
  } else if (type === 'static_select' || type === 'multi_static_select') {
    checkInitialOption(e, el, at, checkOptions(e, el, at, 100));
  } else if (type === 'overflow') {
    checkArray(e, el, 'options', at, { min: 1, max: 5, required: true })?.forEach((o, i) => {
      checkOption(e, o, `${at}/options/${i}`, false);
    });
  } else if (type === 'checkboxes' || type === 'radio_buttons') {
    checkInitialOption(e, el, at, checkOptions(e, el, at, 10, true));
  } else if (type === 'external_select' || type === 'multi_external_select') {
    if (el.initial_option !== undefined) checkOption(e, el.initial_option, `${at}/initial_option`, false);
  } else if (type === 'datepicker') {
    if (el.initial_date !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(String(el.initial_date)))
      e.add('must match format YYYY-MM-DD', `${at}/initial_date`);
  } else if (type === 'timepicker') {
    if (el.initial_time !== undefined && !/^\d{2}:\d{2}$/.test(String(el.initial_time)))
      e.add('must match format HH:mm', `${at}/initial_time`);
  } else if (type === 'plain_text_input') {
    checkString(e, el, 'initial_value', at, {});
    checkBoolean(e, el, 'multiline', at);
    for (const key of ['min_length', 'max_length'] as const) {
      const v = el[key];
      if (v === undefined) continue;
      if (!Number.isInteger(v)) e.add('must be an integer', `${at}/${key}`);
      else if (v > 3000) e.add('must be less than or equal to 3000', `${at}/${key}`);
      else if (v < (key === 'max_length' ? 1 : 0)) e.add('must be greater than 0', `${at}/${key}`);
    }
    if (Number.isInteger(el.min_length) && Number.isInteger(el.max_length) && el.min_length > el.max_length)
      e.add('min_length must be less than or equal to max_length', at);
  } else if (type === 'number_input') {
    if (typeof el.is_decimal_allowed !== 'boolean') e.add('missing required field: is_decimal_allowed', at);
  } else if (MULTI_SELECTS.includes(type) && el.max_selected_items !== undefined) {
    if (!Number.isInteger(el.max_selected_items) || el.max_selected_items < 1)
      e.add('must be greater than 0', `${at}/max_selected_items`);
  }
}

export function checkActionIdsUnique(e: Errors, elements: Json[], at: string): void {
  const seen = new Set<string>();
  elements.forEach((el, i) => {
    if (!isObject(el) || typeof el.action_id !== 'string') return;
    if (seen.has(el.action_id)) e.add('action_id must be unique within the block', `${at}/${i}/action_id`);
    seen.add(el.action_id);
  });
}
