import { spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Readable, Writable } from 'node:stream';

/** What airlock asks of a new process: always pipes for stdout and stderr. */
export interface SpawnRequest {
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** Its own process group, so the group can be killed. */
  detached?: boolean;
  /** 'ignore': no stdin at all. Default 'pipe'. */
  stdin?: 'pipe' | 'ignore';
  /** One more pipe from the child, as fd 3 (bwrap --info-fd 3). */
  fd3?: boolean;
}

/** The part of a ChildProcess airlock uses, whichever way it was started. */
export interface SpawnedProcess extends EventEmitter {
  readonly pid: number | undefined;
  readonly stdin: Writable | null;
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly fd3: Readable | null;
  readonly exitCode: number | null;
  readonly signalCode: NodeJS.Signals | null;
  kill(signal?: NodeJS.Signals): boolean;
}

export type Spawn = (file: string, args: readonly string[], req: SpawnRequest) => SpawnedProcess;

/** child_process.spawn itself: right for short-lived commands (a CLI run, a test). */
export const directSpawn: Spawn = (file, args, req) => {
  const child = spawn(file, args, {
    cwd: req.cwd,
    env: req.env,
    detached: req.detached,
    stdio: [req.stdin ?? 'pipe', 'pipe', 'pipe', ...(req.fd3 ? (['pipe'] as const) : [])],
  });
  return Object.assign(child, {
    fd3: (child.stdio[3] as Readable | undefined) ?? null,
  }) as unknown as SpawnedProcess;
};

// Frames on the helper's stdin and stdout: u32 length (of what follows), u8 kind, u32 id, payload.
const Kind = {
  Spawn: 1,
  Stdin: 2,
  StdinEnd: 3,
  Spawned: 10,
  Failed: 11,
  Stdout: 12,
  Stderr: 13,
  Fd3: 14,
  Exit: 16,
  Close: 17,
} as const;
type Kind = (typeof Kind)[keyof typeof Kind];

/**
 * The helper: a small Node process whose only work is to start processes and carry their bytes.
 * fork() costs in proportion to the caller's memory; from airlock's own process (hundreds of MB
 * under load) each spawn blocked the event loop for milliseconds, and a burst of runs turned that
 * into seconds without an ack to Slack. From this helper it costs a fraction of that, off the loop.
 */
const HELPER = `
import { spawn } from 'node:child_process';
const children = new Map();
let buffered = Buffer.alloc(0);
function send(kind, id, payload) {
  const body = typeof payload === 'string' ? Buffer.from(payload) : payload ?? Buffer.alloc(0);
  const head = Buffer.alloc(9);
  head.writeUInt32BE(5 + body.length, 0); head.writeUInt8(kind, 4); head.writeUInt32BE(id, 5);
  process.stdout.write(Buffer.concat([head, body]));
}
function start(id, req) {
  let child;
  try {
    child = spawn(req.file, req.args, { cwd: req.cwd, env: req.env, detached: !!req.detached,
      stdio: [req.stdin === 'ignore' ? 'ignore' : 'pipe', 'pipe', 'pipe', ...(req.fd3 ? ['pipe'] : [])] });
  } catch (error) { send(${Kind.Failed}, id, JSON.stringify({ message: error.message, code: error.code })); return; }
  children.set(id, child);
  let spawned = false;
  child.on('spawn', () => { spawned = true; send(${Kind.Spawned}, id, JSON.stringify({ pid: child.pid })); });
  child.on('error', (error) => { if (!spawned) { children.delete(id); send(${Kind.Failed}, id, JSON.stringify({ message: error.message, code: error.code })); } });
  child.stdout.on('data', (d) => send(${Kind.Stdout}, id, d));
  child.stderr.on('data', (d) => send(${Kind.Stderr}, id, d));
  child.stdio[3]?.on('data', (d) => send(${Kind.Fd3}, id, d));
  child.stdin?.on('error', () => {});
  child.on('exit', (code, signal) => send(${Kind.Exit}, id, JSON.stringify({ code, signal })));
  child.on('close', (code, signal) => { children.delete(id); send(${Kind.Close}, id, JSON.stringify({ code, signal })); });
}
process.stdin.on('data', (chunk) => {
  buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
  while (buffered.length >= 4) {
    const length = buffered.readUInt32BE(0);
    if (buffered.length < 4 + length) break;
    const kind = buffered.readUInt8(4); const id = buffered.readUInt32BE(5);
    const payload = buffered.subarray(9, 4 + length);
    buffered = buffered.subarray(4 + length);
    if (kind === ${Kind.Spawn}) start(id, JSON.parse(payload.toString()));
    else if (kind === ${Kind.Stdin}) children.get(id)?.stdin?.write(Buffer.from(payload));
    else if (kind === ${Kind.StdinEnd}) children.get(id)?.stdin?.end();
  }
});
process.stdin.on('end', () => process.exit(0));
`;

/** A process started by the helper, as a ChildProcess-like object. */
class RemoteProcess extends EventEmitter implements SpawnedProcess {
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly stdout = new PassThrough();
  readonly stderr = new PassThrough();
  readonly fd3: PassThrough | null;
  readonly stdin: Writable | null;

  constructor(
    readonly id: number,
    req: SpawnRequest,
    private readonly write: (kind: Kind, id: number, payload?: Uint8Array) => boolean,
    private readonly drained: () => Promise<void>,
  ) {
    super();
    this.fd3 = req.fd3 ? new PassThrough() : null;
    this.stdin =
      req.stdin === 'ignore'
        ? null
        : new Writable({
            write: (chunk: Buffer, _encoding, done) => {
              // The helper's pipe is the back-pressure: wait for it to drain, not for the child.
              if (this.write(Kind.Stdin, this.id, chunk)) done();
              else this.drained().then(() => done());
            },
            final: (done) => {
              this.write(Kind.StdinEnd, this.id);
              done();
            },
          });
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): boolean {
    if (this.pid === undefined || this.exitCode !== null || this.signalCode !== null) return false;
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /** A frame from the helper about this process. */
  receive(kind: Kind, payload: Buffer): void {
    switch (kind) {
      case Kind.Spawned:
        this.pid = (JSON.parse(payload.toString()) as { pid: number }).pid;
        this.emit('spawn');
        return;
      case Kind.Failed: {
        const { message, code } = JSON.parse(payload.toString()) as { message: string; code?: string };
        this.emit('error', Object.assign(new Error(message), { code }));
        return;
      }
      case Kind.Stdout:
        this.stdout.write(Buffer.from(payload));
        return;
      case Kind.Stderr:
        this.stderr.write(Buffer.from(payload));
        return;
      case Kind.Fd3:
        this.fd3?.write(Buffer.from(payload));
        return;
      case Kind.Exit: {
        const { code, signal } = JSON.parse(payload.toString()) as {
          code: number | null;
          signal: NodeJS.Signals | null;
        };
        this.exitCode = code;
        this.signalCode = signal;
        this.emit('exit', code, signal);
        return;
      }
      case Kind.Close: {
        const { code, signal } = JSON.parse(payload.toString()) as {
          code: number | null;
          signal: NodeJS.Signals | null;
        };
        this.stdout.end();
        this.stderr.end();
        this.fd3?.end();
        // 'close' after the streams have ended, as a ChildProcess does.
        setImmediate(() => this.emit('close', code, signal));
        return;
      }
    }
  }

  /** The helper died: the process is as good as gone for airlock. */
  lost(): void {
    const error = new Error('the process helper stopped');
    if (this.pid === undefined) {
      this.emit('error', error);
      return;
    }
    this.stdout.end();
    this.stderr.end();
    this.fd3?.end();
    if (this.exitCode === null && this.signalCode === null) {
      this.signalCode = 'SIGKILL';
      this.emit('exit', null, 'SIGKILL');
    }
    setImmediate(() => this.emit('close', null, 'SIGKILL'));
  }
}

/**
 * Starts processes through a small helper process (started on first use, again if it dies), so
 * the long-lived bot never forks its own large address space (issue 12: intake that cannot be
 * starved). The processes are the same — pids, groups, signals — only their parent differs.
 */
export class ProcessSpawner {
  private helper?: ReturnType<typeof spawn>;
  private readonly processes = new Map<number, RemoteProcess>();
  private nextId = 1;
  private buffered: Buffer = Buffer.alloc(0);
  private dir?: string;
  private closed = false;

  /** `nice`: the niceness of everything started (0–19; 10 by default). */
  constructor(private readonly nice = 10) {}

  readonly spawn: Spawn = (file, args, req) => {
    if (this.closed) return directSpawn(file, args, req);
    const helper = this.ensureHelper();
    const id = this.nextId++;
    const child = new RemoteProcess(
      id,
      req,
      (kind, pid, payload) => frame(helper, kind, pid, payload),
      () => new Promise((resolve) => helper.stdin?.once('drain', () => resolve())),
    );
    this.processes.set(id, child);
    child.once('close', () => this.processes.delete(id));
    child.once('error', () => {
      if (child.pid === undefined) this.processes.delete(id);
    });
    const { cwd, env, detached, stdin, fd3 } = req;
    frame(
      helper,
      Kind.Spawn,
      id,
      Buffer.from(JSON.stringify({ file, args, cwd, env, detached, stdin, fd3 })),
    );
    return child;
  };

  close(): void {
    this.closed = true;
    this.helper?.stdin?.end();
    this.helper = undefined;
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }

  private ensureHelper(): ReturnType<typeof spawn> {
    if (this.helper) return this.helper;
    this.dir ??= mkdtempSync(join(tmpdir(), 'airlock-spawner-'));
    const script = join(this.dir, 'spawner.mjs');
    writeFileSync(script, HELPER);
    const helper = spawn(process.execPath, [script], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    });
    // What it starts (sandboxes, git) inherits a lower CPU priority: on a machine busy with
    // sandboxes, the bot's own loop (acks, /healthz, approvals) is served first.
    if (helper.pid !== undefined) {
      try {
        setPriority(helper.pid, this.nice);
      } catch {
        // Not permitted here: the processes run at the bot's priority.
      }
    }
    helper.stdin?.on('error', () => {});
    helper.stdout?.on('data', (chunk: Buffer) => this.receive(chunk));
    helper.on('exit', () => {
      if (this.helper === helper) this.helper = undefined;
      this.buffered = Buffer.alloc(0);
      for (const child of this.processes.values()) child.lost();
      this.processes.clear();
    });
    this.helper = helper;
    return helper;
  }

  private receive(chunk: Buffer): void {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    while (this.buffered.length >= 4) {
      const length = this.buffered.readUInt32BE(0);
      if (this.buffered.length < 4 + length) break;
      const kind = this.buffered.readUInt8(4) as Kind;
      const id = this.buffered.readUInt32BE(5);
      const payload = this.buffered.subarray(9, 4 + length);
      this.buffered = this.buffered.subarray(4 + length);
      this.processes.get(id)?.receive(kind, payload);
    }
  }
}

function frame(
  helper: ReturnType<typeof spawn>,
  kind: Kind,
  id: number,
  payload: Uint8Array = Buffer.alloc(0),
): boolean {
  const head = Buffer.alloc(9);
  head.writeUInt32BE(5 + payload.length, 0);
  head.writeUInt8(kind, 4);
  head.writeUInt32BE(id, 5);
  return helper.stdin?.write(Buffer.concat([head, payload])) ?? false;
}
