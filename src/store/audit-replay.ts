import type { RunState } from '../runs/run-state.js';
import { RUN_STATES } from '../runs/run-state.js';

/** What a run's events say its row must hold. */
export interface ReplayedRun {
  state: RunState;
  requester: string;
  approvedBy: string | null;
  diffSha256: string | null;
}

/** The columns of a runs row that the chain vouches for. */
export type RunColumns = ReplayedRun;

export interface ReplayInput {
  seq: number;
  runId: string;
  type: string;
  data: Record<string, unknown>;
}

export interface Replay {
  runs: Map<string, ReplayedRun>;
  /** Events that do not fit the run they belong to (a move from a state the run was not in). */
  problems: string[];
}

const STATES: ReadonlySet<string> = new Set(RUN_STATES);

function isState(value: unknown): value is RunState {
  return typeof value === 'string' && STATES.has(value);
}

/**
 * Replays events (in chain order) into each run's state, requester, approver and diff hash,
 * the way the store writes them:
 * - `run.requested` creates the run in `requested` with its requester;
 * - every transition (`run.<state>`, `approval.granted`, `push.*`) carries `from`/`to`: `to`
 *   is the new state, and `from` must be the state the run was in;
 * - `approval.granted` sets the approver (`by`); `diff.taken` sets the diff hash (`sha256`,
 *   null when the agent changed nothing);
 * - every other event (owner.adopted, model.turn, …) changes none of these.
 * Events of no run are skipped: run id '' (airlock's own) and '-' (a refused button that names no
 * run it could be trusted for, a gateway connection from no known sandbox).
 */
export function replayRuns(events: Iterable<ReplayInput>): Replay {
  const runs = new Map<string, ReplayedRun>();
  const problems: string[] = [];
  for (const e of events) {
    if (e.runId === '' || e.runId === '-') continue;
    const run = runs.get(e.runId);
    if (e.type === 'run.requested') {
      if (run) problems.push(`event ${e.seq}: run ${e.runId} is requested a second time`);
      runs.set(e.runId, {
        state: 'requested',
        requester: String(e.data.requester ?? ''),
        approvedBy: null,
        diffSha256: null,
      });
      continue;
    }
    if (!run) {
      problems.push(`event ${e.seq} (${e.type}): run ${e.runId} has no run.requested event before it`);
      continue;
    }
    const { from, to } = e.data;
    if (from !== undefined || to !== undefined) {
      if (!isState(from) || !isState(to)) {
        problems.push(`event ${e.seq} (${e.type}, run ${e.runId}): not a valid move (${from} → ${to})`);
        continue;
      }
      if (from !== run.state)
        problems.push(
          `event ${e.seq} (${e.type}, run ${e.runId}): moves the run from ${from}, but its events left it ${run.state}`,
        );
      run.state = to;
    }
    if (e.type === 'approval.granted') run.approvedBy = String(e.data.by ?? '');
    if (e.type === 'diff.taken') run.diffSha256 = (e.data.sha256 as string | null | undefined) ?? null;
  }
  return { runs, problems };
}

/** Why a runs row disagrees with what its events say, or undefined when it agrees. */
export function disagreement(
  runId: string,
  row: RunColumns,
  expected: ReplayedRun | undefined,
): string | undefined {
  if (!expected) return `run ${runId} has no run.requested event: the row is not in the audit chain`;
  const diffs: string[] = [];
  const say = (name: string, actual: string | null, want: string | null) => {
    if (actual !== want) diffs.push(`${name} is ${actual ?? 'empty'} but its events say ${want ?? 'empty'}`);
  };
  say('state', row.state, expected.state);
  say('requester', row.requester, expected.requester);
  say('approver', row.approvedBy, expected.approvedBy);
  say('diff hash', row.diffSha256, expected.diffSha256);
  return diffs.length ? `run ${runId} disagrees with the audit chain: ${diffs.join('; ')}` : undefined;
}
