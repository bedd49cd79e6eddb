import { describe, expect, it, onTestFinished } from 'vitest';
import { readEnv } from '../../src/config/env.js';
import { AirlockError } from '../../src/errors.js';
import { createModelClient } from '../../src/models/create-model-client.js';
import { DEFAULT_ANTHROPIC_MODEL } from '../../src/models/default-model.js';
import type { Message, ModelClient, ModelRequest } from '../../src/runs/ports/model.js';
import { type FakeAnthropic, type ScriptStep, startFakeAnthropic } from '../fakes/anthropic-server.js';
import type { Json } from '../fakes/http.js';

async function fakeAnthropic(script: ScriptStep[] = []): Promise<FakeAnthropic> {
  const fake = await startFakeAnthropic({ script });
  onTestFinished(() => fake.close());
  return fake;
}

function clientFor(fake: FakeAnthropic, apiKey = fake.apiKey): ModelClient {
  return createModelClient(readEnv({ ANTHROPIC_API_KEY: apiKey, ANTHROPIC_BASE_URL: fake.url }));
}

function request(messages: Message[], extra: Partial<ModelRequest> = {}): ModelRequest {
  return {
    system: 'You are a careful coding agent.',
    messages,
    tools: ['bash', 'str_replace_based_edit_tool'],
    maxOutputTokens: 1024,
    ...extra,
  };
}

/** Paths of every block carrying cache_control in a recorded Messages request body, in prompt order. */
function breakpoints(body: Json): string[] {
  const paths: string[] = [];
  (body.tools ?? []).forEach((t: Json, i: number) => {
    if (t.cache_control) paths.push(`tools.${i}`);
  });
  (Array.isArray(body.system) ? body.system : []).forEach((b: Json, i: number) => {
    if (b.cache_control) paths.push(`system.${i}`);
  });
  (body.messages ?? []).forEach((m: Json, i: number) => {
    (Array.isArray(m.content) ? m.content : []).forEach((b: Json, j: number) => {
      if (b.cache_control) paths.push(`messages.${i}.content.${j}`);
    });
  });
  return paths;
}

const TASK: Message = { role: 'user', content: [{ type: 'text', text: 'Fix the failing test.' }] };

describe('AnthropicModel over the real @anthropic-ai/sdk against the fake Messages API', () => {
  it('offers exactly the bash_20250124 and text_editor_20250728 client tools and streams the request', async () => {
    const fake = await fakeAnthropic([{ content: [{ type: 'text', text: 'ok' }] }]);
    await clientFor(fake).complete(request([TASK]));
    expect(fake.problems).toEqual([]);
    const body = fake.requests[0]?.body;
    expect(body.stream).toBe(true);
    expect(fake.requests[0]?.stream).toBe(true);
    expect(body.model).toBe(DEFAULT_ANTHROPIC_MODEL);
    expect(body.max_tokens).toBe(1024);
    expect(body.tools.map((t: Json) => ({ type: t.type, name: t.name }))).toEqual([
      { type: 'bash_20250124', name: 'bash' },
      { type: 'text_editor_20250728', name: 'str_replace_based_edit_tool' },
    ]);
    expect(body.system).toEqual([
      { type: 'text', text: 'You are a careful coding agent.', cache_control: { type: 'ephemeral' } },
    ]);
  });

  it('places cache breakpoints on the last tool, the system block, the newest message and the previous user message, never more than 4', async () => {
    const fake = await fakeAnthropic([
      { content: [{ type: 'tool_use', id: 'toolu_a', name: 'bash', input: { command: 'ls' } }] },
      {
        content: [
          { type: 'text', text: 'Two more.' },
          { type: 'tool_use', id: 'toolu_b', name: 'bash', input: { command: 'npm test' } },
          {
            type: 'tool_use',
            id: 'toolu_c',
            name: 'str_replace_based_edit_tool',
            input: { command: 'view', path: 'a.ts' },
          },
        ],
      },
      { content: [{ type: 'text', text: 'Done.' }] },
    ]);
    const model = clientFor(fake);
    const messages: Message[] = [TASK];

    const first = await model.complete(request(messages));
    messages.push({ role: 'assistant', content: first.content });
    messages.push({
      role: 'user',
      content: [{ type: 'tool_result', tool_use_id: 'toolu_a', content: 'a.ts' }],
    });
    const second = await model.complete(request(messages));
    messages.push({ role: 'assistant', content: second.content });
    messages.push({
      role: 'user',
      content: [
        { type: 'tool_result', tool_use_id: 'toolu_b', content: '1 failing', is_error: false },
        { type: 'tool_result', tool_use_id: 'toolu_c', content: '1\texport {}' },
      ],
    });
    const snapshot = structuredClone(messages);
    await model.complete(request(messages));

    expect(fake.problems).toEqual([]);
    expect(fake.requests.map((r) => breakpoints(r.body))).toEqual([
      ['tools.1', 'system.0', 'messages.0.content.0'],
      ['tools.1', 'system.0', 'messages.0.content.0', 'messages.2.content.0'],
      ['tools.1', 'system.0', 'messages.2.content.0', 'messages.4.content.1'],
    ]);
    for (const r of fake.requests) expect(breakpoints(r.body).length).toBeLessThanOrEqual(4);
    // The caller's conversation is not marked, so breakpoints never pile up across turns.
    expect(messages).toEqual(snapshot);
    expect(JSON.stringify(messages)).not.toContain('cache_control');
  });

  it('returns tool_use blocks in the port shape with their streamed input parsed, and maps usage including cache tokens', async () => {
    const input = { command: 'grep -rn "TODO" src | head -20' };
    const fake = await fakeAnthropic([
      {
        content: [
          { type: 'text', text: 'Searching for TODOs.' },
          { type: 'tool_use', id: 'toolu_01abc', name: 'bash', input },
        ],
        usage: {
          input_tokens: 120,
          output_tokens: 33,
          cache_creation_input_tokens: 900,
          cache_read_input_tokens: 4500,
        },
      },
    ]);
    const response = await clientFor(fake).complete(request([TASK]));
    expect(response).toEqual({
      content: [
        { type: 'text', text: 'Searching for TODOs.' },
        { type: 'tool_use', id: 'toolu_01abc', name: 'bash', input },
      ],
      stopReason: 'tool_use',
      model: DEFAULT_ANTHROPIC_MODEL,
      usage: { inputTokens: 120, outputTokens: 33, cacheReadTokens: 4500, cacheWriteTokens: 900 },
    });
  });

  it('maps end_turn and max_tokens stop reasons', async () => {
    const fake = await fakeAnthropic([
      { content: [{ type: 'text', text: 'All done.' }] },
      { content: [{ type: 'text', text: 'Cut o' }], stop_reason: 'max_tokens' },
    ]);
    const model = clientFor(fake);
    expect((await model.complete(request([TASK]))).stopReason).toBe('end_turn');
    expect((await model.complete(request([TASK]))).stopReason).toBe('max_tokens');
  });

  it('hands streamed text to onText as it arrives, in pieces that add up to the reply', async () => {
    const text = 'I will look at the failing test first, then fix it.';
    const fake = await fakeAnthropic([{ content: [{ type: 'text', text }] }]);
    const deltas: string[] = [];
    const response = await clientFor(fake).complete(request([TASK], { onText: (d) => deltas.push(d) }));
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe(text);
    expect(response.content).toEqual([{ type: 'text', text }]);
  });

  it('lets the SDK retry a 529 overloaded_error and returns the reply that follows', async () => {
    const fake = await fakeAnthropic([
      { status: 529, type: 'overloaded_error', message: 'Overloaded', headers: { 'retry-after-ms': '1' } },
      { content: [{ type: 'text', text: 'Back again.' }] },
    ]);
    const response = await clientFor(fake).complete(request([TASK]));
    expect(response.content).toEqual([{ type: 'text', text: 'Back again.' }]);
    expect(fake.requests).toHaveLength(2);
    expect(fake.requests[1]?.body).toEqual(fake.requests[0]?.body);
    expect(fake.remaining()).toBe(0);
  });

  it('turns a refused API key into model_failed naming ANTHROPIC_API_KEY without echoing the key', async () => {
    const fake = await fakeAnthropic([{ content: [{ type: 'text', text: 'never' }] }]);
    const wrongKey = 'sk-ant-wrong-0123456789abcdef';
    const error = await clientFor(fake, wrongKey)
      .complete(request([TASK]))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AirlockError);
    expect((error as AirlockError).code).toBe('model_failed');
    expect((error as AirlockError).message).toContain('ANTHROPIC_API_KEY');
    expect((error as AirlockError).message).toContain('401');
    expect((error as AirlockError).message).not.toContain(wrongKey);
    expect((error as AirlockError).message).not.toContain(fake.apiKey);
    expect(fake.requests).toHaveLength(1);
    expect(fake.takeProblems()).toEqual(['POST /v1/messages -> 401 authentication_error: invalid x-api-key']);
    expect(fake.takeUnconsumed()).toEqual(['reply [text "never"]']);
  });

  it('rejects with code cancelled when the signal is aborted while the request is in flight', async () => {
    const controller = new AbortController();
    const fake = await fakeAnthropic([
      () => {
        controller.abort();
        return { content: [{ type: 'text', text: 'too late' }] };
      },
    ]);
    const error = await clientFor(fake)
      .complete(request([TASK], { signal: controller.signal }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AirlockError);
    expect((error as AirlockError).code).toBe('cancelled');
    expect(fake.requests).toHaveLength(1);
  });

  it('rejects with code cancelled when the signal is aborted right after the request starts', async () => {
    const fake = await fakeAnthropic([{ content: [{ type: 'text', text: 'too late' }] }]);
    const controller = new AbortController();
    const pending = clientFor(fake).complete(request([TASK], { signal: controller.signal }));
    controller.abort();
    const error = await pending.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AirlockError);
    expect((error as AirlockError).code).toBe('cancelled');
    // Whether the request left before the abort is a race: the one reply was asked for or is left over.
    expect(fake.requests.length + fake.takeUnconsumed().length).toBe(1);
  });
});
