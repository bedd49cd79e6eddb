// Request validation for the fake OpenAI-compatible Chat Completions API, using OpenAI's
// 400 error wording and `param` paths (e.g. `messages.[2].role`).
import { HttpError, isPositiveInt, isRecord, type Json } from './http.js';

const bad = (message: string, param: string | null = null, code: string | null = null) =>
  new HttpError(400, 'invalid_request_error', message, { param, code });

const KNOWN_PARAMS = [
  'model',
  'messages',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'stream',
  'stream_options',
  'temperature',
  'top_p',
  'max_tokens',
  'max_completion_tokens',
  'n',
  'stop',
  'seed',
  'presence_penalty',
  'frequency_penalty',
  'logit_bias',
  'logprobs',
  'top_logprobs',
  'user',
  'response_format',
  'metadata',
  'store',
  'reasoning_effort',
  'service_tier',
  'safety_identifier',
  'prompt_cache_key',
];
const ROLES = ['system', 'user', 'assistant', 'tool'];
const FN_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

export interface ValidatedChatRequest {
  toolNames: Set<string>;
  toolChoice: unknown;
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object'
    ? 'an object'
    : `a ${typeof v === 'number' && Number.isInteger(v) ? 'integer' : typeof v}`;
}

const invalidType = (param: string, expected: string, got: unknown) =>
  bad(
    `Invalid type for '${param}': expected ${expected}, but got ${typeName(got)} instead.`,
    param,
    'invalid_type',
  );
const missing = (param: string) =>
  bad(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');

/** content: string, or a non-empty array of parts whose types are in `parts`. */
function content(value: unknown, param: string, parts: string[]): void {
  if (typeof value === 'string') return;
  if (!Array.isArray(value)) throw invalidType(param, 'one of a string or array of objects', value);
  if (value.length === 0)
    throw bad(
      `Invalid '${param}': empty array. Expected an array with minimum length 1, but got an empty array instead.`,
      param,
      'empty_array',
    );
  value.forEach((part: unknown, k: number) => {
    const p = `${param}[${k}]`;
    if (!isRecord(part)) throw invalidType(p, 'an object', part);
    if (!parts.includes(part.type))
      throw bad(
        `Invalid value: '${part.type}'. Supported values are: ${parts.map((t) => `'${t}'`).join(', ')}.`,
        `${p}.type`,
        'invalid_value',
      );
    if (part.type === 'text' && typeof part.text !== 'string') throw missing(`${p}.text`);
    if (part.type === 'image_url' && (!isRecord(part.image_url) || typeof part.image_url.url !== 'string'))
      throw missing(`${p}.image_url.url`);
  });
}

function messages(list: unknown): void {
  if (list === undefined) throw missing('messages');
  if (!Array.isArray(list)) throw invalidType('messages', 'an array', list);
  if (list.length === 0)
    throw bad(
      "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
      'messages',
      'empty_array',
    );
  let pending: string[] = [];
  list.forEach((m: unknown, i: number) => {
    const at = `messages[${i}]`;
    if (!isRecord(m)) throw invalidType(at, 'an object', m);
    if (!ROLES.includes(m.role))
      throw bad(
        `Invalid value: '${m.role}'. Supported values are: 'system', 'assistant', 'user', and 'tool'.`,
        `${at}.role`,
        'invalid_value',
      );
    if (pending.length > 0 && m.role !== 'tool')
      throw bad(
        `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${pending.join(', ')}`,
        `messages.[${i}].role`,
      );
    if (m.name !== undefined && typeof m.name !== 'string')
      throw invalidType(`${at}.name`, 'a string', m.name);
    const allowedKeys: Record<string, string[]> = {
      system: ['role', 'content', 'name'],
      user: ['role', 'content', 'name'],
      assistant: ['role', 'content', 'name', 'tool_calls', 'refusal'],
      tool: ['role', 'content', 'tool_call_id'],
    };
    for (const key of Object.keys(m))
      if (!(allowedKeys[m.role] ?? []).includes(key))
        throw bad(
          `Additional properties are not allowed ('${key}' was unexpected) - '${at}'`,
          `${at}.${key}`,
        );
    if (m.role === 'system') {
      if (!('content' in m)) throw missing(`${at}.content`);
      content(m.content, `${at}.content`, ['text']);
    } else if (m.role === 'user') {
      if (!('content' in m)) throw missing(`${at}.content`);
      content(m.content, `${at}.content`, ['text', 'image_url']);
    } else if (m.role === 'tool') {
      if (typeof m.tool_call_id !== 'string') throw missing(`${at}.tool_call_id`);
      if (!('content' in m)) throw missing(`${at}.content`);
      content(m.content, `${at}.content`, ['text']);
      if (pending.length === 0)
        throw bad(
          "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.",
          `messages.[${i}].role`,
        );
      if (!pending.includes(m.tool_call_id))
        throw bad(
          `Invalid parameter: 'tool_call_id' of '${m.tool_call_id}' not found in 'tool_calls' of previous message.`,
          `messages.[${i}].tool_call_id`,
        );
      pending = pending.filter((id) => id !== m.tool_call_id);
    } else {
      const calls = m.tool_calls;
      if (calls !== undefined) {
        if (!Array.isArray(calls)) throw invalidType(`${at}.tool_calls`, 'an array', calls);
        if (calls.length === 0)
          throw bad(
            `Invalid '${at}.tool_calls': empty array. Expected an array with minimum length 1, but got an empty array instead.`,
            `${at}.tool_calls`,
            'empty_array',
          );
        calls.forEach((c: unknown, j: number) => {
          const p = `${at}.tool_calls[${j}]`;
          if (!isRecord(c)) throw invalidType(p, 'an object', c);
          if (typeof c.id !== 'string' || c.id.length === 0) throw missing(`${p}.id`);
          if (c.type !== 'function')
            throw bad(
              `Invalid value: '${c.type}'. Supported values are: 'function'.`,
              `${p}.type`,
              'invalid_value',
            );
          if (!isRecord(c.function)) throw missing(`${p}.function`);
          if (typeof c.function.name !== 'string') throw missing(`${p}.function.name`);
          if (typeof c.function.arguments !== 'string')
            throw invalidType(`${p}.function.arguments`, 'a string', c.function.arguments);
          try {
            JSON.parse(c.function.arguments);
          } catch {
            throw bad(
              `Invalid '${p}.function.arguments': not a valid JSON string.`,
              `${p}.function.arguments`,
            );
          }
          if (pending.includes(c.id))
            throw bad(`Duplicate tool_call id '${c.id}' in '${at}.tool_calls'.`, `${p}.id`);
          pending.push(c.id);
        });
      }
      const hasContent = m.content !== undefined && m.content !== null;
      if (hasContent) content(m.content, `${at}.content`, ['text', 'refusal']);
      else if (calls === undefined) throw missing(`${at}.content`);
    }
  });
  if (pending.length > 0)
    throw bad(
      `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${pending.join(', ')}`,
      'messages',
    );
}

function tools(value: unknown): Set<string> {
  const names = new Set<string>();
  if (value === undefined) return names;
  if (!Array.isArray(value)) throw invalidType('tools', 'an array', value);
  if (value.length === 0)
    throw bad(
      "Invalid 'tools': empty array. Expected an array with minimum length 1, but got an empty array instead.",
      'tools',
      'empty_array',
    );
  value.forEach((t: unknown, i: number) => {
    const p = `tools[${i}]`;
    if (!isRecord(t)) throw invalidType(p, 'an object', t);
    if (t.type !== 'function')
      throw bad(
        `Invalid value: '${t.type}'. Supported values are: 'function'.`,
        `${p}.type`,
        'invalid_value',
      );
    for (const key of Object.keys(t))
      if (key !== 'type' && key !== 'function')
        throw bad(`Unrecognized request argument supplied: ${p}.${key}`, `${p}.${key}`);
    const fn = t.function;
    if (!isRecord(fn)) throw missing(`${p}.function`);
    for (const key of Object.keys(fn))
      if (!['name', 'description', 'parameters', 'strict'].includes(key))
        throw bad(`Unrecognized request argument supplied: ${p}.function.${key}`, `${p}.function.${key}`);
    if (typeof fn.name !== 'string') throw missing(`${p}.function.name`);
    if (!FN_NAME.test(fn.name))
      throw bad(
        `Invalid '${p}.function.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$'.`,
        `${p}.function.name`,
        'invalid_value',
      );
    if (fn.description !== undefined && typeof fn.description !== 'string')
      throw invalidType(`${p}.function.description`, 'a string', fn.description);
    if (!('parameters' in fn)) throw missing(`${p}.function.parameters`);
    if (!isRecord(fn.parameters)) throw invalidType(`${p}.function.parameters`, 'an object', fn.parameters);
    if (fn.parameters.type !== 'object')
      throw bad(
        `Invalid schema for function '${fn.name}': schema must be a JSON Schema of 'type: "object"', got 'type: "${fn.parameters.type}"'.`,
        `${p}.function.parameters`,
        'invalid_function_parameters',
      );
    if (fn.strict !== undefined && typeof fn.strict !== 'boolean')
      throw invalidType(`${p}.function.strict`, 'a boolean', fn.strict);
    if (names.has(fn.name))
      throw bad(`Duplicate function name '${fn.name}' in 'tools'.`, `${p}.function.name`);
    names.add(fn.name);
  });
  return names;
}

function numberIn(body: Record<string, Json>, key: string, min: number, max: number): void {
  const v = body[key];
  if (v === undefined || v === null) return;
  if (typeof v !== 'number') throw invalidType(key, 'a decimal', v);
  if (v < min)
    throw bad(
      `Invalid '${key}': decimal below minimum value. Expected a value >= ${min}, but got ${v} instead.`,
      key,
      'decimal_below_min_value',
    );
  if (v > max)
    throw bad(
      `Invalid '${key}': decimal above maximum value. Expected a value <= ${max}, but got ${v} instead.`,
      key,
      'decimal_above_max_value',
    );
}

/** Throws an HttpError for anything the real `POST /v1/chat/completions` would reject. */
export function validateChatRequest(
  body: unknown,
  models: string[] | undefined,
  extraParams: string[],
): ValidatedChatRequest {
  if (!isRecord(body))
    throw bad(
      "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly.)",
    );
  for (const key of Object.keys(body))
    if (!KNOWN_PARAMS.includes(key) && !extraParams.includes(key))
      throw bad(`Unrecognized request argument supplied: ${key}`);
  if (body.model === undefined) throw bad('you must provide a model parameter');
  if (typeof body.model !== 'string' || body.model.length === 0)
    throw invalidType('model', 'a string', body.model);
  messages(body.messages);
  const toolNames = tools(body.tools);
  const choice = body.tool_choice;
  if (choice !== undefined) {
    if (toolNames.size === 0)
      throw bad(
        "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
        'tool_choice',
      );
    if (isRecord(choice)) {
      const name = isRecord(choice.function) ? choice.function.name : undefined;
      if (choice.type !== 'function' || typeof name !== 'string') throw missing('tool_choice.function.name');
      if (!toolNames.has(name))
        throw bad(`Invalid value for 'tool_choice': tool '${name}' is not in 'tools'.`, 'tool_choice');
    } else if (choice !== 'none' && choice !== 'auto' && choice !== 'required') {
      throw bad(
        `Invalid value: '${choice}'. Supported values are: 'none', 'auto', and 'required'.`,
        'tool_choice',
        'invalid_value',
      );
    }
  }
  if (body.parallel_tool_calls !== undefined && typeof body.parallel_tool_calls !== 'boolean')
    throw invalidType('parallel_tool_calls', 'a boolean', body.parallel_tool_calls);
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== 'boolean')
    throw invalidType('stream', 'a boolean', body.stream);
  if (body.stream_options !== undefined && body.stream_options !== null) {
    if (body.stream !== true)
      throw bad("The 'stream_options' parameter is only allowed when 'stream' is enabled.", 'stream_options');
    if (!isRecord(body.stream_options)) throw invalidType('stream_options', 'an object', body.stream_options);
    const inc = body.stream_options.include_usage;
    if (inc !== undefined && typeof inc !== 'boolean')
      throw invalidType('stream_options.include_usage', 'a boolean', inc);
  }
  numberIn(body, 'temperature', 0, 2);
  numberIn(body, 'top_p', 0, 1);
  numberIn(body, 'presence_penalty', -2, 2);
  numberIn(body, 'frequency_penalty', -2, 2);
  for (const key of ['max_tokens', 'max_completion_tokens', 'n'])
    if (body[key] != null && !isPositiveInt(body[key]))
      throw bad(
        `Invalid '${key}': integer below minimum value. Expected a value >= 1, but got ${body[key]} instead.`,
        key,
        'integer_below_min_value',
      );
  const stop = body.stop;
  if (
    stop != null &&
    typeof stop !== 'string' &&
    !(Array.isArray(stop) && stop.length <= 4 && stop.every((s) => typeof s === 'string'))
  )
    throw invalidType('stop', 'one of a string or array of up to 4 strings', stop);
  if (models && !models.includes(body.model))
    throw new HttpError(
      404,
      'invalid_request_error',
      `The model \`${body.model}\` does not exist or you do not have access to it.`,
      {
        code: 'model_not_found',
      },
    );
  return { toolNames, toolChoice: choice };
}
