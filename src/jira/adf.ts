/**
 * Atlassian Document Format (Jira Cloud's rich text) to plain text for the agent, and the small
 * ADF documents airlock writes back (a comment with a link).
 */
export interface AdfNode {
  type: string;
  text?: string;
  attrs?: Record<string, unknown>;
  content?: AdfNode[];
  marks?: Array<{ type: string; attrs?: Record<string, unknown> }>;
}

const BLOCKS = new Set([
  'paragraph',
  'heading',
  'blockquote',
  'codeBlock',
  'panel',
  'rule',
  'table',
  'tableRow',
  'mediaSingle',
]);

export function adfToText(node: unknown): string {
  if (typeof node === 'string') return node;
  if (!node || typeof node !== 'object') return '';
  return render(node as AdfNode, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

function render(node: AdfNode, indent: string): string {
  const children = (sep = '') => (node.content ?? []).map((c) => render(c, indent)).join(sep);
  switch (node.type) {
    case 'text': {
      const link = node.marks?.find((m) => m.type === 'link')?.attrs?.href;
      const code = node.marks?.some((m) => m.type === 'code');
      const text = code ? `\`${node.text ?? ''}\`` : (node.text ?? '');
      return link && link !== node.text ? `${text} (${String(link)})` : text;
    }
    case 'hardBreak':
      return '\n';
    case 'mention':
      return String(node.attrs?.text ?? '@someone');
    case 'emoji':
      return String(node.attrs?.text ?? node.attrs?.shortName ?? '');
    case 'inlineCard':
    case 'blockCard':
      return String(node.attrs?.url ?? '');
    case 'date':
      return new Date(Number(node.attrs?.timestamp ?? 0)).toISOString().slice(0, 10);
    case 'status':
      return `[${String(node.attrs?.text ?? '')}]`;
    case 'heading':
      return `${'#'.repeat(Number(node.attrs?.level ?? 1))} ${children()}\n\n`;
    case 'codeBlock':
      return `\`\`\`${String(node.attrs?.language ?? '')}\n${children()}\n\`\`\`\n\n`;
    case 'blockquote':
      return `${children()
        .trim()
        .split('\n')
        .map((l) => `> ${l}`)
        .join('\n')}\n\n`;
    case 'bulletList':
    case 'orderedList':
      return `${(node.content ?? [])
        .map((item, i) => {
          const mark = node.type === 'bulletList' ? '- ' : `${i + 1}. `;
          const body = render(item, `${indent}  `).trim();
          return `${indent}${mark}${body}`;
        })
        .join('\n')}\n\n`;
    case 'listItem':
      return (node.content ?? []).map((c) => render(c, indent).trim()).join(`\n${indent}`);
    case 'tableCell':
    case 'tableHeader':
      return `${children().trim()} | `;
    case 'rule':
      return '---\n\n';
    default: {
      const inner = children();
      return BLOCKS.has(node.type) || node.type === 'doc'
        ? `${inner}${node.type === 'doc' ? '' : '\n\n'}`
        : inner;
    }
  }
}

/** An ADF document of one paragraph: text, then a link. */
export function adfParagraphWithLink(text: string, linkText: string, href: string): AdfNode & { version: 1 } {
  return {
    type: 'doc',
    version: 1,
    content: [
      {
        type: 'paragraph',
        content: [
          { type: 'text', text },
          { type: 'text', text: linkText, marks: [{ type: 'link', attrs: { href } }] },
        ],
      },
    ],
  };
}
