import { PROXY_ENV_NAMES } from '../config/egress-proxy.js';
import { AirlockError } from '../errors.js';
import { directSpawn, type Spawn } from '../shared/process-spawner.js';

export interface GitOptions {
  cwd: string;
  /** An HTTP header for this one command (e.g. Authorization), passed through the environment. */
  extraHeader?: string;
  input?: string | Buffer;
  env?: Record<string, string>;
  /** How git is started (a long-lived process uses its spawner). */
  spawn?: Spawn;
}

/**
 * Runs git on the airlock side (mirrors, pushes). A credential goes in as http.extraHeader
 * through GIT_CONFIG_* variables: never on the command line (visible in ps), in a URL, or in a
 * config file. Prompts are off so a missing credential fails instead of hanging.
 */
export function git(args: string[], opts: GitOptions): Promise<{ stdout: Buffer; stderr: string }> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    GIT_TERMINAL_PROMPT: '0',
    GIT_ASKPASS: '/bin/false',
    GIT_CONFIG_NOSYSTEM: '1',
    LANG: 'C',
    ...Object.fromEntries(PROXY_ENV_NAMES.flatMap((k) => (process.env[k] ? [[k, process.env[k]]] : []))),
    ...opts.env,
  };
  if (opts.extraHeader) {
    env.GIT_CONFIG_COUNT = '1';
    env.GIT_CONFIG_KEY_0 = 'http.extraHeader';
    env.GIT_CONFIG_VALUE_0 = opts.extraHeader;
  }
  return new Promise((resolve, reject) => {
    const child = (opts.spawn ?? directSpawn)('git', args, { cwd: opts.cwd, env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.stdin?.on('error', () => {});
    child.stdin?.end(opts.input ?? '');
    child.on('error', (e) => reject(new AirlockError('git_failed', `Cannot run git: ${e.message}`)));
    child.on('close', (code) => {
      const stderr = Buffer.concat(err).toString();
      if (code === 0) resolve({ stdout: Buffer.concat(out), stderr });
      else {
        // Porcelain output (push) puts the per-ref reason on stdout.
        const detail = [stderr.trim(), Buffer.concat(out).toString().trim()].filter(Boolean).join('\n');
        reject(new AirlockError('git_failed', `git ${args[0]} failed: ${explain(detail) || `exit ${code}`}`));
      }
    });
  });
}

export async function gitText(args: string[], opts: GitOptions): Promise<string> {
  return (await git(args, opts)).stdout.toString().trim();
}

/** git's own words for a refused credential are about prompts; say what it means. */
function explain(detail: string): string {
  if (/could not read (Username|Password)|Authentication failed|returned error: 40[13]/.test(detail)) {
    return 'the remote refused the request: the credential is missing, wrong, or lacks access to this repository (check GITHUB_TOKEN).';
  }
  return detail;
}
