import { userInfo } from 'node:os';
import type { App } from '../composition-root.js';
import { repoPolicy } from '../config/policy.js';
import { AirlockError } from '../errors.js';
import type { RunRecord } from '../runs/ports/store.js';
import { prepareReview } from '../runs/review-request.js';
import { submittedReview } from '../runs/review-submission.js';
import type { WorkResult } from '../runs/run-lifecycle.js';
import { ProgressPrinter } from './progress.js';
import type { Io } from './run-command.js';

/**
 * `airlock review --repo R --pr N [--post]`: the agent reviews the pull request's head read-only
 * and submits a review; it is printed, and with --post posted as a COMMENT review. Never pushes.
 */
export async function reviewCommand(
  app: App,
  opts: { repo?: string; pr?: string; post?: boolean; json?: boolean },
  io: Io,
): Promise<number> {
  if (!opts.repo)
    throw new AirlockError(
      'usage',
      `--repo is required. Configured: ${Object.keys(app.policy.repos).join(', ')}.`,
    );
  repoPolicy(app.policy, opts.repo);
  const number = Number(opts.pr);
  if (!Number.isInteger(number) || number < 1)
    throw new AirlockError('usage', '--pr needs the pull request number, such as --pr 42.');
  const repo = opts.repo;
  const { facts, diff, task } = await prepareReview(app, repo, number);
  const headSha = facts.headSha;
  const progress = new ProgressPrinter(io.stderr, app.policy.limits.max_steps);
  await app.startEgress();
  const requested = app.lifecycle.requestReview(
    {
      repo,
      task,
      requester: { id: `cli:${userInfo().username}` },
      source: 'cli',
      trusted: true,
    },
    facts,
    diff,
  );
  if (!requested.allowed) throw new AirlockError('usage', requested.reason);
  let run: RunRecord = requested.run;
  progress.line(`airlock review ${run.id}: ${repo}#${number} at ${headSha.slice(0, 12)}, read-only`);
  let result: WorkResult;
  try {
    result = await app.lifecycle.start(run.id, { onEvent: (e) => progress.handle(e) });
    run = app.lifecycle.settle(result);
  } finally {
    progress.done();
    await app.lifecycle.destroySandbox(run.id);
  }
  const reviewed = run.state === 'done' && run.outcome === 'reviewed';
  const review =
    submittedReview({ store: app.store }, run.id) ??
    (reviewed ? { summary: run.summary ?? '', comments: [] } : undefined);
  const posted = reviewed && opts.post ? await app.lifecycle.postReview(run.id) : undefined;
  if (opts.json) {
    io.stdout.write(
      `${JSON.stringify({
        id: run.id,
        repo,
        pr: number,
        head_sha: headSha,
        state: run.state,
        outcome: run.outcome,
        review: review ?? null,
        posted: posted?.posted ?? false,
        review_url: posted?.url ?? null,
        error: run.error ?? posted?.error ?? null,
      })}\n`,
    );
  } else if (review) {
    io.stdout.write(`${review.summary}\n`);
    for (const c of review.comments)
      io.stdout.write(`\n${c.path}:${c.line}\n  ${c.body.replaceAll('\n', '\n  ')}\n`);
  }
  if (!reviewed) progress.line(`no review: ${run.error ?? run.state}`);
  if (posted?.posted) progress.line(`posted: ${posted.url ?? 'on the pull request'}`);
  if (posted && !posted.posted) progress.line(`not posted: ${posted.error}`);
  return reviewed && (!opts.post || posted?.posted) ? 0 : 1;
}
