/**
 * `npm run bench:kubernetes`: how long a run waits for its sandbox on the kubernetes backend,
 * claiming a warm pod versus creating one, against the Kubernetes API stand-in on loopback. The
 * stand-in's kubelet spends `--start-ms` per lifecycle step (schedule, sandbox, start) and really
 * starts the container's process under bubblewrap; a real cluster adds image pull and CNI setup
 * to the cold path, never to the claim. Prints a Markdown table for BENCHMARKS.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { parsePolicy } from '../src/config/policy.js';
import { KubeApi } from '../src/sandbox/kubernetes/kube-api.js';
import { KubernetesSandboxes } from '../src/sandbox/kubernetes/kubernetes-sandboxes.js';
import { POOL_LABEL } from '../src/sandbox/kubernetes/pod-spec.js';
import { startFakeKubernetes } from '../test/fakes/kubernetes/index.js';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '20' }, 'start-ms': { type: 'string', default: '300' } },
});
const runs = Number(values.runs);
const startMs = Number(values['start-ms']);
const NS = 'airlock-sandboxes';

const kube = await startFakeKubernetes({ startDelayMs: startMs });
const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-k8s-'));
kube.writeKubeconfig(join(dir, 'kubeconfig'));

function provider(warm: number): KubernetesSandboxes {
  const kc = new KubeConfig();
  kc.loadFromFile(join(dir, 'kubeconfig'));
  const policy = parsePolicy(`repos:\n  acme/widgets: {}\nsandbox: { warm_pool: ${warm} }\n`);
  return new KubernetesSandboxes(new KubeApi(kc, NS), policy, {
    logger: pino({ level: 'silent' }),
    isRunActive: () => true,
  });
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 10));
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

async function measure(sandboxes: KubernetesSandboxes, prefix: string, beforeEach: () => Promise<void>) {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    await beforeEach();
    const started = performance.now();
    const sandbox = await sandboxes.create(`${prefix}${i}`, { repo: 'acme/widgets' });
    // Ready means a command ran: the first exec is part of what a run waits for.
    await sandbox.exec('true');
    times.push(performance.now() - started);
    await sandbox.destroy();
  }
  return times;
}

const warmReady = () =>
  kube.pods(NS).filter((p) => p.metadata.labels[POOL_LABEL] === 'warm' && p.status.phase === 'Running')
    .length;

const cold = await measure(provider(0), 'cold', async () => {});
const pool = provider(2);
await pool.start();
const claimed = await measure(pool, 'warm', () => until(() => warmReady() >= 2));
await pool.close();

const row = (what: string, t: number[]) =>
  `| ${what} | ${percentile(t, 50).toFixed(0)} ms | ${percentile(t, 95).toFixed(0)} ms | ${Math.max(...t).toFixed(0)} ms |`;
process.stdout.write(
  `Machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}; ` +
    `${runs} runs each; stand-in kubelet step ${startMs} ms\n\n`,
);
process.stdout.write('| sandbox for a run | p50 | p95 | max |\n| --- | --- | --- | --- |\n');
process.stdout.write(`${row('cold: create the pod, wait until Running, first exec', cold)}\n`);
process.stdout.write(`${row('warm: claim a ready pod (list + patch), first exec', claimed)}\n`);
await kube.close();
rmSync(dir, { recursive: true, force: true });
