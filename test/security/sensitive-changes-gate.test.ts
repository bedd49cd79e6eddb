import { afterEach, describe, expect, it } from 'vitest';
import type { ScriptStep } from '../fakes/anthropic-server.js';
import { eventually, type Harness, startHarness } from '../support/bot-harness.js';
import { runCli } from '../support/run-cli.js';
import { approve, buttonsOf } from '../support/slack-thread.js';

const CHANNEL = 'C0DEV';
const REQUESTER = 'U0REQUESTER';
const APPROVER = 'U0APPROVER';

/** The agent's work: one shell command, then its summary. */
function agentRuns(command: string): ScriptStep[] {
  return [
    { content: [{ type: 'tool_use', name: 'bash', input: { command } }] },
    { content: [{ type: 'text', text: 'Done.' }] },
  ];
}

const WORKFLOW =
  'mkdir -p .github/workflows && printf "on: push\\njobs: {}\\n" > .github/workflows/deploy.yml && ln -s /etc/passwd passwd-link';

function policy(extra: string): string {
  return [
    'repos:',
    '  acme/widgets:',
    '    approvers: [U0APPROVER, U0PLATFORM]',
    '    four_eyes: true',
    extra,
    'channels:',
    '  C0DEV: { repo: acme/widgets }',
    '',
  ].join('\n');
}

/** Sensitive changes are named before anyone approves; policy decides who may (issue 10). */
describe('sensitive changes at the gate', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  async function reviewMessage(harness: Harness) {
    const mention = await harness.slack.mention({
      user: REQUESTER,
      channel: CHANNEL,
      text: `<@${harness.slack.botUserId}> add a deploy workflow`,
    });
    const message = await eventually(
      () =>
        harness.slack
          .thread(CHANNEL, mention.ts)
          .find((m) => buttonsOf(m).some((b) => b.action_id === 'airlock_reject')),
      30_000,
      'the review message',
    );
    return { mention, message };
  }

  it('a workflow file and a symlink out of the repository are named; CI changes cannot be approved by default', async () => {
    h = await startHarness({ script: agentRuns(WORKFLOW), policy: policy('') });
    const { message } = await reviewMessage(h);
    const text = JSON.stringify(message.blocks);
    expect(text).toContain('Deserves a second look');
    expect(text).toContain('.github/workflows/deploy.yml');
    expect(text).toContain('passwd-link');
    expect(text).toContain('/etc/passwd');
    expect(text).toContain('allow_ci_changes');
    expect(buttonsOf(message).map((b) => b.action_id)).not.toContain('airlock_approve');
    expect(h.github.pushes).toEqual([]);
    // `airlock show` names them too.
    const runId = h.app.store.listRuns()[0]?.id as string;
    const show = await runCli(['show', runId], h.env);
    expect(show.stdout).toContain('deserves a second look:');
    expect(show.stdout).toMatch(/\.github\/workflows\/deploy\.yml: CI definition added/);
    expect(show.stdout).toMatch(/passwd-link: symlink added → \/etc\/passwd/);
  });

  it('with allow_ci_changes the change can be approved, and the PR body names it too', async () => {
    h = await startHarness({ script: agentRuns(WORKFLOW), policy: policy('    allow_ci_changes: true') });
    const { mention, message } = await reviewMessage(h);
    expect(JSON.stringify(message.blocks)).toContain('Deserves a second look');
    await approve(h.slack, { user: APPROVER, channel: CHANNEL, approval: message });
    const harness = h;
    await eventually(
      () => harness.slack.thread(CHANNEL, mention.ts).find((m) => m.text?.includes('Pull request opened')),
      20_000,
      'the PR',
    );
    expect(h.github.pulls[0]?.body).toContain('.github/workflows/deploy.yml');
  });

  it('a protected path needs one of its own approvers: a repository approver outside that list is refused', async () => {
    h = await startHarness({
      script: agentRuns('mkdir -p deploy && echo "replicas: 3" > deploy/app.yaml'),
      policy: policy('    protected_paths: [{ paths: ["deploy/**"], approvers: [U0PLATFORM] }]'),
    });
    const { mention, message } = await reviewMessage(h);
    expect(JSON.stringify(message.blocks)).toContain('deploy/app.yaml');
    await approve(h.slack, { user: APPROVER, channel: CHANNEL, approval: message });
    const harness = h;
    const refusal = await eventually(() => harness.slack.ephemerals.at(-1), 5000, 'a refusal');
    expect(refusal).toMatchObject({ user: APPROVER, text: expect.stringContaining('protected paths') });
    expect(h.github.pushes).toEqual([]);
    await approve(h.slack, { user: 'U0PLATFORM', channel: CHANNEL, approval: message });
    await eventually(
      () => harness.slack.thread(CHANNEL, mention.ts).find((m) => m.text?.includes('Pull request opened')),
      20_000,
      'the PR',
    );
    expect(h.github.pulls).toHaveLength(1);
  });
});
