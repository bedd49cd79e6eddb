import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentLoop } from '../src/agent/agent-loop.js';
import { readEnv } from '../src/config/env.js';
import { createModelClient } from '../src/models/create-model-client.js';
import { LocalSandboxProvider } from '../src/sandbox/local/local-sandbox.js';
import { type ScriptStep, startFakeAnthropic } from '../test/fakes/anthropic-server.js';

const STUB = '[airlock: output elided';

export interface LongTaskResult {
  steps: number;
  largestPromptTokens: number;
  promptTokensPerStep: number;
  /** Cache reads over all prompt tokens, over the whole run and on the steps that elided. */
  cacheReadShare: number;
  cacheReadShareOnElision: number;
  elisions: number;
  seconds: number;
}

/**
 * Issue 13's long task: `steps` commands that each print ~30 kB against the scripted model with
 * a 200,000-token window and prompt caching as the API does it, then a summary.
 */
export async function longTask(steps = 100): Promise<LongTaskResult> {
  const stubsSeen: number[] = [];
  const count = (body: { messages: Array<{ content: unknown }> }) =>
    stubsSeen.push(JSON.stringify(body.messages).split(STUB).length - 1);
  const script: ScriptStep[] = [
    ...Array.from({ length: steps }, (_, i) => (body: { messages: Array<{ content: unknown }> }) => {
      count(body);
      return {
        content: [
          {
            type: 'tool_use' as const,
            name: 'bash',
            input: { command: `echo ${i}; seq 1 3000 | sed "s/^/line /"` },
          },
        ],
      };
    }),
    (body: { messages: Array<{ content: unknown }> }) => {
      count(body);
      return { content: [{ type: 'text' as const, text: 'Done.' }] };
    },
  ] as ScriptStep[];
  const fake = await startFakeAnthropic({ script, contextTokens: 200_000, promptCache: true });
  const root = mkdtempSync(join(tmpdir(), 'airlock-bench-long-'));
  const started = performance.now();
  try {
    const sandbox = await new LocalSandboxProvider(root, { isolation: 'none' }).create('long');
    const model = createModelClient(
      readEnv({ ANTHROPIC_API_KEY: fake.apiKey, ANTHROPIC_BASE_URL: fake.url }),
    );
    const usages: Array<{ prompt: number; read: number }> = [];
    const loop = new AgentLoop({
      model,
      sandbox,
      price: undefined,
      redact: (t) => t,
      onEvent: (e) => {
        if (e.type !== 'turn-finished') return;
        const u = e.response.usage;
        usages.push({
          prompt: u.inputTokens + u.cacheReadTokens + u.cacheWriteTokens,
          read: u.cacheReadTokens,
        });
      },
    });
    const stop = await loop.run({
      system: 'You are a careful coding agent.',
      messages: [{ role: 'user', content: [{ type: 'text', text: 'Read the logs and summarise them.' }] }],
      budget: {
        maxSteps: steps + 5,
        deadline: Date.now() + 600_000,
        maxTokens: 1_000_000_000,
        maxCostUsd: 1_000_000,
        commandTimeoutMs: 60_000,
        maxOutputTokens: 1024,
        contextTokens: 200_000,
      },
    });
    if (stop.kind !== 'finished') throw new Error(`the long task stopped: ${stop.kind}`);
    const elisionSteps = stubsSeen.flatMap((n, i) => (i > 0 && n > (stubsSeen[i - 1] ?? 0) ? [i] : []));
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const onElision = elisionSteps
      .map((i) => usages[i])
      .filter((u): u is { prompt: number; read: number } => !!u);
    return {
      steps: usages.length,
      largestPromptTokens: Math.max(...usages.map((u) => u.prompt)),
      promptTokensPerStep: Math.round(sum(usages.map((u) => u.prompt)) / usages.length),
      cacheReadShare: sum(usages.map((u) => u.read)) / sum(usages.map((u) => u.prompt)),
      cacheReadShareOnElision: onElision.length
        ? sum(onElision.map((u) => u.read)) / sum(onElision.map((u) => u.prompt))
        : 0,
      elisions: elisionSteps.length,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    fake.takeUnconsumed();
    await fake.close();
    rmSync(root, { recursive: true, force: true });
  }
}
