import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { AgentEvent } from '../../src/agent/agent-events.js';
import { AgentLoop } from '../../src/agent/agent-loop.js';
import { TOOL_SCHEMAS } from '../../src/agent/tools/tool-schemas.js';
import { readEnv } from '../../src/config/env.js';
import { AirlockError } from '../../src/errors.js';
import { createModelClient } from '../../src/models/create-model-client.js';
import type { Message, ModelClient, ModelRequest } from '../../src/runs/ports/model.js';
import { LocalSandboxProvider } from '../../src/sandbox/local/local-sandbox.js';
import type { Json } from '../fakes/http.js';
import { type ChatScriptStep, type FakeOpenAI, startFakeOpenAI } from '../fakes/openai-server.js';
import { validateChatRequest } from '../fakes/openai-validate.js';

const MODEL = 'fake-coder-7b';

async function fakeOpenAI(script: ChatScriptStep[] = []): Promise<FakeOpenAI> {
  const fake = await startFakeOpenAI({ script });
  onTestFinished(() => fake.close());
  return fake;
}

function clientFor(baseUrl: string, apiKey: string): ModelClient {
  return createModelClient(
    readEnv({
      AIRLOCK_PROVIDER: 'openai',
      OPENAI_BASE_URL: baseUrl,
      OPENAI_API_KEY: apiKey,
      AIRLOCK_MODEL: MODEL,
    }),
  );
}

function request(messages: Message[], extra: Partial<ModelRequest> = {}): ModelRequest {
  return {
    system: 'You are a careful coding agent.',
    messages,
    tools: ['bash', 'str_replace_based_edit_tool'],
    maxOutputTokens: 512,
    ...extra,
  };
}

const TASK: Message = { role: 'user', content: [{ type: 'text', text: 'List the files.' }] };

const BAD_ARGUMENTS = '{"command": "ls';
const badCall = {
  role: 'assistant',
  content: null,
  tool_calls: [{ id: 'call_bad', type: 'function', function: { name: 'bash', arguments: BAD_ARGUMENTS } }],
};

/**
 * A bare Chat Completions endpoint that answers with canned completions verbatim, for replies the
 * scripted fake cannot produce (it always serializes tool arguments as valid JSON).
 */
async function cannedChatServer(replies: Json[]): Promise<{ url: string; bodies: Json[] }> {
  const bodies: Json[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      const reply = replies.shift();
      const payload = JSON.stringify(
        reply ?? { error: { message: 'no more replies', type: 'server_error' } },
      );
      res.writeHead(reply ? 200 : 500, { 'content-type': 'application/json', 'x-should-retry': 'false' });
      res.end(payload);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, bodies };
}

function completion(message: Json, finishReason: string) {
  return {
    id: 'chatcmpl-canned',
    object: 'chat.completion',
    created: 1735689600,
    model: MODEL,
    choices: [{ index: 0, message, logprobs: null, finish_reason: finishReason }],
    usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
  };
}

describe('OpenAIModel over the real openai SDK against the fake Chat Completions API', () => {
  it('offers bash and str_replace_based_edit_tool as functions with JSON schemas', async () => {
    const fake = await fakeOpenAI([{ content: 'ok' }]);
    await clientFor(fake.url, fake.apiKey).complete(request([TASK]));
    expect(fake.problems).toEqual([]);
    const body = fake.requests[0]?.body;
    expect(body.model).toBe(MODEL);
    expect(body.max_tokens).toBe(512);
    expect(body.tools).toEqual([
      {
        type: 'function',
        function: {
          name: 'bash',
          description: TOOL_SCHEMAS.bash.description,
          parameters: TOOL_SCHEMAS.bash.parameters,
        },
      },
      {
        type: 'function',
        function: {
          name: 'str_replace_based_edit_tool',
          description: TOOL_SCHEMAS.str_replace_based_edit_tool.description,
          parameters: TOOL_SCHEMAS.str_replace_based_edit_tool.parameters,
        },
      },
    ]);
    expect(body.tools[0].function.parameters).toMatchObject({
      type: 'object',
      properties: { command: { type: 'string' } },
    });
    expect(body.tools[1].function.parameters).toMatchObject({
      type: 'object',
      required: ['command', 'path'],
    });
    expect(body.messages).toEqual([
      { role: 'system', content: 'You are a careful coding agent.' },
      { role: 'user', content: 'List the files.' },
    ]);
  });

  it('maps finish_reason tool_calls to stopReason tool_use with parsed arguments, and maps usage', async () => {
    const fake = await fakeOpenAI([
      {
        content: 'Listing.',
        tool_calls: [{ id: 'call_ls', name: 'bash', arguments: { command: 'ls -la' } }],
        usage: { prompt_tokens: 321, completion_tokens: 17 },
      },
    ]);
    const deltas: string[] = [];
    const response = await clientFor(fake.url, fake.apiKey).complete(
      request([TASK], { onText: (d) => deltas.push(d) }),
    );
    expect(response).toEqual({
      content: [
        { type: 'text', text: 'Listing.' },
        { type: 'tool_use', id: 'call_ls', name: 'bash', input: { command: 'ls -la' } },
      ],
      stopReason: 'tool_use',
      model: MODEL,
      usage: { inputTokens: 321, outputTokens: 17, cacheReadTokens: 0, cacheWriteTokens: 0 },
    });
    expect(deltas.join('')).toBe('Listing.');
  });

  it('maps finish_reason stop to end_turn and length to max_tokens', async () => {
    const fake = await fakeOpenAI([{ content: 'Done.' }, { content: 'Cut o', finish_reason: 'length' }]);
    const model = clientFor(fake.url, fake.apiKey);
    expect((await model.complete(request([TASK]))).stopReason).toBe('end_turn');
    expect((await model.complete(request([TASK]))).stopReason).toBe('max_tokens');
  });

  it('sends tool results back as role tool messages with the matching tool_call_id', async () => {
    const fake = await fakeOpenAI([
      {
        tool_calls: [
          { id: 'call_1', name: 'bash', arguments: { command: 'ls' } },
          { id: 'call_2', name: 'str_replace_based_edit_tool', arguments: { command: 'view', path: '.' } },
        ],
      },
      { content: 'Two files.' },
    ]);
    const model = clientFor(fake.url, fake.apiKey);
    const first = await model.complete(request([TASK]));
    const messages: Message[] = [
      TASK,
      { role: 'assistant', content: first.content },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_1', content: 'a.ts\nb.ts' },
          { type: 'tool_result', tool_use_id: 'call_2', content: 'Error: nope', is_error: true },
        ],
      },
    ];
    const second = await model.complete(request(messages));
    expect(fake.problems).toEqual([]);
    expect(second.content).toEqual([{ type: 'text', text: 'Two files.' }]);
    expect(fake.requests[1]?.body.messages).toEqual([
      { role: 'system', content: 'You are a careful coding agent.' },
      { role: 'user', content: 'List the files.' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_1', type: 'function', function: { name: 'bash', arguments: '{"command":"ls"}' } },
          {
            id: 'call_2',
            type: 'function',
            function: { name: 'str_replace_based_edit_tool', arguments: '{"command":"view","path":"."}' },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'call_1', content: 'a.ts\nb.ts' },
      { role: 'tool', tool_call_id: 'call_2', content: 'Error: nope' },
    ]);
  });

  it('does not crash on invalid JSON tool arguments: they come back as an _invalid_json input', async () => {
    const server = await cannedChatServer([completion(badCall, 'tool_calls')]);
    const response = await clientFor(server.url, 'sk-unused').complete(request([TASK]));
    expect(response.stopReason).toBe('tool_use');
    expect(response.content).toEqual([
      { type: 'tool_use', id: 'call_bad', name: 'bash', input: { _invalid_json: BAD_ARGUMENTS } },
    ]);
  });

  it('lets the bash tool reject an invalid-JSON call in a run, sending a well-formed follow-up request', async () => {
    const server = await cannedChatServer([
      completion(badCall, 'tool_calls'),
      completion({ role: 'assistant', content: 'Sorry, retrying later.' }, 'stop'),
    ]);
    const root = mkdtempSync(join(tmpdir(), 'airlock-openai-'));
    onTestFinished(() => rmSync(root, { recursive: true, force: true }));
    const sandbox = await new LocalSandboxProvider(root, { isolation: 'none' }).create('run-bad-json');
    const events: AgentEvent[] = [];
    const loop = new AgentLoop({
      model: clientFor(server.url, 'sk-unused'),
      sandbox,
      price: undefined,
      redact: (t) => t,
      onEvent: (e) => events.push(e),
    });
    const stop = await loop.run({
      system: 'sys',
      messages: [TASK],
      budget: {
        maxSteps: 5,
        deadline: Date.now() + 60_000,
        maxTokens: 1_000_000,
        maxCostUsd: 10,
        commandTimeoutMs: 10_000,
        maxOutputTokens: 512,
        contextTokens: 128_000,
      },
    });
    const rejection = 'Error: no command given. Pass {"command": "..."}.';
    expect(stop).toEqual({ kind: 'finished', summary: 'Sorry, retrying later.' });
    const finished = events.find((e) => e.type === 'tool-finished');
    expect(finished?.type === 'tool-finished' && finished.outcome).toMatchObject({
      isError: true,
      content: rejection,
    });
    expect(server.bodies).toHaveLength(2);
    const followUp = server.bodies[1];
    // A strict server accepts it: the arguments are re-serialized as valid JSON.
    expect(() => validateChatRequest(followUp, [MODEL], [])).not.toThrow();
    expect(followUp.messages.slice(2)).toEqual([
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          {
            id: 'call_bad',
            type: 'function',
            function: { name: 'bash', arguments: JSON.stringify({ _invalid_json: BAD_ARGUMENTS }) },
          },
        ],
      },
      { role: 'tool', tool_call_id: 'call_bad', content: rejection },
    ]);
  });

  it('turns a refused API key into model_failed naming OPENAI_API_KEY without echoing the key', async () => {
    const fake = await fakeOpenAI([{ content: 'never' }]);
    const wrongKey = 'sk-wrong-0123456789abcdef';
    const error = await clientFor(fake.url, wrongKey)
      .complete(request([TASK]))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AirlockError);
    expect((error as AirlockError).code).toBe('model_failed');
    expect((error as AirlockError).message).toContain('OPENAI_API_KEY');
    expect((error as AirlockError).message).not.toContain(wrongKey);
    expect(fake.requests).toHaveLength(1);
    expect(fake.takeProblems()).toEqual([
      expect.stringContaining('401 invalid_request_error: Incorrect API key'),
    ]);
    expect(fake.takeUnconsumed()).toEqual(['reply [content "never"]']);
  });

  it('rejects with code cancelled when the signal is aborted while the request is in flight', async () => {
    const controller = new AbortController();
    const fake = await fakeOpenAI([
      () => {
        controller.abort();
        return { content: 'too late' };
      },
    ]);
    const error = await clientFor(fake.url, fake.apiKey)
      .complete(request([TASK], { signal: controller.signal }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AirlockError);
    expect((error as AirlockError).code).toBe('cancelled');
  });
});
