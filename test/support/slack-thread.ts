import type { FakeSlack } from '../fakes/slack/index.js';
import { eventually } from './bot-harness.js';

export interface Button {
  action_id?: string;
  value?: string;
}

type Block = { type: string; elements?: Button[] };

/** The buttons of a message's actions blocks. */
export function buttonsOf(message: { blocks?: unknown[] } | undefined): Button[] {
  return ((message?.blocks ?? []) as Block[])
    .filter((b) => b.type === 'actions')
    .flatMap((b) => b.elements ?? []);
}

/** The thread's approval message (one with Approve & push), other than those in `except`. */
export function approvalMessage(
  slack: FakeSlack,
  channel: string,
  threadTs: string,
  except: string[] = [],
  ms = 30_000,
) {
  return eventually(
    () =>
      slack
        .thread(channel, threadTs)
        .find((m) => !except.includes(m.ts) && buttonsOf(m).some((b) => b.action_id === 'airlock_approve')),
    ms,
    'an approval message',
  );
}

/** Clicks Request changes on an approval message and submits the modal with `feedback`. */
export async function requestChanges(
  slack: FakeSlack,
  opts: { user: string; channel: string; approval: { ts: string; blocks?: unknown[] }; feedback: string },
): Promise<void> {
  const before = slack.views.length;
  await slack.clickButton({
    user: opts.user,
    channel: opts.channel,
    messageTs: opts.approval.ts,
    actionId: 'airlock_request_changes',
    value: buttonsOf(opts.approval)[0]?.value,
  });
  const view = await eventually(() => slack.views.length > before && slack.views.at(-1), 5000, 'the modal');
  await slack.submitView({
    user: opts.user,
    viewId: view.id,
    values: { feedback: { text: { type: 'plain_text_input', value: opts.feedback } } },
  });
}

/** Clicks Approve & push on an approval message, with the diff the message shows. */
export function approve(
  slack: FakeSlack,
  opts: { user: string; channel: string; approval: { ts: string; blocks?: unknown[] } },
) {
  return slack.clickButton({
    user: opts.user,
    channel: opts.channel,
    messageTs: opts.approval.ts,
    actionId: 'airlock_approve',
    value: buttonsOf(opts.approval)[0]?.value,
  });
}
