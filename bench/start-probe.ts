/**
 * Timing for `npm run bench:start`, taken from outside the code under test: decorators on the
 * ports a run goes through (the SandboxProvider and each Sandbox it hands out, the prepared pool's
 * claim, the RepositorySource's fetchBase and snapshot). They only note when each call starts and
 * ends; what the run does is unchanged.
 */
import type { Readable } from 'node:stream';
import type { App } from '../src/composition-root.js';
import { MirroredRepositories } from '../src/repos/repository-source.js';
import type { ExecOptions, Sandbox } from '../src/runs/ports/sandbox.js';

export interface Span {
  name: string;
  start: number;
  end: number;
}

/** What one run (or one prepare) did, in performance.now() milliseconds. */
export class Recording {
  readonly spans: Span[] = [];
  readonly marks = new Map<string, number>();

  mark(name: string): void {
    if (!this.marks.has(name)) this.marks.set(name, performance.now());
  }
}

export class Probe {
  current?: Recording;
  /** The setup command, told apart from the other commands a sandbox runs. */
  constructor(private readonly setup: string) {}

  begin(): Recording {
    this.current = new Recording();
    return this.current;
  }

  end(): void {
    this.current = undefined;
  }

  async time<T>(name: string, work: () => Promise<T>): Promise<T> {
    const recording = this.current;
    const start = performance.now();
    try {
      return await work();
    } finally {
      recording?.spans.push({ name, start, end: performance.now() });
    }
  }

  kindOf(command: string): string {
    if (command === this.setup) return 'setup';
    if (command.includes('git init -q -b airlock-base')) return 'snapshot-commit';
    return 'exec';
  }
}

function timedSandbox(sandbox: Sandbox, probe: Probe): Sandbox {
  return new Proxy(sandbox, {
    get(target, prop) {
      if (prop === 'exec')
        return (command: string, opts?: ExecOptions) =>
          probe.time(probe.kindOf(command), () => target.exec(command, opts));
      if (prop === 'putTree')
        return (tar: NodeJS.ReadableStream) => probe.time('tar-in', () => target.putTree(tar));
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Wraps the app's sandbox provider and prepared pool in place (the run engine holds the same objects). */
export function instrument(app: App, probe: Probe): void {
  const { sandboxes, preparedPool } = app;
  const create = sandboxes.create.bind(sandboxes);
  sandboxes.create = (runId, spec) =>
    probe.time('create', () => create(runId, spec)).then((s) => timedSandbox(s, probe));
  const attach = sandboxes.attach.bind(sandboxes);
  sandboxes.attach = (runId) =>
    probe.time('attach', () => attach(runId)).then((s) => s && timedSandbox(s, probe));
  const adopt = sandboxes.adopt?.bind(sandboxes);
  if (adopt)
    sandboxes.adopt = (preparedId, runId) =>
      probe.time('adopt', () => adopt(preparedId, runId)).then((s) => s && timedSandbox(s, probe));
  const claim = preparedPool.claim.bind(preparedPool);
  preparedPool.claim = (run, baseSha) =>
    probe
      .time('claim', () => claim(run, baseSha))
      .then((claimed) => {
        if (claimed) probe.current?.mark('claimed');
        return claimed;
      });
}

let repositoriesProbe: Probe | undefined;

/**
 * The RepositorySource every app builds (MirroredRepositories), timed: fetchBase until it
 * answers, snapshot from `git archive`'s start to its last byte. Installed once per process.
 */
export function instrumentRepositories(probe: Probe): void {
  if (repositoriesProbe) throw new Error('repositories are instrumented already');
  repositoriesProbe = probe;
  const proto = MirroredRepositories.prototype;
  const fetchBase = proto.fetchBase;
  proto.fetchBase = function (this: MirroredRepositories, repo: string, base: string) {
    return probe.time('mirror-fetch', () => fetchBase.call(this, repo, base));
  };
  const snapshot = proto.snapshot;
  proto.snapshot = function (this: MirroredRepositories, repo: string, sha: string): Readable {
    const recording = probe.current;
    const start = performance.now();
    const stream = snapshot.call(this, repo, sha);
    stream.once('end', () => recording?.spans.push({ name: 'snapshot', start, end: performance.now() }));
    return stream;
  };
}

/** One run's phases, in ms from its request. */
export interface Phases {
  mirrorFetch: number;
  /** Starting the sandbox (cold create, or a warm pod's claim) or claiming a prepared one. */
  startOrClaim: number;
  /** The pack of the base commit's objects from the mirror, start to last byte; it streams into the checkout (they overlap). */
  snapshot: number;
  tarIn: number;
  /** The checkout in the sandbox: the pack in (index-pack) and the files written. */
  snapshotCommit: number;
  setup: number;
  /** Everything else before the first model call: store writes, instructions, attach, prompt. */
  other: number;
  firstModelCall: number;
  firstCommand: number;
  claimed: boolean;
}

export function phasesOf(recording: Recording, requestedAt: number): Phases {
  const model = recording.marks.get('model');
  if (model === undefined) throw new Error('the model stand-in never got a request');
  const before = recording.spans.filter((s) => s.start < model);
  const total = (name: string) =>
    before.filter((s) => s.name === name).reduce((sum, s) => sum + (s.end - s.start), 0);
  const command = recording.spans.find((s) => s.name === 'exec' && s.start >= model);
  if (!command) throw new Error('the agent ran no command');
  const claimed = recording.marks.has('claimed');
  // A prepared sandbox's claim includes its adoption; a cold start's claim is a miss (a lookup).
  const startOrClaim = claimed ? total('claim') : total('create');
  const counted =
    total('mirror-fetch') + startOrClaim + total('tar-in') + total('snapshot-commit') + total('setup');
  const firstModelCall = model - requestedAt;
  return {
    mirrorFetch: total('mirror-fetch'),
    startOrClaim,
    snapshot: total('snapshot'),
    tarIn: total('tar-in'),
    snapshotCommit: total('snapshot-commit'),
    setup: total('setup'),
    other: firstModelCall - counted,
    firstModelCall,
    firstCommand: command.start - requestedAt,
    claimed,
  };
}
