import { afterEach, describe, expect, it } from 'vitest';
import { APPROVED_CONTEXT } from '../../src/runs/ports/pull-requests.js';
import type { ScriptStep } from '../fakes/anthropic-server.js';
import { eventually, type Harness } from '../support/bot-harness.js';
import {
  APPROVER,
  addSubScript,
  bareGit,
  CHANNEL,
  openedPullRequest as openedPullRequest_,
  REQUESTER,
} from '../support/pull-request-flow.js';
import { approvalMessage, approve, buttonsOf } from '../support/slack-thread.js';

const addSub = addSubScript('Added sub() as asked on the pull request.');
const git = bareGit;

describe('the pull request is a conversation too (GitHub, by polling)', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  async function openedPullRequest(script: ScriptStep[]) {
    const opened = await openedPullRequest_(script);
    h = opened.harness;
    return opened;
  }

  it('an @airlock comment from a mapped requester becomes one new commit on the branch after approval in the thread, with a reply on the PR', async () => {
    const { harness, mention, first, head } = await openedPullRequest(addSub);
    // The head airlock pushed is marked approved, by whom and for which diff.
    await eventually(() => harness.github.statuses('acme', 'widgets', head).length > 0, 10_000, 'the status');
    const pushedStatus = harness.github.statuses('acme', 'widgets', head);
    expect(pushedStatus).toEqual([
      expect.objectContaining({
        context: APPROVED_CONTEXT,
        state: 'success',
        description: expect.stringMatching(/^approved by U0APPROVER · diff [0-9a-f]{12}$/),
      }),
    ]);

    harness.github.addComment({
      owner: 'acme',
      repo: 'widgets',
      number: 1,
      user: 'octocat',
      body: '@airlock please also add sub()',
    });
    const second = await approvalMessage(harness.slack, CHANNEL, mention.ts, [first.ts], 30_000);
    expect(JSON.stringify(second.blocks)).toContain('export function sub(a, b)');
    const followUp = harness.app.store.listRuns().find((r) => r.prNumber === 1);
    expect(followUp).toMatchObject({
      source: 'forge',
      requester: REQUESTER,
      baseRef: expect.stringMatching(/^airlock\//),
    });

    // Four-eyes: octocat is the requester (through people:), so they cannot approve it themselves.
    await approve(harness.slack, { user: REQUESTER, channel: CHANNEL, approval: second });
    await eventually(
      () => harness.app.store.events(followUp?.id as string).some((e) => e.type === 'approval.refused'),
      10_000,
      'the requester refused',
    );
    await approve(harness.slack, { user: APPROVER, channel: CHANNEL, approval: second });
    const newHead = await eventually(
      () => harness.github.pulls[0]?.headSha !== head && harness.github.pulls[0]?.headSha,
      20_000,
      'the new head',
    );
    const bare = harness.github.barePath('acme', 'widgets');
    expect(git(bare, 'rev-parse', `${newHead}^`)).toBe(head);
    expect(git(bare, 'rev-list', '--count', `${head}..${newHead}`)).toBe('1');
    expect(harness.github.pulls).toHaveLength(1);
    await eventually(
      () => harness.github.pulls[0]?.body?.includes('### Follow-ups'),
      10_000,
      'the PR body updated',
    );
    await eventually(
      () => harness.github.statuses('acme', 'widgets', newHead).length > 0,
      10_000,
      'the status',
    );
    expect(harness.github.statuses('acme', 'widgets', newHead)).toEqual([
      expect.objectContaining({ context: APPROVED_CONTEXT, state: 'success' }),
    ]);
    const replies = await eventually(
      () => {
        const mine = harness.github
          .comments('acme', 'widgets', 1)
          .filter((c) => String(c.body).includes('Pushed'));
        return mine.length ? mine : undefined;
      },
      10_000,
      'the reply on the PR',
    );
    expect(String(replies[0]?.body)).toContain(
      `Pushed ${newHead.slice(0, 12)} for @octocat, approved by @lead`,
    );
    await eventually(
      () =>
        harness.slack
          .thread(CHANNEL, mention.ts)
          .some((m) => String(m.text ?? '').includes('asked on the pull request')),
      5000,
      'the thread told of the comment',
    );
    // airlock's own reply mentions nobody it would act on, and acting twice is impossible.
    expect(harness.app.store.listRuns().filter((r) => r.prNumber === 1)).toHaveLength(1);
    expect(harness.app.store.verifyAudit()).toMatchObject({ ok: true, problems: [] });
  });

  it('a comment from someone the policy does not know, or not a requester, starts nothing: one short reply each', async () => {
    const { harness } = await openedPullRequest([]);
    for (const user of ['stranger', 'stranger', 'outsider'])
      harness.github.addComment({
        owner: 'acme',
        repo: 'widgets',
        number: 1,
        user,
        body: '@airlock delete everything',
      });
    const replies = await eventually(
      () => {
        const mine = harness.github
          .comments('acme', 'widgets', 1)
          .filter((c) => String(c.body).includes('<!-- airlock -->'));
        return mine.length >= 2 ? mine : undefined;
      },
      10_000,
      'the replies',
    );
    // Two more polls: nobody is told twice, and nothing started.
    const polled = harness.github.conditional().hits;
    await eventually(() => harness.github.conditional().hits > polled + 4, 10_000, 'two more polls');
    const all = harness.github
      .comments('acme', 'widgets', 1)
      .filter((c) => String(c.body).includes('<!-- airlock -->'));
    expect(all).toHaveLength(2);
    expect(String(replies[0]?.body)).toContain('@stranger airlock does not know you');
    expect(String(replies[1]?.body)).toContain('@outsider you are not among the requesters');
    expect(harness.app.store.listRuns()).toHaveLength(1);
    const actions = harness.app.store
      .events(harness.app.store.listRuns()[0]?.id as string)
      .filter((e) => e.type === 'pr.comment')
      .map((e) => e.data.action);
    expect(actions).toEqual(['unknown', 'unknown', 'refused']);
  });

  it('a failing check on airlock’s head is named in the thread with Fix CI; a head pushed by someone else gets failure', async () => {
    const { harness, mention, head } = await openedPullRequest([]);
    await harness.github.addCheckRun({
      owner: 'acme',
      repo: 'widgets',
      sha: head,
      name: 'unit tests',
      status: 'completed',
      conclusion: 'failure',
      log: 'npm test\nFAIL test/add.test.js\n  expected 5, got -1\n',
    });
    const failed = await eventually(
      () =>
        harness.slack
          .thread(CHANNEL, mention.ts)
          .find((m) => buttonsOf(m).some((b) => b.action_id === 'airlock_fix_ci')),
      15_000,
      'the Fix CI message',
    );
    const shown = JSON.stringify(failed.blocks);
    expect(shown).toContain('unit tests');
    expect(shown).toContain('expected 5, got -1');

    const outside = await harness.github.pushOutside({
      owner: 'acme',
      repo: 'widgets',
      branch: harness.github.pulls[0]?.head as string,
      files: { 'NOTES.md': 'pushed by hand\n' },
    });
    const marked = await eventually(
      () => harness.github.statuses('acme', 'widgets', outside)[0],
      15_000,
      'the outside head marked',
    );
    expect(marked).toMatchObject({
      context: APPROVED_CONTEXT,
      state: 'failure',
      description: 'not approved in airlock',
    });
  });

  it('polls are conditional: with nothing new, every GET is answered 304; a restart replays no comment', async () => {
    const { harness } = await openedPullRequest([]);
    harness.github.addComment({
      owner: 'acme',
      repo: 'widgets',
      number: 1,
      user: 'nobody',
      body: 'looks good',
    });
    await eventually(
      () =>
        harness.app.pullRequests.get('acme/widgets', 1)?.handled.some((k) => k.startsWith('issue-comment:')),
      10_000,
      'the comment read',
    );
    // From a poll that found nothing new (a comment landing mid-poll changes the PR once more).
    const restGets = () =>
      harness.github.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/api/v3/'));
    await eventually(
      () =>
        restGets()
          .slice(-6)
          .every((r) => r.status === 304) && restGets().length > 6,
      10_000,
      'a quiet poll',
    );
    const before = harness.github.requests.length;
    const counts = harness.github.conditional();
    await eventually(() => harness.github.conditional().hits >= counts.hits + 8, 10_000, 'two quiet polls');
    const gets = harness.github.requests
      .slice(before)
      .filter((r) => r.method === 'GET' && r.path.startsWith('/api/v3/'));
    expect(gets.length).toBeGreaterThan(0);
    // Status 0: the poll still in flight when the wait ended.
    expect(gets.filter((r) => r.status !== 304 && r.status !== 0).map((r) => r.path)).toEqual([]);

    // Operators see the same on /metrics.
    const metrics = await (await fetch(`http://127.0.0.1:${harness.bot.port}/metrics`)).text();
    const notModified = Number(
      /airlock_pr_watch_requests_total\{result="not_modified"\} (\d+)/.exec(metrics)?.[1],
    );
    expect(notModified).toBeGreaterThanOrEqual(8);
    expect(metrics).toMatch(/airlock_pr_watch_open 1\b/);
    expect(metrics).toMatch(/airlock_pr_watch_polls_total\{outcome="failed"\} 0\b/);

    await harness.restart();
    harness.github.addComment({
      owner: 'acme',
      repo: 'widgets',
      number: 1,
      user: 'octocat',
      body: 'thanks, no action',
    });
    await eventually(
      () =>
        (harness.app.pullRequests
          .get('acme/widgets', 1)
          ?.handled.filter((k) => k.startsWith('issue-comment:')).length ?? 0) >= 2,
      10_000,
      'the new comment read after the restart',
    );
    const read = harness.app.store
      .events(harness.app.store.listRuns()[0]?.id as string)
      .filter((e) => e.type === 'pr.comment');
    expect(read).toEqual([]); // neither comment mentions @airlock: nothing acted on, twice or once
    expect(harness.app.store.listRuns()).toHaveLength(1);
  });
});
