import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeAnthropic, type ScriptStep, startFakeAnthropic } from '../fakes/anthropic-server.js';
import { fixAddScript } from '../fakes/fix-add-script.js';
import { createBareFixture, FIXTURE_FILES } from '../fakes/fixture-repo.js';
import { runCli } from '../support/run-cli.js';
import { scratchConfig } from '../support/workspace.js';

const KEY = 'sk-ant-context-run-key-51c9';
const STUB = '[airlock: output elided';

type Body = { messages: Array<{ role: string; content: unknown }> };

/**
 * Issue 13, as a person would meet it: a headless run of 40 steps that each print a large log,
 * then the fix, against an endpoint that refuses any prompt over its 200,000-token window.
 */
describe('a long run within the model window', () => {
  let fake: FakeAnthropic | undefined;
  const cleanups: Array<() => void> = [];
  afterEach(async () => {
    await fake?.close();
    for (const c of cleanups.splice(0)) c();
  });

  it('40 steps of large logs, then the fix: the run finishes with its patch, the newest output always whole', async () => {
    const { bare, cleanup } = createBareFixture(FIXTURE_FILES);
    cleanups.push(cleanup);
    const scratch = scratchConfig(
      `repos:\n  acme/widgets:\n    url: ${bare}\n    forge: git\nmodel: { context_tokens: 200000 }\nlimits: { max_steps: 60, max_cost_usd: 1000, max_tokens: 100000000 }\n`,
    );
    cleanups.push(scratch.cleanup);
    const newest: string[] = [];
    const logs: ScriptStep[] = Array.from({ length: 40 }, (_, i) => (body: Body) => {
      const last = JSON.stringify(body.messages.at(-1)?.content ?? '');
      if (i > 0) newest.push(last);
      return {
        content: [
          {
            type: 'tool_use' as const,
            name: 'bash',
            input: { command: `for n in $(seq 1 3000); do echo "run ${i} line $n: FAIL in test $n"; done` },
          },
        ],
      };
    });
    fake = await startFakeAnthropic({
      apiKey: KEY,
      contextTokens: 200_000,
      script: [...logs, ...fixAddScript()],
    });
    const patch = join(scratch.dataDir, '..', 'fix.patch');
    const env = {
      ANTHROPIC_API_KEY: KEY,
      ANTHROPIC_BASE_URL: fake.url,
      AIRLOCK_CONFIG: scratch.config,
      AIRLOCK_DATA_DIR: scratch.dataDir,
    };
    const r = await runCli(
      ['run', '--repo', 'acme/widgets', '--task', 'Fix add()', '--patch', patch, '--json'],
      env,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ state: 'done', outcome: 'patch' });
    expect(readFileSync(patch, 'utf8')).toContain('+  return a + b;');
    // Never over the window (the endpoint refused nothing), and old outputs were elided to get there.
    expect(fake.problems).toEqual([]);
    expect(JSON.stringify(fake.requests.at(-1)?.body)).toContain(STUB);
    // The newest output reached the model whole (head and tail), every time.
    for (const last of newest) {
      expect(last).not.toContain(STUB);
      expect(last).toContain('FAIL in test 3000');
    }
  }, 180_000);
});
