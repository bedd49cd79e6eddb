import type { RunProgress } from '../../runs/ports/chat.js';
import type { RunRecord } from '../../runs/ports/store.js';
import { escapeMrkdwn, fit, LIMITS } from './limits.js';

export const CANCEL_ACTION = 'airlock_cancel';

const STATE_LABEL: Record<RunRecord['state'], string> = {
  requested: ':hourglass_flowing_sand: Requested',
  queued: ':hourglass_flowing_sand: Queued',
  provisioning: ':package: Preparing the sandbox',
  working: ':hammer_and_wrench: Working',
  awaiting_approval: ':eyes: Waiting for approval',
  changes_requested: ':arrows_counterclockwise: Changes requested',
  pushing: ':rocket: Pushing',
  done: ':white_check_mark: Done',
  rejected: ':no_entry_sign: Rejected',
  failed: ':x: Failed',
  cancelled: ':black_square_for_stop: Cancelled',
  expired: ':hourglass: Approval expired',
};

function elapsed(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s >= 60 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${s}s`;
}

function tokens(n: number): string {
  return n >= 1000 ? `${(n / 1000).toFixed(1)}k` : String(n);
}

/** The one status message of a run, edited as it works (DESIGN.md §5). */
export function statusMessage(
  run: RunRecord,
  opts: { progress?: RunProgress; position?: number; now?: number; pullRequest?: 'merged' | 'closed' } = {},
): { text: string; blocks: unknown[] } {
  const { progress, position } = opts;
  const parts = [`*${STATE_LABEL[run.state]}* on \`${run.repo}\``];
  if (run.state === 'queued' && position && position > 0) parts.push(`place ${position} in line`);
  if (progress && (run.state === 'working' || run.state === 'provisioning')) {
    parts.push(`step ${progress.step}/${progress.maxSteps}`);
    if (progress.lastAction) {
      const exit = progress.lastExitCode === undefined ? '' : ` → exit ${progress.lastExitCode ?? 'killed'}`;
      parts.push(`\`${escapeMrkdwn(fit(progress.lastAction, 120, '…'))}\`${exit}`);
    }
    parts.push(elapsed((opts.now ?? Date.now()) - progress.startedAt));
    parts.push(`${tokens(progress.tokens)} tokens`, `$${progress.costUsd.toFixed(2)}`);
  }
  if (run.state === 'done' && run.outcome === 'no_changes') parts.push('no changes were needed');
  if (opts.pullRequest) parts.push(`pull request ${opts.pullRequest}`);
  if (run.state === 'done' && run.outcome === 'answered') parts.push('answered (read-only)');
  if (
    (run.state === 'failed' ||
      run.state === 'cancelled' ||
      run.state === 'rejected' ||
      run.state === 'expired') &&
    run.error
  ) {
    parts.push(escapeMrkdwn(run.error));
  }
  const text = fit(parts.join(' · '), LIMITS.sectionText, '…');
  const blocks: unknown[] = [
    { type: 'section', text: { type: 'mrkdwn', text } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: `run \`${run.id}\`` }] },
  ];
  if (['queued', 'provisioning', 'working', 'changes_requested'].includes(run.state)) {
    blocks.push({
      type: 'actions',
      block_id: 'airlock_status_actions',
      elements: [
        {
          type: 'button',
          action_id: CANCEL_ACTION,
          text: { type: 'plain_text', text: 'Cancel' },
          style: 'danger',
          value: run.id,
        },
      ],
    });
  }
  return { text: `${STATE_LABEL[run.state].replace(/^:[a-z_]+: /, '')} on ${run.repo}`, blocks };
}
