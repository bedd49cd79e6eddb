import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { inject } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/**
 * How the CLI starts: the copy of src/ the suite's global setup compiled (test/setup/compile-cli.ts)
 * under plain node, or else the source through tsx.
 */
function cliCommand(): string[] {
  const compiled = inject('airlockCli');
  if (compiled) return ['--enable-source-maps', compiled];
  return ['--import', 'tsx', `${ROOT}src/cli.ts`];
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts the real CLI (the current source) as a child process with exactly `env`. */
export function startCli(args: string[], env: Record<string, string>, opts: { input?: string } = {}) {
  const child = spawn(process.execPath, [...cliCommand(), ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c) => {
    stdout += c;
  });
  child.stderr.on('data', (c) => {
    stderr += c;
  });
  child.stdin.end(opts.input ?? '');
  const result = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { child, result, output: () => ({ stdout, stderr }) };
}

/** Runs the real CLI to completion. */
export function runCli(
  args: string[],
  env: Record<string, string>,
  opts: { input?: string } = {},
): Promise<CliResult> {
  return startCli(args, env, opts).result;
}
