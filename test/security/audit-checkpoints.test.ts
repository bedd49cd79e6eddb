import { afterEach, describe, expect, it } from 'vitest';
import { fixAddScript } from '../fakes/fix-add-script.js';
import { eventually, type Harness, startHarness } from '../support/bot-harness.js';
import { approvalMessage, approve } from '../support/slack-thread.js';

const AUDIT = 'C0AUDIT';

/** The chain's head lives outside the database: posted to audit.channel at every approval and push. */
describe('audit checkpoints', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('an approval and its push post `audit checkpoint SEQ:HASH` to audit.channel, matching the chain', async () => {
    h = await startHarness({
      script: fixAddScript(),
      policy: [
        'repos:',
        '  acme/widgets:',
        '    approvers: [U0APPROVER]',
        'channels:',
        '  C0DEV: { repo: acme/widgets }',
        `audit: { channel: ${AUDIT} }`,
        '',
      ].join('\n'),
    });
    const mention = await h.slack.mention({
      user: 'U0REQUESTER',
      channel: 'C0DEV',
      text: `<@${h.slack.botUserId}> fix add() so \`sh test.sh\` passes`,
    });
    const approval = await approvalMessage(h.slack, 'C0DEV', mention.ts);
    await approve(h.slack, { user: 'U0APPROVER', channel: 'C0DEV', approval });
    const harness = h;
    const posted = await eventually(
      () => {
        const lines = harness.slack.channel(AUDIT).filter((m) => m.text?.startsWith('audit checkpoint '));
        return lines.length >= 2 ? lines : undefined;
      },
      20_000,
      'two checkpoints in the audit channel',
    );
    // Every posted checkpoint names an event that is in the chain with that very hash.
    for (const line of posted) {
      const [, seq, hash] = /^audit checkpoint (\d+):([0-9a-f]{64})/.exec(line.text ?? '') ?? [];
      const event = h.app.store
        .events(h.app.store.listRuns()[0]?.id as string)
        .concat(h.app.store.events('-'))
        .find((e) => e.seq === Number(seq));
      expect(event?.hash, `checkpoint ${seq}`).toBe(hash);
    }
  });
});
