import { AnthropicBedrock } from '@anthropic-ai/bedrock-sdk';
import Anthropic from '@anthropic-ai/sdk';
import { AnthropicVertex } from '@anthropic-ai/vertex-sdk';
import OpenAI from 'openai';
import type { AirlockEnv } from '../config/env.js';
import { AirlockError } from '../errors.js';
import type { ModelClient } from '../runs/ports/model.js';
import { AnthropicModel, type MessagesApi } from './anthropic-model.js';
import { DEFAULT_ANTHROPIC_MODEL } from './default-model.js';
import { OpenAIModel } from './openai-model.js';

/** The SDKs retry 408/409/429/5xx (and 529) with backoff; airlock does not add its own loop. */
const MAX_RETRIES = 5;

/** Builds the model client the environment asks for. Called only from the composition root. */
export function createModelClient(env: AirlockEnv, policyModel?: string): ModelClient {
  const model = env.AIRLOCK_MODEL ?? policyModel;
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
        maxRetries: MAX_RETRIES,
      });
      return new AnthropicModel(client, model ?? DEFAULT_ANTHROPIC_MODEL);
    }
    case 'bedrock': {
      if (!model)
        throw new AirlockError(
          'config_invalid',
          'AIRLOCK_MODEL is required with AIRLOCK_PROVIDER=bedrock (a Bedrock model id).',
        );
      const client = new AnthropicBedrock({ awsRegion: env.AWS_REGION, maxRetries: MAX_RETRIES });
      return new AnthropicModel(client as unknown as MessagesApi, model, 'bedrock');
    }
    case 'vertex': {
      const client = new AnthropicVertex({
        region: env.CLOUD_ML_REGION,
        projectId: env.ANTHROPIC_VERTEX_PROJECT_ID,
        maxRetries: MAX_RETRIES,
      });
      return new AnthropicModel(client as unknown as MessagesApi, model ?? DEFAULT_ANTHROPIC_MODEL, 'vertex');
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
        maxRetries: MAX_RETRIES,
      });
      return new OpenAIModel(client, model);
    }
  }
}
