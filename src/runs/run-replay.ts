import { createHash } from 'node:crypto';
import { BashTool } from '../agent/tools/bash-tool.js';
import { type EditInput, EditTool } from '../agent/tools/edit-tool.js';
import { limitsFor, networkFor } from '../config/policy.js';
import { AirlockError, messageOf } from '../errors.js';
import { grantedTargets } from './egress-ledger.js';
import { readOnlyMode, type ToolCallRecord } from './ports/store.js';
import type { RunPorts } from './run-context.js';
import { isTerminal } from './run-state.js';
import { prepareSandbox } from './sandbox-preparation.js';

/** A replay's sandbox is the run's id and this: kept from the reaper while the replay runs. */
export const REPLAY_SUFFIX = 'replay';

/** What the model saw of an output is capped; comparisons use this much of the full output. */
const COMPARED_CHARS = 64 * 1024;

export interface ReplayedCall {
  step: number;
  name: string;
  /** For bash, the command; for the editor, its command and path. */
  what: string;
  exitCode: number | null;
  recordedExitCode: number | null;
  outputMatches: boolean;
}

export interface ReplayReport {
  runId: string;
  replayedCalls: number;
  calls: ReplayedCall[];
  /** The first call whose exit code or output differs (reported; outputs may carry times). */
  firstDivergence: ReplayedCall | undefined;
  recordedDiffSha256: string | null;
  diffSha256: string | null;
  diffMatches: boolean;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * `airlock replay`: a finished run's stored tool calls, in order, in a fresh sandbox at the run's
 * base commit (its setup first), without the model; then the diff, whose SHA-256 must equal the
 * run's. Nothing is pushed; the replay is audited on the original run.
 */
export async function replayRun(
  ports: Pick<RunPorts, 'store' | 'policy' | 'repos' | 'sandboxes' | 'egress' | 'redactor'>,
  runId: string,
  opts: { onCall?: (call: ReplayedCall) => void } = {},
): Promise<ReplayReport> {
  const { store } = ports;
  const run = store.getRun(runId);
  if (!run) throw new AirlockError('run_not_found', `No run ${runId}. List runs with \`airlock runs\`.`);
  if (!isTerminal(run.state) && run.state !== 'awaiting_approval')
    throw new AirlockError('usage', `Run ${run.id} is ${run.state}; replay a run that has finished.`);
  if (!run.baseSha)
    throw new AirlockError('usage', `Run ${run.id} never fixed a base commit: there is nothing to replay.`);
  const recorded = store.toolCalls(run.id);
  const setup = recorded.find((c) => c.name === 'setup');
  const calls = recorded.filter((c) => c.name === 'bash' || c.name === 'str_replace_based_edit_tool');
  // Its own sandbox, next to nothing else: the run's id with a suffix airlock never gives a run.
  const key = `${run.id}${REPLAY_SUFFIX}`;
  const limits = limitsFor(ports.policy, run.repo);
  store.appendEvent(run.id, { type: 'replay.started', data: { sandbox: key, calls: calls.length } });
  ports.egress?.enter(key, 'setup', networkFor(ports.policy, run.repo, 'setup'));
  let prepared: Awaited<ReturnType<typeof prepareSandbox>> | undefined;
  try {
    const setupCommand = (setup?.input as { command?: string } | undefined)?.command;
    prepared = await prepareSandbox(
      ports,
      { id: key, repo: run.repo, mode: run.mode },
      {
        baseSha: run.baseSha,
        setup: setupCommand,
        setupTimeoutMs: limits.command_timeout_seconds * 1000,
      },
    );
    ports.egress?.enter(key, 'agent', networkFor(ports.policy, run.repo, 'agent'));
    // What approvers allowed the run by button, the replay may reach too.
    for (const target of grantedTargets(store, run.id)) ports.egress?.grant(key, target);
    const { sandbox } = prepared;
    const bash = new BashTool(sandbox, {
      timeoutMs: limits.command_timeout_seconds * 1000,
      maxModelChars: COMPARED_CHARS,
      readOnly: readOnlyMode(run.mode),
    });
    const edit = new EditTool(sandbox, { maxModelChars: COMPARED_CHARS, readOnly: readOnlyMode(run.mode) });
    const replayed: ReplayedCall[] = [];
    for (const call of calls) {
      const outcome =
        call.name === 'bash'
          ? await bash.run(call.input as { command?: string; restart?: boolean }, {})
          : await edit.run(call.input as EditInput);
      const done: ReplayedCall = {
        step: call.step,
        name: call.name,
        what: describe(call),
        exitCode: outcome.exitCode,
        recordedExitCode: call.exitCode,
        outputMatches:
          ports.redactor.redact(outcome.fullOutput).slice(0, COMPARED_CHARS) ===
          call.output.slice(0, COMPARED_CHARS),
      };
      replayed.push(done);
      opts.onCall?.(done);
    }
    const diff = await sandbox.diff(prepared.snapshotCommit);
    const diffSha256 = diff.length ? sha256(diff) : null;
    const report: ReplayReport = {
      runId: run.id,
      replayedCalls: replayed.length,
      calls: replayed,
      firstDivergence: replayed.find((c) => c.exitCode !== c.recordedExitCode || !c.outputMatches),
      recordedDiffSha256: run.diffSha256,
      diffSha256,
      diffMatches: diffSha256 === run.diffSha256,
    };
    store.appendEvent(run.id, {
      type: 'replay.finished',
      data: {
        diff_sha256: diffSha256,
        matches: report.diffMatches,
        calls: replayed.length,
        diverged_at_step: report.firstDivergence?.step ?? null,
      },
    });
    return report;
  } catch (error) {
    store.appendEvent(run.id, {
      type: 'replay.failed',
      data: { error: ports.redactor.redact(messageOf(error)) },
    });
    throw error;
  } finally {
    ports.egress?.forget(key);
    await prepared?.sandbox.destroy().catch(() => undefined);
  }
}

function describe(call: ToolCallRecord): string {
  const input = (call.input ?? {}) as Record<string, unknown>;
  if (call.name === 'bash') return String(input.command ?? (input.restart ? '(restart)' : ''));
  return `${String(input.command ?? '')} ${String(input.path ?? '')}`.trim();
}
