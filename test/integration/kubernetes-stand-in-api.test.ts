// The Kubernetes API stand-in's API server, driven only through the real @kubernetes/client-node,
// so what it accepts and refuses is what the client library really sends and understands.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  AuthorizationV1Api,
  CoreV1Api,
  KubeConfig,
  NetworkingV1Api,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
  Watch,
} from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { FakeKubernetes } from '../fakes/kubernetes/index.js';
import {
  NS,
  refusal,
  run,
  type Status,
  sandboxPod,
  startWith,
  USER,
  until,
  useStandIn,
} from '../support/kube-stand-in.js';

describe('the Kubernetes API stand-in: the API server', () => {
  let kube: FakeKubernetes;
  let kc: KubeConfig;
  let core: CoreV1Api;
  const { running, createRunning } = useStandIn((s) => {
    ({ kube, kc, core } = s);
  });

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
    // The malformed selectors were this test's doing; an AlreadyExists is a normal answer.
    expect(kube.takeProblems()).toEqual([
      expect.stringContaining("400 BadRequest: unable to parse requirement: found 'tier in (a'"),
      expect.stringContaining('400 BadRequest: field label not supported: spec.image'),
    ]);
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
    expect(kube.takeProblems()).toEqual([
      expect.stringContaining('403 Forbidden: pods "root-1" is forbidden: violates PodSecurity'),
      expect.stringContaining('403 Forbidden: pods "gvisor-1" is forbidden: pod rejected'),
    ]);
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
    expect(kube.takeProblems()).toEqual([
      expect.stringContaining('422 Invalid: Pod "empty-1" is invalid'),
      expect.stringContaining('422 Invalid: Pod "noimage-1" is invalid'),
      expect.stringContaining('422 Invalid: Pod "Bad_Name" is invalid'),
      expect.stringContaining('400 BadRequest: Pod in version "v1" cannot be handled as a Pod'),
      expect.stringContaining('/namespaces/nowhere/pods -> 403 Forbidden'),
    ]);
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
    expect(kube.takeProblems()).toEqual([
      expect.stringContaining('/secrets -> 403 Forbidden'),
      expect.stringContaining('/namespaces/default/pods -> 403 Forbidden'),
      expect.stringContaining(`/namespaces/${NS} -> 403 Forbidden`),
      expect.stringContaining('/selfsubjectaccessreviews -> 422 Invalid'),
      expect.stringContaining('/namespaces/airlock -> 403 Forbidden'),
      expect.stringContaining('401 Unauthorized'),
    ]);
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
    // The lost race (409) is a normal answer; the refused patches were this test's doing.
    expect(kube.takeProblems()).toEqual([
      expect.stringContaining('422 Invalid: Pod "patch-1" is invalid: spec: Forbidden'),
      expect.stringContaining('422 Invalid: Pod "patch-1" is invalid: spec.activeDeadlineSeconds'),
      expect.stringContaining('422 Invalid: testing value /metadata/labels/claimed failed'),
      expect.stringContaining('400 BadRequest: json: cannot unmarshal object'),
      expect.stringContaining('415 UnsupportedMediaType'),
    ]);
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
    expect(kube.takeProblems()).toEqual([
      expect.stringContaining(
        '/networkpolicies -> 403 Forbidden: networkpolicies.networking.k8s.io is forbidden',
      ),
    ]);
  });
});
