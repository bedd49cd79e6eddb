/**
 * `npm run bench:start`: how long a run takes from its request to the agent's first model call and
 * first command, for a repository of 10,000 files whose setup takes 8 s: cold, on a warm pod
 * (kubernetes) and prepared (`airlock prepare`), on both backends, with each phase's share.
 *
 * Everything is real except the far ends: the whole app is built by buildApp from a policy file
 * and a data directory (as `airlock run` does), the repository is a local bare one (forge: git),
 * the model is the Anthropic stand-in and the cluster is the Kubernetes API stand-in (its kubelet
 * spends `--start-ms` per lifecycle step and runs each pod's process under bubblewrap). Phases are
 * timed by decorators on the ports (bench/start-probe.ts); "first model call" is when the stand-in
 * gets the first /v1/messages request. Each prepared run is built by a refresh in one app (as
 * `airlock prepare`) and runs in a new one (as the next `airlock run`). Process start-up of the
 * CLI (about half a second for Node and its modules) is not included. Prints Markdown.
 *
 * Options: --runs N (3), --files N (10000), --setup CMD ('sleep 8'), --start-ms N (300),
 * --only local-cold,local-prepared,kubernetes-cold,kubernetes-warm-pool,kubernetes-prepared.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type App, buildApp } from '../src/composition-root.js';
import { Mirrors } from '../src/repos/mirror.js';
import { KubernetesSandboxes } from '../src/sandbox/kubernetes/kubernetes-sandboxes.js';
import { RUN_ID_LABEL } from '../src/sandbox/kubernetes/pod-spec.js';
import { startFakeAnthropic } from '../test/fakes/anthropic-server.js';
import { startFakeKubernetes } from '../test/fakes/kubernetes/index.js';
import { instrument, instrumentRepositories, type Phases, Probe, phasesOf } from './start-probe.js';
import { makeBenchRepo } from './start-repo.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    files: { type: 'string', default: '10000' },
    setup: { type: 'string', default: 'sleep 8' },
    'start-ms': { type: 'string', default: '300' },
    only: { type: 'string' },
  },
});
const RUNS = Number(values.runs);
const SETUP = values.setup;
const START_MS = Number(values['start-ms']);
const REPO = 'acme/bench';
const NS = 'airlock-sandboxes';
const KEY = 'sk-ant-bench-start-5e1f';

type Backend = 'local' | 'kubernetes';
type Mode = 'cold' | 'warm pool' | 'prepared';
interface Case {
  backend: Backend;
  mode: Mode;
}
const ALL_CASES: Case[] = [
  { backend: 'local', mode: 'cold' },
  { backend: 'local', mode: 'prepared' },
  { backend: 'kubernetes', mode: 'cold' },
  { backend: 'kubernetes', mode: 'warm pool' },
  { backend: 'kubernetes', mode: 'prepared' },
];
const CASES = ALL_CASES.filter(
  (c) => !values.only || values.only.split(',').includes(`${c.backend}-${c.mode.replace(' ', '-')}`),
);

const root = mkdtempSync(join(tmpdir(), 'airlock-bench-start-'));
const made = performance.now();
const repo = makeBenchRepo(join(root, 'repo'), Number(values.files));
process.stderr.write(
  `repository: ${repo.files} files, ${(repo.bytes / 1e6).toFixed(1)} MB, made in ${((performance.now() - made) / 1000).toFixed(1)} s\n`,
);

/**
 * The same work on the host, outside airlock: unpacking the tree and committing it. On this kind
 * of machine creating 10,000 files costs what the disk makes it cost; this says how much of the
 * cold start is that and not airlock.
 */
function hostBaseline(): { unpack: number; commit: number } {
  const unpack: number[] = [];
  const commit: number[] = [];
  for (let i = 0; i < 3; i++) {
    const dir = mkdtempSync(join(root, 'host-'));
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: dir, BARE: repo.bare, DIR: dir };
    const sh = (script: string) => execFileSync('sh', ['-c', script], { env, stdio: 'ignore' });
    let t = performance.now();
    sh('git -C "$BARE" archive main | tar -x --no-same-owner -f - -C "$DIR"');
    unpack.push(performance.now() - t);
    t = performance.now();
    // gc.auto=0: 10,000 loose objects would start a background `git gc` racing the rm below.
    sh(
      'cd "$DIR" && git init -q && git add -A && git -c gc.auto=0 -c user.name=b -c user.email=b@b commit -qm s',
    );
    commit.push(performance.now() - t);
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  }
  return { unpack: median(unpack), commit: median(commit) };
}
const baseline = hostBaseline();

const probe = new Probe(SETUP);
instrumentRepositories(probe);
const model = await startFakeAnthropic({ apiKey: KEY });
const kube = await startFakeKubernetes({ startDelayMs: START_MS });
const kubeconfig = join(root, 'kubeconfig');
kube.writeKubeconfig(kubeconfig);

async function until(check: () => boolean | Promise<boolean>, what: string, ms = 120_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** A case's policy file and data directory, kept across its repetitions (the mirror stays). */
function caseEnv(c: Case): Record<string, string> {
  const dir = join(root, `${c.backend}-${c.mode.replace(' ', '-')}`);
  mkdirSync(join(dir, 'conf'), { recursive: true });
  const config = join(dir, 'conf', 'airlock.yaml');
  writeFileSync(
    config,
    [
      'repos:',
      `  ${REPO}:`,
      `    url: ${repo.bare}`,
      '    forge: git',
      `    setup: '${SETUP}'`,
      `    prepared: ${c.mode === 'prepared' ? 1 : 0}`,
      `sandbox: { warm_pool: ${c.mode === 'warm pool' ? 1 : 0} }`,
      '',
    ].join('\n'),
  );
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    AIRLOCK_CONFIG: config,
    AIRLOCK_DATA_DIR: join(dir, 'data'),
    AIRLOCK_SANDBOX: c.backend,
    ANTHROPIC_API_KEY: KEY,
    ANTHROPIC_BASE_URL: model.url,
    ...(c.backend === 'kubernetes' ? { KUBECONFIG: kubeconfig } : {}),
  };
}

/** The agent's first turn runs one command; the second ends with no changes. */
function scriptOneCommand(): void {
  model.push(
    () => {
      probe.current?.mark('model');
      return { content: [{ type: 'tool_use', name: 'bash', input: { command: 'ls' } }] };
    },
    { content: [{ type: 'text', text: 'Nothing to change.' }] },
  );
}

function runPods(runId: string) {
  return kube.pods(NS).filter((p) => p.metadata.labels?.[RUN_ID_LABEL] === runId);
}

interface Result {
  phases: Phases[];
  /** Time to build one prepared sandbox (the `airlock prepare` before each prepared run). */
  prepare: number[];
  na?: string;
}

async function oneRun(c: Case, env: Record<string, string>, result: Result): Promise<void> {
  if (c.mode === 'prepared') {
    const prep = buildApp(env);
    try {
      if (!prep.sandboxes.adopt) {
        result.na = 'n/a (adopt not implemented)';
        return;
      }
      const started = performance.now();
      const report = await prep.preparedPool.refresh(REPO, { atLeast: 1 });
      if (report.ready < 1) throw new Error(`prepare failed: ${report.failed.join('; ')}`);
      result.prepare.push(performance.now() - started);
    } finally {
      prep.close();
    }
  }
  const app: App = buildApp(env);
  try {
    instrument(app, probe);
    if (c.mode === 'warm pool') {
      const sandboxes = app.sandboxes as KubernetesSandboxes;
      if (!(sandboxes instanceof KubernetesSandboxes)) throw new Error('warm pool needs kubernetes');
      await sandboxes.start();
      await until(async () => (await sandboxes.pool.ready()) >= 1, 'a ready warm pod');
    }
    await app.startEgress();
    scriptOneCommand();
    const recording = probe.begin();
    const requestedAt = performance.now();
    const requested = app.lifecycle.request({
      repo: REPO,
      task: 'Look around.',
      requester: { id: 'cli:bench' },
      source: 'cli',
      trusted: true,
    });
    if (!requested.allowed) throw new Error(requested.reason);
    const runId = requested.run.id;
    const work = await app.lifecycle.start(runId);
    probe.end();
    app.lifecycle.settle(work);
    await app.lifecycle.destroySandbox(runId);
    if (c.backend === 'kubernetes') await until(() => runPods(runId).length === 0, 'the run pod to go');
    if (model.problems.length || model.remaining())
      throw new Error(`model stand-in: ${model.problems.join('; ')} (${model.remaining()} steps left)`);
    const phases = phasesOf(recording, requestedAt);
    if (c.mode === 'prepared' && !phases.claimed) {
      // Counted as a miss, not as a prepared start: the run went cold (see airlock.log for why).
      result.na = `n/a (prepared sandbox not claimed: the run started cold in ${(phases.firstModelCall / 1000).toFixed(1)} s)`;
      return;
    }
    if (c.mode === 'warm pool' && app.sandboxes.starts?.().warm !== 1)
      throw new Error('the warm pod was not claimed');
    result.phases.push(phases);
  } finally {
    probe.end();
    await app.sandboxes.close?.();
    app.close();
  }
}

const results = new Map<Case, Result>();
let mirrorClone = 0;
for (const c of CASES) {
  const env = caseEnv(c);
  // A server has the mirror already: the first clone is made before, and timed apart.
  const cloned = performance.now();
  await new Mirrors(join(env.AIRLOCK_DATA_DIR as string, 'mirrors')).fetchBase(REPO, repo.bare, 'main');
  mirrorClone = Math.max(mirrorClone, performance.now() - cloned);
  const result: Result = { phases: [], prepare: [] };
  results.set(c, result);
  for (let i = 0; i < RUNS && !result.na; i++) {
    await oneRun(c, env, result);
    const p = result.phases.at(-1);
    if (p)
      process.stderr.write(
        `${c.backend} ${c.mode} #${i + 1}: first model call ${p.firstModelCall.toFixed(0)} ms ` +
          `(${JSON.stringify(p, (_k, v) => (typeof v === 'number' ? Math.round(v) : v))})\n`,
      );
  }
}

function version(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).trim().split('\n')[0] ?? 'unknown';
  } catch {
    return 'not installed';
  }
}

const ms = (v: number) => (v < 1 ? '0' : v.toFixed(0));
const s = (v: number) => `${(v / 1000).toFixed(2)} s`;
const coldOf = (backend: Backend) =>
  [...results].find(([c]) => c.backend === backend && c.mode === 'cold')?.[1].phases;
const lines: string[] = [
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB, ` +
    `Node ${process.version}, ${version('bwrap', ['--version'])}, ${version('git', ['--version'])}. ` +
    `Repository: ${repo.files.toLocaleString('en')} files, ${(repo.bytes / 1e6).toFixed(1)} MB; setup \`${SETUP}\`; ` +
    `stand-in kubelet step ${START_MS} ms; median of ${RUNS} runs per case. First mirror clone ${s(mirrorClone)} (not in any run). ` +
    `The same tree on the host, outside airlock (median of 3): \`git archive | tar -x\` ${s(baseline.unpack)}, ` +
    `\`git init && git add -A && git commit\` ${s(baseline.commit)}.`,
  '',
  '| case | mirror fetch | sandbox start / claim | snapshot pack (mirror) | tar in | checkout in the sandbox | setup | other | request → first model call | request → first agent command | vs cold | prepare (before) |',
  '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
];
for (const [c, r] of results) {
  const name = `${c.backend} ${c.mode}`;
  if (r.na || !r.phases.length) {
    lines.push(`| ${name} | ${r.na ?? 'n/a'} |||||||||||`);
    continue;
  }
  const m = (k: keyof Phases) => median(r.phases.map((p) => p[k] as number));
  const cold = coldOf(c.backend);
  const speedup =
    c.mode === 'cold'
      ? '1×'
      : !cold?.length
        ? '—'
        : `${(median(cold.map((p) => p.firstModelCall)) / m('firstModelCall')).toFixed(1)}×`;
  lines.push(
    `| ${name} | ${ms(m('mirrorFetch'))} ms | ${ms(m('startOrClaim'))} ms | ${ms(m('snapshot'))} ms | ${ms(m('tarIn'))} ms | ` +
      `${ms(m('snapshotCommit'))} ms | ${ms(m('setup'))} ms | ${ms(m('other'))} ms | **${s(m('firstModelCall'))}** | ` +
      `${s(m('firstCommand'))} | ${speedup} | ${r.prepare.length ? s(median(r.prepare)) : '—'} |`,
  );
}
// Issue 12: a cold start waits only for writing the files once — at most 2× unpacking them on the host.
for (const backend of ['local', 'kubernetes'] as const) {
  const cold = coldOf(backend);
  if (!cold?.length) continue;
  const inSandbox = median(cold.map((p) => p.tarIn + p.snapshotCommit));
  lines.push(
    '',
    `${backend} cold: the snapshot in the sandbox took ${s(inSandbox)}, ${(inSandbox / baseline.unpack).toFixed(2)}× ` +
      `unpacking the same files on the host (${s(baseline.unpack)}; goal: at most 2×).`,
  );
}
process.stdout.write(`${lines.join('\n')}\n`);

await model.close();
await kube.close();
rmSync(root, { recursive: true, force: true });
