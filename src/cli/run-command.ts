import { accessSync, constants, statSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, resolve } from 'node:path';
import { createInterface } from 'node:readline/promises';
import type { App } from '../composition-root.js';
import { limitsFor, repoPolicy } from '../config/policy.js';
import { AirlockError, messageOf } from '../errors.js';
import { mayPushHeadless } from '../runs/approval-policy.js';
import { diffStat, formatDiffStat } from '../runs/diffstat.js';
import { policyLinesFor, refusedTargets } from '../runs/egress-ledger.js';
import type { RunRecord } from '../runs/ports/store.js';
import { type ResolvedRequest, resolvedOrThrow } from '../runs/request-resolver.js';
import type { PushOutcome, WorkResult } from '../runs/run-lifecycle.js';
import { ProgressPrinter } from './progress.js';

export interface RunOptions {
  repo?: string;
  task?: string;
  jira?: string;
  base?: string;
  patch?: string;
  push?: boolean;
  yes?: boolean;
  json?: boolean;
}

export interface Io {
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown; isTTY?: boolean };
  stdinIsTTY: boolean;
  confirm?: (question: string) => Promise<boolean>;
}

/** --patch FILE must be writable before any token is spent. */
function checkPatchPath(path: string): void {
  const full = resolve(path);
  const dir = dirname(full);
  try {
    if (!statSync(dir).isDirectory()) throw new Error('not a directory');
    accessSync(dir, constants.W_OK);
  } catch {
    throw new AirlockError(
      'usage',
      `--patch ${path}: the folder ${dir} does not exist or is not writable. Create it, or write the patch elsewhere.`,
    );
  }
  try {
    if (statSync(full).isDirectory())
      throw new AirlockError('usage', `--patch ${path} is a directory; give a file name.`);
  } catch (error) {
    if (error instanceof AirlockError) throw error;
  }
}

/**
 * `airlock run`: one headless run, driven through the same lifecycle commands as the bot.
 * Returns the exit code (DESIGN.md §7).
 */
export async function runCommand(app: App, opts: RunOptions, io: Io): Promise<number> {
  if (opts.repo) repoPolicy(app.policy, opts.repo);
  if (!opts.jira && !opts.task?.trim())
    throw new AirlockError('usage', '--task is required: what should the agent do? (or --jira KEY)');
  if (opts.yes && !opts.push) throw new AirlockError('usage', '--yes only makes sense with --push.');
  if (opts.push && !opts.yes && !(io.stdinIsTTY && io.stderr.isTTY)) {
    throw new AirlockError(
      'usage',
      '--push without --yes asks for confirmation, which needs a terminal. Add --yes (policy permitting).',
    );
  }
  if (opts.patch) checkPatchPath(opts.patch);
  const resolution = await app.resolver.resolve({ text: opts.task, repo: opts.repo, ticket: opts.jira });
  if (!resolution.ok && resolution.kind === 'repo' && !opts.jira)
    throw new AirlockError(
      'usage',
      `--repo is required. Configured: ${Object.keys(app.policy.repos).join(', ')}.`,
    );
  const request = resolvedOrThrow(resolution);
  return headlessRun(app, request, opts, io);
}

/**
 * One headless run of a resolved request: from request to patch, push or refusal; returns the
 * exit code. `ran` learns the run's id as soon as it exists.
 */
export async function headlessRun(
  app: App,
  request: ResolvedRequest,
  opts: RunOptions,
  io: Io,
  ran: { id?: string } = {},
): Promise<number> {
  const policy = repoPolicy(app.policy, request.repo);
  // Say before spending tokens that the push will be refused; the diff is still worth having.
  if (opts.push && opts.yes) {
    const decision = mayPushHeadless(policy, request.repo);
    if (!decision.allowed) io.stderr.write(`note: ${decision.reason}\n`);
  }

  const { lifecycle } = app;
  const progress = new ProgressPrinter(io.stderr, limitsFor(app.policy, request.repo).max_steps);
  if (app.sandboxes.warning) progress.line(app.sandboxes.warning);
  const user = `cli:${userInfo().username}`;
  // Before the run exists: a gateway that cannot listen is a configuration error, not a failed run.
  await app.startEgress();
  const requested = lifecycle.request({
    ...request,
    requester: { id: user },
    source: 'cli',
    baseRef: opts.base,
    trusted: true,
  });
  if (!requested.allowed) throw new AirlockError('usage', requested.reason);
  let run: RunRecord = requested.run;
  ran.id = run.id;
  progress.line(`airlock run ${run.id} on ${run.repo} (${run.baseRef})`);

  const abort = new AbortController();
  const onSignal = () => {
    progress.line('cancelling...');
    abort.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let result: WorkResult;
  try {
    result = await lifecycle.start(run.id, { signal: abort.signal, onEvent: (e) => progress.handle(e) });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    progress.done();
  }

  try {
    const stat = formatDiffStat(diffStat(result.diff.toString('utf8')));
    if (opts.patch && result.diff.length) {
      try {
        writeFileSync(opts.patch, result.diff);
      } catch (error) {
        run =
          lifecycle.fail(run.id, `Could not write the patch to ${opts.patch}: ${messageOf(error)}`) ?? run;
        progress.line(`run failed: ${run.error}`);
        return finish(io, opts, app, run, 1);
      }
    }
    run = lifecycle.settle(result);
    progress.line(`\n${run.summary ?? ''}\n`);
    progress.line(stat);

    if (run.state === 'done') {
      progress.line('no changes: nothing to push.');
      return finish(io, opts, app, run, 0);
    }
    if (run.state !== 'awaiting_approval') {
      progress.line(`run ${run.state}: ${run.error ?? ''}`);
      if (opts.patch && result.diff.length) progress.line(`the partial diff is in ${opts.patch}`);
      return finish(io, opts, app, run, 1);
    }
    if (opts.patch) progress.line(`diff written to ${opts.patch} (sha256 ${run.diffSha256})`);
    if (!opts.push) return finish(io, opts, app, lifecycle.finishAsPatch(run.id), 0);

    const sha = run.diffSha256 as string;
    if (opts.yes) {
      const decision = mayPushHeadless(policy, request.repo);
      if (!decision.allowed) {
        run = lifecycle.reject(run.id, { operator: 'policy' }, decision.reason).run;
        progress.line(`not pushed: ${decision.reason}`);
        return finish(io, opts, app, run, 1);
      }
      const approved = await lifecycle.approve(run.id, { operator: 'cli:--yes' }, sha);
      return reportPush(io, opts, app, progress, approved.push, approved.run);
    }
    io.stderr.write(`\n${result.diff.toString('utf8')}\n`);
    const confirm = io.confirm ?? askOnTerminal;
    if (!(await confirm(`Push this diff to a new branch of ${run.repo} and open a pull request? [y/N] `))) {
      run = lifecycle.reject(run.id, { operator: user }, 'declined at the terminal').run;
      progress.line('not pushed.');
      return finish(io, opts, app, run, 1);
    }
    const approved = await lifecycle.approve(run.id, { operator: user }, sha);
    return reportPush(io, opts, app, progress, approved.push, approved.run);
  } finally {
    await lifecycle.destroySandbox(run.id);
  }
}

/** Prints a push's outcome (branch, PR, Jira) and returns the exit code. */
export function reportPush(
  io: Io,
  opts: Pick<RunOptions, 'json' | 'patch'>,
  app: App,
  progress: ProgressPrinter,
  push: PushOutcome | undefined,
  run: RunRecord,
): number {
  if (!push?.pushed) {
    progress.line(`not pushed: ${run.error ?? push?.error ?? 'unknown error'}`);
    return finish(io, opts, app, run, 1);
  }
  progress.line(`pushed ${run.branch}${run.prUrl ? `\npull request: ${run.prUrl}` : ''}`);
  for (const t of push.tickets) {
    if (t.error) progress.line(`jira: ${t.action} failed (the PR is open): ${t.error}`);
    else progress.line(`jira: ${t.ticket} ${t.action} done`);
  }
  return finish(io, opts, app, run, run.state === 'done' ? 0 : 1);
}

export function finish(
  io: Io,
  opts: Pick<RunOptions, 'json' | 'patch'>,
  app: App,
  run: RunRecord,
  code: number,
): number {
  const refused = refusedTargets(app.store, run.id);
  if (refused.length) {
    const list = refused.map((r) => `${r.target} (${r.phase})`).join(', ');
    io.stderr.write(
      `the egress gateway refused: ${list}\nto allow them for every run, add to the policy:\n` +
        policyLinesFor(run.repo, refused)
          .map((line) => `  ${line}\n`)
          .join(''),
    );
  }
  if (opts.json) {
    const totals = app.store.totals(run.id);
    io.stdout.write(
      `${JSON.stringify({
        run_id: run.id,
        repo: run.repo,
        state: run.state,
        outcome: run.outcome,
        base_sha: run.baseSha,
        id: run.id,
        diff_sha256: run.diffSha256,
        summary: run.summary,
        branch: run.branch,
        pr_url: run.prUrl,
        error: run.error,
        retryable: run.retryable,
        patch: opts.patch ?? null,
        steps: totals.steps,
        tokens: totals.inputTokens + totals.outputTokens,
        cost_usd: Number(totals.costUsd.toFixed(4)),
        egress_refused: refused,
        egress_policy: policyLinesFor(run.repo, refused),
      })}\n`,
    );
  }
  return code;
}

async function askOnTerminal(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}
