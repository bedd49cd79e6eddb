import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, readlinkSync } from 'node:fs';

/** Where a local sandbox's pieces are on the host, and the paths to hide from commands. */
export interface BwrapLayout {
  workspace: string;
  home: string;
  tmp: string;
  hide: string[];
}

export const SANDBOX_WORKDIR = '/workspace';
export const SANDBOX_HOME = '/home/airlock';

/** Top-level host entries that are never bound in: they are replaced or hold secrets. */
const SKIP_TOP = new Set([
  'proc',
  'dev',
  'sys',
  'tmp',
  'run',
  'home',
  'root',
  'workspace',
  'mnt',
  'media',
  'lost+found',
]);

export function bubblewrapWorks(): boolean {
  const probe = spawnSync('bwrap', ['--ro-bind', '/', '/', '--unshare-all', '--die-with-parent', 'true'], {
    stdio: 'ignore',
    timeout: 10_000,
  });
  return probe.status === 0;
}

/**
 * bwrap arguments: the host's system directories read-only, the workspace read-write at
 * /workspace, a private /tmp and home, no network (--unshare-all), an empty environment.
 */
export function bwrapArgs(layout: BwrapLayout, env: Record<string, string>, cwd: string): string[] {
  const args: string[] = [];
  for (const entry of readdirSync('/')) {
    if (SKIP_TOP.has(entry)) continue;
    const path = `/${entry}`;
    const stat = lstatSync(path, { throwIfNoEntry: false });
    if (!stat) continue;
    if (stat.isSymbolicLink()) args.push('--symlink', readlinkSync(path), path);
    else if (stat.isDirectory()) args.push('--ro-bind', path, path);
  }
  args.push('--proc', '/proc', '--dev', '/dev');
  args.push('--tmpfs', '/home', '--tmpfs', '/root', '--tmpfs', '/run');
  args.push('--bind', layout.tmp, '/tmp', '--bind', layout.home, SANDBOX_HOME);
  args.push('--bind', layout.workspace, SANDBOX_WORKDIR);
  for (const path of layout.hide) {
    if (!existsSync(path)) continue;
    if (lstatSync(path).isDirectory()) args.push('--tmpfs', path);
    else args.push('--ro-bind', '/dev/null', path);
  }
  args.push('--unshare-all', '--die-with-parent', '--new-session', '--clearenv');
  for (const [key, value] of Object.entries(env)) args.push('--setenv', key, value);
  args.push('--chdir', cwd);
  return args;
}
