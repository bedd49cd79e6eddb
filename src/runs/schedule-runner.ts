import type { Policy, Schedule } from '../config/policy.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { nextCronTime } from '../shared/cron-schedule.js';
import type { Chat } from './ports/chat.js';
import type { ScheduleStore, ScheduleTick } from './ports/schedules.js';
import type { Store } from './ports/store.js';
import type { RequestResolver } from './request-resolver.js';
import type { RunService } from './run-service.js';
import { isTerminal } from './run-state.js';

/** How many recent ticks keep their parent message up to date. */
const PARENTS_FOLLOWED = 20;

/** The repositories a schedule names: its list, or every repository of the policy. */
export function scheduleRepos(policy: Policy, schedule: Schedule): string[] {
  return schedule.repos === 'all' ? Object.keys(policy.repos) : schedule.repos;
}

/** When a schedule fires next after `from` (croner: five fields, or six with seconds first). */
export function nextTickAfter(schedule: Schedule, from: Date): Date | undefined {
  return nextCronTime(schedule.cron, from);
}

/**
 * `schedules:` in the policy, run by `airlock serve` (the one process that owns the store). A tick
 * posts a parent message naming the sweep and starts one run per repository, each in a thread of
 * its own, through the same RunService as any request; a repository whose run from this schedule
 * is still open is skipped. A tick missed while airlock was down fires once at start. The parent
 * is rewritten as runs move (a small table: repository, state, pull request).
 */
export class ScheduleRunner {
  private readonly now: () => number;

  constructor(
    private readonly deps: {
      policy: Policy;
      schedules: ScheduleStore;
      store: Store;
      runs: RunService;
      resolver: RequestResolver;
      chat: Chat;
      logger: Logger;
      now?: () => number;
    },
  ) {
    this.now = deps.now ?? Date.now;
  }

  /** Fires what is due (a missed tick once), then brings parent messages up to date. */
  async tick(): Promise<void> {
    for (const schedule of this.deps.policy.schedules) {
      try {
        await this.maybeFire(schedule);
      } catch (error) {
        this.deps.logger.warn({ schedule: schedule.name, err: messageOf(error) }, 'schedule tick failed');
      }
    }
    for (const tick of this.deps.schedules.recentTicks(PARENTS_FOLLOWED)) await this.refreshParent(tick);
  }

  private async maybeFire(schedule: Schedule): Promise<void> {
    const now = new Date(this.now());
    const last = this.deps.schedules.lastTick(schedule.name);
    if (!last) {
      // First seen: it starts counting now (a new schedule does not fire for its past).
      this.deps.schedules.addTick(schedule.name, now.toISOString());
      return;
    }
    const due = nextTickAfter(schedule, new Date(last.at));
    if (!due || due > now) return;
    await this.fire(schedule, this.deps.schedules.addTick(schedule.name, now.toISOString()));
  }

  private async fire(schedule: Schedule, tick: ScheduleTick): Promise<void> {
    const { chat, schedules, runs, resolver } = this.deps;
    const repos = scheduleRepos(this.deps.policy, schedule);
    const parent = await chat.open(schedule.channel, this.parentText(schedule, tick));
    schedules.setParent(tick.id, parent);
    for (const repo of repos) {
      const previous = schedules.lastRunIn(schedule.name, repo);
      const open = previous ? this.deps.store.getRun(previous) : undefined;
      if (open && !isTerminal(open.state)) {
        schedules.addRun({ tickId: tick.id, repo, runId: null });
        continue;
      }
      try {
        const resolved = await resolver.resolve({ text: schedule.task, repo });
        if (!resolved.ok) throw new Error(resolved.reason);
        const origin = await chat.open(
          schedule.channel,
          `:calendar: *${schedule.name}* in \`${repo}\`: ${schedule.task}`,
        );
        const requested = runs.submit({
          ...resolved.request,
          requester: { id: `schedule:${schedule.name}` },
          source: 'schedule',
          origin,
          intakeKey: `schedule:${schedule.name}:${tick.id}:${repo}`,
          trusted: true,
          mode: schedule.mode,
        });
        schedules.addRun({ tickId: tick.id, repo, runId: requested.allowed ? requested.run.id : null });
      } catch (error) {
        this.deps.logger.warn(
          { schedule: schedule.name, repo, err: messageOf(error) },
          'scheduled run not started',
        );
        schedules.addRun({ tickId: tick.id, repo, runId: null });
      }
    }
    await this.refreshParent({ ...tick, parent });
  }

  private parentText(schedule: Schedule, tick: ScheduleTick): string {
    const lines = [`:calendar: Schedule *${schedule.name}* (\`${schedule.cron}\`): ${schedule.task}`];
    const rows = this.deps.schedules.runsOf(tick.id);
    if (!rows.length) return `${lines[0]}\nStarting…`;
    for (const row of rows) {
      if (!row.runId) {
        lines.push(`• \`${row.repo}\`: skipped, its run from an earlier tick is still open`);
        continue;
      }
      const run = this.deps.store.getRun(row.runId);
      const state = run
        ? `${run.state.replace('_', ' ')}${run.outcome ? ` (${run.outcome})` : ''}`
        : 'unknown';
      lines.push(`• \`${row.repo}\`: ${state}${run?.prUrl ? ` · ${run.prUrl}` : ''} · run \`${row.runId}\``);
    }
    return lines.join('\n');
  }

  private async refreshParent(tick: ScheduleTick): Promise<void> {
    const schedule = this.deps.policy.schedules.find((s) => s.name === tick.name);
    if (!schedule || !tick.parent) return;
    const text = this.parentText(schedule, tick);
    if (text === tick.shown) return;
    this.deps.schedules.setShown(tick.id, text);
    this.deps.chat.update?.(tick.parent, text);
  }
}
