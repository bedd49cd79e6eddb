import type { AgentEvent } from '../agent/agent-events.js';
import { AgentLoop, type AgentStop } from '../agent/agent-loop.js';
import { priceFor } from '../agent/pricing.js';
import { systemPrompt } from '../agent/system-prompt.js';
import { limitsFor, repoPolicy } from '../config/policy.js';
import { AirlockError, messageOf } from '../errors.js';
import { runLogger } from '../log/logger.js';
import { type Approver, type Decision, mayApprove } from './approval-policy.js';
import { branchName, newRunId } from './branch-name.js';
import { rebuildConversation, sessionSpend, withUserText } from './conversation.js';
import { diffStat, formatDiffStat } from './diffstat.js';
import type { Message } from './ports/model.js';
import type { Sandbox } from './ports/sandbox.js';
import type { RunRecord } from './ports/store.js';
import type { RunPorts } from './run-context.js';
import { isTerminal, type RunState } from './run-state.js';
import { sandboxForSession } from './sandbox-rebuild.js';
import { TranscriptRecorder } from './transcript-recorder.js';
import { initSnapshotRepository } from './workspace-git.js';

export interface RunRequest {
  repo: string;
  task: string;
  requester: string;
  source: RunRecord['source'];
  baseRef?: string;
  intakeKey?: string;
  ticketKey?: string;
}

export interface SessionOptions {
  signal?: AbortSignal;
  onEvent?: (e: AgentEvent) => void;
  /** A person's feedback that starts this session (Request changes, a thread reply). */
  feedback?: string;
  /** Instructions that arrive while the agent works. */
  instructions?: () => string[];
}

/** The abort reason airlock uses when it stops: the run is left as it is, to resume on start. */
export const SHUTDOWN = 'airlock-shutdown';

export class ShutdownInterruption extends Error {
  constructor() {
    super('airlock is shutting down; the run resumes when it starts again');
  }
}

function textOf(message: Message): string {
  return message.content
    .filter((b) => b.type === 'text')
    .map((b) => (b as { text: string }).text)
    .join('\n')
    .trim();
}

export interface WorkResult {
  run: RunRecord;
  stop: AgentStop;
  diff: Buffer;
}

/**
 * Owns a run from request to terminal state (DESIGN.md §2). Each state change is stored
 * before its side effect; the other parts are ports it calls.
 */
export class RunEngine {
  private readonly now: () => number;

  constructor(private readonly ports: RunPorts) {
    this.now = ports.now ?? Date.now;
  }

  /** Records the request and queues it. A repeated intakeKey returns the first run (created: false). */
  request(req: RunRequest): RunRecord & { created: boolean } {
    const policy = repoPolicy(this.ports.policy, req.repo);
    const run = this.ports.store.createRun({
      id: newRunId(this.now()),
      repo: req.repo,
      task: this.ports.redactor.redact(req.task),
      requester: req.requester,
      source: req.source,
      baseRef: req.baseRef ?? policy.base,
      intakeKey: req.intakeKey,
      ticketKey: req.ticketKey,
    });
    if (run.created === false) return { ...run, created: false };
    return { ...this.must(this.ports.store.transition(run.id, ['requested'], 'queued', {})), created: true };
  }

  /** Provisions the sandbox, runs the agent, and takes the diff. Leaves the sandbox in place. */
  async work(runId: string, opts: SessionOptions = {}): Promise<WorkResult> {
    await this.provision(runId, opts.onEvent);
    return this.session(runId, opts);
  }

  /**
   * queued → provisioning → working: fixes the base commit, creates the sandbox, unpacks the
   * snapshot, runs the repository's setup. Safe to repeat after a restart mid-way.
   */
  async provision(runId: string, onEvent?: (e: AgentEvent) => void): Promise<void> {
    const { store } = this.ports;
    let run = this.must(store.getRun(runId));
    const log = runLogger(this.ports.logger, run.id, run.repo);
    const limits = limitsFor(this.ports.policy, run.repo);
    const policy = repoPolicy(this.ports.policy, run.repo);
    try {
      if (run.state === 'queued') run = this.must(store.transition(run.id, ['queued'], 'provisioning', {}));
      const baseSha = run.baseSha ?? (await this.ports.repos.fetchBase(run.repo, run.baseRef));
      if (!run.baseSha) {
        store.updateRun(
          run.id,
          { baseSha },
          { type: 'base.fixed', data: { base_ref: run.baseRef, base_sha: baseSha } },
        );
      }
      const sandbox = await this.ports.sandboxes.create(run.id, { repo: run.repo });
      await sandbox.putTree(this.ports.repos.snapshot(run.repo, baseSha));
      const snapshotCommit = await initSnapshotRepository(sandbox, baseSha);
      store.updateRun(
        run.id,
        { snapshotCommit },
        { type: 'sandbox.ready', data: { snapshot_commit: snapshotCommit, workdir: sandbox.workdir } },
      );
      log.info({ base_sha: baseSha }, 'sandbox ready');
      if (policy.setup)
        await this.runSetup(run.id, sandbox, policy.setup, limits.command_timeout_seconds, onEvent);
      this.must(store.transition(run.id, ['provisioning'], 'working', {}));
    } catch (error) {
      await this.failed(runId, error, undefined);
      throw error;
    }
  }

  /**
   * One work session of the agent in the run's sandbox: the first, a follow-up with a person's
   * feedback, or a resumption after a restart (the conversation is rebuilt from the store).
   * Ends by taking the diff. The run stays `working`; settle() decides what comes next.
   */
  async session(runId: string, opts: SessionOptions = {}): Promise<WorkResult> {
    const { store } = this.ports;
    let run = this.must(store.getRun(runId));
    const log = runLogger(this.ports.logger, run.id, run.repo);
    const limits = limitsFor(this.ports.policy, run.repo);
    try {
      if (run.state !== 'working')
        throw new AirlockError('store_failed', `Run ${run.id} is ${run.state}, not working.`);
      const setup = repoPolicy(this.ports.policy, run.repo).setup;
      const found = await sandboxForSession(this.ports, run, {
        afterReview: opts.feedback !== undefined,
        setup: async (fresh) => {
          if (setup) await this.runSetup(run.id, fresh, setup, limits.command_timeout_seconds, opts.onEvent);
        },
      });
      const { sandbox, snapshotCommit } = found;
      run = found.run;
      let messages = rebuildConversation(store.modelTurns(run.id), store.toolCalls(run.id));
      if (messages.length === 0)
        messages = [{ role: 'user', content: [{ type: 'text', text: this.firstMessage(run) }] }];
      if (opts.feedback) messages = withUserText(messages, opts.feedback);
      const spent = sessionSpend(store.events(run.id));
      const sessionStart = spent.startedAt ? Date.parse(spent.startedAt) : this.now();

      let stop: AgentStop;
      const last = messages.at(-1);
      if (last?.role === 'assistant') {
        // The agent had finished before airlock stopped; only the diff is left to take.
        stop = { kind: 'finished', summary: textOf(last) || 'The agent finished without a summary.' };
      } else {
        const model = this.ports.model();
        const recorder = new TranscriptRecorder(store, run.id, model.model, opts.onEvent);
        const agent = new AgentLoop({
          model,
          sandbox,
          price: priceFor(model.model, this.ports.policy.model.price),
          redact: (t) => this.ports.redactor.redact(t),
          onEvent: (e) => recorder.handle(e),
          now: this.now,
        });
        stop = await agent.run({
          system: systemPrompt({
            repo: run.repo,
            workdir: sandbox.workdir,
            baseRef: run.baseRef,
            isolated: !this.ports.sandboxes.warning,
          }),
          messages,
          budget: {
            maxSteps: limits.max_steps,
            deadline: sessionStart + limits.max_minutes * 60_000,
            maxTokens: limits.max_tokens,
            maxCostUsd: limits.max_cost_usd,
            commandTimeoutMs: limits.command_timeout_seconds * 1000,
            maxOutputTokens: this.ports.policy.model.max_output_tokens,
          },
          spent: { steps: spent.steps, tokens: spent.tokens, costUsd: spent.costUsd },
          signal: opts.signal,
          instructions: opts.instructions,
        });
      }
      if (stop.kind === 'cancelled' && opts.signal?.reason === SHUTDOWN) throw new ShutdownInterruption();
      store.appendEvent(run.id, 'agent.stopped', {
        kind: stop.kind,
        reason: 'reason' in stop ? stop.reason : undefined,
      });

      const diff = await sandbox.diff(snapshotCommit);
      const summary = this.ports.redactor.redact(stop.summary);
      const fields = { summary, diffSha256: diff.length ? store.saveDiff(run.id, diff) : null };
      run = store.updateRun(run.id, fields, {
        type: 'diff.taken',
        data: { bytes: diff.length, sha256: fields.diffSha256 },
      });
      log.info({ stop: stop.kind, diff_bytes: diff.length }, 'agent stopped');
      return { run, stop, diff };
    } catch (error) {
      if (error instanceof ShutdownInterruption || opts.signal?.reason === SHUTDOWN)
        throw new ShutdownInterruption();
      await this.failed(runId, error, opts.signal);
      throw error;
    }
  }

  /** awaiting_approval → changes_requested → working, recording who asked for what. */
  requestChanges(runId: string, by: string, feedback: string): RunRecord | undefined {
    const { store } = this.ports;
    const asked = store.transition(runId, ['awaiting_approval'], 'changes_requested', {
      data: { by, feedback: this.ports.redactor.redact(feedback) },
    });
    if (!asked) return undefined;
    return store.transition(runId, ['changes_requested'], 'working', {});
  }

  private firstMessage(run: RunRecord): string {
    const setup = [...this.ports.store.events(run.id)].reverse().find((e) => e.type === 'setup.finished');
    if (!setup || setup.data.exit_code === 0) return run.task;
    return `Note: the repository's setup command \`${String(setup.data.command)}\` failed (exit ${String(
      setup.data.exit_code ?? 'killed',
    )}). Its last output:\n${String(setup.data.output_tail)}\n\nTask:\n${run.task}`;
  }

  private async failed(runId: string, error: unknown, signal: AbortSignal | undefined): Promise<void> {
    const run = this.ports.store.getRun(runId);
    const cancelled = signal?.aborted || (error instanceof AirlockError && error.code === 'cancelled');
    if (run) runLogger(this.ports.logger, run.id, run.repo).error({ err: messageOf(error) }, 'run failed');
    this.end(runId, cancelled ? 'cancelled' : 'failed', cancelled ? 'Cancelled.' : messageOf(error));
    await this.destroySandbox(runId).catch(() => {});
  }

  /** After work: a finished agent with a diff awaits approval; no diff is done with no changes. */
  settle(result: WorkResult): RunRecord {
    const { store } = this.ports;
    const { run, stop, diff } = result;
    if (stop.kind === 'cancelled') return this.end(run.id, 'cancelled', 'Cancelled.');
    if (stop.kind === 'budget')
      return this.end(run.id, 'failed', `The agent stopped before finishing: ${stop.reason}.`);
    if (diff.length === 0) {
      return this.must(store.transition(run.id, ['working'], 'done', { fields: { outcome: 'no_changes' } }));
    }
    return this.must(
      store.transition(run.id, ['working'], 'awaiting_approval', {
        data: { diff_sha256: run.diffSha256, diffstat: formatDiffStat(diffStat(diff.toString('utf8'))) },
      }),
    );
  }

  /**
   * Approves the exact diff `diffSha256` and pushes it. A refusal comes back as a Decision; the
   * attempt is audited either way. A second approval of a run already pushing is refused.
   */
  async approve(
    runId: string,
    approver: Approver,
    diffSha256: string,
    opts: { headless?: boolean } = {},
  ): Promise<Decision & { run: RunRecord }> {
    const { store } = this.ports;
    const run = this.must(store.getRun(runId));
    const policy = repoPolicy(this.ports.policy, run.repo);
    let decision: Decision = opts.headless ? { allowed: true } : mayApprove(policy, approver, run.requester);
    if (decision.allowed && run.state !== 'awaiting_approval') {
      decision = {
        allowed: false,
        reason: `This run is ${run.state.replace('_', ' ')}; there is nothing to approve.`,
      };
    }
    if (decision.allowed && run.diffSha256 !== diffSha256) {
      decision = {
        allowed: false,
        reason: 'The diff changed since this approval was requested; review the newest diff.',
      };
    }
    if (!decision.allowed) {
      store.appendEvent(
        run.id,
        'approval.refused',
        { by: approver.id, diff_sha256: diffSha256, reason: decision.reason },
        { durable: true },
      );
      return { ...decision, run };
    }
    const approvedAt = new Date(this.now()).toISOString();
    const pushing = store.transition(run.id, ['awaiting_approval'], 'pushing', {
      type: 'approval.granted',
      data: { by: approver.id, diff_sha256: diffSha256, approved_at: approvedAt, headless: !!opts.headless },
      fields: { branch: branchName(run.id, run.task) },
      durable: true,
    });
    if (!pushing) {
      const reason = 'Someone else acted on this run first.';
      store.appendEvent(
        run.id,
        'approval.refused',
        { by: approver.id, diff_sha256: diffSha256, reason },
        { durable: true },
      );
      return { allowed: false, reason, run: this.must(store.getRun(runId)) };
    }
    return { allowed: true, run: await this.push(pushing, approver.id, approvedAt) };
  }

  /** Pushes a run in `pushing`. Safe to repeat after a crash: same commit, same branch, same PR. */
  async push(run: RunRecord, approvedBy: string, approvedAt: string): Promise<RunRecord> {
    const { store } = this.ports;
    const log = runLogger(this.ports.logger, run.id, run.repo);
    const policy = repoPolicy(this.ports.policy, run.repo);
    const diff = run.diffSha256 ? store.diff(run.id, run.diffSha256) : undefined;
    if (!diff || !run.baseSha || !run.branch)
      throw new AirlockError('store_failed', `Run ${run.id} has no approved diff to push.`);
    try {
      const stat = formatDiffStat(diffStat(diff.toString('utf8')));
      const title = pullRequestTitle(run);
      const result = await this.ports.publisher.publish({
        runId: run.id,
        repo: run.repo,
        baseRef: run.baseRef,
        baseSha: run.baseSha,
        diff,
        branch: run.branch,
        commitTitle: title,
        commitBody: `${run.summary ?? ''}\n\nTask: ${run.task}`,
        approvedAt,
        pullRequest: {
          title,
          body: pullRequestBody(
            run,
            approvedBy,
            stat,
            this.testCommands(run.id),
            run.ticketKey ? this.ports.tickets.urlFor(run.ticketKey) : undefined,
          ),
          draft: policy.pr?.draft ?? false,
          labels: policy.pr?.labels ?? [],
        },
      });
      log.info({ commit: result.commitSha, pr: result.pullRequest?.url }, 'pushed');
      const done = this.must(
        store.transition(run.id, ['pushing'], 'done', {
          type: 'push.done',
          data: {
            branch: run.branch,
            commit: result.commitSha,
            already_pushed: result.alreadyPushed,
            pr_url: result.pullRequest?.url ?? null,
            pr_created: result.pullRequest?.created ?? null,
          },
          fields: { prUrl: result.pullRequest?.url ?? null, outcome: 'pushed' },
          durable: true,
        }),
      );
      if (done.ticketKey && result.pullRequest)
        await this.reportToTicket(done, { url: result.pullRequest.url, title });
      return done;
    } catch (error) {
      log.error({ err: messageOf(error) }, 'push failed');
      this.end(run.id, 'failed', messageOf(error));
      throw error;
    }
  }

  /**
   * Comments the PR on the ticket and moves it (jira.on_pr). A Jira failure never loses the PR:
   * it is recorded as a `ticket.failed` event, which the thread and the CLI report.
   */
  private async reportToTicket(run: RunRecord, pr: { url: string; title: string }): Promise<void> {
    const key = run.ticketKey as string;
    const onPr = this.ports.policy.jira?.on_pr ?? { comment: true };
    const steps: Array<[string, () => Promise<void>]> = [];
    if (onPr.comment) steps.push(['comment', () => this.ports.tickets.commentPullRequest(key, pr, run.id)]);
    if (onPr.transition)
      steps.push([
        `transition to ${onPr.transition}`,
        () => this.ports.tickets.transition(key, onPr.transition as string),
      ]);
    for (const [what, step] of steps) {
      try {
        await step();
        this.ports.store.appendEvent(run.id, 'ticket.updated', { ticket: key, action: what });
      } catch (error) {
        this.ports.store.appendEvent(run.id, 'ticket.failed', {
          ticket: key,
          action: what,
          error: this.ports.redactor.redact(messageOf(error)),
        });
      }
    }
  }

  reject(runId: string, by: string, reason: string): RunRecord {
    return this.must(
      this.ports.store.transition(runId, ['requested', 'awaiting_approval'], 'rejected', {
        data: { by, reason },
        fields: { error: reason },
        durable: true,
      }),
    );
  }

  /** Ends a run that was handed out as a patch: nothing is pushed. */
  finishAsPatch(runId: string): RunRecord {
    return this.must(
      this.ports.store.transition(runId, ['awaiting_approval'], 'done', { fields: { outcome: 'patch' } }),
    );
  }

  async destroySandbox(runId: string): Promise<void> {
    const sandbox = await this.ports.sandboxes.attach(runId);
    await sandbox?.destroy();
  }

  private end(runId: string, state: Extract<RunState, 'failed' | 'cancelled'>, error: string): RunRecord {
    const run = this.must(this.ports.store.getRun(runId));
    if (isTerminal(run.state)) return run;
    const from = [run.state];
    return (
      this.ports.store.transition(runId, from, state, {
        fields: { error: this.ports.redactor.redact(error) },
      }) ?? run
    );
  }

  private async runSetup(
    runId: string,
    sandbox: Sandbox,
    command: string,
    timeoutSeconds: number,
    onEvent: ((e: AgentEvent) => void) | undefined,
  ): Promise<void> {
    const result = await sandbox.exec(command, { timeoutMs: timeoutSeconds * 1000 });
    const output = this.ports.redactor.redact(`${result.stdout.toString()}${result.stderr.toString()}`);
    new TranscriptRecorder(this.ports.store, runId, '', onEvent).setup(
      command,
      output,
      result.exitCode,
      result.durationMs,
    );
    this.ports.store.appendEvent(runId, 'setup.finished', {
      command,
      exit_code: result.exitCode,
      output_tail: output.slice(-2000),
    });
  }

  private testCommands(runId: string): Array<{ command: string; exitCode: number | null }> {
    return this.ports.store
      .toolCalls(runId)
      .filter((c) => c.name === 'bash' && typeof (c.input as { command?: unknown }).command === 'string')
      .map((c) => ({ command: (c.input as { command: string }).command, exitCode: c.exitCode }))
      .filter((c) =>
        /\b(test|check|lint|pytest|jest|vitest|make|cargo|go test|tsc|mvn|gradle)\b/.test(c.command),
      )
      .slice(-10);
  }

  private must<T>(value: T | undefined): T {
    if (value === undefined)
      throw new AirlockError('store_failed', 'The run changed state underneath this action; retry.');
    return value;
  }
}

function pullRequestTitle(run: RunRecord): string {
  let line = (run.task.split('\n')[0] ?? '').trim();
  if (run.ticketKey) {
    line = line.replace(new RegExp(`^Jira ticket ${run.ticketKey}: `), '');
    if (!line.includes(run.ticketKey)) line = `${run.ticketKey}: ${line}`;
  }
  return line.length > 72 ? `${line.slice(0, 69)}...` : line || `airlock run ${run.id}`;
}

function pullRequestBody(
  run: RunRecord,
  approvedBy: string,
  stat: string,
  tests: Array<{ command: string; exitCode: number | null }>,
  ticketUrl: string | undefined,
): string {
  const checks = tests.length
    ? tests.map((t) => `- \`${t.command.split('\n')[0]}\` → exit ${t.exitCode ?? 'killed'}`).join('\n')
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
    checks,
    '',
    `Requested by ${run.requester} · approved by ${approvedBy} · run \`${run.id}\`${run.ticketKey ? ` · ticket [${run.ticketKey}](${ticketUrl ?? run.ticketKey})` : ''}`,
    '',
    '_Opened by airlock. The diff was approved by its exact SHA-256 before it was pushed._',
  ].join('\n');
}
