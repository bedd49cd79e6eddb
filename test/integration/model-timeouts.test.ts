// model.idle_timeout_seconds and model.request_timeout_seconds, kept by the real SDK clients (as
// createModelClient builds them) against stand-ins that hang, stall and drip on cue.
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { readEnv } from '../../src/config/env.js';
import { AirlockError } from '../../src/errors.js';
import { createModelClient } from '../../src/models/create-model-client.js';
import type { ModelTimeouts } from '../../src/models/model-timeouts.js';
import type { ModelClient, ModelRequest } from '../../src/runs/ports/model.js';
import { type FakeAnthropic, type ScriptedReply, startFakeAnthropic } from '../fakes/anthropic-server.js';
import type { ScriptedError } from '../fakes/http.js';
import type { Trouble } from '../fakes/hung-endpoint.js';
import { type ScriptedChatReply, startFakeOpenAI } from '../fakes/openai-server.js';

type Fake = Pick<
  FakeAnthropic,
  'url' | 'apiKey' | 'requests' | 'problems' | 'takeProblems' | 'remaining' | 'close'
>;

/** One provider's stand-in, client and wording, so both keep the same promises. */
interface Side<R> {
  start(script: Array<R | Trouble<R> | ScriptedError>): Promise<Fake>;
  client(fake: Fake, timeouts: ModelTimeouts): ModelClient;
  /** How failures name the endpoint. */
  name(fake: Fake): string;
  /** The setting a hang message tells the operator to check. */
  hint: string;
  reply(text: string): R;
  /** Stream events a stall sends before going quiet: the reply is under way, text included. */
  stallAfter: number;
}

const anthropic: Side<ScriptedReply> = {
  start: (script) => startFakeAnthropic({ script }),
  client: (fake, timeouts) =>
    createModelClient(
      readEnv({ ANTHROPIC_API_KEY: fake.apiKey, ANTHROPIC_BASE_URL: fake.url }),
      undefined,
      timeouts,
    ),
  name: () => 'Anthropic',
  hint: 'ANTHROPIC_BASE_URL',
  reply: (text) => ({ content: [{ type: 'text', text }] }),
  stallAfter: 4, // message_start, ping, content_block_start, the first text delta
};

const openai: Side<ScriptedChatReply> = {
  start: (script) => startFakeOpenAI({ script }),
  client: (fake, timeouts) =>
    createModelClient(
      readEnv({
        AIRLOCK_PROVIDER: 'openai',
        OPENAI_BASE_URL: fake.url,
        OPENAI_API_KEY: fake.apiKey,
        AIRLOCK_MODEL: 'fake-coder-7b',
      }),
      undefined,
      timeouts,
    ),
  name: (fake) => `OpenAI-compatible endpoint ${new URL(fake.url).host}`,
  hint: 'OPENAI_BASE_URL',
  reply: (text) => ({ content: text }),
  stallAfter: 2, // the role chunk, the first content chunk
};

/** Short enough for a test, far enough apart to tell which one ended a call. */
const SHORT: ModelTimeouts = { idleTimeoutMs: 300, requestTimeoutMs: 3000 };

const ASK: ModelRequest = {
  system: 'You are a careful coding agent.',
  messages: [{ role: 'user', content: [{ type: 'text', text: 'Say hello.' }] }],
  tools: ['bash', 'str_replace_based_edit_tool'],
  maxOutputTokens: 256,
};

const TEXT = 'Hello there, this reply streams in several pieces.';

async function standIn<R>(side: Side<R>, script: Array<R | Trouble<R> | ScriptedError>): Promise<Fake> {
  const fake = await side.start(script);
  onTestFinished(() => fake.close());
  return fake;
}

/** The call's failure and how long it took to come. */
async function failureOf(call: () => Promise<unknown>): Promise<{ error: AirlockError; seconds: number }> {
  const started = performance.now();
  const error = await call().then(
    () => new Error('the call succeeded'),
    (e: unknown) => e,
  );
  const seconds = (performance.now() - started) / 1000;
  expect(error).toBeInstanceOf(AirlockError);
  return { error: error as AirlockError, seconds };
}

/** The stand-in saw nothing it refused, served its whole script, and was asked this many times. */
function expectScriptServed(fake: Fake, requests: number): void {
  expect(fake.problems).toEqual([]);
  expect(fake.remaining()).toBe(0);
  expect(fake.requests).toHaveLength(requests);
}

function keepsTheTimeoutPromises<R>(side: Side<R>): void {
  it('a normal reply still arrives with the timeouts set', async () => {
    const fake = await standIn(side, [side.reply('All done.')]);
    const response = await side.client(fake, SHORT).complete(ASK);
    expect(response.content).toEqual([{ type: 'text', text: 'All done.' }]);
    expect(response.stopReason).toBe('end_turn');
    expectScriptServed(fake, 1);
  });

  it('an endpoint that never sends headers fails the call after two idle attempts, naming the provider and model.idle_timeout_seconds', async () => {
    const fake = await standIn(side, [{ hang: true }, { hang: true }]);
    const { error, seconds } = await failureOf(() => side.client(fake, SHORT).complete(ASK));
    expect(error.code).toBe('model_failed');
    expect(error.message).toContain(
      `${side.name(fake)}: no response for 0.3 s (model.idle_timeout_seconds) on 2 attempts. Check ${side.hint}, the egress proxy`,
    );
    // Two idle waits and one backoff (under 0.5 s), well before the 3 s total.
    expect(seconds).toBeGreaterThanOrEqual(0.6);
    expect(seconds).toBeLessThan(2);
    expectScriptServed(fake, 2);
  });

  it('one attempt that hangs is retried once, and the reply that follows arrives', async () => {
    const fake = await standIn(side, [{ hang: true }, side.reply('Second time lucky.')]);
    const response = await side.client(fake, SHORT).complete(ASK);
    expect(response.content).toEqual([{ type: 'text', text: 'Second time lucky.' }]);
    expectScriptServed(fake, 2);
  });

  it('a reply that stalls mid-stream fails the call one idle timeout after its last byte, without a retry', async () => {
    const fake = await standIn(side, [{ stall: side.reply(TEXT), afterEvents: side.stallAfter }]);
    const streamed: string[] = [];
    const { error, seconds } = await failureOf(() =>
      side.client(fake, SHORT).complete({ ...ASK, onText: (d) => streamed.push(d) }),
    );
    expect(streamed.join('')).not.toBe('');
    expect(TEXT.startsWith(streamed.join(''))).toBe(true);
    expect(error.code).toBe('model_failed');
    expect(error.message).toContain(
      `${side.name(fake)}: the reply stopped mid-stream: nothing for 0.3 s (model.idle_timeout_seconds). Check ${side.hint},`,
    );
    expect(seconds).toBeGreaterThanOrEqual(0.3);
    expect(seconds).toBeLessThan(1.5);
    expectScriptServed(fake, 1);
  });

  it('a reply that keeps coming, each pause shorter than the idle timeout, is not cut however long it takes in all', async () => {
    // Every event 0.1 s apart: the whole reply takes several idle timeouts.
    const fake = await standIn(side, [{ drip: side.reply(TEXT), gapMs: 100 }]);
    const started = performance.now();
    const response = await side.client(fake, SHORT).complete(ASK);
    expect((performance.now() - started) / 1000).toBeGreaterThan(0.6);
    expect(response.content).toEqual([{ type: 'text', text: TEXT }]);
    expectScriptServed(fake, 1);
  });

  it('a reply that never pauses but outlasts model.request_timeout_seconds is cut at the total', async () => {
    const fake = await standIn(side, [{ drip: side.reply(TEXT), gapMs: 250 }]);
    const timeouts = { idleTimeoutMs: 600, requestTimeoutMs: 1000 };
    const { error, seconds } = await failureOf(() => side.client(fake, timeouts).complete(ASK));
    expect(error.code).toBe('model_failed');
    expect(error.message).toContain(
      `${side.name(fake)}: the request did not finish within 1 s (model.request_timeout_seconds), retries included. Check ${side.hint},`,
    );
    expect(seconds).toBeGreaterThanOrEqual(0.95);
    expect(seconds).toBeLessThan(1.6);
    expectScriptServed(fake, 1);
  });

  it("model.request_timeout_seconds bounds the SDK's retries: a 429 asking for a 10 s wait ends the call at the total", async () => {
    const fake = await standIn(side, [
      { status: 429, type: 'rate_limit_error', message: 'Slow down.', headers: { 'retry-after': '10' } },
    ]);
    const timeouts = { idleTimeoutMs: 300, requestTimeoutMs: 1000 };
    const { error, seconds } = await failureOf(() => side.client(fake, timeouts).complete(ASK));
    expect(error.message).toContain('did not finish within 1 s (model.request_timeout_seconds)');
    expect(seconds).toBeGreaterThanOrEqual(0.95);
    expect(seconds).toBeLessThan(1.6);
    expectScriptServed(fake, 1);
  });

  it('cancelling a call that hangs ends it as cancelled at once, not as a timeout', async () => {
    const fake = await standIn(side, [{ hang: true }]);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const timeouts = { idleTimeoutMs: 2000, requestTimeoutMs: 5000 };
    const { error, seconds } = await failureOf(() =>
      side.client(fake, timeouts).complete({ ...ASK, signal: controller.signal }),
    );
    expect(error.code).toBe('cancelled');
    expect(seconds).toBeLessThan(1);
    expectScriptServed(fake, 1);
  });
}

describe('model timeouts with Anthropic (the @anthropic-ai/sdk client)', () => {
  keepsTheTimeoutPromises(anthropic);
});

describe('model timeouts with an OpenAI-compatible endpoint (the openai client)', () => {
  keepsTheTimeoutPromises(openai);
});

describe('the hung-endpoint steps of the model stand-ins', () => {
  it('closing a stand-in that holds a hung request returns at once, dropping the connection', async () => {
    const fake = await standIn(anthropic, [{ hang: true }]);
    const controller = new AbortController();
    const call = anthropic
      .client(fake, { idleTimeoutMs: 30_000, requestTimeoutMs: 60_000 })
      .complete({ ...ASK, signal: controller.signal })
      .catch((e: unknown) => e);
    await vi.waitFor(() => expect(fake.requests).toHaveLength(1));
    const started = performance.now();
    await fake.close();
    expect(performance.now() - started).toBeLessThan(500);
    controller.abort(); // the SDK would otherwise retry the dropped connection against a closed port
    expect(await call).toMatchObject({ code: 'cancelled' });
    expectScriptServed(fake, 1);
  });

  it('refuses a stall that would send the whole reply: that is no stall', async () => {
    const fake = await standIn(openai, [{ stall: openai.reply('Hi.'), afterEvents: 99 }]);
    const { error } = await failureOf(() => openai.client(fake, SHORT).complete(ASK));
    expect(error.code).toBe('model_failed');
    expect(fake.takeProblems()).toEqual([
      expect.stringContaining("stall afterEvents 99 must be below the reply's"),
    ]);
    expect(fake.remaining()).toBe(0);
  });
});
