import { constants, mkdirSync } from 'node:fs';
import { chown, lchown, lstat, mkdir, open, readFile, realpath, rename, rm, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { type EgressRoutes, proxyEnv } from '../../egress/egress-routes.js';
import { AirlockError } from '../../errors.js';
import {
  DEFAULT_MAX_OUTPUT_BYTES,
  type ExecOptions,
  type ExecResult,
  type Sandbox,
  type SandboxProvider,
  type SandboxSpec,
} from '../../runs/ports/sandbox.js';
import { diffAgainst } from '../../runs/workspace-git.js';
import { directSpawn, type Spawn } from '../../shared/process-spawner.js';
import { commandEnv } from '../command-env.js';
import { cancelledBeforeStart } from '../not-started.js';
import { OutputCapture } from '../output-capture.js';
import {
  type BwrapLayout,
  bubblewrapProblem,
  bwrapCommand,
  SANDBOX_HOME,
  SANDBOX_WORKDIR,
} from './bubblewrap.js';
import { BRIDGE_PROXY_URL, writeBridge } from './egress-bridge.js';
import { adoptTree, type SandboxIdentity, sandboxIdentity, writeEtcFiles } from './sandbox-identity.js';

const NONE_WARNING =
  'WARNING: sandbox.local.isolation is none, so local sandbox commands run as plain processes with network ' +
  'access and the host filesystem visible. Use isolation: auto or bubblewrap, or AIRLOCK_SANDBOX=kubernetes.';

export type LocalIsolation = 'auto' | 'bubblewrap' | 'none';

const NO_BWRAP_WARNING =
  'WARNING: bubblewrap (bwrap) is not available, so local sandbox commands run as plain processes ' +
  'with network access and the host filesystem visible. Install bubblewrap (apt-get install bubblewrap) ' +
  'or use AIRLOCK_SANDBOX=kubernetes for isolation.';

/**
 * Masked even though /usr is bound: where locally installed software keeps its configuration, and
 * so a likely home for an airlock.yaml and the .env beside it.
 */
const ALWAYS_HIDDEN = ['/usr/local/etc'];

/** The policy's `sandbox.local` settings, as the provider takes them. */
export interface LocalSandboxOptions {
  isolation?: LocalIsolation;
  /** Host paths masked wherever a bound directory would show them (the data directory always is). */
  hide?: string[];
  /** Extra host paths bound read-only at the same path; the data directory may not be among them. */
  bind?: string[];
  uid?: number;
  gid?: number;
  /** The egress gateway: each sandbox reaches the network only through it (DESIGN.md §4). */
  egress?: EgressRoutes;
  /** How commands are started: a long-lived process keeps its own forks off its event loop. */
  spawn?: Spawn;
}

export class LocalSandboxProvider implements SandboxProvider {
  readonly kind = 'local' as const;
  readonly warning?: string;
  private readonly useBwrap: boolean;
  private readonly identity: SandboxIdentity;
  private readonly dataDir: string;
  /** Each open sandbox's route to the gateway, made once per sandbox and process. */
  private readonly routes = new Map<string, Promise<Route>>();
  private bridge?: string;

  constructor(
    private readonly root: string,
    private readonly opts: LocalSandboxOptions = {},
  ) {
    const isolation = opts.isolation ?? 'auto';
    this.dataDir = resolve(root, '..');
    // Without bubblewrap commands run as airlock itself, so a uid in the policy has nothing to apply to.
    this.identity = sandboxIdentity(isolation === 'none' ? {} : opts);
    for (const path of opts.bind ?? []) refuseDataDirBind(path, this.dataDir);
    const problem = isolation === 'none' ? undefined : bubblewrapProblem(this.identity, opts.bind ?? []);
    if (isolation === 'bubblewrap' && problem) {
      throw new AirlockError(
        'sandbox_failed',
        `sandbox.local.isolation is bubblewrap but bubblewrap does not work here: ${problem}`,
      );
    }
    this.useBwrap = isolation !== 'none' && !problem;
    if (isolation === 'none') this.warning = NONE_WARNING;
    else if (problem) this.warning = `${NO_BWRAP_WARNING} Why: ${problem}`;
  }

  get isolated(): boolean {
    return this.useBwrap;
  }

  async create(runId: string, spec?: SandboxSpec): Promise<Sandbox> {
    // Refused before anything is made: without bubblewrap nothing could keep the workspace read-only.
    if (spec?.readOnly && !this.useBwrap)
      throw new AirlockError(
        'sandbox_failed',
        'Ask and review runs need the local sandbox isolated with bubblewrap (it mounts the workspace read-only); without it nothing could. Install bubblewrap, or use the kubernetes backend.',
      );
    const dir = this.dirFor(runId);
    await rm(dir, { recursive: true, force: true });
    for (const sub of ['ws', 'home', 'tmp']) {
      await mkdir(join(dir, sub), { recursive: true });
      if (this.owner) await chown(join(dir, sub), this.owner.uid, this.owner.gid);
    }
    return this.open(runId, dir);
  }

  async attach(runId: string): Promise<Sandbox | undefined> {
    const dir = this.dirFor(runId);
    const found = await stat(join(dir, 'ws')).catch(() => undefined);
    if (!found?.isDirectory()) return undefined;
    // A sandbox made before commands dropped to this uid (or under another policy uid) is handed over.
    const owner = this.owner;
    if (owner && (found.uid !== owner.uid || found.gid !== owner.gid)) {
      for (const sub of ['ws', 'home', 'tmp']) await adoptTree(join(dir, sub), owner);
    }
    return this.open(runId, dir);
  }

  /** A prepared workspace becomes the run's by a rename: one directory entry, whatever its size. */
  async adopt(preparedId: string, runId: string): Promise<Sandbox | undefined> {
    const from = this.dirFor(preparedId);
    const to = this.dirFor(runId);
    const found = await stat(join(from, 'ws')).catch(() => undefined);
    if (!found?.isDirectory()) return undefined;
    await rm(to, { recursive: true, force: true });
    await rename(from, to);
    const route = this.routes.get(preparedId);
    if (route) {
      this.routes.delete(preparedId);
      this.routes.set(runId, route);
      this.opts.egress?.rekey(preparedId, runId);
    }
    return this.attach(runId);
  }

  /** The owner of the sandbox's files when airlock is root and commands run as another uid. */
  private get owner(): SandboxIdentity | undefined {
    return this.useBwrap && this.identity.fromRoot ? this.identity : undefined;
  }

  private dirFor(runId: string): string {
    if (!/^[\w-]+$/.test(runId)) throw new AirlockError('sandbox_failed', `bad run id ${runId}`);
    return resolve(this.root, runId);
  }

  /** The sandbox's way to the gateway: a socket bridged inside, or (unisolated) a loopback port. */
  private route(key: string): Promise<Route> | undefined {
    const egress = this.opts.egress;
    if (!egress) return undefined;
    let route = this.routes.get(key);
    if (!route) {
      route = this.useBwrap
        ? egress.socketFor(key).then((socket) => ({ socket }))
        : egress.portFor(key).then((port) => ({ url: `http://127.0.0.1:${port}` }));
      this.routes.set(key, route);
    }
    return route;
  }

  private async release(key: string): Promise<void> {
    if (!this.routes.delete(key)) return;
    await this.opts.egress?.release(key);
  }

  private async open(runId: string, dir: string): Promise<LocalSandbox> {
    const route = await this.route(runId);
    const release = () => this.release(runId);
    const spawn = this.opts.spawn;
    if (!this.useBwrap)
      return new LocalSandbox(runId, dir, undefined, { proxyUrl: route?.url, release }, spawn);
    const files = await writeEtcFiles(dir, this.identity);
    const layout: BwrapLayout = {
      workspace: join(dir, 'ws'),
      home: join(dir, 'home'),
      tmp: join(dir, 'tmp'),
      ...files,
      bind: this.opts.bind ?? [],
      hide: [this.dataDir, ...ALWAYS_HIDDEN, ...(this.opts.hide ?? [])],
      egress: route?.socket
        ? { socket: route.socket, bridge: this.bridgePath(), node: process.execPath }
        : undefined,
    };
    const network = { proxyUrl: route?.socket ? BRIDGE_PROXY_URL : undefined, release };
    return new LocalSandbox(
      runId,
      dir,
      { layout, identity: this.identity, owner: this.owner },
      network,
      spawn,
    );
  }

  private bridgePath(): string {
    if (!this.bridge) {
      mkdirSync(this.root, { recursive: true });
      this.bridge = writeBridge(this.root);
    }
    return this.bridge;
  }
}

/** How one sandbox reaches the gateway. */
type Route = { socket?: string; url?: string };

/** The sandbox's side of its route: the proxy its commands are told, and how to close the route. */
interface SandboxNetwork {
  proxyUrl?: string;
  release(): Promise<void>;
}

/** A bind that shows the data directory (or lies in it) would undo the point of the allow-list. */
function refuseDataDirBind(path: string, dataDir: string): void {
  const inside = (a: string, b: string) => {
    const rel = relative(b, a);
    return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
  };
  if (!isAbsolute(path) || resolve(path) === '/' || inside(dataDir, path) || inside(path, dataDir)) {
    throw new AirlockError(
      'config_invalid',
      `sandbox.local.bind entry ${path} is not allowed: binds are absolute paths other than /, ` +
        `and never the data directory ${dataDir} or a folder holding it.`,
    );
  }
}

/** How a bubblewrapped sandbox runs: its host layout, the identity commands take, who owns its files. */
interface BwrapSetup {
  layout: BwrapLayout;
  identity: SandboxIdentity;
  owner?: SandboxIdentity;
}

export class LocalSandbox implements Sandbox {
  readonly workdir: string;
  private readonly ws: string;

  constructor(
    readonly runId: string,
    private readonly dir: string,
    private readonly bwrap?: BwrapSetup,
    private readonly network?: SandboxNetwork,
    private readonly spawn: Spawn = directSpawn,
  ) {
    this.ws = join(dir, 'ws');
    this.workdir = bwrap ? SANDBOX_WORKDIR : this.ws;
  }

  /** async, so a refused cwd is a rejected promise like every other failure, never a synchronous throw. */
  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const cwd = this.resolveInside(opts.cwd ?? this.workdir);
    if (opts.signal?.aborted) return cancelledBeforeStart();
    if (opts.readOnly && !this.bwrap)
      throw new AirlockError(
        'sandbox_failed',
        'A read-only run (ask, review) needs the local sandbox isolated with bubblewrap, which makes the workspace read-only; without isolation nothing could. Install bubblewrap, or use the kubernetes backend.',
      );
    if (!this.bwrap) {
      const env = this.withProxy(commandEnv(join(this.dir, 'home'), join(this.dir, 'tmp')));
      return runProcess(this.spawn, 'bash', ['-c', command], { cwd: cwd.host, env }, opts);
    }
    const env = this.withProxy(commandEnv(SANDBOX_HOME, '/tmp'));
    const { layout, identity } = this.bwrap;
    const args = [
      '--info-fd',
      '3',
      ...bwrapCommand(layout, identity, env, cwd.inner, ['bash', '-c', command], { readOnly: opts.readOnly }),
    ];
    return runProcess(this.spawn, 'bwrap', args, { cwd: this.ws, env: { PATH: env.PATH } }, opts, true);
  }

  private withProxy(env: Record<string, string>): Record<string, string> {
    return this.network?.proxyUrl ? { ...env, ...proxyEnv(this.network.proxyUrl) } : env;
  }

  async readFile(path: string): Promise<Buffer> {
    const { host } = this.resolveInside(path);
    await this.assertNoEscape(host);
    return readFile(host);
  }

  async writeFile(path: string, data: Buffer | string): Promise<void> {
    const { host } = this.resolveInside(path);
    // Check the deepest existing ancestor before creating anything, so a refused write
    // through a symlinked directory leaves nothing behind outside the workspace.
    await this.assertNoEscape(await deepestExisting(dirname(host)));
    const firstMade = await mkdir(dirname(host), { recursive: true });
    const owner = this.bwrap?.owner;
    if (owner && firstMade) {
      // Directories airlock made (as root) belong to the sandbox user, who must be able to write in them.
      for (let made = dirname(host); ; made = dirname(made)) {
        await lchown(made, owner.uid, owner.gid);
        if (made === firstMade || made === dirname(made)) break;
      }
    }
    let target = host;
    const link = await lstat(host).catch(() => undefined);
    if (link?.isSymbolicLink()) {
      // Follow a link only to an existing file inside the workspace; a dangling one could
      // otherwise create a file anywhere on the host.
      const real = await realpath(host).catch(() => undefined);
      if (!real)
        throw new AirlockError(
          'sandbox_failed',
          `${path} is a symbolic link to nothing; refusing to write through it`,
        );
      await this.assertNoEscape(real);
      target = real;
    }
    const handle = await open(
      target,
      constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW,
      0o644,
    );
    try {
      // A file airlock made as root goes to the sandbox user, who must be able to change it.
      if (owner && (await handle.stat()).uid !== owner.uid) await handle.chown(owner.uid, owner.gid);
      await handle.writeFile(data);
    } finally {
      await handle.close();
    }
  }

  /** Unpacks with tar inside the sandbox, as the Kubernetes backend does over exec stdin. */
  async putTree(stream: NodeJS.ReadableStream): Promise<void> {
    const result = await this.exec('tar -x --no-same-owner -f -', { stdin: stream, timeoutMs: 600_000 });
    if (result.exitCode !== 0) {
      throw new AirlockError(
        'sandbox_failed',
        `Could not unpack the snapshot: ${result.stderr.toString().trim()}`,
      );
    }
  }

  diff(snapshotCommit: string): Promise<Buffer> {
    return diffAgainst(this, snapshotCommit);
  }

  async destroy(): Promise<void> {
    await this.network?.release();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Maps a path as the agent sees it to the host; refuses anything outside the workspace. */
  private resolveInside(path: string): { inner: string; host: string } {
    const inner = isAbsolute(path) ? resolve(path) : resolve(this.workdir, path);
    const rel = relative(this.workdir, inner);
    if (rel.startsWith('..') || isAbsolute(rel)) {
      throw new AirlockError('sandbox_failed', `${path} is outside the workspace ${this.workdir}`);
    }
    return { inner, host: join(this.ws, rel) };
  }

  /** A symlink inside the workspace must not lead a read or write outside it. */
  private async assertNoEscape(host: string): Promise<void> {
    const real = await realpath(host).catch(() => undefined);
    if (!real) return;
    const wsReal = await realpath(this.ws);
    const rel = relative(wsReal, real);
    if (rel.startsWith('..') || isAbsolute(rel)) {
      throw new AirlockError(
        'sandbox_failed',
        'that path leads outside the workspace through a symbolic link',
      );
    }
  }
}

/** `infoFd`: the command is bwrap told to report its sandbox on fd 3 (--info-fd 3). */
function runProcess(
  spawn: Spawn,
  file: string,
  args: string[],
  spawnOpts: { cwd: string; env: NodeJS.ProcessEnv },
  opts: ExecOptions,
  infoFd = false,
): Promise<ExecResult> {
  const started = Date.now();
  const cap = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const out = new OutputCapture(cap);
  const err = new OutputCapture(cap);
  return new Promise((resolvePromise, reject) => {
    // detached: the command leads its own process group, so a timeout kills all it started.
    const child = spawn(file, args, { ...spawnOpts, detached: true, fd3: infoFd });
    let timedOut = false;
    let cancelled = false;
    // bwrap names its sandbox's first process (the PID namespace's init, which takes every process
    // inside along when it dies) once it has made it. Killed before then, bwrap can leave the
    // sandbox running orphaned, out of our process group, so a kill waits for that moment.
    let reported = !infoFd;
    let init: number | undefined;
    let killWanted = false;
    const running = () => child.exitCode === null && child.signalCode === null;
    const killGroup = () => {
      if (!reported && running()) {
        killWanted = true;
        return;
      }
      // Only while bwrap runs: it exits as soon as it reaped the init, whose pid is then free for reuse.
      if (init !== undefined && running()) kill(init);
      if (child.pid) kill(-child.pid);
    };
    const report = (pid?: number) => {
      if (reported) return;
      reported = true;
      init = pid;
      if (killWanted) killGroup();
    };
    let info = '';
    child.fd3?.on('data', (b: Buffer) => {
      info += b.toString();
      const pid = /"child-pid":\s*(\d+)/.exec(info)?.[1];
      if (pid) report(Number(pid));
    });
    child.fd3?.on('close', () => report());
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          killGroup();
        }, opts.timeoutMs)
      : undefined;
    const onAbort = () => {
      cancelled = true;
      killGroup();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    const stdin = child.stdin as NonNullable<typeof child.stdin>; // spawned with stdin: 'pipe'
    stdin.on('error', () => {}); // a command that ignores stdin closes it early
    if (opts.stdin && typeof opts.stdin === 'object' && 'pipe' in opts.stdin) {
      opts.stdin.on('error', (e: Error) => {
        stdin.destroy(e);
        killGroup();
      });
      opts.stdin.pipe(stdin);
    } else stdin.end(opts.stdin ?? '');
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new AirlockError('sandbox_failed', `Cannot start ${file}: ${e.message}`));
    });
    child.on('exit', killGroup);
    child.on('close', (code) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      // Children that outlived the shell must not linger.
      killGroup();
      resolvePromise({
        exitCode: timedOut || cancelled ? null : code,
        stdout: out.result(),
        stderr: err.result(),
        timedOut,
        cancelled,
        droppedBytes: out.dropped + err.dropped,
        durationMs: Date.now() - started,
      });
    });
  });
}

/** SIGKILL to a process (or, negative, a process group) that may be gone already. */
function kill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** The path itself, or its nearest ancestor that exists. */
async function deepestExisting(path: string): Promise<string> {
  let current = path;
  while (!(await stat(current).catch(() => undefined))) {
    const parent = dirname(current);
    if (parent === current) break;
    current = parent;
  }
  return current;
}
