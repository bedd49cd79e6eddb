import type { DiffStat } from '../../runs/diffstat.js';
import { formatDiffStat } from '../../runs/diffstat.js';
import type { RunRecord } from '../../runs/ports/store.js';
import {
  protectedEntries,
  SENSITIVE_KIND_LABELS,
  type SensitiveFinding,
  type SensitiveReview,
} from '../../runs/sensitive-changes.js';
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

/**
 * Summary, diffstat, the diff (inline when short), what deserves a second look, and the buttons:
 * all three, or only Request changes and Reject when policy lets nobody approve (`sensitive.refusal`).
 */
export function approvalMessage(
  run: RunRecord,
  diff: string,
  stat: DiffStat,
  approvers: string[],
  sensitive?: Pick<SensitiveReview, 'findings' | 'refusal'>,
  /** Commits on the branch nobody approved in airlock, which this approval also covers. */
  unapproved?: { from: string; to: string; stat: DiffStat },
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
  blocks.push(...sensitiveBlocks(sensitive));
  if (unapproved) blocks.push(...unapprovedBlocks(unapproved));
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
    approvalButtons(run, sensitive?.refusal === undefined),
  );
  return { text: `Ready for review: ${run.repo} (run ${run.id})`, blocks, attachDiff };
}

/**
 * Someone else pushed to the branch: those commits are shown with the diff, because approving
 * marks the new head `airlock/approved`, them included.
 */
function unapprovedBlocks(u: { from: string; to: string; stat: DiffStat }): unknown[] {
  const text =
    `:warning: *The branch also holds commits nobody approved in airlock* ` +
    `(\`${u.from.slice(0, 12)}..${u.to.slice(0, 12)}\`, pushed by someone else). This change is pushed on top of ` +
    'them, and approving it marks the new head `airlock/approved` with them included. Their diff is attached below:';
  return [
    { type: 'section', text: { type: 'mrkdwn', text: fit(text, LIMITS.sectionText, '…') } },
    { type: 'section', text: { type: 'mrkdwn', text: codeBlock(formatDiffStat(u.stat)) } },
  ];
}

/** Findings listed in one section: at most this many lines, then "and N more". */
export const FINDINGS_SHOWN = 25;

function code(text: string): string {
  return `\`${escapeMrkdwn(text.replaceAll('`', "'").replaceAll('\n', ' '))}\``;
}

function findingLine(f: SensitiveFinding): string {
  return `• *${escapeMrkdwn(SENSITIVE_KIND_LABELS[f.kind])}* ${code(f.path)}: ${escapeMrkdwn(f.reason)}`;
}

/** "Deserves a second look", who protected paths need, and why nobody may approve, if so. */
function sensitiveBlocks(sensitive: Pick<SensitiveReview, 'findings' | 'refusal'> | undefined): unknown[] {
  const blocks: unknown[] = [];
  const findings = sensitive?.findings ?? [];
  if (sensitive?.refusal !== undefined)
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: fit(
          `:no_entry: *This diff cannot be approved.* ${escapeMrkdwn(sensitive.refusal)}`,
          LIMITS.sectionText,
          '…',
        ),
      },
    });
  if (findings.length) {
    const heading = '*Deserves a second look*';
    const lines: string[] = [];
    let length = heading.length;
    for (const [i, f] of findings.entries()) {
      const rest = findings.length - i;
      const more = `\n…and ${rest} more: read the diff`;
      const line = `\n${fit(findingLine(f), 500, '…')}`;
      const tail = rest > 1 ? more.length : 0;
      if (i >= FINDINGS_SHOWN || length + line.length + tail > LIMITS.sectionText) {
        lines.push(more);
        break;
      }
      lines.push(line);
      length += line.length;
    }
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `${heading}${lines.join('')}` } });
  }
  const entries = protectedEntries(findings);
  if (entries.length) {
    const lines = entries.map(
      (e) =>
        `• ${code(e.pattern)} (${e.paths.length} file${e.paths.length === 1 ? '' : 's'}): ${e.approvers.map(mention).join(' ')}`,
    );
    const intro =
      entries.length === 1
        ? '*Protected paths changed.* Only these may approve:'
        : '*Protected paths changed.* The approver must be listed for every entry:';
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: fit([intro, ...lines].join('\n'), LIMITS.sectionText, '\n…') },
    });
  }
  return blocks;
}

function approvalButtons(run: RunRecord, approvable = true): unknown {
  const value = approvalValue(run);
  const approve = {
    type: 'button',
    action_id: APPROVE_ACTION,
    text: { type: 'plain_text', text: 'Approve & push' },
    style: 'primary',
    value,
  };
  return {
    type: 'actions',
    block_id: 'airlock_approval_actions',
    elements: [
      ...(approvable ? [approve] : []),
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
