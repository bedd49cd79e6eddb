import type { App } from '@slack/bolt';
import type { SlackIntake } from '../slack-intake.js';
import { APPROVE_ACTION, CHANGES_ACTION, REJECT_ACTION } from '../views/approval-message.js';
import { PICK_REPO_ACTION } from '../views/repo-picker.js';
import { CHANGES_MODAL, FEEDBACK_BLOCK, FEEDBACK_INPUT } from '../views/request-changes-modal.js';
import { RETRY_PUSH_ACTION } from '../views/retry-push-message.js';
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

  app.event('app_mention', async ({ event, body }) => {
    const e = event as unknown as Loose;
    later(
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
    if (m.channel_type === 'im' && !m.thread_ts) return later(intake.request(base));
    // A mention in a thread arrives as app_mention too; that one is the request.
    if (m.thread_ts && !text.includes(`<@${botUserId()}>`))
      later(intake.reply({ ...base, threadTs: String(m.thread_ts) }));
  });

  const button = (body: unknown) => {
    const b = body as {
      user: { id: string };
      actions: Array<{ value?: string; selected_option?: { value: string } }>;
    };
    return { user: b.user.id, value: b.actions[0]?.value, selected: b.actions[0]?.selected_option?.value };
  };

  app.action(APPROVE_ACTION, async ({ ack, body }) => {
    await ack();
    const { user, value } = button(body);
    later(intake.approve(user, value));
  });
  app.action(REJECT_ACTION, async ({ ack, body }) => {
    await ack();
    const { user, value } = button(body);
    later(intake.reject(user, value));
  });
  app.action(CANCEL_ACTION, async ({ ack, body }) => {
    await ack();
    const { user, value } = button(body);
    later(intake.cancel(user, value));
  });
  app.action(RETRY_PUSH_ACTION, async ({ ack, body }) => {
    await ack();
    const { user, value } = button(body);
    later(intake.retryPush(user, value));
  });
  app.action(CHANGES_ACTION, async ({ ack, body }) => {
    await ack();
    const { value } = button(body);
    await intake.openChangesModal(String((body as unknown as Loose).trigger_id), value).catch(onError);
  });
  app.action(PICK_REPO_ACTION, async ({ ack, body }) => {
    await ack();
    const b = body as unknown as Loose & {
      channel?: { id: string };
      message?: { thread_ts?: string; ts: string };
    };
    const { user, selected } = button(body);
    const threadTs = b.message?.thread_ts ?? b.message?.ts;
    if (b.channel && threadTs && selected) later(intake.repoPicked(user, b.channel.id, threadTs, selected));
  });

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
