import OpenAI from 'openai';
import { Stream } from 'openai/core/streaming';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from 'openai/resources/chat/completions';
import { TOOL_SCHEMAS } from '../agent/tools/tool-schemas.js';
import { AirlockError } from '../errors.js';
import type { Message, ModelClient, ModelRequest, ModelResponse } from '../runs/ports/model.js';
import {
  DEFAULT_MODEL_TIMEOUTS,
  type Endpoint,
  type ModelTimeouts,
  withinTimeouts,
} from './model-timeouts.js';
import { type ChatReply, collectChunks, fromCompletion, toModelResponse } from './openai-reply.js';

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

/** Any OpenAI-compatible Chat Completions endpoint: vLLM, Ollama, LiteLLM, Azure OpenAI. */
export class OpenAIModel implements ModelClient {
  readonly provider = 'openai';
  /** Named by host, since "the endpoint" could be any of several servers. */
  private readonly endpoint: Endpoint;

  constructor(
    private readonly client: OpenAI,
    readonly model: string,
    private readonly timeouts: ModelTimeouts = DEFAULT_MODEL_TIMEOUTS,
  ) {
    this.endpoint = {
      name: `OpenAI-compatible endpoint ${new URL(client.baseURL).host}`,
      check: 'OPENAI_BASE_URL, the egress proxy, and that the server is up with the model loaded',
    };
  }

  /** One call (its retries included) under the timeouts, failures explained with the endpoint's name. */
  private call<T>(
    signal: AbortSignal | undefined,
    run: (signal: AbortSignal) => Promise<T>,
    describe = (error: unknown) => describeOpenAIError(error, this.endpoint.name),
  ): Promise<T> {
    return withinTimeouts({ timeouts: this.timeouts, signal, endpoint: this.endpoint, describe }, run);
  }

  async check(): Promise<string> {
    const listModels = async (signal: AbortSignal) => {
      const ids: string[] = [];
      for await (const model of this.client.models.list({ signal })) ids.push(model.id);
      return ids;
    };
    const ids = await this.call(undefined, listModels, (error) =>
      error instanceof AirlockError
        ? error
        : new AirlockError(
            'model_failed',
            `${this.endpoint.name}: ${(error as Error).message}. Check OPENAI_BASE_URL and OPENAI_API_KEY.`,
            { cause: error },
          ),
    );
    if (!ids.includes(this.model))
      throw new AirlockError(
        'model_failed',
        `the endpoint does not serve ${this.model}; it serves ${ids.join(', ') || 'nothing'}`,
      );
    return `${this.model} is served`;
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
    return this.call(request.signal, async (signal) => {
      // Streamed, so that the idle timeout means "no byte for that long", not "no whole reply".
      const response = await this.client.chat.completions
        .create(
          {
            model: this.model,
            max_tokens: request.maxOutputTokens,
            messages: toChatMessages(request.system, request.messages),
            tools,
            stream: true,
            stream_options: { include_usage: true },
          },
          { signal },
        )
        .asResponse();
      let reply: ChatReply | undefined;
      if (response.headers.get('content-type')?.includes('text/event-stream')) {
        const chunks = Stream.fromSSEResponse<ChatCompletionChunk>(response, new AbortController());
        reply = await collectChunks(chunks, request.onText);
        // The SSE reader ends quietly on an abort: a cut reply must not pass for a whole one.
        signal.throwIfAborted();
      } else {
        // Some servers and proxies ignore `stream` and answer with one completion.
        reply = fromCompletion((await response.json()) as ChatCompletion, request.onText);
      }
      if (!reply)
        throw new AirlockError('model_failed', `${this.endpoint.name}: the response has no choices.`);
      return toModelResponse(reply, this.model);
    });
  }
}

function describeOpenAIError(error: unknown, name: string): AirlockError {
  if (error instanceof AirlockError) return error;
  if (error instanceof OpenAI.APIUserAbortError) return new AirlockError('cancelled', 'Cancelled.');
  if (error instanceof OpenAI.AuthenticationError) {
    return new AirlockError('model_failed', `${name}: the API key was refused (401). Check OPENAI_API_KEY.`, {
      cause: error,
    });
  }
  if (
    error instanceof OpenAI.BadRequestError &&
    /context_length_exceeded|maximum context length|prompt is too long|too many tokens/i.test(
      `${error.code ?? ''} ${error.message}`,
    )
  ) {
    return new AirlockError('prompt_too_long', `${name}: the prompt is longer than the model's window.`, {
      cause: error,
    });
  }
  if (error instanceof OpenAI.APIConnectionError) {
    return new AirlockError(
      'model_failed',
      `${name}: cannot reach it (${error.message}). Check OPENAI_BASE_URL.`,
      { cause: error },
    );
  }
  return new AirlockError('model_failed', `${name}: ${(error as Error).message}`, { cause: error });
}
