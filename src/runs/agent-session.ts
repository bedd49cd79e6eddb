import type { AgentEvent } from '../agent/agent-events.js';
import { AgentLoop, type AgentStop } from '../agent/agent-loop.js';
import { defaultContextTokens } from '../agent/context-window.js';
import { priceFor } from '../agent/pricing.js';
import { systemPrompt } from '../agent/system-prompt.js';
import { limitsFor, networkFor, repoPolicy } from '../config/policy.js';
import { rebuildConversation, withUserText } from './conversation.js';
import type { Message } from './ports/model.js';
import type { Sandbox } from './ports/sandbox.js';
import { type RunRecord, readOnlyMode } from './ports/store.js';
import { loadRepositoryNotes } from './repository-instructions.js';
import { reviewedPullRequest, reviewSubmitter } from './review-submission.js';
import type { RunPorts } from './run-context.js';
import { TranscriptRecorder } from './transcript-recorder.js';

export interface SessionOptions {
  signal?: AbortSignal;
  onEvent?: (e: AgentEvent) => void;
  /** Instructions that arrive while the agent works (thread replies from the requester). */
  instructions?: () => string[];
  /** Waits for a provisioning slot around making a sandbox (the bot bounds how many at once). */
  provision?: <T>(work: () => Promise<T>) => Promise<T>;
}

function textOf(message: Message): string {
  return message.content
    .filter((b) => b.type === 'text')
    .map((b) => (b as { text: string }).text)
    .join('\n')
    .trim();
}

/** The first message of a run: its task, with a failed setup's output in front of it. */
function firstMessage(ports: Pick<RunPorts, 'store'>, run: RunRecord): string {
  const setup = ports.store
    .toolCalls(run.id)
    .filter((c) => c.name === 'setup')
    .at(-1);
  if (!setup || setup.exitCode === 0) return run.task;
  const command = String((setup.input as { command?: unknown }).command ?? '');
  return `Note: the repository's setup command \`${command}\` failed (exit ${String(
    setup.exitCode ?? 'killed',
  )}). Its last output:\n${setup.output.slice(-2000)}\n\nTask:\n${run.task}`;
}

/**
 * One work session of the agent in a sandbox: the conversation rebuilt from the store (empty at
 * the start; a resumption goes on from the last stored turn), the person's feedback added, the
 * loop run under the run's budgets. It records the transcript and changes no state.
 */
export async function runAgentSession(
  ports: RunPorts,
  run: RunRecord,
  sandbox: Sandbox,
  opts: SessionOptions & { feedback?: string | null; onFeedbackDelivered?: () => void },
): Promise<AgentStop> {
  const { store } = ports;
  const limits = limitsFor(ports.policy, run.repo);
  let messages = rebuildConversation(store.modelTurns(run.id), store.toolCalls(run.id));
  if (messages.length === 0)
    messages = [{ role: 'user', content: [{ type: 'text', text: firstMessage(ports, run) }] }];
  if (opts.feedback) messages = withUserText(messages, opts.feedback);

  const last = messages.at(-1);
  // The agent had finished before airlock stopped; only the diff is left to take.
  if (last?.role === 'assistant')
    return { kind: 'finished', summary: textOf(last) || 'The agent finished without a summary.' };

  const now = ports.now ?? Date.now;
  const sessionStart = run.sessionStartedAt ? Date.parse(run.sessionStartedAt) : now();
  const spent = run.sessionStartedAt
    ? store.spendSince(run.id, run.sessionStartedAt)
    : { steps: 0, tokens: 0, costUsd: 0 };
  const model = ports.model();
  let delivered = false;
  const recorder = new TranscriptRecorder(store, run.id, model.model, (e) => {
    // The feedback is in the stored conversation once the first turn that carried it is.
    if (e.type === 'turn-finished' && !delivered) {
      delivered = true;
      opts.onFeedbackDelivered?.();
    }
    opts.onEvent?.(e);
  });
  const agent = new AgentLoop({
    model,
    sandbox,
    price: priceFor(model.model, ports.policy.model.price),
    redact: (t) => ports.redactor.redact(t),
    onEvent: (e) => recorder.handle(e),
    now,
    readOnly: readOnlyMode(run.mode),
    ...(run.mode === 'review' ? { submitReview: reviewSubmitter(ports, run) } : {}),
  });
  // Read again each session from the base commit, so a resumed run sees exactly what it saw.
  // A review reads the repository's rules from the branch it merges into: the pull request under
  // review could otherwise rewrite its own reviewer's instructions.
  const notesAt =
    run.mode === 'review' ? (reviewedPullRequest(ports, run)?.baseSha ?? undefined) : run.baseSha;
  const notes = notesAt ? await loadRepositoryNotes(ports.repos, run.repo, notesAt) : undefined;
  return agent.run({
    system: systemPrompt({
      repo: run.repo,
      workdir: sandbox.workdir,
      baseRef: run.baseRef,
      isolated: !ports.sandboxes.warning,
      network: ports.egress
        ? { hosts: networkFor(ports.policy, run.repo, 'agent'), askable: run.source !== 'cli' }
        : undefined,
      operatorInstructions: repoPolicy(ports.policy, run.repo).instructions,
      repositoryNotes: notes,
      mode: run.mode,
    }),
    messages,
    budget: {
      maxSteps: run.mode === 'ask' ? limits.ask_max_steps : limits.max_steps,
      deadline: sessionStart + limits.max_minutes * 60_000,
      maxTokens: limits.max_tokens,
      maxCostUsd: limits.max_cost_usd,
      commandTimeoutMs: limits.command_timeout_seconds * 1000,
      maxOutputTokens: ports.policy.model.max_output_tokens,
      contextTokens: ports.policy.model.context_tokens ?? defaultContextTokens(model.model),
    },
    spent,
    signal: opts.signal,
    instructions: opts.instructions,
  });
}
