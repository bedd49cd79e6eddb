import type { RunRecord } from '../../runs/ports/store.js';
import type { SubmittedReview } from '../../runs/review-submission.js';
import { escapeMrkdwn, fit, LIMITS } from './limits.js';

export const POST_REVIEW_ACTION = 'airlock_post_review';

/** Line comments shown in the thread before "and N more". */
const COMMENTS_SHOWN = 20;

/**
 * A review run's review in the thread: the summary, the line comments, and (review.post: ask)
 * **Post review** for the requester. It only ever posts a comment: no approval, no change request.
 */
export function reviewMessage(
  run: RunRecord,
  review: SubmittedReview,
  opts: { offerPost: boolean; pullRequestUrl?: string },
): { text: string; blocks: unknown[] } {
  const head = `:mag: *Review of ${opts.pullRequestUrl ? `<${opts.pullRequestUrl}|pull request #${run.prNumber}>` : `#${run.prNumber}`}*\n${escapeMrkdwn(review.summary)}`;
  const lines = review.comments
    .slice(0, COMMENTS_SHOWN)
    .map((c) => `• \`${escapeMrkdwn(`${c.path}:${c.line}`)}\` ${escapeMrkdwn(c.body.replaceAll('\n', ' '))}`);
  if (review.comments.length > COMMENTS_SHOWN)
    lines.push(`…and ${review.comments.length - COMMENTS_SHOWN} more`);
  const blocks: unknown[] = [
    { type: 'section', text: { type: 'mrkdwn', text: fit(head, LIMITS.sectionText, '…') } },
  ];
  if (lines.length)
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: fit(lines.join('\n'), LIMITS.sectionText, '…') },
    });
  if (opts.offerPost)
    blocks.push({
      type: 'actions',
      block_id: 'airlock_review',
      elements: [
        {
          type: 'button',
          action_id: POST_REVIEW_ACTION,
          text: { type: 'plain_text', text: 'Post review' },
          style: 'primary',
          value: run.id,
        },
      ],
    });
  return { text: fit(`Review of #${run.prNumber}: ${review.summary}`, 3000, '…'), blocks };
}
