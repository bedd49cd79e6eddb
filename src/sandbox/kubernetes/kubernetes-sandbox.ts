import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { AirlockError } from '../../errors.js';
import {
  DEFAULT_MAX_OUTPUT_BYTES,
  DIFF_MAX_BYTES,
  type ExecOptions,
  type ExecResult,
  type Sandbox,
} from '../../runs/ports/sandbox.js';
import { diffAgainst } from '../../runs/workspace-git.js';
import { cancelledBeforeStart } from '../not-started.js';
import { ExecSession, ExecSessions, SESSION_KILL, type SessionCommand } from './exec-session.js';
import type { KubeApi } from './kube-api.js';
import { execInPod, type PodExecOutcome, type PodExecRequest, type PodRef } from './pod-exec.js';
import type { PodNetwork } from './pod-routes.js';
import { LOADER_CONTAINER, SANDBOX_CONTAINER, SANDBOX_WORKDIR } from './pod-spec.js';
import { podCondition } from './pod-status.js';

/**
 * A command in an exec of its own, for what an exec session (exec-session.ts, SUPERVISOR, which
 * runs commands the same way) does not carry: a streamed or large stdin.
 * Runs the command as a job (set -m gives it a process group apart from this shell) under coreutils
 * `timeout`, and records the group's id so a timeout or a cancel can kill everything it started:
 * closing the exec stream would not, since the kubelet leaves an exec'd process running when its
 * client goes away. When the command exits its group is killed, so nothing it left in the
 * background outlives it or holds the exec's output open, as on the local backend.
 * The cancel (KILL) is a second exec and may reach the pod first: it leaves a marker before it
 * reads the id, and this looks for the marker before starting and again after writing the id, so
 * a cancelled command either never starts or is stopped by one of the two.
 * $1 exec id, $2 timeout in seconds (0: none), $3 working directory, $4 the command, and then
 * NAME=value words exported for the command (the egress gateway's proxy variables): passed as
 * arguments and exported from a quoted expansion, so no value is ever read as shell code.
 * Exported for the test that runs both in either order.
 */
export const WRAPPER = [
  'cd -- "$3" || exit 1',
  'f="/tmp/.airlock-exec-$1"',
  '[ -e "$f.cancel" ] && { rm -f -- "$f.cancel"; exit 130; }',
  'export USER=airlock LC_ALL=C.UTF-8 TERM=dumb PAGER=cat GIT_PAGER=cat',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: bash's "${@:5}", the arguments after $4
  'for v in "${@:5}"; do export -- "$v"; done',
  'set -m',
  'timeout -k 5 "$2" /bin/bash -c "$4" &',
  'g=$!',
  // The command has stderr; this shell's notices ("Terminated", a group already gone) are not output.
  'exec 2>/dev/null',
  // Written whole by a rename, so KILL never reads half an id.
  `printf '%s' "$g" > "$f.new" && mv -f -- "$f.new" "$f"`,
  '[ -e "$f.cancel" ] && kill -KILL -- "-$g"',
  'wait "$g"; s=$?',
  'kill -KILL -- "-$g"',
  'rm -f -- "$f" "$f.cancel"',
  'exit "$s"',
].join('\n');

/** $1 exec id. TERM first, so the command may clean up; what is left a second later gets KILL. */
export const KILL = [
  'f="/tmp/.airlock-exec-$1"',
  ': > "$f.cancel"',
  'g=$(cat "$f" 2>/dev/null) || exit 0',
  'kill -TERM -- "-$g" 2>/dev/null',
  'sleep 1',
  'kill -KILL -- "-$g" 2>/dev/null',
  'exit 0',
].join('\n');

const READ_FILE = [
  'if [ -d "$1" ]; then echo "$1 is a directory" >&2; exit 21; fi',
  '[ -e "$1" ] || exit 2',
  'exec cat -- "$1"',
].join('\n');

/**
 * head -c reads exactly the file's bytes, so this needs no end of stdin (which v4 cannot send).
 * $1 is absolute, so its directory is what precedes the last slash.
 */
// biome-ignore lint/suspicious/noTemplateCurlyInString: bash's "${1%/*}", the file's directory
const WRITE_FILE = '{ [ -d "${1%/*}" ] || mkdir -p -- "${1%/*}"; } && head -c "$2" > "$1"';

const INTERRUPTED =
  'airlock: the connection to the sandbox was lost before this command finished, so it was stopped. ' +
  'Run it again if you need its result.';

/**
 * The most stdin an exec session carries for a command. The session reads it whole before the
 * command starts, and nothing else travels on the session meanwhile; larger or streamed input
 * gets an exec of its own, as every command had before sessions.
 */
const SESSION_STDIN_MAX = 1024 * 1024;

/** GNU tar reads in 10240-byte records; a whole last record lets it finish without end of stdin. */
const TAR_RECORD = 10240;
/** After a timeout, how long the pod gets to report the kill before airlock stops waiting. */
const GRACE_MS = 15_000;

/**
 * A run's sandbox pod. Commands and file reads and writes go through exec sessions
 * (exec-session.ts): a few long-lived `pods/exec` streams, each running one command at a time.
 * A streamed or large stdin (the snapshot's tar) gets an exec of its own.
 */
export class KubernetesSandbox implements Sandbox {
  readonly workdir = SANDBOX_WORKDIR;
  private readonly ref: PodRef;
  private readonly sessions: ExecSessions;

  constructor(
    readonly runId: string,
    readonly podName: string,
    private readonly kube: KubeApi,
    /** The pod's route to the egress gateway, when airlock has one. */
    private readonly network?: PodNetwork,
    /** Every open exec session of the provider, closed with it. */
    live?: Set<ExecSession>,
    /**
     * A read-only run's pod: airlock's own execs go to the loader (the workspace writable there),
     * and `readOnly` commands to the sandbox container, whose workspace mount is read-only.
     */
    readOnlyPod = false,
    container = readOnlyPod ? LOADER_CONTAINER : SANDBOX_CONTAINER,
  ) {
    this.ref = { namespace: kube.namespace, name: podName, container };
    this.sessions = new ExecSessions(() => ExecSession.open(this.kube.exec, this.ref, this.exported()), live);
    this.readOnlyView = readOnlyPod
      ? new KubernetesSandbox(runId, podName, kube, network, live, false, SANDBOX_CONTAINER)
      : undefined;
  }

  private readonly readOnlyView: KubernetesSandbox | undefined;

  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    const started = Date.now();
    const cwd = this.inside(opts.cwd ?? this.workdir);
    if (opts.signal?.aborted) return cancelledBeforeStart();
    if (opts.readOnly) {
      if (!this.readOnlyView)
        throw new AirlockError(
          'sandbox_failed',
          `The sandbox pod ${this.podName} was not made for a read-only run: its workspace is writable.`,
        );
      return this.readOnlyView.exec(command, { ...opts, readOnly: false });
    }
    const input = sessionInput(opts.stdin);
    // A NUL cannot be in an argument; its own exec refuses such a command as before.
    const session =
      input !== 'own-exec' && !command.includes('\0') && !cwd.includes('\0')
        ? await this.acquireOrExplain()
        : undefined;
    if (opts.signal?.aborted) {
      if (session) this.sessions.release(session);
      return cancelledBeforeStart();
    }
    const id = randomBytes(8).toString('hex');
    const seconds = opts.timeoutMs ? Math.max(1, Math.ceil(opts.timeoutMs / 1000)) : 0;
    const killArgv = session
      ? ['/bin/bash', '-c', SESSION_KILL, 'airlock', session.id, id]
      : ['/bin/bash', '-c', KILL, 'airlock', id];
    const stop = new AbortController();
    let timedOut = false;
    let cancelled = false;
    const kill = () => {
      void this.run(killArgv, 4096)
        .catch(() => undefined)
        .finally(() => setTimeout(() => stop.abort(), 2000).unref());
    };
    const watchdog = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          kill();
        }, opts.timeoutMs + GRACE_MS)
      : undefined;
    const onCancel = () => {
      cancelled = true;
      kill();
    };
    opts.signal?.addEventListener('abort', onCancel, { once: true });
    const maxOutputBytes = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    try {
      const outcome = session
        ? await this.inSession(session, {
            id,
            seconds,
            cwd,
            command,
            stdin: input === 'own-exec' ? undefined : input,
            maxOutputBytes,
            signal: stop.signal,
          })
        : await this.execOrExplain({
            argv: [
              '/bin/bash',
              '-c',
              WRAPPER,
              'airlock',
              id,
              String(seconds),
              cwd,
              command,
              ...this.exported(),
            ],
            stdin: opts.stdin === undefined ? undefined : toReadable(opts.stdin),
            maxOutputBytes,
            signal: stop.signal,
          });
      let stderr = outcome.stderr;
      if (outcome.exitCode === null && !timedOut && !cancelled) {
        // The stream dropped (an API server restart, a network blip). A pod that is gone ends the
        // run; a healthy one gets the command stopped, and the agent hears it was interrupted.
        await this.assertPodAlive();
        await this.run(killArgv, 4096).catch(() => undefined);
        stderr = Buffer.concat([stderr, Buffer.from(`\n${INTERRUPTED}\n`)]);
      }
      // SIGKILL: the kernel's OOM killer, or the pod itself going down. Only the latter ends the run.
      // (A cancel sends SIGKILL itself, when the command ignored TERM or had not written its id yet.)
      if (outcome.exitCode === 137 && !cancelled) await this.assertPodAlive();
      // coreutils timeout exits 124 when it had to stop the command.
      if (outcome.exitCode === 124 && opts.timeoutMs && Date.now() - started >= opts.timeoutMs - 50)
        timedOut = true;
      return {
        exitCode: timedOut || cancelled ? null : outcome.exitCode,
        stdout: outcome.stdout,
        stderr,
        timedOut,
        cancelled: cancelled && !timedOut,
        droppedBytes: outcome.droppedBytes,
        durationMs: Date.now() - started,
      };
    } finally {
      clearTimeout(watchdog);
      opts.signal?.removeEventListener('abort', onCancel);
      if (session) this.sessions.release(session);
    }
  }

  async readFile(path: string): Promise<Buffer> {
    const inner = this.inside(path);
    const r = await this.runInSession(READ_FILE, [inner], DIFF_MAX_BYTES);
    if (r.exitCode === 2) {
      throw Object.assign(new Error(`${path}: no such file`), { code: 'ENOENT' });
    }
    if (r.exitCode !== 0) throw new AirlockError('sandbox_failed', r.stderr.toString().trim());
    if (r.droppedBytes > 0) throw new AirlockError('sandbox_failed', `${path} is too large to read`);
    return r.stdout;
  }

  async writeFile(path: string, data: Buffer | string): Promise<void> {
    const bytes = Buffer.isBuffer(data) ? data : Buffer.from(data);
    const inner = this.inside(path);
    const args = [inner, String(bytes.length)];
    const r =
      bytes.length <= SESSION_STDIN_MAX
        ? await this.runInSession(WRITE_FILE, args, 64 * 1024, bytes)
        : await this.run(
            ['/bin/bash', '-c', WRITE_FILE, 'airlock', ...args],
            64 * 1024,
            Readable.from([bytes]),
          );
    if (r.exitCode !== 0)
      throw new AirlockError('sandbox_failed', `Could not write ${path}: ${r.stderr.toString().trim()}`);
  }

  async putTree(tar: NodeJS.ReadableStream): Promise<void> {
    const r = await this.run(
      ['tar', '-x', '--no-same-owner', '-C', SANDBOX_WORKDIR, '-f', '-'],
      64 * 1024,
      toReadable(tar),
      (sent) => Buffer.alloc((TAR_RECORD - (sent % TAR_RECORD)) % TAR_RECORD),
    );
    if (r.exitCode !== 0) {
      throw new AirlockError(
        'sandbox_failed',
        `Could not unpack the snapshot: ${r.stderr.toString().trim()}`,
      );
    }
  }

  diff(snapshotCommit: string): Promise<Buffer> {
    return diffAgainst(this, snapshotCommit);
  }

  async destroy(): Promise<void> {
    this.sessions.closeAll();
    // The route goes first: once the pod is deleted its address may be given to another pod.
    await this.network?.release();
    await this.kube.deletePod(this.podName);
  }

  /** The variables the command gets beyond the pod's own, as WRAPPER's NAME=value arguments. */
  private exported(): string[] {
    return Object.entries(this.network?.env ?? {}).map(([name, value]) => `${name}=${value}`);
  }

  /**
   * One of airlock's own operations (`script` with `args` as $1…) through an exec session, in the
   * workspace and without a time limit; a lost connection is an error.
   */
  private async runInSession(script: string, args: string[], maxOutputBytes: number, stdin?: Buffer) {
    const session = await this.acquireOrExplain();
    try {
      const outcome = await this.inSession(session, {
        id: randomBytes(8).toString('hex'),
        seconds: 0,
        cwd: this.workdir,
        command: `set -- ${args.map(shellQuote).join(' ')}\n${script}`,
        stdin,
        maxOutputBytes,
      });
      if (outcome.exitCode === null) throw await this.connectionLost();
      return outcome;
    } finally {
      this.sessions.release(session);
    }
  }

  private async acquireOrExplain(): Promise<ExecSession> {
    try {
      return await this.sessions.acquire();
    } catch (error) {
      throw (await this.podProblem()) ?? error;
    }
  }

  private async inSession(session: ExecSession, cmd: SessionCommand): Promise<PodExecOutcome> {
    try {
      return await session.run(cmd);
    } catch (error) {
      throw (await this.podProblem()) ?? error;
    }
  }

  private async connectionLost(): Promise<AirlockError> {
    return (
      (await this.podProblem()) ??
      new AirlockError(
        'sandbox_failed',
        `The connection to the sandbox pod ${this.podName} was lost before the command finished.`,
      )
    );
  }

  /** One exec of its own, for the kill and for input too large for an exec session. */
  private async run(
    argv: string[],
    maxOutputBytes: number,
    stdin?: Readable,
    trailer?: (n: number) => Buffer,
  ) {
    const outcome = await this.execOrExplain({
      argv,
      stdin,
      maxOutputBytes,
      trailerWithoutHalfClose: trailer,
    });
    if (outcome.exitCode === null) throw await this.connectionLost();
    return outcome;
  }

  /** An exec the API server refuses (the pod ended, was evicted…) is explained from the pod's status. */
  private async execOrExplain(req: PodExecRequest): Promise<PodExecOutcome> {
    try {
      return await execInPod(this.kube.exec, this.ref, req);
    } catch (error) {
      throw (await this.podProblem()) ?? error;
    }
  }

  /** The kubelet may report the pod's failure a moment after the kill, so this looks twice. */
  private async assertPodAlive(): Promise<void> {
    for (const wait of [0, 1000]) {
      await new Promise((r) => setTimeout(r, wait));
      const problem = await this.podProblem();
      if (problem) throw problem;
    }
  }

  /** Why the pod can no longer serve the run (gone, or failed, in words), or undefined while it can. */
  private async podProblem(): Promise<AirlockError | undefined> {
    const pod = await this.kube.getPod(this.podName).catch(() => undefined);
    const condition = pod ? podCondition(pod) : undefined;
    if (condition?.kind === 'ready' || condition?.kind === 'starting') return undefined;
    this.network?.lost();
    if (!condition) return new AirlockError('sandbox_failed', `The sandbox pod ${this.podName} is gone.`);
    return this.kube.podFailure(this.podName, condition);
  }

  private inside(path: string): string {
    const inner = posix.isAbsolute(path) ? posix.normalize(path) : posix.join(this.workdir, path);
    if (inner !== this.workdir && !inner.startsWith(`${this.workdir}/`)) {
      throw new AirlockError('sandbox_failed', `${path} is outside the workspace ${this.workdir}`);
    }
    return inner;
  }
}

/** The stdin an exec session carries (bytes, or none), or 'own-exec' for a stream or more than it takes. */
function sessionInput(input: ExecOptions['stdin']): Buffer | undefined | 'own-exec' {
  if (input === undefined) return undefined;
  if (typeof input !== 'string' && !Buffer.isBuffer(input)) return 'own-exec';
  const bytes = Buffer.from(input);
  return bytes.length <= SESSION_STDIN_MAX ? bytes : 'own-exec';
}

/** One word for bash, whatever it holds. */
function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

function toReadable(input: string | Buffer | NodeJS.ReadableStream): Readable {
  if (typeof input === 'string' || Buffer.isBuffer(input)) return Readable.from([Buffer.from(input)]);
  return input instanceof Readable ? input : Readable.from(input as AsyncIterable<Buffer>);
}
