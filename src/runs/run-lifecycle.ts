import { createHash } from 'node:crypto';
import type { AgentStop } from '../agent/agent-loop.js';
import { limitsFor, networkFor, type RepoPolicy, repoPolicy } from '../config/policy.js';
import { AirlockError, messageOf } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { runAgentSession, type SessionOptions } from './agent-session.js';
import { approvalRefusal, chainRefusal } from './approval-gate.js';
import { type Approver, type Decision, mayApprove, mayRequest } from './approval-policy.js';
import { branchName, newRunId } from './branch-name.js';
import { diffStat, formatDiffStat } from './diffstat.js';
import { grantedTargets, refusedTargets } from './egress-ledger.js';
import { describeOwner, type OwnerLease, ownerGone } from './owner-lease.js';
import type { UnapprovedCommits } from './ports/chat.js';
import type { NetworkPhase } from './ports/egress.js';
import type { PullRequest } from './ports/forge.js';
import type { PullRequestFacts } from './ports/pull-requests.js';
import {
  type RunMode,
  type RunRecord,
  readOnlyMode,
  type TransitionChange,
  type TransitionResult,
} from './ports/store.js';
import type { PreparedPool } from './prepared-pool.js';
import {
  approvedDescription,
  followUpReply,
  followUpsBody,
  pullRequestBody,
  pullRequestTitle,
} from './pull-request-text.js';
import { loadRepositoryNotes } from './repository-instructions.js';
import { reviewedPullRequest, submittedReview } from './review-submission.js';
import type { RunPorts } from './run-context.js';
import { isTerminal, RUN_STATES, type RunState } from './run-state.js';
import { attachSandbox, type PreparedSandbox, prepareSandbox } from './sandbox-preparation.js';
import { findSensitiveChanges } from './sensitive-changes.js';
import { isTestCommand } from './test-commands.js';
import { reportToTicket, type TicketResult } from './ticket-report.js';

export type { SessionOptions } from './agent-session.js';

export interface RunRequest {
  repo: string;
  task: string;
  requester: Approver;
  source: RunRecord['source'];
  baseRef?: string;
  /** What asked (a Slack event id, a ticket); a repeat finds the first run. */
  intakeKey?: string;
  ticketKey?: string;
  /** Configured by the operator (jira.watch, the command line): the requesters list does not apply. */
  trusted?: boolean;
  /** A follow-up on a pull request airlock opened: baseRef is its branch, pushed to again. */
  prNumber?: number;
  /** change (default) or ask: a read-only answer, no diff, no gate. */
  mode?: RunMode;
}

export type Requested =
  | { allowed: false; reason: string }
  | { allowed: true; run: RunRecord; created: boolean };

export interface WorkResult {
  run: RunRecord;
  stop: AgentStop;
  diff: Buffer;
}

export interface PushOutcome {
  run: RunRecord;
  pushed: boolean;
  /** Why the push failed; the run is then `failed` and retryable. */
  error?: string;
  tickets: TicketResult[];
}

export type Outcome = Decision & { run: RunRecord };
export type ApprovalOutcome = Outcome & { push?: PushOutcome };

/** Who acts: a person (policy applies), or the operator at a terminal or the policy itself. */
export type Actor = { person: Approver } | { operator: string };

/** The abort reason airlock uses when it stops: the run is left as it is, to resume on start. */
export const SHUTDOWN = 'airlock-shutdown';

export class ShutdownInterruption extends Error {
  constructor() {
    super('airlock is shutting down; the run resumes when it starts again');
  }
}

/** Every state a run can still move from: what an owner is responsible for. */
const ACTIVE: readonly RunState[] = RUN_STATES.filter((s) => !isTerminal(s));

/** Sources whose runs `serve` takes over when their owner is gone; the others end "interrupted". */
const SERVED_SOURCES: ReadonlySet<string> = new Set(['slack', 'jira', 'forge', 'schedule']);

/** host:port or [v6]:port, as the thread names a refused target. */
function validTarget(target: string): boolean {
  const match = /^(?:[a-z0-9._-]{1,253}|\[[0-9a-f:.]{2,45}\]):(\d{1,5})$/i.exec(target);
  const port = Number(match?.[1] ?? 0);
  return port >= 1 && port <= 65535;
}

/** `@login` for a Slack user id the policy's `people:` maps, else the id as it is. */
function forgeName(policy: RunPorts['policy'], id: string): string {
  const login = Object.entries(policy.people).find(([, user]) => user === id)?.[0];
  return login ? `@${login}` : id;
}

function actorId(actor: Actor): string {
  return 'person' in actor ? actor.person.id : actor.operator;
}

/**
 * The only code that changes a run's state (DESIGN.md §2). Each command checks and writes in
 * one transaction and returns what it did; refusals are values with a reason. Callers schedule
 * (RunService) or drive from a terminal (airlock run); neither writes state.
 */
export class RunLifecycle {
  private readonly now: () => number;
  /** Runs whose failure could not be recorded (a locked or full database): retried on reconcile. */
  private readonly stranded = new Map<string, { error: string; state: 'failed' | 'cancelled' }>();

  constructor(private readonly ports: RunPorts & { owner: OwnerLease; preparedPool?: PreparedPool }) {
    this.now = ports.now ?? Date.now;
  }

  private log(run: RunRecord): Logger {
    return this.ports.logger.child({ run_id: run.id, repo: run.repo });
  }

  private policyOf(run: Pick<RunRecord, 'repo'>): RepoPolicy {
    return repoPolicy(this.ports.policy, run.repo);
  }

  /** A transition with this process as the owner of a run that stays active. */
  private move(id: string, change: TransitionChange): TransitionResult {
    const fields = isTerminal(change.to)
      ? change.fields
      : { ...change.fields, ownerId: this.ports.owner.id() };
    return this.ports.store.transition(id, { ...change, fields });
  }

  private must(result: TransitionResult): RunRecord {
    if (result.ok) return result.run;
    throw new AirlockError(
      'store_failed',
      `Run ${result.run.id} is ${result.run.state}; ${result.reason ?? 'another action moved it first'}.`,
    );
  }

  private mustGet(runId: string): RunRecord {
    const run = this.ports.store.getRun(runId);
    if (!run) throw new AirlockError('run_not_found', `No run ${runId}. List runs with \`airlock runs\`.`);
    return run;
  }

  /** requested → queued. A repeated intake key returns the first run; a refusal says why. */
  request(req: RunRequest): Requested {
    const policy = repoPolicy(this.ports.policy, req.repo);
    if (!req.trusted) {
      const decision = mayRequest(policy, req.requester);
      if (!decision.allowed) return decision;
    }
    const run = this.ports.store.createRun({
      id: newRunId(this.now()),
      repo: req.repo,
      task: this.ports.redactor.redact(req.task),
      requester: req.requester.id,
      source: req.source,
      baseRef: req.baseRef ?? policy.base,
      intakeKey: req.intakeKey,
      ticketKey: req.ticketKey,
      prNumber: req.prNumber,
      mode: req.mode,
      ownerId: this.ports.owner.id(),
    });
    if (!run.created) return { allowed: true, run, created: false };
    return {
      allowed: true,
      run: this.must(this.move(run.id, { from: ['requested'], to: 'queued' })),
      created: true,
    };
  }

  /**
   * queued → provisioning → working, then the first work session: fixes the base commit,
   * prepares the sandbox (snapshot, setup) and runs the agent. Safe to repeat after a restart.
   */
  async start(runId: string, opts: SessionOptions = {}): Promise<WorkResult> {
    const { store } = this.ports;
    let run = this.mustGet(runId);
    try {
      // A run adopted before it was queued (its owner died in between) starts like any other.
      if (run.state === 'requested')
        run = this.must(this.move(run.id, { from: ['requested'], to: 'queued' }));
      if (run.state === 'queued')
        run = this.must(this.move(run.id, { from: ['queued'], to: 'provisioning' }));
      if (run.state !== 'provisioning') return await this.resume(runId, opts);
      const baseSha = run.baseSha ?? (await this.ports.repos.fetchBase(run.repo, run.baseRef));
      if (!run.baseSha)
        run = store.updateRun(
          run.id,
          { baseSha },
          { type: 'base.fixed', data: { base_ref: run.baseRef, base_sha: baseSha } },
        );
      const prepared = await this.prepare(run, baseSha, undefined, opts);
      run = store.updateRun(
        run.id,
        { snapshotCommit: prepared.snapshotCommit },
        {
          type: 'sandbox.ready',
          data: { snapshot_commit: prepared.snapshotCommit, workdir: prepared.sandbox.workdir },
        },
      );
      this.log(run).info({ base_sha: baseSha }, 'sandbox ready');
      await this.recordInstructions(run, baseSha);
      this.must(
        this.move(run.id, {
          from: ['provisioning'],
          to: 'working',
          fields: { sessionStartedAt: new Date(this.now()).toISOString() },
        }),
      );
    } catch (error) {
      throw await this.sessionFailed(runId, error, opts.signal);
    }
    return this.resume(runId, opts);
  }

  /**
   * A work session in a working run: after a restart (the conversation goes on from the last
   * stored turn) or with a person's pending feedback (changes_requested → working). Ends by taking
   * the diff; settle() decides what comes next.
   */
  async resume(runId: string, opts: SessionOptions = {}): Promise<WorkResult> {
    const { store } = this.ports;
    let run = this.mustGet(runId);
    try {
      if (run.state === 'changes_requested')
        run = this.must(
          this.move(run.id, {
            from: ['changes_requested'],
            to: 'working',
            fields: { sessionStartedAt: new Date(this.now()).toISOString() },
          }),
        );
      if (run.state !== 'working')
        throw new AirlockError('store_failed', `Run ${run.id} is ${run.state}, not working.`);
      const { sandbox, snapshotCommit } = await this.sessionSandbox(run, opts);
      this.network(run, 'agent');
      run = this.mustGet(runId);
      const stop = await runAgentSession(this.ports, run, sandbox, {
        ...opts,
        feedback: run.pendingFeedback,
        onFeedbackDelivered: () => {
          if (this.mustGet(runId).pendingFeedback)
            store.updateRun(runId, { pendingFeedback: null }, { type: 'feedback.delivered', data: {} });
        },
      });
      if (stop.kind === 'cancelled' && opts.signal?.reason === SHUTDOWN) throw new ShutdownInterruption();
      store.appendEvent(run.id, {
        type: 'agent.stopped',
        data: { kind: stop.kind, reason: 'reason' in stop ? stop.reason : undefined },
      });
      // A read-only run has nothing to take (and its home, which git reads, was the agent's to write).
      const diff = readOnlyMode(run.mode) ? Buffer.alloc(0) : await sandbox.diff(snapshotCommit);
      const summary = this.ports.redactor.redact(stop.summary);
      const diffSha256 = diff.length ? store.saveDiff(run.id, diff) : null;
      run = store.updateRun(
        run.id,
        { summary, diffSha256, pendingFeedback: null },
        { type: 'diff.taken', data: { bytes: diff.length, sha256: diffSha256 } },
      );
      this.log(run).info({ stop: stop.kind, diff_bytes: diff.length }, 'agent stopped');
      return { run, stop, diff };
    } catch (error) {
      throw await this.sessionFailed(runId, error, opts.signal);
    }
  }

  /** The run's sandbox, or a rebuilt one after review (the reviewed diff applied). */
  private async sessionSandbox(run: RunRecord, opts: SessionOptions): Promise<PreparedSandbox> {
    const found = await attachSandbox(this.ports, run);
    if (!('gone' in found)) return found;
    // Only a run whose last session ended in a reviewed diff can be rebuilt from what was reviewed.
    const afterReview = run.pendingFeedback !== null && run.baseSha !== null;
    if (!afterReview || !run.baseSha)
      throw new AirlockError('sandbox_failed', `${found.gone} Start a new run.`);
    const reviewed = run.diffSha256 ? this.ports.store.diff(run.id, run.diffSha256) : undefined;
    const prepared = await this.prepare(run, run.baseSha, reviewed, opts);
    this.ports.store.updateRun(
      run.id,
      { snapshotCommit: prepared.snapshotCommit },
      {
        type: 'sandbox.rebuilt',
        data: { reason: found.gone, snapshot_commit: prepared.snapshotCommit, diff_sha256: run.diffSha256 },
      },
    );
    return prepared;
  }

  private prepare(
    run: RunRecord,
    baseSha: string,
    reviewedDiff: Buffer | undefined,
    opts: SessionOptions,
  ): Promise<PreparedSandbox> {
    const work = () => this.prepareNow(run, baseSha, reviewedDiff, opts);
    return opts.provision ? opts.provision(work) : work();
  }

  private async prepareNow(
    run: RunRecord,
    baseSha: string,
    reviewedDiff: Buffer | undefined,
    opts: SessionOptions,
  ): Promise<PreparedSandbox> {
    const limits = limitsFor(this.ports.policy, run.repo);
    // A prepared sandbox at this base has the snapshot and setup already (not after review: the
    // reviewed diff goes onto a fresh one).
    // An ask run reads a bare checkout; a prepared sandbox is set up, and setup is not asked for.
    const claimed =
      reviewedDiff || readOnlyMode(run.mode) ? undefined : await this.ports.preparedPool?.claim(run, baseSha);
    if (claimed) {
      this.ports.store.appendEvent(run.id, {
        type: 'sandbox.claimed',
        data: { prepared_id: claimed.preparedId, base_sha: baseSha, snapshot_commit: claimed.snapshotCommit },
      });
      this.log(run).info({ prepared_id: claimed.preparedId }, 'prepared sandbox claimed');
    } else this.network(run, 'setup');
    const prepared =
      claimed ??
      (await prepareSandbox(this.ports, run, {
        baseSha,
        reviewedDiff,
        setup: run.mode === 'ask' && !this.policyOf(run).ask_setup ? undefined : this.policyOf(run).setup,
        setupTimeoutMs: limits.command_timeout_seconds * 1000,
      }));
    // Setup's hosts end with setup, whatever comes next.
    this.network(run, 'agent');
    const { setup } = prepared;
    if (setup) {
      this.ports.store.recordToolCall({
        runId: run.id,
        step: 0,
        toolUseId: 'setup',
        name: 'setup',
        input: { command: setup.command },
        output: setup.output,
        exitCode: setup.exitCode,
        isError: setup.exitCode !== 0,
        durationMs: setup.durationMs,
      });
      this.ports.store.appendEvent(run.id, {
        type: 'setup.finished',
        data: { command: setup.command, exit_code: setup.exitCode, output_tail: setup.output.slice(-2000) },
      });
      opts.onEvent?.({
        type: 'tool-finished',
        step: 0,
        toolUseId: 'setup',
        name: 'setup',
        input: { command: setup.command },
        outcome: {
          content: setup.output,
          fullOutput: setup.output,
          isError: setup.exitCode !== 0,
          exitCode: setup.exitCode,
        },
        durationMs: setup.durationMs,
      });
    }
    return prepared;
  }

  /**
   * What the run's sandbox may reach from now on (DESIGN.md §4): the policy's list for the phase,
   * and, while the agent works, the hosts approvers allowed (again after a restart).
   */
  private network(run: RunRecord, phase: NetworkPhase): void {
    const egress = this.ports.egress;
    if (!egress) return;
    egress.enter(run.id, phase, networkFor(this.ports.policy, run.repo, phase), {
      askable: run.source !== 'cli',
    });
    if (phase === 'agent')
      for (const target of grantedTargets(this.ports.store, run.id)) egress.grant(run.id, target);
  }

  /** Records a session's failure (or leaves the run to resume on a shutdown); returns what to throw. */
  private async sessionFailed(
    runId: string,
    error: unknown,
    signal: AbortSignal | undefined,
  ): Promise<unknown> {
    if (error instanceof ShutdownInterruption || signal?.reason === SHUTDOWN)
      return new ShutdownInterruption();
    const cancelled = signal?.aborted || (error instanceof AirlockError && error.code === 'cancelled');
    this.fail(runId, cancelled ? 'Cancelled.' : messageOf(error), { cancelled });
    await this.destroySandbox(runId);
    return error;
  }

  /** Which notes the agent works under, for the record and `airlock show` (the text stays in git). */
  private async recordInstructions(run: RunRecord, baseSha: string): Promise<void> {
    // A review reads them at the pull request's base (agent-session.ts): record what it read.
    const at = run.mode === 'review' ? (reviewedPullRequest(this.ports, run)?.baseSha ?? baseSha) : baseSha;
    const notes = await loadRepositoryNotes(this.ports.repos, run.repo, at);
    this.ports.store.appendEvent(run.id, {
      type: 'instructions.loaded',
      data: {
        operator_chars: this.policyOf(run).instructions?.trim().length ?? 0,
        repository: notes
          ? { path: notes.path, bytes: notes.bytes, truncated: notes.truncated, sha256: notes.sha256 }
          : null,
      },
    });
  }

  /** After a session: a finished agent with a diff awaits approval; no diff is done with no changes. */
  settle(result: WorkResult): RunRecord {
    const { run, stop, diff } = result;
    if (stop.kind === 'cancelled') return this.fail(run.id, 'Cancelled.', { cancelled: true }) ?? run;
    if (stop.kind === 'budget')
      return this.fail(run.id, `The agent stopped before finishing: ${stop.reason}.`) ?? run;
    // An answer: nothing to approve (the workspace was read-only, so there is no diff either).
    if (readOnlyMode(run.mode))
      return this.must(
        this.move(run.id, {
          from: ['working'],
          to: 'done',
          fields: { outcome: run.mode === 'review' ? 'reviewed' : 'answered' },
        }),
      );
    if (diff.length === 0)
      return this.must(
        this.move(run.id, { from: ['working'], to: 'done', fields: { outcome: 'no_changes' } }),
      );
    return this.must(
      this.move(run.id, {
        from: ['working'],
        to: 'awaiting_approval',
        event: {
          type: 'run.awaiting_approval',
          data: { diff_sha256: run.diffSha256, diffstat: formatDiffStat(diffStat(diff.toString('utf8'))) },
        },
        fields: { awaitingSince: new Date(this.now()).toISOString() },
      }),
    );
  }

  /**
   * Approves the exact diff `diffSha256` and pushes it. The decision (policy, approval TTL, diff
   * hash, state) is made inside the transaction that moves the run to `pushing`; a refusal is
   * audited and returned.
   */
  async approve(
    runId: string,
    actor: Actor,
    diffSha256: string,
    opts: { pushed?: (run: RunRecord) => void; check?: (run: RunRecord) => string | undefined } = {},
  ): Promise<ApprovalOutcome> {
    const run = this.mustGet(runId);
    const policy = this.policyOf(run);
    const by = actorId(actor);
    const approvedAt = new Date(this.now()).toISOString();
    const result = this.move(runId, {
      from: ['awaiting_approval'],
      to: 'pushing',
      check: (current) =>
        approvalRefusal(this.ports, current, {
          actor,
          diffSha256,
          policy,
          now: this.now(),
          where: opts.check,
        }),
      event: {
        type: 'approval.granted',
        data: { by, diff_sha256: diffSha256, approved_at: approvedAt, headless: 'operator' in actor },
      },
      // A follow-up pushes to its pull request's branch; any other run to a branch of its own.
      fields: {
        branch: run.prNumber ? run.baseRef : branchName(run.id, run.task),
        approvedBy: by,
        approvedAt,
      },
      durable: true,
    });
    if (!result.ok) {
      const reason =
        result.reason ??
        (result.run.state === 'pushing' || result.run.state === 'done'
          ? 'Someone else acted on this run first.'
          : `This run is ${result.run.state.replace('_', ' ')}; there is nothing to approve.`);
      this.ports.store.appendEvent(
        runId,
        { type: 'approval.refused', data: { by, diff_sha256: diffSha256, reason } },
        { durable: true },
      );
      return { allowed: false, reason, run: result.run };
    }
    opts.pushed?.(result.run);
    const push = await this.push(runId);
    return { allowed: true, run: push.run, push };
  }

  /**
   * Pushes a run in `pushing`: the approved bytes as the same commit on the same branch, then
   * the pull request. Safe to repeat. A failure ends the run `failed` and retryable.
   */
  async push(runId: string): Promise<PushOutcome> {
    const { store } = this.ports;
    const run = this.mustGet(runId);
    const diff = run.diffSha256 ? store.diff(run.id, run.diffSha256) : undefined;
    if (run.state !== 'pushing' || !diff || !run.baseSha || !run.branch || !run.approvedAt)
      throw new AirlockError('store_failed', `Run ${run.id} has no approved diff to push.`);
    const followed = run.prNumber ? this.ports.pullRequests?.get(run.repo, run.prNumber) : undefined;
    if (run.prNumber && !followed)
      throw new AirlockError(
        'store_failed',
        `Run ${run.id} follows ${run.repo}#${run.prNumber}, which airlock does not know.`,
      );
    const origin = followed ? this.ports.store.getRun(followed.originRunId) : undefined;
    const title = pullRequestTitle(origin ?? run);
    let published: Awaited<ReturnType<RunPorts['publisher']['publish']>>;
    try {
      published = await this.ports.publisher.publish({
        runId: run.id,
        repo: run.repo,
        baseRef: run.baseRef,
        baseSha: run.baseSha,
        diff,
        branch: run.branch,
        commitTitle: followed ? pullRequestTitle(run) : title,
        commitBody: `${run.summary ?? ''}\n\nTask: ${run.task}`,
        approvedAt: run.approvedAt,
        ...(followed
          ? {
              lease: run.baseSha,
              pullRequestBase: followed.base,
              // Airlock's head before it lands, so polling never takes it for someone else's push.
              beforePush: (sha: string) => this.ports.pullRequests?.recordPush(followed, sha),
            }
          : {}),
        pullRequest: {
          title,
          body: followed && origin ? this.followedBody(origin, run) : this.pullRequestBodyOf(run, diff),
          draft: this.policyOf(run).pr?.draft ?? false,
          labels: this.policyOf(run).pr?.labels ?? [],
        },
      });
    } catch (error) {
      const reason = this.ports.redactor.redact(messageOf(error));
      this.log(run).error({ err: reason }, 'push failed');
      const failed = this.must(
        this.move(run.id, {
          from: ['pushing'],
          to: 'failed',
          event: { type: 'push.failed', data: { error: reason, retryable: true } },
          fields: {
            error: `${reason} Nothing was lost: Retry push (or \`airlock retry ${run.id}\`) pushes the same approved diff.`,
            retryable: true,
            outcome: 'push_failed',
          },
          durable: true,
        }),
      );
      return { run: failed, pushed: false, error: reason, tickets: [] };
    }
    this.log(run).info({ commit: published.commitSha, pr: published.pullRequest?.url }, 'pushed');
    if (published.pullRequest)
      await this.followPullRequest(run, published, followed?.originRunId ?? run.id, diff);
    const done = this.must(
      this.move(run.id, {
        from: ['pushing'],
        to: 'done',
        event: {
          type: 'push.done',
          data: {
            branch: run.branch,
            commit: published.commitSha,
            already_pushed: published.alreadyPushed,
            pr_url: published.pullRequest?.url ?? null,
            pr_created: published.pullRequest?.created ?? null,
          },
        },
        fields: {
          prUrl: published.pullRequest?.url ?? null,
          outcome: 'pushed',
          error: null,
          retryable: false,
        },
        durable: true,
      }),
    );
    const tickets =
      done.ticketKey && published.pullRequest
        ? await reportToTicket(this.ports.tickets, this.ports.policy, done.ticketKey, done.id, {
            url: published.pullRequest.url,
            title,
          })
        : [];
    for (const t of tickets) {
      store.appendEvent(
        done.id,
        t.error
          ? {
              type: 'ticket.failed',
              data: { ticket: t.ticket, action: t.action, error: this.ports.redactor.redact(t.error) },
            }
          : { type: 'ticket.updated', data: { ticket: t.ticket, action: t.action } },
      );
    }
    return { run: done, pushed: true, tickets };
  }

  private pullRequestBodyOf(run: RunRecord, diff: Buffer): string {
    return pullRequestBody(
      run,
      run.approvedBy ?? 'unknown',
      formatDiffStat(diffStat(diff.toString('utf8'))),
      this.checksRan(run.id),
      run.ticketKey ? this.ports.tickets.urlFor(run.ticketKey) : undefined,
      findSensitiveChanges(diff, this.policyOf(run)),
    );
  }

  /** The first run's body, then every follow-up pushed to the same pull request (this one last). */
  private followedBody(origin: RunRecord, current: RunRecord): string {
    const originDiff = origin.diffSha256 ? this.ports.store.diff(origin.id, origin.diffSha256) : undefined;
    const followUps = this.ports.store
      .listRuns({ limit: 10_000 })
      .filter(
        (r) =>
          r.repo === current.repo &&
          r.prNumber === current.prNumber &&
          (r.id === current.id || r.outcome === 'pushed'),
      )
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    return followUpsBody(this.pullRequestBodyOf(origin, originDiff ?? Buffer.alloc(0)), followUps);
  }

  /**
   * After a push that has a pull request: airlock follows it from now on, marks the pushed head
   * `airlock/approved`, and (for a follow-up) answers on the pull request. The push has happened:
   * a forge that refuses the status or the reply is recorded, not a failed run.
   */
  private async followPullRequest(
    run: RunRecord,
    published: { commitSha: string; pullRequest: PullRequest | null },
    originRunId: string,
    diff: Buffer,
  ): Promise<void> {
    const pr = published.pullRequest;
    const store = this.ports.pullRequests;
    if (!pr || !store || !run.branch) return;
    store.recordPush(
      {
        repo: run.repo,
        number: pr.number,
        url: pr.url,
        branch: run.branch,
        base: run.prNumber ? (store.get(run.repo, pr.number)?.base ?? run.baseRef) : run.baseRef,
        originRunId,
      },
      published.commitSha,
    );
    const conversation = this.ports.conversationFor?.(run.repo);
    if (!conversation) return;
    const description = approvedDescription(run.approvedBy ?? 'unknown', run.diffSha256 ?? '');
    try {
      await conversation.setStatus(run.repo, published.commitSha, { state: 'success', description });
      this.ports.store.appendEvent(originRunId, {
        type: 'pr.status',
        data: { number: pr.number, sha: published.commitSha, state: 'success' },
      });
    } catch (error) {
      const reason = this.ports.redactor.redact(messageOf(error));
      this.log(run).warn({ err: reason }, 'commit status failed');
      this.ports.store.appendEvent(originRunId, {
        type: 'pr.status',
        data: { number: pr.number, sha: published.commitSha, state: 'success', error: reason },
      });
    }
    if (!run.prNumber) return;
    const stat = formatDiffStat(diffStat(diff.toString('utf8')));
    try {
      await conversation.reply(
        run.repo,
        pr.number,
        followUpReply(run, published.commitSha, stat, (id) => forgeName(this.ports.policy, id)),
      );
      this.ports.store.appendEvent(originRunId, {
        type: 'pr.replied',
        data: { number: pr.number, login: forgeName(this.ports.policy, run.requester) },
      });
    } catch (error) {
      const reason = this.ports.redactor.redact(messageOf(error));
      this.ports.store.appendEvent(originRunId, {
        type: 'pr.replied',
        data: { number: pr.number, login: forgeName(this.ports.policy, run.requester), error: reason },
      });
    }
  }

  /**
   * A review run of pull request `facts`: the request (read-only, its head as the base), with the
   * pull request's diff kept next to it for the agent's line comments to be checked against.
   */
  requestReview(req: RunRequest, facts: PullRequestFacts & { baseSha: string }, diff: Buffer): Requested {
    const requested = this.request({
      ...req,
      mode: 'review',
      prNumber: facts.number,
      // The head the diff was taken at, not the ref: a push to the pull request meanwhile changes nothing.
      baseRef: facts.headSha,
    });
    if (!requested.allowed || !requested.created) return requested;
    const sha = diff.length ? this.ports.store.saveDiff(requested.run.id, diff) : null;
    this.ports.store.appendEvent(requested.run.id, {
      type: 'review.requested',
      data: {
        number: facts.number,
        head_sha: facts.headSha,
        base_sha: facts.baseSha,
        diff_sha256: sha,
        url: facts.url,
      },
    });
    return requested;
  }

  /** Posts a finished review run's review on its pull request (a COMMENT review); audited either way. */
  async postReview(runId: string): Promise<{ posted: boolean; url: string | null; error?: string }> {
    const run = this.mustGet(runId);
    const pr = reviewedPullRequest(this.ports, run);
    const review =
      submittedReview(this.ports, run.id) ??
      (run.summary ? { summary: run.summary, comments: [] } : undefined);
    const conversation = this.ports.conversationFor?.(run.repo);
    if (run.mode !== 'review' || run.state !== 'done' || !pr || !review)
      return { posted: false, url: null, error: `Run ${run.id} has no finished review to post.` };
    if (!conversation)
      return {
        posted: false,
        url: null,
        error: `${run.repo} is not on a forge airlock can post reviews to.`,
      };
    try {
      const { url } = await conversation.postReview(run.repo, pr.number, { headSha: pr.headSha, ...review });
      this.ports.store.appendEvent(run.id, {
        type: 'review.posted',
        data: { number: pr.number, url, comments: review.comments.length },
      });
      return { posted: true, url };
    } catch (error) {
      const reason = this.ports.redactor.redact(messageOf(error));
      this.ports.store.appendEvent(run.id, {
        type: 'review.post_failed',
        data: { number: pr.number, error: reason },
      });
      return { posted: false, url: null, error: reason };
    }
  }

  /**
   * A follow-up whose base head airlock did not push (someone else pushed to the branch): the
   * commits from airlock's newest head below it, so the approval shows them next to the diff.
   * Approved, the new head is `airlock/approved` with them; the approver saw what they approve.
   */
  async unapprovedBase(run: RunRecord): Promise<UnapprovedCommits | undefined> {
    const pr = run.prNumber ? this.ports.pullRequests?.get(run.repo, run.prNumber) : undefined;
    if (!pr || !run.baseSha || pr.pushedHeads.includes(run.baseSha)) return undefined;
    const { repos } = this.ports;
    let from: string | undefined;
    for (const head of [...pr.pushedHeads].reverse())
      if (await repos.isAncestor(run.repo, head, run.baseSha)) {
        from = head;
        break;
      }
    // The branch was rewritten under airlock's heads: everything since the pull request's base.
    from ??= this.ports.store.getRun(pr.originRunId)?.baseSha ?? undefined;
    if (!from) return undefined;
    const diff = await repos.changesBetween(run.repo, from, run.baseSha);
    if (!diff.length) return undefined;
    this.ports.store.appendEvent(run.id, {
      type: 'pr.unapproved_shown',
      data: {
        number: pr.number,
        approved_head: from,
        head: run.baseSha,
        bytes: diff.length,
        sha256: createHash('sha256').update(diff).digest('hex'),
      },
    });
    return { from, to: run.baseSha, diff };
  }

  /**
   * Finishes a run whose push or pull request failed: failed (retryable) → pushing, then the
   * same push. Never runs the agent again; the approval stands, so no new one is asked.
   */
  async retryPush(
    runId: string,
    actor: Actor,
    opts: { check?: (run: RunRecord) => string | undefined } = {},
  ): Promise<ApprovalOutcome> {
    const run = this.mustGet(runId);
    const policy = this.policyOf(run);
    const by = actorId(actor);
    const result = this.move(runId, {
      from: ['failed'],
      to: 'pushing',
      check: (current) => {
        const where = opts.check?.(current);
        if (where) return where;
        if (!current.retryable) return 'Only a run whose push failed can be retried.';
        const tampered = chainRefusal(this.ports, current);
        if (tampered) return tampered;
        if ('person' in actor) {
          const decision = mayApprove(policy, actor.person, current.requester);
          if (!decision.allowed && actor.person.id !== current.approvedBy) return decision.reason;
        }
        return undefined;
      },
      event: { type: 'push.retried', data: { by } },
      fields: { retryable: false, error: null, outcome: null },
      durable: true,
    });
    if (!result.ok) {
      const reason =
        result.reason ?? `This run is ${result.run.state.replace('_', ' ')}; there is no push to retry.`;
      this.refused(runId, by, 'retry', reason);
      return { allowed: false, reason, run: result.run };
    }
    const push = await this.push(runId);
    return { allowed: true, run: push.run, push };
  }

  /** Request changes on the diff the person saw: awaiting_approval → changes_requested. */
  requestChanges(runId: string, who: Approver, diffSha256: string, feedback: string): Outcome {
    const clean = this.ports.redactor.redact(feedback);
    const result = this.move(runId, {
      from: ['awaiting_approval'],
      to: 'changes_requested',
      check: (current) => {
        const decision = this.mayDecide(current, { person: who });
        if (!decision.allowed) return decision.reason;
        if (current.diffSha256 !== diffSha256)
          return 'The diff changed since you opened it; review the newest diff.';
        return undefined;
      },
      event: { type: 'run.changes_requested', data: { by: who.id, feedback: clean } },
      fields: { pendingFeedback: clean, awaitingSince: null },
    });
    if (!result.ok) {
      const reason =
        result.reason ?? `This run is ${result.run.state.replace('_', ' ')}; it cannot take changes now.`;
      this.refused(runId, who.id, 'request changes', reason);
      return { allowed: false, reason, run: result.run };
    }
    return { allowed: true, run: result.run };
  }

  /** An instruction for the agent while it works (recorded; the scheduler delivers it). */
  instruct(runId: string, who: Approver, text: string): void {
    this.ports.store.appendEvent(runId, {
      type: 'instruction.received',
      data: { by: who.id, text: this.ports.redactor.redact(text) },
    });
  }

  /**
   * Egress by button (DESIGN.md §4): an approver lets the agent reach `target` (host:port, as the
   * thread named it) for the rest of the run. Decided like an approval — the repository's
   * approvers, four-eyes, the click's place — and audited either way.
   */
  allowEgress(
    runId: string,
    who: Approver,
    target: string,
    opts: { check?: (run: RunRecord) => string | undefined } = {},
  ): Outcome {
    const run = this.mustGet(runId);
    const approver = mayApprove(this.policyOf(run), who, run.requester);
    const refusal =
      opts.check?.(run) ??
      (['provisioning', 'working'].includes(run.state)
        ? undefined
        : `The run is ${run.state.replace('_', ' ')}; a host can only be allowed while the agent works.`) ??
      (approver.allowed ? undefined : approver.reason) ??
      (validTarget(target) ? undefined : `${target} is not a host:port.`) ??
      // Only what the agent was refused in this run can be allowed: a button, not a free text.
      (refusedTargets(this.ports.store, run.id).some((r) => r.phase === 'agent' && r.target === target)
        ? undefined
        : `The agent was not refused ${target} in this run, so there is nothing to allow.`);
    if (refusal) {
      this.refused(run.id, who.id, `allow egress to ${target}`, refusal);
      return { allowed: false, reason: refusal, run };
    }
    this.ports.store.appendEvent(
      run.id,
      { type: 'egress.granted', data: { target, by: who.id } },
      { durable: true },
    );
    this.ports.egress?.grant(run.id, target);
    this.log(run).info({ target, by: who.id }, 'egress granted');
    return { allowed: true, run };
  }

  reject(runId: string, actor: Actor, reason?: string): Outcome {
    const by = actorId(actor);
    const result = this.move(runId, {
      from: ['requested', 'awaiting_approval'],
      to: 'rejected',
      check: (current) => {
        const decision = this.mayDecide(current, actor);
        return decision.allowed ? undefined : decision.reason;
      },
      event: { type: 'run.rejected', data: { by, reason } },
      fields: { error: reason ?? `Rejected by ${by}.` },
      durable: true,
    });
    if (!result.ok) {
      const why =
        result.reason ?? `This run is ${result.run.state.replace('_', ' ')}; it cannot be rejected now.`;
      this.refused(runId, by, 'reject', why);
      return { allowed: false, reason: why, run: result.run };
    }
    return { allowed: true, run: result.run };
  }

  /**
   * Cancel. A run whose agent is working (`running`) is stopped by its scheduler, which ends the
   * session as cancelled; one that is waiting ends here.
   */
  cancel(runId: string, actor: Actor, opts: { running: boolean }): Outcome & { abort?: boolean } {
    const by = actorId(actor);
    const run = this.mustGet(runId);
    const decision = this.mayDecide(run, actor);
    if (!decision.allowed) {
      this.refused(runId, by, 'cancel', decision.reason);
      return { ...decision, run };
    }
    if (opts.running) {
      this.ports.store.appendEvent(runId, { type: 'cancel.requested', data: { by } }, { durable: true });
      return { allowed: true, run, abort: true };
    }
    const result = this.move(runId, {
      from: ['requested', 'queued', 'awaiting_approval', 'changes_requested'],
      to: 'cancelled',
      event: { type: 'run.cancelled', data: { by } },
      fields: { error: `Cancelled by ${by}.` },
    });
    if (!result.ok) {
      const reason = `This run is ${result.run.state.replace('_', ' ')}; there is nothing to cancel.`;
      this.refused(runId, by, 'cancel', reason);
      return { allowed: false, reason, run: result.run };
    }
    return { allowed: true, run: result.run };
  }

  /** Ends approvals older than their repository's approval_ttl; returns the runs it ended. */
  expire(): RunRecord[] {
    const expired: RunRecord[] = [];
    for (const run of this.ports.store.listRuns({ states: ['awaiting_approval'], limit: 10_000 })) {
      const ttl = this.policyOf(run).approval_ttl;
      const result = this.move(run.id, {
        from: ['awaiting_approval'],
        to: 'expired',
        check: (current) =>
          current.awaitingSince && Date.parse(current.awaitingSince) + ttl > this.now()
            ? 'not yet'
            : undefined,
        fields: { error: 'Nobody approved this in time; the approval expired.' },
      });
      if (result.ok) expired.push(result.run);
    }
    return expired;
  }

  /**
   * Ends a run `failed` (or `cancelled`) from whatever active state it is in. When even that
   * cannot be written (a locked or full database), the run is left to reconciliation — retried
   * here on the next reconcile, or by the next process once this one is gone — never stuck.
   */
  fail(runId: string, error: string, opts: { cancelled?: boolean } = {}): RunRecord | undefined {
    const state = opts.cancelled ? 'cancelled' : 'failed';
    const clean = this.ports.redactor.redact(error);
    try {
      const run = this.mustGet(runId);
      if (isTerminal(run.state)) return run;
      this.log(run).error({ err: clean }, `run ${state}`);
      const result = this.ports.store.transition(runId, {
        from: ACTIVE,
        to: state,
        event: { type: `run.${state}`, data: { reason: clean } },
        fields: { error: clean },
      });
      this.stranded.delete(runId);
      return result.run;
    } catch (writeError) {
      this.stranded.set(runId, { error: clean, state });
      this.ports.logger.error(
        { run_id: runId, err: messageOf(writeError) },
        'could not record the end of a run; it is left to reconciliation',
      );
      return undefined;
    }
  }

  /** Ends a run that was handed out as a patch: nothing is pushed. */
  finishAsPatch(runId: string): RunRecord {
    return this.must(
      this.move(runId, {
        from: ['awaiting_approval'],
        to: 'done',
        fields: { outcome: 'patch', awaitingSince: null },
      }),
    );
  }

  /**
   * Runs whose owner is gone (DESIGN.md §2, Ownership). Headless runs end `failed`, saying they
   * were interrupted, and their sandboxes are destroyed. With `adopt` (serve), Slack and Jira runs
   * become this process's, to resume. Also retries failures this process could not record.
   */
  async reconcile(opts: { adopt: boolean }): Promise<{ adopted: RunRecord[]; ended: RunRecord[] }> {
    const { store } = this.ports;
    for (const [runId, s] of this.stranded) this.fail(runId, s.error, { cancelled: s.state === 'cancelled' });
    const owners = new Map(store.owners().map((o) => [o.id, o]));
    const now = this.now();
    const gone = new Set<string | null>();
    const adopted: RunRecord[] = [];
    const ended: RunRecord[] = [];
    for (const run of store.listRuns({ states: ACTIVE, limit: 100_000 })) {
      if (this.ports.owner.isMe(run.ownerId)) continue;
      const owner = run.ownerId ? owners.get(run.ownerId) : undefined;
      if (!ownerGone(owner, this.ports.owner.me, now)) continue;
      gone.add(run.ownerId);
      if (SERVED_SOURCES.has(run.source)) {
        if (!opts.adopt) continue;
        const mine = store.adoptRun(run.id, run.ownerId, this.ports.owner.id());
        if (mine) adopted.push(mine);
        continue;
      }
      const who = describeOwner(owner);
      const wasPushing = run.state === 'pushing';
      const result = store.transition(run.id, {
        from: [run.state],
        to: 'failed',
        check: (current) => (current.ownerId === run.ownerId ? undefined : 'adopted by another process'),
        event: {
          type: 'run.failed',
          data: { reason: 'interrupted', owner: who },
        },
        fields: {
          error: wasPushing
            ? `Interrupted: ${who} stopped while pushing. \`airlock retry ${run.id}\` finishes the push.`
            : `Interrupted: ${who} stopped while the run was ${run.state.replace('_', ' ')}. Start it again.`,
          retryable: wasPushing,
          outcome: wasPushing ? 'push_failed' : null,
        },
      });
      if (!result.ok) continue;
      ended.push(result.run);
      await this.destroySandbox(run.id);
    }
    // A gone owner's row goes once no active run points at it (one read, not one per owner).
    const stillOwning = new Set(store.listRuns({ states: ACTIVE, limit: 100_000 }).map((r) => r.ownerId));
    for (const id of gone) if (id && owners.has(id) && !stillOwning.has(id)) store.releaseOwner(id);
    return { adopted, ended };
  }

  /** Destroys a run's sandbox if it is still there; failures are logged (the reaper tries again). */
  async destroySandbox(runId: string): Promise<void> {
    this.ports.egress?.forget(runId);
    try {
      const sandbox = await this.ports.sandboxes.attach(runId);
      await sandbox?.destroy();
    } catch (error) {
      this.ports.logger.warn({ run_id: runId, err: messageOf(error) }, 'could not destroy the sandbox');
    }
  }

  /** May this actor reject, cancel or request changes? The requester, an approver, or the operator. */
  mayDecide(run: RunRecord, actor: Actor): Decision {
    if ('operator' in actor || actor.person.id === run.requester) return { allowed: true };
    const asApprover = mayApprove({ ...this.policyOf(run), four_eyes: false }, actor.person, run.requester);
    return asApprover.allowed
      ? asApprover
      : { allowed: false, reason: 'Only the requester or an approver of this repository can do that.' };
  }

  /**
   * Audits a refused action. A click that names no run airlock knows (a malformed or forged
   * value) is recorded under the run id `-`, so every refusal is in the log.
   */
  refuse(runId: string | undefined, by: string, action: string, reason: string): void {
    this.refused(runId ?? '-', by, action, reason);
  }

  private refused(runId: string, by: string, action: string, reason: string): void {
    this.ports.store.appendEvent(
      runId,
      { type: 'action.refused', data: { by, action, reason } },
      { durable: true },
    );
  }

  /** The checks the agent ran (the newest ten), for the pull request's body. */
  private checksRan(runId: string): Array<{ command: string; exitCode: number | null }> {
    return this.ports.store
      .toolCalls(runId)
      .filter((c) => c.name === 'bash' && typeof (c.input as { command?: unknown }).command === 'string')
      .map((c) => ({ command: (c.input as { command: string }).command, exitCode: c.exitCode }))
      .filter((c) => isTestCommand(c.command))
      .slice(-10);
  }
}
