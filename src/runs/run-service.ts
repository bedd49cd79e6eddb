import type { AgentEvent } from '../agent/agent-events.js';
import { limitsFor, type Policy, repoPolicy } from '../config/policy.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { type Approver, type Decision, mayApprove, mayRequest } from './approval-policy.js';
import { diffStat } from './diffstat.js';
import type { Chat, RunProgress } from './ports/chat.js';
import type { RunRecord, Store } from './ports/store.js';
import { type RunEngine, SHUTDOWN, ShutdownInterruption } from './run-engine.js';
import { RunQueue } from './run-queue.js';
import { isTerminal } from './run-state.js';

export interface IntakeRequest {
  repo: string;
  task: string;
  requester: Approver;
  source: RunRecord['source'];
  thread: { channel: string; threadTs: string };
  /** The event id that asked; a redelivery finds the same run. */
  intakeKey: string;
  ticketKey?: string;
  /** Configured by the operator (jira.watch): the requesters list does not apply. */
  trusted?: boolean;
}

type Work = { kind: 'start' } | { kind: 'feedback'; text: string } | { kind: 'resume' };

const TEST_COMMAND =
  /\b(test|pytest|jest|vitest|mocha|go test|cargo test|mvn|gradle|make check|npm run lint|tsc)\b/;
const MAX_TEST_MILESTONES = 5;

/**
 * Runs for a long-lived process (the Slack bot): intake with policy, a queue bounded by
 * limits.concurrent_runs, approvals, follow-ups, cancel, approval expiry and recovery after a
 * restart. Every decision is audited in the store; people hear about it through the Chat port.
 */
export class RunService {
  private readonly queue: RunQueue;
  private readonly pending = new Map<string, Work>();
  private readonly active = new Map<string, { abort: AbortController; inbox: string[] }>();
  private readonly executions = new Map<string, Promise<void>>();
  private readonly progress = new Map<string, RunProgress>();
  private readonly testMilestones = new Map<string, number>();
  private accepting = true;
  private readonly now: () => number;

  constructor(
    private readonly deps: {
      engine: RunEngine;
      store: Store;
      policy: Policy;
      chat: Chat;
      logger: Logger;
      now?: () => number;
    },
  ) {
    this.now = deps.now ?? Date.now;
    this.queue = new RunQueue(deps.policy.limits.concurrent_runs, (id) => {
      const execution = this.execute(id).finally(() => this.executions.delete(id));
      this.executions.set(id, execution);
      return execution;
    });
  }

  /** A new request. A refusal is a Decision; a repeated intake key returns the first run. */
  submit(req: IntakeRequest): { decision: Decision; run?: RunRecord; duplicate?: boolean } {
    if (!this.accepting)
      return { decision: { allowed: false, reason: 'airlock is restarting; ask again in a minute.' } };
    const decision: Decision = req.trusted
      ? { allowed: true }
      : mayRequest(repoPolicy(this.deps.policy, req.repo), req.requester);
    if (!decision.allowed) return { decision };
    const run = this.deps.engine.request({
      repo: req.repo,
      task: req.task,
      requester: req.requester.id,
      source: req.source,
      intakeKey: req.intakeKey,
      ticketKey: req.ticketKey,
    });
    if (!run.created) return { decision, run, duplicate: true };
    this.deps.store.setThread(run.id, req.thread);
    this.enqueue(run.id, { kind: 'start' });
    return { decision, run };
  }

  async approve(runId: string, approver: Approver, diffSha256: string): Promise<Decision> {
    const { engine } = this.deps;
    let outcome: Awaited<ReturnType<RunEngine['approve']>>;
    try {
      outcome = await engine.approve(runId, approver, diffSha256);
    } catch (error) {
      this.deps.logger.error({ run_id: runId, err: messageOf(error) }, 'push failed');
      this.finished(runId);
      return { allowed: true };
    }
    if (!outcome.allowed) {
      this.deps.chat.notify({ kind: 'refused', run: outcome.run, user: approver.id, reason: outcome.reason });
      return outcome;
    }
    this.deps.chat.notify({ kind: 'approved', run: outcome.run, by: approver.id });
    this.finished(runId);
    for (const e of this.deps.store.events(runId).filter((x) => x.type === 'ticket.failed')) {
      this.deps.chat.notify({
        kind: 'milestone',
        run: outcome.run,
        text: `:warning: The pull request is open, but Jira ${String(e.data.action)} on ${String(e.data.ticket)} failed: ${String(e.data.error)}`,
      });
    }
    return outcome;
  }

  reject(runId: string, who: Approver): Decision {
    const run = this.deps.store.getRun(runId);
    if (!run) return { allowed: false, reason: 'That run no longer exists.' };
    const decision = this.mayDecide(run, who);
    if (!decision.allowed) return this.refuse(run, who, decision);
    const rejected = this.deps.store.transition(runId, ['awaiting_approval'], 'rejected', {
      data: { by: who.id },
      fields: { error: `Rejected by ${who.id}.` },
      durable: true,
    });
    if (!rejected)
      return this.refuse(run, who, {
        allowed: false,
        reason: `This run is ${run.state}; it cannot be rejected now.`,
      });
    this.finished(runId);
    return decision;
  }

  cancel(runId: string, who: Approver): Decision {
    const run = this.deps.store.getRun(runId);
    if (!run) return { allowed: false, reason: 'That run no longer exists.' };
    const decision = this.mayDecide(run, who);
    if (!decision.allowed) return this.refuse(run, who, decision);
    this.deps.store.appendEvent(runId, 'cancel.requested', { by: who.id }, { durable: true });
    const active = this.active.get(runId);
    if (active) {
      active.abort.abort('cancelled');
      return decision;
    }
    this.queue.remove(runId);
    const ended = this.deps.store.transition(
      runId,
      ['queued', 'awaiting_approval', 'changes_requested'],
      'cancelled',
      {
        data: { by: who.id },
        fields: { error: `Cancelled by ${who.id}.` },
      },
    );
    if (!ended)
      return this.refuse(run, who, {
        allowed: false,
        reason: `This run is ${run.state}; there is nothing to cancel.`,
      });
    this.finished(runId);
    return decision;
  }

  /** Request changes (from the modal) on the diff the person saw. */
  requestChanges(runId: string, who: Approver, diffSha256: string, feedback: string): Decision {
    const run = this.deps.store.getRun(runId);
    if (!run) return { allowed: false, reason: 'That run no longer exists.' };
    let decision = this.mayDecide(run, who);
    if (decision.allowed && run.diffSha256 !== diffSha256) {
      decision = { allowed: false, reason: 'The diff changed since you opened it; review the newest diff.' };
    }
    if (!decision.allowed) return this.refuse(run, who, decision);
    return this.continueWith(run, who, feedback);
  }

  /** A thread reply. From the requester while the run is open, it steers the agent. */
  followUp(channel: string, threadTs: string, who: Approver, text: string): Decision | undefined {
    const run = this.deps.store.runInThread(channel, threadTs);
    if (!run || isTerminal(run.state) || who.id !== run.requester) return undefined;
    const active = this.active.get(run.id);
    if (active) {
      active.inbox.push(text);
      this.deps.store.appendEvent(run.id, 'instruction.received', { by: who.id, text });
      this.deps.chat.notify({
        kind: 'milestone',
        run,
        text: 'Got it: the agent will read that before its next step.',
      });
      return { allowed: true };
    }
    if (run.state === 'awaiting_approval') return this.continueWith(run, who, text);
    return undefined;
  }

  /** Ends approvals older than the repository's approval_ttl. */
  expireApprovals(): void {
    for (const run of this.deps.store.listRuns({ states: ['awaiting_approval'], limit: 10_000 })) {
      const requested = [...this.deps.store.events(run.id)]
        .reverse()
        .find((e) => e.type === 'run.awaiting_approval');
      const ttl = repoPolicy(this.deps.policy, run.repo).approval_ttl;
      if (!requested || Date.parse(requested.at) + ttl > this.now()) continue;
      const expired = this.deps.store.transition(run.id, ['awaiting_approval'], 'expired', {
        fields: { error: 'Nobody approved this in time; the approval expired.' },
      });
      if (expired) this.finished(run.id);
    }
  }

  /** After a restart: every run that was moving moves again. Buttons of waiting runs just work. */
  recover(): void {
    const { store } = this.deps;
    for (const run of store.listRuns({ states: ['queued', 'provisioning'], limit: 10_000 }).reverse()) {
      this.enqueue(run.id, { kind: 'start' });
    }
    for (const run of store.listRuns({ states: ['working'], limit: 10_000 }))
      this.enqueue(run.id, { kind: 'resume' });
    for (const run of store.listRuns({ states: ['changes_requested'], limit: 10_000 })) {
      const ask = [...store.events(run.id)].reverse().find((e) => e.type === 'run.changes_requested');
      store.transition(run.id, ['changes_requested'], 'working', {});
      this.enqueue(run.id, { kind: 'feedback', text: String(ask?.data.feedback ?? '') });
    }
    for (const run of store.listRuns({ states: ['pushing'], limit: 10_000 })) void this.resumePush(run);
  }

  /**
   * Stops intake and interrupts running agents without ending their runs (they resume on the
   * next start); resolves once every interrupted run has stopped writing.
   */
  async shutdown(): Promise<void> {
    this.accepting = false;
    for (const { abort } of this.active.values()) abort.abort(SHUTDOWN);
    await Promise.allSettled([...this.executions.values()]);
  }

  get load(): { running: number; waiting: number } {
    return this.queue.size;
  }

  private continueWith(run: RunRecord, who: Approver, text: string): Decision {
    const working = this.deps.engine.requestChanges(run.id, who.id, text);
    if (!working)
      return this.refuse(run, who, {
        allowed: false,
        reason: `This run is ${run.state}; it cannot take changes now.`,
      });
    this.deps.chat.notify({ kind: 'changes-requested', run: working, by: who.id });
    this.enqueue(run.id, { kind: 'feedback', text });
    return { allowed: true };
  }

  private mayDecide(run: RunRecord, who: Approver): Decision {
    if (who.id === run.requester) return { allowed: true };
    const asApprover = mayApprove(
      { ...repoPolicy(this.deps.policy, run.repo), four_eyes: false },
      who,
      run.requester,
    );
    return asApprover.allowed
      ? asApprover
      : { allowed: false, reason: 'Only the requester or an approver of this repository can do that.' };
  }

  private refuse(run: RunRecord, who: Approver, decision: Decision & { allowed: false }): Decision {
    this.deps.store.appendEvent(
      run.id,
      'action.refused',
      { by: who.id, reason: decision.reason },
      { durable: true },
    );
    this.deps.chat.notify({ kind: 'refused', run, user: who.id, reason: decision.reason });
    return decision;
  }

  private enqueue(runId: string, work: Work): void {
    this.pending.set(runId, work);
    const position = this.queue.add(runId);
    const run = this.deps.store.getRun(runId);
    if (run && work.kind === 'start') this.deps.chat.notify({ kind: 'accepted', run, position });
  }

  private async execute(runId: string): Promise<void> {
    const { engine, store, chat } = this.deps;
    if (!this.accepting) return; // left queued (or working): the next start picks it up
    const work = this.pending.get(runId) ?? { kind: 'start' };
    this.pending.delete(runId);
    const abort = new AbortController();
    const inbox: string[] = [];
    this.active.set(runId, { abort, inbox });
    const run = store.getRun(runId);
    if (!run) return;
    const limits = limitsFor(this.deps.policy, run.repo);
    this.progress.set(runId, {
      step: 0,
      maxSteps: limits.max_steps,
      startedAt: this.now(),
      tokens: 0,
      costUsd: 0,
    });
    const onEvent = (e: AgentEvent) => this.onAgentEvent(runId, e);
    try {
      if (work.kind === 'start') {
        await engine.provision(runId, onEvent);
      }
      const result = await engine.session(runId, {
        signal: abort.signal,
        onEvent,
        feedback: work.kind === 'feedback' ? work.text : undefined,
        instructions: () => inbox.splice(0),
      });
      const settled = engine.settle(result);
      if (settled.state === 'awaiting_approval') {
        chat.notify({
          kind: 'awaiting-approval',
          run: settled,
          diff: result.diff,
          stat: diffStat(result.diff.toString('utf8')),
          approvers: repoPolicy(this.deps.policy, settled.repo).approvers,
        });
      } else this.finished(runId);
    } catch (error) {
      if (error instanceof ShutdownInterruption) return;
      this.deps.logger.warn({ run_id: runId, err: messageOf(error) }, 'run ended with an error');
      this.finished(runId);
    } finally {
      this.active.delete(runId);
      this.progress.delete(runId);
    }
  }

  private async resumePush(run: RunRecord): Promise<void> {
    const granted = [...this.deps.store.events(run.id)].reverse().find((e) => e.type === 'approval.granted');
    if (!granted) return;
    try {
      await this.deps.engine.push(run, String(granted.data.by), String(granted.data.approved_at));
    } catch (error) {
      this.deps.logger.error({ run_id: run.id, err: messageOf(error) }, 'resumed push failed');
    }
    this.finished(run.id);
  }

  private finished(runId: string): void {
    const run = this.deps.store.getRun(runId);
    if (!run) return;
    if (isTerminal(run.state)) void this.deps.engine.destroySandbox(runId).catch(() => {});
    this.deps.chat.notify({ kind: 'finished', run });
  }

  private onAgentEvent(runId: string, e: AgentEvent): void {
    const p = this.progress.get(runId);
    const run = this.deps.store.getRun(runId);
    if (!p || !run) return;
    if (e.type === 'step-started') p.step = e.step;
    else if (e.type === 'turn-finished') {
      const u = e.response.usage;
      p.tokens += u.inputTokens + u.outputTokens + u.cacheReadTokens + u.cacheWriteTokens;
      p.costUsd += e.costUsd;
    } else if (e.type === 'tool-finished') {
      const command = String(e.input.command ?? e.input.path ?? '').split('\n')[0] ?? '';
      p.lastAction =
        e.name === 'bash' || e.name === 'setup'
          ? `$ ${command}`
          : `${String(e.input.command)} ${String(e.input.path ?? '')}`;
      p.lastExitCode = e.outcome.exitCode;
      if (e.name === 'setup') {
        this.deps.chat.notify({
          kind: 'milestone',
          run,
          text: `Setup \`${command}\` finished with exit ${e.outcome.exitCode ?? 'killed'}.`,
        });
      } else if (e.name === 'bash' && TEST_COMMAND.test(command)) {
        const n = (this.testMilestones.get(runId) ?? 0) + 1;
        this.testMilestones.set(runId, n);
        if (n <= MAX_TEST_MILESTONES) {
          this.deps.chat.notify({
            kind: 'milestone',
            run,
            text: `Ran \`${command.slice(0, 120)}\` → exit ${e.outcome.exitCode ?? 'killed'}.`,
          });
        }
      }
    } else return;
    this.deps.chat.notify({ kind: 'progress', run, progress: { ...p } });
  }
}
