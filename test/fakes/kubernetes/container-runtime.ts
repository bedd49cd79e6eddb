// The "container runtime": each process of a pod (its main command and every exec) runs under
// bubblewrap with the pod's filesystem layout. Host system directories stand in for the image
// (read-only), emptyDir volumes are per-pod host directories bound at their mount paths, there is
// no network (--unshare-all), and each process leads its own process group so killing the pod
// kills all it started. Exec'd processes join the main process's PID namespace (as in a real
// container, where one exec can signal another's process group); that needs root, so without it
// each exec gets its own. UIDs stay the host user's: runAsUser/fsGroup are not emulated.
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, closeSync, constants, lstatSync, openSync, readlinkSync, statSync } from 'node:fs';
import { constants as os } from 'node:os';
import { posix } from 'node:path';

/** Top-level host entries that make up the "image". Everything else is absent from the container. */
const IMAGE_DIRS = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32', 'usr', 'etc', 'opt'];
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface Mount {
  hostPath: string;
  mountPath: string;
  readOnly: boolean;
}
export interface ContainerView {
  mounts: Mount[];
  env: Record<string, string>;
  workingDir: string;
  hostname: string;
  readOnlyRoot: boolean;
}

const under = (p: string, dir: string) => p === dir || p.startsWith(dir === '/' ? '/' : `${dir}/`);

/** Where a path inside the container lives on the host; undefined if only on the container's empty root. */
export function hostPathOf(view: ContainerView, path: string): string | undefined {
  const mount = view.mounts
    .filter((m) => under(path, m.mountPath))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  if (mount) return posix.join(mount.hostPath, path.slice(mount.mountPath.length));
  return IMAGE_DIRS.includes(path.split('/')[1] ?? '') ? path : undefined;
}

function executable(hostPath: string | undefined): 'ok' | 'missing' | 'denied' {
  if (!hostPath) return 'missing';
  try {
    if (!statSync(hostPath).isFile()) return 'denied';
    accessSync(hostPath, constants.X_OK);
    return 'ok';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : 'denied';
  }
}

/** The runtime's (runc's) complaint when the command cannot be started, or undefined if it can. */
export function execProblem(view: ContainerView, command: string[]): string | undefined {
  const cmd = command[0];
  if (!cmd) return 'exec: "": executable file not found in $PATH';
  if (cmd.includes('/')) {
    const abs = posix.resolve(view.workingDir, cmd);
    const found = executable(hostPathOf(view, abs));
    if (found === 'missing') return `exec: "${cmd}": stat ${cmd}: no such file or directory`;
    return found === 'denied' ? `exec: "${cmd}": permission denied` : undefined;
  }
  const dirs = (view.env.PATH ?? DEFAULT_PATH).split(':').filter(Boolean);
  if (dirs.some((d) => executable(hostPathOf(view, posix.join(d, cmd))) === 'ok')) return undefined;
  return `exec: "${cmd}": executable file not found in $PATH`;
}

/** bwrap joins an existing PID namespace only with privileges (unprivileged, its user namespaces nest). */
const CAN_SHARE_PID = process.getuid?.() === 0;

/** `info`: ask bwrap to report the sandbox's init pid on fd 3; `pidns`: join the namespace on fd 3. */
export function bwrapArgs(view: ContainerView, command: string[], fd3?: 'info' | 'pidns'): string[] {
  const args: string[] = [];
  for (const entry of IMAGE_DIRS) {
    const stat = lstatSync(`/${entry}`, { throwIfNoEntry: false });
    if (stat?.isSymbolicLink()) args.push('--symlink', readlinkSync(`/${entry}`), `/${entry}`);
    else if (stat?.isDirectory()) args.push('--ro-bind', `/${entry}`, `/${entry}`);
  }
  args.push('--proc', '/proc', '--dev', '/dev');
  if (!view.mounts.some((m) => m.mountPath === '/tmp')) args.push('--perms', '1777', '--dir', '/tmp');
  const mounts = [...view.mounts].sort((a, b) => a.mountPath.length - b.mountPath.length);
  for (const m of mounts) args.push(m.readOnly ? '--ro-bind' : '--bind', m.hostPath, m.mountPath);
  // A missing working directory is created, as container runtimes do, unless it is inside the image.
  const top = view.workingDir.split('/')[1] ?? '';
  if (top && !IMAGE_DIRS.includes(top)) args.push('--dir', view.workingDir);
  if (view.readOnlyRoot) args.push('--remount-ro', '/');
  if (fd3 === 'pidns')
    args.push('--unshare-ipc', '--unshare-net', '--unshare-uts', '--unshare-cgroup-try', '--pidns', '3');
  else args.push('--unshare-all');
  if (fd3 === 'info') args.push('--info-fd', '3');
  // A process joining the PID namespace dies with its init; bwrap's parent-death signal there would
  // race the intermediate process it forks to enter the namespace, and kill the command early.
  if (fd3 !== 'pidns') args.push('--die-with-parent');
  args.push('--new-session', '--hostname', view.hostname.slice(0, 63), '--clearenv');
  for (const [k, v] of Object.entries(view.env)) args.push('--setenv', k, v);
  args.push('--chdir', view.workingDir, '--', ...command);
  return args;
}

/** A container's PID-namespace init, identified by pid and namespace (pids get reused). */
export interface SandboxInit {
  pid: number;
  pidNs: string;
}

function isAlive(init: SandboxInit): boolean {
  try {
    return readlinkSync(`/proc/${init.pid}/ns/pid`) === init.pidNs;
  } catch {
    return false;
  }
}

/** The container's main process; `ready` resolves with its PID namespace's init once it exists. */
export function spawnMain(
  view: ContainerView,
  command: string[],
): { child: ChildProcess; ready: Promise<SandboxInit> } {
  const child = spawn('bwrap', bwrapArgs(view, command, 'info'), {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
  });
  const info = child.stdio[3];
  const ready = new Promise<SandboxInit>((resolve, reject) => {
    let text = '';
    info?.on('data', (b: Buffer) => {
      text += b.toString('utf8');
      const m = /"child-pid":\s*(\d+)/.exec(text);
      if (!m) return;
      const pid = Number(m[1]);
      try {
        resolve({ pid, pidNs: readlinkSync(`/proc/${pid}/ns/pid`) });
      } catch {
        reject(new Error('the container exited as it started'));
      }
    });
    child.on('close', () => reject(new Error('the container exited before it started')));
    child.on('error', reject);
  });
  ready.catch(() => {});
  return { child, ready };
}

/** An exec'd process: in the container's PID namespace when `init` is given and that is allowed. */
export function spawnExec(
  view: ContainerView,
  command: string[],
  stdin: boolean,
  init?: SandboxInit,
): ChildProcess {
  let nsFd: number | undefined;
  if (CAN_SHARE_PID && init && isAlive(init)) {
    try {
      nsFd = openSync(`/proc/${init.pid}/ns/pid`, 'r');
    } catch {
      // The container is going away; the process starts in its own namespace and is killed with it.
    }
  }
  const child = spawn('bwrap', bwrapArgs(view, command, nsFd === undefined ? undefined : 'pidns'), {
    detached: true,
    stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe', ...(nsFd === undefined ? [] : [nsFd])],
  });
  if (nsFd !== undefined) closeSync(nsFd);
  return child;
}

/**
 * Kills a container's PID namespace through its init, which takes every process in it along.
 * (Killing bwrap alone relies on its parent-death signal, which the sandbox may not have set yet.)
 */
export function killSandbox(init: SandboxInit): void {
  if (!isAlive(init)) return;
  try {
    process.kill(init.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** SIGKILL to the process group; bwrap's --die-with-parent takes the sandbox's processes with it. */
export function killProcess(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

/** A shell-style exit status: the code, or 128 + the signal number. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (os.signals[signal] ?? 0) : 0);
}
