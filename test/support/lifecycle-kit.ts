import { Readable } from 'node:stream';
import { pino } from 'pino';
import { parsePolicy } from '../../src/config/policy.js';
import { Redactor } from '../../src/log/redactor.js';
import { OwnerLease, type ProcessInfo } from '../../src/runs/owner-lease.js';
import type { Publisher, PublishRequest, PublishResult } from '../../src/runs/ports/forge.js';
import type { ModelClient, ModelRequest, ModelResponse } from '../../src/runs/ports/model.js';
import type { RepositorySource } from '../../src/runs/ports/repositories.js';
import type { ExecOptions, ExecResult, Sandbox, SandboxProvider } from '../../src/runs/ports/sandbox.js';
import type { Ticket, Tickets } from '../../src/runs/ports/tickets.js';
import { RunLifecycle } from '../../src/runs/run-lifecycle.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';

/**
 * The run lifecycle on trivial ports, for the specification test: an in-memory store (real
 * SQLite), a scripted model, a sandbox that runs nothing, a recording publisher. Runs in
 * milliseconds. Stand-ins at the wire protocol cover the adapters elsewhere.
 */
export const BASE_SHA = 'b'.repeat(40);
export const SNAPSHOT = 'c'.repeat(40);

export class ScriptedModel implements ModelClient {
  readonly provider = 'scripted';
  readonly model = 'claude-sonnet-5-5';
  readonly requests: ModelRequest[] = [];
  constructor(private readonly replies: Array<Partial<ModelResponse>> = []) {}

  push(...replies: Array<Partial<ModelResponse>>): void {
    this.replies.push(...replies);
  }

  get remaining(): number {
    return this.replies.length;
  }

  async complete(request: ModelRequest): Promise<ModelResponse> {
    this.requests.push(structuredClone({ ...request, signal: undefined, onText: undefined }));
    const next = this.replies.shift();
    if (!next) throw new Error('the scripted model has no reply left');
    return {
      content: [{ type: 'text', text: 'Done.' }],
      stopReason: 'end_turn',
      model: this.model,
      usage: { inputTokens: 10, outputTokens: 5, cacheReadTokens: 0, cacheWriteTokens: 0 },
      ...next,
    };
  }

  async check(): Promise<string> {
    return 'ok';
  }
}

const OK: ExecResult = {
  exitCode: 0,
  stdout: Buffer.alloc(0),
  stderr: Buffer.alloc(0),
  timedOut: false,
  cancelled: false,
  droppedBytes: 0,
  durationMs: 1,
};

/** A sandbox that records commands and answers the snapshot script with a fixed commit. */
export class TrivialSandbox implements Sandbox {
  readonly workdir = '/workspace';
  readonly commands: string[] = [];
  destroyed = false;
  constructor(
    readonly runId: string,
    private readonly provider: TrivialSandboxes,
  ) {}

  async exec(command: string, opts: ExecOptions = {}): Promise<ExecResult> {
    this.commands.push(command);
    // The snapshot's checkout: the pack is drained as a backend would, and HEAD is the base commit.
    const checkedOut = /update-ref refs\/heads\/airlock-base ([0-9a-f]+)/.exec(command)?.[1];
    if (checkedOut) {
      if (opts.stdin && typeof opts.stdin === 'object' && 'pipe' in opts.stdin)
        for await (const _ of opts.stdin as Readable) {
          // drained
        }
      return { ...OK, stdout: Buffer.from(`${checkedOut}\n`) };
    }
    if (command.includes('git rev-parse HEAD')) return { ...OK, stdout: Buffer.from(`${SNAPSHOT}\n`) };
    return OK;
  }
  async readFile(): Promise<Buffer> {
    return Buffer.alloc(0);
  }
  async writeFile(): Promise<void> {}
  async putTree(tar: NodeJS.ReadableStream): Promise<void> {
    for await (const _ of tar as Readable) {
      // drained, as a backend would
    }
  }
  async diff(): Promise<Buffer> {
    return this.provider.nextDiff;
  }
  async destroy(): Promise<void> {
    this.destroyed = true;
    this.provider.live.delete(this.runId);
  }
}

export class TrivialSandboxes implements SandboxProvider {
  readonly kind = 'local' as const;
  readonly live = new Map<string, TrivialSandbox>();
  readonly created: string[] = [];
  nextDiff: Buffer = Buffer.alloc(0);
  /** While set, create() waits for it: sandboxes being made pile up where a test can count them. */
  gate?: Promise<void>;
  making = 0;
  mostMadeAtOnce = 0;

  async create(runId: string): Promise<Sandbox> {
    this.making++;
    this.mostMadeAtOnce = Math.max(this.mostMadeAtOnce, this.making);
    try {
      await this.gate;
    } finally {
      this.making--;
    }
    const sandbox = new TrivialSandbox(runId, this);
    this.live.set(runId, sandbox);
    this.created.push(runId);
    return sandbox;
  }
  async attach(runId: string): Promise<Sandbox | undefined> {
    return this.live.get(runId);
  }
}

export class RecordingPublisher implements Publisher {
  readonly requests: PublishRequest[] = [];
  /** Failures to throw, one per publish, before publishes succeed. */
  failures: string[] = [];
  async publish(request: PublishRequest): Promise<PublishResult> {
    this.requests.push(request);
    const failure = this.failures.shift();
    if (failure) throw new Error(failure);
    return {
      commitSha: `commit-of-${request.approvedAt}`,
      alreadyPushed: this.requests.length > 1,
      pullRequest: {
        number: 1,
        url: 'https://forge.test/acme/widgets/pull/1',
        created: this.requests.length === 1,
      },
    };
  }
}

const NO_TICKETS: Tickets = {
  configured: false,
  fetch: async (): Promise<Ticket> => {
    throw new Error('no tickets here');
  },
  commentPullRequest: async () => {},
  transition: async () => {},
  search: async () => [],
  urlFor: () => undefined,
  check: async () => 'none',
};

export const REPOS: RepositorySource = {
  fetchBase: async () => BASE_SHA,
  snapshot: () => Readable.from([Buffer.from('tar')]),
  readFile: async () => undefined,
  changesBetween: async () => Buffer.alloc(0),
  isAncestor: async () => true,
  reviewDiff: async () => Buffer.alloc(0),
};

export const POLICY = `
repos:
  acme/widgets:
    approvers: [U0APPROVER, S0LEADS]
    four_eyes: true
    approval_ttl: 1h
`;

export interface Kit {
  store: SqliteStore;
  lifecycle: RunLifecycle;
  owner: OwnerLease;
  model: ScriptedModel;
  sandboxes: TrivialSandboxes;
  publisher: RecordingPublisher;
  clock: { now: number };
  /** Another lifecycle over the same store, as another process would have. */
  other(process: ProcessInfo, opts?: { kind?: string }): { lifecycle: RunLifecycle; owner: OwnerLease };
}

export function lifecycleKit(opts: { policy?: string } = {}): Kit {
  const store = new SqliteStore(openDatabase(':memory:'));
  const clock = { now: Date.parse('2026-11-30T10:00:00.000Z') };
  const now = () => clock.now;
  const logger = pino({ level: 'silent' });
  const policy = parsePolicy(opts.policy ?? POLICY);
  const model = new ScriptedModel();
  const sandboxes = new TrivialSandboxes();
  const publisher = new RecordingPublisher();
  const build = (owner: OwnerLease) =>
    new RunLifecycle({
      owner,
      store,
      policy,
      repos: REPOS,
      sandboxes,
      publisher,
      tickets: NO_TICKETS,
      model: () => model,
      logger,
      redactor: new Redactor([]),
      now,
    });
  const owner = new OwnerLease(store, { kind: 'test', logger, now });
  return {
    store,
    lifecycle: build(owner),
    owner,
    model,
    sandboxes,
    publisher,
    clock,
    other(process, o = {}) {
      const lease = new OwnerLease(store, { kind: o.kind ?? 'test', logger, now, process });
      return { lifecycle: build(lease), owner: lease };
    },
  };
}
