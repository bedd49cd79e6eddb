import { afterEach, describe, expect, it } from 'vitest';
import { type FakeAnthropic, type ScriptStep, startFakeAnthropic } from '../fakes/anthropic-server.js';
import { lastToolResult } from '../fakes/fix-add-script.js';
import { FIXTURE_FILES } from '../fakes/fixture-repo.js';
import { type FakeGitHub, startFakeGitHub } from '../fakes/github-server.js';
import { eventually, type Harness, startHarness } from '../support/bot-harness.js';
import { runCli } from '../support/run-cli.js';
import { buttonsOf } from '../support/slack-thread.js';
import { scratchConfig } from '../support/workspace.js';

const KEY = 'sk-ant-ask-mode-0001';
const TOKEN = 'ghp_askModeToken000001';
type Body = { system?: unknown; messages: Array<{ role: string; content: unknown }> };

describe('airlock ask: read-only', () => {
  let model: FakeAnthropic | undefined;
  let github: FakeGitHub | undefined;
  const cleanups: Array<() => void> = [];
  afterEach(async () => {
    await model?.close();
    await github?.close();
    for (const c of cleanups.splice(0)) c();
  });

  it('answers on stdout; neither a command nor the editor can change the workspace; no setup, no diff', async () => {
    const seen: string[] = [];
    const script: ScriptStep[] = [
      (body) => {
        const b = body as Body;
        if (!JSON.stringify(b.system).includes('read-only')) throw new Error('not told it is read-only');
        return {
          content: [
            {
              type: 'tool_use',
              name: 'bash',
              input: { command: 'echo pwned >> src/add.js; touch new-file; rm -f test.sh; ls' },
            },
          ],
        };
      },
      (body) => {
        seen.push(lastToolResult(body as Body));
        return {
          content: [
            {
              type: 'tool_use',
              name: 'str_replace_based_edit_tool',
              input: { command: 'create', path: 'NOTES.md', file_text: 'x' },
            },
          ],
        };
      },
      (body) => {
        seen.push(lastToolResult(body as Body));
        return {
          content: [
            {
              type: 'tool_use',
              name: 'str_replace_based_edit_tool',
              input: { command: 'view', path: 'src/add.js' },
            },
          ],
        };
      },
      (body) => {
        seen.push(lastToolResult(body as Body));
        return { content: [{ type: 'text', text: 'add() is defined in src/add.js:1 and subtracts.' }] };
      },
    ];
    github = await startFakeGitHub({
      token: TOKEN,
      repos: [{ owner: 'acme', name: 'widgets', files: FIXTURE_FILES }],
    });
    model = await startFakeAnthropic({ apiKey: KEY, script });
    const scratch = scratchConfig(
      ['repos:', '  acme/widgets:', '    setup: echo the-setup-ran', 'limits: { ask_max_steps: 6 }', ''].join(
        '\n',
      ),
    );
    cleanups.push(scratch.cleanup);
    const env = {
      ANTHROPIC_API_KEY: KEY,
      ANTHROPIC_BASE_URL: model.url,
      GITHUB_TOKEN: TOKEN,
      GITHUB_API_URL: github.apiUrl,
      AIRLOCK_CONFIG: scratch.config,
      AIRLOCK_DATA_DIR: scratch.dataDir,
    };
    const r = await runCli(['ask', '--repo', 'acme/widgets', 'where', 'is', 'add()', 'defined?'], env);
    expect(r.stderr).not.toContain('airlock: ');
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe('add() is defined in src/add.js:1 and subtracts.');
    // The command ran, but every write failed; the editor refused to create.
    expect(seen[0]).toContain('Read-only file system');
    expect(seen[0]).toContain('test.sh'); // rm could not remove it either
    expect(seen[1]).toContain('this run is read-only');
    expect(seen[2]).toContain('return a - b');
    expect(seen[2]).not.toContain('pwned');
    const first = JSON.stringify(model.requests[0]?.body.messages[0]);
    expect(first).toContain('where is add() defined?');

    const runs = await runCli(['runs', '--json'], env);
    const [run] = JSON.parse(runs.stdout) as Array<{ id: string }>;
    const shown = JSON.parse((await runCli(['show', run?.id as string, '--json'], env)).stdout) as {
      run: Record<string, unknown>;
      events: Array<{ type: string; data: Record<string, unknown> }>;
      tool_calls?: Array<{ name: string }>;
    };
    expect(shown.run).toMatchObject({ mode: 'ask', state: 'done', outcome: 'answered', diffSha256: null });
    expect(shown.events.find((e) => e.type === 'run.requested')?.data.mode).toBe('ask');
    expect(JSON.stringify(shown)).not.toContain('the-setup-ran');
    expect(github.pushes).toEqual([]);
  });

  it('without bubblewrap an ask run is refused before anything runs, saying why', async () => {
    github = await startFakeGitHub({
      token: TOKEN,
      repos: [{ owner: 'acme', name: 'widgets', files: FIXTURE_FILES }],
    });
    model = await startFakeAnthropic({ apiKey: KEY, script: [] });
    const scratch = scratchConfig(
      ['repos:', '  acme/widgets: {}', 'sandbox:', '  local: { isolation: none }', ''].join('\n'),
    );
    cleanups.push(scratch.cleanup);
    const r = await runCli(['ask', '--repo', 'acme/widgets', 'what?'], {
      ANTHROPIC_API_KEY: KEY,
      ANTHROPIC_BASE_URL: model.url,
      GITHUB_TOKEN: TOKEN,
      GITHUB_API_URL: github.apiUrl,
      AIRLOCK_CONFIG: scratch.config,
      AIRLOCK_DATA_DIR: scratch.dataDir,
    });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('need the local sandbox isolated with bubblewrap');
    expect(model.requests).toHaveLength(0);
  });

  it('--json carries the answer; a repository may ask for its setup (ask_setup)', async () => {
    github = await startFakeGitHub({
      token: TOKEN,
      repos: [{ owner: 'acme', name: 'widgets', files: FIXTURE_FILES }],
    });
    model = await startFakeAnthropic({
      apiKey: KEY,
      script: [{ content: [{ type: 'text', text: 'It adds, after the fix.' }] }],
    });
    const scratch = scratchConfig(
      ['repos:', '  acme/widgets:', '    setup: echo the-setup-ran', '    ask_setup: true', ''].join('\n'),
    );
    cleanups.push(scratch.cleanup);
    const env = {
      ANTHROPIC_API_KEY: KEY,
      ANTHROPIC_BASE_URL: model.url,
      GITHUB_TOKEN: TOKEN,
      GITHUB_API_URL: github.apiUrl,
      AIRLOCK_CONFIG: scratch.config,
      AIRLOCK_DATA_DIR: scratch.dataDir,
    };
    const r = await runCli(['ask', '--repo', 'acme/widgets', '--json', 'what does add do?'], env);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({
      mode: 'ask',
      state: 'done',
      outcome: 'answered',
      answer: 'It adds, after the fix.',
    });
    const shown = await runCli(['show', out.id, '--json'], env);
    expect(shown.stdout).toContain('the-setup-ran');
  });
});

describe('@airlock ask in Slack', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('answers in the thread, its file references linked at the base commit, with no buttons and no diff', async () => {
    h = await startHarness({
      script: [
        {
          content: [
            { type: 'tool_use', name: 'bash', input: { command: 'grep -n "function add" src/add.js' } },
          ],
        },
        { content: [{ type: 'text', text: '**add()** is in src/add.js:1; it subtracts (`a - b`).' }] },
      ],
    });
    const harness = h;
    const mention = await harness.slack.mention({
      user: 'U0REQUESTER',
      channel: 'C0DEV',
      text: `<@${harness.slack.botUserId}> ask where is add() defined?`,
    });
    const answer = await eventually(
      () =>
        harness.slack.thread('C0DEV', mention.ts).find((m) => String(m.text ?? '').includes('it subtracts')),
      20_000,
      'the answer',
    );
    const run = harness.app.store.listRuns()[0];
    expect(run).toMatchObject({
      mode: 'ask',
      state: 'done',
      outcome: 'answered',
      task: 'where is add() defined?',
    });
    const link = `${harness.github.webUrl}/acme/widgets/blob/${run?.baseSha}/src/add.js#L1`;
    expect(answer.text).toContain(`<${link}|src/add.js:1>`);
    expect(answer.text).toContain('*add()*');
    expect(answer.text).toContain('`a - b`');
    const buttons = harness.slack.thread('C0DEV', mention.ts).flatMap((m) => buttonsOf(m));
    expect(buttons.filter((b) => b.action_id !== 'airlock_cancel')).toEqual([]);
    expect(harness.github.pushes).toEqual([]);
  });
});
