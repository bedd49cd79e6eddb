import type { ForgeComment, WatchedPullRequest } from './ports/pull-requests.js';

/** Does the comment mention `@handle` (not as part of an email or a longer name)? */
export function mentions(body: string, handle: string): boolean {
  const escaped = handle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`(^|[^\\w@./-])@${escaped}(?![\\w-])`, 'i').test(body);
}

/** The comment without the mention of airlock's handle. */
export function withoutHandle(body: string, handle: string): string {
  const escaped = handle.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return body.replace(new RegExp(`(^|[^\\w@./-])@${escaped}(?![\\w-])[,:]?\\s*`, 'gi'), '$1').trim();
}

/** A follow-up's task: the comment, where it is (file, line, hunk), and the conversation in brief. */
export function commentTask(
  pr: WatchedPullRequest,
  c: ForgeComment,
  handle: string,
  earlier: string[],
): string {
  const lines = [
    `Follow-up on pull request #${pr.number} (${pr.url}), branch ${pr.branch}, asked by ${c.author} on the pull request:`,
    '',
    withoutHandle(c.body, handle) || '(no text beyond the mention)',
  ];
  if (c.path) {
    lines.push('', `The comment is on ${c.path}${c.line ? ` line ${c.line}` : ''}.`);
    if (c.diffHunk) lines.push('The diff hunk it is on:', '```diff', c.diffHunk.slice(-4000), '```');
  }
  if (earlier.length) lines.push('', 'The pull request so far, in brief:', ...earlier.map((e) => `- ${e}`));
  lines.push(
    '',
    'The workspace is the pull request branch as it is now, with the earlier work in it; change it as asked, on top of it.',
  );
  return lines.join('\n');
}

/** Fix CI's task: the failing check, where it failed, and the end of its log. */
export function fixTask(
  pr: WatchedPullRequest,
  failure: { name: string; sha: string; url: string; log: string },
): string {
  return [
    `Fix CI on pull request #${pr.number} (${pr.url}), branch ${pr.branch}: the check "${failure.name}" failed on ${failure.sha.slice(0, 12)}.`,
    failure.url ? `Its page: ${failure.url}` : '',
    '',
    failure.log.trim()
      ? ['The end of its log:', '```', failure.log.trim(), '```'].join('\n')
      : 'The check left no log; reproduce it from the repository’s CI configuration.',
    '',
    'Find the cause, fix it in the code (not by disabling the check), and run what the check runs where you can.',
  ]
    .filter((line, i, all) => line !== '' || all[i - 1] !== '')
    .join('\n');
}

/** The reply to a person airlock does not take requests from (said once per person and PR). */
export function whoMayAsk(login: string, handle: string, known: boolean): string {
  return known
    ? `@${login} you are not among the requesters of this repository in airlock's policy, so @${handle} does nothing for you here. Ask one of them, or an operator to add you.`
    : `@${login} airlock does not know you: only people the policy maps (\`people:\` a forge login to a Slack user) and lists as requesters can ask @${handle}. Ask an operator to add you.`;
}
