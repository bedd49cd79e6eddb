/**
 * `npm run bench`: the engine's hot paths, measured on this machine. Prints a Markdown table
 * for BENCHMARKS.md. Loopback and temp directories only; every loop is bounded.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { parsePolicy } from '../src/config/policy.js';
import { Mirrors } from '../src/repos/mirror.js';
import { checkoutSnapshot } from '../src/runs/workspace-git.js';
import { KubeApi } from '../src/sandbox/kubernetes/kube-api.js';
import { KubernetesSandboxes } from '../src/sandbox/kubernetes/kubernetes-sandboxes.js';
import { LocalSandboxProvider } from '../src/sandbox/local/local-sandbox.js';
import { openDatabase } from '../src/store/database.js';
import { SqliteStore } from '../src/store/sqlite-store.js';
import { startFakeKubernetes } from '../test/fakes/kubernetes/index.js';
import { longTask } from './long-task.js';

const rows: string[][] = [];
const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-'));

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function timed<T>(fn: () => Promise<T> | T): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e6;
}

// 1. Audit log: appending events (each its own transaction, as the engine writes them) and verifying.
{
  const store = new SqliteStore(openDatabase(join(dir, 'bench.db')));
  const runs = 200;
  const perRun = 250;
  const ms = await timed(() => {
    for (let r = 0; r < runs; r++) {
      const id = `run${r}`;
      store.createRun({
        id,
        repo: 'acme/widgets',
        task: 'bench',
        requester: 'U1',
        source: 'cli',
        baseRef: 'main',
        ownerId: null,
      });
      for (let i = 1; i < perRun; i++) {
        store.recordToolCall({
          runId: id,
          step: i,
          toolUseId: `t${i}`,
          name: 'bash',
          input: { command: 'npm test' },
          output: 'x'.repeat(2000),
          exitCode: 0,
          isError: false,
          durationMs: 5,
        });
      }
    }
  });
  const events = runs * perRun;
  rows.push([
    'audit: append tool call + chained event',
    `${events} events`,
    `${Math.round(events / (ms / 1000))} events/s`,
  ]);
  const verifyMs = await timed(() => {
    const report = store.verifyAudit();
    if (!report.ok) throw new Error('chain broken in bench');
  });
  rows.push(['audit: `audit verify`', `${events} events`, `${(verifyMs / 1000).toFixed(2)} s`]);
  store.close();
}

// 2. Local sandbox: per-command overhead, bubblewrap and plain.
for (const isolation of ['bubblewrap', 'none'] as const) {
  try {
    const provider = new LocalSandboxProvider(join(dir, `ws-${isolation}`), { isolation });
    const sandbox = await provider.create('bench');
    const times: number[] = [];
    for (let i = 0; i < 50; i++) times.push(await timed(() => sandbox.exec('true')));
    rows.push([
      `sandbox exec \`true\` (${isolation})`,
      '50 runs',
      `p50 ${percentile(times, 50).toFixed(1)} ms, p95 ${percentile(times, 95).toFixed(1)} ms`,
    ]);
    await sandbox.destroy();
  } catch (error) {
    rows.push([`sandbox exec (${isolation})`, '-', `unavailable: ${(error as Error).message}`]);
  }
}

// 2b. Kubernetes sandbox: per-command overhead through its exec session, against the API stand-in
// (test/fakes/kubernetes/: the real @kubernetes/client-node over a loopback WebSocket, the pod a
// bubblewrapped process). The first command, which opens the session, is not counted. Then the
// same with a time limit, as the agent's commands have (coreutils `timeout` in the pod).
{
  const kube = await startFakeKubernetes();
  try {
    kube.writeKubeconfig(join(dir, 'kubeconfig'));
    const kc = new KubeConfig();
    kc.loadFromFile(join(dir, 'kubeconfig'));
    const provider = new KubernetesSandboxes(
      new KubeApi(kc, 'airlock-sandboxes'),
      parsePolicy('repos:\n  acme/bench: {}\n'),
      { logger: pino({ level: 'silent' }), isRunActive: () => true },
    );
    const sandbox = await provider.create('bench', { repo: 'acme/bench' });
    await sandbox.exec('true');
    for (const [label, opts] of [
      ['', {}],
      [', 60 s time limit', { timeoutMs: 60_000 }],
    ] as const) {
      const times: number[] = [];
      for (let i = 0; i < 50; i++) times.push(await timed(() => sandbox.exec('true', opts)));
      rows.push([
        `sandbox exec \`true\` (kubernetes, API stand-in${label})`,
        '50 runs',
        `p50 ${percentile(times, 50).toFixed(1)} ms, p95 ${percentile(times, 95).toFixed(1)} ms`,
      ]);
    }
    await sandbox.destroy();
    await provider.close();
  } catch (error) {
    rows.push(['sandbox exec (kubernetes)', '-', `unavailable: ${(error as Error).message}`]);
  } finally {
    await kube.close();
  }
}

// 3. Snapshot of a 2,000-file repository into a fresh sandbox, and the diff after edits.
{
  const src = join(dir, 'src-repo');
  mkdirSync(src);
  for (let d = 0; d < 40; d++) {
    mkdirSync(join(src, `pkg${d}`));
    for (let f = 0; f < 50; f++)
      writeFileSync(join(src, `pkg${d}`, `file${f}.ts`), `export const v${f} = ${'1'.repeat(400)};\n`);
  }
  const git = (...args: string[]) => execFileSync('git', args, { cwd: src, encoding: 'utf8' }).trim();
  git('init', '-q', '-b', 'main');
  git('add', '-A');
  git('-c', 'user.name=b', '-c', 'user.email=b@b', 'commit', '-q', '-m', 'bench');
  const mirrors = new Mirrors(join(dir, 'mirrors'));
  const sha = await mirrors.fetchBase('acme/bench', src, 'main');
  const provider = new LocalSandboxProvider(join(dir, 'ws-snap'), { isolation: 'auto' });
  const sandbox = await provider.create('snap');
  let snapshot = '';
  const snapMs = await timed(async () => {
    snapshot = await checkoutSnapshot(sandbox, mirrors.snapshot('acme/bench', sha), sha);
  });
  rows.push([
    'snapshot: pack of the base commit + checkout',
    '2,000 files, 0.8 MB',
    `${snapMs.toFixed(0)} ms`,
  ]);
  await sandbox.exec(
    'for i in $(seq 0 99); do echo change >> pkg1/file$((i % 50)).ts; done; echo new > added.txt',
  );
  let bytes = 0;
  const diffMs = await timed(async () => {
    bytes = (await sandbox.diff(snapshot)).length;
  });
  rows.push([
    'diff: `git diff --binary` via throwaway index',
    `2,000 files, ${bytes} B diff`,
    `${diffMs.toFixed(0)} ms`,
  ]);
  await sandbox.destroy();
}

{
  // Issue 13: a long task never outgrows the model's window.
  const r = await longTask(100);
  const pct = (x: number) => `${(x * 100).toFixed(0)} %`;
  rows.push([
    'long task: 100 commands of ~30 kB output each, 200k window, prompt caching',
    `${r.steps} model calls`,
    `largest prompt ${r.largestPromptTokens.toLocaleString('en')} tokens; ${r.promptTokensPerStep.toLocaleString('en')} per call; ` +
      `${r.elisions} elisions; cache reads ${pct(r.cacheReadShare)} of prompt tokens (${pct(r.cacheReadShareOnElision)} on the calls that elided); ${r.seconds.toFixed(1)} s`,
  ]);
}

rmSync(dir, { recursive: true, force: true });
const cpu = cpus()[0]?.model ?? 'unknown CPU';
process.stdout.write(`Machine: ${cpus().length} × ${cpu}, Node ${process.version}\n\n`);
process.stdout.write('| what | size | result |\n| --- | --- | --- |\n');
for (const r of rows) process.stdout.write(`| ${r.join(' | ')} |\n`);
