// Validates an Atlassian Document Format doc the way Jira Cloud's ADF schema does: known node and
// mark types only, each node's permitted children and attrs (required ones present, unknown ones
// refused), marks with their attrs. Jira answers every violation with a bare
// 400 {"errorMessages":["INVALID_INPUT"]} naming nothing; the reason we found goes to `problems`.
// An empty text node is not refused by Jira but silently deleted, so it is dropped here too.
import { isRecord, type Json } from './types.js';

type AttrCheck = (v: unknown) => boolean;
interface NodeSpec {
  /** Allowed child types; 'inline' = INLINE, 'text' = plain text only; undefined = no content. */
  content?: readonly string[] | 'inline' | 'text';
  minContent?: number;
  attrs?: Record<string, AttrCheck>;
  required?: readonly string[];
  /** Attr groups of which at least one must be present (e.g. a card's url or data). */
  oneOf?: readonly string[];
  /** Node-level marks allowed (alignment, indentation...). */
  nodeMarks?: readonly string[];
}

const str: AttrCheck = (v) => typeof v === 'string';
const nonEmpty: AttrCheck = (v) => typeof v === 'string' && v.length > 0;
const bool: AttrCheck = (v) => typeof v === 'boolean';
const int =
  (min: number, max = Number.MAX_SAFE_INTEGER): AttrCheck =>
  (v) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
const oneOfValues =
  (...values: string[]): AttrCheck =>
  (v) =>
    typeof v === 'string' && values.includes(v);
const obj: AttrCheck = (v) => isRecord(v);
const numbers: AttrCheck = (v) => Array.isArray(v) && v.every((n) => typeof n === 'number');
const color: AttrCheck = (v) => typeof v === 'string' && /^#[0-9a-fA-F]{6}$/.test(v);

const INLINE = [
  'text',
  'hardBreak',
  'mention',
  'emoji',
  'inlineCard',
  'date',
  'status',
  'placeholder',
] as const;
const LIST_ITEM_CHILDREN = ['paragraph', 'bulletList', 'orderedList', 'codeBlock', 'mediaSingle'];
const QUOTE_CHILDREN = ['paragraph', 'bulletList', 'orderedList', 'codeBlock', 'mediaGroup', 'mediaSingle'];
const PANEL_CHILDREN = [...QUOTE_CHILDREN, 'heading', 'blockCard', 'rule', 'decisionList', 'taskList'];
const CELL_CHILDREN = [...PANEL_CHILDREN, 'panel', 'blockquote', 'nestedExpand', 'embedCard'];
const TOP = [...CELL_CHILDREN, 'table', 'expand', 'mediaSingle', 'mediaGroup', 'layoutSection'].filter(
  (t, i, all) => all.indexOf(t) === i,
);
const local = { localId: str };

const NODES: Record<string, NodeSpec> = {
  paragraph: { content: 'inline', minContent: 0, attrs: local, nodeMarks: ['alignment', 'indentation'] },
  heading: {
    content: 'inline',
    minContent: 0,
    attrs: { level: int(1, 6), ...local },
    required: ['level'],
    nodeMarks: ['alignment', 'indentation'],
  },
  bulletList: { content: ['listItem'], minContent: 1, attrs: local },
  orderedList: { content: ['listItem'], minContent: 1, attrs: { order: int(0), ...local } },
  listItem: { content: LIST_ITEM_CHILDREN, minContent: 1, attrs: local },
  codeBlock: { content: 'text', minContent: 0, attrs: { language: str, uniqueId: str, ...local } },
  blockquote: { content: QUOTE_CHILDREN, minContent: 1, attrs: local },
  rule: { attrs: local },
  panel: {
    content: PANEL_CHILDREN,
    minContent: 1,
    attrs: {
      panelType: oneOfValues('info', 'note', 'tip', 'warning', 'error', 'success', 'custom'),
      panelIcon: str,
      panelIconId: str,
      panelIconText: str,
      panelColor: str,
      ...local,
    },
    required: ['panelType'],
  },
  expand: { content: PANEL_CHILDREN, minContent: 1, attrs: { title: str, ...local } },
  nestedExpand: { content: QUOTE_CHILDREN, minContent: 1, attrs: { title: str, ...local } },
  table: {
    content: ['tableRow'],
    minContent: 1,
    attrs: { isNumberColumnEnabled: bool, layout: str, width: int(0), displayMode: str, ...local },
  },
  tableRow: { content: ['tableHeader', 'tableCell'], minContent: 1, attrs: local },
  tableHeader: {
    content: CELL_CHILDREN,
    minContent: 1,
    attrs: { colspan: int(1), rowspan: int(1), colwidth: numbers, background: str, ...local },
  },
  tableCell: {
    content: CELL_CHILDREN,
    minContent: 1,
    attrs: { colspan: int(1), rowspan: int(1), colwidth: numbers, background: str, ...local },
  },
  layoutSection: { content: ['layoutColumn'], minContent: 1, attrs: local },
  layoutColumn: { content: PANEL_CHILDREN, minContent: 1, attrs: { width: (v) => typeof v === 'number' } },
  mediaSingle: {
    content: ['media'],
    minContent: 1,
    attrs: { layout: str, width: (v) => typeof v === 'number', widthType: str },
    required: ['layout'],
  },
  mediaGroup: { content: ['media'], minContent: 1 },
  media: {
    attrs: {
      id: str,
      type: oneOfValues('file', 'link', 'external'),
      collection: str,
      url: str,
      alt: str,
      width: int(0),
      height: int(0),
      occurrenceKey: str,
      ...local,
    },
    required: ['type'],
  },
  blockCard: { attrs: { url: str, data: obj, ...local }, oneOf: ['url', 'data'] },
  embedCard: {
    attrs: { url: nonEmpty, layout: str, width: (v) => typeof v === 'number', originalHeight: int(0) },
    required: ['url', 'layout'],
  },
  taskList: {
    content: ['taskItem', 'taskList'],
    minContent: 1,
    attrs: { localId: str },
    required: ['localId'],
  },
  taskItem: {
    content: 'inline',
    minContent: 0,
    attrs: { localId: str, state: oneOfValues('TODO', 'DONE') },
    required: ['localId', 'state'],
  },
  decisionList: { content: ['decisionItem'], minContent: 1, attrs: { localId: str }, required: ['localId'] },
  decisionItem: {
    content: 'inline',
    minContent: 0,
    attrs: { localId: str, state: oneOfValues('DECIDED') },
    required: ['localId', 'state'],
  },
  hardBreak: { attrs: { text: (v) => v === '\n' } },
  mention: {
    attrs: {
      id: nonEmpty,
      text: str,
      accessLevel: str,
      userType: oneOfValues('DEFAULT', 'SPECIAL', 'APP'),
      ...local,
    },
    required: ['id'],
  },
  emoji: { attrs: { shortName: nonEmpty, id: str, text: str, ...local }, required: ['shortName'] },
  inlineCard: { attrs: { url: nonEmpty, data: obj, ...local }, oneOf: ['url', 'data'] },
  date: { attrs: { timestamp: nonEmpty, ...local }, required: ['timestamp'] },
  status: {
    attrs: {
      text: str,
      color: oneOfValues('neutral', 'purple', 'blue', 'red', 'yellow', 'green'),
      style: str,
      ...local,
    },
    required: ['text', 'color'],
  },
  placeholder: { attrs: { text: str }, required: ['text'] },
};

const MARKS: Record<string, { attrs?: Record<string, AttrCheck>; required?: string[] }> = {
  strong: {},
  em: {},
  strike: {},
  underline: {},
  code: {},
  link: {
    attrs: { href: nonEmpty, title: str, id: str, collection: str, occurrenceKey: str },
    required: ['href'],
  },
  subsup: { attrs: { type: oneOfValues('sub', 'sup') }, required: ['type'] },
  textColor: { attrs: { color }, required: ['color'] },
  backgroundColor: { attrs: { color }, required: ['color'] },
  alignment: { attrs: { align: oneOfValues('center', 'end') }, required: ['align'] },
  indentation: { attrs: { level: int(1, 6) }, required: ['level'] },
};
const TEXT_MARKS = Object.keys(MARKS).filter((m) => m !== 'alignment' && m !== 'indentation');

class Invalid extends Error {
  constructor(
    message: string,
    readonly code = 'INVALID_INPUT',
  ) {
    super(message);
  }
}
function fail(where: string, why: string): never {
  throw new Invalid(`${where}: ${why}`);
}

function checkAttrs(
  where: string,
  attrs: unknown,
  spec: { attrs?: Record<string, AttrCheck>; required?: readonly string[]; oneOf?: readonly string[] },
): void {
  if (attrs === undefined) {
    if (spec.required?.length) fail(where, `missing attrs (${spec.required.join(', ')} required)`);
    if (spec.oneOf) fail(where, `needs attrs.${spec.oneOf.join(' or attrs.')}`);
    return;
  }
  if (!isRecord(attrs)) fail(where, 'attrs must be an object');
  for (const [k, v] of Object.entries(attrs)) {
    const check = spec.attrs?.[k];
    if (!check) fail(where, `unknown attribute "${k}"`);
    else if (!check(v)) fail(where, `invalid attrs.${k} ${JSON.stringify(v)}`);
  }
  for (const r of spec.required ?? []) if (!(r in attrs)) fail(where, `missing required attrs.${r}`);
  if (spec.oneOf && !spec.oneOf.some((k) => k in attrs))
    fail(where, `needs attrs.${spec.oneOf.join(' or ')}`);
}

function checkMarks(where: string, marks: unknown, allowed: readonly string[], inCode: boolean): void {
  if (!Array.isArray(marks)) fail(where, 'marks must be an array');
  const seen = new Set<string>();
  for (const [i, m] of marks.entries()) {
    const at = `${where}.marks[${i}]`;
    if (!isRecord(m) || typeof m.type !== 'string') fail(at, 'a mark needs a string type');
    const spec = MARKS[m.type];
    if (!spec || !allowed.includes(m.type)) fail(at, `mark "${m.type}" is not allowed here`);
    for (const k of Object.keys(m)) if (k !== 'type' && k !== 'attrs') fail(at, `unknown key "${k}"`);
    if (seen.has(m.type)) fail(at, `duplicate mark "${m.type}"`);
    seen.add(m.type);
    checkAttrs(`${at}(${m.type})`, m.attrs, spec ?? {});
  }
  if (inCode && marks.length > 0) fail(where, 'text inside a codeBlock cannot carry marks');
  if (seen.has('code') && [...seen].some((t) => t !== 'code' && t !== 'link')) {
    fail(where, 'the code mark can only be combined with link');
  }
}

function checkNode(
  node: unknown,
  where: string,
  allowed: readonly string[],
  notes: string[],
  parent: string,
): Json | null {
  if (!isRecord(node) || typeof node.type !== 'string') return fail(where, 'a node needs a string "type"');
  const type = node.type;
  const at = `${where}(${type})`;
  if (type !== 'text' && !NODES[type]) fail(at, `unknown node type "${type}"`);
  if (!allowed.includes(type)) fail(at, `"${type}" is not allowed here`);
  if (type === 'text') {
    for (const k of Object.keys(node))
      if (!['type', 'text', 'marks'].includes(k)) fail(at, `unknown key "${k}"`);
    if (typeof node.text !== 'string') fail(at, 'text must be a string');
    if (node.marks !== undefined) checkMarks(at, node.marks, TEXT_MARKS, parent === 'codeBlock');
    if (node.text === '') {
      notes.push(`${at}: empty text node (Jira silently deletes it)`);
      return null;
    }
    return node;
  }
  const spec = NODES[type] ?? fail(at, `unknown node type "${type}"`);
  for (const k of Object.keys(node)) {
    if (!['type', 'attrs', 'content', 'marks'].includes(k)) fail(at, `unknown key "${k}"`);
  }
  checkAttrs(at, node.attrs, spec);
  if (type === 'media' && node.attrs?.type === 'file') {
    // The stand-in's issues carry no attachments, so any file media names one the issue does not have.
    throw new Invalid(
      `${at}: media id ${JSON.stringify(node.attrs.id)} is not an attachment of this issue`,
      'ATTACHMENT_VALIDATION_ERROR',
    );
  }
  if (node.marks !== undefined) checkMarks(at, node.marks, spec.nodeMarks ?? [], false);
  if (spec.content === undefined) {
    if (node.content !== undefined) fail(at, `"${type}" cannot have content`);
    return node;
  }
  if (node.content === undefined) {
    if ((spec.minContent ?? 0) > 0) fail(at, `"${type}" needs content`);
    return node;
  }
  if (!Array.isArray(node.content)) return fail(at, 'content must be an array');
  const kids = spec.content === 'inline' ? INLINE : spec.content === 'text' ? ['text'] : spec.content;
  const content = node.content
    .map((c: unknown, i: number) => checkNode(c, `${at}.content[${i}]`, kids, notes, type))
    .filter((c: Json) => c !== null);
  if (content.length < (spec.minContent ?? 0)) fail(at, `"${type}" needs at least ${spec.minContent} child`);
  if (type === 'listItem' && !['paragraph', 'codeBlock', 'mediaSingle'].includes(content[0]?.type)) {
    fail(at, 'a listItem must start with a paragraph, codeBlock or mediaSingle');
  }
  return { ...node, content };
}

export type AdfCheck = { ok: true; doc: Json; notes: string[] } | { ok: false; reason: string; code: string };

/** Validates a top-level ADF doc; returns the doc as Jira would store it. */
export function validateAdf(doc: unknown): AdfCheck {
  const notes: string[] = [];
  try {
    if (!isRecord(doc)) return { ok: false, reason: 'body is not an object', code: 'INVALID_INPUT' };
    if (doc.type !== 'doc') fail('doc', `type must be "doc", got ${JSON.stringify(doc.type)}`);
    if (doc.version !== 1) fail('doc', `version must be 1, got ${JSON.stringify(doc.version)}`);
    for (const k of Object.keys(doc)) {
      if (!['type', 'version', 'content'].includes(k)) fail('doc', `unknown key "${k}"`);
    }
    if (!Array.isArray(doc.content)) fail('doc', 'content must be an array');
    const content = (doc.content as unknown[])
      .map((n, i) => checkNode(n, `doc.content[${i}]`, TOP, notes, 'doc'))
      .filter((n) => n !== null);
    return { ok: true, doc: { type: 'doc', version: 1, content }, notes };
  } catch (err) {
    if (err instanceof Invalid) return { ok: false, reason: err.message, code: err.code };
    throw err;
  }
}
