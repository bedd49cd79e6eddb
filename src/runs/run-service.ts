import type { AgentEvent } from '../agent/agent-events.js';
import { limitsFor, type Policy, repoPolicy } from '../config/policy.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { ConcurrencyLimit } from '../shared/concurrency-limit.js';
import type { Approver, Decision } from './approval-policy.js';
import { diffStat } from './diffstat.js';
import type { Chat, ChatOrigin } from './ports/chat.js';
import type { RunRecord, Store } from './ports/store.js';
import type { PreparedReview } from './review-request.js';
import {
  type Outcome,
  type PushOutcome,
  type Requested,
  type RunLifecycle,
  type RunRequest,
  SHUTDOWN,
  ShutdownInterruption,
  type WorkResult,
} from './run-lifecycle.js';
import { RunProgressTracker } from './run-progress.js';
import { RunQueue } from './run-queue.js';
import { isTerminal } from './run-state.js';

export interface IntakeRequest extends RunRequest {
  /** Where the request was made in the chat; the chat adapter ties the run to it. */
  origin?: ChatOrigin;
}

type Work = 'start' | 'resume';

/**
 * Scheduling for a long-lived process (the Slack bot): a queue bounded by
 * limits.concurrent_runs, abort controllers, the follow-up inbox, progress. Every state change
 * is a RunLifecycle command; people hear about it through the Chat port.
 */
export class RunService {
  private readonly queue: RunQueue;
  /** Sandboxes being made at once: limits.concurrent_provisioning. */
  private readonly provisioning: ConcurrencyLimit;
  private readonly pending = new Map<string, Work>();
  private readonly active = new Map<string, { abort: AbortController; inbox: string[] }>();
  private readonly executions = new Set<Promise<unknown>>();
  /** Reviews being posted now (Post review, review.post: auto). */
  private readonly posting = new Set<string>();
  private accepting = true;
  private readonly now: () => number;

  constructor(
    private readonly deps: {
      lifecycle: RunLifecycle;
      store: Store;
      policy: Policy;
      chat: Chat;
      logger: Logger;
      now?: () => number;
    },
  ) {
    this.now = deps.now ?? Date.now;
    this.queue = new RunQueue(deps.policy.limits.concurrent_runs, (id) => this.track(this.execute(id)));
    this.provisioning = new ConcurrencyLimit(deps.policy.limits.concurrent_provisioning);
  }

  /** A new request. A refusal comes back with its reason; a repeated intake key finds the first run. */
  submit(req: IntakeRequest): Requested {
    if (!this.accepting) return { allowed: false, reason: 'airlock is restarting; ask again in a minute.' };
    const requested = this.deps.lifecycle.request(req);
    if (!requested.allowed || !requested.created) return requested;
    if (req.origin) this.deps.chat.bind(requested.run.id, req.origin);
    this.enqueue(requested.run.id, 'start');
    return requested;
  }

  /** A review of a prepared pull request (review-request.ts), tied to where it was asked. */
  submitReview(req: IntakeRequest, prepared: PreparedReview): Requested {
    if (!this.accepting) return { allowed: false, reason: 'airlock is restarting; ask again in a minute.' };
    const requested = this.deps.lifecycle.requestReview(
      { ...req, task: prepared.task },
      prepared.facts,
      prepared.diff,
    );
    if (!requested.allowed || !requested.created) return requested;
    if (req.origin) this.deps.chat.bind(requested.run.id, req.origin);
    this.enqueue(requested.run.id, 'start');
    return requested;
  }

  /** Post review (the button, or review.post: auto): only the person who asked may post it. */
  async postReview(runId: string, who: Approver, opts: { auto?: boolean } = {}): Promise<Decision> {
    const run = this.deps.store.getRun(runId);
    if (!run) return { allowed: false, reason: `No run ${runId}.` };
    if (!opts.auto && who.id !== run.requester) {
      const reason = 'Only the person who asked for this review can post it.';
      this.deps.lifecycle.refuse(run.id, who.id, 'post review', reason);
      this.deps.chat.notify({ kind: 'refused', run, user: who.id, reason });
      return { allowed: false, reason };
    }
    // One serve owns the store, so this set is every post under way: two quick clicks post once.
    if (this.posting.has(run.id) || this.deps.store.events(run.id).some((e) => e.type === 'review.posted')) {
      const reason = 'This review is already posted.';
      this.deps.chat.notify({ kind: 'refused', run, user: who.id, reason });
      return { allowed: false, reason };
    }
    this.posting.add(run.id);
    const posted = await this.track(this.deps.lifecycle.postReview(run.id)).finally(() =>
      this.posting.delete(run.id),
    );
    this.deps.chat.notify({
      kind: 'milestone',
      run,
      text: posted.posted
        ? `:speech_balloon: Review posted on the pull request${posted.url ? `: ${posted.url}` : ''}.`
        : `:warning: The review was not posted: ${posted.error}`,
    });
    return posted.posted ? { allowed: true } : { allowed: false, reason: posted.error ?? 'not posted' };
  }

  /** `where` is the chat's own check of the click's place, made inside the approval transaction. */
  async approve(
    runId: string,
    approver: Approver,
    diffSha256: string,
    where?: (run: RunRecord) => string | undefined,
  ): Promise<Decision> {
    const { lifecycle, chat } = this.deps;
    const outcome = await this.track(
      lifecycle.approve(runId, { person: approver }, diffSha256, {
        pushed: (run) => chat.notify({ kind: 'approved', run, by: approver.id }),
        check: where,
      }),
    );
    if (!outcome.allowed) {
      chat.notify({ kind: 'refused', run: outcome.run, user: approver.id, reason: outcome.reason });
      return outcome;
    }
    if (outcome.push) this.pushed(outcome.push);
    return outcome;
  }

  /** Retry push (the button): the same approved bytes, no new agent work. */
  async retryPush(
    runId: string,
    who: Approver,
    where?: (run: RunRecord) => string | undefined,
  ): Promise<Decision> {
    const outcome = await this.track(this.deps.lifecycle.retryPush(runId, { person: who }, { check: where }));
    if (!outcome.allowed) return this.refusedTo(who, outcome);
    if (outcome.push) this.pushed(outcome.push);
    return outcome;
  }

  reject(runId: string, who: Approver): Decision {
    const outcome = this.deps.lifecycle.reject(runId, { person: who });
    if (!outcome.allowed) return this.refusedTo(who, outcome);
    this.finished(outcome.run);
    return outcome;
  }

  cancel(runId: string, who: Approver): Decision {
    const outcome = this.deps.lifecycle.cancel(runId, { person: who }, { running: this.active.has(runId) });
    if (!outcome.allowed) return this.refusedTo(who, outcome);
    if (outcome.abort) {
      this.active.get(runId)?.abort.abort('cancelled');
      return outcome;
    }
    this.queue.remove(runId);
    this.finished(outcome.run);
    return outcome;
  }

  /** An approver allows a host the agent was refused; the agent hears it before its next step. */
  allowEgress(
    runId: string,
    who: Approver,
    target: string,
    where?: (run: RunRecord) => string | undefined,
  ): Decision {
    const outcome = this.deps.lifecycle.allowEgress(runId, who, target, { check: where });
    if (!outcome.allowed) return this.refusedTo(who, outcome);
    this.active
      .get(runId)
      ?.inbox.push(
        `An approver allowed ${target} through the egress gateway for this run. You may retry what needed it.`,
      );
    this.deps.chat.notify({
      kind: 'milestone',
      run: outcome.run,
      text: `:unlock: <@${who.id}> allowed \`${target}\` for this run; the agent was told.`,
    });
    return outcome;
  }

  /** Request changes (from the modal) on the diff the person saw. */
  requestChanges(runId: string, who: Approver, diffSha256: string, feedback: string): Decision {
    const outcome = this.deps.lifecycle.requestChanges(runId, who, diffSha256, feedback);
    if (!outcome.allowed) return this.refusedTo(who, outcome);
    this.deps.chat.notify({ kind: 'changes-requested', run: outcome.run, by: who.id });
    this.enqueue(runId, 'resume');
    return outcome;
  }

  /** A reply in a run's conversation. From the requester while the run is open, it steers the agent. */
  followUp(runId: string, who: Approver, text: string): Decision | undefined {
    const run = this.deps.store.getRun(runId);
    if (!run || isTerminal(run.state) || who.id !== run.requester) return undefined;
    const active = this.active.get(run.id);
    if (active) {
      active.inbox.push(text);
      this.deps.lifecycle.instruct(run.id, who, text);
      this.deps.chat.notify({
        kind: 'milestone',
        run,
        text: 'Got it: the agent will read that before its next step.',
      });
      return { allowed: true };
    }
    if (run.state === 'awaiting_approval' && run.diffSha256)
      return this.requestChanges(run.id, who, run.diffSha256, text);
    return undefined;
  }

  /** Audits an action refused before it reached a run (a malformed, oversized or unknown button). */
  refuseAction(runId: string | undefined, who: string, action: string, reason: string): void {
    this.deps.lifecycle.refuse(runId, who, action, reason);
  }

  /** Ends approvals older than the repository's approval_ttl. */
  expireApprovals(): void {
    for (const run of this.deps.lifecycle.expire()) this.finished(run);
  }

  /**
   * Takes over the runs whose owner is gone (a previous serve, after a restart or a crash) and
   * moves each again; buttons of waiting runs just work. Safe to call periodically.
   */
  async recover(): Promise<void> {
    if (!this.accepting) return;
    const { adopted } = await this.deps.lifecycle.reconcile({ adopt: true });
    for (const run of adopted.sort((a, b) => a.createdAt.localeCompare(b.createdAt))) {
      if (run.state === 'queued' || run.state === 'provisioning' || run.state === 'requested')
        this.enqueue(run.id, 'start', { quiet: true });
      else if (run.state === 'working' || run.state === 'changes_requested') this.enqueue(run.id, 'resume');
      else if (run.state === 'pushing')
        void this.track(this.deps.lifecycle.push(run.id))
          .then((push) => this.pushed(push))
          .catch((error) =>
            this.deps.logger.error({ run_id: run.id, err: messageOf(error) }, 'resumed push failed'),
          );
    }
  }

  /**
   * Stops intake and interrupts running agents without ending their runs (they resume on the
   * next start); resolves once every interrupted run has stopped writing.
   */
  async shutdown(): Promise<void> {
    this.accepting = false;
    for (const { abort } of this.active.values()) abort.abort(SHUTDOWN);
    await Promise.allSettled([...this.executions]);
  }

  get load(): { running: number; waiting: number } {
    return this.queue.size;
  }

  private track<T>(work: Promise<T>): Promise<T> {
    this.executions.add(work);
    void work.finally(() => this.executions.delete(work)).catch(() => {});
    return work;
  }

  private refusedTo(who: Approver, outcome: Outcome & { allowed: false }): Decision {
    this.deps.chat.notify({ kind: 'refused', run: outcome.run, user: who.id, reason: outcome.reason });
    return outcome;
  }

  private enqueue(runId: string, work: Work, opts: { quiet?: boolean } = {}): void {
    this.pending.set(runId, work);
    const position = this.queue.add(runId);
    const run = this.deps.store.getRun(runId);
    if (run && work === 'start' && !opts.quiet) this.deps.chat.notify({ kind: 'accepted', run, position });
  }

  private async execute(runId: string): Promise<void> {
    const { lifecycle, chat } = this.deps;
    if (!this.accepting) return; // left as it is: the next start picks it up
    const work = this.pending.get(runId) ?? 'start';
    this.pending.delete(runId);
    const run = this.deps.store.getRun(runId);
    if (!run || isTerminal(run.state)) return;
    const abort = new AbortController();
    const inbox: string[] = [];
    this.active.set(runId, { abort, inbox });
    const tracker = new RunProgressTracker(limitsFor(this.deps.policy, run.repo).max_steps, this.now());
    const onEvent = (e: AgentEvent) => this.onAgentEvent(runId, tracker, e);
    try {
      const session = {
        signal: abort.signal,
        onEvent,
        instructions: () => inbox.splice(0),
        provision: <T>(make: () => Promise<T>) => this.provisioning.run(make),
      };
      const result: WorkResult =
        work === 'start' ? await lifecycle.start(runId, session) : await lifecycle.resume(runId, session);
      const settled = lifecycle.settle(result);
      if (settled.state === 'awaiting_approval') {
        const unapproved = await lifecycle.unapprovedBase(settled).catch((error: Error) => {
          this.deps.logger.warn({ run_id: runId, err: error.message }, 'could not read the branch');
          return undefined;
        });
        chat.notify({
          kind: 'awaiting-approval',
          run: settled,
          diff: result.diff,
          stat: diffStat(result.diff.toString('utf8')),
          approvers: repoPolicy(this.deps.policy, settled.repo).approvers,
          ...(unapproved ? { unapproved } : {}),
        });
      } else this.finished(settled);
    } catch (error) {
      if (error instanceof ShutdownInterruption) return;
      this.deps.logger.warn({ run_id: runId, err: messageOf(error) }, 'run ended with an error');
      const ended = this.deps.store.getRun(runId);
      if (ended) this.finished(ended);
    } finally {
      this.active.delete(runId);
    }
  }

  private pushed(push: PushOutcome): void {
    for (const t of push.tickets.filter((x) => x.error)) {
      this.deps.chat.notify({
        kind: 'milestone',
        run: push.run,
        text: `:warning: The pull request is open, but Jira ${t.action} on ${t.ticket} failed: ${t.error}`,
      });
    }
    this.finished(push.run);
  }

  private finished(run: RunRecord): void {
    if (isTerminal(run.state)) void this.deps.lifecycle.destroySandbox(run.id);
    this.deps.chat.notify({ kind: 'finished', run });
    // Asked on the pull request itself, the review goes there (unless review.post: never).
    const post = this.deps.policy.review.post;
    if (run.outcome === 'reviewed' && (post === 'auto' || (run.source === 'forge' && post !== 'never')))
      void this.postReview(run.id, { id: run.requester }, { auto: true });
  }

  private onAgentEvent(runId: string, tracker: RunProgressTracker, e: AgentEvent): void {
    const { changed, milestone } = tracker.apply(e);
    if (!changed) return;
    const run = this.deps.store.getRun(runId);
    if (!run) return;
    if (milestone) this.deps.chat.notify({ kind: 'milestone', run, text: milestone });
    this.deps.chat.notify({ kind: 'progress', run, progress: { ...tracker.progress } });
  }
}
