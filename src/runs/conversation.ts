import { MAX_MODEL_CHARS } from '../agent/agent-loop.js';
import { headTail } from '../agent/truncate.js';
import type { ContentBlock, Message } from './ports/model.js';
import type { ModelTurnRecord, ToolCallRecord } from './ports/store.js';

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
