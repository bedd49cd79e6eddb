import type { App } from '@slack/bolt';
import { type Click, parseClick } from '../click.js';
import type { SlackIntake } from '../slack-intake.js';
import { APPROVE_ACTION, CHANGES_ACTION, REJECT_ACTION } from '../views/approval-message.js';
import { FIX_CI_ACTION } from '../views/check-failed-message.js';
import { ALLOW_EGRESS_ACTION } from '../views/egress-message.js';
import { PICK_REPO_ACTION } from '../views/repo-picker.js';
import { CHANGES_MODAL, FEEDBACK_BLOCK, FEEDBACK_INPUT } from '../views/request-changes-modal.js';
import { RETRY_PUSH_ACTION } from '../views/retry-push-message.js';
import { POST_REVIEW_ACTION } from '../views/review-message.js';
import { CANCEL_ACTION } from '../views/status-message.js';

type Loose = Record<string, unknown>;

/**
 * Thin Bolt listeners (bolt-js: receiver → middleware → listener): ack at once, pull out the
 * few fields that matter, hand over to SlackIntake without awaiting slow work.
 */
export function registerListeners(
  app: App,
  intake: SlackIntake,
  botUserId: () => string,
  onError: (e: Error) => void,
): void {
  const later = (work: Promise<void>) => void work.catch(onError);
  // Events are acked before they reach a listener (slack-app.ts), so a listener may take its time:
  // it resolves once the intake is done, which is when the kept envelope counts as handled.
  const handled = (work: Promise<void>) => work.catch(onError);

  app.event('app_mention', async ({ event, body }) => {
    const e = event as unknown as Loose;
    await handled(
      intake.request({
        eventId: String((body as unknown as Loose).event_id),
        user: String(e.user),
        channel: String(e.channel),
        text: String(e.text ?? ''),
        ts: String(e.ts),
        threadTs: e.thread_ts as string | undefined,
      }),
    );
  });

  app.message(async ({ message, body }) => {
    const m = message as unknown as Loose;
    if (m.subtype || m.bot_id || m.user === botUserId()) return;
    const text = String(m.text ?? '');
    const base = {
      eventId: String((body as unknown as Loose).event_id),
      user: String(m.user),
      channel: String(m.channel),
      text,
      ts: String(m.ts),
    };
    if (m.channel_type === 'im' && !m.thread_ts) return handled(intake.request(base));
    // A mention in a thread arrives as app_mention too; that one is the request.
    if (m.thread_ts && !text.includes(`<@${botUserId()}>`))
      await handled(intake.reply({ ...base, threadTs: String(m.thread_ts) }));
  });

  /** Ack at once, then hand the click over; a payload Slack would not send is logged and dropped. */
  const onClick =
    (handle: (click: Click) => Promise<void>, opts: { awaited?: boolean } = {}) =>
    async ({ ack, body }: { ack: () => Promise<void>; body: unknown }) => {
      await ack();
      const click = parseClick(body);
      if (!click) return onError(new Error('a button payload without the fields Slack always sends'));
      // The modal's trigger is good for 3 s: open it before anything else is queued.
      if (opts.awaited) await handle(click).catch(onError);
      else later(handle(click));
    };

  app.action(
    APPROVE_ACTION,
    onClick((c) => intake.approve(c)),
  );
  app.action(
    REJECT_ACTION,
    onClick((c) => intake.reject(c)),
  );
  app.action(
    CANCEL_ACTION,
    onClick((c) => intake.cancel(c)),
  );
  app.action(
    RETRY_PUSH_ACTION,
    onClick((c) => intake.retryPush(c)),
  );
  app.action(
    ALLOW_EGRESS_ACTION,
    onClick((c) => intake.allowEgress(c)),
  );
  app.action(
    POST_REVIEW_ACTION,
    onClick((c) => intake.postReview(c)),
  );
  app.action(
    FIX_CI_ACTION,
    onClick((c) => intake.fixCi(c)),
  );
  app.action(
    CHANGES_ACTION,
    onClick((c) => intake.openChangesModal(c), { awaited: true }),
  );
  app.action(
    PICK_REPO_ACTION,
    onClick(async (c) => {
      if (c.channel && c.threadTs && c.selected)
        await intake.repoPicked(c.user, c.channel, c.threadTs, c.selected);
    }),
  );

  app.view(CHANGES_MODAL, async ({ ack, body, view }) => {
    const text = view.state.values[FEEDBACK_BLOCK]?.[FEEDBACK_INPUT]?.value?.trim() ?? '';
    if (!text) {
      await ack({ response_action: 'errors', errors: { [FEEDBACK_BLOCK]: 'Say what should change.' } });
      return;
    }
    await ack();
    later(intake.changesSubmitted(body.user.id, view.private_metadata, text));
  });
}
