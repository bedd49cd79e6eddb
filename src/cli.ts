#!/usr/bin/env node
import { spawn } from 'node:child_process';
import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import { askCommand } from './cli/ask-command.js';
import { doctorCommand } from './cli/doctor-command.js';
import { auditVerifyCommand, runsCommand, showCommand } from './cli/inspect-commands.js';
import { prepareCommand } from './cli/prepare-command.js';
import { replayCommand } from './cli/replay-command.js';
import { retryCommand } from './cli/retry-command.js';
import { reviewCommand } from './cli/review-command.js';
import { runCommand } from './cli/run-command.js';
import { podSpecCommand } from './cli/sandbox-command.js';
import { schedulesCommand } from './cli/schedules-command.js';
import { serveCommand } from './cli/serve-command.js';
import { sweepCommand } from './cli/sweep-command.js';
import { type App, buildApp } from './composition-root.js';
import { AirlockError, exitCodeFor, messageOf } from './errors.js';
import { describeStoreError } from './store/store-errors.js';

/**
 * Runs one command with the app built for it; maps every failure to a message and an exit code.
 * Opening the store first reconciles runs whose owner is gone (DESIGN.md §2, Ownership).
 */
async function withApp(
  fn: (app: App) => Promise<number> | number,
  opts: { logTo?: 'file' | 'stderr'; ownerKind?: string; reconcile?: boolean } = {},
): Promise<void> {
  let app: App | undefined;
  let code: number;
  try {
    app = buildApp(process.env, opts);
    if (opts.reconcile !== false) await reconcile(app);
    code = await fn(app);
  } catch (error) {
    const known = error instanceof AirlockError ? error : describeStoreError(error, databasePath(app));
    code = exitCodeFor(known ?? error);
    const message = known ? known.message : `unexpected error: ${messageOf(error)}`;
    const redacted = app ? app.redactor.redact(message) : message;
    process.stderr.write(`airlock: ${redacted}\n`);
    // An expected failure is a sentence, never a stack trace (serve logs to the terminal).
    app?.logger.error(
      known
        ? { err: known.message, code: known.code }
        : { err: error instanceof Error ? { message: error.message, stack: error.stack } : String(error) },
      'command failed',
    );
  } finally {
    try {
      app?.close();
    } catch {
      // Closing a store that failed is best effort; the error above was already said.
    }
  }
  process.exitCode = code;
}

function databasePath(app: App | undefined): string {
  return app ? join(app.dataDir, 'airlock.db') : 'the database in AIRLOCK_DATA_DIR';
}

/** Ends headless runs whose process died; a failure here never stops the command itself. */
async function reconcile(app: App): Promise<void> {
  try {
    const { ended } = await app.lifecycle.reconcile({ adopt: false });
    for (const run of ended) app.logger.warn({ run_id: run.id, err: run.error }, 'run interrupted');
  } catch (error) {
    app.logger.warn({ err: messageOf(error) }, 'could not reconcile runs whose owner is gone');
  }
}

export function buildProgram(): Command {
  const program = new Command('airlock')
    .description('Self-hosted AI coding agent: a task in, a sandboxed agent, an approved diff out.')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('serve')
    .description('the Slack bot: Socket Mode, runs, /healthz /readyz /metrics on AIRLOCK_HTTP_PORT')
    .action(() =>
      withApp((app) => serveCommand(app, process.stderr), { logTo: 'stderr', ownerKind: 'serve' }),
    );

  program
    .command('demo')
    .description(
      'the Slack bot end to end on built-in stand-ins: no accounts, no network (needs the source checkout)',
    )
    .action(() => runDemo());

  program
    .command('run')
    .description('one headless run (CI, cron); progress on stderr')
    .option('--repo <owner/name>', 'repository from airlock.yaml')
    .option('--task <text>', 'what the agent should do')
    .option('--jira <key>', 'a Jira ticket to take the task from')
    .option('--base <ref>', 'branch or commit to start from (default: the repository base)')
    .option('--patch <file>', 'write the diff to this file')
    .option('--push', 'push a branch and open a pull request after confirmation')
    .option('--yes', 'with --push: no confirmation (only where headless_push allows it)')
    .option('--json', 'print the result as JSON on stdout')
    .action((opts) =>
      withApp(
        (app) =>
          runCommand(app, opts, {
            stdout: process.stdout,
            stderr: process.stderr,
            stdinIsTTY: !!process.stdin.isTTY,
          }),
        { ownerKind: 'run' },
      ),
    );

  program
    .command('retry')
    .description('finish a run whose push or pull request failed: same approved bytes, same commit')
    .argument('<run>', 'run id')
    .option('--json', 'print the result as JSON on stdout')
    .action((runId, opts) =>
      withApp(
        (app) =>
          retryCommand(app, runId, opts, {
            stdout: process.stdout,
            stderr: process.stderr,
            stdinIsTTY: !!process.stdin.isTTY,
          }),
        { ownerKind: 'retry' },
      ),
    );

  program
    .command('ask')
    .description('ask about a repository: the agent reads the code read-only and answers on stdout')
    .argument('<question...>', 'the question')
    .option('--repo <owner/name>', 'repository from airlock.yaml')
    .option('--base <ref>', 'branch or commit to read (default: the repository base)')
    .option('--json', 'print the result as JSON on stdout')
    .action((words: string[], opts) =>
      withApp(
        (app) =>
          askCommand(app, words.join(' '), opts, {
            stdout: process.stdout,
            stderr: process.stderr,
            stdinIsTTY: !!process.stdin.isTTY,
          }),
        { ownerKind: 'ask' },
      ),
    );

  program
    .command('review')
    .description('review a pull request read-only; --post posts it as a COMMENT review (never approves)')
    .requiredOption('--repo <owner/name>', 'repository from airlock.yaml')
    .requiredOption('--pr <number>', 'the pull request (merge request) number')
    .option('--post', 'post the review on the pull request')
    .option('--json', 'print the result as JSON on stdout')
    .action((opts) =>
      withApp(
        (app) =>
          reviewCommand(app, opts, { stdout: process.stdout, stderr: process.stderr, stdinIsTTY: false }),
        { ownerKind: 'review' },
      ),
    );

  program
    .command('sweep')
    .description('one task in each of several repositories (CI, cron); exit 0 only if every run is done')
    .requiredOption('--repos <r1,r2,...>', 'repositories from airlock.yaml, comma-separated')
    .requiredOption('--task <text>', 'what the agent should do in each')
    .option('--push', 'push a branch and open a pull request for each (needs --yes)')
    .option('--yes', 'with --push: no confirmation (only where headless_push allows it)')
    .option('--json', 'one JSON object per repository on stdout')
    .action((opts) =>
      withApp(
        (app) =>
          sweepCommand(app, opts, { stdout: process.stdout, stderr: process.stderr, stdinIsTTY: false }),
        { ownerKind: 'sweep' },
      ),
    );

  program
    .command('schedules')
    .description("the policy's schedules with their next and last runs (`airlock serve` runs them)")
    .option('--json', 'as JSON')
    .action((opts) => withApp((app) => schedulesCommand(app, opts, process.stdout)));

  program
    .command('replay')
    .description(
      "re-execute a finished run's tool calls in a fresh sandbox, without the model; exit 0 if its diff comes out the same",
    )
    .argument('<run>', 'run id')
    .option('--json', 'print the result as JSON on stdout')
    .action((runId, opts) =>
      withApp((app) => replayCommand(app, runId, opts, process.stdout, process.stderr), {
        ownerKind: 'replay',
      }),
    );

  program
    .command('prepare')
    .description("build a repository's prepared sandboxes now, at its base branch's head (setup done)")
    .requiredOption('--repo <repo>', 'repository (owner/name) from the policy file')
    .option('--json', 'print the result as JSON on stdout')
    .action((opts) =>
      withApp((app) => prepareCommand(app, opts, process.stdout, process.stderr), { ownerKind: 'prepare' }),
    );

  program
    .command('runs')
    .description('list runs, newest first')
    .option('--limit <n>', 'how many', '20')
    .option('--json', 'as JSON')
    .action((opts) => withApp((app) => runsCommand(app, opts, process.stdout)));

  program
    .command('show')
    .description("one run's events, commands, model turns and diff")
    .argument('<run>', 'run id')
    .option('--json', 'as JSON')
    .action((runId, opts) => withApp((app) => showCommand(app, runId, opts, process.stdout)));

  const audit = program.command('audit').description('the tamper-evident audit log');
  audit
    .command('verify')
    .description('recompute the hash chain and check every run against it; non-zero exit on any break')
    .option(
      '--expect <seq:hash...>',
      'a published checkpoint (`audit checkpoint SEQ:HASH`) that must still be in the chain; repeatable',
    )
    .action((opts: { expect?: string[] }) =>
      // Verification reads the chain as it is: reconciling first would write to what is checked.
      withApp((app) => auditVerifyCommand(app, opts, process.stdout, process.stderr), { reconcile: false }),
    );

  const sandbox = program.command('sandbox').description('the sandbox airlock runs agents in');
  sandbox
    .command('pod-spec')
    .description('print, as YAML, the pod airlock would create for a repository (no cluster needed)')
    .option('--repo <owner/name>', 'repository from airlock.yaml')
    .action((opts) => withApp((app) => podSpecCommand(app, opts, process.stdout)));

  program
    .command('doctor')
    .description('check config, sandbox, model credentials and repository access')
    .action(() => withApp((app) => doctorCommand(app, process.stdout)));

  return program;
}

/** The demo runs from the source checkout (its stand-ins live with the tests), through tsx. */
async function runDemo(): Promise<void> {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const script = join(root, 'scripts', 'demo.ts');
  if (!existsSync(script) || !existsSync(join(root, 'node_modules', 'tsx'))) {
    process.stderr.write(
      'airlock: the demo needs the source checkout with dev dependencies: git clone, npm ci, npx airlock demo.\n',
    );
    process.exitCode = 2;
    return;
  }
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: root, stdio: 'inherit' });
  process.exitCode = await new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
}

export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are not failures; every other parse error is bad usage (exit 2).
      process.exitCode = ['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(
        error.code,
      )
        ? 0
        : 2;
      return;
    }
    throw error;
  }
}

// Also runnable directly (`tsx src/cli.ts`, `node dist/cli.js`), as the tests and the image do.
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  await main(process.argv);
}
