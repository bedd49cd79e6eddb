import { afterEach, describe, expect, it } from 'vitest';
import { fixAddScript } from '../fakes/fix-add-script.js';
import { eventually, type Harness, startHarness } from '../support/bot-harness.js';
import { approvalMessage, approve, buttonsOf } from '../support/slack-thread.js';

const CHANNEL = 'C0DEV';
const REQUESTER = 'U0REQUESTER';
const APPROVER = 'U0APPROVER';

/**
 * The approval gate has no side doors (issue 10): everything is decided at the click, and every
 * refused or malformed click is answered (ephemeral) and audited.
 */
describe('the approval gate', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  async function awaitingApproval(harness: Harness) {
    const mention = await harness.slack.mention({
      user: REQUESTER,
      channel: CHANNEL,
      text: `<@${harness.slack.botUserId}> fix add() so \`sh test.sh\` passes`,
    });
    const approval = await approvalMessage(harness.slack, CHANNEL, mention.ts);
    const run = harness.app.store.listRuns()[0];
    if (!run) throw new Error('no run');
    return { mention, approval, run };
  }

  function refusalsOf(harness: Harness, runId: string) {
    return harness.app.store.events(runId).filter((e) => e.type.endsWith('.refused'));
  }

  async function nextEphemeral(harness: Harness, count: number, user: string) {
    return eventually(
      () => (harness.slack.ephemerals.length >= count ? harness.slack.ephemerals.at(count - 1) : undefined),
      5000,
      `ephemeral ${count} to ${user}`,
    );
  }

  it('an approval clicked after approval_ttl is refused even before the expiry sweep runs', async () => {
    h = await startHarness({
      script: fixAddScript(),
      expiryEveryMs: 3_600_000,
      policy: [
        'repos:',
        '  acme/widgets:',
        '    approvers: [U0APPROVER]',
        '    approval_ttl: 1s',
        'channels:',
        '  C0DEV: { repo: acme/widgets }',
        '',
      ].join('\n'),
    });
    const { approval, run } = await awaitingApproval(h);
    const awaitingSince = Date.parse(h.app.store.getRun(run.id)?.awaitingSince as string);
    const harness = h;
    await eventually(() => Date.now() > awaitingSince + 1100, 3000, 'the TTL to pass');
    await approve(harness.slack, { user: APPROVER, channel: CHANNEL, approval });
    const refusal = await nextEphemeral(harness, 1, APPROVER);
    expect(refusal.text).toContain('expired');
    expect(h.github.pushes).toEqual([]);
    expect(h.app.store.getRun(run.id)?.state).toBe('awaiting_approval');
    expect(refusalsOf(h, run.id).at(-1)).toMatchObject({
      type: 'approval.refused',
      data: { by: APPROVER, reason: expect.stringContaining('expired') },
    });
  });

  it('a person removed from an approver group cannot approve, even right after a cached lookup', async () => {
    h = await startHarness({ script: fixAddScript(), slack: { userGroups: { S0LEADS: ['U0LEAD'] } } });
    const { approval, run } = await awaitingApproval(h);
    const harness = h;
    // A stranger's Reject reads the approver groups (and fills the cache with U0LEAD in S0LEADS)...
    await harness.slack.clickButton({
      user: 'U0STRANGER',
      channel: CHANNEL,
      messageTs: approval.ts,
      actionId: 'airlock_reject',
    });
    expect((await nextEphemeral(harness, 1, 'U0STRANGER')).text).toContain(
      'Only the requester or an approver',
    );
    // ...then an admin takes U0LEAD out of the group, and U0LEAD clicks Approve at once.
    h.slack.setUserGroup('S0LEADS', []);
    await approve(harness.slack, { user: 'U0LEAD', channel: CHANNEL, approval });
    const refusal = await nextEphemeral(harness, 2, 'U0LEAD');
    expect(refusal.text).toContain('not an approver');
    expect(h.github.pushes).toEqual([]);
    expect(refusalsOf(h, run.id).at(-1)).toMatchObject({ type: 'approval.refused', data: { by: 'U0LEAD' } });
  });

  for (const [where, tamper] of [
    [
      'another channel',
      (p: Record<string, unknown>) => ({ ...p, channel: { id: 'C0ELSEWHERE', name: 'x' } }),
    ],
    [
      'another workspace',
      (p: Record<string, unknown>) => ({ ...p, team: { id: 'T0OTHER', domain: 'other' } }),
    ],
    [
      'another thread',
      (p: Record<string, unknown>) => ({
        ...p,
        message: { ...(p.message as Record<string, unknown>), thread_ts: '1700000000.000100' },
      }),
    ],
  ] as const) {
    it(`a click whose payload names ${where} than the run's thread is refused, answered and audited`, async () => {
      h = await startHarness({ script: fixAddScript() });
      const { approval, run } = await awaitingApproval(h);
      await h.slack.forgeClick(
        { user: APPROVER, channel: CHANNEL, messageTs: approval.ts, actionId: 'airlock_approve' },
        tamper,
      );
      const harness = h;
      const refusal = await nextEphemeral(harness, 1, APPROVER);
      expect(refusal.text).toContain('another conversation');
      expect(h.github.pushes).toEqual([]);
      expect(h.app.store.getRun(run.id)?.state).toBe('awaiting_approval');
      expect(refusalsOf(h, run.id).at(-1)).toMatchObject({
        type: 'action.refused',
        data: { by: APPROVER, action: 'approve', reason: expect.stringContaining('another conversation') },
      });
    });
  }

  for (const [what, value] of [
    ['a malformed value', 'not-a-run:zzz'],
    ['an oversized value', `${'a'.repeat(20)}:${'b'.repeat(64)}${'c'.repeat(2100)}`],
    ['an unknown run', `0unknownrun00:${'d'.repeat(64)}`],
  ] as const) {
    it(`a button carrying ${what} is answered and audited, never dropped`, async () => {
      h = await startHarness({ script: fixAddScript() });
      const { approval } = await awaitingApproval(h);
      const before = h.app.store.events('-').length;
      await h.slack.forgeClick(
        { user: APPROVER, channel: CHANNEL, messageTs: approval.ts, actionId: 'airlock_approve' },
        (p) => ({ ...p, actions: [{ ...(p.actions as Array<Record<string, unknown>>)[0], value }] }),
      );
      const harness = h;
      const refusal = await nextEphemeral(harness, 1, APPROVER);
      expect(refusal.text).toMatch(/not one airlock made|There is no run/);
      const audited = h.app.store.events('-').slice(before);
      expect(audited).toHaveLength(1);
      expect(audited[0]).toMatchObject({ type: 'action.refused', data: { by: APPROVER, action: 'approve' } });
      expect(h.github.pushes).toEqual([]);
    });
  }

  it('the genuine click still works after all that', async () => {
    h = await startHarness({ script: fixAddScript() });
    const { mention, approval } = await awaitingApproval(h);
    await approve(h.slack, { user: APPROVER, channel: CHANNEL, approval });
    const harness = h;
    await eventually(
      () => harness.slack.thread(CHANNEL, mention.ts).find((m) => m.text?.includes('Pull request opened')),
      20_000,
      'the PR link',
    );
    expect(buttonsOf(approval)).toHaveLength(3);
    expect(h.github.pulls).toHaveLength(1);
  });
});
