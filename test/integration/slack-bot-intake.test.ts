import { afterEach, describe, expect, it } from 'vitest';
import type { ScriptStep } from '../fakes/anthropic-server.js';
import { fixAddScript } from '../fakes/fix-add-script.js';
import { eventually, type Harness, startHarness } from '../support/bot-harness.js';

const CHANNEL = 'C0DEV';
const POLICY = (extra = '') =>
  [
    'repos:',
    '  acme/widgets:',
    '    approvers: [U0APPROVER]',
    '    requesters: [U0REQUESTER, S0ENG]',
    '    approval_ttl: 1s',
    '  acme/gadgets:',
    '    approvers: [U0APPROVER]',
    'channels:',
    '  C0DEV: { repo: acme/widgets }',
    extra,
    '',
  ].join('\n');

const bigDiff: ScriptStep[] = [
  {
    content: [
      {
        type: 'tool_use',
        name: 'str_replace_based_edit_tool',
        input: {
          command: 'create',
          path: 'docs/big.md',
          file_text: `${'A line of documentation.\n'.repeat(300)}`,
        },
      },
    ],
  },
  { content: [{ type: 'text', text: 'Wrote the docs.' }] },
];

describe('Slack intake', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('refuses someone the repository’s requesters do not list, and says whom to ask', async () => {
    h = await startHarness({ policy: POLICY() });
    const m = await h.slack.mention({
      user: 'U0OUTSIDER',
      channel: CHANNEL,
      text: `<@${h.slack.botUserId}> fix it`,
    });
    const reply = await eventually(
      () => h?.slack.thread(CHANNEL, m.ts).find((x) => x.botId),
      5000,
      'the refusal',
    );
    expect(reply.text).toContain('You may not start runs on this repository');
    expect(reply.text).toContain('<@U0APPROVER>');
    expect(h.app.store.listRuns()).toEqual([]);
  });

  it('a member of a requester user group may start a run, and a direct message works too', async () => {
    h = await startHarness({
      policy: POLICY(),
      script: fixAddScript(),
      slack: { userGroups: { S0ENG: ['U0MEMBER'] } },
    });
    await h.slack.directMessage({ user: 'U0MEMBER', text: 'repo:acme/widgets fix add()' });
    await eventually(
      () => h?.app.store.listRuns({ states: ['awaiting_approval'] })[0],
      20_000,
      'a run from the DM',
    );
    expect(h.app.store.listRuns()[0]).toMatchObject({ requester: 'U0MEMBER', repo: 'acme/widgets' });
  });

  it('asks which repository with a picker when neither text nor channel says, then starts on the pick', async () => {
    h = await startHarness({ policy: POLICY(), script: fixAddScript() });
    const m = await h.slack.mention({
      user: 'U0REQUESTER',
      channel: 'C0ELSEWHERE',
      text: `<@${h.slack.botUserId}> fix add()`,
    });
    const picker = await eventually(
      () =>
        h?.slack
          .thread('C0ELSEWHERE', m.ts)
          .find((x) => JSON.stringify(x.blocks ?? []).includes('airlock_pick_repo')),
      5000,
      'the picker',
    );
    await h.slack.selectOption({
      user: 'U0REQUESTER',
      channel: 'C0ELSEWHERE',
      messageTs: picker.ts,
      actionId: 'airlock_pick_repo',
      value: 'acme/widgets',
    });
    const run = await eventually(() => h?.app.store.listRuns()[0], 5000, 'the run');
    expect(run).toMatchObject({ repo: 'acme/widgets', task: 'fix add()' });
    // Started for real: the agent works through its script to the approval.
    await eventually(
      () => h?.app.store.listRuns({ states: ['awaiting_approval'] })[0],
      20_000,
      'the run to reach approval',
    );
  });

  it('queues runs beyond concurrent_runs and says the place in line', async () => {
    const slow: ScriptStep[] = [
      { content: [{ type: 'tool_use', name: 'bash', input: { command: 'sleep 2' } }] },
      { content: [{ type: 'text', text: 'Done waiting.' }] },
      { content: [{ type: 'tool_use', name: 'bash', input: { command: 'true' } }] },
      { content: [{ type: 'text', text: 'Done.' }] },
    ];
    h = await startHarness({ policy: POLICY('limits: { concurrent_runs: 1 }'), script: slow });
    await h.slack.mention({ user: 'U0REQUESTER', channel: CHANNEL, text: `<@${h.slack.botUserId}> first` });
    await eventually(
      () => h?.app.store.listRuns({ states: ['working', 'provisioning'] })[0],
      10_000,
      'first running',
    );
    const second = await h.slack.mention({
      user: 'U0REQUESTER',
      channel: CHANNEL,
      text: `<@${h.slack.botUserId}> second`,
    });
    const queued = await eventually(
      () =>
        h?.slack
          .thread(CHANNEL, second.ts)
          .find((x) => JSON.stringify(x.blocks ?? []).includes('place 1 in line')),
      5000,
      'place in line',
    );
    expect(queued).toBeDefined();
    await eventually(() => h?.app.store.countByState().done === 2, 30_000, 'both done');
  });

  it('attaches a long diff as a .diff file in the thread', async () => {
    h = await startHarness({ policy: POLICY(), script: bigDiff });
    const m = await h.slack.mention({
      user: 'U0REQUESTER',
      channel: CHANNEL,
      text: `<@${h.slack.botUserId}> write docs`,
    });
    const file = await eventually(() => h?.slack.files[0], 20_000, 'the diff file');
    const run = h.app.store.listRuns()[0];
    expect(file).toMatchObject({ channel: CHANNEL, threadTs: m.ts, filename: `airlock-${run?.id}.diff` });
    expect(
      file.content.equals(h.app.store.diff(run?.id as string, run?.diffSha256 as string) as Buffer),
    ).toBe(true);
  });

  it('an approval nobody gives in time expires', async () => {
    h = await startHarness({ policy: POLICY(), script: fixAddScript(), expiryEveryMs: 200 });
    const m = await h.slack.mention({
      user: 'U0REQUESTER',
      channel: CHANNEL,
      text: `<@${h.slack.botUserId}> fix add()`,
    });
    const run = await eventually(() => h?.app.store.listRuns({ states: ['expired'] })[0], 20_000, 'expired');
    expect(run.error).toContain('expired');
    await eventually(
      () =>
        h?.slack
          .thread(CHANNEL, m.ts)
          .find((x) => JSON.stringify(x.blocks ?? []).includes('Approval expired')),
      5000,
      'the status says so',
    );
  });

  it('a dropped connection loses no mention, and a redelivery after reconnect makes no second run', async () => {
    h = await startHarness({ policy: POLICY(), script: fixAddScript() });
    h.slack.dropConnection();
    const m = await h.slack.mention({
      user: 'U0REQUESTER',
      channel: CHANNEL,
      text: `<@${h.slack.botUserId}> fix add()`,
    });
    await h.slack.waitForConnection(15_000);
    await eventually(
      () => h?.app.store.listRuns({ states: ['awaiting_approval'] })[0],
      20_000,
      'the run after reconnect',
    );
    h.slack.disconnect('refresh_requested');
    await h.slack.waitForConnection(15_000);
    expect(h.app.store.listRuns()).toHaveLength(1);
    expect(
      h.slack.thread(CHANNEL, m.ts).filter((x) => JSON.stringify(x.blocks ?? []).includes('airlock_approve')),
    ).toHaveLength(1);
  });

  it('a Jira key in the text gets a clear word that Jira is not configured, and the run goes on from the text', async () => {
    h = await startHarness({ policy: POLICY(), script: fixAddScript() });
    const m = await h.slack.mention({
      user: 'U0REQUESTER',
      channel: CHANNEL,
      text: `<@${h.slack.botUserId}> WID-7: fix add()`,
    });
    const note = await eventually(
      () => h?.slack.thread(CHANNEL, m.ts).find((x) => x.text?.includes('Jira')),
      5000,
      'the note',
    );
    expect(note.text).toContain('I saw WID-7, but Jira is not configured for airlock (JIRA_BASE_URL)');
    await eventually(() => h?.app.store.listRuns({ states: ['awaiting_approval'] })[0], 20_000, 'the run');
  });
});
