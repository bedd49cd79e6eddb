import type { AgentEvent } from '../agent/agent-events.js';
import type { Store } from './ports/store.js';

/** Writes the agent's event stream to the store: every model turn and every tool call, whole. */
export class TranscriptRecorder {
  constructor(
    private readonly store: Store,
    private readonly runId: string,
    private readonly model: string,
    private readonly forward?: (e: AgentEvent) => void,
  ) {}

  handle(event: AgentEvent): void {
    if (event.type === 'turn-finished') {
      this.store.recordModelTurn({
        runId: this.runId,
        step: event.step,
        model: event.response.model || this.model,
        request: { messages: event.newMessages },
        response: { content: event.response.content, stop_reason: event.response.stopReason },
        usage: event.response.usage,
        costUsd: event.costUsd,
      });
    } else if (event.type === 'tool-finished') {
      this.store.recordToolCall({
        runId: this.runId,
        step: event.step,
        toolUseId: event.toolUseId,
        name: event.name,
        input: event.input,
        output: event.outcome.fullOutput,
        exitCode: event.outcome.exitCode,
        isError: event.outcome.isError,
        durationMs: event.durationMs,
      });
    }
    this.forward?.(event);
  }

  setup(command: string, output: string, exitCode: number | null, durationMs: number): void {
    this.store.recordToolCall({
      runId: this.runId,
      step: 0,
      toolUseId: 'setup',
      name: 'setup',
      input: { command },
      output,
      exitCode,
      isError: exitCode !== 0,
      durationMs,
    });
    this.forward?.({
      type: 'tool-finished',
      step: 0,
      toolUseId: 'setup',
      name: 'setup',
      input: { command },
      outcome: { content: output, fullOutput: output, isError: exitCode !== 0, exitCode },
      durationMs,
    });
  }
}
