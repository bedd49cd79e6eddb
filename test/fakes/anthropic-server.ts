// A scripted, strict fake of the Anthropic Messages API served over real HTTP on loopback,
// so tests drive the real `@anthropic-ai/sdk` client (pass `url` as `baseURL`).

import { createHash } from 'node:crypto';
import type Anthropic from '@anthropic-ai/sdk';
import { ThinkingLedger } from './anthropic-thinking.js';
import { validateMessagesRequest } from './anthropic-validate.js';
import {
  HttpError,
  isRecord,
  isScriptedError,
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
import { registerStandIn } from './stand-ins.js';

export type { RecordedRequest, ScriptedError } from './http.js';

export type MessagesRequestBody = Anthropic.MessageCreateParams;

export interface ScriptedReply {
  content: Array<
    | { type: 'text'; text: string }
    | { type: 'thinking'; thinking: string }
    | { type: 'tool_use'; id?: string; name: string; input: Record<string, unknown> }
  >;
  /** Default: 'tool_use' if any tool_use block, else 'end_turn'. */
  stop_reason?: 'end_turn' | 'tool_use' | 'max_tokens' | 'stop_sequence';
  usage?: Partial<{
    input_tokens: number;
    output_tokens: number;
    cache_creation_input_tokens: number;
    cache_read_input_tokens: number;
  }>;
}

/** A hung endpoint (see hung-endpoint.ts): `{ hang: true }`, `{ stall: reply }`, `{ drip: reply, gapMs }`. */
export type ScriptedTrouble = Trouble<ScriptedReply>;

export type ScriptStep =
  | ScriptedReply
  | ScriptedError
  | ScriptedTrouble
  | ((req: MessagesRequestBody) => ScriptedReply | ScriptedError | ScriptedTrouble);

export interface FakeAnthropic {
  /** Base URL to give the SDK as `baseURL`, e.g. http://127.0.0.1:PORT */
  url: string;
  apiKey: string;
  /** Every request, including rejected ones. */
  requests: RecordedRequest[];
  /** Every rejection reason / script misuse; any a test does not claim with takeProblems() fails it. */
  problems: string[];
  /** Claims the problems not yet checked, for a test that provokes them on purpose. */
  takeProblems(): string[];
  push(...steps: ScriptStep[]): void;
  /** Unconsumed script steps. */
  remaining(): number;
  /** Claims (and drops) the unconsumed steps, described, for a test that leaves them on purpose. */
  takeUnconsumed(): string[];
  close(): Promise<void>;
}

function describeStep(step: ScriptStep): string {
  if (typeof step === 'function') return 'a function step';
  if (isScriptedError(step)) return `error ${step.status} ${step.type}`;
  if (isTrouble(step)) return describeTrouble(step);
  const blocks = step.content.map((b) =>
    b.type === 'tool_use'
      ? `tool_use ${b.name}`
      : b.type === 'text'
        ? `text ${JSON.stringify(b.text)}`
        : b.type,
  );
  return `reply [${blocks.join(', ')}]`;
}

/** `anthropic-version` values the fake accepts (the SDK in use sends 2026-10-21). */
export const ANTHROPIC_VERSIONS = ['2023-01-01', '2023-06-01', '2026-10-21'];

export const DEFAULT_ANTHROPIC_MODELS = ['claude-opus-5-5', 'claude-sonnet-5-5', 'claude-haiku-5-5'];

type OutBlock =
  | { type: 'text'; text: string }
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> };

interface OutMessage {
  id: string;
  type: 'message';
  role: 'assistant';
  model: string;
  content: OutBlock[];
  stop_reason: string;
  stop_sequence: string | null;
  usage: {
    input_tokens: number;
    output_tokens: number;
    cache_creation_input_tokens: number;
    cache_read_input_tokens: number;
  };
}

function errorBody(type: string, message: string, requestId: string) {
  return { type: 'error', error: { type, message }, request_id: requestId };
}

function modelInfo(id: string) {
  // 'claude-sonnet-5-5' -> 'Claude Sonnet 5.5'
  const parts = id.split('-');
  const words = parts.filter((p) => !/^\d+$/.test(p)).map((w) => w.charAt(0).toUpperCase() + w.slice(1));
  const version = parts.filter((p) => /^\d{1,2}$/.test(p)).join('.');
  const display = [...words, version].filter(Boolean).join(' ');
  return { type: 'model', id, display_name: display, created_at: '2025-01-01T00:00:00Z' };
}

/** Checks a scripted reply against the request it answers; returns the final content blocks. */
function materialize(
  reply: ScriptedReply,
  body: MessagesRequestBody,
  toolNames: Set<string>,
  choice: { type: string; name?: string; disable_parallel_tool_use?: boolean } | undefined,
  ledger: ThinkingLedger,
): { content: OutBlock[]; stopReason: string; stopSequence: string | null } {
  if (!isRecord(reply) || !Array.isArray(reply.content))
    throw scriptBug('api_error', 'fake-anthropic: scripted reply must have a content array');
  const content: OutBlock[] = reply.content.map((b) => {
    if (b.type === 'text') {
      if (typeof b.text !== 'string' || b.text.length === 0)
        throw scriptBug('api_error', 'fake-anthropic: scripted text block must have non-empty text');
      return { type: 'text', text: b.text };
    }
    if (b.type === 'thinking') {
      if (typeof b.thinking !== 'string')
        throw scriptBug('api_error', 'fake-anthropic: scripted thinking block must have thinking text');
      return { type: 'thinking', thinking: b.thinking, signature: ledger.sign(b.thinking) };
    }
    if (b.type === 'tool_use') {
      if (!toolNames.has(b.name))
        throw scriptBug(
          'api_error',
          `fake-anthropic: scripted tool_use '${b.name}' is not among the request's tools [${[...toolNames].join(', ')}]`,
        );
      if (!isRecord(b.input))
        throw scriptBug('api_error', `fake-anthropic: scripted tool_use '${b.name}' input must be an object`);
      return { type: 'tool_use', id: b.id ?? randomId('toolu_01', 22), name: b.name, input: b.input };
    }
    throw scriptBug(
      'api_error',
      `fake-anthropic: unsupported scripted block type '${(b as { type: string }).type}'`,
    );
  });
  const uses = content.filter((b) => b.type === 'tool_use');
  const stopReason = reply.stop_reason ?? (uses.length > 0 ? 'tool_use' : 'end_turn');
  const misuse = (msg: string) => scriptBug('api_error', `fake-anthropic: ${msg}`);
  if (stopReason === 'tool_use' && uses.length === 0)
    throw misuse("stop_reason 'tool_use' without any tool_use block");
  if (uses.length > 0 && stopReason !== 'tool_use' && stopReason !== 'max_tokens')
    throw misuse(`tool_use blocks with stop_reason '${stopReason}'`);
  if (choice?.type === 'none' && uses.length > 0)
    throw misuse("tool_use scripted although tool_choice is 'none'");
  if (choice?.type === 'any' && uses.length === 0)
    throw misuse("tool_choice 'any' requires a scripted tool_use");
  if (choice?.type === 'tool' && !uses.some((u) => u.name === choice.name))
    throw misuse(`tool_choice forces tool '${choice.name}' but the script does not use it`);
  if (choice?.disable_parallel_tool_use && uses.length > 1)
    throw misuse('disable_parallel_tool_use is set but the script has several tool_use blocks');
  let stopSequence: string | null = null;
  if (stopReason === 'stop_sequence') {
    stopSequence = body.stop_sequences?.[0] ?? null;
    if (stopSequence === null)
      throw misuse("stop_reason 'stop_sequence' but the request has no stop_sequences");
  }
  return { content, stopReason, stopSequence };
}

function streamEvents(message: OutMessage, content: OutBlock[]) {
  const events: Array<{ event: string; data: string }> = [];
  const add = (payload: Record<string, unknown>) =>
    events.push({ event: payload.type as string, data: JSON.stringify(payload) });
  const { usage } = message;
  add({
    type: 'message_start',
    message: {
      ...message,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { ...usage, output_tokens: Math.min(1, usage.output_tokens) },
    },
  });
  add({ type: 'ping' });
  content.forEach((b, index) => {
    if (b.type === 'thinking') {
      add({
        type: 'content_block_start',
        index,
        content_block: { type: 'thinking', thinking: '', signature: '' },
      });
      for (const thinking of splitInto(b.thinking, 2))
        add({ type: 'content_block_delta', index, delta: { type: 'thinking_delta', thinking } });
      add({ type: 'content_block_delta', index, delta: { type: 'signature_delta', signature: b.signature } });
    } else if (b.type === 'text') {
      add({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } });
      for (const text of splitInto(b.text, 3))
        add({ type: 'content_block_delta', index, delta: { type: 'text_delta', text } });
    } else {
      add({
        type: 'content_block_start',
        index,
        content_block: { type: 'tool_use', id: b.id, name: b.name, input: {} },
      });
      for (const partial_json of ['', ...splitInto(JSON.stringify(b.input), 4)])
        add({ type: 'content_block_delta', index, delta: { type: 'input_json_delta', partial_json } });
    }
    add({ type: 'content_block_stop', index });
  });
  add({
    type: 'message_delta',
    delta: { stop_reason: message.stop_reason, stop_sequence: message.stop_sequence },
    usage: { output_tokens: usage.output_tokens },
  });
  add({ type: 'message_stop' });
  return events;
}

export async function startFakeAnthropic(
  opts: {
    apiKey?: string;
    script?: ScriptStep[];
    models?: string[];
    /**
     * The model's context window in tokens (the stand-in counts a token per 4 bytes of the
     * request): a longer prompt is refused as the API refuses it, before any script step is used.
     */
    contextTokens?: number;
    /**
     * Prompt caching as the API does it: the prefix up to a `cache_control` breakpoint (tools,
     * then system, then messages) that an earlier request wrote is read from the cache; the rest up
     * to the last breakpoint is written; usage says which (a token per 4 bytes).
     */
    promptCache?: boolean;
  } = {},
): Promise<FakeAnthropic> {
  const apiKey = opts.apiKey ?? `sk-ant-fake-${randomId('', 16)}`;
  const script = new ScriptQueue<ScriptStep>(opts.script);
  const requests: RecordedRequest[] = [];
  const problems: string[] = [];
  const ledger = new ThinkingLedger();

  // The API key may arrive as `x-api-key` or (SDK >= 1.0 / API version 2026-10-21) `Authorization: Bearer`.
  function checkAuth(ctx: RequestContext): void {
    const xKey = ctx.req.headers['x-api-key'];
    const bearer = /^Bearer (.+)$/.exec(ctx.req.headers.authorization ?? '')?.[1];
    if (xKey === undefined && bearer === undefined)
      throw new HttpError(401, 'authentication_error', 'x-api-key header is required');
    if ((xKey ?? bearer) !== apiKey) throw new HttpError(401, 'authentication_error', 'invalid x-api-key');
  }

  function nextStep(body: MessagesRequestBody): ScriptedReply | ScriptedError | ScriptedTrouble {
    const step = script.shift();
    if (step === undefined) throw scriptBug('api_error', 'fake-anthropic: script exhausted');
    if (typeof step !== 'function') return step;
    try {
      return step(structuredClone(body));
    } catch (err) {
      throw scriptBug('api_error', `fake-anthropic: script function threw: ${(err as Error).message}`);
    }
  }

  /** Prefixes written to the cache so far (by hash), as the API keeps them for a while. */
  const cachedPrefixes = new Set<string>();

  function cacheUsage(body: MessagesRequestBody): { input: number; read: number; write: number } {
    const blocks: Array<{ text: string; breakpoint: boolean }> = [];
    const add = (block: unknown) => {
      // The marker is not part of what is cached: the same block is the same prefix with or without it.
      const { cache_control: marker, ...content } = (block ?? {}) as Record<string, unknown>;
      blocks.push({ text: JSON.stringify(content), breakpoint: marker !== undefined });
    };
    for (const tool of (body.tools as unknown[] | undefined) ?? []) add(tool);
    const system = body.system as unknown;
    if (Array.isArray(system)) for (const block of system) add(block);
    else if (system !== undefined) add(system);
    for (const message of body.messages as Array<{ content: unknown }>) {
      if (Array.isArray(message.content)) for (const block of message.content) add(block);
      else add(message.content);
    }
    // A running hash gives the prefix's hash at every block boundary; the API looks for a cached
    // prefix at each breakpoint and up to 20 blocks before it.
    const running = createHash('sha256');
    const hashes: string[] = [];
    const lengths: number[] = [];
    let length = 0;
    for (const block of blocks) {
      running.update(block.text);
      length += block.text.length;
      hashes.push(running.copy().digest('hex'));
      lengths.push(length);
    }
    let read = 0;
    let lastBreak = 0;
    const written: string[] = [];
    blocks.forEach((block, i) => {
      if (!block.breakpoint) return;
      for (let j = i; j >= Math.max(0, i - 20); j--) {
        if (cachedPrefixes.has(hashes[j] as string)) {
          read = Math.max(read, lengths[j] as number);
          break;
        }
      }
      written.push(hashes[i] as string);
      lastBreak = lengths[i] as number;
    });
    // What this request writes is read by later ones, not by itself.
    for (const hash of written) cachedPrefixes.add(hash);
    const total = length;
    return {
      read: Math.ceil(read / 4),
      write: Math.ceil(Math.max(0, lastBreak - read) / 4),
      input: Math.ceil((total - Math.max(lastBreak, read)) / 4),
    };
  }

  function messagesEndpoint(ctx: RequestContext, requestId: string): void {
    checkAuth(ctx);
    const version = ctx.req.headers['anthropic-version'];
    if (version === undefined)
      throw new HttpError(400, 'invalid_request_error', 'anthropic-version: header is required');
    if (typeof version !== 'string' || !ANTHROPIC_VERSIONS.includes(version))
      throw new HttpError(400, 'invalid_request_error', `anthropic-version: invalid version '${version}'`);
    if (typeof ctx.body === 'symbol')
      throw new HttpError(
        400,
        'invalid_request_error',
        'There was an error parsing the body of your request: invalid JSON',
      );
    const { toolNames, toolChoice } = validateMessagesRequest(ctx.body, opts.models);
    const body = ctx.body as MessagesRequestBody;
    ledger.check(body.messages as unknown[]);
    const promptTokens = Math.ceil(ctx.record.rawBody.length / 4);
    if (opts.contextTokens !== undefined && promptTokens + Number(body.max_tokens ?? 0) > opts.contextTokens)
      throw new HttpError(
        400,
        'invalid_request_error',
        `prompt is too long: ${promptTokens} tokens > ${opts.contextTokens - Number(body.max_tokens ?? 0)} maximum`,
      );
    const step = nextStep(body);
    if (isScriptedError(step)) {
      sendJson(ctx.res, step.status, errorBody(step.type, step.message, requestId), {
        'request-id': requestId,
        ...step.headers,
      });
      return;
    }
    const trouble = isTrouble(step) ? step : undefined;
    const reply = isTrouble(step) ? troubledReply(step) : step;
    if (!reply) return; // a hang: never answered
    const { content, stopReason, stopSequence } = materialize(reply, body, toolNames, toolChoice, ledger);
    // A stalled reply never reaches the client, so its thinking is not expected back.
    if (!(trouble && 'stall' in trouble)) ledger.remember(content);
    const cached = opts.promptCache ? cacheUsage(body) : undefined;
    const usage = {
      input_tokens: reply.usage?.input_tokens ?? cached?.input ?? Math.ceil(ctx.record.rawBody.length / 4),
      output_tokens: reply.usage?.output_tokens ?? Math.ceil(JSON.stringify(content).length / 4),
      cache_creation_input_tokens: reply.usage?.cache_creation_input_tokens ?? cached?.write ?? 0,
      cache_read_input_tokens: reply.usage?.cache_read_input_tokens ?? cached?.read ?? 0,
    };
    const message: OutMessage = {
      id: randomId('msg_01', 22),
      type: 'message',
      role: 'assistant',
      model: body.model,
      content,
      stop_reason: stopReason,
      stop_sequence: stopSequence,
      usage,
    };
    if (trouble) {
      const out = body.stream === true ? sseBody(streamEvents(message, content)) : jsonBody(message);
      playTrouble(ctx.res, trouble, out, { 'request-id': requestId }, 'api_error');
    } else if (body.stream === true)
      sendSse(ctx.res, streamEvents(message, content), { 'request-id': requestId });
    else sendJson(ctx.res, 200, message, { 'request-id': requestId });
  }

  function modelsEndpoint(ctx: RequestContext, requestId: string, id: string | undefined): void {
    checkAuth(ctx);
    const all = (opts.models ?? DEFAULT_ANTHROPIC_MODELS).map(modelInfo);
    if (id !== undefined) {
      const found = all.find((m) => m.id === id);
      if (!found) throw new HttpError(404, 'not_found_error', `model: ${id}`);
      sendJson(ctx.res, 200, found, { 'request-id': requestId });
      return;
    }
    const limitRaw = ctx.query.get('limit');
    const limit = limitRaw === null ? 20 : Number(limitRaw);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new HttpError(400, 'invalid_request_error', 'limit: Input should be between 1 and 1000');
    let start = 0;
    const after = ctx.query.get('after_id');
    const before = ctx.query.get('before_id');
    if (after !== null) start = all.findIndex((m) => m.id === after) + 1;
    let page = all.slice(start, start + limit);
    if (before !== null) {
      const end = all.findIndex((m) => m.id === before);
      page = all.slice(Math.max(0, end - limit), Math.max(0, end));
    }
    const first = page[0];
    const last = page.at(-1);
    sendJson(
      ctx.res,
      200,
      {
        data: page,
        has_more:
          before !== null
            ? first !== undefined && all.indexOf(first) > 0
            : last !== undefined && all.indexOf(last) < all.length - 1,
        first_id: first?.id ?? null,
        last_id: last?.id ?? null,
      },
      { 'request-id': requestId },
    );
  }

  const started = await startRecordingServer(
    requests,
    async (ctx) => {
      const requestId = randomId('req_011', 21);
      try {
        const modelMatch = /^\/v1\/models\/([^/]+)$/.exec(ctx.path);
        if (ctx.method === 'POST' && ctx.path === '/v1/messages') messagesEndpoint(ctx, requestId);
        else if (ctx.method === 'GET' && ctx.path === '/v1/models') modelsEndpoint(ctx, requestId, undefined);
        else if (ctx.method === 'GET' && modelMatch)
          modelsEndpoint(ctx, requestId, decodeURIComponent(modelMatch[1] ?? ''));
        else throw new HttpError(404, 'not_found_error', 'Not Found');
      } catch (err) {
        if (!(err instanceof HttpError)) throw err;
        problems.push(`${ctx.method} ${ctx.path} -> ${err.status} ${err.type}: ${err.message}`);
        sendJson(ctx.res, err.status, errorBody(err.type, err.message, requestId), {
          'request-id': requestId,
          ...err.extra.headers,
        });
      }
    },
    (ctx, err) => {
      problems.push(
        `fake-anthropic crashed on ${ctx.method} ${ctx.path}: ${(err as Error).stack ?? String(err)}`,
      );
      sendJson(ctx.res, 500, errorBody('api_error', 'fake-anthropic: internal error', 'req_crash'), {
        'x-should-retry': 'false',
      });
    },
  );

  const takeUnconsumed = () => script.drain().map(describeStep);
  const standIn = registerStandIn({ name: `anthropic ${started.origin}`, problems, takeUnconsumed });
  return {
    url: started.origin,
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
