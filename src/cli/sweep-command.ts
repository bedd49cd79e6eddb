import type { App } from '../composition-root.js';
import { AirlockError, messageOf } from '../errors.js';
import { resolvedOrThrow } from '../runs/request-resolver.js';
import { ConcurrencyLimit } from '../shared/concurrency-limit.js';
import { finish, headlessRun, type Io, type RunOptions } from './run-command.js';

export interface SweepOptions {
  repos?: string;
  task?: string;
  push?: boolean;
  yes?: boolean;
  json?: boolean;
}

/** Each line of `text` led by `prefix`, so parallel runs' progress stays readable. */
function prefixed(out: Io['stderr'], prefix: string): Io['stderr'] {
  let open = false;
  return {
    write: (text: string) => {
      const lines = text.replaceAll('\r', '').split('\n');
      const body = lines.map((l, i) =>
        i === 0 && open ? l : l === '' && i === lines.length - 1 ? '' : `${prefix}${l}`,
      );
      open = !text.endsWith('\n');
      return out.write(body.join('\n'));
    },
  };
}

/**
 * `airlock sweep`: one task in each of several repositories, limits.concurrent_runs at a time,
 * each exactly as `airlock run` (same gate: `--push --yes` pushes only where headless_push
 * allows). With --json, one object per repository on stdout. Exit 0 only if every run is done.
 */
export async function sweepCommand(app: App, opts: SweepOptions, io: Io): Promise<number> {
  const repos = [
    ...new Set(
      (opts.repos ?? '')
        .split(',')
        .map((r) => r.trim())
        .filter(Boolean),
    ),
  ];
  if (!repos.length)
    throw new AirlockError(
      'usage',
      `--repos is required: a comma-separated list. Configured: ${Object.keys(app.policy.repos).join(', ')}.`,
    );
  const unknown = repos.filter((r) => !app.policy.repos[r]);
  if (unknown.length)
    throw new AirlockError(
      'usage',
      `Not in the policy: ${unknown.join(', ')}. Configured: ${Object.keys(app.policy.repos).join(', ')}.`,
    );
  if (!opts.task?.trim())
    throw new AirlockError('usage', '--task is required: what should the agent do in each?');
  if (opts.yes && !opts.push) throw new AirlockError('usage', '--yes only makes sense with --push.');
  if (opts.push && !opts.yes)
    throw new AirlockError(
      'usage',
      'A sweep cannot ask at a terminal for each repository: add --yes (policy permitting).',
    );
  const limit = new ConcurrencyLimit(app.policy.limits.concurrent_runs);
  const codes = await Promise.all(
    repos.map((repo) =>
      limit.run(async () => {
        const runIo: Io = { ...io, stderr: prefixed(io.stderr, `[${repo}] `), stdinIsTTY: false };
        const ran: { id?: string } = {};
        try {
          const request = resolvedOrThrow(await app.resolver.resolve({ text: opts.task, repo }));
          const runOpts: RunOptions = { push: opts.push, yes: opts.yes, json: opts.json };
          const code = await headlessRun(app, request, runOpts, runIo, ran);
          const run = ran.id ? app.store.getRun(ran.id) : undefined;
          return code === 0 && run?.state === 'done' ? 0 : 1;
        } catch (error) {
          // One repository's failure is its own line; the others go on.
          const reason = app.redactor.redact(messageOf(error));
          runIo.stderr.write(`failed: ${reason}\n`);
          const run = ran.id ? app.store.getRun(ran.id) : undefined;
          if (run) finish(io, { json: opts.json }, app, run, 1);
          else if (opts.json)
            io.stdout.write(
              `${JSON.stringify({ repo, id: null, state: 'failed', outcome: null, diff_sha256: null, error: reason })}\n`,
            );
          return 1;
        }
      }),
    ),
  );
  const done = codes.filter((c) => c === 0).length;
  io.stderr.write(`sweep: ${done} of ${repos.length} repositories done.\n`);
  return done === repos.length ? 0 : 1;
}
