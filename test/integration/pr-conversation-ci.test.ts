import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import type { ScriptStep } from '../fakes/anthropic-server.js';
import { ADD_SUB_EDIT } from '../fakes/fix-add-script.js';
import { type FakeJira, startFakeJira } from '../fakes/jira/index.js';
import { eventually, type Harness } from '../support/bot-harness.js';
import {
  APPROVER,
  CHANNEL,
  openedPullRequest,
  prWatchPolicy,
  REQUESTER,
} from '../support/pull-request-flow.js';
import { approvalMessage, approve, buttonsOf } from '../support/slack-thread.js';

const LOG = 'npm test\nFAIL test/add.test.js\n  expected 5, got -1\n';

/** The agent given a CI failure: the failure is its task; it fixes and says so. */
const fixesCi: ScriptStep[] = [
  (body) => {
    const task = JSON.stringify((body as { messages: unknown[] }).messages[0]);
    if (!task.includes('the check \\"unit tests\\" failed') || !task.includes('expected 5, got -1'))
      throw new Error(`not the failure's task: ${task.slice(0, 400)}`);
    return { content: [ADD_SUB_EDIT] };
  },
  { content: [{ type: 'text', text: 'Fixed what made unit tests fail.' }] },
];

const failCheck = (harness: Harness, sha: string) =>
  harness.github.addCheckRun({
    owner: 'acme',
    repo: 'widgets',
    sha,
    name: 'unit tests',
    status: 'completed',
    conclusion: 'failure',
    log: LOG,
  });

const fixCiMessages = (harness: Harness, threadTs: string) =>
  harness.slack
    .thread(CHANNEL, threadTs)
    .filter((m) => String(m.text ?? '').includes('Check unit tests failed'));

describe('failing checks and the end of a pull request (GitHub, by polling)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('Fix CI: only the requester and approvers may click it; a click starts a follow-up whose task is the failure; at most max_fix_attempts', async () => {
    const opened = await openedPullRequest(fixesCi, {
      policy: prWatchPolicy(['pr_watch: { every: 1s, max_fix_attempts: 1 }']),
    });
    h = opened.harness;
    const { harness, mention, first, head } = opened;
    await failCheck(harness, head);
    const message = await eventually(
      () => fixCiMessages(harness, mention.ts)[0],
      15_000,
      'the failed check in the thread',
    );
    const button = buttonsOf(message).find((b) => b.action_id === 'airlock_fix_ci');
    expect(button).toBeDefined();
    const click = (user: string) =>
      harness.slack.clickButton({
        user,
        channel: CHANNEL,
        messageTs: message.ts,
        actionId: 'airlock_fix_ci',
        value: button?.value,
      });

    await click('U0OUTSIDER');
    const refusal = await eventually(
      () => harness.slack.ephemerals.find((e) => e.user === 'U0OUTSIDER'),
      10_000,
      'the refusal',
    );
    expect(refusal.text).toContain('Only the requester and the approvers');
    expect(harness.app.store.listRuns()).toHaveLength(1);

    await click(REQUESTER);
    const fix = await eventually(
      () => harness.app.store.listRuns().find((r) => r.prNumber === 1),
      10_000,
      'the Fix CI run',
    );
    expect(fix.task).toContain('the check "unit tests" failed');
    const second = await approvalMessage(harness.slack, CHANNEL, mention.ts, [first.ts], 30_000);
    await approve(harness.slack, { user: APPROVER, channel: CHANNEL, approval: second });
    const newHead = await eventually(
      () => harness.github.pulls[0]?.headSha !== head && harness.github.pulls[0]?.headSha,
      20_000,
      'the fix pushed',
    );
    const bare = harness.github.barePath('acme', 'widgets');
    expect(
      execFileSync('git', ['--git-dir', bare, 'rev-parse', `${newHead}^`], { encoding: 'utf8' }).trim(),
    ).toBe(head);
    // A second click on the old failure starts nothing: that head is no longer the branch's.
    await click(REQUESTER);
    await eventually(
      () => harness.slack.ephemerals.filter((e) => e.user === REQUESTER).length > 0,
      10_000,
      'the second refusal',
    );
    // The new head fails too: it is reported, but the one attempt is spent, so no button.
    await failCheck(harness, newHead);
    const again = await eventually(() => fixCiMessages(harness, mention.ts)[1], 15_000, 'the second failure');
    expect(buttonsOf(again).some((b) => b.action_id === 'airlock_fix_ci')).toBe(false);
    await eventually(
      () =>
        harness.slack
          .thread(CHANNEL, mention.ts)
          .some((m) => String(m.text ?? '').includes('No more Fix CI on this pull request')),
      10_000,
      'the attempts said',
    );
    expect(harness.app.store.listRuns().filter((r) => r.prNumber === 1)).toHaveLength(1);
  });

  it('pr_watch.autofix starts the fix without a click, and its push still waits for an approval', async () => {
    const opened = await openedPullRequest(fixesCi, {
      policy: prWatchPolicy(['pr_watch: { every: 1s, autofix: true }']),
    });
    h = opened.harness;
    const { harness, mention, first, head } = opened;
    await failCheck(harness, head);
    const second = await approvalMessage(harness.slack, CHANNEL, mention.ts, [first.ts], 30_000);
    const fix = harness.app.store.listRuns().find((r) => r.prNumber === 1);
    expect(fix).toMatchObject({ requester: REQUESTER, state: 'awaiting_approval' });
    expect(buttonsOf(second).some((b) => b.action_id === 'airlock_approve')).toBe(true);
    expect(harness.github.pulls[0]?.headSha).toBe(head);
    expect(
      buttonsOf(fixCiMessages(harness, mention.ts)[0]).some((b) => b.action_id === 'airlock_fix_ci'),
    ).toBe(false);
  });

  it('reviews and the merge reach the thread; the status says merged, and a merged pull request is no longer polled', async () => {
    const opened = await openedPullRequest([]);
    h = opened.harness;
    const { harness, mention } = opened;
    await harness.github.addReview({
      owner: 'acme',
      repo: 'widgets',
      number: 1,
      user: 'lead',
      state: 'CHANGES_REQUESTED',
      body: 'Please name the constant.',
    });
    await harness.github.addReview({
      owner: 'acme',
      repo: 'widgets',
      number: 1,
      user: 'lead',
      state: 'APPROVED',
    });
    const said = (text: string) =>
      eventually(
        () => harness.slack.thread(CHANNEL, mention.ts).find((m) => String(m.text ?? '').includes(text)),
        10_000,
        text,
      );
    expect(String((await said('lead requested changes')).text)).toContain('Please name the constant.');
    await said('lead approved the pull request');
    harness.github.merge({ owner: 'acme', repo: 'widgets', number: 1, by: 'lead' });
    await said('The pull request was merged by lead');
    await eventually(
      () =>
        harness.slack
          .thread(CHANNEL, mention.ts)
          .some((m) => JSON.stringify(m.blocks ?? []).includes('pull request merged')),
      10_000,
      'the status message says merged',
    );
    expect(harness.app.pullRequests.get('acme/widgets', 1)?.state).toBe('merged');
    const after = harness.github.requests.length;
    await new Promise((r) => setTimeout(r, 2500));
    expect(harness.github.requests.slice(after).filter((r) => r.path.includes('/pulls/1'))).toEqual([]);
    const events = harness.app.store.events(harness.app.store.listRuns()[0]?.id as string).map((e) => e.type);
    expect(events).toEqual(expect.arrayContaining(['pr.review', 'pr.closed']));
  });
});

describe('jira.on_merge', () => {
  let h: Harness | undefined;
  let jira: FakeJira | undefined;
  afterEach(async () => {
    await h?.close();
    await jira?.close();
    h = undefined;
  });

  it('moves the ticket when the pull request airlock opened for it is merged', async () => {
    jira = await startFakeJira({
      flavor: 'cloud',
      email: 'bot@acme.io',
      apiToken: 'jira-api-token-merge-1',
      issues: [
        { key: 'WID-7', summary: 'add() returns the wrong result', description: 'add(2, 3) gives -1' },
      ],
    });
    const opened = await openedPullRequest([], {
      policy: prWatchPolicy([
        'pr_watch: { every: 1s }',
        'jira:',
        '  projects: { WID: acme/widgets }',
        '  on_pr: { comment: true, transition: In Review }',
        '  on_merge: { transition: Done }',
      ]),
      env: { JIRA_BASE_URL: jira.url, JIRA_EMAIL: 'bot@acme.io', JIRA_API_TOKEN: 'jira-api-token-merge-1' },
      task: '<https://acme.atlassian.net/browse/WID-7|WID-7> please',
    });
    h = opened.harness;
    const fake = jira;
    await eventually(() => fake.issue('WID-7').status === 'In Review', 10_000, 'the ticket in review');
    opened.harness.github.merge({ owner: 'acme', repo: 'widgets', number: 1, by: 'lead' });
    // Jira answers the transition before airlock records it: wait for the record.
    const updates = () =>
      opened.harness.app.store
        .events(opened.harness.app.store.listRuns()[0]?.id as string)
        .filter((e) => e.type === 'ticket.updated')
        .map((e) => e.data.action);
    await eventually(() => updates().length === 3, 15_000, 'the ticket moved on merge');
    expect(updates()).toEqual(['comment', 'transition to In Review', 'transition to Done']);
    expect(fake.issue('WID-7').status).toBe('Done');
  });
});
