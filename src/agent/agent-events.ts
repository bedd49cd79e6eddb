import type { Message, ModelResponse } from '../runs/ports/model.js';
import type { ToolOutcome } from './tools/tool-result.js';

/** One stream of typed events; the store, the CLI progress line and (later) Slack subscribe. */
export type AgentEvent =
  | { type: 'step-started'; step: number }
  | { type: 'text'; delta: string }
  | { type: 'turn-finished'; step: number; newMessages: Message[]; response: ModelResponse; costUsd: number }
  | { type: 'tool-started'; step: number; toolUseId: string; name: string; input: Record<string, unknown> }
  | {
      type: 'tool-finished';
      step: number;
      toolUseId: string;
      name: string;
      input: Record<string, unknown>;
      outcome: ToolOutcome;
      durationMs: number;
    };

export type AgentEventListener = (event: AgentEvent) => void;
