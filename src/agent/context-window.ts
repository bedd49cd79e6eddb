import type { ContentBlock, Message } from '../runs/ports/model.js';

/**
 * Where an elided tool output is kept whole in the sandbox, outside the workspace (never in the
 * diff). Shell syntax on purpose: the sandbox's shell, and the agent's, expand it.
 */
// biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion, not a template
export const OUTPUTS_DIR = '${TMPDIR:-/tmp}/airlock-outputs';

/** Requests are kept under this share of the window, leaving room for the answer. */
export const THRESHOLD = 0.8;
/** An elision goes well below the threshold, so the cached prefix changes rarely (a big batch). */
const TARGET = 0.4;
/** The newest tool outputs stay whole; the latest always does. */
const KEEP_NEWEST = 3;
const STUB_MARK = '[airlock: output elided';
/** A rough count for what has not been measured yet: a token per 3.5 characters (code, logs). */
const CHARS_PER_TOKEN = 3.5;

/** Tokens in `chars` characters not yet counted by the endpoint. */
export function tokensOf(chars: number): number {
  return chars / CHARS_PER_TOKEN;
}

export function messagesChars(messages: readonly Message[]): number {
  return messages.reduce((sum, m) => sum + JSON.stringify(m.content).length, 0);
}

/** A tool output moved out of the conversation: its stub names the file that holds it whole. */
export interface ElidedOutput {
  toolUseId: string;
  path: string;
  content: string;
}

type ToolResult = Extract<ContentBlock, { type: 'tool_result' }>;
type ToolUse = Extract<ContentBlock, { type: 'tool_use' }>;

/**
 * Replaces the oldest tool outputs with stubs until the conversation is estimated at `target`
 * tokens (40 % of the window), keeping the newest KEEP_NEWEST (with `hard`, only the
 * latest) whole. Only a tool_result's content changes: every tool_use keeps its tool_result, and
 * the task, instructions and people's words (text blocks) are never touched. Returns what was
 * moved out (for the sandbox's copy), or nothing when it fits already.
 */
export function elideOldOutputs(
  messages: Message[],
  opts: { tokens: number; windowTokens: number; hard?: boolean },
): ElidedOutput[] {
  const results: Array<{ block: ToolResult; index: number }> = [];
  messages.forEach((m, index) => {
    if (m.role !== 'user') return;
    for (const block of m.content) if (block.type === 'tool_result') results.push({ block, index });
  });
  const keep = opts.hard ? 1 : KEEP_NEWEST;
  const candidates = results.slice(0, Math.max(0, results.length - keep));
  const target = opts.windowTokens * (opts.hard ? TARGET / 2 : TARGET);
  const elided: ElidedOutput[] = [];
  let tokens = opts.tokens;
  let step = 0;
  for (const { block, index } of candidates) {
    step++;
    if (tokens <= target) break;
    if (block.content.startsWith(STUB_MARK)) continue;
    const use = toolUseFor(messages, index, block.tool_use_id);
    const path = `${OUTPUTS_DIR}/${block.tool_use_id}.txt`;
    elided.push({ toolUseId: block.tool_use_id, path, content: block.content });
    const before = block.content.length;
    block.content = stub(block, use, path, step);
    tokens -= tokensOf(Math.max(0, before - block.content.length));
  }
  return elided;
}

/** Whether the window is nearly full: the conversation's estimate past THRESHOLD of it. */
export function nearlyFull(estimate: number, windowTokens: number, maxOutputTokens: number): boolean {
  return estimate + maxOutputTokens > windowTokens * THRESHOLD;
}

function toolUseFor(messages: Message[], index: number, id: string): ToolUse | undefined {
  const previous = messages[index - 1];
  return previous?.content.find((b): b is ToolUse => b.type === 'tool_use' && b.id === id);
}

function stub(block: ToolResult, use: ToolUse | undefined, path: string, n: number): string {
  const lines = block.content.split('\n').filter((l) => l.trim() !== '');
  const what =
    use?.name === 'bash'
      ? `\`${String(use.input.command ?? '').slice(0, 200)}\``
      : use
        ? `${use.name} ${String(use.input.command ?? '')} ${String(use.input.path ?? '')}`.trim()
        : 'a tool call';
  const exit = /exit code: (-?\d+)/i.exec(block.content)?.[1];
  return [
    `${STUB_MARK} to keep the conversation within the model's window: output ${n} of this run, of ${what}` +
      `${exit !== undefined ? `, exit code ${exit}` : ''}${block.is_error ? ' (an error)' : ''}, ${block.content.length} characters.]`,
    `First line: ${(lines[0] ?? '').slice(0, 300)}`,
    `Last line: ${(lines.at(-1) ?? '').slice(0, 300)}`,
    `The whole output is in ${path}: grep or tail it there instead of running the command again.`,
  ].join('\n');
}

/** The window of a model airlock knows, else 200,000 (model.context_tokens overrides it). */
export function defaultContextTokens(model: string): number {
  if (/gpt-4o|gpt-4-turbo|o1-mini/i.test(model)) return 128_000;
  if (/gpt-3\.5/i.test(model)) return 16_385;
  return 200_000;
}
