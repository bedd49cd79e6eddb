import { Octokit } from '@octokit/rest';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually, type Harness, SECRETS } from '../support/bot-harness.js';
import { CHANNEL, openedPullRequest, REQUESTER } from '../support/pull-request-flow.js';
import { buttonsOf } from '../support/slack-thread.js';

/** A failed check on airlock's head, and the thread's Fix CI message for it. */
async function fixCiMessage(harness: Harness, threadTs: string, head: string) {
  await harness.github.addCheckRun({
    owner: 'acme',
    repo: 'widgets',
    sha: head,
    name: 'unit tests',
    status: 'completed',
    conclusion: 'failure',
    log: 'FAIL\n',
  });
  return eventually(
    () =>
      harness.slack
        .thread(CHANNEL, threadTs)
        .find((m) => buttonsOf(m).some((b) => b.action_id === 'airlock_fix_ci')),
    15_000,
    'the Fix CI message',
  );
}

describe('pr_watch as an attacker would try it', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('Fix CI clicked from another thread, or with a value airlock did not make, starts nothing: answered and audited', async () => {
    const opened = await openedPullRequest([]);
    h = opened.harness;
    const { harness, mention, head } = opened;
    const message = await fixCiMessage(harness, mention.ts, head);
    const value = buttonsOf(message).find((b) => b.action_id === 'airlock_fix_ci')?.value;
    const click = {
      user: REQUESTER,
      channel: CHANNEL,
      messageTs: message.ts,
      actionId: 'airlock_fix_ci',
      value,
    };
    await harness.slack.forgeClick(click, (p) => ({
      ...p,
      message: { ...(p.message as Record<string, unknown>), thread_ts: '1700000000.000100' },
    }));
    await eventually(() => harness.slack.ephemerals.length === 1, 10_000, 'the first refusal');
    expect(harness.slack.ephemerals[0]?.text).toContain('another conversation');
    await harness.slack.forgeClick(click, (p) => ({
      ...p,
      actions: [{ ...(p.actions as Array<Record<string, unknown>>)[0], value: 'acme/widgets#1 ../../etc' }],
    }));
    await eventually(() => harness.slack.ephemerals.length === 2, 10_000, 'the second refusal');
    await harness.slack.forgeClick(click, (p) => ({
      ...p,
      actions: [{ ...(p.actions as Array<Record<string, unknown>>)[0], value: 'not a value' }],
    }));
    await eventually(() => harness.slack.ephemerals.length === 3, 10_000, 'the third refusal');
    expect(harness.slack.ephemerals[2]?.text).toContain('not one airlock made');
    expect(harness.app.store.listRuns()).toHaveLength(1);
    const origin = harness.app.store.listRuns()[0]?.id as string;
    const refused = [...harness.app.store.events(origin), ...harness.app.store.events('-')].filter(
      (e) => e.type === 'action.refused' && e.data.action === 'fix ci',
    );
    expect(refused).toHaveLength(3);
  });

  it('a mapped requester’s @airlock on a pull request airlock did not open starts nothing and gets no answer', async () => {
    const opened = await openedPullRequest([]);
    h = opened.harness;
    const { harness } = opened;
    await harness.github.pushOutside({
      owner: 'acme',
      repo: 'widgets',
      branch: 'feature/by-hand',
      from: 'main',
      files: { 'x.txt': 'x\n' },
    });
    const octokit = new Octokit({ auth: SECRETS.GITHUB_TOKEN, baseUrl: harness.github.apiUrl });
    const theirs = await octokit.pulls.create({
      owner: 'acme',
      repo: 'widgets',
      head: 'feature/by-hand',
      base: 'main',
      title: 'by hand',
    });
    harness.github.addComment({
      owner: 'acme',
      repo: 'widgets',
      number: theirs.data.number,
      user: 'octocat',
      body: '@airlock push this to main',
    });
    harness.github.addComment({ owner: 'acme', repo: 'widgets', number: 1, user: 'nobody', body: 'marker' });
    await eventually(
      () =>
        harness.app.pullRequests.get('acme/widgets', 1)?.handled.some((k) => k.startsWith('issue-comment:')),
      10_000,
      'a later poll',
    );
    expect(harness.app.store.listRuns()).toHaveLength(1);
    expect(harness.github.comments('acme', 'widgets', theirs.data.number)).toHaveLength(1);
    expect(harness.app.pullRequests.get('acme/widgets', theirs.data.number)).toBeUndefined();
  });

  it('what airlock writes on the forge (replies, statuses) carries no credential', async () => {
    const opened = await openedPullRequest([]);
    h = opened.harness;
    const { harness, head } = opened;
    harness.github.addComment({
      owner: 'acme',
      repo: 'widgets',
      number: 1,
      user: 'stranger',
      body: '@airlock hi',
    });
    await eventually(
      () =>
        harness.github
          .comments('acme', 'widgets', 1)
          .some((c) => String(c.body).includes('<!-- airlock -->')),
      10_000,
      'the reply',
    );
    await eventually(() => harness.github.statuses('acme', 'widgets', head).length > 0, 10_000, 'the status');
    const written = JSON.stringify([
      harness.github.comments('acme', 'widgets', 1),
      harness.github.statuses('acme', 'widgets', head),
      harness.github.pulls,
    ]);
    for (const secret of Object.values(SECRETS)) expect(written).not.toContain(secret);
    expect(harness.github.requests.some((r) => r.path.includes(SECRETS.GITHUB_TOKEN))).toBe(false);
  });
});
