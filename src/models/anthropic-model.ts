import Anthropic from '@anthropic-ai/sdk';
import type {
  ContentBlockParam,
  MessageParam,
  TextBlockParam,
  ToolUnion,
} from '@anthropic-ai/sdk/resources/messages/messages';
import { TOOL_SCHEMAS } from '../agent/tools/tool-schemas.js';
import { AirlockError } from '../errors.js';
import type {
  ContentBlock,
  Message,
  ModelClient,
  ModelRequest,
  ModelResponse,
  ToolName,
} from '../runs/ports/model.js';
import {
  DEFAULT_MODEL_TIMEOUTS,
  type Endpoint,
  type ModelTimeouts,
  withinTimeouts,
} from './model-timeouts.js';

/** The part of the SDK client this adapter uses; Bedrock and Vertex clients have it too. */
export interface MessagesApi {
  messages: Pick<Anthropic['messages'], 'stream'>;
  /** Absent on Bedrock and Vertex, which do not serve the Models API. */
  models?: Pick<Anthropic['models'], 'retrieve'>;
}

const EPHEMERAL = { type: 'ephemeral' as const };

/** Anthropic's own client tools, which Claude is trained on (DESIGN.md §3). */
function toolDefinitions(names: ToolName[]): ToolUnion[] {
  const tools: ToolUnion[] = names.map((name): ToolUnion => {
    if (name === 'bash') return { type: 'bash_20250124', name: 'bash' };
    if (name === 'str_replace_based_edit_tool')
      return { type: 'text_editor_20250728', name: 'str_replace_based_edit_tool', max_characters: 30_000 };
    // airlock's own tools are plain JSON-schema tools.
    const schema = TOOL_SCHEMAS[name];
    return {
      name,
      description: schema.description,
      input_schema: schema.parameters as { type: 'object'; [key: string]: unknown },
    };
  });
  const last = tools.at(-1);
  if (last) Object.assign(last, { cache_control: EPHEMERAL });
  return tools;
}

function toParam(block: ContentBlock): ContentBlockParam {
  if (block.type === 'tool_result') {
    return {
      type: 'tool_result',
      tool_use_id: block.tool_use_id,
      content: block.content,
      is_error: block.is_error,
    };
  }
  return { ...block };
}

/**
 * Messages with cache breakpoints on the last block of the newest message and of the user
 * message before it, so each step reads the cached prefix and pays only for the new tokens.
 * With system and tools that is the API's maximum of four.
 */
export function toMessageParams(messages: Message[]): MessageParam[] {
  const params: MessageParam[] = messages.map((m) => ({ role: m.role, content: m.content.map(toParam) }));
  const userIndexes = params.flatMap((m, i) => (m.role === 'user' ? [i] : []));
  for (const i of [params.length - 1, userIndexes.at(-2)]) {
    if (i === undefined || i < 0) continue;
    const content = params[i]?.content as ContentBlockParam[] | undefined;
    const last = content?.at(-1);
    if (last && last.type !== 'thinking' && last.type !== 'redacted_thinking')
      Object.assign(last, { cache_control: EPHEMERAL });
  }
  return params;
}

export function fromAnthropicContent(content: Anthropic.Messages.ContentBlock[]): ContentBlock[] {
  const blocks: ContentBlock[] = [];
  for (const b of content) {
    if (b.type === 'text') blocks.push({ type: 'text', text: b.text });
    else if (b.type === 'thinking')
      blocks.push({ type: 'thinking', thinking: b.thinking, signature: b.signature });
    else if (b.type === 'redacted_thinking') blocks.push({ type: 'redacted_thinking', data: b.data });
    else if (b.type === 'tool_use')
      blocks.push({
        type: 'tool_use',
        id: b.id,
        name: b.name,
        input: (b.input ?? {}) as Record<string, unknown>,
      });
  }
  return blocks;
}

function stopReason(reason: string | null): ModelResponse['stopReason'] {
  return reason === 'end_turn' || reason === 'tool_use' || reason === 'max_tokens' ? reason : 'other';
}

/** Messages API over @anthropic-ai/sdk (and the Bedrock / Vertex SDKs, which share its shape). */
export class AnthropicModel implements ModelClient {
  constructor(
    private readonly client: MessagesApi,
    readonly model: string,
    readonly provider: 'anthropic' | 'bedrock' | 'vertex' = 'anthropic',
    private readonly timeouts: ModelTimeouts = DEFAULT_MODEL_TIMEOUTS,
  ) {}

  /** One call (its retries included) under the timeouts, failures explained with the provider's name. */
  private call<T>(signal: AbortSignal | undefined, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const endpoint: Endpoint = { name: PROVIDER_NAMES[this.provider], check: HANG_CHECKS[this.provider] };
    const describe = (error: unknown) => describeModelError(error, this.provider);
    return withinTimeouts({ timeouts: this.timeouts, signal, endpoint, describe }, run);
  }

  async check(): Promise<string> {
    const models = this.client.models;
    if (!models)
      return `${this.model} (${PROVIDER_NAMES[this.provider]} has no models endpoint; not checked)`;
    const info = await this.call(undefined, (signal) => models.retrieve(this.model, {}, { signal }));
    return `${info.id} is available`;
  }

  async complete(request: ModelRequest): Promise<ModelResponse> {
    const system: TextBlockParam[] = [{ type: 'text', text: request.system, cache_control: EPHEMERAL }];
    return this.call(request.signal, async (signal) => {
      const stream = this.client.messages.stream(
        {
          model: this.model,
          max_tokens: request.maxOutputTokens,
          system,
          tools: toolDefinitions(request.tools),
          messages: toMessageParams(request.messages),
        },
        { signal },
      );
      if (request.onText) stream.on('text', request.onText);
      const message = await stream.finalMessage();
      return {
        content: fromAnthropicContent(message.content),
        stopReason: stopReason(message.stop_reason),
        model: message.model,
        usage: {
          inputTokens: message.usage.input_tokens,
          outputTokens: message.usage.output_tokens,
          cacheReadTokens: message.usage.cache_read_input_tokens ?? 0,
          cacheWriteTokens: message.usage.cache_creation_input_tokens ?? 0,
        },
      };
    });
  }
}

const PROVIDER_NAMES = { anthropic: 'Anthropic', bedrock: 'Bedrock', vertex: 'Vertex AI' } as const;

/** What to look at when the provider's endpoint hangs. */
const HANG_CHECKS = {
  anthropic: "ANTHROPIC_BASE_URL, the egress proxy, and the endpoint's health",
  bedrock: "AWS_REGION, the egress proxy or VPC endpoint, and Bedrock's service health",
  vertex:
    "CLOUD_ML_REGION, the egress proxy or Private Service Connect endpoint, and Vertex AI's service health",
} as const;

export function describeModelError(error: unknown, provider: keyof typeof PROVIDER_NAMES): AirlockError {
  const name = PROVIDER_NAMES[provider];
  if (error instanceof AirlockError) return error;
  if (error instanceof Anthropic.APIUserAbortError) return new AirlockError('cancelled', 'Cancelled.');
  if (error instanceof Anthropic.AuthenticationError) {
    return new AirlockError(
      'model_failed',
      `${name}: the API key was refused (401). Check ANTHROPIC_API_KEY.`,
      { cause: error },
    );
  }
  if (error instanceof Anthropic.NotFoundError) {
    return new AirlockError('model_failed', `${name}: the model was not found (404). Check AIRLOCK_MODEL.`, {
      cause: error,
    });
  }
  if (error instanceof Anthropic.APIConnectionError) {
    return new AirlockError(
      'model_failed',
      `${name}: cannot reach the endpoint (${error.message}). Check ANTHROPIC_BASE_URL and egress.`,
      { cause: error },
    );
  }
  if (error instanceof Anthropic.BadRequestError && /prompt is too long/i.test(error.message)) {
    return new AirlockError('prompt_too_long', `${name}: the prompt is longer than the model's window.`, {
      cause: error,
    });
  }
  if (error instanceof Anthropic.APIError) {
    return new AirlockError('model_failed', `${name}: ${error.message}`, {
      cause: error,
    });
  }
  return new AirlockError('model_failed', `${name}: ${(error as Error).message}`, { cause: error });
}
