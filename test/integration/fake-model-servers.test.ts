import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type FakeAnthropic, type ScriptStep, startFakeAnthropic } from '../fakes/anthropic-server.js';
import { type ChatScriptStep, type FakeOpenAI, startFakeOpenAI } from '../fakes/openai-server.js';

const MODEL = 'claude-sonnet-5-5';
const BASH = { type: 'bash_20250124', name: 'bash' } as const;
const EDITOR = { type: 'text_editor_20250728', name: 'str_replace_based_edit_tool' } as const;

async function anthropicFake(script: ScriptStep[] = [], models?: string[]): Promise<FakeAnthropic> {
  const fake = await startFakeAnthropic({ script, ...(models ? { models } : {}) });
  onTestFinished(() => fake.close());
  return fake;
}

function anthropicClient(fake: FakeAnthropic, maxRetries = 0): Anthropic {
  return new Anthropic({ apiKey: fake.apiKey, baseURL: fake.url, maxRetries });
}

async function openaiFake(script: ChatScriptStep[] = []): Promise<FakeOpenAI> {
  const fake = await startFakeOpenAI({ script });
  onTestFinished(() => fake.close());
  return fake;
}

function openaiClient(fake: FakeOpenAI, maxRetries = 0): OpenAI {
  return new OpenAI({ apiKey: fake.apiKey, baseURL: fake.url, maxRetries });
}

const HI: Anthropic.MessageParam[] = [{ role: 'user', content: 'hi' }];

/** A minimal valid non-streaming request, overridden by `extra`. */
function params(extra: Partial<Anthropic.MessageCreateParamsNonStreaming> = {}) {
  return { model: MODEL, max_tokens: 10, messages: HI, ...extra };
}

/** A conversation where the assistant called bash once; `answer` is the following user turn. */
function afterToolUse(answer: Anthropic.MessageParam['content']): Anthropic.MessageParam[] {
  return [
    { role: 'user', content: 'list the files' },
    {
      role: 'assistant',
      content: [{ type: 'tool_use', id: 'toolu_1', name: 'bash', input: { command: 'ls' } }],
    },
    { role: 'user', content: answer },
  ];
}

describe('fake Anthropic server driven by @anthropic-ai/sdk', () => {
  it('returns scripted tool_use blocks with parsed input and accepts the matching tool_result (non-streaming)', async () => {
    const fake = await anthropicFake([
      {
        content: [
          { type: 'text', text: 'Looking.' },
          { type: 'tool_use', id: 'toolu_abc', name: 'bash', input: { command: 'ls -la' } },
        ],
      },
      (req) => ({
        content: [{ type: 'text', text: `saw ${JSON.stringify(req.messages.at(-1)?.content)}` }],
        usage: { input_tokens: 7 },
      }),
    ]);
    const client = anthropicClient(fake);
    const first = await client.messages.create({
      model: MODEL,
      max_tokens: 1024,
      tools: [BASH, EDITOR],
      messages: [{ role: 'user', content: 'list the files' }],
    });
    expect(first.stop_reason).toBe('tool_use');
    expect(first.content).toEqual([
      { type: 'text', text: 'Looking.' },
      { type: 'tool_use', id: 'toolu_abc', name: 'bash', input: { command: 'ls -la' } },
    ]);
    expect(first.usage.input_tokens).toBe(Math.ceil((fake.requests[0]?.rawBody.length ?? 0) / 4));
    const second = await client.messages.create({
      model: MODEL,
      max_tokens: 1024,
      tools: [BASH, EDITOR],
      messages: [
        { role: 'user', content: 'list the files' },
        { role: 'assistant', content: first.content },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_abc', content: 'a\nb' },
            { type: 'text', text: 'go on' },
          ],
        },
      ],
    });
    expect(second.content).toEqual([
      {
        type: 'text',
        text: 'saw [{"type":"tool_result","tool_use_id":"toolu_abc","content":"a\\nb"},{"type":"text","text":"go on"}]',
      },
    ]);
    expect(second).toMatchObject({
      type: 'message',
      role: 'assistant',
      stop_reason: 'end_turn',
      stop_sequence: null,
    });
    expect(second.id).toMatch(/^msg_/);
    expect(second.usage).toMatchObject({
      input_tokens: 7,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    });
    expect(fake.problems).toEqual([]);
    expect(fake.remaining()).toBe(0);
  });

  it('streams a tool_use reply as the real event sequence and finalMessage() reassembles the input', async () => {
    const input = { command: 'grep -rn "needle" src/ | head -50', timeout: 30 };
    const fake = await anthropicFake([
      {
        content: [
          { type: 'text', text: 'Searching now.' },
          { type: 'tool_use', name: 'bash', input },
        ],
      },
    ]);
    const stream = anthropicClient(fake).messages.stream({
      model: MODEL,
      max_tokens: 512,
      tools: [BASH],
      messages: [{ role: 'user', content: 'find the needle' }],
    });
    const events: string[] = [];
    stream.on('streamEvent', (e) => events.push(e.type === 'content_block_delta' ? e.delta.type : e.type));
    const message = await stream.finalMessage();
    expect(message.content[1]).toMatchObject({ type: 'tool_use', name: 'bash', input });
    expect((message.content[1] as Anthropic.ToolUseBlock).id).toMatch(/^toolu_/);
    expect(message.stop_reason).toBe('tool_use');
    expect(events[0]).toBe('message_start');
    expect(events.filter((e) => e === 'input_json_delta').length).toBeGreaterThan(2);
    expect(events.slice(-2)).toEqual(['message_delta', 'message_stop']);
    expect(fake.requests[0]?.stream).toBe(true);
    expect(fake.problems).toEqual([]);
  });

  it('rejects a tool_use that is not answered by a tool_result with 400 BadRequestError', async () => {
    const fake = await anthropicFake([{ content: [{ type: 'text', text: 'never sent' }] }]);
    const call = anthropicClient(fake).messages.create(
      params({ tools: [BASH], messages: afterToolUse('did it work?') }),
    );
    await expect(call).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    await expect(call).rejects.toMatchObject({
      status: 400,
      error: { error: { type: 'invalid_request_error' } },
    });
    expect(fake.takeProblems()).toEqual([
      expect.stringContaining(
        '`tool_use` ids were found without `tool_result` blocks immediately after: toolu_1',
      ),
    ]);
    expect(fake.takeUnconsumed()).toEqual(['reply [text "never sent"]']);
  });

  it('rejects tool_result blocks that do not come first, or answer an unknown tool_use id', async () => {
    const fake = await anthropicFake();
    const client = anthropicClient(fake);
    const textFirst = afterToolUse([
      { type: 'text', text: 'here:' },
      { type: 'tool_result', tool_use_id: 'toolu_1', content: 'ok' },
    ]);
    await expect(
      client.messages.create(params({ tools: [BASH], messages: textFirst })),
    ).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    const wrongId = afterToolUse([
      { type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: 'ok' }] },
      { type: 'tool_result', tool_use_id: 'toolu_zzz', content: 'ok', is_error: true },
    ]);
    await expect(client.messages.create(params({ tools: [BASH], messages: wrongId }))).rejects.toThrow(
      'unexpected `tool_use_id` found in `tool_result` blocks: toolu_zzz',
    );
    expect(fake.requests).toHaveLength(2);
    expect(fake.takeProblems()).toEqual([
      expect.stringContaining('POST /v1/messages -> 400 invalid_request_error'),
      expect.stringContaining('toolu_zzz'),
    ]);
  });

  it('rejects a wrong x-api-key with AuthenticationError and the real error body', async () => {
    const fake = await anthropicFake();
    const client = new Anthropic({ apiKey: 'sk-ant-wrong', baseURL: fake.url, maxRetries: 0 });
    const call = client.messages.create(params());
    await expect(call).rejects.toBeInstanceOf(Anthropic.AuthenticationError);
    await expect(call).rejects.toMatchObject({
      status: 401,
      error: { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } },
    });
    expect(fake.takeProblems()).toEqual(['POST /v1/messages -> 401 authentication_error: invalid x-api-key']);
  });

  it('rejects a request with 5 cache_control breakpoints (max 4)', async () => {
    const fake = await anthropicFake();
    const cc = { type: 'ephemeral' } as const;
    const call = anthropicClient(fake).messages.create({
      ...params(),
      tools: [{ ...BASH, cache_control: cc }],
      system: [
        { type: 'text', text: 'one', cache_control: cc },
        { type: 'text', text: 'two', cache_control: cc },
      ],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'three', cache_control: cc },
            { type: 'text', text: 'four', cache_control: cc },
          ],
        },
      ],
    });
    await expect(call).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    await expect(call).rejects.toThrow('A maximum of 4 blocks with cache_control may be provided');
    expect(fake.takeProblems()).toEqual([
      expect.stringContaining('A maximum of 4 blocks with cache_control'),
    ]);
  });

  it('rejects an unknown top-level field with "Extra inputs are not permitted"', async () => {
    const fake = await anthropicFake();
    const call = anthropicClient(fake).messages.create({ ...params(), reasoning: 'high' } as never);
    await expect(call).rejects.toBeInstanceOf(Anthropic.BadRequestError);
    await expect(call).rejects.toThrow('reasoning: Extra inputs are not permitted');
    expect(fake.takeProblems()).toEqual([
      expect.stringContaining('reasoning: Extra inputs are not permitted'),
    ]);
  });

  it('rejects malformed tools, non-alternating roles and an unknown model', async () => {
    const fake = await anthropicFake([], [MODEL]);
    const client = anthropicClient(fake);
    const ask = (extra: Record<string, unknown>) =>
      client.messages.create({ ...params(), ...extra } as never);
    await expect(ask({ tools: [{ type: 'bash_20250124', name: 'shell' }] })).rejects.toThrow(
      "Input should be 'bash'",
    );
    await expect(ask({ tools: [{ type: 'computer_20250124', name: 'computer' }] })).rejects.toThrow(
      "Input tag 'computer_20250124'",
    );
    await expect(ask({ tools: [BASH, { name: 'bash', input_schema: { type: 'object' } }] })).rejects.toThrow(
      'Tool names must be unique',
    );
    await expect(ask({ tools: [{ name: 'lookup' }] })).rejects.toThrow('input_schema: Field required');
    await expect(ask({ max_tokens: 0 })).rejects.toThrow(
      'max_tokens: Input should be greater than or equal to 1',
    );
    const twoUsers = [
      { role: 'user', content: 'a' },
      { role: 'user', content: 'b' },
    ];
    await expect(ask({ messages: twoUsers })).rejects.toThrow('roles must alternate');
    await expect(ask({ model: 'claude-nope' })).rejects.toBeInstanceOf(Anthropic.NotFoundError);
    expect(fake.takeProblems()).toHaveLength(7);
  });

  it('retries a scripted 529 overloaded_error transparently and then returns the reply', async () => {
    const fake = await anthropicFake([
      { status: 529, type: 'overloaded_error', message: 'Overloaded', headers: { 'retry-after-ms': '1' } },
      { status: 429, type: 'rate_limit_error', message: 'slow down', headers: { 'retry-after': '0.001' } },
      { content: [{ type: 'text', text: 'finally' }] },
    ]);
    const reply = await anthropicClient(fake, 2).messages.create(params());
    expect(reply.content).toEqual([{ type: 'text', text: 'finally' }]);
    expect(fake.requests).toHaveLength(3);
    expect(fake.problems).toEqual([]);
  });

  it('reports script exhaustion and script bugs as problems with a non-retried 500', async () => {
    const fake = await anthropicFake([
      { content: [{ type: 'tool_use', name: 'str_replace_based_edit_tool', input: {} }] },
    ]);
    const client = anthropicClient(fake, 2);
    const withBash = params({ tools: [BASH] });
    await expect(client.messages.create(withBash)).rejects.toBeInstanceOf(Anthropic.InternalServerError);
    await expect(client.messages.create(withBash)).rejects.toThrow('fake-anthropic: script exhausted');
    expect(fake.requests).toHaveLength(2);
    expect(fake.takeProblems()).toEqual([
      expect.stringContaining(
        "scripted tool_use 'str_replace_based_edit_tool' is not among the request's tools",
      ),
      expect.stringContaining('fake-anthropic: script exhausted'),
    ]);
  });

  it('requires the anthropic-version header, answers unknown routes with 404, and lists models', async () => {
    const fake = await anthropicFake([], [MODEL, 'claude-haiku-5-5']);
    const noVersion = await fetch(`${fake.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': fake.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify(params()),
    });
    expect(noVersion.status).toBe(400);
    expect(noVersion.headers.get('request-id')).toMatch(/^req_/);
    expect(await noVersion.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    const unknown = await fetch(`${fake.url}/v1/complete`, {
      method: 'POST',
      headers: { 'x-api-key': fake.apiKey },
    });
    expect(unknown.status).toBe(404);
    const models = [];
    for await (const m of anthropicClient(fake).models.list()) models.push(m.id);
    expect(models).toEqual([MODEL, 'claude-haiku-5-5']);
    expect(fake.takeProblems()).toEqual([
      expect.stringContaining('anthropic-version: header is required'),
      'POST /v1/complete -> 404 not_found_error: Not Found',
    ]);
  });
});

describe('fake OpenAI-compatible server driven by the openai SDK', () => {
  const tools: OpenAI.ChatCompletionTool[] = [
    {
      type: 'function',
      function: {
        name: 'run_shell',
        description: 'run',
        parameters: { type: 'object', properties: { cmd: { type: 'string' } } },
      },
    },
  ];

  it('streams tool call arguments split across chunks that the SDK reassembles', async () => {
    const args = { cmd: 'npm test -- --reporter=verbose', cwd: '/work/repo' };
    const fake = await openaiFake([
      { content: 'Running tests.', tool_calls: [{ id: 'call_1', name: 'run_shell', arguments: args }] },
      { tool_calls: [{ name: 'run_shell', arguments: args }] },
    ]);
    const client = openaiClient(fake);
    const body = { model: 'fake-coder-7b', messages: [{ role: 'user' as const, content: 'test it' }], tools };
    const raw = await client.chat.completions.create({
      ...body,
      stream: true,
      stream_options: { include_usage: true },
    });
    const argPieces: string[] = [];
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of raw) {
      for (const tc of chunk.choices[0]?.delta.tool_calls ?? [])
        if (tc.function?.arguments) argPieces.push(tc.function.arguments);
      if (chunk.usage) usage = chunk.usage;
    }
    expect(argPieces.length).toBeGreaterThan(1);
    expect(JSON.parse(argPieces.join(''))).toEqual(args);
    expect(usage?.total_tokens).toBeGreaterThan(0);
    const final = await client.chat.completions.stream({ ...body, stream: true }).finalChatCompletion();
    const call = final.choices[0]?.message.tool_calls?.[0];
    expect(call?.type === 'function' && JSON.parse(call.function.arguments)).toEqual(args);
    expect(final.choices[0]?.finish_reason).toBe('tool_calls');
    expect(fake.problems).toEqual([]);
  });

  it('completes a non-streaming tool call round trip with matching tool messages', async () => {
    const fake = await openaiFake([
      { tool_calls: [{ id: 'call_9', name: 'run_shell', arguments: { cmd: 'ls' } }] },
      { content: 'done' },
    ]);
    const client = openaiClient(fake);
    const first = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'ls' }],
      tools,
    });
    const message = first.choices[0]?.message;
    if (!message) throw new Error('expected a choice');
    expect(first.object).toBe('chat.completion');
    expect(message.tool_calls).toEqual([
      { id: 'call_9', type: 'function', function: { name: 'run_shell', arguments: '{"cmd":"ls"}' } },
    ]);
    const second = await client.chat.completions.create({
      model: 'm',
      tools,
      messages: [
        { role: 'user', content: 'ls' },
        message,
        { role: 'tool', tool_call_id: 'call_9', content: 'a b' },
      ],
    });
    expect(second.choices[0]).toMatchObject({
      message: { role: 'assistant', content: 'done' },
      finish_reason: 'stop',
    });
    expect(fake.problems).toEqual([]);
  });

  it('rejects a tool message without a pending tool call, and unanswered tool calls, with 400', async () => {
    const fake = await openaiFake([{ content: 'never' }]);
    const client = openaiClient(fake);
    const orphan = client.chat.completions.create({
      model: 'm',
      tools,
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'tool', tool_call_id: 'call_x', content: 'out' },
      ],
    });
    await expect(orphan).rejects.toBeInstanceOf(OpenAI.BadRequestError);
    await expect(orphan).rejects.toThrow(
      "messages with role 'tool' must be a response to a preceeding message with 'tool_calls'",
    );
    const unanswered = client.chat.completions.create({
      model: 'm',
      tools,
      messages: [
        { role: 'user', content: 'hi' },
        {
          role: 'assistant',
          content: null,
          tool_calls: [{ id: 'call_y', type: 'function', function: { name: 'run_shell', arguments: '{}' } }],
        },
        { role: 'user', content: 'well?' },
      ],
    });
    await expect(unanswered).rejects.toThrow(
      'The following tool_call_ids did not have response messages: call_y',
    );
    expect(fake.takeProblems()).toHaveLength(2);
    expect(fake.takeUnconsumed()).toEqual(['reply [content "never"]']);
  });

  it('rejects a wrong key with AuthenticationError, unknown params with 400, and unknown scripted tools as problems', async () => {
    const fake = await openaiFake([{ tool_calls: [{ name: 'delete_everything', arguments: {} }] }]);
    const wrong = new OpenAI({ apiKey: 'sk-wrong', baseURL: fake.url, maxRetries: 0 });
    const base = { model: 'm', messages: [{ role: 'user' as const, content: 'hi' }] };
    await expect(wrong.chat.completions.create(base)).rejects.toMatchObject({
      status: 401,
      code: 'invalid_api_key',
    });
    await expect(wrong.chat.completions.create(base)).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    const client = openaiClient(fake, 2);
    await expect(client.chat.completions.create({ ...base, bogus: 1 } as never)).rejects.toThrow(
      'Unrecognized request argument supplied: bogus',
    );
    await expect(client.chat.completions.create({ ...base, tools })).rejects.toBeInstanceOf(
      OpenAI.InternalServerError,
    );
    expect(fake.takeProblems()).toEqual([
      expect.stringContaining('401 invalid_request_error: Incorrect API key provided'),
      expect.stringContaining('401 invalid_request_error: Incorrect API key provided'),
      expect.stringContaining('Unrecognized request argument supplied: bogus'),
      expect.stringContaining("scripted tool call 'delete_everything' is not among the request's tools"),
    ]);
    expect(fake.requests).toHaveLength(4);
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['fake-coder-7b']);
  });
});
