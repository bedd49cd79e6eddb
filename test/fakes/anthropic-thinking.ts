import { createHmac, randomBytes } from 'node:crypto';
import { HttpError, isRecord, type Json } from './http.js';

/**
 * Thinking blocks as the real API treats them: signed by the server, bound to the conversation,
 * and required back unchanged. A client that drops or edits the thinking block of the turn that
 * called tools is rejected, as Claude with adaptive thinking (the default on Sonnet 5.5) would.
 */
export class ThinkingLedger {
  private readonly key = randomBytes(32);
  /** tool_use id → signature of the thinking block issued in the same turn. */
  private readonly issued = new Map<string, string>();

  sign(thinking: string): string {
    return createHmac('sha256', this.key).update(thinking).digest('base64');
  }

  remember(content: Array<{ type: string; id?: string; signature?: string }>): void {
    const signature = content.find((b) => b.type === 'thinking')?.signature;
    if (!signature) return;
    for (const b of content) if (b.type === 'tool_use' && b.id) this.issued.set(b.id, signature);
  }

  check(messages: Json[]): void {
    messages.forEach((m: Json, i: number) => {
      if (!isRecord(m) || m.role !== 'assistant' || !Array.isArray(m.content)) return;
      for (const b of m.content) {
        if (isRecord(b) && b.type === 'thinking' && b.signature !== this.sign(String(b.thinking))) {
          throw new HttpError(
            400,
            'invalid_request_error',
            `messages.${i}.content: Invalid \`signature\` in \`thinking\` block`,
          );
        }
      }
    });
    const lastAssistant = [...messages].reverse().find((m: Json) => isRecord(m) && m.role === 'assistant');
    if (!lastAssistant || !Array.isArray(lastAssistant.content)) return;
    const uses = lastAssistant.content.filter((b: Json) => isRecord(b) && b.type === 'tool_use');
    const expected = uses.map((u: Json) => this.issued.get(u.id)).find(Boolean);
    if (!expected) return;
    const first = lastAssistant.content[0];
    if (!isRecord(first) || first.type !== 'thinking' || first.signature !== expected) {
      throw new HttpError(
        400,
        'invalid_request_error',
        'messages: Expected `thinking` or `redacted_thinking`, but found `tool_use`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks).',
      );
    }
  }
}
