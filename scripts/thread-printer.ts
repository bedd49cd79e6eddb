import type { SlackMessage } from '../test/fakes/slack/index.js';

type Block = {
  type: string;
  text?: { text: string };
  elements?: Array<{ type: string; text?: string | { text: string } }>;
  accessory?: { type: string };
};

/** Renders a Slack thread in a terminal: each message once, and again (marked) when edited. */
export class ThreadPrinter {
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly out: { write(s: string): unknown },
    private readonly botUserId: string,
  ) {}

  show(thread: SlackMessage[]): void {
    for (const message of thread) {
      const version = message.edits;
      if (this.seen.get(message.ts) === version) continue;
      const edited = this.seen.has(message.ts);
      this.seen.set(message.ts, version);
      const who = message.botId ? 'airlock' : (message.user ?? '?');
      const text = (render(message) || message.text || '')
        .replaceAll(`<@${this.botUserId}>`, '@airlock')
        .replaceAll('&lt;', '<')
        .replaceAll('&gt;', '>')
        .replaceAll('&amp;', '&');
      this.out.write(`${edited ? '  ✎ ' : '  '}${who}: ${text.split('\n').join('\n      ')}\n`);
    }
  }
}

function render(message: SlackMessage): string {
  if (!message.blocks?.length) return message.text ?? '';
  const lines: string[] = [];
  for (const block of message.blocks as Block[]) {
    if (block.text?.text) lines.push(block.text.text);
    if (block.type === 'context')
      lines.push(...(block.elements ?? []).map((e) => `(${typeof e.text === 'string' ? e.text : ''})`));
    if (block.type === 'actions') {
      lines.push(
        (block.elements ?? []).map((e) => `[${typeof e.text === 'object' ? e.text.text : ''}]`).join(' '),
      );
    }
  }
  return lines.join('\n');
}
