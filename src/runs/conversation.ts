import { MAX_MODEL_CHARS } from '../agent/agent-loop.js';
import { headTail } from '../agent/truncate.js';
import type { ContentBlock, Message } from './ports/model.js';
import type { AuditEvent, ModelTurnRecord, ToolCallRecord } from './ports/store.js';

/**
 * The conversation as the model saw it, rebuilt from the stored turns: each turn holds the
 * messages it added, then the model's reply. A reply whose tool calls have no results yet (airlock
 * stopped while they ran) gets results from the recorded tool calls, or an honest "unknown".
 */
export function rebuildConversation(
  turns: Array<Pick<ModelTurnRecord, 'request' | 'response'>>,
  calls: Array<Pick<ToolCallRecord, 'toolUseId' | 'output' | 'isError'>>,
): Message[] {
  const messages: Message[] = [];
  for (const turn of turns) {
    const request = turn.request as { messages?: Message[] };
    const response = turn.response as { content?: ContentBlock[] };
    messages.push(...(request.messages ?? []));
    const content = response.content?.length
      ? response.content
      : [{ type: 'text' as const, text: '(no output: the reply was cut off)' }];
    messages.push({ role: 'assistant', content });
  }
  const last = messages.at(-1);
  const pendingCalls = last?.role === 'assistant' ? last.content.filter((b) => b.type === 'tool_use') : [];
  if (pendingCalls.length) {
    const byId = new Map(calls.map((c) => [c.toolUseId, c]));
    messages.push({
      role: 'user',
      content: pendingCalls.map((call) => {
        const id = (call as { id: string }).id;
        const done = byId.get(id);
        return done
          ? {
              type: 'tool_result',
              tool_use_id: id,
              content: headTail(done.output, MAX_MODEL_CHARS),
              is_error: done.isError,
            }
          : {
              type: 'tool_result',
              tool_use_id: id,
              content:
                'airlock restarted while this ran; its result is unknown. Run it again if you need it.',
              is_error: true,
            };
      }),
    });
  }
  return messages;
}

/** Adds a person's words to the conversation as the next user message (or to the pending one). */
export function withUserText(messages: Message[], text: string): Message[] {
  const last = messages.at(-1);
  if (last?.role === 'user') {
    return [...messages.slice(0, -1), { role: 'user', content: [...last.content, { type: 'text', text }] }];
  }
  return [...messages, { role: 'user', content: [{ type: 'text', text }] }];
}

/** What the current work session has spent: turns after the newest move into `working`. */
export function sessionSpend(events: AuditEvent[]): {
  startedAt: string | undefined;
  steps: number;
  tokens: number;
  costUsd: number;
} {
  let start = -1;
  events.forEach((e, i) => {
    if (e.type === 'run.working') start = i;
  });
  const spent = { startedAt: events[start]?.at, steps: 0, tokens: 0, costUsd: 0 };
  for (const e of events.slice(start + 1)) {
    if (e.type !== 'model.turn') continue;
    spent.steps++;
    spent.tokens += ['input_tokens', 'output_tokens', 'cache_read_tokens', 'cache_write_tokens'].reduce(
      (n, k) => n + Number(e.data[k] ?? 0),
      0,
    );
    spent.costUsd += Number(e.data.cost_usd ?? 0);
  }
  return spent;
}
