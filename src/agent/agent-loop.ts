import { AirlockError } from '../errors.js';
import type { ContentBlock, Message, ModelClient, ModelResponse, ToolName } from '../runs/ports/model.js';
import type { Sandbox } from '../runs/ports/sandbox.js';
import type { AgentEventListener } from './agent-events.js';
import {
  type ElidedOutput,
  elideOldOutputs,
  messagesChars,
  nearlyFull,
  OUTPUTS_DIR,
  tokensOf,
} from './context-window.js';
import { costUsd, type Price } from './pricing.js';
import { BashTool } from './tools/bash-tool.js';
import { EditTool } from './tools/edit-tool.js';
import { type ToolOutcome, toolError } from './tools/tool-result.js';

export interface AgentBudget {
  maxSteps: number;
  /** Wall-clock deadline (epoch ms) for the whole run. */
  deadline: number;
  maxTokens: number;
  maxCostUsd: number;
  commandTimeoutMs: number;
  maxOutputTokens: number;
  /** The model's context window (model.context_tokens): requests stay under 80 % of it. */
  contextTokens: number;
}

export interface AgentSpent {
  steps: number;
  tokens: number;
  costUsd: number;
}

export type AgentStop =
  | { kind: 'finished'; summary: string }
  | { kind: 'budget'; reason: string; summary: string }
  | { kind: 'cancelled'; summary: string };

export interface AgentDeps {
  model: ModelClient;
  sandbox: Sandbox;
  price: Price | undefined;
  /** Removes secrets from anything a command printed before it is kept or shown to the model. */
  redact: (text: string) => string;
  onEvent: AgentEventListener;
  now?: () => number;
  /** Ask and review modes: commands see the workspace read-only, the editor only views. */
  readOnly?: boolean;
  /** Review mode: takes the agent's submit_review call (the tool is offered only then). */
  submitReview?: (input: Record<string, unknown>) => ToolOutcome;
}

export const TOOLS: ToolName[] = ['bash', 'str_replace_based_edit_tool'];
/** How much of one tool output the model sees (head + tail); the store keeps it all. */
export const MAX_MODEL_CHARS = 30_000;

/**
 * The agent: asks the model, runs the tools it calls in the sandbox, and repeats until the
 * model ends its turn without a tool call (its text is the summary), the run is cancelled, or
 * a budget runs out. It never touches a store or a chat: it emits events.
 */
export class AgentLoop {
  private readonly bash: BashTool;
  private readonly edit: EditTool;
  private readonly now: () => number;
  /** Each tool output whole, until it is elided (then it goes to the sandbox). */
  private readonly fullOutputs = new Map<string, string>();

  constructor(private readonly deps: AgentDeps) {
    this.now = deps.now ?? Date.now;
    const readOnly = deps.readOnly === true;
    this.bash = new BashTool(deps.sandbox, { timeoutMs: 600_000, maxModelChars: MAX_MODEL_CHARS, readOnly });
    this.edit = new EditTool(deps.sandbox, { maxModelChars: MAX_MODEL_CHARS, readOnly });
  }

  async run(input: {
    system: string;
    /** The conversation so far; its last message is the user's and has not been sent yet. */
    messages: Message[];
    budget: AgentBudget;
    spent?: AgentSpent;
    signal?: AbortSignal;
    /** Words from a person that arrived while the agent worked; added before the next request. */
    instructions?: () => string[];
  }): Promise<AgentStop> {
    const { budget, signal } = input;
    const spent = { ...(input.spent ?? { steps: 0, tokens: 0, costUsd: 0 }) };
    // Copies, so adding a person's words never edits the caller's messages.
    const messages = input.messages.map((m) => ({ ...m, content: [...m.content] }));
    let pending: Message[] = messages.length ? [messages[messages.length - 1] as Message] : [];
    let lastText = '';
    // The prompt's size as the endpoint last counted it, and the characters it was counted on.
    let measured: { tokens: number; chars: number } | undefined;
    const chars = () => input.system.length + messagesChars(messages);
    const estimate = () => {
      const now = chars();
      return measured ? measured.tokens + tokensOf(now - measured.chars) : tokensOf(now);
    };

    for (;;) {
      if (signal?.aborted) return { kind: 'cancelled', summary: lastText };
      const over = this.overBudget(budget, spent);
      if (over) return { kind: 'budget', reason: over, summary: lastText };

      const extra = input.instructions?.() ?? [];
      const waiting = messages.at(-1);
      if (extra.length && waiting?.role === 'user') {
        waiting.content = [...waiting.content, ...extra.map((text) => ({ type: 'text' as const, text }))];
      }
      const step = spent.steps + 1;
      this.deps.onEvent({ type: 'step-started', step });
      // Old tool outputs make way, in one batch, before the window fills (issue 13).
      if (nearlyFull(estimate(), budget.contextTokens, budget.maxOutputTokens)) {
        await this.moveOut(
          elideOldOutputs(messages, { tokens: estimate(), windowTokens: budget.contextTokens }),
        );
        measured = undefined;
      }
      let response: ModelResponse;
      const ask = () =>
        this.deps.model.complete({
          system: input.system,
          messages,
          tools: this.deps.submitReview ? [...TOOLS, 'submit_review'] : TOOLS,
          maxOutputTokens: budget.maxOutputTokens,
          signal,
          onText: (delta) => this.deps.onEvent({ type: 'text', delta }),
        });
      try {
        try {
          response = await ask();
        } catch (error) {
          if (!(error instanceof AirlockError) || error.code !== 'prompt_too_long') throw error;
          // The endpoint counts differently from the estimate: elide harder, and ask once more.
          const elided = elideOldOutputs(messages, {
            tokens: Number.POSITIVE_INFINITY,
            windowTokens: budget.contextTokens,
            hard: true,
          });
          await this.moveOut(elided);
          measured = undefined;
          response = await ask().catch((again: unknown) => {
            if (again instanceof AirlockError && again.code === 'prompt_too_long') throw tooLong(budget);
            throw again;
          });
        }
      } catch (error) {
        if (signal?.aborted) return { kind: 'cancelled', summary: lastText };
        throw error;
      }
      measured = {
        tokens: response.usage.inputTokens + response.usage.cacheReadTokens + response.usage.cacheWriteTokens,
        chars: chars(),
      };
      const cost = costUsd(response.usage, this.deps.price);
      spent.steps = step;
      spent.tokens +=
        response.usage.inputTokens +
        response.usage.outputTokens +
        response.usage.cacheReadTokens +
        response.usage.cacheWriteTokens;
      spent.costUsd += cost;
      // The APIs refuse an empty assistant message, which a reply cut off at max_tokens can be.
      const content: ContentBlock[] = response.content.length
        ? response.content
        : [{ type: 'text', text: '(no output: the reply was cut off)' }];
      messages.push({ role: 'assistant', content });
      this.deps.onEvent({ type: 'turn-finished', step, newMessages: pending, response, costUsd: cost });

      const text = response.content
        .filter((b): b is Extract<ContentBlock, { type: 'text' }> => b.type === 'text')
        .map((b) => b.text)
        .join('\n')
        .trim();
      if (text) lastText = text;
      const calls = response.content.filter(
        (b): b is Extract<ContentBlock, { type: 'tool_use' }> => b.type === 'tool_use',
      );

      if (calls.length === 0) {
        if (response.stopReason === 'max_tokens') {
          pending = [
            {
              role: 'user',
              content: [{ type: 'text', text: 'Your reply was cut off at the output limit. Continue.' }],
            },
          ];
          messages.push(...pending);
          continue;
        }
        return { kind: 'finished', summary: lastText || 'The agent finished without a summary.' };
      }

      const results: ContentBlock[] = [];
      for (const call of calls) {
        const started = this.now();
        this.deps.onEvent({
          type: 'tool-started',
          step,
          toolUseId: call.id,
          name: call.name,
          input: call.input,
        });
        const outcome = signal?.aborted
          ? toolError('Cancelled before it ran.')
          : await this.runTool(call.name, call.input, budget, signal);
        const clean: ToolOutcome = {
          ...outcome,
          content: this.deps.redact(outcome.content),
          fullOutput: this.deps.redact(outcome.fullOutput),
        };
        this.deps.onEvent({
          type: 'tool-finished',
          step,
          toolUseId: call.id,
          name: call.name,
          input: call.input,
          outcome: clean,
          durationMs: this.now() - started,
        });
        results.push({
          type: 'tool_result',
          tool_use_id: call.id,
          content: clean.content,
          is_error: clean.isError,
        });
        this.fullOutputs.set(call.id, clean.fullOutput);
      }
      pending = [{ role: 'user', content: results }];
      messages.push(...pending);
    }
  }

  /**
   * Puts elided outputs whole into the sandbox, outside the workspace, where the stubs say they
   * are (the store keeps them too). A write that fails costs the agent a re-run, not the run.
   */
  private async moveOut(elided: ElidedOutput[]): Promise<void> {
    for (const output of elided) {
      const whole = this.fullOutputs.get(output.toolUseId) ?? output.content;
      this.fullOutputs.delete(output.toolUseId);
      await this.deps.sandbox
        .exec(`mkdir -p "${OUTPUTS_DIR}" && cat > "${output.path}"`, { stdin: whole, timeoutMs: 60_000 })
        .catch(() => undefined);
    }
  }

  private overBudget(budget: AgentBudget, spent: AgentSpent): string | undefined {
    if (spent.steps >= budget.maxSteps) return `step limit reached (${budget.maxSteps} steps)`;
    if (this.now() >= budget.deadline) return 'time limit reached';
    if (spent.tokens >= budget.maxTokens) return `token limit reached (${budget.maxTokens} tokens)`;
    if (spent.costUsd >= budget.maxCostUsd) return `cost limit reached ($${budget.maxCostUsd.toFixed(2)})`;
    return undefined;
  }

  private async runTool(
    name: string,
    input: Record<string, unknown>,
    budget: AgentBudget,
    signal: AbortSignal | undefined,
  ): Promise<ToolOutcome> {
    try {
      if (name === 'bash') {
        const timeoutMs = Math.max(1000, Math.min(budget.commandTimeoutMs, budget.deadline - this.now()));
        return await this.bash.run(input, { signal, timeoutMs });
      }
      if (name === 'str_replace_based_edit_tool') return await this.edit.run(input);
      if (name === 'submit_review' && this.deps.submitReview) return this.deps.submitReview(input);
      return toolError(`Error: there is no tool named ${name}. Use bash or str_replace_based_edit_tool.`);
    } catch (error) {
      return toolError(`Error: ${(error as Error).message}`);
    }
  }
}

/** The run cannot go on within the window even with every old output elided: say what to change. */
function tooLong(budget: AgentBudget): AirlockError {
  return new AirlockError(
    'model_failed',
    `The conversation no longer fits the model's context window (model.context_tokens: ${budget.contextTokens}) ` +
      'even with every earlier tool output moved out of it. Raise model.context_tokens if the model ' +
      'allows more, or split the task into smaller runs.',
  );
}
