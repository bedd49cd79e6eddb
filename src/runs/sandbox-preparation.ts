import { AirlockError } from '../errors.js';
import type { Sandbox } from './ports/sandbox.js';
import type { RunRecord } from './ports/store.js';
import type { RunPorts } from './run-context.js';
import { checkoutSnapshot } from './workspace-git.js';

const REVIEWED = '.git/airlock-reviewed.diff';

export interface SetupResult {
  command: string;
  exitCode: number | null;
  output: string;
  durationMs: number;
}

export interface PreparedSandbox {
  sandbox: Sandbox;
  snapshotCommit: string;
  setup?: SetupResult;
}

type Ports = Pick<RunPorts, 'sandboxes' | 'repos' | 'store' | 'redactor'>;

/**
 * A run's sandbox from nothing: the base commit checked out from the mirror's objects,
 * optionally with the reviewed diff applied (a rebuild after review), then the repository's
 * setup. The one way a sandbox is prepared, for a first start and for a rebuild alike.
 */
export async function prepareSandbox(
  ports: Ports,
  run: Pick<RunRecord, 'id' | 'repo'> & { mode?: RunRecord['mode'] },
  opts: { baseSha: string; reviewedDiff?: Buffer; setup?: string; setupTimeoutMs: number },
): Promise<PreparedSandbox> {
  const readOnly = run.mode !== undefined && run.mode !== 'change';
  const sandbox = await ports.sandboxes.create(run.id, { repo: run.repo, ...(readOnly ? { readOnly } : {}) });
  const snapshotCommit = await checkoutSnapshot(
    sandbox,
    ports.repos.snapshot(run.repo, opts.baseSha),
    opts.baseSha,
  );
  if (opts.reviewedDiff?.length) {
    await sandbox.writeFile(REVIEWED, opts.reviewedDiff);
    const applied = await sandbox.exec(`git apply --binary ${REVIEWED} && rm -f ${REVIEWED}`, {
      timeoutMs: 300_000,
    });
    if (applied.exitCode !== 0) {
      throw new AirlockError(
        'sandbox_failed',
        `A new sandbox could not take the reviewed diff back: ${applied.stderr.toString().trim()}`,
      );
    }
  }
  if (!opts.setup) return { sandbox, snapshotCommit };
  const result = await sandbox.exec(opts.setup, { timeoutMs: opts.setupTimeoutMs });
  const output = ports.redactor.redact(`${result.stdout.toString()}${result.stderr.toString()}`);
  return {
    sandbox,
    snapshotCommit,
    setup: { command: opts.setup, exitCode: result.exitCode, output, durationMs: result.durationMs },
  };
}

/**
 * The sandbox a work session runs in: the run's own if it is still there; after review, when it
 * ended while the diff waited (a pod's deadline, an eviction, a node drain), a new one built from
 * the same snapshot with the reviewed diff applied. Mid-session there is nothing to rebuild from
 * (the workspace had unsaved changes), so the caller fails the run with the reason.
 */
export async function attachSandbox(
  ports: Ports,
  run: RunRecord,
): Promise<{ sandbox: Sandbox; snapshotCommit: string } | { gone: string }> {
  let reason = "The run's sandbox is gone (it was removed or its pod ended).";
  try {
    const sandbox = await ports.sandboxes.attach(run.id);
    if (sandbox && run.snapshotCommit) return { sandbox, snapshotCommit: run.snapshotCommit };
  } catch (error) {
    if (!(error instanceof AirlockError) || error.code !== 'sandbox_failed') throw error;
    reason = error.message;
  }
  return { gone: reason };
}
