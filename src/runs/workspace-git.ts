import { AirlockError } from '../errors.js';
import { DIFF_MAX_BYTES, type Sandbox } from './ports/sandbox.js';

/** Git as airlock runs it inside a sandbox: no pager, no prompts, no hooks, a fixed identity. */
const GIT =
  'git -c core.hooksPath=/dev/null -c core.pager=cat -c gc.auto=0 -c maintenance.auto=false -c user.name=airlock -c user.email=airlock@localhost';

/**
 * Turns the unpacked snapshot into a repository of one commit so the agent can use git diff,
 * and returns that commit: the base every diff of the run is taken against.
 */
export async function initSnapshotRepository(sandbox: Sandbox, baseSha: string): Promise<string> {
  const script = [
    'set -e',
    'git init -q -b airlock-base .',
    `${GIT} add -A`,
    `${GIT} commit -q --no-verify --allow-empty -m "airlock: snapshot of ${baseSha}"`,
    'git rev-parse HEAD',
  ].join('\n');
  const result = await sandbox.exec(script, { timeoutMs: 300_000 });
  if (result.exitCode !== 0) {
    throw new AirlockError(
      'sandbox_failed',
      `Could not prepare the workspace: ${result.stderr.toString().trim()}`,
    );
  }
  return result.stdout.toString().trim();
}

/** The workspace's changes against the snapshot commit, new files included, as a binary diff. */
export async function diffAgainst(sandbox: Sandbox, snapshotCommit: string): Promise<Buffer> {
  if (!/^[0-9a-f]{40,64}$/.test(snapshotCommit))
    throw new AirlockError('sandbox_failed', 'bad snapshot commit');
  // A throwaway index, so whatever the agent did to the real one does not hide changes.
  const script = [
    'set -e',
    'export GIT_INDEX_FILE="$(mktemp)"',
    `trap 'rm -f "$GIT_INDEX_FILE"' EXIT`,
    `${GIT} read-tree ${snapshotCommit}`,
    `${GIT} add -A`,
    `${GIT} diff --cached --binary --no-color --no-ext-diff --no-renames --full-index ${snapshotCommit}`,
  ].join('\n');
  const result = await sandbox.exec(script, { timeoutMs: 300_000, maxOutputBytes: DIFF_MAX_BYTES });
  if (result.exitCode !== 0) {
    throw new AirlockError('sandbox_failed', `Could not take the diff: ${result.stderr.toString().trim()}`);
  }
  if (result.droppedBytes > 0) {
    throw new AirlockError(
      'sandbox_failed',
      `The diff is larger than ${DIFF_MAX_BYTES} bytes; refusing to cut it.`,
    );
  }
  return result.stdout;
}
