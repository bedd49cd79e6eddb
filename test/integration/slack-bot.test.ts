import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ScriptStep } from '../fakes/anthropic-server.js';
import { ADD_SUB_EDIT, fixAddScript, lastToolResult } from '../fakes/fix-add-script.js';
import { eventually, type Harness, SECRETS, startHarness } from '../support/bot-harness.js';
import { approvalMessage, approve, buttonsOf, requestChanges } from '../support/slack-thread.js';

const CHANNEL = 'C0DEV';

/** A command that begins with `touch "$TMPDIR/started"` is running in the run's local sandbox. */
const commandStarted = (h: Harness | undefined, runId: string) =>
  !!h && existsSync(join(h.env.AIRLOCK_DATA_DIR as string, 'workspaces', runId, 'tmp/started'));
const REQUESTER = 'U0REQUESTER';
const APPROVER = 'U0APPROVER';

describe('the Slack bot', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  async function mentionAndWaitForApproval(harness: Harness, text = 'fix add() so `sh test.sh` passes') {
    const started = Date.now();
    const mention = await harness.slack.mention({
      user: REQUESTER,
      channel: CHANNEL,
      text: `<@${harness.slack.botUserId}> ${text}`,
    });
    const firstReply = await eventually(
      () => harness.slack.thread(CHANNEL, mention.ts).find((m) => m.ts !== mention.ts && m.botId),
      5000,
      'the first reply',
    );
    const firstReplyMs = Date.now() - started;
    const approval = await approvalMessage(harness.slack, CHANNEL, mention.ts);
    return { mention, firstReply, firstReplyMs, approval };
  }

  it('answers a mention in its thread within a second and asks for approval of the diff', async () => {
    h = await startHarness({ script: fixAddScript() });
    const { mention, firstReplyMs, approval } = await mentionAndWaitForApproval(h);
    expect(firstReplyMs).toBeLessThan(1000);
    expect(h.slack.reactions).toContainEqual(
      expect.objectContaining({ channel: CHANNEL, ts: mention.ts, name: 'eyes' }),
    );
    const run = h.app.store.listRuns()[0];
    expect(run).toMatchObject({ state: 'awaiting_approval', requester: REQUESTER, source: 'slack' });
    expect(JSON.stringify(approval.blocks)).toContain('+  return a + b;');
    expect(buttonsOf(approval).map((b) => b.value)).toEqual(Array(3).fill(`${run?.id}:${run?.diffSha256}`));
    expect(h.model.problems).toEqual([]);
    expect(h.slack.problems).toEqual([]);
  });

  it('a redelivered envelope makes no second run', async () => {
    h = await startHarness({ script: fixAddScript() });
    const { mention } = await mentionAndWaitForApproval(h);
    const envelope = h.slack.envelopes.find((e) => e.type === 'events_api');
    await h.slack.redeliver(envelope?.envelopeId as string);
    // Bolt acks the redelivery, then hands it to the intake, which reaches the duplicate check
    // without any I/O: once the stand-in has the ack and the loop has turned once, a second run
    // would already be in the store.
    await h.slack.waitForAck(envelope?.envelopeId as string);
    await new Promise((r) => setImmediate(r));
    expect(h.app.store.listRuns()).toHaveLength(1);
    const statusMessages = h.slack
      .thread(CHANNEL, mention.ts)
      .filter(
        (m) =>
          buttonsOf(m).some((b) => b.action_id === 'airlock_cancel') ||
          /on `acme\/widgets`/.test(JSON.stringify(m.blocks)),
      );
    expect(statusMessages).toHaveLength(1);
  });

  it('refuses the requester and non-approvers, pushes once for an approver, and links the PR', async () => {
    h = await startHarness({ script: fixAddScript(), slack: { userGroups: { S0LEADS: ['U0LEAD'] } } });
    const { mention, approval } = await mentionAndWaitForApproval(h);
    const harness = h;
    const click = (user: string) => approve(harness.slack, { user, channel: CHANNEL, approval });

    await click(REQUESTER);
    await click('U0STRANGER');
    const refusals = await eventually(
      () => (h?.slack.ephemerals.length === 2 ? h.slack.ephemerals : undefined),
      5000,
      'two refusals',
    );
    expect(refusals.find((e) => e.user === REQUESTER)?.text).toContain('four_eyes');
    expect(refusals.find((e) => e.user === 'U0STRANGER')?.text).toContain('not an approver');
    expect(h.github.pushes).toEqual([]);

    // A double click: two clicks, one push.
    await click('U0LEAD');
    await click('U0LEAD');
    const prLine = await eventually(
      () => h?.slack.thread(CHANNEL, mention.ts).find((m) => m.text?.includes('Pull request opened')),
      20_000,
      'the PR link',
    );
    expect(prLine.text).toContain(h.github.pulls[0]?.html_url);
    expect(h.github.pulls).toHaveLength(1);
    expect(h.github.pushes).toHaveLength(1);
    const run = h.app.store.listRuns()[0];
    expect(run).toMatchObject({ state: 'done', outcome: 'pushed' });
    const approvalEvents = h.app.store
      .events(run?.id as string)
      .filter((e) => e.type.startsWith('approval.'));
    expect(approvalEvents.map((e) => [e.type, e.data.by])).toEqual([
      ['approval.refused', REQUESTER],
      ['approval.refused', 'U0STRANGER'],
      ['approval.granted', 'U0LEAD'],
      ['approval.refused', 'U0LEAD'],
    ]);
    // The buttons gave way to who approved.
    const decided = await eventually(
      () =>
        h?.slack.thread(CHANNEL, mention.ts).find((m) => m.ts === approval.ts && buttonsOf(m).length === 0),
      5000,
      'buttons replaced',
    );
    expect(JSON.stringify(decided.blocks)).toContain('Approved by <@U0LEAD>');

    // No token reached Slack.
    const sent = JSON.stringify(h.slack.calls.map((c) => c.args));
    for (const secret of Object.values(SECRETS)) expect(sent).not.toContain(secret);
  });

  it('a failed pull-request call shows Retry push to approvers; the retry opens one PR on the same commit', async () => {
    h = await startHarness({ script: fixAddScript() });
    const { mention, approval } = await mentionAndWaitForApproval(h);
    h.github.failNext({
      method: 'POST',
      path: /^\/repos\/acme\/widgets\/pulls$/,
      status: 403,
      message: 'Resource not accessible by integration',
    });
    await approve(h.slack, { user: APPROVER, channel: CHANNEL, approval });
    const harness = h;
    const retryMessage = await eventually(
      () =>
        harness.slack
          .thread(CHANNEL, mention.ts)
          .find((m) => buttonsOf(m).some((b) => b.action_id === 'airlock_retry_push')),
      20_000,
      'the Retry push message',
    );
    expect(retryMessage.text).toContain('Resource not accessible by integration');
    const run = h.app.store.listRuns()[0];
    expect(run).toMatchObject({ state: 'failed', retryable: true });
    const commit = h.github.refSha('acme', 'widgets', `refs/heads/${run?.branch}`);
    const retry = (user: string) =>
      harness.slack.clickButton({
        user,
        channel: CHANNEL,
        messageTs: retryMessage.ts,
        actionId: 'airlock_retry_push',
        value: buttonsOf(retryMessage)[0]?.value,
      });

    // The requester is no approver (four_eyes): refused, and nothing is pushed.
    await retry(REQUESTER);
    const refusal = await eventually(() => harness.slack.ephemerals.at(-1), 5000, 'a refusal');
    expect(refusal).toMatchObject({ user: REQUESTER, text: expect.stringContaining('four_eyes') });

    await retry(APPROVER);
    const prLine = await eventually(
      () => harness.slack.thread(CHANNEL, mention.ts).find((m) => m.text?.includes('Pull request opened')),
      20_000,
      'the PR link',
    );
    expect(prLine.text).toContain(h.github.pulls[0]?.html_url);
    expect(h.github.pulls).toHaveLength(1);
    expect(h.github.refSha('acme', 'widgets', `refs/heads/${run?.branch}`)).toBe(commit);
    expect(h.app.store.getRun(run?.id as string)).toMatchObject({ state: 'done', outcome: 'pushed' });
  });

  it('Request changes continues the agent in the same sandbox; the old diff’s buttons are refused', async () => {
    const script: ScriptStep[] = [
      ...fixAddScript(),
      (body) => {
        const last = JSON.stringify(body.messages.at(-1));
        if (!last.includes('also add a subtract')) throw new Error(`feedback missing: ${last}`);
        return {
          content: [ADD_SUB_EDIT],
        };
      },
      (body) => {
        if (!lastToolResult(body as never).includes('has been edited')) throw new Error('insert failed');
        return { content: [{ type: 'text', text: 'Added sub() as asked.' }] };
      },
    ];
    h = await startHarness({ script });
    const { mention, approval } = await mentionAndWaitForApproval(h);
    const oldValue = buttonsOf(approval)[0]?.value as string;
    await requestChanges(h.slack, {
      user: REQUESTER,
      channel: CHANNEL,
      approval,
      feedback: 'please also add a subtract function',
    });
    const second = await approvalMessage(h.slack, CHANNEL, mention.ts, [approval.ts]);
    expect(JSON.stringify(second.blocks)).toContain('sub(a, b)');

    await h.slack.clickButton({
      user: APPROVER,
      channel: CHANNEL,
      messageTs: approval.ts,
      actionId: 'airlock_approve',
      value: oldValue,
    });
    const refusal = await eventually(
      () => h?.slack.ephemerals.find((e) => e.user === APPROVER),
      5000,
      'the refusal',
    );
    expect(refusal.text).toContain('The diff changed');
    expect(h.github.pushes).toEqual([]);

    await approve(h.slack, { user: APPROVER, channel: CHANNEL, approval: second });
    await eventually(() => h?.github.pulls[0], 20_000, 'the PR');
    expect(h.model.problems).toEqual([]);
  });

  it('a reply from the requester while the agent works reaches the agent before its next step', async () => {
    const script: ScriptStep[] = [
      { content: [{ type: 'tool_use', name: 'bash', input: { command: 'sleep 2; echo waited' } }] },
      (body) => {
        if (!JSON.stringify(body.messages.at(-1)).includes('use a plus sign'))
          throw new Error('instruction missing');
        return { content: [{ type: 'text', text: 'Understood; nothing else to do.' }] };
      },
    ];
    h = await startHarness({ script });
    const mention = await h.slack.mention({
      user: REQUESTER,
      channel: CHANNEL,
      text: `<@${h.slack.botUserId}> look at add()`,
    });
    // The model has been asked once and answered with the command: the reply lands while it runs.
    await eventually(() => h?.model.requests.length === 1, 10_000, 'the first model turn');
    await h.slack.threadReply({
      user: REQUESTER,
      channel: CHANNEL,
      threadTs: mention.ts,
      text: 'use a plus sign',
    });
    await eventually(() => h?.app.store.listRuns({ states: ['done'] })[0], 20_000, 'done');
    expect(h.model.problems).toEqual([]);
    expect(h.app.store.listRuns()[0]?.outcome).toBe('no_changes');
  });

  it('Cancel on the status message stops the agent and the run ends cancelled', async () => {
    h = await startHarness({
      script: [
        {
          content: [
            { type: 'tool_use', name: 'bash', input: { command: 'touch "$TMPDIR/started"; sleep 30' } },
          ],
        },
      ],
    });
    const mention = await h.slack.mention({
      user: REQUESTER,
      channel: CHANNEL,
      text: `<@${h.slack.botUserId}> wait a while`,
    });
    const working = await eventually(
      () => h?.app.store.listRuns({ states: ['working'] })[0],
      10_000,
      'working',
    );
    // Cancel once the agent's command is under way: it has touched a file in its sandbox's /tmp.
    await eventually(() => commandStarted(h, working.id), 10_000, 'the command to start');
    const status = await eventually(
      () =>
        h?.slack
          .thread(CHANNEL, mention.ts)
          .find((m) => buttonsOf(m).some((b) => b.action_id === 'airlock_cancel')),
      5000,
      'the Cancel button',
    );
    await h.slack.clickButton({
      user: REQUESTER,
      channel: CHANNEL,
      messageTs: status.ts,
      actionId: 'airlock_cancel',
      value: buttonsOf(status)[0]?.value,
    });
    const run = await eventually(
      () => h?.app.store.listRuns({ states: ['cancelled'] })[0],
      10_000,
      'cancelled',
    );
    expect(run.error).toBe('Cancelled.');
    await eventually(
      () =>
        h?.slack
          .thread(CHANNEL, mention.ts)
          .find((m) => m.ts === status.ts && JSON.stringify(m.blocks).includes('Cancelled')),
      5000,
      'status shows cancelled',
    );
  });

  it('after a restart, approval buttons still work and a working run resumes from its last turn', async () => {
    const script: ScriptStep[] = [
      {
        content: [
          {
            type: 'tool_use',
            name: 'bash',
            input: { command: 'touch "$TMPDIR/started"; sleep 3; echo slept' },
          },
        ],
      },
      (body) => {
        const seen = lastToolResult(body as never);
        if (!seen.includes('cancelled') && !seen.includes('slept') && !seen.includes('restarted'))
          throw new Error(`unexpected: ${seen}`);
        return {
          content: [
            {
              type: 'tool_use',
              name: 'str_replace_based_edit_tool',
              input: { command: 'str_replace', path: 'src/add.js', old_str: 'a - b', new_str: 'a + b' },
            },
          ],
        };
      },
      { content: [{ type: 'text', text: 'Fixed after a restart.' }] },
    ];
    h = await startHarness({ script });
    const mention = await h.slack.mention({
      user: REQUESTER,
      channel: CHANNEL,
      text: `<@${h.slack.botUserId}> fix add()`,
    });
    const working = await eventually(
      () =>
        h?.app.store.toolCalls(h.app.store.listRuns()[0]?.id ?? '').length === 0 &&
        h.app.store.listRuns({ states: ['working'] })[0],
      10_000,
      'working',
    );
    // The restart lands while the command runs: it has touched a file in its sandbox's /tmp.
    await eventually(() => commandStarted(h, working.id), 10_000, 'the command to start');
    await h.restart();
    const approval = await approvalMessage(h.slack, CHANNEL, mention.ts);
    await h.restart();
    await approve(h.slack, { user: APPROVER, channel: CHANNEL, approval });
    await eventually(() => h?.github.pulls[0], 20_000, 'the PR after restart');
    expect(h.app.store.listRuns()).toHaveLength(1);
    expect(h.app.store.verifyAudit().ok).toBe(true);
    expect(h.model.problems).toEqual([]);
  });

  it('serves /healthz, /readyz and /metrics', async () => {
    h = await startHarness({});
    const base = `http://127.0.0.1:${h.bot.port}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await eventually(async () => fetch(`${base}/readyz`), 1000, 'readyz');
    expect((await ready).status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('airlock_slack_connected 1');
    expect(metrics).toContain('airlock_runs_running 0');
  });
});
