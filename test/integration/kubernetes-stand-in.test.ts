// The Kubernetes API stand-in, driven only through the real @kubernetes/client-node, so what it
// accepts, refuses and streams is what the client library really sends and understands.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import {
  ApiException,
  AuthorizationV1Api,
  CoreV1Api,
  Exec,
  KubeConfig,
  Log,
  NetworkingV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
  type V1Status,
  Watch,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type FakeKubernetes,
  type FakeKubernetesOptions,
  startFakeKubernetes,
} from '../fakes/kubernetes/index.js';

const NS = 'airlock-sandboxes';
const USER = 'system:serviceaccount:airlock:airlock';

interface Status {
  kind: string;
  status: string;
  message: string;
  reason: string;
  code: number;
  details?: { name?: string; kind?: string; causes?: Array<{ field?: string; message: string }> };
}

/** A pod that meets the restricted standard, idling in a loop, with the sandbox's writable dirs. */
function sandboxPod(
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
async function refusal(call: Promise<unknown>): Promise<Status> {
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

async function until<T>(
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

interface ExecResult {
  stdout: string;
  stderr: string;
  status?: V1Status;
  protocol: string;
}

async function run(kc: KubeConfig, pod: string, command: string[], stdin?: string): Promise<ExecResult> {
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

async function startWith(opts: FakeKubernetesOptions = {}) {
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

describe('the Kubernetes API stand-in, through @kubernetes/client-node', () => {
  let kube: FakeKubernetes;
  let kc: KubeConfig;
  let core: CoreV1Api;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ kube, kc, core, close } = await startWith());
  });
  afterAll(() => close());

  const running = (name: string) =>
    until(
      () => kube.pods(NS).find((p) => p.metadata.name === name && p.status.phase === 'Running'),
      `${name} running`,
    );
  const createRunning = async (name: string, labels?: Record<string, string>) => {
    await core.createNamespacedPod({ namespace: NS, body: sandboxPod(name, { labels }) });
    return running(name);
  };

  it('creates, reads and lists pods, with label and field selectors', async () => {
    const created = await core.createNamespacedPod({
      namespace: NS,
      body: sandboxPod('web-1', { labels: { tier: 'a' } }),
    });
    expect(created.status).toEqual({ phase: 'Pending', qosClass: 'Guaranteed' });
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.spec?.restartPolicy).toBe('Never');
    expect(created.spec?.dnsPolicy).toBe('ClusterFirst');
    expect(created.spec?.containers[0]?.resources?.requests).toEqual({
      cpu: '1',
      memory: '1Gi',
      'ephemeral-storage': '2Gi',
    });
    const gen = await core.createNamespacedPod({
      namespace: NS,
      body: { ...sandboxPod(''), metadata: { generateName: 'web-', labels: { tier: 'b' } } },
    });
    expect(gen.metadata?.name).toMatch(/^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    expect(Number(gen.metadata?.resourceVersion)).toBeGreaterThan(Number(created.metadata?.resourceVersion));
    await core.createNamespacedPod({
      namespace: NS,
      body: sandboxPod('plain-1', { labels: { other: 'x' } }),
    });

    const pod = await running('web-1');
    expect(pod.spec.nodeName).toBe('fake-node-1');
    expect(pod.status.podIP).toMatch(/^10\.244\.0\.\d+$/);
    expect(
      pod.status.conditions.map((c: { type: string; status: string }) => `${c.type}=${c.status}`),
    ).toEqual([
      'PodReadyToStartContainers=True',
      'Initialized=True',
      'Ready=True',
      'ContainersReady=True',
      'PodScheduled=True',
    ]);
    expect(pod.status.containerStatuses[0]).toMatchObject({
      name: 'sandbox',
      ready: true,
      started: true,
      restartCount: 0,
    });
    expect(pod.status.containerStatuses[0].state.running.startedAt).toBeTruthy();
    const read = await core.readNamespacedPod({ name: 'web-1', namespace: NS });
    expect(read.kind).toBe('Pod');
    expect(read.metadata?.resourceVersion).toBe(pod.metadata.resourceVersion);

    const names = async (q: { labelSelector?: string; fieldSelector?: string }) =>
      (await core.listNamespacedPod({ namespace: NS, ...q })).items.map((p) => p.metadata?.name).sort();
    const all = ['plain-1', 'web-1', gen.metadata?.name].sort();
    expect(await names({})).toEqual(all);
    expect(await names({ labelSelector: 'tier=a' })).toEqual(['web-1']);
    expect(await names({ labelSelector: 'tier==a' })).toEqual(['web-1']);
    expect(await names({ labelSelector: 'tier!=a' })).toEqual(['plain-1', gen.metadata?.name].sort());
    expect(await names({ labelSelector: 'tier in (a, b)' })).toEqual(['web-1', gen.metadata?.name].sort());
    expect(await names({ labelSelector: 'tier notin (a)' })).toEqual(['plain-1', gen.metadata?.name].sort());
    expect(await names({ labelSelector: 'tier' })).toEqual(['web-1', gen.metadata?.name].sort());
    expect(await names({ labelSelector: '!tier,other=x' })).toEqual(['plain-1']);
    expect(await names({ fieldSelector: 'metadata.name=web-1' })).toEqual(['web-1']);
    await running('plain-1');
    expect(await names({ labelSelector: 'tier', fieldSelector: 'status.phase!=Pending' })).toContain('web-1');
    expect((await refusal(core.listNamespacedPod({ namespace: NS, labelSelector: 'tier in (a' }))).code).toBe(
      400,
    );
    expect(
      await refusal(core.listNamespacedPod({ namespace: NS, fieldSelector: 'spec.image=x' })),
    ).toMatchObject({
      code: 400,
      message: 'field label not supported: spec.image',
    });
    expect(
      await refusal(core.createNamespacedPod({ namespace: NS, body: sandboxPod('web-1') })),
    ).toMatchObject({
      code: 409,
      reason: 'AlreadyExists',
      message: 'pods "web-1" already exists',
      details: { name: 'web-1', kind: 'pods' },
    });
  });

  it('enforces the restricted Pod Security Standard and refuses unknown RuntimeClasses', async () => {
    const privileged = sandboxPod('root-1');
    const c = privileged.spec?.containers[0];
    if (c) c.securityContext = { privileged: true };
    const denied = await refusal(core.createNamespacedPod({ namespace: NS, body: privileged }));
    expect(denied).toMatchObject({
      code: 403,
      reason: 'Forbidden',
      details: { name: 'root-1', kind: 'pods' },
    });
    expect(denied.message).toMatch(/^pods "root-1" is forbidden: violates PodSecurity "restricted:latest": /);
    expect(denied.message).toContain('sandbox: privileged; sandbox: allowPrivilegeEscalation must be false');
    expect(kube.pods(NS).some((p) => p.metadata.name === 'root-1')).toBe(false);

    const gvisor = sandboxPod('gvisor-1');
    if (gvisor.spec) gvisor.spec.runtimeClassName = 'kata';
    expect(await refusal(core.createNamespacedPod({ namespace: NS, body: gvisor }))).toMatchObject({
      code: 403,
      message: 'pods "gvisor-1" is forbidden: pod rejected: RuntimeClass "kata" not found',
    });
    if (gvisor.spec) gvisor.spec.runtimeClassName = 'gvisor';
    expect((await core.createNamespacedPod({ namespace: NS, body: gvisor })).spec?.runtimeClassName).toBe(
      'gvisor',
    );
  });

  it('validates pods like the API server: required fields 422, wrong types 400, bad names 422', async () => {
    const noContainers = sandboxPod('empty-1');
    if (noContainers.spec) noContainers.spec.containers = [];
    expect(await refusal(core.createNamespacedPod({ namespace: NS, body: noContainers }))).toMatchObject({
      code: 422,
      reason: 'Invalid',
      message: 'Pod "empty-1" is invalid: spec.containers: Required value',
      details: {
        name: 'empty-1',
        kind: 'Pod',
        causes: [{ field: 'spec.containers', message: 'Required value' }],
      },
    });
    const noImage = sandboxPod('noimage-1');
    if (noImage.spec?.containers[0]) noImage.spec.containers[0].image = undefined;
    expect((await refusal(core.createNamespacedPod({ namespace: NS, body: noImage }))).message).toBe(
      'Pod "noimage-1" is invalid: spec.containers[0].image: Required value',
    );
    const badName = await refusal(core.createNamespacedPod({ namespace: NS, body: sandboxPod('Bad_Name') }));
    expect(badName.message).toMatch(
      /^Pod "Bad_Name" is invalid: metadata\.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/,
    );
    const badQuantity = sandboxPod('quantity-1');
    const limits = badQuantity.spec?.containers[0]?.resources?.limits;
    if (limits) limits.memory = 'lots';
    expect(await refusal(core.createNamespacedPod({ namespace: NS, body: badQuantity }))).toMatchObject({
      code: 400,
      reason: 'BadRequest',
    });
    // RBAC answers first (403); with permission, NamespaceLifecycle admission answers 404.
    expect(
      await refusal(core.createNamespacedPod({ namespace: 'nowhere', body: sandboxPod('lost-1') })),
    ).toMatchObject({ code: 403 });
    kube.setRules('', [{ apiGroups: [''], resources: ['pods'], verbs: ['create'] }]);
    expect(
      await refusal(core.createNamespacedPod({ namespace: 'nowhere', body: sandboxPod('lost-1') })),
    ).toMatchObject({ code: 404, reason: 'NotFound', message: 'namespaces "nowhere" not found' });
    kube.setRules('', []);
  });

  it('authenticates the token and authorizes every request with RBAC; SelfSubjectAccessReview answers', async () => {
    expect(await refusal(core.listNamespacedSecret({ namespace: NS }))).toMatchObject({
      code: 403,
      reason: 'Forbidden',
      message: `secrets is forbidden: User "${USER}" cannot list resource "secrets" in API group "" in the namespace "${NS}"`,
    });
    expect((await refusal(core.listNamespacedPod({ namespace: 'default' }))).message).toBe(
      `pods is forbidden: User "${USER}" cannot list resource "pods" in API group "" in the namespace "default"`,
    );
    expect((await refusal(core.readNamespace({ name: NS }))).code).toBe(403);

    const authz = kc.makeApiClient(AuthorizationV1Api);
    const review = (resourceAttributes: Record<string, string>) =>
      authz.createSelfSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: { resourceAttributes },
        },
      });
    const exec = await review({ namespace: NS, verb: 'create', resource: 'pods', subresource: 'exec' });
    expect(exec.status?.allowed).toBe(true);
    expect(exec.status?.reason).toContain('RBAC: allowed by RoleBinding');
    expect((await review({ namespace: NS, verb: 'list', resource: 'secrets' })).status?.allowed).toBe(false);
    expect((await review({ namespace: NS, verb: 'update', resource: 'pods' })).status?.allowed).toBe(false);
    expect((await review({ namespace: 'default', verb: 'get', resource: 'pods' })).status?.allowed).toBe(
      false,
    );
    expect(await refusal(authz.createSelfSubjectAccessReview({ body: { spec: {} } }))).toMatchObject({
      code: 422,
      reason: 'Invalid',
    });

    // A cluster-scoped grant ('' = a ClusterRoleBinding) lets it read namespaces.
    kube.setRules('', [{ apiGroups: [''], resources: ['namespaces'], verbs: ['get'], resourceNames: [NS] }]);
    const ns = await core.readNamespace({ name: NS });
    expect(ns.metadata?.labels).toMatchObject({ 'pod-security.kubernetes.io/enforce': 'restricted' });
    expect((await refusal(core.readNamespace({ name: 'airlock' }))).code).toBe(403);
    kube.setRules('', []);

    const wrong = new KubeConfig();
    wrong.loadFromOptions({
      clusters: [{ name: 'c', server: kube.url, skipTLSVerify: true }],
      users: [{ name: 'u', token: 'not-the-token' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const unauthorized = await wrong
      .makeApiClient(CoreV1Api)
      .listNamespacedPod({ namespace: NS })
      .catch((e) => e);
    expect(unauthorized).toMatchObject({ code: 401 });
    expect(kube.requests.at(-1)).toMatchObject({ method: 'GET', status: 401 });
  });

  it('watches: ADDED, MODIFIED as it starts, DELETED; resumes from a resourceVersion', async () => {
    const events: Array<{ type: string; phase?: string; deleting: boolean; rv: string }> = [];
    const controller = await new Watch(kc).watch(
      `/api/v1/namespaces/${NS}/pods`,
      { labelSelector: 'watched=yes' },
      (type, obj: V1Pod) =>
        events.push({
          type,
          phase: obj.status?.phase,
          deleting: !!obj.metadata?.deletionTimestamp,
          rv: obj.metadata?.resourceVersion ?? '',
        }),
      () => {},
    );
    const created = await core.createNamespacedPod({
      namespace: NS,
      body: sandboxPod('watched-1', { labels: { watched: 'yes' } }),
    });
    await createRunning('unwatched-1', { watched: 'no' });
    await running('watched-1');
    await core.deleteNamespacedPod({ name: 'watched-1', namespace: NS });
    await until(() => events.some((e) => e.type === 'DELETED'), 'DELETED');
    controller.abort();
    const kinds = events.map((e) => `${e.type}:${e.phase}`);
    expect(kinds[0]).toBe('ADDED:Pending');
    expect(kinds.indexOf('MODIFIED:Running')).toBeGreaterThan(0);
    expect(kinds.at(-1)).toMatch(/^DELETED:/);
    expect(events.some((e) => e.type === 'MODIFIED' && e.deleting)).toBe(true);
    const rvs = events.map((e) => Number(e.rv));
    expect([...rvs].sort((a, b) => a - b)).toEqual(rvs);

    // Resuming after the ADDED replays exactly what followed, from history.
    const replay: string[] = [];
    const resumed = await new Watch(kc).watch(
      `/api/v1/namespaces/${NS}/pods`,
      { labelSelector: 'watched=yes', resourceVersion: created.metadata?.resourceVersion },
      (type) => replay.push(type),
      () => {},
    );
    await until(() => replay.length === events.length - 1, 'the replay');
    resumed.abort();
    expect(replay).toEqual(events.slice(1).map((e) => e.type));
  });

  it('answers a watch from a compacted resourceVersion with a 410 Expired ERROR event', async () => {
    const small = await startWith({ watchHistory: 3 });
    try {
      for (const n of ['a-1', 'a-2', 'a-3'])
        await small.core.createNamespacedPod({ namespace: NS, body: sandboxPod(n) });
      await until(() => small.kube.pods(NS).every((p) => p.status.phase === 'Running'), 'three running');
      const got: Array<{ type: string; obj: Status }> = [];
      let ended = false;
      await new Watch(small.kc).watch(
        `/api/v1/namespaces/${NS}/pods`,
        { resourceVersion: '1001' },
        (type, obj: Status) => got.push({ type, obj }),
        () => {
          ended = true;
        },
      );
      await until(() => ended, 'the watch to end');
      expect(got).toHaveLength(1);
      expect(got[0]?.type).toBe('ERROR');
      expect(got[0]?.obj).toMatchObject({ kind: 'Status', code: 410, reason: 'Expired' });
      expect(got[0]?.obj.message).toMatch(/^too old resource version: 1001 \(\d+\)$/);
    } finally {
      await small.close();
    }
  });

  it('patches: resourceVersion preconditions, one winner among concurrent patches, pod update rules', async () => {
    const pod = await createRunning('patch-1');
    const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    const stale = String(Number(pod.metadata.resourceVersion) - 1);
    const conflict = await refusal(
      core.patchNamespacedPod(
        {
          name: 'patch-1',
          namespace: NS,
          body: { metadata: { resourceVersion: stale, labels: { claimed: 'r1' } } },
        },
        merge,
      ),
    );
    expect(conflict).toMatchObject({
      code: 409,
      reason: 'Conflict',
      message:
        'Operation cannot be fulfilled on pods "patch-1": the object has been modified; please apply your changes to the latest version and try again',
    });
    const rv = pod.metadata.resourceVersion;
    const claimed = await core.patchNamespacedPod(
      {
        name: 'patch-1',
        namespace: NS,
        body: { metadata: { resourceVersion: rv, labels: { claimed: 'r1' } } },
      },
      merge,
    );
    expect(claimed.metadata?.labels).toMatchObject({ app: 'sandbox', claimed: 'r1' });
    expect(Number(claimed.metadata?.resourceVersion)).toBeGreaterThan(Number(rv));

    const race = await Promise.allSettled(
      ['r2', 'r3'].map((id) =>
        core.patchNamespacedPod(
          {
            name: 'patch-1',
            namespace: NS,
            body: {
              metadata: { resourceVersion: claimed.metadata?.resourceVersion, labels: { claimed: id } },
            },
          },
          merge,
        ),
      ),
    );
    expect(race.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(
      race.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason.code),
    ).toEqual([409]);
    expect(kube.requests.filter((r) => r.method === 'PATCH').map((r) => r.contentType)).toContain(
      'application/merge-patch+json',
    );

    const forbidden = await refusal(
      core.patchNamespacedPod(
        {
          name: 'patch-1',
          namespace: NS,
          body: { spec: { containers: [{ name: 'sandbox', command: ['true'] }] } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      ),
    );
    expect(forbidden.code).toBe(422);
    expect(forbidden.message).toMatch(
      /^Pod "patch-1" is invalid: spec: Forbidden: pod updates may not change fields other than /,
    );
    // Merged by container name, an image change is one of the allowed updates.
    const image = await core.patchNamespacedPod(
      {
        name: 'patch-1',
        namespace: NS,
        body: { spec: { containers: [{ name: 'sandbox', image: 'ghcr.io/acme/sandbox:2' }] } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    );
    expect(image.spec?.containers[0]?.image).toBe('ghcr.io/acme/sandbox:2');
    expect(image.spec?.containers[0]?.command?.[0]).toBe('/bin/sh');

    const json = setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
    const deadline = await core.patchNamespacedPod(
      {
        name: 'patch-1',
        namespace: NS,
        body: [{ op: 'add', path: '/spec/activeDeadlineSeconds', value: 600 }],
      },
      json,
    );
    expect(deadline.spec?.activeDeadlineSeconds).toBe(600);
    expect(
      (
        await refusal(
          core.patchNamespacedPod(
            { name: 'patch-1', namespace: NS, body: { spec: { activeDeadlineSeconds: 900 } } },
            merge,
          ),
        )
      ).message,
    ).toBe(
      'Pod "patch-1" is invalid: spec.activeDeadlineSeconds: Invalid value: 900: must be less than or equal to previous value',
    );
    const failedTest = await refusal(
      core.patchNamespacedPod(
        {
          name: 'patch-1',
          namespace: NS,
          body: [
            { op: 'test', path: '/metadata/labels/claimed', value: 'nobody' },
            { op: 'remove', path: '/metadata/labels/claimed' },
          ],
        },
        json,
      ),
    );
    expect(failedTest).toMatchObject({
      code: 422,
      message: 'testing value /metadata/labels/claimed failed: test failed',
    });
    // Without the header the client picks application/json-patch+json: an object body is then refused.
    const unset = await refusal(
      core.patchNamespacedPod({ name: 'patch-1', namespace: NS, body: { metadata: {} } }),
    );
    expect(unset.code).toBe(400);
    expect(kube.requests.at(-1)?.contentType).toBe('application/json-patch+json');
    expect(
      (
        await refusal(
          core.patchNamespacedPod(
            { name: 'patch-1', namespace: NS, body: {} },
            setHeaderOptions('Content-Type', 'text/plain'),
          ),
        )
      ).code,
    ).toBe(415);
    // Status belongs to the status subresource: on the pod itself it is ignored.
    const ignored = await core.patchNamespacedPod(
      {
        name: 'patch-1',
        namespace: NS,
        body: { status: { phase: 'Failed' }, metadata: { labels: { seen: 'yes' } } },
      },
      merge,
    );
    expect(ignored.metadata?.labels?.seen).toBe('yes');
    expect(ignored.status?.phase).toBe('Running');
    expect((await core.readNamespacedPod({ name: 'patch-1', namespace: NS })).status?.phase).toBe('Running');
  });

  it('execs over the v5 WebSocket protocol: output, exit codes, stdin half-close, shared files and processes', async () => {
    await createRunning('exec-1');
    const echo = await run(kc, 'exec-1', ['echo', 'hello']);
    expect(echo).toMatchObject({ stdout: 'hello\n', stderr: '', protocol: 'v5.channel.k8s.io' });
    expect(echo.status).toEqual({ metadata: {}, status: 'Success' });

    const failed = await run(kc, 'exec-1', ['sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(failed).toMatchObject({ stdout: 'out\n', stderr: 'err\n' });
    expect(failed.status).toEqual({
      metadata: {},
      status: 'Failure',
      message:
        'command terminated with non-zero exit code: error executing command [sh -c echo out; echo err >&2; exit 3], exit code 3',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    });
    expect(kube.execs.at(-1)).toMatchObject({ pod: 'exec-1', exitCode: 3, protocol: 'v5.channel.k8s.io' });

    // stdin ends with the v5 close frame, so wc sees EOF and can answer.
    expect((await run(kc, 'exec-1', ['wc', '-c'], 'x'.repeat(70_000))).stdout.trim()).toBe('70000');
    expect((await run(kc, 'exec-1', ['cat'], 'piped\n')).stdout).toBe('piped\n');

    const pwd = await run(kc, 'exec-1', ['sh', '-c', 'pwd; echo kept > notes.txt; echo $HOME; hostname']);
    expect(pwd.stdout).toBe('/workspace\n/home/airlock\nexec-1\n');
    expect(readFileSync(join(kube.podDir(NS, 'exec-1'), 'workspace', 'notes.txt'), 'utf8')).toBe('kept\n');
    expect((await run(kc, 'exec-1', ['cat', '/workspace/notes.txt'])).stdout).toBe('kept\n');
    expect(
      (await run(kc, 'exec-1', ['sh', '-c', 'touch /etc/x 2>&1; touch /tmp/ok && echo tmp-ok'])).stdout,
    ).toMatch(/Read-only file system[\s\S]*tmp-ok/);

    // One exec can see and signal another's process group, as in one container.
    await run(kc, 'exec-1', ['sh', '-c', 'setsid sleep 30 > /dev/null 2>&1 & echo $! > /tmp/bg.pid']);
    const killed = await run(kc, 'exec-1', [
      'bash',
      '-c',
      'kill -0 $(cat /tmp/bg.pid) && kill -KILL -- -$(cat /tmp/bg.pid) && echo killed',
    ]);
    expect(killed.stdout).toBe('killed\n');

    // Output is streamed as written, not when the command ends.
    const begun = Date.now();
    let firstAt = 0;
    const early = new PassThrough().on('data', () => {
      firstAt ||= Date.now() - begun;
    });
    const slow = await new Exec(kc).exec(
      NS,
      'exec-1',
      'sandbox',
      ['sh', '-c', 'echo first; sleep 0.6; echo second'],
      early,
      null,
      null,
      false,
    );
    await new Promise((resolve) => slow.once('close', resolve));
    expect(Date.now() - begun).toBeGreaterThanOrEqual(600);
    expect(firstAt).toBeGreaterThan(0);
    expect(firstAt).toBeLessThan(450);

    const missing = await run(kc, 'exec-1', ['no-such-tool', '--help']);
    expect(missing.status).toMatchObject({ status: 'Failure', reason: 'InternalError', code: 500 });
    expect(missing.status?.message).toContain('exec: "no-such-tool": executable file not found in $PATH');
    expect(missing.status?.details?.causes?.some((c) => c.reason === 'ExitCode')).toBe(false);
  });

  it('projects a service-account token into pods that do not opt out, as the ServiceAccount admission does', async () => {
    const pod = sandboxPod('token-1');
    if (pod.spec) pod.spec.automountServiceAccountToken = undefined;
    const created = await core.createNamespacedPod({ namespace: NS, body: pod });
    expect(created.spec?.volumes?.map((v) => v.name)).toContainEqual(
      expect.stringMatching(/^kube-api-access-/),
    );
    await running('token-1');
    const seen = await run(kc, 'token-1', ['cat', '/var/run/secrets/kubernetes.io/serviceaccount/namespace']);
    expect(seen.stdout).toBe(NS);
    await createRunning('token-2');
    expect((await run(kc, 'token-2', ['ls', '/var/run/secrets'])).status?.status).toBe('Failure');
  });

  it('has no network inside a pod', async () => {
    await createRunning('net-1');
    const port = new URL(kube.url).port;
    const probe = await run(kc, 'net-1', [
      'bash',
      '-c',
      `tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; (echo > /dev/tcp/127.0.0.1/${port}) 2>/dev/null && echo reached || echo unreachable`,
    ]);
    expect(probe.stdout).toBe('lo\nunreachable\n');
  });

  it('refuses exec into unknown containers, pods that are not running, and without pods/exec create', async () => {
    await createRunning('exec-2');
    const ws = (container: string, pod = 'exec-2') =>
      new Exec(kc).exec(NS, pod, container, ['true'], new PassThrough(), null, null, false);
    await expect(ws('sidecar')).rejects.toMatchObject({ message: 'Unexpected server response: 400' });
    expect(kube.requests.at(-1)).toMatchObject({ status: 400 });
    await expect(ws('sandbox', 'ghost-1')).rejects.toMatchObject({
      message: 'Unexpected server response: 404',
    });
    kube.setRules(NS, [{ apiGroups: [''], resources: ['pods/exec'], verbs: ['get'] }]);
    await expect(ws('sandbox')).rejects.toMatchObject({ message: 'Unexpected server response: 403' });
    kube.setRules(NS, (await import('../fakes/kubernetes/index.js')).AIRLOCK_ROLE_RULES);
  });

  it('keeps an exec running after the client goes away, as the kubelet does', async () => {
    await createRunning('exec-3');
    const conn = await new Exec(kc).exec(
      NS,
      'exec-3',
      'sandbox',
      ['sh', '-c', 'sleep 0.3; echo late > /workspace/late.txt'],
      new PassThrough(),
      null,
      null,
      false,
    );
    conn.close();
    const record = await until(
      () => kube.execs.find((e) => e.pod === 'exec-3' && e.exitCode === 0),
      'the exec to finish',
    );
    expect(record.clientClosed).toBe(true);
    expect(readFileSync(join(kube.podDir(NS, 'exec-3'), 'workspace', 'late.txt'), 'utf8')).toBe('late\n');
  });

  it('serves the main process as the pod log: tailLines, follow', async () => {
    // The main process logs whatever an exec drops into /tmp/say, so the test controls its output.
    const relay =
      'echo booted; echo warming >&2; while :; do [ -f /tmp/say ] && cat /tmp/say && rm /tmp/say; sleep 0.02; done';
    await core.createNamespacedPod({ namespace: NS, body: sandboxPod('log-1', { command: relay }) });
    await running('log-1');
    const say = (text: string) =>
      run(kc, 'log-1', ['sh', '-c', `echo ${text} > /tmp/say.new && mv /tmp/say.new /tmp/say`]);
    const text = (chunks: Buffer[]) => Buffer.concat(chunks).toString();
    const read = async (opts: { tailLines?: number; follow?: boolean }) => {
      const chunks: Buffer[] = [];
      const sink = new PassThrough().on('data', (b: Buffer) => chunks.push(b));
      const ended = new Promise((resolve) => sink.on('end', resolve));
      await new Log(kc).log(NS, 'log-1', 'sandbox', sink, opts);
      return { chunks, ended };
    };
    const whole = async (opts: { tailLines?: number } = {}) => {
      const r = await read(opts);
      await r.ended;
      return text(r.chunks);
    };
    await say('one');
    await until(async () => (await whole()).includes('one'), 'the first line', 5000);
    expect(await whole()).toBe('booted\nwarming\none\n');
    expect(await whole({ tailLines: 2 })).toBe('warming\none\n');
    expect(kube.requests.at(-1)?.path).toMatch(
      /\/log\?container=sandbox&follow=false&pretty=false&previous=false&tailLines=2&timestamps=false$/,
    );
    // A followed log streams new output as it is written, until the container ends.
    const followed = await read({ follow: true });
    await say('two');
    await until(() => text(followed.chunks).includes('two'), 'the followed line');
    await core.deleteNamespacedPod({ name: 'log-1', namespace: NS });
    await followed.ended;
    expect(text(followed.chunks)).toBe('booted\nwarming\none\ntwo\n');
    await expect(new Log(kc).log(NS, 'ghost-1', 'sandbox', new PassThrough())).rejects.toMatchObject({
      code: 404,
    });
  });

  it('reports ImagePullBackOff and Unschedulable like the kubelet and scheduler', async () => {
    await core.createNamespacedPod({
      namespace: NS,
      body: sandboxPod('pull-1', { image: 'registry.example/does-not-exist:1' }),
    });
    const big = sandboxPod('big-1');
    const res = big.spec?.containers[0]?.resources;
    if (res) res.limits = { cpu: '1', memory: '100Gi' };
    await core.createNamespacedPod({ namespace: NS, body: big });
    const selective = sandboxPod('gpu-1');
    if (selective.spec) selective.spec.nodeSelector = { pool: 'gpu' };
    await core.createNamespacedPod({ namespace: NS, body: selective });

    const waiting = await until(() => {
      const p = kube.pods(NS).find((x) => x.metadata.name === 'pull-1');
      return p?.status.containerStatuses?.[0]?.state.waiting?.reason === 'ImagePullBackOff' && p;
    }, 'ImagePullBackOff');
    expect(waiting.status.phase).toBe('Pending');
    expect(waiting.status.containerStatuses[0].state.waiting.message).toBe(
      'Back-off pulling image "registry.example/does-not-exist:1"',
    );
    expect(
      kube
        .podHistory()
        .some(
          (p) =>
            p.metadata.name === 'pull-1' &&
            p.status.containerStatuses?.[0]?.state.waiting?.reason === 'ErrImagePull',
        ),
    ).toBe(true);
    const scheduled = (name: string) =>
      kube.pods(NS).find((x) => x.metadata.name === name)?.status.conditions?.[0];
    await until(() => scheduled('big-1') && scheduled('gpu-1'), 'scheduling attempts');
    expect(scheduled('big-1')).toMatchObject({
      type: 'PodScheduled',
      status: 'False',
      reason: 'Unschedulable',
      message:
        '0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.',
    });
    expect(scheduled('gpu-1')?.message).toMatch(
      /^0\/1 nodes are available: 1 node\(s\) didn't match Pod's node affinity\/selector\./,
    );
    await expect(new Log(kc).log(NS, 'pull-1', 'sandbox', new PassThrough())).rejects.toMatchObject({
      code: 400,
    });
    await expect(
      new Exec(kc).exec(NS, 'pull-1', 'sandbox', ['true'], new PassThrough(), null, null, false),
    ).rejects.toMatchObject({ message: 'Unexpected server response: 400' });
    expect(kube.requests.at(-1)).toMatchObject({ method: 'GET', status: 400 });
    for (const name of ['pull-1', 'big-1', 'gpu-1']) await core.deleteNamespacedPod({ name, namespace: NS });
  });

  it('fails pods as the kubelet does: OOMKilled kills a running exec; the deadline and evictions', async () => {
    await createRunning('oom-1');
    let status: V1Status | undefined;
    const conn = await new Exec(kc).exec(
      NS,
      'oom-1',
      'sandbox',
      ['sleep', '30'],
      new PassThrough(),
      null,
      null,
      false,
      (s) => {
        status = s;
      },
    );
    const closed = new Promise((resolve) => conn.once('close', resolve));
    const started = Date.now();
    kube.failPod(NS, 'oom-1', 'OOMKilled');
    await closed;
    expect(Date.now() - started).toBeLessThan(3000);
    expect(status).toMatchObject({
      status: 'Failure',
      reason: 'NonZeroExitCode',
      details: { causes: [{ message: '137' }] },
    });
    const oom = await core.readNamespacedPod({ name: 'oom-1', namespace: NS });
    expect(oom.status?.phase).toBe('Failed');
    expect(oom.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({
      reason: 'OOMKilled',
      exitCode: 137,
    });
    await expect(
      new Exec(kc).exec(NS, 'oom-1', 'sandbox', ['true'], new PassThrough(), null, null, false),
    ).rejects.toMatchObject({ message: 'Unexpected server response: 400' });

    await createRunning('evict-1');
    kube.failPod(NS, 'evict-1', 'Evicted');
    const evicted = await core.readNamespacedPod({ name: 'evict-1', namespace: NS });
    expect(evicted.status).toMatchObject({ phase: 'Failed', reason: 'Evicted' });
    expect(evicted.status?.message).toMatch(/^The node was low on resource: ephemeral-storage\./);

    const short = sandboxPod('deadline-1');
    if (short.spec) short.spec.activeDeadlineSeconds = 1;
    await core.createNamespacedPod({ namespace: NS, body: short });
    const expired = await until(
      () => kube.pods(NS).find((p) => p.metadata.name === 'deadline-1' && p.status.phase === 'Failed'),
      'the deadline',
    );
    expect(expired.status).toMatchObject({
      reason: 'DeadlineExceeded',
      message: 'Pod was active on the node longer than the specified deadline',
    });
  });

  it('deletes gracefully: the pod and its processes and files go; a second delete is 404', async () => {
    await createRunning('del-1');
    await run(kc, 'del-1', ['sh', '-c', 'echo x > /workspace/f']);
    const dir = kube.podDir(NS, 'del-1');
    expect(existsSync(join(dir, 'workspace', 'f'))).toBe(true);
    const deleted = await core.deleteNamespacedPod({ name: 'del-1', namespace: NS });
    expect(deleted.metadata?.deletionTimestamp).toBeTruthy();
    await until(() => !kube.pods(NS).some((p) => p.metadata.name === 'del-1'), 'the pod gone', 2000);
    await until(() => !existsSync(dir), 'the pod directory gone', 2000);
    expect(await refusal(core.deleteNamespacedPod({ name: 'del-1', namespace: NS }))).toMatchObject({
      code: 404,
      reason: 'NotFound',
      message: 'pods "del-1" not found',
    });
  });

  it('stores NetworkPolicies, validated and RBAC-checked', async () => {
    const net = kc.makeApiClient(NetworkingV1Api);
    const body = {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'deny-all' },
      spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
    };
    expect(await refusal(net.createNamespacedNetworkPolicy({ namespace: NS, body }))).toMatchObject({
      code: 403,
      message: `networkpolicies.networking.k8s.io is forbidden: User "${USER}" cannot create resource "networkpolicies" in API group "networking.k8s.io" in the namespace "${NS}"`,
    });
    kube.setRules(NS, [{ apiGroups: ['networking.k8s.io'], resources: ['*'], verbs: ['*'] }]);
    try {
      expect((await net.createNamespacedNetworkPolicy({ namespace: NS, body })).metadata?.uid).toBeTruthy();
      expect(
        (await net.listNamespacedNetworkPolicy({ namespace: NS })).items.map((p) => p.metadata?.name),
      ).toEqual(['deny-all']);
      expect(
        (await net.readNamespacedNetworkPolicy({ name: 'deny-all', namespace: NS })).spec?.policyTypes,
      ).toEqual(['Ingress', 'Egress']);
      await net.deleteNamespacedNetworkPolicy({ name: 'deny-all', namespace: NS });
      expect(
        (await refusal(net.readNamespacedNetworkPolicy({ name: 'deny-all', namespace: NS }))).message,
      ).toBe('networkpolicies.networking.k8s.io "deny-all" not found');
    } finally {
      kube.setRules(NS, (await import('../fakes/kubernetes/index.js')).AIRLOCK_ROLE_RULES);
    }
  });
});

describe('a stand-in that only speaks v4.channel.k8s.io', () => {
  it('negotiates v4 with the client; without a half-close, stdin must be self-delimiting', async () => {
    const { kube, kc, core, close } = await startWith({ execProtocols: ['v4.channel.k8s.io'] });
    try {
      await core.createNamespacedPod({ namespace: NS, body: sandboxPod('v4-1') });
      await until(() => kube.pods(NS)[0]?.status.phase === 'Running', 'running');
      const echo = await run(kc, 'v4-1', ['echo', 'hi']);
      expect(echo).toMatchObject({
        stdout: 'hi\n',
        protocol: 'v4.channel.k8s.io',
        status: { status: 'Success' },
      });
      // head -c reads exactly what it needs; the client's end of stdin closes the whole socket on v4.
      const conn = await new Exec(kc).exec(
        NS,
        'v4-1',
        'sandbox',
        ['sh', '-c', 'head -c 5 > /workspace/in.txt'],
        new PassThrough(),
        null,
        Readable.from([Buffer.from('12345')]),
        false,
      );
      await new Promise((resolve) => conn.once('close', resolve));
      await until(() => kube.execs.at(-1)?.exitCode === 0, 'head to finish');
      expect(readFileSync(join(kube.podDir(NS, 'v4-1'), 'workspace', 'in.txt'), 'utf8')).toBe('12345');
      expect(kube.execs.map((e) => e.protocol)).toEqual(['v4.channel.k8s.io', 'v4.channel.k8s.io']);
    } finally {
      await close();
    }
  });

  it('refuses the upgrade when client and server share no subprotocol', async () => {
    const { kube, kc, core, close } = await startWith({ execProtocols: ['v6.channel.k8s.io'] });
    try {
      await core.createNamespacedPod({ namespace: NS, body: sandboxPod('v6-1') });
      await until(() => kube.pods(NS)[0]?.status.phase === 'Running', 'running');
      await expect(
        new Exec(kc).exec(NS, 'v6-1', 'sandbox', ['true'], new PassThrough(), null, null, false),
      ).rejects.toMatchObject({ message: 'Unexpected server response: 400' });
      expect(kube.execs).toEqual([]);
    } finally {
      await close();
    }
  });
});
