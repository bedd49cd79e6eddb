import { randomUUID } from 'node:crypto';
import type { ChatCompletion, ChatCompletionChunk } from 'openai/resources/chat/completions';
import type { ContentBlock, ModelResponse } from '../runs/ports/model.js';

/** One Chat Completions reply, whether it streamed or came whole. */
export interface ChatReply {
  text: string;
  calls: Array<{ id: string; name: string; arguments: string }>;
  finishReason: string | null;
  model: string | undefined;
  usage: { prompt_tokens: number; completion_tokens: number } | null | undefined;
}

/** Folds streamed chunks into one reply, handing text to onText as it arrives; undefined without choices. */
export async function collectChunks(
  chunks: AsyncIterable<ChatCompletionChunk>,
  onText: ((delta: string) => void) | undefined,
): Promise<ChatReply | undefined> {
  const reply: ChatReply = { text: '', calls: [], finishReason: null, model: undefined, usage: undefined };
  let choices = 0;
  for await (const chunk of chunks) {
    reply.model ??= chunk.model;
    // With include_usage the usage comes in a last chunk without choices.
    if (chunk.usage) reply.usage = chunk.usage;
    const choice = chunk.choices?.find((c) => c.index === 0);
    if (!choice) continue;
    choices++;
    const { content, tool_calls } = choice.delta ?? {};
    if (content) {
      reply.text += content;
      onText?.(content);
    }
    for (const part of tool_calls ?? []) {
      const call = reply.calls[part.index] ?? { id: '', name: '', arguments: '' };
      reply.calls[part.index] = call;
      if (part.id) call.id = part.id;
      if (part.function?.name) call.name = part.function.name;
      if (part.function?.arguments) call.arguments += part.function.arguments;
    }
    if (choice.finish_reason) reply.finishReason = choice.finish_reason;
  }
  if (choices === 0) return undefined;
  // Some servers stream no call ids; the agent needs one to pair the result with its call.
  reply.calls = reply.calls.filter(Boolean).map((c) => ({ ...c, id: c.id || `call_${randomUUID()}` }));
  return reply;
}

/** A whole completion, from a server that answered a streaming request without streaming. */
export function fromCompletion(
  completion: ChatCompletion,
  onText: ((delta: string) => void) | undefined,
): ChatReply | undefined {
  const choice = completion.choices?.[0];
  if (!choice) return undefined;
  const text = choice.message.content ?? '';
  if (text) onText?.(text);
  const calls = (choice.message.tool_calls ?? []).flatMap((c) =>
    c.type === 'function' ? [{ id: c.id, name: c.function.name, arguments: c.function.arguments }] : [],
  );
  return {
    text,
    calls,
    finishReason: choice.finish_reason,
    model: completion.model,
    usage: completion.usage,
  };
}

function parseArguments(raw: string): Record<string, unknown> {
  try {
    const value = JSON.parse(raw || '{}');
    return value && typeof value === 'object' ? value : { _raw: raw };
  } catch {
    // The tool reports the bad input back to the model, which can retry.
    return { _invalid_json: raw };
  }
}

const STOP_REASONS: Record<string, ModelResponse['stopReason']> = {
  tool_calls: 'tool_use',
  length: 'max_tokens',
  stop: 'end_turn',
};

export function toModelResponse(reply: ChatReply, model: string): ModelResponse {
  const content: ContentBlock[] = reply.text ? [{ type: 'text', text: reply.text }] : [];
  for (const call of reply.calls)
    content.push({ type: 'tool_use', id: call.id, name: call.name, input: parseArguments(call.arguments) });
  return {
    content,
    stopReason: STOP_REASONS[reply.finishReason ?? ''] ?? 'other',
    model: reply.model ?? model,
    usage: {
      inputTokens: reply.usage?.prompt_tokens ?? 0,
      outputTokens: reply.usage?.completion_tokens ?? 0,
      cacheReadTokens: 0,
      cacheWriteTokens: 0,
    },
  };
}
