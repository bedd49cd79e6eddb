import { userInfo } from 'node:os';
import type { App } from '../composition-root.js';
import { limitsFor, repoPolicy } from '../config/policy.js';
import { AirlockError } from '../errors.js';
import type { RunRecord } from '../runs/ports/store.js';
import { resolvedOrThrow } from '../runs/request-resolver.js';
import type { WorkResult } from '../runs/run-lifecycle.js';
import { ProgressPrinter } from './progress.js';
import type { Io } from './run-command.js';

/**
 * `airlock ask --repo R "question"`: a read-only run (DESIGN.md §2, modes): the agent reads the
 * code in a sandbox it cannot change and answers; the answer goes to stdout. No diff, no push.
 */
export async function askCommand(
  app: App,
  question: string,
  opts: { repo?: string; base?: string; json?: boolean },
  io: Io,
): Promise<number> {
  if (!question?.trim()) throw new AirlockError('usage', 'Say what to ask: airlock ask --repo R "question".');
  if (opts.repo) repoPolicy(app.policy, opts.repo);
  const resolution = await app.resolver.resolve({ text: question, repo: opts.repo });
  if (!resolution.ok && resolution.kind === 'repo')
    throw new AirlockError(
      'usage',
      `--repo is required. Configured: ${Object.keys(app.policy.repos).join(', ')}.`,
    );
  const request = resolvedOrThrow(resolution);
  const { lifecycle } = app;
  const limits = limitsFor(app.policy, request.repo);
  const progress = new ProgressPrinter(io.stderr, limits.ask_max_steps);
  await app.startEgress();
  const requested = lifecycle.request({
    ...request,
    requester: { id: `cli:${userInfo().username}` },
    source: 'cli',
    baseRef: opts.base,
    trusted: true,
    mode: 'ask',
  });
  if (!requested.allowed) throw new AirlockError('usage', requested.reason);
  let run: RunRecord = requested.run;
  progress.line(`airlock ask ${run.id} on ${run.repo} (${run.baseRef}), read-only`);
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  let result: WorkResult;
  try {
    result = await lifecycle.start(run.id, { signal: abort.signal, onEvent: (e) => progress.handle(e) });
    run = lifecycle.settle(result);
  } finally {
    process.off('SIGINT', onSignal);
    progress.done();
    await lifecycle.destroySandbox(run.id);
  }
  const answered = run.state === 'done' && run.outcome === 'answered';
  if (opts.json) {
    const totals = app.store.totals(run.id);
    io.stdout.write(
      `${JSON.stringify({
        id: run.id,
        repo: run.repo,
        mode: run.mode,
        state: run.state,
        outcome: run.outcome,
        base_sha: run.baseSha,
        answer: answered ? run.summary : null,
        error: run.error,
        steps: totals.steps,
        tokens: totals.inputTokens + totals.outputTokens,
        cost_usd: Number(totals.costUsd.toFixed(4)),
      })}\n`,
    );
  } else if (answered) io.stdout.write(`${run.summary ?? ''}\n`);
  if (!answered) progress.line(`no answer: ${run.error ?? run.state}`);
  return answered ? 0 : 1;
}
