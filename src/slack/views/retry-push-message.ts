import type { RunRecord } from '../../runs/ports/store.js';
import { escapeMrkdwn, fit, LIMITS } from './limits.js';

export const RETRY_PUSH_ACTION = 'airlock_retry_push';

/** A failed push, what went wrong, and **Retry push** (for approvers; the server checks). */
export function retryPushMessage(run: RunRecord): { text: string; blocks: unknown[] } {
  const text = `:warning: The push failed: ${run.error ?? 'unknown error'}`;
  return {
    text: fit(text, 3000, '…'),
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: fit(`:warning: *The push failed:* ${escapeMrkdwn(run.error ?? '')}`, LIMITS.sectionText, '…'),
        },
      },
      {
        type: 'actions',
        block_id: 'airlock_retry',
        elements: [
          {
            type: 'button',
            action_id: RETRY_PUSH_ACTION,
            text: { type: 'plain_text', text: 'Retry push' },
            style: 'primary',
            value: run.id,
          },
        ],
      },
    ],
  };
}
