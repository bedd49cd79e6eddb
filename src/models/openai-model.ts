import OpenAI from 'openai';
import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { TOOL_SCHEMAS } from '../agent/tools/tool-schemas.js';
import { AirlockError } from '../errors.js';
import type { ContentBlock, Message, ModelClient, ModelRequest, ModelResponse } from '../runs/ports/model.js';

/** Our conversation as Chat Completions messages: tool results become `tool` messages. */
export function toChatMessages(system: string, messages: Message[]): ChatCompletionMessageParam[] {
  const out: ChatCompletionMessageParam[] = [{ role: 'system', content: system }];
  for (const m of messages) {
    const text = m.content
      .filter((b) => b.type === 'text')
      .map((b) => (b as { text: string }).text)
      .join('\n');
    if (m.role === 'assistant') {
      const calls = m.content.flatMap((b) =>
        b.type === 'tool_use'
          ? [
              {
                id: b.id,
                type: 'function' as const,
                function: { name: b.name, arguments: JSON.stringify(b.input) },
              },
            ]
          : [],
      );
      out.push({ role: 'assistant', content: text || null, ...(calls.length ? { tool_calls: calls } : {}) });
      continue;
    }
    for (const b of m.content) {
      if (b.type === 'tool_result')
        out.push({ role: 'tool', tool_call_id: b.tool_use_id, content: b.content });
    }
    if (text) out.push({ role: 'user', content: text });
  }
  return out;
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

/** Any OpenAI-compatible Chat Completions endpoint: vLLM, Ollama, LiteLLM, Azure OpenAI. */
export class OpenAIModel implements ModelClient {
  readonly provider = 'openai';

  constructor(
    private readonly client: OpenAI,
    readonly model: string,
  ) {}

  async check(): Promise<string> {
    try {
      const ids: string[] = [];
      for await (const model of this.client.models.list()) ids.push(model.id);
      if (!ids.includes(this.model))
        throw new AirlockError(
          'model_failed',
          `the endpoint does not serve ${this.model}; it serves ${ids.join(', ') || 'nothing'}`,
        );
      return `${this.model} is served`;
    } catch (error) {
      if (error instanceof AirlockError) throw error;
      throw new AirlockError(
        'model_failed',
        `OpenAI-compatible endpoint: ${(error as Error).message}. Check OPENAI_BASE_URL and OPENAI_API_KEY.`,
      );
    }
  }

  async complete(request: ModelRequest): Promise<ModelResponse> {
    const tools: ChatCompletionTool[] = request.tools.map((name) => ({
      type: 'function',
      function: {
        name,
        description: TOOL_SCHEMAS[name].description,
        parameters: TOOL_SCHEMAS[name].parameters,
      },
    }));
    try {
      const completion = await this.client.chat.completions.create(
        {
          model: this.model,
          max_tokens: request.maxOutputTokens,
          messages: toChatMessages(request.system, request.messages),
          tools,
        },
        { signal: request.signal },
      );
      const choice = completion.choices[0];
      if (!choice)
        throw new AirlockError('model_failed', 'OpenAI-compatible endpoint: the response has no choices.');
      const content: ContentBlock[] = [];
      if (choice.message.content) {
        content.push({ type: 'text', text: choice.message.content });
        request.onText?.(choice.message.content);
      }
      for (const call of choice.message.tool_calls ?? []) {
        if (call.type !== 'function') continue;
        content.push({
          type: 'tool_use',
          id: call.id,
          name: call.function.name,
          input: parseArguments(call.function.arguments),
        });
      }
      const finish = choice.finish_reason;
      return {
        content,
        stopReason:
          finish === 'tool_calls'
            ? 'tool_use'
            : finish === 'length'
              ? 'max_tokens'
              : finish === 'stop'
                ? 'end_turn'
                : 'other',
        model: completion.model,
        usage: {
          inputTokens: completion.usage?.prompt_tokens ?? 0,
          outputTokens: completion.usage?.completion_tokens ?? 0,
          cacheReadTokens: 0,
          cacheWriteTokens: 0,
        },
      };
    } catch (error) {
      if (error instanceof AirlockError) throw error;
      if (error instanceof OpenAI.APIUserAbortError) throw new AirlockError('cancelled', 'Cancelled.');
      if (error instanceof OpenAI.AuthenticationError) {
        throw new AirlockError(
          'model_failed',
          'OpenAI-compatible endpoint: the API key was refused (401). Check OPENAI_API_KEY.',
          { cause: error },
        );
      }
      if (error instanceof OpenAI.APIConnectionError) {
        throw new AirlockError(
          'model_failed',
          `OpenAI-compatible endpoint: cannot reach it (${error.message}). Check OPENAI_BASE_URL.`,
          { cause: error },
        );
      }
      throw new AirlockError('model_failed', `OpenAI-compatible endpoint: ${(error as Error).message}`, {
        cause: error,
      });
    }
  }
}
