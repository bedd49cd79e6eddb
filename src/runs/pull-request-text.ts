import { AIRLOCK_MARK } from './ports/pull-requests.js';
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

/** The `airlock/approved` status's description (GitHub keeps 140 characters). */
export function approvedDescription(approvedBy: string, diffSha256: string): string {
  return `approved by ${approvedBy} · diff ${diffSha256.slice(0, 12)}`.slice(0, 140);
}

/** The first run's body with a section for the follow-ups pushed since, oldest first. */
export function followUpsBody(originBody: string, followUps: RunRecord[]): string {
  if (!followUps.length) return originBody;
  const lines = followUps.map((r) => {
    const what = (r.summary ?? r.task).split('\n')[0]?.trim() ?? '';
    const said = what.length > 200 ? `${what.slice(0, 197)}...` : what;
    return `- ${said} — asked by ${r.requester}, approved by ${r.approvedBy ?? 'unknown'} · run \`${r.id}\``;
  });
  return `${originBody}\n\n### Follow-ups\n${lines.join('\n')}`;
}

/** What airlock says on the pull request after pushing a follow-up. */
export function followUpReply(
  run: RunRecord,
  commitSha: string,
  stat: string,
  /** A Slack user id as the forge knows the person (`@login` through `people:`), else the id. */
  onForge: (id: string) => string,
): string {
  return [
    AIRLOCK_MARK,
    `Pushed ${commitSha.slice(0, 12)} for ${onForge(run.requester)}, approved by ${onForge(run.approvedBy ?? 'unknown')}.`,
    '',
    run.summary ?? '',
    '',
    '```',
    stat,
    '```',
    `_run \`${run.id}\` · the diff was approved by its exact SHA-256 before it was pushed_`,
  ].join('\n');
}
