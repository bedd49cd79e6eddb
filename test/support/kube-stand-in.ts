// Helpers for the tests of the Kubernetes API stand-in, which drive it only through the real
// @kubernetes/client-node.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import {
  ApiException,
  CoreV1Api,
  Exec,
  KubeConfig,
  type V1Pod,
  type V1Status,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, expect } from 'vitest';
import {
  type FakeKubernetes,
  type FakeKubernetesOptions,
  startFakeKubernetes,
} from '../fakes/kubernetes/index.js';

export const NS = 'airlock-sandboxes';
export const USER = 'system:serviceaccount:airlock:airlock';

export interface Status {
  kind: string;
  status: string;
  message: string;
  reason: string;
  code: number;
  details?: { name?: string; kind?: string; causes?: Array<{ field?: string; message: string }> };
}

/** A pod that meets the restricted standard, idling in a loop, with the sandbox's writable dirs. */
export function sandboxPod(
  name: string,
  patch: { labels?: Record<string, string>; image?: string; command?: string } = {},
): V1Pod {
  const mount = (n: string, path: string) => ({ name: n, mountPath: path });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: patch.labels ?? { app: 'sandbox' } },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'sandbox',
          image: patch.image ?? 'ghcr.io/acme/sandbox:1',
          command: [
            '/bin/sh',
            '-c',
            patch.command ?? 'echo booted; echo warming >&2; while :; do sleep 1; done',
          ],
          workingDir: '/workspace',
          env: [{ name: 'HOME', value: '/home/airlock' }],
          resources: { limits: { cpu: '1', memory: '1Gi', 'ephemeral-storage': '2Gi' } },
          securityContext: {
            allowPrivilegeEscalation: false,
            readOnlyRootFilesystem: true,
            runAsNonRoot: true,
            capabilities: { drop: ['ALL'] },
          },
          volumeMounts: [
            mount('workspace', '/workspace'),
            mount('tmp', '/tmp'),
            mount('home', '/home/airlock'),
          ],
        },
      ],
      volumes: ['workspace', 'tmp', 'home'].map((n) => ({ name: n, emptyDir: {} })),
    },
  };
}

/** The Status body of a refused call. */
export async function refusal(call: Promise<unknown>): Promise<Status> {
  const err = await call.then(
    () => {
      throw new Error('expected the call to be refused');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiException);
  const body = JSON.parse((err as ApiException<string>).body) as Status;
  expect(body).toMatchObject({ kind: 'Status', status: 'Failure', code: (err as ApiException<string>).code });
  return body;
}

export async function until<T>(
  probe: () => T | undefined | false | Promise<T | false>,
  what: string,
  ms = 5000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  status?: V1Status;
  protocol: string;
}

export async function run(
  kc: KubeConfig,
  pod: string,
  command: string[],
  stdin?: string,
): Promise<ExecResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const stdout = new PassThrough().on('data', (b: Buffer) => out.push(b));
  const stderr = new PassThrough().on('data', (b: Buffer) => err.push(b));
  let status: V1Status | undefined;
  const input = stdin === undefined ? null : Readable.from([Buffer.from(stdin)]);
  const ws = await new Exec(kc).exec(NS, pod, 'sandbox', command, stdout, stderr, input, false, (s) => {
    status = s;
  });
  await new Promise((resolve) => ws.once('close', resolve));
  return {
    stdout: Buffer.concat(out).toString(),
    stderr: Buffer.concat(err).toString(),
    status,
    protocol: ws.protocol,
  };
}

export async function startWith(opts: FakeKubernetesOptions = {}) {
  const kube = await startFakeKubernetes(opts);
  const dir = mkdtempSync(join(tmpdir(), 'kube-stand-in-'));
  kube.writeKubeconfig(join(dir, 'kubeconfig'));
  const kc = new KubeConfig();
  kc.loadFromFile(join(dir, 'kubeconfig'));
  const close = async () => {
    await kube.close();
    rmSync(dir, { recursive: true, force: true });
  };
  return { kube, kc, core: kc.makeApiClient(CoreV1Api), close };
}

export interface StandIn {
  kube: FakeKubernetes;
  kc: KubeConfig;
  core: CoreV1Api;
}

/** One stand-in for a describe block: started before its tests, closed after them. */
export function useStandIn(onReady: (s: StandIn) => void) {
  let state: StandIn | undefined;
  let close: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const started = await startWith();
    state = started;
    close = started.close;
    onReady(started);
  });
  afterAll(() => close?.());
  const running = (name: string) =>
    until(
      () => state?.kube.pods(NS).find((p) => p.metadata.name === name && p.status.phase === 'Running'),
      `${name} running`,
    );
  const createRunning = async (name: string, labels?: Record<string, string>) => {
    await state?.core.createNamespacedPod({ namespace: NS, body: sandboxPod(name, { labels }) });
    return running(name);
  };
  return { running, createRunning };
}
