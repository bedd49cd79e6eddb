import type { RunRecord } from './ports/store.js';
import { SENSITIVE_KIND_LABELS, type SensitiveFinding } from './sensitive-changes.js';

export interface CheckRan {
  command: string;
  exitCode: number | null;
}

/** The PR's title: the task's first line, led by the ticket key when there is one. */
export function pullRequestTitle(run: Pick<RunRecord, 'id' | 'task' | 'ticketKey'>): string {
  let line = (run.task.split('\n')[0] ?? '').trim();
  if (run.ticketKey) {
    line = line.replace(new RegExp(`^Jira ticket ${run.ticketKey}: `), '');
    if (!line.includes(run.ticketKey)) line = `${run.ticketKey}: ${line}`;
  }
  return line.length > 72 ? `${line.slice(0, 69)}...` : line || `airlock run ${run.id}`;
}

/** Findings listed in the PR body before "and N more" (GitHub caps a body at 65,536 characters). */
export const PR_FINDINGS_SHOWN = 100;

/** The "Deserves a second look" section, or nothing when there are no findings. */
export function sensitiveChangesSection(findings: readonly SensitiveFinding[]): string[] {
  if (!findings.length) return [];
  const lines = findings.slice(0, PR_FINDINGS_SHOWN).map((f) => {
    const path = f.path.replaceAll('`', "'").replaceAll('\n', ' ');
    return `- **${SENSITIVE_KIND_LABELS[f.kind]}** \`${path}\`: ${f.reason.replaceAll('\n', ' ')}`;
  });
  if (findings.length > PR_FINDINGS_SHOWN) lines.push(`- …and ${findings.length - PR_FINDINGS_SHOWN} more`);
  return ['### Deserves a second look', ...lines, ''];
}

/**
 * The PR's body: summary, task, diffstat, what deserves a second look (runs/sensitive-changes.ts),
 * the checks the agent ran, and who asked and approved.
 */
export function pullRequestBody(
  run: RunRecord,
  approvedBy: string,
  stat: string,
  checks: CheckRan[],
  ticketUrl: string | undefined,
  findings: readonly SensitiveFinding[] = [],
): string {
  const ran = checks.length
    ? checks.map((t) => `- \`${t.command.split('\n')[0]}\` → exit ${t.exitCode ?? 'killed'}`).join('\n')
    : '- none recorded';
  return [
    run.summary ?? '',
    '',
    '### Task',
    run.task,
    '',
    '### Changes',
    '```',
    stat,
    '```',
    ...sensitiveChangesSection(findings),
    '### Checks the agent ran',
    ran,
    '',
    `Requested by ${run.requester} · approved by ${approvedBy} · run \`${run.id}\`${run.ticketKey ? ` · ticket [${run.ticketKey}](${ticketUrl ?? run.ticketKey})` : ''}`,
    '',
    '_Opened by airlock. The diff was approved by its exact SHA-256 before it was pushed._',
  ].join('\n');
}
