// A scripted, strict fake of an OpenAI-compatible Chat Completions server (vLLM / Ollama /
// LiteLLM shape) served over real HTTP on loopback; give `url` (ends in /v1) to `new OpenAI({ baseURL })`.
import {
  HttpError,
  isRecord,
  isScriptedError,
  type Json,
  type RecordedRequest,
  type RequestContext,
  randomId,
  type ScriptedError,
  ScriptQueue,
  scriptBug,
  sendJson,
  sendSse,
  splitInto,
  startRecordingServer,
} from './http.js';
import {
  describeTrouble,
  isTrouble,
  jsonBody,
  playTrouble,
  sseBody,
  type Trouble,
  troubledReply,
} from './hung-endpoint.js';
import { validateChatRequest } from './openai-validate.js';
import { registerStandIn } from './stand-ins.js';

export type { RecordedRequest, ScriptedError } from './http.js';

export interface ScriptedChatReply {
  content?: string | null;
  tool_calls?: Array<{ id?: string; name: string; arguments: Record<string, unknown> }>;
  /** Default: 'tool_calls' if any tool call, else 'stop'. */
  finish_reason?: 'stop' | 'tool_calls' | 'length';
  usage?: Partial<{ prompt_tokens: number; completion_tokens: number }>;
}

/** A hung endpoint (see hung-endpoint.ts): `{ hang: true }`, `{ stall: reply }`, `{ drip: reply, gapMs }`. */
export type ScriptedChatTrouble = Trouble<ScriptedChatReply>;

export type ChatScriptStep =
  | ScriptedChatReply
  | ScriptedError
  | ScriptedChatTrouble
  | ((body: Json) => ScriptedChatReply | ScriptedError | ScriptedChatTrouble);

export interface FakeOpenAI {
  /** Base URL including /v1, e.g. http://127.0.0.1:PORT/v1 */
  url: string;
  apiKey: string;
  /** Every request, including rejected ones. */
  requests: RecordedRequest[];
  /** Every rejection reason / script misuse; any a test does not claim with takeProblems() fails it. */
  problems: string[];
  /** Claims the problems not yet checked, for a test that provokes them on purpose. */
  takeProblems(): string[];
  push(...steps: ChatScriptStep[]): void;
  /** Unconsumed script steps. */
  remaining(): number;
  /** Claims (and drops) the unconsumed steps, described, for a test that leaves them on purpose. */
  takeUnconsumed(): string[];
  close(): Promise<void>;
}

function describeStep(step: ChatScriptStep): string {
  if (typeof step === 'function') return 'a function step';
  if (isScriptedError(step)) return `error ${step.status} ${step.type}`;
  if (isTrouble(step)) return describeTrouble(step);
  const parts = [
    ...(step.content ? [`content ${JSON.stringify(step.content)}`] : []),
    ...(step.tool_calls ?? []).map((c) => `tool_call ${c.name}`),
  ];
  return `reply [${parts.join(', ')}]`;
}

export interface FakeOpenAIOptions {
  apiKey?: string;
  script?: ChatScriptStep[];
  models?: string[];
  /** Extra top-level request fields to accept (server-specific knobs such as vLLM's `top_k`). Default none. */
  extraParams?: string[];
  /**
   * The deployment's context window in tokens (a token per 4 bytes of the request): a longer one is
   * refused as OpenAI and vLLM refuse it (400, code context_length_exceeded).
   */
  contextTokens?: number;
}

export const DEFAULT_OPENAI_MODELS = ['fake-coder-7b'];

interface OutCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

function errorBody(type: string, message: string, param: string | null = null, code: string | null = null) {
  return { error: { message, type, param, code } };
}

function materialize(
  reply: ScriptedChatReply,
  body: Record<string, Json>,
  toolNames: Set<string>,
  choice: unknown,
) {
  const misuse = (msg: string) => scriptBug('server_error', `fake-openai: ${msg}`);
  if (!isRecord(reply)) throw misuse('scripted reply must be an object');
  if (body.n != null && body.n !== 1) throw misuse('only n=1 is supported');
  const calls: OutCall[] = (reply.tool_calls ?? []).map((c) => {
    if (!toolNames.has(c.name))
      throw misuse(
        `scripted tool call '${c.name}' is not among the request's tools [${[...toolNames].join(', ')}]`,
      );
    if (!isRecord(c.arguments)) throw misuse(`scripted tool call '${c.name}' arguments must be an object`);
    return {
      id: c.id ?? randomId('call_', 24),
      type: 'function',
      function: { name: c.name, arguments: JSON.stringify(c.arguments) },
    };
  });
  const content = reply.content ?? null;
  if (content === null && calls.length === 0)
    throw misuse('scripted reply has neither content nor tool_calls');
  const finish = reply.finish_reason ?? (calls.length > 0 ? 'tool_calls' : 'stop');
  if (finish === 'tool_calls' && calls.length === 0)
    throw misuse("finish_reason 'tool_calls' without tool calls");
  if (calls.length > 0 && finish === 'stop') throw misuse("tool calls scripted with finish_reason 'stop'");
  if (choice === 'none' && calls.length > 0)
    throw misuse("tool calls scripted although tool_choice is 'none'");
  if (choice === 'required' && calls.length === 0)
    throw misuse("tool_choice 'required' needs a scripted tool call");
  if (isRecord(choice) && !calls.some((c) => c.function.name === choice.function?.name))
    throw misuse(`tool_choice forces '${choice.function?.name}' but the script does not call it`);
  if (body.parallel_tool_calls === false && calls.length > 1)
    throw misuse('parallel_tool_calls is false but several tool calls were scripted');
  return { content, calls, finish };
}

function streamChunks(
  base: Record<string, unknown>,
  content: string | null,
  calls: OutCall[],
  finish: string,
  usage: unknown,
  includeUsage: boolean,
) {
  const chunks: unknown[] = [];
  const add = (delta: Record<string, unknown>, finish_reason: string | null = null) =>
    chunks.push({
      ...base,
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta, logprobs: null, finish_reason }],
      ...(includeUsage ? { usage: null } : {}),
    });
  add({ role: 'assistant', content: '' });
  if (content) for (const piece of splitInto(content, 3)) add({ content: piece });
  calls.forEach((c, index) => {
    add({
      tool_calls: [{ index, id: c.id, type: 'function', function: { name: c.function.name, arguments: '' } }],
    });
    for (const piece of splitInto(c.function.arguments, 4))
      add({ tool_calls: [{ index, function: { arguments: piece } }] });
  });
  add({}, finish);
  if (includeUsage) chunks.push({ ...base, object: 'chat.completion.chunk', choices: [], usage });
  return [...chunks.map((c) => ({ data: JSON.stringify(c) })), { data: '[DONE]' }];
}

export async function startFakeOpenAI(opts: FakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const apiKey = opts.apiKey ?? `sk-fake-${randomId('', 24)}`;
  const script = new ScriptQueue<ChatScriptStep>(opts.script);
  const requests: RecordedRequest[] = [];
  const problems: string[] = [];

  function checkAuth(ctx: RequestContext): void {
    const header = ctx.req.headers.authorization;
    if (header === undefined || !header.startsWith('Bearer '))
      throw new HttpError(
        401,
        'invalid_request_error',
        "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        { code: 'invalid_api_key' },
      );
    const key = header.slice('Bearer '.length);
    if (key !== apiKey)
      throw new HttpError(
        401,
        'invalid_request_error',
        `Incorrect API key provided: ${key.slice(0, 3)}***${key.slice(-4)}.`,
        {
          code: 'invalid_api_key',
        },
      );
  }

  function nextStep(body: unknown): ScriptedChatReply | ScriptedError | ScriptedChatTrouble {
    const step = script.shift();
    if (step === undefined) throw scriptBug('server_error', 'fake-openai: script exhausted');
    if (typeof step !== 'function') return step;
    try {
      return step(structuredClone(body));
    } catch (err) {
      throw scriptBug('server_error', `fake-openai: script function threw: ${(err as Error).message}`);
    }
  }

  function completions(ctx: RequestContext, requestId: string): void {
    checkAuth(ctx);
    if (typeof ctx.body === 'symbol')
      throw new HttpError(400, 'invalid_request_error', 'We could not parse the JSON body of your request.');
    const { toolNames, toolChoice } = validateChatRequest(ctx.body, opts.models, opts.extraParams ?? []);
    const body = ctx.body as Record<string, Json>;
    const promptTokens = Math.ceil(JSON.stringify(body).length / 4);
    if (opts.contextTokens !== undefined && promptTokens > opts.contextTokens)
      throw new HttpError(
        400,
        'invalid_request_error',
        `This model's maximum context length is ${opts.contextTokens} tokens. However, your messages resulted in ${promptTokens} tokens. Please reduce the length of the messages.`,
        { param: 'messages', code: 'context_length_exceeded' },
      );
    const step = nextStep(body);
    const headers = { 'x-request-id': requestId };
    if (isScriptedError(step)) {
      sendJson(ctx.res, step.status, errorBody(step.type, step.message), { ...headers, ...step.headers });
      return;
    }
    const trouble = isTrouble(step) ? step : undefined;
    const reply = isTrouble(step) ? troubledReply(step) : step;
    if (!reply) return; // a hang: never answered
    const { content, calls, finish } = materialize(reply, body, toolNames, toolChoice);
    const prompt = reply.usage?.prompt_tokens ?? Math.ceil(ctx.record.rawBody.length / 4);
    const completion =
      reply.usage?.completion_tokens ?? Math.ceil(JSON.stringify({ content, calls }).length / 4);
    const usage = { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
    const base = { id: randomId('chatcmpl-', 29), created: Math.floor(Date.now() / 1000), model: body.model };
    if (body.stream === true) {
      const includeUsage = body.stream_options?.include_usage === true;
      const chunks = streamChunks(base, content, calls, finish, usage, includeUsage);
      if (trouble) playTrouble(ctx.res, trouble, sseBody(chunks), headers, 'server_error');
      else sendSse(ctx.res, chunks, headers);
      return;
    }
    const message = { role: 'assistant', content, ...(calls.length > 0 ? { tool_calls: calls } : {}) };
    const whole = {
      ...base,
      object: 'chat.completion',
      choices: [{ index: 0, message, logprobs: null, finish_reason: finish }],
      usage,
    };
    if (trouble) playTrouble(ctx.res, trouble, jsonBody(whole), headers, 'server_error');
    else sendJson(ctx.res, 200, whole, headers);
  }

  function modelsEndpoint(ctx: RequestContext, requestId: string, id: string | undefined): void {
    checkAuth(ctx);
    const all = (opts.models ?? DEFAULT_OPENAI_MODELS).map((m) => ({
      id: m,
      object: 'model',
      created: 1735689600,
      owned_by: 'fake-openai',
    }));
    if (id === undefined) {
      sendJson(ctx.res, 200, { object: 'list', data: all }, { 'x-request-id': requestId });
      return;
    }
    const found = all.find((m) => m.id === id);
    if (!found)
      throw new HttpError(
        404,
        'invalid_request_error',
        `The model \`${id}\` does not exist or you do not have access to it.`,
        {
          code: 'model_not_found',
        },
      );
    sendJson(ctx.res, 200, found, { 'x-request-id': requestId });
  }

  const started = await startRecordingServer(
    requests,
    async (ctx) => {
      const requestId = randomId('req_', 32);
      try {
        const modelMatch = /^\/v1\/models\/(.+)$/.exec(ctx.path);
        if (ctx.method === 'POST' && ctx.path === '/v1/chat/completions') completions(ctx, requestId);
        else if (ctx.method === 'GET' && ctx.path === '/v1/models') modelsEndpoint(ctx, requestId, undefined);
        else if (ctx.method === 'GET' && modelMatch)
          modelsEndpoint(ctx, requestId, decodeURIComponent(modelMatch[1] ?? ''));
        else throw new HttpError(404, 'invalid_request_error', `Invalid URL (${ctx.method} ${ctx.path})`);
      } catch (err) {
        if (!(err instanceof HttpError)) throw err;
        problems.push(`${ctx.method} ${ctx.path} -> ${err.status} ${err.type}: ${err.message}`);
        const { param = null, code = null, headers } = err.extra;
        sendJson(ctx.res, err.status, errorBody(err.type, err.message, param, code), {
          'x-request-id': requestId,
          ...headers,
        });
      }
    },
    (ctx, err) => {
      problems.push(
        `fake-openai crashed on ${ctx.method} ${ctx.path}: ${(err as Error).stack ?? String(err)}`,
      );
      sendJson(ctx.res, 500, errorBody('server_error', 'fake-openai: internal error'), {
        'x-should-retry': 'false',
      });
    },
  );

  const takeUnconsumed = () => script.drain().map(describeStep);
  const standIn = registerStandIn({ name: `openai ${started.origin}`, problems, takeUnconsumed });
  return {
    url: `${started.origin}/v1`,
    apiKey,
    requests,
    problems,
    takeProblems: standIn.takeProblems,
    push: (...steps) => script.push(...steps),
    remaining: () => script.length,
    takeUnconsumed,
    close: () => {
      standIn.closed();
      return started.close();
    },
  };
}
