import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import type { AgentEvent } from '../../src/agent/agent-events.js';
import { type AgentBudget, AgentLoop, type AgentStop } from '../../src/agent/agent-loop.js';
import type { Price } from '../../src/agent/pricing.js';
import { readEnv } from '../../src/config/env.js';
import { createModelClient } from '../../src/models/create-model-client.js';
import type { Message, ModelClient, ModelRequest, ModelResponse } from '../../src/runs/ports/model.js';
import type { Sandbox } from '../../src/runs/ports/sandbox.js';
import { LocalSandboxProvider } from '../../src/sandbox/local/local-sandbox.js';
import { type FakeAnthropic, type ScriptStep, startFakeAnthropic } from '../fakes/anthropic-server.js';
import type { Json } from '../fakes/http.js';
import { type ChatScriptStep, startFakeOpenAI } from '../fakes/openai-server.js';

const SYSTEM = 'You are a careful coding agent.';
const TASK: Message = {
  role: 'user',
  content: [{ type: 'text', text: 'Change the greeting from hello to goodbye.' }],
};
const CONTINUE = 'Your reply was cut off at the output limit. Continue.';

function budget(extra: Partial<AgentBudget> = {}): AgentBudget {
  return {
    maxSteps: 20,
    deadline: Date.now() + 120_000,
    maxTokens: 10_000_000,
    maxCostUsd: 100,
    commandTimeoutMs: 20_000,
    maxOutputTokens: 1024,
    contextTokens: 200_000,
    ...extra,
  };
}

/** A real local sandbox (no isolation) in a temp dir, holding greeting.txt. */
async function workspace(): Promise<{ sandbox: Sandbox; hostPath: (p: string) => string }> {
  const root = mkdtempSync(join(tmpdir(), 'airlock-agent-loop-'));
  onTestFinished(() => rmSync(root, { recursive: true, force: true }));
  const sandbox = await new LocalSandboxProvider(root, { isolation: 'none' }).create('run-1');
  await sandbox.writeFile('greeting.txt', 'hello world\n');
  return { sandbox, hostPath: (p) => join(sandbox.workdir, p) };
}

async function fakeAnthropic(script: ScriptStep[] = []): Promise<FakeAnthropic> {
  const fake = await startFakeAnthropic({ script });
  onTestFinished(() => fake.close());
  return fake;
}

function anthropicModel(fake: FakeAnthropic): ModelClient {
  return createModelClient(readEnv({ ANTHROPIC_API_KEY: fake.apiKey, ANTHROPIC_BASE_URL: fake.url }));
}

interface Harness {
  events: AgentEvent[];
  run: (extra?: { budget?: Partial<AgentBudget>; signal?: AbortSignal }) => Promise<AgentStop>;
}

function harness(
  model: ModelClient,
  sandbox: Sandbox,
  opts: { price?: Price; redact?: (t: string) => string; now?: () => number } = {},
): Harness {
  const events: AgentEvent[] = [];
  const loop = new AgentLoop({
    model,
    sandbox,
    price: opts.price,
    redact: opts.redact ?? ((t) => t),
    onEvent: (e) => events.push(e),
    ...(opts.now ? { now: opts.now } : {}),
  });
  return {
    events,
    run: (extra = {}) =>
      loop.run({ system: SYSTEM, messages: [TASK], budget: budget(extra.budget), signal: extra.signal }),
  };
}

/** Event types without the streamed text deltas, e.g. 'step-started:1'. */
function outline(events: AgentEvent[]): string[] {
  return events.filter((e) => e.type !== 'text').map((e) => `${e.type}:${'step' in e ? e.step : ''}`);
}

function turns(events: AgentEvent[]): Extract<AgentEvent, { type: 'turn-finished' }>[] {
  return events.filter(
    (e): e is Extract<AgentEvent, { type: 'turn-finished' }> => e.type === 'turn-finished',
  );
}

function toolFinished(events: AgentEvent[]): Extract<AgentEvent, { type: 'tool-finished' }>[] {
  return events.filter(
    (e): e is Extract<AgentEvent, { type: 'tool-finished' }> => e.type === 'tool-finished',
  );
}

const EDIT_INPUT = { command: 'str_replace', path: 'greeting.txt', old_str: 'hello', new_str: 'goodbye' };

/** bash, then an edit, then a closing text: the happy path. */
const FINISHED_SCRIPT: ScriptStep[] = [
  { content: [{ type: 'tool_use', id: 'toolu_cat', name: 'bash', input: { command: 'cat greeting.txt' } }] },
  {
    content: [
      { type: 'text', text: 'Editing now.' },
      { type: 'tool_use', id: 'toolu_edit', name: 'str_replace_based_edit_tool', input: EDIT_INPUT },
    ],
  },
  { content: [{ type: 'text', text: 'Changed hello to goodbye in greeting.txt.' }] },
];

/** A port-level model for replies the strict fakes refuse to script (e.g. a tool not offered). */
class ScriptedModel implements ModelClient {
  readonly provider = 'scripted';
  readonly model = 'scripted-1';
  readonly requests: ModelRequest[] = [];
  constructor(private readonly replies: ModelResponse['content'][]) {}
  async check(): Promise<string> {
    return 'scripted';
  }
  async complete(request: ModelRequest): Promise<ModelResponse> {
    this.requests.push({ ...request, messages: structuredClone(request.messages) });
    const content = this.replies.shift();
    if (!content) throw new Error('ScriptedModel: script exhausted');
    return {
      content,
      stopReason: content.some((b) => b.type === 'tool_use') ? 'tool_use' : 'end_turn',
      usage: { inputTokens: 10, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0 },
      model: this.model,
    };
  }
}

describe('AgentLoop with the Anthropic adapter, the fake Messages API and a real local sandbox', () => {
  it('runs bash, edits the file on disk and finishes with the closing text as the summary', async () => {
    const { sandbox, hostPath } = await workspace();
    const fake = await fakeAnthropic(FINISHED_SCRIPT);
    const { events, run } = harness(anthropicModel(fake), sandbox);

    const stop = await run();

    expect(stop).toEqual({ kind: 'finished', summary: 'Changed hello to goodbye in greeting.txt.' });
    expect(readFileSync(hostPath('greeting.txt'), 'utf8')).toBe('goodbye world\n');
    expect(fake.problems).toEqual([]);
    expect(fake.requests).toHaveLength(3);
    expect(fake.remaining()).toBe(0);
    const results = toolFinished(events);
    expect(results.map((e) => [e.name, e.outcome.isError])).toEqual([
      ['bash', false],
      ['str_replace_based_edit_tool', false],
    ]);
    expect(results[0]?.outcome.content).toBe('hello world');
    expect(results[1]?.outcome.content).toContain(`The file ${hostPath('greeting.txt')} has been edited.`);
  });

  it('emits step-started, turn-finished, tool-started, tool-finished in order, with text deltas inside the turn', async () => {
    const { sandbox } = await workspace();
    const fake = await fakeAnthropic(FINISHED_SCRIPT);
    const { events, run } = harness(anthropicModel(fake), sandbox);
    await run();

    expect(outline(events)).toEqual([
      'step-started:1',
      'turn-finished:1',
      'tool-started:1',
      'tool-finished:1',
      'step-started:2',
      'turn-finished:2',
      'tool-started:2',
      'tool-finished:2',
      'step-started:3',
      'turn-finished:3',
    ]);
    const types = events.map((e) => e.type);
    const lastStart = types.lastIndexOf('step-started');
    const textAt = types.indexOf('text', lastStart);
    expect(textAt).toBeGreaterThan(lastStart);
    expect(textAt).toBeLessThan(types.lastIndexOf('turn-finished'));
    const streamed = events
      .slice(lastStart)
      .map((e) => (e.type === 'text' ? e.delta : ''))
      .join('');
    expect(streamed).toBe('Changed hello to goodbye in greeting.txt.');
    const started = events.filter((e) => e.type === 'tool-started');
    expect(started.map((e) => e.type === 'tool-started' && [e.toolUseId, e.name, e.input])).toEqual([
      ['toolu_cat', 'bash', { command: 'cat greeting.txt' }],
      ['toolu_edit', 'str_replace_based_edit_tool', EDIT_INPUT],
    ]);
  });

  it('reports in each turn-finished exactly the messages added since the previous turn', async () => {
    const { sandbox } = await workspace();
    const fake = await fakeAnthropic(FINISHED_SCRIPT);
    const { events, run } = harness(anthropicModel(fake), sandbox);
    await run();

    const [first, second, third] = turns(events);
    expect(first?.newMessages).toEqual([TASK]);
    expect(second?.newMessages).toEqual([
      {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: 'toolu_cat', content: 'hello world', is_error: false }],
      },
    ]);
    expect(third?.newMessages).toHaveLength(1);
    expect(third?.newMessages[0]?.role).toBe('user');
    expect(third?.newMessages[0]?.content).toEqual([
      {
        type: 'tool_result',
        tool_use_id: 'toolu_edit',
        content: expect.stringContaining('has been edited'),
        is_error: false,
      },
    ]);
    expect(third?.response.content).toEqual([
      { type: 'text', text: 'Changed hello to goodbye in greeting.txt.' },
    ]);
    // What the model saw last is the task, both turns and both tool results, in order.
    const lastBody = fake.requests[2]?.body;
    expect(lastBody.messages.map((m: Json) => m.role)).toEqual([
      'user',
      'assistant',
      'user',
      'assistant',
      'user',
    ]);
    expect(lastBody.messages[2].content[0]).toMatchObject({
      tool_use_id: 'toolu_cat',
      content: 'hello world',
    });
  });

  it('stops with a step-limit budget stop after exactly maxSteps model requests', async () => {
    const { sandbox } = await workspace();
    const forever = (): ScriptStep => ({
      content: [
        { type: 'text', text: 'Once more.' },
        { type: 'tool_use', name: 'bash', input: { command: 'echo again' } },
      ],
    });
    const fake = await fakeAnthropic([forever(), forever(), forever(), forever()]);
    const { run } = harness(anthropicModel(fake), sandbox);

    const stop = await run({ budget: { maxSteps: 2 } });

    expect(stop).toEqual({ kind: 'budget', reason: 'step limit reached (2 steps)', summary: 'Once more.' });
    expect(stop.kind === 'budget' && stop.reason).toMatch(/step limit/);
    expect(fake.requests).toHaveLength(2);
    expect(fake.takeUnconsumed()).toHaveLength(2);
  });

  it('stops with a cost-limit budget stop once the priced usage reaches maxCostUsd', async () => {
    const { sandbox } = await workspace();
    const fake = await fakeAnthropic([
      {
        content: [{ type: 'tool_use', name: 'bash', input: { command: 'true' } }],
        usage: { input_tokens: 10_000, output_tokens: 100 },
      },
      { content: [{ type: 'text', text: 'never asked' }] },
    ]);
    const { events, run } = harness(anthropicModel(fake), sandbox, { price: { input: 3, output: 15 } });

    const stop = await run({ budget: { maxCostUsd: 0.01 } });

    expect(stop).toEqual({ kind: 'budget', reason: 'cost limit reached ($0.01)', summary: '' });
    expect(fake.requests).toHaveLength(1);
    expect(fake.takeUnconsumed()).toEqual(['reply [text "never asked"]']);
    // 10,000 × $3/M + 100 × $15/M
    expect(turns(events)[0]?.costUsd).toBeCloseTo(0.0315, 10);
  });

  it('stops with a token-limit budget stop, counting cache reads and writes as tokens', async () => {
    const { sandbox } = await workspace();
    const fake = await fakeAnthropic([
      {
        content: [{ type: 'tool_use', name: 'bash', input: { command: 'true' } }],
        usage: {
          input_tokens: 40,
          output_tokens: 10,
          cache_read_input_tokens: 30,
          cache_creation_input_tokens: 20,
        },
      },
      { content: [{ type: 'text', text: 'never asked' }] },
    ]);
    const { run } = harness(anthropicModel(fake), sandbox);

    const stop = await run({ budget: { maxTokens: 100 } });

    expect(stop).toEqual({ kind: 'budget', reason: 'token limit reached (100 tokens)', summary: '' });
    expect(fake.requests).toHaveLength(1);
    expect(fake.takeUnconsumed()).toEqual(['reply [text "never asked"]']);
  });

  it('stops with a time-limit budget stop before any request when the deadline has passed', async () => {
    const { sandbox } = await workspace();
    const fake = await fakeAnthropic([{ content: [{ type: 'text', text: 'never asked' }] }]);
    const { events, run } = harness(anthropicModel(fake), sandbox);

    const stop = await run({ budget: { deadline: Date.now() - 1 } });

    expect(stop).toEqual({ kind: 'budget', reason: 'time limit reached', summary: '' });
    expect(fake.requests).toHaveLength(0);
    expect(fake.takeUnconsumed()).toEqual(['reply [text "never asked"]']);
    expect(events).toEqual([]);
  });

  it('returns cancelled without a request when the signal is already aborted', async () => {
    const { sandbox } = await workspace();
    const fake = await fakeAnthropic([{ content: [{ type: 'text', text: 'never asked' }] }]);
    const { events, run } = harness(anthropicModel(fake), sandbox);
    const controller = new AbortController();
    controller.abort();

    const stop = await run({ signal: controller.signal });

    expect(stop).toEqual({ kind: 'cancelled', summary: '' });
    expect(fake.requests).toHaveLength(0);
    expect(fake.takeUnconsumed()).toEqual(['reply [text "never asked"]']);
    expect(events).toEqual([]);
  });

  it('returns cancelled, keeping the last text as summary, when the signal is aborted during a model request', async () => {
    const { sandbox } = await workspace();
    const controller = new AbortController();
    const fake = await fakeAnthropic([
      {
        content: [
          { type: 'text', text: 'Looking first.' },
          { type: 'tool_use', name: 'bash', input: { command: 'ls' } },
        ],
      },
      () => {
        controller.abort();
        return { content: [{ type: 'text', text: 'too late' }] };
      },
    ]);
    const { run } = harness(anthropicModel(fake), sandbox);

    const stop = await run({ signal: controller.signal });

    expect(stop).toEqual({ kind: 'cancelled', summary: 'Looking first.' });
    expect(fake.requests).toHaveLength(2);
  });

  it('applies redact to tool output before it reaches the model or the events', async () => {
    const { sandbox } = await workspace();
    const secret = 'hunter2-very-secret-token';
    await sandbox.writeFile('settings.env', `TOKEN=${secret}\n`);
    const fake = await fakeAnthropic([
      {
        content: [
          { type: 'tool_use', id: 'toolu_env', name: 'bash', input: { command: 'cat settings.env' } },
        ],
      },
      { content: [{ type: 'text', text: 'Read the settings.' }] },
    ]);
    const { events, run } = harness(anthropicModel(fake), sandbox, {
      redact: (t) => t.replaceAll(secret, '[REDACTED]'),
    });

    await run();

    expect(fake.problems).toEqual([]);
    const followUp = fake.requests[1];
    expect(followUp?.rawBody).not.toContain(secret);
    expect(followUp?.body.messages[2].content[0]).toMatchObject({
      type: 'tool_result',
      tool_use_id: 'toolu_env',
      content: 'TOKEN=[REDACTED]',
    });
    const [finished] = toolFinished(events);
    expect(finished?.outcome.content).toBe('TOKEN=[REDACTED]');
    expect(finished?.outcome.fullOutput).toBe('TOKEN=[REDACTED]');
    expect(JSON.stringify(events)).not.toContain(secret);
  });

  it('asks the model to continue, rather than finishing, when a reply stops at max_tokens without tool calls', async () => {
    const { sandbox } = await workspace();
    const fake = await fakeAnthropic([
      { content: [{ type: 'text', text: 'Here is the first half of my' }], stop_reason: 'max_tokens' },
      { content: [{ type: 'text', text: 'second half. All done.' }] },
    ]);
    const { events, run } = harness(anthropicModel(fake), sandbox);

    const stop = await run();

    expect(stop).toEqual({ kind: 'finished', summary: 'second half. All done.' });
    expect(fake.requests).toHaveLength(2);
    const second = fake.requests[1]?.body;
    expect(second.messages).toHaveLength(3);
    expect(second.messages[1]).toEqual({
      role: 'assistant',
      content: [{ type: 'text', text: 'Here is the first half of my' }],
    });
    expect(second.messages[2].role).toBe('user');
    expect(second.messages[2].content).toEqual([
      { type: 'text', text: CONTINUE, cache_control: { type: 'ephemeral' } },
    ]);
    expect(turns(events)[1]?.newMessages).toEqual([
      { role: 'user', content: [{ type: 'text', text: CONTINUE }] },
    ]);
  });
});

describe('AgentLoop when a reply is cut off at max_tokens before any content', () => {
  // BUG (src/agent/agent-loop.ts:102, `messages.push({ role: 'assistant', content: response.content })`
  // before the max_tokens continuation): an empty reply becomes an assistant message with no content,
  // which both APIs reject on the next request, so the run dies with model_failed instead of continuing.
  it('continues past an empty max_tokens reply from the Messages API', async () => {
    const { sandbox } = await workspace();
    const fake = await fakeAnthropic([
      { content: [], stop_reason: 'max_tokens' },
      { content: [{ type: 'text', text: 'Recovered.' }] },
    ]);
    const { run } = harness(anthropicModel(fake), sandbox);

    const stop = await run();

    expect(stop).toEqual({ kind: 'finished', summary: 'Recovered.' });
  });

  // Realistic with local reasoning models behind vLLM/Ollama: the whole budget goes to reasoning,
  // `content` is empty and finish_reason is 'length'.
  it('continues past an empty finish_reason length reply from a Chat Completions server', async () => {
    const { sandbox } = await workspace();
    const fake = await startFakeOpenAI({
      script: [{ content: '', finish_reason: 'length' }, { content: 'Recovered.' }],
    });
    onTestFinished(() => fake.close());
    const model = createModelClient(
      readEnv({
        AIRLOCK_PROVIDER: 'openai',
        OPENAI_BASE_URL: fake.url,
        OPENAI_API_KEY: fake.apiKey,
        AIRLOCK_MODEL: 'fake-coder-7b',
      }),
    );
    const { run } = harness(model, sandbox);

    const stop = await run();

    expect(stop).toEqual({ kind: 'finished', summary: 'Recovered.' });
  });
});

describe('AgentLoop with a tool name the model invents', () => {
  it('answers with an is_error tool_result and keeps going', async () => {
    const { sandbox } = await workspace();
    const model = new ScriptedModel([
      [{ type: 'tool_use', id: 'toolu_py', name: 'python', input: { code: 'print(1)' } }],
      [{ type: 'text', text: 'Used bash instead.' }],
    ]);
    const { events, run } = harness(model, sandbox);

    const stop = await run();

    expect(stop).toEqual({ kind: 'finished', summary: 'Used bash instead.' });
    expect(model.requests).toHaveLength(2);
    expect(model.requests[1]?.messages.at(-1)).toEqual({
      role: 'user',
      content: [
        {
          type: 'tool_result',
          tool_use_id: 'toolu_py',
          content: 'Error: there is no tool named python. Use bash or str_replace_based_edit_tool.',
          is_error: true,
        },
      ],
    });
    expect(toolFinished(events)[0]?.outcome.isError).toBe(true);
  });
});

describe('AgentLoop with the OpenAI-compatible adapter and the fake Chat Completions API', () => {
  it('runs bash, edits the file on disk and finishes, sending tool results as role tool messages', async () => {
    const { sandbox, hostPath } = await workspace();
    const script: ChatScriptStep[] = [
      { tool_calls: [{ id: 'call_cat', name: 'bash', arguments: { command: 'cat greeting.txt' } }] },
      {
        content: 'Editing now.',
        tool_calls: [{ id: 'call_edit', name: 'str_replace_based_edit_tool', arguments: EDIT_INPUT }],
      },
      { content: 'Changed hello to goodbye in greeting.txt.' },
    ];
    const fake = await startFakeOpenAI({ script });
    onTestFinished(() => fake.close());
    const model = createModelClient(
      readEnv({
        AIRLOCK_PROVIDER: 'openai',
        OPENAI_BASE_URL: fake.url,
        OPENAI_API_KEY: fake.apiKey,
        AIRLOCK_MODEL: 'fake-coder-7b',
      }),
    );
    const { events, run } = harness(model, sandbox);

    const stop = await run();

    expect(stop).toEqual({ kind: 'finished', summary: 'Changed hello to goodbye in greeting.txt.' });
    expect(readFileSync(hostPath('greeting.txt'), 'utf8')).toBe('goodbye world\n');
    expect(fake.problems).toEqual([]);
    expect(fake.requests).toHaveLength(3);
    const tools = fake.requests[2]?.body.messages.filter((m: Json) => m.role === 'tool');
    expect(tools).toEqual([
      { role: 'tool', tool_call_id: 'call_cat', content: 'hello world' },
      { role: 'tool', tool_call_id: 'call_edit', content: expect.stringContaining('has been edited') },
    ]);
    expect(outline(events)).toEqual([
      'step-started:1',
      'turn-finished:1',
      'tool-started:1',
      'tool-finished:1',
      'step-started:2',
      'turn-finished:2',
      'tool-started:2',
      'tool-finished:2',
      'step-started:3',
      'turn-finished:3',
    ]);
  });
});
