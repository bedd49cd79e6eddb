import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Logger } from '../log/logger.js';
import type { OwnerRecord, Store } from './ports/store.js';

/** How long an owner counts as alive without a heartbeat (DESIGN.md §2, Ownership). */
export const LEASE_MS = 30_000;
/** A third of the lease, so two missed beats still keep it. */
const HEARTBEAT_MS = LEASE_MS / 3;

export interface ProcessInfo {
  host: string;
  pid: number;
  startToken: string | null;
}

/**
 * The process's start time in clock ticks since boot (Linux /proc), so a pid reused by another
 * process is not mistaken for the owner. null where /proc is not there.
 */
export function processStartToken(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may itself hold spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

export function thisProcess(): ProcessInfo {
  return { host: hostname(), pid: process.pid, startToken: processStartToken(process.pid) };
}

/** Whether a process on this host is the same one that registered (alive, same start time). */
export function processAlive(pid: number, startToken: string | null): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (!startToken) return true;
  const now = processStartToken(pid);
  return now === null || now === startToken;
}

/**
 * Whether an owner is gone: on this host, at once when its process no longer exists; elsewhere,
 * when its lease has lapsed. A missing owner row (released, or never written) is gone too.
 */
export function ownerGone(
  owner: OwnerRecord | undefined,
  me: ProcessInfo,
  now: number,
  alive: (pid: number, token: string | null) => boolean = processAlive,
): boolean {
  if (!owner) return true;
  if (owner.host === me.host) return !alive(owner.pid, owner.startToken);
  return owner.leaseUntil < now;
}

export function describeOwner(owner: OwnerRecord | undefined): string {
  return owner ? `airlock ${owner.kind} (pid ${owner.pid} on ${owner.host})` : 'a process that is gone';
}

/**
 * This process as an owner of runs: registered on first use, kept alive by a heartbeat, released
 * on stop. A lock that returns its release (STYLE.md, Atlantis): stop() is always called.
 */
export class OwnerLease {
  private ownerId: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  readonly me: ProcessInfo;
  private readonly now: () => number;

  constructor(
    private readonly store: Store,
    private readonly opts: {
      kind: string;
      logger: Logger;
      now?: () => number;
      process?: ProcessInfo;
      leaseMs?: number;
    },
  ) {
    this.me = opts.process ?? thisProcess();
    this.kindName = opts.kind;
    this.now = opts.now ?? Date.now;
  }

  private kindName: string;

  get kind(): string {
    return this.kindName;
  }

  private get leaseMs(): number {
    return this.opts.leaseMs ?? LEASE_MS;
  }

  /** The owner id, registering this process first if needed. */
  id(): string {
    if (!this.ownerId) {
      const result = this.register();
      if (!result.ok) throw new Error(`owner refused: held by ${describeOwner(result.holder)}`);
    }
    return this.ownerId as string;
  }

  /**
   * Registers this process. With `exclusive`, refuses while another live owner of the same kind
   * holds the store (a second `serve` on one data directory).
   */
  register(
    opts: { exclusive?: boolean; kind?: string } = {},
  ): { ok: true } | { ok: false; holder: OwnerRecord } {
    if (this.ownerId) return { ok: true };
    if (opts.kind) this.kindName = opts.kind;
    const record: OwnerRecord = {
      id: `${this.kindName}-${randomUUID()}`,
      ...this.me,
      kind: this.kindName,
      startedAt: new Date(this.now()).toISOString(),
      leaseUntil: this.now() + this.leaseMs,
    };
    const result = this.store.registerOwner(record, (others) =>
      opts.exclusive
        ? others.find((o) => o.kind === this.kindName && !ownerGone(o, this.me, this.now()))
        : undefined,
    );
    if (!result.ok) return result;
    this.ownerId = record.id;
    this.timer = setInterval(() => this.beat(), Math.min(HEARTBEAT_MS, this.leaseMs / 3));
    this.timer.unref();
    return result;
  }

  /** The owners that are still alive (this process among them once registered). */
  liveOwners(): Set<string> {
    const now = this.now();
    return new Set(
      this.store
        .owners()
        .filter((o) => !ownerGone(o, this.me, now))
        .map((o) => o.id),
    );
  }

  /** Whether `ownerId` is this process. */
  isMe(ownerId: string | null): boolean {
    return ownerId !== null && ownerId === this.ownerId;
  }

  /** Releases the lease: runs this process still owns go to whoever reconciles next. */
  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    if (!this.ownerId) return;
    try {
      this.store.releaseOwner(this.ownerId);
    } catch (error) {
      // The lease lapses by itself; a later process reconciles.
      this.opts.logger.warn({ err: (error as Error).message }, 'could not release the owner lease');
    }
    this.ownerId = undefined;
  }

  private beat(): void {
    if (!this.ownerId) return;
    try {
      if (!this.store.heartbeat(this.ownerId, this.now() + this.leaseMs))
        this.opts.logger.error(
          { owner: this.ownerId },
          'this process lost its owner lease (another process reconciled its runs); it stops taking new work',
        );
    } catch (error) {
      this.opts.logger.warn({ err: (error as Error).message }, 'heartbeat failed; retrying');
    }
  }
}
