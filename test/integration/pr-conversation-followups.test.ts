import { afterEach, describe, expect, it } from 'vitest';
import type { ScriptStep } from '../fakes/anthropic-server.js';
import { ADD_SUB_EDIT } from '../fakes/fix-add-script.js';
import { eventually, type Harness } from '../support/bot-harness.js';
import { CHANNEL, openedPullRequest, REQUESTER } from '../support/pull-request-flow.js';
import { approvalMessage, approve } from '../support/slack-thread.js';

type Body = { messages: Array<{ role: string; content: unknown }> };

describe('follow-ups from pull request comments', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('a review comment gives the agent its file, line and diff hunk, and the pull request so far', async () => {
    const seen: string[] = [];
    const look: ScriptStep[] = [
      (body) => {
        seen.push(JSON.stringify((body as Body).messages[0]));
        return { content: [{ type: 'text', text: 'Nothing needs to change: the name is already clear.' }] };
      },
    ];
    const opened = await openedPullRequest(look);
    h = opened.harness;
    const { harness, mention } = opened;
    await harness.github.addReviewComment({
      owner: 'acme',
      repo: 'widgets',
      number: 1,
      user: 'octocat',
      body: '@airlock is this name clear?',
      path: 'src/add.js',
      line: 2,
    });
    await eventually(
      () =>
        harness.slack
          .thread(CHANNEL, mention.ts)
          .some((m) => String(m.text ?? '').includes('Finished with no changes')),
      20_000,
      'the follow-up finished',
    );
    const task = seen[0] ?? '';
    expect(task).toContain('is this name clear?');
    expect(task).toContain('The comment is on src/add.js line 2.');
    expect(task).toContain('return a + b;'); // the hunk the comment is on
    expect(task).toContain(`${REQUESTER}: fix add()`); // the pull request so far
    const followUp = harness.app.store.listRuns().find((r) => r.prNumber === 1);
    expect(followUp).toMatchObject({ state: 'done', outcome: 'no_changes' });
    // Nothing pushed: the head and its status are as they were.
    expect(harness.github.pulls[0]?.headSha).toBe(opened.head);
  });

  it('a comment while a follow-up waits for approval joins it as changes asked, and the diff is shown again', async () => {
    const steps: ScriptStep[] = [
      { content: [ADD_SUB_EDIT] },
      { content: [{ type: 'text', text: 'Added sub().' }] },
      (body) => {
        const last = JSON.stringify((body as Body).messages.at(-1));
        if (!last.includes('and a docstring please')) throw new Error(`no feedback: ${last.slice(0, 300)}`);
        return { content: [{ type: 'text', text: 'Kept it as is; sub() is self-explanatory.' }] };
      },
    ];
    const opened = await openedPullRequest(steps);
    h = opened.harness;
    const { harness, mention, first } = opened;
    const comment = (body: string) =>
      harness.github.addComment({ owner: 'acme', repo: 'widgets', number: 1, user: 'octocat', body });
    comment('@airlock please also add sub()');
    const second = await approvalMessage(harness.slack, CHANNEL, mention.ts, [first.ts], 30_000);
    comment('@airlock and a docstring please');
    const third = await approvalMessage(harness.slack, CHANNEL, mention.ts, [first.ts, second.ts], 30_000);
    expect(JSON.stringify(third.blocks)).toContain('export function sub(a, b)');
    const followUps = harness.app.store.listRuns().filter((r) => r.prNumber === 1);
    expect(followUps).toHaveLength(1);
    const events = harness.app.store.events(followUps[0]?.id as string).map((e) => e.type);
    expect(events).toContain('run.changes_requested');
    const origin = harness.app.store.listRuns().find((r) => r.prNumber === null);
    const actions = harness.app.store
      .events(origin?.id as string)
      .filter((e) => e.type === 'pr.comment')
      .map((e) => String(e.data.action).split(' ')[0]);
    expect(actions).toEqual(['follow-up', 'instruction']);
  });
});

describe('people on the forge', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('a login without a people: entry is the Slack user with the same verified email; case does not matter for people:', async () => {
    const tasks: string[] = [];
    const noChange: ScriptStep = (body) => {
      tasks.push(JSON.stringify((body as Body).messages[0]));
      return { content: [{ type: 'text', text: 'Nothing to change.' }] };
    };
    const opened = await openedPullRequest([noChange, noChange], {
      slack: { emails: { 'mona@acme.example': REQUESTER } },
    });
    h = opened.harness;
    const { harness, mention } = opened;
    harness.github.addUser('mona', { email: 'Mona@acme.example' });
    harness.github.addComment({
      owner: 'acme',
      repo: 'widgets',
      number: 1,
      user: 'mona',
      body: '@airlock ping',
    });
    const finished = () =>
      harness.slack
        .thread(CHANNEL, mention.ts)
        .filter((m) => String(m.text ?? '').includes('Finished with no changes')).length;
    await eventually(() => finished() === 1, 20_000, 'the follow-up by email');
    harness.github.addComment({
      owner: 'acme',
      repo: 'widgets',
      number: 1,
      user: 'OctoCat',
      body: '@airlock pong',
    });
    await eventually(() => finished() === 2, 20_000, 'the follow-up by people:');
    const runs = harness.app.store.listRuns().filter((r) => r.prNumber === 1);
    expect(runs.map((r) => r.requester)).toEqual([REQUESTER, REQUESTER]);
    expect(tasks[0]).toContain('asked by mona');
    expect(tasks[1]).toContain('asked by OctoCat');
  });
});

describe('a branch someone else pushed to', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('a follow-up on top of commits nobody approved shows them with its diff; approved, the new head is airlock/approved', async () => {
    const opened = await openedPullRequest([
      { content: [ADD_SUB_EDIT] },
      { content: [{ type: 'text', text: 'Added sub().' }] },
    ]);
    h = opened.harness;
    const { harness, mention, first, head } = opened;
    const outside = await harness.github.pushOutside({
      owner: 'acme',
      repo: 'widgets',
      branch: harness.github.pulls[0]?.head as string,
      files: { 'NOTES.md': 'by hand\n' },
    });
    await eventually(
      () => harness.github.statuses('acme', 'widgets', outside)[0],
      15_000,
      'the outside head marked',
    );
    harness.github.addComment({
      owner: 'acme',
      repo: 'widgets',
      number: 1,
      user: 'octocat',
      body: '@airlock please also add sub()',
    });
    const second = await approvalMessage(harness.slack, CHANNEL, mention.ts, [first.ts], 30_000);
    const shown = JSON.stringify(second.blocks);
    expect(shown).toContain('The branch also holds commits nobody approved in airlock');
    expect(shown).toContain(`${head.slice(0, 12)}..${outside.slice(0, 12)}`);
    expect(shown).toContain('NOTES.md');
    const file = await eventually(
      () => harness.slack.files.find((f) => f.filename.includes(`unapproved-${outside.slice(0, 12)}`)),
      10_000,
      'their diff attached',
    );
    expect(file.content.toString('utf8')).toContain('+by hand');
    const followUp = harness.app.store.listRuns().find((r) => r.prNumber === 1);
    expect(
      harness.app.store.events(followUp?.id as string).find((e) => e.type === 'pr.unapproved_shown')?.data,
    ).toMatchObject({
      approved_head: head,
      head: outside,
    });
    await approve(harness.slack, { user: 'U0APPROVER', channel: CHANNEL, approval: second });
    const newHead = await eventually(
      () => harness.github.pulls[0]?.headSha !== outside && harness.github.pulls[0]?.headSha,
      20_000,
      'the follow-up pushed',
    );
    const status = await eventually(
      () => harness.github.statuses('acme', 'widgets', newHead)[0],
      10_000,
      'its status',
    );
    expect(status).toMatchObject({ context: 'airlock/approved', state: 'success' });
    // Polling sees airlock's own head: no second status on it.
    await new Promise((r) => setTimeout(r, 1500));
    expect(harness.github.statuses('acme', 'widgets', newHead)).toHaveLength(1);
  });
});

describe('@airlock review on the pull request', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('reviews it read-only and posts one COMMENT review there, with the line comment on the diff', async () => {
    const opened = await openedPullRequest([
      (body) => {
        const task = JSON.stringify((body as Body).messages[0]);
        if (!task.includes('Review pull request #1') || !task.includes('+  return a + b;'))
          throw new Error(`not the review task: ${task.slice(0, 300)}`);
        return {
          content: [
            {
              type: 'tool_use',
              name: 'submit_review',
              input: {
                summary: 'The fix is right; add a test for negative numbers.',
                comments: [{ path: 'src/add.js', line: 2, body: 'Correct now.' }],
              },
            },
          ],
        };
      },
      { content: [{ type: 'text', text: 'Reviewed.' }] },
    ]);
    h = opened.harness;
    const { harness, mention } = opened;
    harness.github.addComment({
      owner: 'acme',
      repo: 'widgets',
      number: 1,
      user: 'octocat',
      body: '@airlock review',
    });
    await eventually(
      () => harness.github.reviews('acme', 'widgets', 1).length === 1,
      20_000,
      'the posted review',
    );
    expect(harness.github.reviews('acme', 'widgets', 1)[0]).toMatchObject({
      state: 'COMMENTED',
      body: 'The fix is right; add a test for negative numbers.',
    });
    expect(harness.github.reviewComments('acme', 'widgets', 1)).toEqual([
      expect.objectContaining({ path: 'src/add.js', line: 2, body: 'Correct now.' }),
    ]);
    const review = harness.app.store.listRuns().find((r) => r.mode === 'review');
    expect(review).toMatchObject({
      source: 'forge',
      requester: REQUESTER,
      state: 'done',
      outcome: 'reviewed',
    });
    await eventually(
      () =>
        harness.slack.thread(CHANNEL, mention.ts).some((m) => String(m.text ?? '').includes('Review posted')),
      10_000,
      'the thread told',
    );
    expect(harness.github.pulls[0]?.headSha).toBe(opened.head);
  });
});
