import type { DiffStat } from '../../runs/diffstat.js';
import { formatDiffStat } from '../../runs/diffstat.js';
import type { RunRecord } from '../../runs/ports/store.js';
import { codeBlock, escapeMrkdwn, fit, LIMITS } from './limits.js';

export const APPROVE_ACTION = 'airlock_approve';
export const CHANGES_ACTION = 'airlock_request_changes';
export const REJECT_ACTION = 'airlock_reject';

/** Diffs up to this size are shown inline; longer ones go up as a .diff file. */
export const INLINE_DIFF_CHARS = 2500;

/** The button value: which run, and which exact diff the person is looking at. */
export function approvalValue(run: RunRecord): string {
  return `${run.id}:${run.diffSha256}`;
}

export function parseApprovalValue(value: string | undefined): { runId: string; sha: string } | undefined {
  const match = /^([a-z0-9]+):([0-9a-f]{64})$/.exec(value ?? '');
  return match ? { runId: match[1] as string, sha: match[2] as string } : undefined;
}

function mention(id: string): string {
  return id.startsWith('S') ? `<!subteam^${id}>` : `<@${id}>`;
}

/** Summary, diffstat, the diff (inline when short) and the three buttons. */
export function approvalMessage(
  run: RunRecord,
  diff: string,
  stat: DiffStat,
  approvers: string[],
): { text: string; blocks: unknown[]; attachDiff: boolean } {
  const attachDiff = diff.length > INLINE_DIFF_CHARS;
  const blocks: unknown[] = [
    {
      type: 'header',
      text: { type: 'plain_text', text: fit(`Ready for review: ${run.repo}`, LIMITS.headerText, '…') },
    },
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: fit(escapeMrkdwn(run.summary ?? '(no summary)'), LIMITS.sectionText, '… (cut)'),
      },
    },
    { type: 'section', text: { type: 'mrkdwn', text: codeBlock(formatDiffStat(stat)) } },
  ];
  if (!attachDiff) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: codeBlock(diff) } });
  else
    blocks.push({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: 'The full diff is attached below as a file.' }],
    });
  const who = approvers.length ? approvers.map(mention).join(' ') : 'nobody is configured';
  blocks.push(
    {
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: fit(`diff \`${run.diffSha256?.slice(0, 12)}\` · approvers: ${who}`, 3000, '…'),
        },
      ],
    },
    approvalButtons(run),
  );
  return { text: `Ready for review: ${run.repo} (run ${run.id})`, blocks, attachDiff };
}

function approvalButtons(run: RunRecord): unknown {
  const value = approvalValue(run);
  return {
    type: 'actions',
    block_id: 'airlock_approval_actions',
    elements: [
      {
        type: 'button',
        action_id: APPROVE_ACTION,
        text: { type: 'plain_text', text: 'Approve & push' },
        style: 'primary',
        value,
      },
      {
        type: 'button',
        action_id: CHANGES_ACTION,
        text: { type: 'plain_text', text: 'Request changes' },
        value,
      },
      {
        type: 'button',
        action_id: REJECT_ACTION,
        text: { type: 'plain_text', text: 'Reject' },
        style: 'danger',
        value,
      },
    ],
  };
}

/** The same message once decided: the buttons give way to who decided what. */
export function decidedApprovalMessage(blocks: unknown[], line: string): unknown[] {
  return [
    ...blocks.filter((b) => (b as { type: string }).type !== 'actions'),
    { type: 'section', text: { type: 'mrkdwn', text: fit(line, LIMITS.sectionText, '…') } },
  ];
}
