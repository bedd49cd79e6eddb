import type { RunRecord } from './ports/store.js';

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

/** The PR's body: summary, task, diffstat, the checks the agent ran, and who asked and approved. */
export function pullRequestBody(
  run: RunRecord,
  approvedBy: string,
  stat: string,
  checks: CheckRan[],
  ticketUrl: string | undefined,
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
    '### Checks the agent ran',
    ran,
    '',
    `Requested by ${run.requester} · approved by ${approvedBy} · run \`${run.id}\`${run.ticketKey ? ` · ticket [${run.ticketKey}](${ticketUrl ?? run.ticketKey})` : ''}`,
    '',
    '_Opened by airlock. The diff was approved by its exact SHA-256 before it was pushed._',
  ].join('\n');
}
