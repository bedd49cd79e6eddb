import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type AgentBudget, AgentLoop } from '../../src/agent/agent-loop.js';
import { readEnv } from '../../src/config/env.js';
import { createModelClient } from '../../src/models/create-model-client.js';
import type { Message } from '../../src/runs/ports/model.js';
import type { Sandbox } from '../../src/runs/ports/sandbox.js';
import { LocalSandboxProvider } from '../../src/sandbox/local/local-sandbox.js';
import { type ScriptStep, startFakeAnthropic } from '../fakes/anthropic-server.js';
import { type ChatScriptStep, startFakeOpenAI } from '../fakes/openai-server.js';

const TASK: Message = {
  role: 'user',
  content: [{ type: 'text', text: 'Find why the log says FAIL and fix it.' }],
};
const STUB = '[airlock: output elided';
/** About 30 kB of log per command (what the model sees of one output, at most). */
const LOG = 'seq 1 3000 | sed "s/^/line /"';

function budget(extra: Partial<AgentBudget>): AgentBudget {
  return {
    maxSteps: 100,
    deadline: Date.now() + 300_000,
    maxTokens: 100_000_000,
    maxCostUsd: 1000,
    commandTimeoutMs: 20_000,
    maxOutputTokens: 1024,
    contextTokens: 200_000,
    ...extra,
  };
}

async function sandbox(): Promise<Sandbox> {
  const root = mkdtempSync(join(tmpdir(), 'airlock-context-'));
  onTestFinished(() => rmSync(root, { recursive: true, force: true }));
  return new LocalSandboxProvider(root, { isolation: 'none' }).create('run-1');
}

type Body = { messages: Array<{ role: string; content: unknown }> };
const toolResults = (body: Body) =>
  body.messages.flatMap((m) =>
    Array.isArray(m.content)
      ? (m.content as Array<{ type: string; content?: unknown }>).filter((b) => b.type === 'tool_result')
      : [],
  );
const text = (content: unknown) => (typeof content === 'string' ? content : JSON.stringify(content));

/** `steps` commands that each print a long log, checking each request as it comes; then a reply. */
function longTask(steps: number, seen: Array<{ newest: string; stubs: number }>): ScriptStep[] {
  const step = (body: Body) => {
    const results = toolResults(body);
    if (results.length) {
      seen.push({
        newest: text(results.at(-1)?.content),
        stubs: results.filter((r) => text(r.content).includes(STUB)).length,
      });
    }
  };
  return [
    ...Array.from({ length: steps }, (_, i) => (body: Body) => {
      step(body);
      return {
        content: [{ type: 'tool_use' as const, name: 'bash', input: { command: `echo run ${i}; ${LOG}` } }],
      };
    }),
    (body: Body) => {
      step(body);
      return { content: [{ type: 'text' as const, text: 'Fixed.' }] };
    },
  ] as ScriptStep[];
}

/** The agent loop on the Anthropic stand-in whose window is `endpoint`, told the window is `told`. */
async function anthropicRun(script: ScriptStep[], windows: { endpoint: number; told: number }) {
  const fake = await startFakeAnthropic({ script, contextTokens: windows.endpoint });
  onTestFinished(() => fake.close());
  const box = await sandbox();
  const model = createModelClient(readEnv({ ANTHROPIC_API_KEY: fake.apiKey, ANTHROPIC_BASE_URL: fake.url }));
  const loop = new AgentLoop({ model, sandbox: box, price: undefined, redact: (t) => t, onEvent: () => {} });
  const stop = await loop.run({
    system: 'sys',
    messages: [TASK],
    budget: budget({ contextTokens: windows.told }),
  });
  return { fake, box, stop };
}

/** Issue 13: long tasks never outgrow the model's window. */
describe('the context window', () => {
  it('40 steps of long logs finish under a 150k window: old outputs elided in batches, the newest always whole, each one whole in the sandbox', async () => {
    const seen: Array<{ newest: string; stubs: number }> = [];
    const { fake, box, stop } = await anthropicRun(longTask(40, seen), { endpoint: 150_000, told: 150_000 });

    expect(stop).toMatchObject({ kind: 'finished', summary: 'Fixed.' });
    expect(fake.problems).toEqual([]);
    expect(seen).toHaveLength(40);
    // The newest output reaches the model as it always did: never a stub.
    for (const s of seen) {
      expect(s.newest).not.toContain(STUB);
      expect(s.newest).toContain('line 3000');
    }
    // Elided in a few large batches, not a little at every step (the cached prefix stays put).
    const elisions = seen.filter((s, i) => i > 0 && s.stubs > (seen[i - 1]?.stubs ?? 0)).length;
    expect(seen.at(-1)?.stubs).toBeGreaterThan(10);
    expect(elisions).toBeLessThanOrEqual(8);

    // A stub says where the whole output is; it is there, outside the workspace.
    const lastBody = fake.requests.at(-1)?.body as Body;
    const stub =
      toolResults(lastBody)
        .map((r) => text(r.content))
        .find((c) => c.includes(STUB)) ?? '';
    const path = /The whole output is in (\S+):/.exec(stub)?.[1];
    expect(path).toMatch(/^\$\{TMPDIR:-\/tmp\}\/airlock-outputs\/.+\.txt$/);
    // The path is shell syntax (${TMPDIR:-/tmp}): the sandbox's shell expands it, as the agent's would.
    const file = path;
    const whole = await box.exec(
      `grep -c '^line ' "${file}"; grep -m1 '^run ' "${file}"; ls -a "${box.workdir}"`,
    );
    const [lines, run] = whole.stdout.toString().split('\n');
    expect(lines).toBe('3000');
    expect(run).toMatch(/^run \d+$/);
    expect(whole.stdout.toString()).not.toContain('airlock-outputs');
  }, 120_000);

  it('an endpoint that still says "prompt is too long" gets a harder elision and one retry; the run goes on', async () => {
    const seen: Array<{ newest: string; stubs: number }> = [];
    // The endpoint's window is smaller than the one airlock was told: only its refusals say so.
    const { fake, stop } = await anthropicRun(longTask(20, seen), { endpoint: 40_000, told: 1_000_000 });
    expect(stop).toMatchObject({ kind: 'finished', summary: 'Fixed.' });
    const refusals = fake.takeProblems();
    expect(refusals.length).toBeGreaterThan(0);
    expect(refusals.every((p) => p.includes('prompt is too long'))).toBe(true);
    for (const s of seen) expect(s.newest).not.toContain(STUB);
  }, 120_000);

  it('a prompt that cannot fit even with every output elided ends with a sentence, never the raw answer', async () => {
    const fake = await startFakeAnthropic({ script: [], contextTokens: 5_000 });
    onTestFinished(() => fake.close());
    const box = await sandbox();
    const model = createModelClient(
      readEnv({ ANTHROPIC_API_KEY: fake.apiKey, ANTHROPIC_BASE_URL: fake.url }),
    );
    const loop = new AgentLoop({
      model,
      sandbox: box,
      price: undefined,
      redact: (t) => t,
      onEvent: () => {},
    });
    const huge: Message = {
      role: 'user',
      content: [{ type: 'text', text: `Read this: ${'x'.repeat(40_000)}` }],
    };
    const failed = await loop
      .run({ system: 'sys', messages: [huge], budget: budget({ contextTokens: 5_000 }) })
      .catch((e: Error) => e);
    expect(failed).toBeInstanceOf(Error);
    expect((failed as Error).message).toContain(
      "no longer fits the model's context window (model.context_tokens: 5000)",
    );
    expect((failed as Error).message).not.toMatch(/[{}]|invalid_request_error/);
    expect(fake.takeProblems()).toHaveLength(2);
  }, 60_000);

  it('the OpenAI-compatible provider: a 32k self-hosted window, the same elision, and its context_length_exceeded answer retried', async () => {
    const commands = 20;
    const script: ChatScriptStep[] = [
      ...Array.from({ length: commands }, (_, i) => ({
        tool_calls: [{ id: `call_${i}`, name: 'bash', arguments: { command: `echo run ${i}; seq 1 3000` } }],
      })),
      { content: 'Fixed.' },
    ];
    // The deployment's window is 32k; airlock is told 64k, so only the refusals say otherwise.
    const fake = await startFakeOpenAI({ script, contextTokens: 32_000 });
    onTestFinished(() => fake.close());
    const box = await sandbox();
    const model = createModelClient(
      readEnv({
        AIRLOCK_PROVIDER: 'openai',
        OPENAI_BASE_URL: fake.url,
        OPENAI_API_KEY: fake.apiKey,
        AIRLOCK_MODEL: 'fake-coder-7b',
      }),
    );
    const loop = new AgentLoop({
      model,
      sandbox: box,
      price: undefined,
      redact: (t) => t,
      onEvent: () => {},
    });
    const stop = await loop.run({
      system: 'sys',
      messages: [TASK],
      budget: budget({ contextTokens: 64_000 }),
    });
    expect(stop).toMatchObject({ kind: 'finished', summary: 'Fixed.' });
    const refusals = fake.takeProblems();
    expect(refusals.length).toBeGreaterThan(0);
    expect(
      refusals.every((p) => p.includes('context_length_exceeded') || p.includes('maximum context length')),
    ).toBe(true);
    // Every request carried the newest output whole, the refused ones and their retries alike.
    for (const r of fake.requests.slice(1)) {
      const messages = (r.body as { messages: Array<{ role: string; content: string }> }).messages;
      const newest = messages.filter((m) => m.role === 'tool').at(-1)?.content ?? '';
      expect(newest).not.toContain(STUB);
      expect(newest).toContain('3000');
    }
  }, 120_000);
});
