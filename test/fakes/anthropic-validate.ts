// Request validation for the fake Anthropic Messages API. Mirrors the real API's 400
// `invalid_request_error` rules and message wording (pydantic-style "<path>: <problem>").

import {
  bad,
  type Ctx,
  cacheControl,
  noExtra,
  requireString,
  tags,
  textBlock,
  validateConversation,
} from './anthropic-blocks.js';
import { HttpError, isPositiveInt, isRecord, type Json } from './http.js';

const TOP_LEVEL = [
  'model',
  'max_tokens',
  'messages',
  'system',
  'tools',
  'tool_choice',
  'stream',
  'temperature',
  'top_p',
  'top_k',
  'stop_sequences',
  'metadata',
  'thinking',
  'output_config',
  'service_tier',
];
const CLIENT_TOOLS: Record<string, { name: string; extra: string[] }> = {
  bash_20250124: { name: 'bash', extra: [] },
  text_editor_20250728: { name: 'str_replace_based_edit_tool', extra: ['max_characters'] },
};
const TOOL_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

export interface ValidatedMessagesRequest {
  toolNames: Set<string>;
  toolChoice: { type: string; name?: string; disable_parallel_tool_use?: boolean } | undefined;
}

function system(value: unknown, ctx: Ctx): void {
  if (value === undefined || typeof value === 'string') return;
  if (!Array.isArray(value)) throw bad('system: Input should be a valid string or a list of text blocks');
  value.forEach((b: unknown, i: number) => {
    if (!isRecord(b) || b.type !== 'text') throw bad(`system.${i}.type: Input should be 'text'`);
    textBlock(b, `system.${i}`, ctx, 'system');
  });
}

function tools(value: unknown, ctx: Ctx): Set<string> {
  const names = new Set<string>();
  if (value === undefined) return names;
  if (!Array.isArray(value)) throw bad('tools: Input should be a valid list');
  value.forEach((t: unknown, i: number) => {
    const path = `tools.${i}`;
    if (!isRecord(t)) throw bad(`${path}: Input should be a valid dictionary`);
    const type = t.type ?? 'custom';
    const common = [
      'type',
      'name',
      'cache_control',
      'strict',
      'defer_loading',
      'input_examples',
      'allowed_callers',
    ];
    if (type === 'custom') {
      noExtra(t, [...common, 'description', 'input_schema', 'eager_input_streaming'], `${path}.custom`);
      const name = requireString(t, 'name', `${path}.custom`);
      if (!TOOL_NAME.test(name))
        throw bad(`${path}.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'`);
      if (t.description !== undefined && typeof t.description !== 'string')
        throw bad(`${path}.custom.description: Input should be a valid string`);
      if (!('input_schema' in t)) throw bad(`${path}.custom.input_schema: Field required`);
      if (!isRecord(t.input_schema))
        throw bad(`${path}.custom.input_schema: Input should be a valid dictionary`);
      if (t.input_schema.type !== 'object')
        throw bad(`${path}.custom.input_schema.type: Input should be 'object'`);
    } else if (typeof type === 'string' && CLIENT_TOOLS[type]) {
      const spec = CLIENT_TOOLS[type];
      noExtra(t, [...common, ...spec.extra], `${path}.${type}`);
      if (t.name !== spec.name) throw bad(`${path}.${type}.name: Input should be '${spec.name}'`);
      if (t.max_characters != null && !isPositiveInt(t.max_characters))
        throw bad(`${path}.${type}.max_characters: Input should be greater than or equal to 1`);
    } else {
      throw bad(
        `${path}: Input tag '${type}' found using 'type' does not match any of the expected tags: ${tags(['custom', ...Object.keys(CLIENT_TOOLS)])}`,
      );
    }
    if (names.has(t.name)) throw bad('tools: Tool names must be unique.');
    names.add(t.name);
    cacheControl(t, path, ctx);
  });
  return names;
}

function toolChoice(value: unknown, names: Set<string>): ValidatedMessagesRequest['toolChoice'] {
  if (value === undefined) return undefined;
  if (!isRecord(value)) throw bad('tool_choice: Input should be a valid dictionary');
  const allowed: Record<string, string[]> = {
    auto: ['type', 'disable_parallel_tool_use'],
    any: ['type', 'disable_parallel_tool_use'],
    tool: ['type', 'name', 'disable_parallel_tool_use'],
    none: ['type'],
  };
  const keys = typeof value.type === 'string' ? allowed[value.type] : undefined;
  if (!keys)
    throw bad(
      `tool_choice: Input tag '${value.type}' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'`,
    );
  noExtra(value, keys, `tool_choice.${value.type}`);
  if (value.disable_parallel_tool_use !== undefined && typeof value.disable_parallel_tool_use !== 'boolean')
    throw bad(`tool_choice.${value.type}.disable_parallel_tool_use: Input should be a valid boolean`);
  if ((value.type === 'any' || value.type === 'tool') && names.size === 0)
    throw bad(`tool_choice.type: '${value.type}' may only be specified while providing tools`);
  if (value.type === 'tool') {
    const name = requireString(value, 'name', 'tool_choice.tool');
    if (!names.has(name))
      throw bad(`tool_choice.tool.name: tool '${name}' was not found in the provided tools`);
  }
  return value as ValidatedMessagesRequest['toolChoice'];
}

function numberIn(body: Record<string, Json>, key: string, min: number, max: number, integer = false): void {
  const v = body[key];
  if (v === undefined) return;
  if (typeof v !== 'number' || Number.isNaN(v) || (integer && !Number.isInteger(v)))
    throw bad(`${key}: Input should be a valid ${integer ? 'integer' : 'number'}`);
  if (v < min) throw bad(`${key}: Input should be greater than or equal to ${min}`);
  if (v > max) throw bad(`${key}: Input should be less than or equal to ${max}`);
}

function params(body: Record<string, Json>, toolChoiceType: string | undefined): void {
  if (body.stream !== undefined && typeof body.stream !== 'boolean')
    throw bad('stream: Input should be a valid boolean');
  numberIn(body, 'temperature', 0, 1);
  numberIn(body, 'top_p', 0, 1);
  numberIn(body, 'top_k', 0, Number.MAX_SAFE_INTEGER, true);
  const stops = body.stop_sequences;
  if (stops !== undefined && (!Array.isArray(stops) || stops.some((s) => typeof s !== 'string')))
    throw bad('stop_sequences: Input should be a valid list of strings');
  if (body.metadata !== undefined) {
    if (!isRecord(body.metadata)) throw bad('metadata: Input should be a valid dictionary');
    noExtra(body.metadata, ['user_id'], 'metadata');
    const uid = body.metadata.user_id;
    if (uid != null && typeof uid !== 'string') throw bad('metadata.user_id: Input should be a valid string');
  }
  if (
    body.service_tier !== undefined &&
    body.service_tier !== 'auto' &&
    body.service_tier !== 'standard_only'
  )
    throw bad("service_tier: Input should be 'auto' or 'standard_only'");
  if (body.output_config !== undefined) {
    if (!isRecord(body.output_config)) throw bad('output_config: Input should be a valid dictionary');
    noExtra(body.output_config, ['effort', 'format'], 'output_config');
    const effort = body.output_config.effort;
    if (effort != null && !['low', 'medium', 'high', 'xhigh', 'max'].includes(effort))
      throw bad("output_config.effort: Input should be 'low', 'medium', 'high', 'xhigh' or 'max'");
  }
  const thinking = body.thinking;
  if (thinking === undefined) return;
  if (!isRecord(thinking) || !['enabled', 'disabled', 'adaptive'].includes(thinking.type))
    throw bad(
      `thinking: Input tag '${thinking?.type}' found using 'type' does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'`,
    );
  if (thinking.type === 'disabled') {
    noExtra(thinking, ['type'], 'thinking.disabled');
    return;
  }
  noExtra(
    thinking,
    thinking.type === 'enabled' ? ['type', 'budget_tokens', 'display'] : ['type', 'display'],
    `thinking.${thinking.type}`,
  );
  if (thinking.type === 'enabled') {
    if (!Number.isInteger(thinking.budget_tokens))
      throw bad('thinking.enabled.budget_tokens: Field required');
    if (thinking.budget_tokens < 1024)
      throw bad('thinking.enabled.budget_tokens: Input should be greater than or equal to 1024');
    if (body.max_tokens <= thinking.budget_tokens)
      throw bad('`max_tokens` must be greater than `thinking.budget_tokens`');
  }
  if (body.temperature !== undefined && body.temperature !== 1)
    throw bad('`temperature` may only be set to 1 when thinking is enabled');
  if (body.top_k !== undefined) throw bad('`top_k` must be unset when thinking is enabled');
  if (toolChoiceType === 'any' || toolChoiceType === 'tool')
    throw bad('Thinking may not be enabled when tool_choice forces tool use.');
}

/** Throws an HttpError for anything the real `POST /v1/messages` would reject. */
export function validateMessagesRequest(
  body: unknown,
  models: string[] | undefined,
): ValidatedMessagesRequest {
  if (!isRecord(body))
    throw bad('There was an error parsing the body of your request: expected a JSON object');
  noExtra(body, TOP_LEVEL, '');
  if (!('model' in body)) throw bad('model: Field required');
  if (typeof body.model !== 'string' || body.model.length === 0)
    throw bad('model: String should have at least 1 character');
  if (!('max_tokens' in body)) throw bad('max_tokens: Field required');
  if (typeof body.max_tokens !== 'number' || !Number.isInteger(body.max_tokens))
    throw bad('max_tokens: Input should be a valid integer');
  if (body.max_tokens < 1) throw bad('max_tokens: Input should be greater than or equal to 1');
  const ctx: Ctx = { breakpoints: [], toolBlocks: 0 };
  // Validation order follows the cache prefix order (tools, system, messages) so breakpoints are ordered.
  const toolNames = tools(body.tools, ctx);
  system(body.system, ctx);
  validateConversation(body.messages, ctx);
  const choice = toolChoice(body.tool_choice, toolNames);
  params(body, choice?.type);
  if (ctx.toolBlocks > 0 && toolNames.size === 0)
    throw bad('Requests which include `tool_use` or `tool_result` blocks must define tools.');
  if (ctx.breakpoints.length > 4)
    throw bad(`A maximum of 4 blocks with cache_control may be provided. Found ${ctx.breakpoints.length}.`);
  const firstShort = ctx.breakpoints.findIndex((b) => b.ttl === '5m');
  const lateLong = ctx.breakpoints.find((b, i) => b.ttl === '1h' && firstShort !== -1 && i > firstShort);
  if (lateLong)
    throw bad(
      `${lateLong.path}.cache_control: a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block`,
    );
  if (models && !models.includes(body.model))
    throw new HttpError(404, 'not_found_error', `model: ${body.model}`);
  return { toolNames, toolChoice: choice };
}
