// Block Kit validation as Slack's Web API applies it. Pure: takes parsed JSON, returns Slack's error
// strings ("<message> [json-pointer:/blocks/0/text/text]"), empty when valid. Limits follow the Block Kit
// reference (docs.slack.dev/reference/block-kit); the message wording follows what Slack sends back.

import {
  checkActionIdsUnique,
  checkArray,
  checkBoolean,
  checkElement,
  checkImageElement,
  checkString,
  checkText,
  Errors,
  isObject,
  type Json,
} from './block-elements.js';

export type Surface = 'message' | 'modal';

export const MAX_BLOCKS: Record<Surface, number> = { message: 50, modal: 100 };

// ---- blocks --------------------------------------------------------------------------------------

const RICH_TEXT_ELEMENTS = [
  'rich_text_section',
  'rich_text_list',
  'rich_text_preformatted',
  'rich_text_quote',
];

export const BLOCKS_IN: Record<Surface, readonly string[]> = {
  message: [
    'section',
    'divider',
    'header',
    'context',
    'actions',
    'image',
    'input',
    'rich_text',
    'markdown',
    'video',
    'file',
  ],
  modal: ['section', 'divider', 'header', 'context', 'actions', 'image', 'input', 'rich_text', 'video'],
};

function checkBlock(e: Errors, block: Json, at: string, surface: Surface): void {
  if (!isObject(block)) {
    e.add('must provide an object', at);
    return;
  }
  const type = block.type;
  if (typeof type !== 'string') {
    e.add('missing required field: type', at);
    return;
  }
  if (!BLOCKS_IN[surface].includes(type)) {
    e.add(`unsupported type: ${type}`, `${at}/type`);
    return;
  }
  checkString(e, block, 'block_id', at, { min: 1, max: 255 });
  switch (type) {
    case 'section': {
      if (block.text === undefined && block.fields === undefined)
        e.add('must define either `text` or `fields`', at);
      checkText(e, block, 'text', at, { max: 3000 });
      checkArray(e, block, 'fields', at, { min: 1, max: 10 })?.forEach((_, i) => {
        checkText(e, block.fields, String(i), `${at}/fields`, { max: 2000, required: true });
      });
      if (block.accessory !== undefined) checkElement(e, block.accessory, `${at}/accessory`, 'accessory');
      checkBoolean(e, block, 'expand', at);
      return;
    }
    case 'header': {
      checkText(e, block, 'text', at, { max: 150, plainOnly: true, required: true });
      return;
    }
    case 'divider':
      return;
    case 'context': {
      const elements = checkArray(e, block, 'elements', at, { min: 1, max: 10, required: true });
      elements?.forEach((el, i) => {
        const here = `${at}/elements/${i}`;
        if (isObject(el) && el.type === 'image') checkImageElement(e, el, here);
        else checkText(e, elements, String(i), `${at}/elements`, { max: 3000, required: true });
      });
      return;
    }
    case 'actions': {
      const elements = checkArray(e, block, 'elements', at, { min: 1, max: 25, required: true });
      elements?.forEach((el, i) => {
        checkElement(e, el, `${at}/elements/${i}`, 'actions');
      });
      if (elements) checkActionIdsUnique(e, elements, `${at}/elements`);
      return;
    }
    case 'image':
      checkImageElement(e, block, at);
      checkText(e, block, 'title', at, { max: 2000, plainOnly: true });
      return;
    case 'input':
      checkText(e, block, 'label', at, { max: 2000, plainOnly: true, required: true });
      checkText(e, block, 'hint', at, { max: 2000, plainOnly: true });
      checkBoolean(e, block, 'optional', at);
      checkBoolean(e, block, 'dispatch_action', at);
      if (block.element === undefined) e.add('missing required field: element', at);
      else checkElement(e, block.element, `${at}/element`, 'input');
      return;
    case 'rich_text':
      checkArray(e, block, 'elements', at, { max: 100, required: true })?.forEach((el, i) => {
        const here = `${at}/elements/${i}`;
        if (!isObject(el)) {
          e.add('must provide an object', here);
          return;
        }
        if (!RICH_TEXT_ELEMENTS.includes(el.type)) e.add(`unsupported type: ${el.type}`, `${here}/type`);
        if (!Array.isArray(el.elements)) e.add('missing required field: elements', here);
      });
      return;
    case 'markdown': {
      checkString(e, block, 'text', at, { required: true, min: 1, max: 12000 });
      return;
    }
    case 'video':
      checkString(e, block, 'alt_text', at, { required: true, min: 1 });
      checkText(e, block, 'title', at, { max: 200, plainOnly: true, required: true });
      checkString(e, block, 'thumbnail_url', at, { required: true, min: 1 });
      checkString(e, block, 'video_url', at, { required: true, min: 1 });
      return;
    case 'file':
      checkString(e, block, 'external_id', at, { required: true, min: 1 });
      if (block.source !== 'remote') e.add('must be a valid enum value', `${at}/source`);
      return;
  }
}

function checkBlockList(e: Errors, blocks: unknown, at: string, surface: Surface): void {
  if (!Array.isArray(blocks)) {
    e.add('must provide an array', at);
    return;
  }
  if (blocks.length > MAX_BLOCKS[surface]) e.add(`no more than ${MAX_BLOCKS[surface]} items allowed`, at);
  const ids = new Set<string>();
  blocks.forEach((block, i) => {
    checkBlock(e, block, `${at}/${i}`, surface);
    if (isObject(block) && typeof block.block_id === 'string') {
      if (ids.has(block.block_id)) e.add('Block ID needs to be unique', `${at}/${i}/block_id`);
      ids.add(block.block_id);
    }
  });
}

/** Validates the `blocks` argument of chat.postMessage / chat.update / chat.postEphemeral / a response_url. */
export function validateMessageBlocks(blocks: unknown): string[] {
  const e = new Errors();
  checkBlockList(e, blocks, '/blocks', 'message');
  return e.list;
}

/**
 * Validates a modal view: views.open, views.update, or the view in a view_submission ack with
 * response_action update / push.
 */
export function validateModalView(view: unknown, at = '/view'): string[] {
  const e = new Errors();
  if (!isObject(view)) {
    e.add('must provide an object', at);
    return e.list;
  }
  if (view.type === undefined) e.add('missing required field: type', at);
  else if (view.type !== 'modal') e.add('must be a valid enum value', `${at}/type`);
  checkText(e, view, 'title', at, { max: 24, plainOnly: true, required: true });
  checkText(e, view, 'submit', at, { max: 24, plainOnly: true });
  checkText(e, view, 'close', at, { max: 24, plainOnly: true });
  checkString(e, view, 'callback_id', at, { max: 255 });
  checkString(e, view, 'private_metadata', at, { max: 3000 });
  checkString(e, view, 'external_id', at, { min: 1, max: 255 });
  for (const key of ['clear_on_close', 'notify_on_close', 'submit_disabled']) checkBoolean(e, view, key, at);
  if (view.blocks === undefined) e.add('missing required field: blocks', at);
  else checkBlockList(e, view.blocks, `${at}/blocks`, 'modal');
  if (Array.isArray(view.blocks) && view.submit === undefined) {
    const i = view.blocks.findIndex((b: Json) => isObject(b) && b.type === 'input');
    if (i >= 0) e.add('must define `submit` to use an `input` block in modals', `${at}/blocks/${i}`);
  }
  if (e.list.length > 0) e.list.unshift(`failed to match all allowed schemas [json-pointer:${at}]`);
  return e.list;
}

/** Every interactive element of a block list with where it sits, for clicks, selects and submissions. */
export function interactiveElements(
  blocks: Json[],
): Array<{ blockId: string; element: Record<string, Json> }> {
  const out: Array<{ blockId: string; element: Record<string, Json> }> = [];
  for (const block of blocks) {
    if (!isObject(block)) continue;
    const candidates: Json[] =
      block.type === 'actions' ? (block.elements ?? []) : [block.accessory, block.element].filter(Boolean);
    for (const el of candidates) if (isObject(el)) out.push({ blockId: String(block.block_id), element: el });
  }
  return out;
}
