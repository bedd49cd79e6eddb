import { AirlockError } from '../../src/errors.js';
import type { Sandbox } from '../../src/runs/ports/sandbox.js';

const GIT =
  'git -c core.hooksPath=/dev/null -c gc.auto=0 -c user.name=airlock -c user.email=airlock@localhost';

/**
 * For tests that put a tree in with putTree: makes the workspace a repository of one commit of
 * whatever is there, and returns that commit (runs check the base commit out instead).
 */
export async function initSnapshotRepository(sandbox: Sandbox, baseSha: string): Promise<string> {
  const script = [
    'set -e',
    'git init -q -b airlock-base .',
    `${GIT} add -A`,
    `${GIT} commit -q --no-verify --allow-empty -m "snapshot of ${baseSha}"`,
    'git rev-parse HEAD',
  ].join('\n');
  const result = await sandbox.exec(script, { timeoutMs: 300_000 });
  if (result.exitCode !== 0) {
    throw new AirlockError(
      'sandbox_failed',
      `Could not commit the workspace: ${result.stderr.toString().trim()}`,
    );
  }
  return result.stdout.toString().trim();
}
