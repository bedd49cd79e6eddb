// Turns the light markup fixtures are written in into what Jira stores: an Atlassian Document Format
// doc (Cloud, v3) or wiki text (Data Center, v2). Also flattens ADF back to text for rendering.
//
// Markup: blank line = new paragraph; single newline = hardBreak; "- x" / "* x" = bullet list;
// "1. x" = ordered list; "# x" = heading; ``` fences (optional language) = code block; inline
// `code`, **bold**, [text](url) = link mark, bare https://... = inlineCard, @name = mention.

export interface AdfMark {
  type: string;
  attrs?: Record<string, unknown>;
}
export interface AdfNode {
  type: string;
  attrs?: Record<string, unknown>;
  content?: AdfNode[];
  text?: string;
  marks?: AdfMark[];
}
export interface AdfDoc {
  type: 'doc';
  version: 1;
  content: AdfNode[];
}

export type MentionResolver = (name: string) => { id: string; text: string };

type Block =
  | { kind: 'para'; lines: string[] }
  | { kind: 'bullet' | 'ordered'; items: string[] }
  | { kind: 'heading'; level: number; text: string }
  | { kind: 'code'; language: string; code: string };

const BULLET = /^[-*] (.*)$/;
const ORDERED = /^\d+\. (.*)$/;
const HEADING = /^(#{1,6}) (.*)$/;
const FENCE = /^```\s*([\w+-]*)\s*$/;

function blocks(text: string): Block[] {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const out: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i] ?? '';
    const fence = FENCE.exec(line);
    if (fence) {
      const body: string[] = [];
      i++;
      while (i < lines.length && !/^```\s*$/.test(lines[i] ?? '')) body.push(lines[i++] ?? '');
      i++; // closing fence (or end of text)
      out.push({ kind: 'code', language: fence[1] ?? '', code: body.join('\n') });
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      out.push({ kind: 'heading', level: heading[1]?.length ?? 1, text: heading[2] ?? '' });
      i++;
      continue;
    }
    const kind = BULLET.test(line) ? 'bullet' : ORDERED.test(line) ? 'ordered' : undefined;
    if (kind) {
      const re = kind === 'bullet' ? BULLET : ORDERED;
      const items: string[] = [];
      while (i < lines.length && re.test(lines[i] ?? '')) items.push(re.exec(lines[i++] ?? '')?.[1] ?? '');
      out.push({ kind, items });
      continue;
    }
    if (line.trim() === '') {
      i++;
      continue;
    }
    const para: string[] = [];
    while (i < lines.length) {
      const l = lines[i] ?? '';
      if (l.trim() === '' || FENCE.test(l) || HEADING.test(l) || BULLET.test(l) || ORDERED.test(l)) break;
      para.push(l);
      i++;
    }
    out.push({ kind: 'para', lines: para });
  }
  return out;
}

const INLINE =
  /(`[^`]+`)|(\*\*[^*]+\*\*)|\[([^\]]+)\]\((https?:\/\/[^)\s]+)\)|(https?:\/\/[^\s)]*[^\s).,;:!?'"])|(^|\s)@([A-Za-z][\w.-]*\w)/g;

function inline(text: string, mention: MentionResolver): AdfNode[] {
  const out: AdfNode[] = [];
  const push = (t: string, marks?: AdfMark[]) => {
    if (t) out.push(marks ? { type: 'text', text: t, marks } : { type: 'text', text: t });
  };
  let last = 0;
  for (const m of text.matchAll(INLINE)) {
    const at = m.index ?? 0;
    const lead = m[6] ?? '';
    push(text.slice(last, at + lead.length));
    if (m[1]) push(m[1].slice(1, -1), [{ type: 'code' }]);
    else if (m[2]) push(m[2].slice(2, -2), [{ type: 'strong' }]);
    else if (m[3] && m[4]) push(m[3], [{ type: 'link', attrs: { href: m[4] } }]);
    else if (m[5]) out.push({ type: 'inlineCard', attrs: { url: m[5] } });
    else if (m[7]) {
      const who = mention(m[7]);
      out.push({ type: 'mention', attrs: { id: who.id, text: who.text, accessLevel: '' } });
    }
    last = at + m[0].length;
  }
  push(text.slice(last));
  return out;
}

function paragraph(text: string, mention: MentionResolver): AdfNode {
  const content = inline(text, mention);
  return content.length > 0 ? { type: 'paragraph', content } : { type: 'paragraph' };
}

/** Plain text with light markup -> an ADF doc as Jira Cloud stores it. */
export function markupToAdf(text: string, mention: MentionResolver): AdfDoc {
  const content: AdfNode[] = [];
  for (const b of blocks(text)) {
    if (b.kind === 'para') {
      const nodes: AdfNode[] = [];
      b.lines.forEach((line, idx) => {
        if (idx > 0) nodes.push({ type: 'hardBreak' });
        nodes.push(...inline(line, mention));
      });
      content.push(nodes.length > 0 ? { type: 'paragraph', content: nodes } : { type: 'paragraph' });
    } else if (b.kind === 'heading') {
      content.push({ type: 'heading', attrs: { level: b.level }, content: inline(b.text, mention) });
    } else if (b.kind === 'code') {
      const node: AdfNode = b.language
        ? { type: 'codeBlock', attrs: { language: b.language } }
        : { type: 'codeBlock' };
      if (b.code) node.content = [{ type: 'text', text: b.code }];
      content.push(node);
    } else {
      const items = b.items.map((item) => ({ type: 'listItem', content: [paragraph(item, mention)] }));
      content.push(
        b.kind === 'bullet'
          ? { type: 'bulletList', content: items }
          : { type: 'orderedList', attrs: { order: 1 }, content: items },
      );
    }
  }
  return { type: 'doc', version: 1, content };
}

function inlineWiki(text: string): string {
  return text.replace(INLINE, (...m: Array<string | undefined>) => {
    if (m[1]) return `{{${m[1].slice(1, -1)}}}`;
    if (m[2]) return `*${m[2].slice(2, -2)}*`;
    if (m[3] && m[4]) return `[${m[3]}|${m[4]}]`;
    if (m[5]) return m[5];
    return `${m[6] ?? ''}[~${m[7] ?? ''}]`;
  });
}

/** Plain text with light markup -> Jira wiki markup as Data Center stores it. */
export function markupToWiki(text: string): string {
  const parts: string[] = [];
  for (const b of blocks(text)) {
    if (b.kind === 'para') parts.push(b.lines.map(inlineWiki).join('\n'));
    else if (b.kind === 'heading') parts.push(`h${b.level}. ${inlineWiki(b.text)}`);
    else if (b.kind === 'code') parts.push(`{code${b.language ? `:${b.language}` : ''}}\n${b.code}\n{code}`);
    else parts.push(b.items.map((i) => `${b.kind === 'bullet' ? '*' : '#'} ${inlineWiki(i)}`).join('\n'));
  }
  return parts.join('\n\n');
}

/** ADF -> readable text (for renderedFields and diagnostics). */
export function adfToText(node: unknown): string {
  if (typeof node !== 'object' || node === null) return '';
  const n = node as AdfNode;
  const kids = (sep = '') => (n.content ?? []).map(adfToText).join(sep);
  switch (n.type) {
    case 'text':
      return n.text ?? '';
    case 'hardBreak':
      return '\n';
    case 'mention':
      return String(n.attrs?.text ?? '@unknown');
    case 'inlineCard':
    case 'blockCard':
      return String(n.attrs?.url ?? '');
    case 'emoji':
      return String(n.attrs?.text ?? n.attrs?.shortName ?? '');
    case 'listItem':
      return `- ${kids('\n')}`;
    case 'codeBlock':
      return `\`\`\`\n${kids()}\n\`\`\``;
    case 'doc':
    case 'bulletList':
    case 'orderedList':
    case 'blockquote':
    case 'panel':
      return kids(n.type === 'doc' ? '\n\n' : '\n');
    default:
      return kids();
  }
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' };
/** A simple HTML rendering, the shape of Jira's renderedFields / renderedBody. */
export function renderHtml(text: string): string {
  return text
    .split(/\n{2,}/)
    .map((p) => `<p>${p.replace(/[&<>"]/g, (c) => ESCAPES[c] ?? c).replace(/\n/g, '<br/>\n')}</p>`)
    .join('\n');
}
