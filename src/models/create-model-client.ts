import { AnthropicBedrock } from '@anthropic-ai/bedrock-sdk';
import Anthropic from '@anthropic-ai/sdk';
import { AnthropicVertex } from '@anthropic-ai/vertex-sdk';
import OpenAI from 'openai';
import type { AirlockEnv } from '../config/env.js';
import { AirlockError } from '../errors.js';
import type { ModelClient } from '../runs/ports/model.js';
import { AnthropicModel, type MessagesApi } from './anthropic-model.js';
import { DEFAULT_ANTHROPIC_MODEL } from './default-model.js';
import { DEFAULT_MODEL_TIMEOUTS, type ModelTimeouts, watchedFetch, wholeMs } from './model-timeouts.js';
import { OpenAIModel } from './openai-model.js';

/**
 * The SDKs retry 408/409/429/5xx (and 529) with backoff; airlock does not add its own loop. An
 * attempt that gets no response headers is retried once only (see model-timeouts.ts), and the
 * whole call, retries included, ends at model.request_timeout_seconds.
 */
const MAX_RETRIES = 5;

/** Builds the model client the environment asks for. Called only from the composition root. */
export function createModelClient(
  env: AirlockEnv,
  policyModel?: string,
  timeouts: ModelTimeouts = DEFAULT_MODEL_TIMEOUTS,
): ModelClient {
  const model = env.AIRLOCK_MODEL ?? policyModel;
  // Every SDK: its own `timeout` bounds each attempt's wait for response headers (it covers no
  // streamed body); watchedFetch lets the adapters time the body and count idle attempts.
  const transport = {
    maxRetries: MAX_RETRIES,
    timeout: wholeMs(timeouts.idleTimeoutMs),
    fetch: watchedFetch,
  };
  switch (env.AIRLOCK_PROVIDER) {
    case 'anthropic': {
      if (!env.ANTHROPIC_API_KEY) {
        throw new AirlockError(
          'config_invalid',
          'ANTHROPIC_API_KEY is not set. Set it, or pick another AIRLOCK_PROVIDER.',
        );
      }
      const client = new Anthropic({
        apiKey: env.ANTHROPIC_API_KEY,
        baseURL: env.ANTHROPIC_BASE_URL,
        ...transport,
      });
      return new AnthropicModel(client, model ?? DEFAULT_ANTHROPIC_MODEL, 'anthropic', timeouts);
    }
    case 'bedrock': {
      if (!model)
        throw new AirlockError(
          'config_invalid',
          'AIRLOCK_MODEL is required with AIRLOCK_PROVIDER=bedrock (a Bedrock model id).',
        );
      const client = new AnthropicBedrock({ awsRegion: env.AWS_REGION, ...transport });
      return new AnthropicModel(client as unknown as MessagesApi, model, 'bedrock', timeouts);
    }
    case 'vertex': {
      const client = new AnthropicVertex({
        region: env.CLOUD_ML_REGION,
        projectId: env.ANTHROPIC_VERTEX_PROJECT_ID,
        ...transport,
      });
      return new AnthropicModel(
        client as unknown as MessagesApi,
        model ?? DEFAULT_ANTHROPIC_MODEL,
        'vertex',
        timeouts,
      );
    }
    case 'openai': {
      if (!model)
        throw new AirlockError(
          'config_invalid',
          'AIRLOCK_MODEL is required with AIRLOCK_PROVIDER=openai (the served model name).',
        );
      const client = new OpenAI({
        apiKey: env.OPENAI_API_KEY ?? 'not-needed',
        baseURL: env.OPENAI_BASE_URL,
        ...transport,
      });
      return new OpenAIModel(client, model, timeouts);
    }
  }
}
