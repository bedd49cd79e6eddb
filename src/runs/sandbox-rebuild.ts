import { AirlockError } from '../errors.js';
import type { Sandbox } from './ports/sandbox.js';
import type { RunRecord } from './ports/store.js';
import type { RunPorts } from './run-context.js';
import { initSnapshotRepository } from './workspace-git.js';

const REVIEWED = '.git/airlock-reviewed.diff';

/**
 * The run's sandbox, or — for a follow-up after review, when the sandbox ended while the diff
 * waited (a pod's deadline, an eviction, a node drain) — a new one built from the same snapshot
 * with the reviewed diff applied, so the agent goes on from exactly what the reviewer saw.
 * Mid-session there is nothing to rebuild from (the workspace had unsaved changes), so the run
 * fails with the reason.
 */
export async function sandboxForSession(
  ports: Pick<RunPorts, 'sandboxes' | 'repos' | 'store'>,
  run: RunRecord,
  opts: { afterReview: boolean; setup: (sandbox: Sandbox) => Promise<void> },
): Promise<{ sandbox: Sandbox; run: RunRecord; snapshotCommit: string }> {
  let reason = "The run's sandbox is gone (it was removed or its pod ended). Start a new run.";
  try {
    const sandbox = await ports.sandboxes.attach(run.id);
    if (sandbox && run.snapshotCommit) return { sandbox, run, snapshotCommit: run.snapshotCommit };
  } catch (error) {
    if (!(error instanceof AirlockError) || error.code !== 'sandbox_failed') throw error;
    reason = error.message;
  }
  if (!opts.afterReview || !run.baseSha) throw new AirlockError('sandbox_failed', reason);

  const sandbox = await ports.sandboxes.create(run.id, { repo: run.repo });
  await sandbox.putTree(ports.repos.snapshot(run.repo, run.baseSha));
  const snapshotCommit = await initSnapshotRepository(sandbox, run.baseSha);
  const diff = run.diffSha256 ? ports.store.diff(run.id, run.diffSha256) : undefined;
  if (diff?.length) {
    await sandbox.writeFile(REVIEWED, diff);
    const applied = await sandbox.exec(`git apply --binary ${REVIEWED} && rm -f ${REVIEWED}`, {
      timeoutMs: 300_000,
    });
    if (applied.exitCode !== 0) {
      throw new AirlockError(
        'sandbox_failed',
        `${reason} A new sandbox could not take the reviewed diff back: ${applied.stderr.toString().trim()}`,
      );
    }
  }
  const rebuilt = ports.store.updateRun(
    run.id,
    { snapshotCommit },
    {
      type: 'sandbox.rebuilt',
      data: { reason, snapshot_commit: snapshotCommit, diff_sha256: run.diffSha256 ?? null },
    },
  );
  await opts.setup(sandbox);
  return { sandbox, run: rebuilt, snapshotCommit };
}
