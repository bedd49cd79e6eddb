import { AirlockError } from '../errors.js';
import { DIFF_MAX_BYTES, type Sandbox } from './ports/sandbox.js';

/** Git as airlock runs it inside a sandbox: no pager, no prompts, no hooks, a fixed identity. */
const GIT =
  'git -c core.hooksPath=/dev/null -c core.pager=cat -c gc.auto=0 -c maintenance.auto=false -c user.name=airlock -c user.email=airlock@localhost';

/**
 * Makes the workspace the base commit itself: its objects (a pack from the mirror) go into a new
 * repository, whose one commit (shallow: no history) is checked out. The files are written once and
 * nothing is hashed again, where unpacking a tarball and committing it wrote them and then hashed
 * and compressed every one (issue 12). Returns the commit every diff of the run is taken against:
 * the base commit.
 */
export async function checkoutSnapshot(
  sandbox: Sandbox,
  pack: NodeJS.ReadableStream,
  baseSha: string,
): Promise<string> {
  if (!/^[0-9a-f]{40,64}$/.test(baseSha)) throw new AirlockError('sandbox_failed', 'bad base commit');
  const script = [
    'set -e',
    'git init -q -b airlock-base .',
    // index-pack stops at the pack's own end, so it needs no end of stdin (exec v4 sends none).
    `${GIT} index-pack --stdin >/dev/null`,
    `echo ${baseSha} > .git/shallow`,
    `${GIT} update-ref refs/heads/airlock-base ${baseSha}`,
    `${GIT} checkout -q -f airlock-base`,
    'git rev-parse HEAD',
  ].join('\n');
  const result = await sandbox.exec(script, { stdin: pack, timeoutMs: 600_000 });
  const head = result.stdout.toString().trim();
  if (result.exitCode !== 0 || head !== baseSha) {
    throw new AirlockError(
      'sandbox_failed',
      `Could not check the snapshot out: ${result.stderr.toString().trim() || `exit ${result.exitCode}`}`,
    );
  }
  return head;
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
