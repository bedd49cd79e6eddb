import { userInfo } from 'node:os';
import type { App } from '../composition-root.js';
import { limitsFor } from '../config/policy.js';
import { AirlockError } from '../errors.js';
import { ProgressPrinter } from './progress.js';
import { finish, type Io, reportPush } from './run-command.js';

/**
 * `airlock retry RUN`: finishes a run whose push or pull request failed. Same approved bytes,
 * same commit, same branch; no model call. The approval recorded on the run stands.
 */
export async function retryCommand(
  app: App,
  runId: string,
  opts: { json?: boolean },
  io: Io,
): Promise<number> {
  const run = app.store.getRun(runId);
  if (!run) throw new AirlockError('run_not_found', `No run ${runId}. List runs with \`airlock runs\`.`);
  const progress = new ProgressPrinter(io.stderr, limitsFor(app.policy, run.repo).max_steps);
  const outcome = await app.lifecycle.retryPush(runId, { operator: `cli:${userInfo().username}` });
  if (!outcome.allowed) {
    progress.line(`not retried: ${outcome.reason}`);
    return finish(io, opts, app, outcome.run, 1);
  }
  progress.line(`retrying the push of ${run.id} (${run.branch})`);
  return reportPush(io, opts, app, progress, outcome.push, outcome.run);
}
