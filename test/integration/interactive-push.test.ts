import { afterEach, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/run-command.js';
import { type App, buildApp } from '../../src/composition-root.js';
import { type FakeAnthropic, startFakeAnthropic } from '../fakes/anthropic-server.js';
import { fixAddScript } from '../fakes/fix-add-script.js';
import { createBareFixture, gitIn } from '../fakes/fixture-repo.js';
import { scratchConfig } from '../support/workspace.js';

const KEY = 'sk-ant-interactive-key-42';

/** A terminal as the command sees it: output captured, the question answered by the test. */
function terminal(answer: boolean) {
  const err: string[] = [];
  const questions: string[] = [];
  return {
    err,
    questions,
    io: {
      stdout: { write: (_s: string) => true },
      stderr: { write: (s: string) => err.push(s), isTTY: true },
      stdinIsTTY: true,
      confirm: async (q: string) => {
        questions.push(q);
        return answer;
      },
    },
  };
}

describe('airlock run --push at a terminal', () => {
  let fake: FakeAnthropic | undefined;
  let app: App | undefined;
  const cleanups: Array<() => void> = [];
  afterEach(async () => {
    app?.close();
    await fake?.close();
    for (const c of cleanups.splice(0)) c();
  });

  async function setup() {
    const fixture = createBareFixture();
    cleanups.push(fixture.cleanup);
    // headless_push is off: a person at the terminal confirms instead.
    const scratch = scratchConfig(`repos:\n  acme/widgets:\n    url: ${fixture.bare}\n    forge: git\n`);
    cleanups.push(scratch.cleanup);
    fake = await startFakeAnthropic({ apiKey: KEY, script: fixAddScript() });
    app = buildApp({
      ANTHROPIC_API_KEY: KEY,
      ANTHROPIC_BASE_URL: fake.url,
      AIRLOCK_CONFIG: scratch.config,
      AIRLOCK_DATA_DIR: scratch.dataDir,
    });
    return fixture;
  }

  it('shows the diff, asks, and pushes only after a yes', async () => {
    const { bare } = await setup();
    const t = terminal(true);
    const code = await runCommand(app as App, { repo: 'acme/widgets', task: 'Fix add()', push: true }, t.io);
    expect(code).toBe(0);
    expect(t.questions).toEqual([
      'Push this diff to a new branch of acme/widgets and open a pull request? [y/N] ',
    ]);
    const shown = t.err.join('');
    expect(shown.indexOf('+  return a + b;')).toBeGreaterThan(-1);
    const run = app?.store.listRuns()[0];
    expect(run).toMatchObject({ state: 'done', outcome: 'pushed' });
    expect(gitIn(bare, 'show', `${run?.branch}:src/add.js`)).toContain('a + b');
    const approval = app?.store.events(run?.id as string).find((e) => e.type === 'approval.granted');
    expect(approval?.data).toMatchObject({
      by: expect.stringMatching(/^cli:/),
      diff_sha256: run?.diffSha256,
    });
  });

  it('a no rejects the run and pushes nothing', async () => {
    const { bare } = await setup();
    const t = terminal(false);
    const code = await runCommand(app as App, { repo: 'acme/widgets', task: 'Fix add()', push: true }, t.io);
    expect(code).toBe(1);
    expect(app?.store.listRuns()[0]).toMatchObject({ state: 'rejected', error: 'declined at the terminal' });
    expect(gitIn(bare, 'for-each-ref', '--format=%(refname)')).toBe('refs/heads/main');
  });
});
