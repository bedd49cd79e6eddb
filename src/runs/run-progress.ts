import type { AgentEvent } from '../agent/agent-events.js';
import type { RunProgress } from './ports/chat.js';
import { isTestCommand } from './test-commands.js';

/** Test runs reported as milestones per run; more would drown the thread. */
const MAX_TEST_MILESTONES = 5;

/**
 * Folds a run's agent events into where it stands (step, last command, tokens, cost) and the
 * milestones worth a thread reply: setup finishing and the first few test runs.
 */
export class RunProgressTracker {
  readonly progress: RunProgress;
  private testMilestones = 0;

  constructor(maxSteps: number, startedAt: number) {
    this.progress = { step: 0, maxSteps, startedAt, tokens: 0, costUsd: 0 };
  }

  /** Applies an event; returns whether the status changed and the milestone to post, if any. */
  apply(e: AgentEvent): { changed: boolean; milestone?: string } {
    const p = this.progress;
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
      const exit = e.outcome.exitCode ?? 'killed';
      if (e.name === 'setup')
        return { changed: true, milestone: `Setup \`${command}\` finished with exit ${exit}.` };
      if (e.name === 'bash' && isTestCommand(command) && ++this.testMilestones <= MAX_TEST_MILESTONES)
        return { changed: true, milestone: `Ran \`${command.slice(0, 120)}\` → exit ${exit}.` };
    } else return { changed: false };
    return { changed: true };
  }
}
