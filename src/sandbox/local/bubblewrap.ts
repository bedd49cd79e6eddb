import { spawnSync } from 'node:child_process';
import {
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { BRIDGE_NODE, BRIDGE_PORT, BRIDGE_SCRIPT, BRIDGE_SOCKET } from './egress-bridge.js';
import type { SandboxIdentity } from './sandbox-identity.js';

/** Where a local sandbox's pieces are on the host, and what the policy adds or masks. */
export interface BwrapLayout {
  workspace: string;
  home: string;
  tmp: string;
  /** Synthetic account files written by airlock into the sandbox's own directory. */
  passwd: string;
  group: string;
  hosts: string;
  /** The policy's `sandbox.local.bind`: extra host paths, bound read-only at the same path. */
  bind: string[];
  /** Paths masked (empty) wherever a bound directory would show them: the policy's `hide`, the data dir. */
  hide: string[];
  /** The egress gateway's route: its socket, the bridge program and a node binary to run it. */
  egress?: { socket: string; bridge: string; node: string };
}

export const SANDBOX_WORKDIR = '/workspace';
export const SANDBOX_HOME = '/home/airlock';
/** The sandbox's /etc/hosts: names for its own loopback, where the egress gateway is reached. */
export const LOCAL_HOSTS = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n';

/**
 * The toolchain's directories, bound read-only; on merged-usr systems /bin, /sbin and /lib* are
 * symbolic links into /usr, recreated as links. /usr/local is inside /usr.
 */
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib64', '/lib32', '/libx32'];

/**
 * The parts of /etc a toolchain reads, each harmless to show. Left out on purpose: passwd, group,
 * shadow, hosts (synthetic files replace passwd, group and hosts), resolv.conf (no network inside,
 * and it names internal servers), gitconfig, npmrc and pip.conf (they can hold credentials: a
 * credential helper, a registry token, an index URL with a password), ssl/private, machine-id.
 */
const ETC_FILES = [
  '/etc/alternatives', // Debian's /usr/bin/awk, editor, java… are links through here
  '/etc/ld.so.cache', // the dynamic linker's library index
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/ssl/certs', // CA bundle: git, curl, pip and node over TLS through the egress gateway
  '/etc/ssl/openssl.cnf', // libssl reads it at start-up
  '/etc/ca-certificates', // Debian's CA configuration
  '/etc/ca-certificates.conf',
  '/etc/pki/tls/certs', // the same on Fedora/RHEL
  '/etc/pki/tls/openssl.cnf',
  '/etc/pki/ca-trust/extracted',
  '/etc/nsswitch.conf', // how glibc looks names up: files, so the synthetic passwd answers
  '/etc/localtime', // time zone for date, git and logs
  '/etc/timezone',
  '/etc/os-release', // tools that check the distribution (pip wheels, node-gyp)
  '/etc/debian_version',
  '/etc/protocols', // getprotobyname, getservbyname
  '/etc/services',
  '/etc/bash.bashrc', // bash's system configuration
  '/etc/inputrc',
  '/etc/perl', // Debian perl's @INC (git add -p, git send-email are perl)
];

/** /etc directories named with a version: python's sitecustomize, the JDK's configuration. */
const ETC_VERSIONED = /^(python3(\.\d+)?|java-\d+-openjdk)$/;

/** Capabilities the privileged bwrap keeps for setpriv, which drops them with the uid. */
const SETPRIV_CAPS = ['CAP_SETUID', 'CAP_SETGID', 'CAP_SETPCAP'];
const SETPRIV_PATHS = ['/usr/bin/setpriv', '/bin/setpriv', '/usr/sbin/setpriv', '/sbin/setpriv'];

/** How long the probe may take: bwrap starts in milliseconds, a hung one must not hold start-up. */
const PROBE_TIMEOUT_MS = 10_000;

/** The host paths commands can see, each read-only, in bwrap's order. For the report and for `hide`. */
export function visibleRoots(bind: string[]): string[] {
  return [...systemEntries().map((e) => e.path), ...etcEntries(), ...bind];
}

function systemEntries(): Array<{ path: string; link?: string }> {
  const found: Array<{ path: string; link?: string }> = [];
  for (const path of SYSTEM_DIRS) {
    const stat = lstatSync(path, { throwIfNoEntry: false });
    if (stat?.isSymbolicLink()) found.push({ path, link: readlinkSync(path) });
    else if (stat?.isDirectory()) found.push({ path });
  }
  return found;
}

function etcEntries(): string[] {
  const versioned = readdirSync('/etc')
    .filter((name) => ETC_VERSIONED.test(name))
    .map((name) => `/etc/${name}`);
  return [...ETC_FILES, ...versioned].filter((path) => existsSync(path));
}

function setprivPath(): string | undefined {
  return SETPRIV_PATHS.find((path) => existsSync(path));
}

/**
 * The bwrap command line. Nothing of the host but the allow-list above, the policy's binds, the
 * synthetic account files, the workspace at /workspace, a private home and /tmp, fresh /proc and
 * /dev; no network; an empty environment but `env`; the root read-only. As root, bwrap runs
 * privileged without a user namespace and setpriv drops the command to the sandbox's uid and gid
 * with no capabilities; otherwise bwrap runs as airlock in a user namespace that maps only airlock's
 * own ids. Either way the command's uid is a real, unprivileged uid on the host.
 */
export function bwrapCommand(
  layout: BwrapLayout,
  id: SandboxIdentity,
  env: Record<string, string>,
  cwd: string,
  command: string[],
  opts: { readOnly?: boolean } = {},
): string[] {
  let mounts = mountsOf.get(layout);
  if (!mounts) {
    mounts = mountArgs(layout, id);
    mountsOf.set(layout, mounts);
  }
  if (opts.readOnly) mounts = readOnlyWorkspace(mounts, layout);
  const args = [...mounts, '--die-with-parent', '--new-session', '--clearenv'];
  for (const [key, value] of Object.entries(env)) args.push('--setenv', key, value);
  args.push('--chdir', cwd);
  // With a gateway the bridge runs first (as the sandbox's uid) and starts the command itself.
  const bridged = layout.egress
    ? [BRIDGE_NODE, BRIDGE_SCRIPT, String(BRIDGE_PORT), BRIDGE_SOCKET, ...command]
    : command;
  return [...args, '--', ...dropTo(id), ...bridged];
}

/** The same mounts with the workspace bound read-only (ask and review modes). */
function readOnlyWorkspace(mounts: string[], layout: BwrapLayout): string[] {
  const out = [...mounts];
  for (let i = 0; i + 2 < out.length; i++)
    if (out[i] === '--bind' && out[i + 1] === layout.workspace && out[i + 2] === SANDBOX_WORKDIR) {
      out[i] = '--ro-bind';
      return out;
    }
  throw new Error('the workspace mount was not found');
}

/**
 * A sandbox's mounts and namespaces, worked out once per layout (a sandbox's commands all share
 * it, and one identity per provider): the host lookups behind them (lstat, readdir of /etc) cost
 * loop time a burst of commands cannot spare (issue 12).
 */
const mountsOf = new WeakMap<BwrapLayout, string[]>();

function mountArgs(layout: BwrapLayout, id: SandboxIdentity): string[] {
  const roots = visibleRoots(layout.bind);
  const args: string[] = [];
  // bwrap makes the parents of its mount points 0700 when it runs as root: make them searchable first.
  const mountPoints = [
    ...roots,
    SANDBOX_HOME,
    '/var/tmp',
    '/etc/passwd',
    ...(layout.egress ? [BRIDGE_SCRIPT] : []),
  ];
  for (const dir of parentsToMake(mountPoints, roots)) {
    args.push('--perms', '0755', '--dir', dir);
  }
  for (const { path, link } of systemEntries()) {
    if (link !== undefined) args.push('--symlink', link, path);
    else args.push('--ro-bind', path, path);
  }
  for (const path of etcEntries()) args.push('--ro-bind', path, path);
  args.push('--symlink', '../proc/self/mounts', '/etc/mtab');
  for (const path of layout.bind) args.push('--ro-bind-try', path, path);
  args.push('--ro-bind', layout.passwd, '/etc/passwd', '--ro-bind', layout.group, '/etc/group');
  args.push('--ro-bind', layout.hosts, '/etc/hosts');
  for (const path of layout.hide) {
    if (!roots.some((root) => isInside(path, root)) || !existsSync(path)) continue;
    if (lstatSync(path).isDirectory()) args.push('--tmpfs', path);
    else args.push('--ro-bind', '/dev/null', path);
  }
  args.push('--proc', '/proc', '--dev', '/dev');
  args.push('--bind', layout.tmp, '/tmp');
  // Tools that write to /var/tmp get the private /tmp, unless the policy binds something there.
  if (!layout.bind.some((path) => isInside(path, '/var/tmp') || isInside('/var/tmp', path))) {
    args.push('--symlink', '../tmp', '/var/tmp');
  }
  args.push('--bind', layout.home, SANDBOX_HOME, '--bind', layout.workspace, SANDBOX_WORKDIR);
  if (layout.egress) {
    args.push('--ro-bind', layout.egress.node, BRIDGE_NODE, '--ro-bind', layout.egress.bridge, BRIDGE_SCRIPT);
    args.push('--bind', layout.egress.socket, BRIDGE_SOCKET);
  }
  // Not recursive: the root tmpfs (and the directories bwrap made in it) only.
  args.push('--remount-ro', '/');
  if (id.fromRoot) {
    // No user namespace: one would map the command's uid to root on the host.
    args.push('--unshare-ipc', '--unshare-pid', '--unshare-net', '--unshare-uts', '--unshare-cgroup-try');
    for (const cap of SETPRIV_CAPS) args.push('--cap-add', cap);
  } else {
    args.push('--unshare-all');
  }
  return args;
}

/** setpriv's arguments when airlock is root: the uid, the gid, no groups, no capabilities at all. */
function dropTo(id: SandboxIdentity): string[] {
  if (!id.fromRoot) return [];
  return [
    setprivPath() ?? 'setpriv',
    `--reuid=${id.uid}`,
    `--regid=${id.gid}`,
    '--clear-groups',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--',
  ];
}

/** The ancestors of the mount points that no bound directory provides, parents before children. */
function parentsToMake(destinations: string[], roots: string[]): string[] {
  const dirs = new Set<string>();
  for (const dest of destinations) {
    for (let dir = dirname(dest); dir !== '/'; dir = dirname(dir)) {
      if (!roots.some((root) => isInside(dir, root))) dirs.add(dir);
    }
  }
  return [...dirs].sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
}

function isInside(path: string, root: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith('/'));
}

/**
 * Starts a sandbox exactly as commands will run — the same binds, the same uid drop — and checks
 * that the command is the sandbox's uid and gid and can write its workspace. Returns why not, for
 * the operator, or undefined when bubblewrap works.
 */
export function bubblewrapProblem(id: SandboxIdentity, bind: string[]): string | undefined {
  if (id.fromRoot && !setprivPath()) {
    return 'airlock runs as root and setpriv (util-linux) is not installed; it drops sandbox commands to an unprivileged uid. Install util-linux.';
  }
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bwrap-probe-'));
  try {
    const layout: BwrapLayout = {
      workspace: join(dir, 'ws'),
      home: join(dir, 'home'),
      tmp: join(dir, 'tmp'),
      passwd: join(dir, 'passwd'),
      group: join(dir, 'group'),
      hosts: join(dir, 'hosts'),
      bind,
      hide: [],
    };
    for (const sub of [layout.workspace, layout.home, layout.tmp]) {
      mkdirSync(sub);
      if (id.fromRoot) chownSync(sub, id.uid, id.gid);
    }
    writeFileSync(layout.passwd, `airlock:x:${id.uid}:${id.gid}::${SANDBOX_HOME}:/bin/sh\n`);
    writeFileSync(layout.group, `airlock:x:${id.gid}:\n`);
    writeFileSync(layout.hosts, LOCAL_HOSTS);
    const script = 'touch /workspace/probe && echo "$(id -u):$(id -g)"';
    const probe = spawnSync(
      'bwrap',
      bwrapCommand(layout, id, { PATH: '/usr/bin:/bin' }, SANDBOX_WORKDIR, ['sh', '-c', script]),
      { encoding: 'utf8', timeout: PROBE_TIMEOUT_MS, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } },
    );
    if ((probe.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
      return 'bwrap is not installed (apt-get install bubblewrap).';
    }
    if (probe.status !== 0) {
      const said = (probe.stderr || probe.error?.message || `exit ${probe.status}`).trim().split('\n')[0];
      const hint = /permi|namespace|capabilit/i.test(said ?? '')
        ? ` ${id.fromRoot ? ROOT_HINT : USERNS_HINT}`
        : '';
      return `bwrap could not start a sandbox as uid ${id.uid}: ${said}.${hint}`;
    }
    if (probe.stdout.trim() !== `${id.uid}:${id.gid}`) {
      return `a sandbox command ran as ${probe.stdout.trim()}, not as ${id.uid}:${id.gid}.`;
    }
    return undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ROOT_HINT =
  'airlock runs as root, so bwrap mounts without a user namespace and needs CAP_SYS_ADMIN ' +
  '(in a container: allow mount, e.g. --cap-add SYS_ADMIN with a seccomp/AppArmor profile that permits it).';
const USERNS_HINT =
  'bwrap needs unprivileged user namespaces: sysctl user.max_user_namespaces > 0, ' +
  'kernel.unprivileged_userns_clone=1 where it exists, kernel.apparmor_restrict_unprivileged_userns=0 on Ubuntu.';
