import { writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { createInterface } from 'node:readline/promises';
import type { App } from '../composition-root.js';
import { limitsFor, repoPolicy } from '../config/policy.js';
import { AirlockError } from '../errors.js';
import { mayPushHeadless } from '../runs/approval-policy.js';
import { diffStat, formatDiffStat } from '../runs/diffstat.js';
import type { RunRecord } from '../runs/ports/store.js';
import { taskFromTicket } from '../runs/ports/tickets.js';
import { projectOf, ticketKeys } from '../runs/ticket-ref.js';
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

/** `airlock run`: one headless run. Returns the exit code (DESIGN.md §7). */
export async function runCommand(app: App, opts: RunOptions, io: Io): Promise<number> {
  let ticketKey: string | undefined;
  if (opts.jira) {
    const [key] = ticketKeys(opts.jira);
    if (!key)
      throw new AirlockError(
        'usage',
        `--jira takes a ticket key or link (WID-7, …/browse/WID-7); got "${opts.jira}".`,
      );
    const ticket = await app.tickets.fetch(key);
    ticketKey = key;
    opts = {
      ...opts,
      repo: opts.repo ?? app.policy.jira?.projects[projectOf(key)],
      task: taskFromTicket(ticket, opts.task),
    };
    if (!opts.repo) {
      throw new AirlockError(
        'usage',
        `No repository for Jira project ${projectOf(key)}: pass --repo, or map it under jira.projects in airlock.yaml.`,
      );
    }
  }
  if (!opts.repo)
    throw new AirlockError(
      'usage',
      `--repo is required. Configured: ${Object.keys(app.policy.repos).join(', ')}.`,
    );
  if (!opts.task?.trim())
    throw new AirlockError('usage', '--task is required: what should the agent do? (or --jira KEY)');
  const policy = repoPolicy(app.policy, opts.repo);
  if (opts.yes && !opts.push) throw new AirlockError('usage', '--yes only makes sense with --push.');
  if (opts.push && !opts.yes && !(io.stdinIsTTY && io.stderr.isTTY)) {
    throw new AirlockError(
      'usage',
      '--push without --yes asks for confirmation, which needs a terminal. Add --yes (policy permitting).',
    );
  }
  // Refuse before spending tokens when the answer is already known.
  if (opts.push && opts.yes) {
    const decision = mayPushHeadless(policy, opts.repo);
    if (!decision.allowed) io.stderr.write(`note: ${decision.reason}\n`);
  }

  const { engine } = app;
  const limits = limitsFor(app.policy, opts.repo);
  const progress = new ProgressPrinter(io.stderr, limits.max_steps);
  if (app.sandboxes.warning) progress.line(app.sandboxes.warning);

  let run: RunRecord = engine.request({
    repo: opts.repo,
    task: opts.task,
    requester: `cli:${userInfo().username}`,
    source: 'cli',
    baseRef: opts.base,
    ticketKey,
  });
  progress.line(`airlock run ${run.id} on ${run.repo} (${run.baseRef})`);

  const abort = new AbortController();
  const onSignal = () => {
    progress.line('cancelling...');
    abort.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let result: Awaited<ReturnType<typeof engine.work>>;
  try {
    result = await engine.work(run.id, { signal: abort.signal, onEvent: (e) => progress.handle(e) });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    progress.done();
  }

  try {
    const stat = formatDiffStat(diffStat(result.diff.toString('utf8')));
    if (opts.patch && result.diff.length) writeFileSync(opts.patch, result.diff);
    run = engine.settle(result);
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
    if (!opts.push) return finish(io, opts, app, engine.finishAsPatch(run.id), 0);

    const sha = run.diffSha256 as string;
    if (opts.yes) {
      const decision = mayPushHeadless(policy, opts.repo);
      if (!decision.allowed) {
        run = engine.reject(run.id, 'policy', decision.reason);
        progress.line(`not pushed: ${decision.reason}`);
        return finish(io, opts, app, run, 1);
      }
      const approved = await engine.approve(run.id, { id: 'cli:--yes' }, sha, { headless: true });
      return reportPush(io, opts, app, progress, approved.run);
    }
    io.stderr.write(`\n${result.diff.toString('utf8')}\n`);
    const confirm = io.confirm ?? askOnTerminal;
    if (!(await confirm(`Push this diff to a new branch of ${run.repo} and open a pull request? [y/N] `))) {
      run = engine.reject(run.id, `cli:${userInfo().username}`, 'declined at the terminal');
      progress.line('not pushed.');
      return finish(io, opts, app, run, 1);
    }
    const approved = await engine.approve(run.id, { id: `cli:${userInfo().username}` }, sha, {
      headless: true,
    });
    return reportPush(io, opts, app, progress, approved.run);
  } finally {
    await engine.destroySandbox(run.id).catch(() => {});
  }
}

function reportPush(io: Io, opts: RunOptions, app: App, progress: ProgressPrinter, run: RunRecord): number {
  progress.line(`pushed ${run.branch}${run.prUrl ? `\npull request: ${run.prUrl}` : ''}`);
  for (const e of app.store.events(run.id)) {
    if (e.type === 'ticket.updated')
      progress.line(`jira: ${String(e.data.ticket)} ${String(e.data.action)} done`);
    if (e.type === 'ticket.failed')
      progress.line(`jira: ${String(e.data.action)} failed (the PR is open): ${String(e.data.error)}`);
  }
  return finish(io, opts, app, run, run.state === 'done' ? 0 : 1);
}

function finish(io: Io, opts: RunOptions, app: App, run: RunRecord, code: number): number {
  if (opts.json) {
    const totals = app.store.totals(run.id);
    io.stdout.write(
      `${JSON.stringify({
        run_id: run.id,
        repo: run.repo,
        state: run.state,
        outcome: run.outcome,
        base_sha: run.baseSha,
        diff_sha256: run.diffSha256,
        summary: run.summary,
        branch: run.branch,
        pr_url: run.prUrl,
        error: run.error,
        patch: opts.patch ?? null,
        steps: totals.steps,
        tokens: totals.inputTokens + totals.outputTokens,
        cost_usd: Number(totals.costUsd.toFixed(4)),
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
