import { type ToolOutcome, toolError } from '../agent/tools/tool-result.js';
import { newSideLines } from './diff-lines.js';
import type { RunRecord } from './ports/store.js';
import type { RunPorts } from './run-context.js';

export interface ReviewComment {
  path: string;
  line: number;
  body: string;
}

export interface SubmittedReview {
  summary: string;
  comments: ReviewComment[];
}

/** The pull request's diff a review run was given (saved with its request), if any. */
export function reviewedPullRequest(
  ports: Pick<RunPorts, 'store'>,
  run: RunRecord,
): { number: number; headSha: string; baseSha: string | null; diff: string; url: string } | undefined {
  const asked = ports.store.events(run.id).find((e) => e.type === 'review.requested')?.data as
    | { number: number; head_sha: string; base_sha?: string; diff_sha256: string | null; url: string }
    | undefined;
  if (!asked) return undefined;
  const diff = asked.diff_sha256 ? ports.store.diff(run.id, asked.diff_sha256) : undefined;
  return {
    number: asked.number,
    headSha: asked.head_sha,
    baseSha: asked.base_sha ?? null,
    diff: diff?.toString('utf8') ?? '',
    url: asked.url,
  };
}

/** The review the agent submitted last (the one that counts), if any. */
export function submittedReview(ports: Pick<RunPorts, 'store'>, runId: string): SubmittedReview | undefined {
  const last = ports.store
    .events(runId)
    .filter((e) => e.type === 'review.submitted')
    .at(-1)?.data as SubmittedReview | undefined;
  return last ? { summary: last.summary, comments: last.comments } : undefined;
}

/**
 * The submit_review tool of a review run: checks each line comment is on a line of the pull
 * request's diff (the forge refuses others), then records the review. The agent hears what to fix.
 */
export function reviewSubmitter(
  ports: Pick<RunPorts, 'store' | 'redactor'>,
  run: RunRecord,
): (input: Record<string, unknown>) => ToolOutcome {
  return (input) => {
    const summary = typeof input.summary === 'string' ? input.summary.trim() : '';
    if (!summary) return toolError('Error: submit_review needs a summary.');
    const raw = Array.isArray(input.comments) ? input.comments : [];
    const lines = newSideLines(reviewedPullRequest(ports, run)?.diff ?? '');
    const comments: ReviewComment[] = [];
    const wrong: string[] = [];
    for (const c of raw as Array<Record<string, unknown>>) {
      const path = String(c?.path ?? '').replace(/^\.?\//, '');
      const line = Number(c?.line);
      const body = String(c?.body ?? '').trim();
      if (!path || !Number.isInteger(line) || !body)
        wrong.push(`${path || '?'}:${c?.line ?? '?'} (needs path, line and body)`);
      else if (!lines.get(path)?.has(line)) wrong.push(`${path}:${line} (not a line the diff shows)`);
      else comments.push({ path, line, body: ports.redactor.redact(body) });
    }
    if (wrong.length)
      return toolError(
        `Error: these comments are not on lines of the pull request's diff: ${wrong.join(', ')}. ` +
          'Comment only on lines the diff shows in the new file (added or context lines), or put the point in the summary; then call submit_review again.',
      );
    const review = { summary: ports.redactor.redact(summary), comments };
    ports.store.appendEvent(run.id, { type: 'review.submitted', data: review });
    const text = `Review recorded: the summary and ${comments.length} line comment(s). Reply with one line to finish.`;
    return { content: text, fullOutput: text, isError: false, exitCode: 0 };
  };
}

/** Diffs longer than this reach the agent cut, with a note; it can read the files themselves. */
const TASK_DIFF_CHARS = 150_000;

/** A review run's task: the pull request, its description and its diff. */
export function reviewTask(
  facts: { number: number; url: string; title: string; body: string; base: string },
  diff: string,
): string {
  const shown =
    diff.length > TASK_DIFF_CHARS ? `${diff.slice(0, TASK_DIFF_CHARS)}\n… (the diff is cut here)` : diff;
  return [
    `Review pull request #${facts.number} (${facts.url}) into ${facts.base}: ${facts.title}`,
    '',
    facts.body.trim() ? `Its description:\n${facts.body.trim()}` : 'It has no description.',
    '',
    `Its diff against ${facts.base}:`,
    '```diff',
    shown || '(no changes)',
    '```',
  ].join('\n');
}
