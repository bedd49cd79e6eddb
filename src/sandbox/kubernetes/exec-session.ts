import { randomBytes } from 'node:crypto';
import { PassThrough, Writable } from 'node:stream';
import type { Exec, V1Status } from '@kubernetes/client-node';
import { AirlockError } from '../../errors.js';
import { OutputCapture } from '../output-capture.js';
import { describeSocketError, type PodExecOutcome, type PodRef, statusFailure } from './pod-exec.js';

/**
 * The supervisor of an exec session: one long-lived `pods/exec` that runs a sandbox's commands
 * one after another, so a command costs a line on a stream already open instead of a new
 * WebSocket, a new exec in the container runtime and a new wrapper shell.
 *
 * A request on stdin is a line `<id> <nonce> <seconds> <cwd bytes> <stdin bytes> <command bytes>`
 * and then those bytes, in that order: a request cut short by a dropped stream ends in the middle
 * of its command, which is then never started. Each command runs as WRAPPER
 * (kubernetes-sandbox.ts) runs it: a job of its own process group, under coreutils `timeout`
 * (0: none), with the same variables, its group killed when it exits. Its stdin is the bytes sent
 * (read to a file first, so the command sees their end) or /dev/null.
 *
 * Its stdout and stderr are the session's: the supervisor writes `<nonce>s` on both before the
 * command starts, and `<nonce>e<status>\n` on stdout and `<nonce>e\n` on stderr once its group is
 * gone. The nonce is new for every command and in no file, argument or variable a command gets, so
 * a command cannot end its output early; what arrives between commands (from a process that left
 * its group, with setsid) is dropped. Such a process still writing while a later command runs is
 * seen in that command's output: the session's output is one stream.
 * The job's id and process group are kept in `$f`, so SESSION_KILL can stop it from another exec,
 * in the same two-sided handshake as WRAPPER and KILL.
 *
 * $1 session id, then NAME=value words exported for every command (the egress gateway's proxy
 * variables), as WRAPPER's. This shell reads requests with LC_ALL=C, so lengths are bytes;
 * commands get C.UTF-8. bash's own notices go to /dev/null; fd 3 is the session's stderr.
 */
export const SUPERVISOR = [
  'f="/tmp/.airlock-exec-$1"',
  'shift',
  'for v in "$@"; do export -- "$v"; done',
  'export USER=airlock TERM=dumb PAGER=cat GIT_PAGER=cat',
  'LC_ALL=C',
  `trap 'rm -f -- "$f" "$f.cancel" "$f.in"' EXIT`,
  'exec 3>&2 2>/dev/null',
  'set -m',
  'cancelled() { [ -e "$f.cancel" ] && read -r k < "$f.cancel" && [ "$k" = "$1" ]; }',
  'while read -r id n t cl il ml; do',
  '  IFS= read -r -N "$cl" d || break',
  '  in=/dev/null',
  '  if [ "$il" -gt 0 ]; then head -c "$il" > "$f.in"; in="$f.in"; fi',
  '  c=',
  '  if [ "$ml" -gt 0 ]; then IFS= read -r -N "$ml" c || break; fi',
  `  printf '%ss' "$n"`,
  `  printf '%ss' "$n" >&3`,
  '  if cancelled "$id"; then',
  '    s=130',
  '  else',
  '    (',
  '      cd -- "$d" || exit 1',
  '      export LC_ALL=C.UTF-8',
  '      [ "$t" = 0 ] && exec /bin/bash -c "$c"',
  '      exec timeout -k 5 "$t" /bin/bash -c "$c"',
  '    ) < "$in" 2>&3 3>&- &',
  '    g=$!',
  // One write of a short line: SESSION_KILL reads a whole line or nothing it can use.
  `    printf '%s %s\\n' "$id" "$g" > "$f"`,
  '    cancelled "$id" && kill -KILL -- "-$g"',
  '    wait "$g"; s=$?',
  '    kill -KILL -- "-$g"',
  '    [ "$in" = /dev/null ] || : > "$in"',
  '  fi',
  `  printf '%se%s\\n' "$n" "$s"`,
  `  printf '%se\\n' "$n" >&3`,
  'done',
].join('\n');

/**
 * $1 session id, $2 the command's id: KILL for a command of a session. It leaves its marker before
 * it looks for the job, and the supervisor looks for the marker before starting the job and again
 * after writing its group, so a cancelled command either never starts or is stopped by one of the two.
 */
export const SESSION_KILL = [
  'f="/tmp/.airlock-exec-$1"',
  `printf '%s\\n' "$2" > "$f.cancel"`,
  'read -r i g < "$f" 2>/dev/null || exit 0',
  '[ "$i" = "$2" ] || exit 0',
  'kill -TERM -- "-$g" 2>/dev/null',
  'sleep 1',
  'kill -KILL -- "-$g" 2>/dev/null',
  'exit 0',
].join('\n');

/** Idle sessions kept per sandbox: a run's commands come one at a time, and rarely two at once. */
const MAX_IDLE_SESSIONS = 2;
/**
 * How long an idle session stays open. A run's commands come seconds apart (a model turn each);
 * this is below the idle timeouts of the load balancers in front of API servers (4 minutes and
 * more), so a session is never silently cut between two commands, and a sandbox left unused holds
 * no connection for long.
 */
const IDLE_SESSION_MS = 60_000;

export interface SessionCommand {
  /** The command's id, as SESSION_KILL names it. */
  id: string;
  /** coreutils timeout's limit; 0 for none. */
  seconds: number;
  cwd: string;
  command: string;
  stdin?: Buffer;
  maxOutputBytes: number;
  /** Closes the session; the command must be stopped separately, as with any exec. */
  signal?: AbortSignal;
}

/** What a command's output stream carries: its bytes between the nonce's start and end tokens. */
class CommandStream {
  private pending: Buffer = Buffer.alloc(0);
  private phase: 'idle' | 'before' | 'in' | 'status' = 'idle';
  private start = Buffer.alloc(0);
  private end = Buffer.alloc(0);
  private sink: (chunk: Buffer) => void = () => {};
  private done: (status: string) => void = () => {};

  expect(nonce: string, sink: (chunk: Buffer) => void, done: (status: string) => void): void {
    this.start = Buffer.from(`${nonce}s`);
    this.end = Buffer.from(`${nonce}e`);
    this.sink = sink;
    this.done = done;
    this.pending = Buffer.alloc(0);
    this.phase = 'before';
  }

  push(chunk: Buffer): void {
    // Between commands, output can only come from a process that escaped its command's group.
    if (this.phase === 'idle') return;
    let buf: Buffer = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = Buffer.alloc(0);
    if (this.phase === 'before') {
      const at = buf.indexOf(this.start);
      if (at < 0) {
        this.pending = buf.subarray(Math.max(0, buf.length - this.start.length + 1));
        return;
      }
      buf = buf.subarray(at + this.start.length);
      this.phase = 'in';
    }
    if (this.phase === 'in') {
      const at = buf.indexOf(this.end);
      if (at < 0) {
        // The end token may have begun in this chunk: its first bytes wait for the next one.
        const keep = Math.min(buf.length, this.end.length - 1);
        this.emit(buf.subarray(0, buf.length - keep));
        this.pending = buf.subarray(buf.length - keep);
        return;
      }
      this.emit(buf.subarray(0, at));
      buf = buf.subarray(at + this.end.length);
      this.phase = 'status';
    }
    const newline = buf.indexOf(0x0a);
    if (newline < 0) {
      this.pending = buf;
      return;
    }
    this.phase = 'idle';
    this.done(buf.subarray(0, newline).toString('latin1'));
  }

  /** The stream ended during the command: what was held back is its output too. */
  flush(): void {
    if (this.phase === 'in') this.emit(this.pending);
    this.pending = Buffer.alloc(0);
    this.phase = 'idle';
  }

  private emit(bytes: Buffer): void {
    if (bytes.length > 0) this.sink(bytes);
  }
}

interface Running {
  /** The stream closed before the command's end: it was interrupted, or never started. */
  closed(error?: AirlockError): void;
}

type RawSocket = { ref(): void; unref(): void };
type SessionSocket = Awaited<ReturnType<Exec['exec']>> & { _socket?: RawSocket | null };

/** One long-lived exec running SUPERVISOR in a sandbox pod; one command at a time. */
export class ExecSession {
  closed = false;
  private readonly input = new PassThrough();
  private readonly out = new CommandStream();
  private readonly err = new CommandStream();
  private socket?: SessionSocket;
  private status?: V1Status;
  private running?: Running;
  private readonly onClose: Array<() => void> = [];
  private retired = false;

  private constructor(
    readonly id: string,
    private readonly pod: PodRef,
  ) {}

  /** Starts the supervisor; `env` are its NAME=value words. */
  static async open(exec: Exec, pod: PodRef, env: string[]): Promise<ExecSession> {
    const session = new ExecSession(randomBytes(8).toString('hex'), pod);
    const sink = (stream: CommandStream) =>
      new Writable({
        write(chunk: Buffer, _enc, done) {
          stream.push(chunk);
          done();
        },
      });
    try {
      session.socket = (await exec.exec(
        pod.namespace,
        pod.name,
        pod.container,
        ['/bin/bash', '-c', SUPERVISOR, 'airlock', session.id, ...env],
        sink(session.out),
        sink(session.err),
        session.input,
        false,
        (status) => {
          session.status = status;
        },
      )) as SessionSocket;
    } catch (error) {
      session.input.destroy();
      throw new AirlockError(
        'sandbox_failed',
        `Kubernetes: could not exec into pod ${pod.name}: ${describeSocketError(error)}`,
        { cause: error },
      );
    }
    session.socket.on('close', () => session.ended());
    return session;
  }

  get busy(): boolean {
    return this.running !== undefined;
  }

  /**
   * Runs one command. Its exit code is null when the session closed first (the stream dropped,
   * or `signal` closed it); the command may then still be running in the pod.
   */
  run(cmd: SessionCommand): Promise<PodExecOutcome> {
    if (this.closed || this.running) throw new Error('an exec session runs one command at a time');
    // bash drops NUL bytes it reads, so the lengths would no longer match what it read.
    if (cmd.command.includes('\0') || cmd.cwd.includes('\0'))
      throw new AirlockError('sandbox_failed', 'A command or its directory cannot contain a NUL byte.');
    const nonce = randomBytes(16).toString('hex');
    const stdout = new OutputCapture(cmd.maxOutputBytes);
    const stderr = new OutputCapture(cmd.maxOutputBytes);
    const stdin = cmd.stdin ?? Buffer.alloc(0);
    const cwd = Buffer.from(cmd.cwd);
    const command = Buffer.from(cmd.command);
    return new Promise<PodExecOutcome>((resolve, reject) => {
      let exitCode: number | null = null;
      let streams = 2;
      let aborted = false;
      const onAbort = () => {
        aborted = true;
        this.close();
      };
      const settle = (error?: AirlockError) => {
        this.running = undefined;
        cmd.signal?.removeEventListener('abort', onAbort);
        if (this.retired) this.close();
        if (error) reject(error);
        else
          resolve({
            exitCode,
            stdout: stdout.result(),
            stderr: stderr.result(),
            droppedBytes: stdout.dropped + stderr.dropped,
            protocol: this.socket?.protocol ?? '',
            aborted,
          });
      };
      const ended = () => {
        if (--streams === 0) settle();
      };
      this.out.expect(
        nonce,
        (b) => stdout.push(b),
        (status) => {
          exitCode = Number(status);
          ended();
        },
      );
      this.err.expect(nonce, (b) => stderr.push(b), ended);
      this.running = {
        closed: (error) => {
          this.out.flush();
          this.err.flush();
          exitCode = null;
          settle(error);
        },
      };
      if (cmd.signal?.aborted) onAbort();
      cmd.signal?.addEventListener('abort', onAbort, { once: true });
      const header = `${cmd.id} ${nonce} ${cmd.seconds} ${cwd.length} ${stdin.length} ${command.length}\n`;
      this.input.write(Buffer.concat([Buffer.from(header), cwd, stdin, command]));
    });
  }

  /** Closes the session now if idle, else once its command is over. */
  retire(): void {
    this.retired = true;
    if (!this.running) this.close();
  }

  /** Ends the session: the supervisor reads the end of its input and exits. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.socket?.close();
  }

  /** Calls `fn` once the session's stream has closed. */
  whenClosed(fn: () => void): void {
    this.onClose.push(fn);
  }

  /** An idle session does not keep airlock's process alive; a busy one does. */
  hold(busy: boolean): void {
    const raw = this.socket?._socket;
    if (busy) raw?.ref();
    else raw?.unref();
  }

  private ended(): void {
    this.closed = true;
    this.input.destroy();
    // A supervisor that could not start (no bash in the image) is a failure to run, as for any exec.
    const failure = this.status ? statusFailure(this.status, this.pod) : undefined;
    this.running?.closed(failure);
    for (const fn of this.onClose.splice(0)) fn();
  }
}

/** A sandbox's exec sessions: idle ones are reused, a busy one means another is opened. */
export class ExecSessions {
  private readonly idle: Array<{ session: ExecSession; timer: NodeJS.Timeout }> = [];
  private readonly mine = new Set<ExecSession>();
  private ended = false;

  constructor(
    private readonly open: () => Promise<ExecSession>,
    /** Every open session of the provider, so closing it closes them all. */
    private readonly live: Set<ExecSession> = new Set(),
  ) {}

  async acquire(): Promise<ExecSession> {
    if (this.ended) throw new AirlockError('sandbox_failed', 'The sandbox was destroyed.');
    for (let entry = this.idle.pop(); entry; entry = this.idle.pop()) {
      clearTimeout(entry.timer);
      if (entry.session.closed) continue;
      entry.session.hold(true);
      return entry.session;
    }
    const session = await this.open();
    this.mine.add(session);
    this.live.add(session);
    session.whenClosed(() => {
      this.mine.delete(session);
      this.live.delete(session);
      const at = this.idle.findIndex((e) => e.session === session);
      if (at >= 0) clearTimeout(this.idle.splice(at, 1)[0]?.timer);
    });
    if (this.ended) {
      session.close();
      throw new AirlockError('sandbox_failed', 'The sandbox was destroyed.');
    }
    return session;
  }

  /** Back to the pool after a command; a closed session is forgotten, one too many is closed. */
  release(session: ExecSession): void {
    if (session.closed || session.busy) return;
    if (this.ended || this.idle.length >= MAX_IDLE_SESSIONS) {
      session.close();
      return;
    }
    session.hold(false);
    const timer = setTimeout(() => session.close(), IDLE_SESSION_MS);
    timer.unref();
    this.idle.push({ session, timer });
  }

  /** Closes every session, busy ones too (the sandbox is going). */
  closeAll(): void {
    this.ended = true;
    for (const session of [...this.mine]) session.close();
  }
}
