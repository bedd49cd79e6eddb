import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import { Deployment } from 'kubernetes-models/apps/v1';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import {
  ClusterRole,
  ClusterRoleBinding,
  Role,
  RoleBinding,
} from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, PersistentVolumeClaim, Secret, ServiceAccount } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { parsePolicy } from '../../src/config/policy.js';
import { SANDBOX_UID, sandboxPod } from '../../src/sandbox/kubernetes/pod-spec.js';
import { restrictedViolations } from '../fakes/kubernetes/pod-security.js';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are checked field by field below
type Json = Record<string, any>;

/**
 * The deployment in manifests/ as `kubectl apply -k` would send it: rendered by kubectl's own
 * kustomize, validated against the Kubernetes schemas, and held to airlock's security promises
 * (docs/deploy.md). Every check is a function returning the problems it finds, and each is also
 * fed a tampered copy to prove it can fail.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const TARGETS = {
  base: 'manifests',
  gvisor: 'manifests/overlays/gvisor',
  'egress-proxy': 'manifests/overlays/egress-proxy',
} as const;
type Target = keyof typeof TARGETS;

const BOT_NS = 'airlock';
const SANDBOX_NS = 'airlock-sandboxes';
const BOT_LABELS = { 'app.kubernetes.io/name': 'airlock' };
const SERVICE_ACCOUNT = { kind: 'ServiceAccount', name: 'airlock', namespace: BOT_NS };
/** The egress gateway: sandbox pods' only way out, and the only way in to the bot. */
const GATEWAY_PORTS = [{ protocol: 'TCP', port: 3128 }];
/** One peer, both selectors: the bot's pods AND in its namespace (two peers would mean either). */
const GATEWAY_PEER = {
  namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': BOT_NS } },
  podSelector: { matchLabels: BOT_LABELS },
};
const SANDBOXES_PEER = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': SANDBOX_NS } } };

/** What airlock may do, all of it (docs/deploy.md has the why of each verb). */
const EXPECTED_RULES = [
  { apiGroups: [''], resources: ['pods'], verbs: ['create', 'get', 'list', 'watch', 'delete', 'patch'] },
  { apiGroups: [''], resources: ['pods/exec'], verbs: ['create', 'get'] },
  { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
];

const rendered = new Map<Target, Json[]>();

/** `kubectl kustomize` of a target, as plain objects. Fails, never skips, without kubectl. */
function render(target: Target): Json[] {
  const cached = rendered.get(target);
  if (cached) return structuredClone(cached);
  const dir = TARGETS[target];
  const result = spawnSync('kubectl', ['kustomize', dir], { cwd: ROOT, encoding: 'utf8' });
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new Error(
      'kubectl is not installed. These tests render manifests/ with `kubectl kustomize` (kustomize is ' +
        'built into kubectl): install kubectl, https://kubernetes.io/docs/tasks/tools/',
    );
  }
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`kubectl kustomize ${dir} failed:\n${result.stderr}`);
  const docs = parseAllDocuments(result.stdout);
  if (!Array.isArray(docs)) throw new Error(`kubectl kustomize ${dir}: no documents`);
  const objects: Json[] = [];
  for (const doc of docs) {
    if (doc.errors.length) throw new Error(`kubectl kustomize ${dir}: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as Json | null;
    if (value) objects.push(value);
  }
  rendered.set(target, objects);
  return structuredClone(objects);
}

const id = (o: Json) =>
  `${o.kind} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}`;
const ofKind = (objects: Json[], kind: string) => objects.filter((o) => o.kind === kind);

function one(objects: Json[], kind: string, namespace: string, name: string): Json {
  const found = objects.find(
    (o) => o.kind === kind && o.metadata?.namespace === namespace && o.metadata?.name === name,
  );
  if (!found) throw new Error(`${kind} ${namespace}/${name} is not in the manifests`);
  return found;
}

// --- checks -------------------------------------------------------------------------------------

const MODELS: Record<string, (o: Json) => { validate(): void }> = {
  'v1/Namespace': (o) => new Namespace(o),
  'v1/ServiceAccount': (o) => new ServiceAccount(o),
  'v1/ConfigMap': (o) => new ConfigMap(o),
  'v1/Secret': (o) => new Secret(o),
  'v1/PersistentVolumeClaim': (o) => new PersistentVolumeClaim(o),
  'apps/v1/Deployment': (o) => new Deployment(o),
  'networking.k8s.io/v1/NetworkPolicy': (o) => new NetworkPolicy(o),
  'rbac.authorization.k8s.io/v1/Role': (o) => new Role(o),
  'rbac.authorization.k8s.io/v1/RoleBinding': (o) =>
    new RoleBinding(o as ConstructorParameters<typeof RoleBinding>[0]),
  'rbac.authorization.k8s.io/v1/ClusterRole': (o) => new ClusterRole(o),
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': (o) =>
    new ClusterRoleBinding(o as ConstructorParameters<typeof ClusterRoleBinding>[0]),
};

/** Objects that break their Kubernetes schema (kubernetes-models), or of a kind nobody reviewed. */
function schemaProblems(objects: Json[]): string[] {
  const out: string[] = [];
  for (const o of objects) {
    const model = MODELS[`${o.apiVersion}/${o.kind}`];
    if (!model) {
      out.push(`${id(o)}: no schema for ${o.apiVersion} ${o.kind} (add it to MODELS once reviewed)`);
      continue;
    }
    try {
      model(o).validate();
    } catch (error) {
      out.push(`${id(o)}: ${(error as Error).message}`);
    }
  }
  return out;
}

/** No Secret (the operator creates airlock-secrets) and nothing cluster-wide in RBAC. */
function forbiddenObjects(objects: Json[]): string[] {
  return objects
    .filter((o) => ['Secret', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind))
    .map((o) => `${id(o)}: no ${o.kind} belongs in the manifests`);
}

/** Wildcards, secrets, non-resource URLs and privilege-escalating verbs in any RBAC rule. */
function ruleProblems(objects: Json[]): string[] {
  const out: string[] = [];
  for (const o of objects.filter((x) => x.kind === 'Role' || x.kind === 'ClusterRole')) {
    for (const [i, rule] of (o.rules ?? []).entries()) {
      const where = `${id(o)} rule ${i}`;
      for (const field of ['apiGroups', 'resources', 'verbs', 'resourceNames'])
        if ((rule[field] ?? []).includes('*')) out.push(`${where}: '*' in ${field}`);
      if ((rule.resources ?? []).some((r: string) => r === 'secrets' || r.startsWith('secrets/')))
        out.push(`${where}: touches secrets`);
      if (rule.nonResourceURLs) out.push(`${where}: nonResourceURLs`);
      for (const verb of ['escalate', 'bind', 'impersonate'])
        if ((rule.verbs ?? []).includes(verb)) out.push(`${where}: verb ${verb}`);
    }
    if (o.aggregationRule) out.push(`${id(o)}: aggregationRule`);
  }
  return out;
}

const normalizeRules = (rules: Json[]) =>
  rules.map((r) => ({
    apiGroups: [...(r.apiGroups ?? [])].sort(),
    resources: [...(r.resources ?? [])].sort(),
    verbs: [...(r.verbs ?? [])].sort(),
    ...(r.resourceNames ? { resourceNames: r.resourceNames } : {}),
    ...(r.nonResourceURLs ? { nonResourceURLs: r.nonResourceURLs } : {}),
  }));

/** The one Role: in the sandbox namespace, with exactly EXPECTED_RULES. */
function roleProblems(objects: Json[]): string[] {
  const roles = ofKind(objects, 'Role');
  const out = roles
    .filter((r) => r.metadata?.namespace !== SANDBOX_NS || r.metadata?.name !== 'airlock-sandboxes')
    .map((r) => `${id(r)}: the only Role is ${SANDBOX_NS}/airlock-sandboxes`);
  const role = roles.find((r) => r.metadata?.namespace === SANDBOX_NS);
  if (!role) return [...out, `no Role in ${SANDBOX_NS}`];
  const got = normalizeRules(role.rules ?? []);
  const want = normalizeRules(EXPECTED_RULES);
  for (const rule of got)
    if (!want.some((w) => JSON.stringify(w) === JSON.stringify(rule)))
      out.push(`${id(role)}: unexpected rule ${JSON.stringify(rule)}`);
  for (const rule of want)
    if (!got.some((g) => JSON.stringify(g) === JSON.stringify(rule)))
      out.push(`${id(role)}: missing rule ${JSON.stringify(rule)}`);
  return out;
}

/** Bindings grant a namespaced Role to airlock's ServiceAccount and to nobody else. */
function bindingProblems(objects: Json[]): string[] {
  const out: string[] = [];
  for (const b of objects.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding')) {
    if (b.kind !== 'RoleBinding') out.push(`${id(b)}: cluster-wide binding`);
    if (b.roleRef?.kind !== 'Role') out.push(`${id(b)}: binds ${b.roleRef?.kind} ${b.roleRef?.name}`);
    else if (!objects.some((o) => o.kind === 'Role' && o.metadata?.name === b.roleRef.name))
      out.push(`${id(b)}: binds Role ${b.roleRef.name}, which is not in the manifests`);
    if (JSON.stringify(b.subjects) !== JSON.stringify([SERVICE_ACCOUNT]))
      out.push(`${id(b)}: subjects ${JSON.stringify(b.subjects)}`);
  }
  return out;
}

const PSS_LABELS = {
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/enforce-version': 'latest',
  'pod-security.kubernetes.io/audit': 'restricted',
  'pod-security.kubernetes.io/warn': 'restricted',
};

/** Both namespaces enforce (and audit and warn about) the restricted Pod Security Standard. */
function namespaceProblems(objects: Json[]): string[] {
  const out: string[] = [];
  for (const name of [BOT_NS, SANDBOX_NS]) {
    const ns = objects.find((o) => o.kind === 'Namespace' && o.metadata?.name === name);
    if (!ns) {
      out.push(`Namespace ${name} is missing`);
      continue;
    }
    for (const [key, value] of Object.entries(PSS_LABELS))
      if (ns.metadata?.labels?.[key] !== value) out.push(`Namespace ${name}: ${key} must be ${value}`);
  }
  return out;
}

/** The bot: one replica, Recreate, its ServiceAccount, and a restricted, bounded, probed pod. */
function deploymentProblems(d: Json): string[] {
  const out: string[] = [];
  const spec = d.spec ?? {};
  const pod = spec.template?.spec ?? {};
  if (spec.replicas !== 1) out.push('replicas must be 1 (SQLite on a ReadWriteOnce volume)');
  if (spec.strategy?.type !== 'Recreate')
    out.push('strategy must be Recreate (never two pods on one database)');
  if (pod.serviceAccountName !== 'airlock') out.push('serviceAccountName must be airlock');
  out.push(...restrictedViolations({ spec: pod }));
  for (const v of pod.volumes ?? []) if (v.hostPath) out.push(`volume ${v.name}: hostPath`);
  for (const c of [...(pod.containers ?? []), ...(pod.initContainers ?? [])] as Json[]) {
    if (c.securityContext?.readOnlyRootFilesystem !== true) out.push(`${c.name}: readOnlyRootFilesystem`);
    for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe'])
      if (!c[probe]) out.push(`${c.name}: no ${probe}`);
    for (const kind of ['requests', 'limits'])
      for (const resource of ['cpu', 'memory', 'ephemeral-storage'])
        if (!c.resources?.[kind]?.[resource]) out.push(`${c.name}: no ${resource} in resources.${kind}`);
    if (!/:[\w.-]+$|@sha256:/.test(c.image ?? '') || /:latest$/.test(c.image))
      out.push(`${c.name}: image ${c.image} is not pinned`);
  }
  return out;
}

const emptySelector = (s: Json | undefined) =>
  !s || (Object.keys(s.matchLabels ?? {}).length === 0 && (s.matchExpressions ?? []).length === 0);

/**
 * Sandbox pods are off the network but for the egress gateway: a deny-all selecting every pod for
 * both directions, and no rule in any policy of the namespace (policies are additive: any rule
 * anywhere there opens a hole) but egress on TCP 3128 to the bot's pods in the bot's namespace.
 */
function sandboxNetworkProblems(objects: Json[]): string[] {
  const out: string[] = [];
  const policies = ofKind(objects, 'NetworkPolicy').filter((p) => p.metadata?.namespace === SANDBOX_NS);
  const denyAll = policies.find(
    (p) =>
      emptySelector(p.spec?.podSelector) &&
      ['Ingress', 'Egress'].every((t) => (p.spec?.policyTypes ?? []).includes(t)),
  );
  if (!denyAll) out.push(`no NetworkPolicy in ${SANDBOX_NS} selects every pod for Ingress and Egress`);
  for (const p of policies) {
    if ((p.spec?.ingress ?? []).length) out.push(`${id(p)}: allows ingress`);
    for (const [i, rule] of (p.spec?.egress ?? []).entries())
      out.push(...gatewayRuleProblems(`${id(p)} egress rule ${i}`, rule));
  }
  const gateway = policies.some(
    (p) =>
      emptySelector(p.spec?.podSelector) &&
      (p.spec?.policyTypes ?? []).includes('Egress') &&
      (p.spec?.egress ?? []).length > 0,
  );
  if (!gateway) out.push(`no NetworkPolicy in ${SANDBOX_NS} lets every pod reach the egress gateway`);
  return out;
}

/** A sandbox egress rule: TCP 3128 only, to the bot's pods in the bot's namespace only. */
function gatewayRuleProblems(where: string, rule: Json): string[] {
  const out: string[] = [];
  if (!isDeepStrictEqual(rule.ports, GATEWAY_PORTS))
    out.push(`${where}: ports ${JSON.stringify(rule.ports ?? 'all')}, not TCP 3128 only`);
  if (!(rule.to ?? []).length) out.push(`${where}: to anywhere`);
  for (const peer of rule.to ?? [])
    if (!isDeepStrictEqual(peer, GATEWAY_PEER))
      out.push(`${where}: to ${JSON.stringify(peer)}, not the bot's pods in namespace ${BOT_NS}`);
  return out;
}

/**
 * An operator's exception for named sandbox egress: it must select only pods airlock labelled for
 * that name, govern egress only, and open named ports to named peers (never "anywhere").
 */
function sandboxEgressExceptionProblems(policy: Json): string[] {
  const out: string[] = [];
  const labels = Object.keys(policy.spec?.podSelector?.matchLabels ?? {});
  if (labels.length === 0 || !labels.every((k) => k.startsWith('egress.airlock.dev/')))
    out.push(`${id(policy)}: must select only pods labelled egress.airlock.dev/<name>`);
  if (JSON.stringify(policy.spec?.policyTypes) !== '["Egress"]')
    out.push(`${id(policy)}: must govern Egress only`);
  if ((policy.spec?.ingress ?? []).length) out.push(`${id(policy)}: allows ingress`);
  for (const rule of policy.spec?.egress ?? []) {
    if (!(rule.ports ?? []).length) out.push(`${id(policy)}: an egress rule without ports`);
    if (!(rule.to ?? []).length) out.push(`${id(policy)}: an egress rule to anywhere`);
    for (const peer of rule.to ?? [])
      if (peer.ipBlock && !/\/(3[0-2]|2[4-9])$/.test(peer.ipBlock.cidr))
        out.push(`${id(policy)}: ${peer.ipBlock.cidr} is wider than a /24`);
  }
  return out;
}

/**
 * The bot's NetworkPolicy: ingress only from the sandbox namespace to the gateway's TCP 3128, and
 * every egress rule limited to named ports.
 */
function botNetwork(objects: Json[]): { problems: string[]; ports: number[]; egress: Json[] } {
  const problems: string[] = [];
  const policies = ofKind(objects, 'NetworkPolicy').filter(
    (p) =>
      p.metadata?.namespace === BOT_NS &&
      (emptySelector(p.spec?.podSelector) ||
        Object.entries(BOT_LABELS).every(([k, v]) => p.spec?.podSelector?.matchLabels?.[k] === v)),
  );
  if (policies.length !== 1) problems.push(`${policies.length} NetworkPolicies select the bot; expected 1`);
  const policy = policies[0] ?? { spec: {} };
  for (const t of ['Ingress', 'Egress'])
    if (!(policy.spec.policyTypes ?? []).includes(t)) problems.push(`the bot's policy does not govern ${t}`);
  for (const [i, rule] of (policy.spec.ingress ?? []).entries()) {
    if (!isDeepStrictEqual(rule.ports, GATEWAY_PORTS))
      problems.push(`ingress rule ${i}: ports ${JSON.stringify(rule.ports ?? 'all')}, not TCP 3128 only`);
    if (!(rule.from ?? []).length) problems.push(`ingress rule ${i}: from anywhere`);
    for (const peer of rule.from ?? [])
      if (!isDeepStrictEqual(peer, SANDBOXES_PEER))
        problems.push(`ingress rule ${i}: from ${JSON.stringify(peer)}, not namespace ${SANDBOX_NS}`);
  }
  const egress: Json[] = policy.spec.egress ?? [];
  const ports = new Set<number>();
  for (const [i, rule] of egress.entries()) {
    if (!rule.ports?.length) problems.push(`egress rule ${i} allows every port`);
    for (const p of rule.ports ?? []) {
      if (typeof p.port !== 'number') problems.push(`egress rule ${i}: port ${p.port} is not a number`);
      if (p.endPort) problems.push(`egress rule ${i}: a port range`);
      ports.add(p.port);
    }
  }
  return { problems, ports: [...ports].sort((a, b) => a - b), egress };
}

/** The policy file the bot reads (ConfigMap airlock-config, key airlock.yaml). */
function policyText(objects: Json[]): string {
  const text = one(objects, 'ConfigMap', BOT_NS, 'airlock-config').data?.['airlock.yaml'];
  if (typeof text !== 'string') throw new Error('ConfigMap airlock-config has no airlock.yaml');
  return text;
}

const deploymentOf = (objects: Json[]) => one(objects, 'Deployment', BOT_NS, 'airlock');
const botContainer = (objects: Json[]) => deploymentOf(objects).spec.template.spec.containers[0] as Json;
const envOf = (c: Json) => Object.fromEntries((c.env ?? []).map((e: Json) => [e.name, e.value]));

// --- the manifests ------------------------------------------------------------------------------

describe.each(Object.keys(TARGETS) as Target[])('kubectl kustomize %s', (target) => {
  it('renders schema-valid objects of reviewed kinds', () => {
    const objects = render(target);
    expect(objects.length).toBeGreaterThan(0);
    expect(schemaProblems(objects)).toEqual([]);
  });

  it('has no Secret and nothing cluster-wide; no RBAC wildcard or secrets', () => {
    const objects = render(target);
    expect(forbiddenObjects(objects)).toEqual([]);
    expect(ruleProblems(objects)).toEqual([]);
  });

  it('grants exactly pods, pods/exec and pods/log in the sandbox namespace, to airlock/airlock only', () => {
    const objects = render(target);
    expect(ofKind(objects, 'Role').map(id)).toEqual([`Role ${SANDBOX_NS}/airlock-sandboxes`]);
    expect(roleProblems(objects)).toEqual([]);
    expect(ofKind(objects, 'RoleBinding').map(id)).toEqual([`RoleBinding ${SANDBOX_NS}/airlock-sandboxes`]);
    expect(bindingProblems(objects)).toEqual([]);
  });

  it('enforces the restricted Pod Security Standard on both namespaces', () => {
    expect(namespaceProblems(render(target))).toEqual([]);
  });

  it('runs the bot as one restricted, read-only, probed, bounded replica', () => {
    expect(deploymentProblems(deploymentOf(render(target)))).toEqual([]);
  });

  it('lets sandbox pods out only to the egress gateway, TCP 3128 on the bot', () => {
    expect(sandboxNetworkProblems(render(target))).toEqual([]);
  });

  it('lets nothing in to the bot but the sandbox namespace, to the gateway on 3128', () => {
    expect(botNetwork(render(target)).problems).toEqual([]);
  });
});

describe('the base', () => {
  it('grants exactly the permissions the Kubernetes backend uses (and `airlock doctor` checks)', async () => {
    const { REQUIRED_PERMISSIONS } = await import('../../src/sandbox/kubernetes/kubernetes-sandboxes.js');
    const asRules = Object.entries(REQUIRED_PERMISSIONS).map(([resource, verbs]) => ({
      apiGroups: [''],
      resources: [resource],
      verbs,
    }));
    const role = one(render('base'), 'Role', SANDBOX_NS, 'airlock-sandboxes');
    expect(normalizeRules(role.rules)).toEqual(normalizeRules(asRules));
  });

  it('lets the bot out only to DNS and HTTPS (443, and 6443 for the API server)', () => {
    const { ports, egress } = botNetwork(render('base'));
    expect(ports).toEqual([53, 443, 6443]);
    const dns = egress.find((r) => r.ports.some((p: Json) => p.port === 53));
    expect(dns?.ports).toEqual([
      { protocol: 'UDP', port: 53 },
      { protocol: 'TCP', port: 53 },
    ]);
  });

  it('wires the Deployment to the ConfigMap, the PVC, the secret and the ServiceAccount', () => {
    const objects = render('base');
    const pod = deploymentOf(objects).spec.template.spec;
    const c = botContainer(objects);
    const env = envOf(c);
    expect(env).toMatchObject({
      AIRLOCK_SANDBOX: 'kubernetes',
      AIRLOCK_CONFIG: '/etc/airlock/airlock.yaml',
      AIRLOCK_DATA_DIR: '/var/lib/airlock',
      AIRLOCK_HTTP_PORT: '8080',
    });
    expect(c.envFrom).toEqual([{ secretRef: { name: 'airlock-secrets' } }]);
    expect(c.args).toEqual(['serve']);
    expect(pod.automountServiceAccountToken).toBe(true);
    one(objects, 'ServiceAccount', BOT_NS, pod.serviceAccountName);

    const mount = (path: string) => c.volumeMounts.find((m: Json) => m.mountPath === path);
    const volume = (name: string) => pod.volumes.find((v: Json) => v.name === name);
    const config = mount(posix.dirname(env.AIRLOCK_CONFIG));
    expect(config.readOnly).toBe(true);
    const configMap = one(objects, 'ConfigMap', BOT_NS, volume(config.name).configMap.name);
    expect(Object.keys(configMap.data)).toContain(posix.basename(env.AIRLOCK_CONFIG));
    const claim = volume(mount(env.AIRLOCK_DATA_DIR).name).persistentVolumeClaim.claimName;
    expect(one(objects, 'PersistentVolumeClaim', BOT_NS, claim).spec).toMatchObject({
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '10Gi' } },
    });
    expect(volume(mount('/tmp').name).emptyDir).toBeDefined();

    const http = c.ports.find((p: Json) => p.name === 'http');
    expect(String(http.containerPort)).toBe(env.AIRLOCK_HTTP_PORT);
    expect(c.livenessProbe.httpGet).toMatchObject({ path: '/healthz', port: 'http' });
    expect(c.readinessProbe.httpGet).toMatchObject({ path: '/readyz', port: 'http' });
    expect(c.startupProbe.httpGet).toMatchObject({ port: 'http' });
    expect(c.resources).toMatchObject({
      requests: { cpu: '500m', memory: '512Mi' },
      limits: { cpu: '2', memory: '2Gi' },
    });

    const policy = one(objects, 'NetworkPolicy', BOT_NS, 'airlock');
    expect(deploymentOf(objects).spec.template.metadata.labels).toMatchObject(
      policy.spec.podSelector.matchLabels,
    );
  });

  it('runs the egress gateway on 3128, told to sandboxes by IP, reachable from sandbox pods only', () => {
    const objects = render('base');
    const c = botContainer(objects);
    const env = envOf(c);
    expect(env.AIRLOCK_EGRESS_PORT).toBe('3128');
    expect(c.ports.find((p: Json) => p.name === 'egress')).toEqual({
      name: 'egress',
      containerPort: 3128,
      protocol: 'TCP',
    });
    // $(POD_IP) expands only when POD_IP is defined earlier in the list.
    const names = c.env.map((e: Json) => e.name);
    expect(c.env.find((e: Json) => e.name === 'POD_IP')).toEqual({
      name: 'POD_IP',
      valueFrom: { fieldRef: { fieldPath: 'status.podIP' } },
    });
    expect(env.AIRLOCK_EGRESS_URL).toBe('http://$(POD_IP):3128');
    expect(names.indexOf('POD_IP')).toBeLessThan(names.indexOf('AIRLOCK_EGRESS_URL'));

    // The sandboxes' one rule names the pods the Deployment makes, on the port they listen on.
    const gateway = one(objects, 'NetworkPolicy', SANDBOX_NS, 'egress-gateway');
    expect(gateway.spec.egress).toEqual([{ to: [GATEWAY_PEER], ports: GATEWAY_PORTS }]);
    expect(deploymentOf(objects).spec.template.metadata.labels).toMatchObject(
      GATEWAY_PEER.podSelector.matchLabels,
    );
    expect(deploymentOf(objects).metadata.namespace).toBe(
      GATEWAY_PEER.namespaceSelector.matchLabels['kubernetes.io/metadata.name'],
    );
    expect(one(objects, 'NetworkPolicy', BOT_NS, 'airlock').spec.ingress).toEqual([
      { from: [SANDBOXES_PEER], ports: GATEWAY_PORTS },
    ]);
  });

  it('ships a policy file for the Kubernetes sandbox with a warm pool', () => {
    const raw = parseYaml(policyText(render('base'))) as Json;
    expect(raw.sandbox).toMatchObject({
      namespace: SANDBOX_NS,
      image: 'ghcr.io/airlock-dev/sandbox:0.1.0',
      cpu: '2',
      memory: '4Gi',
      ephemeral_storage: '10Gi',
      warm_pool: 2,
    });
    expect(raw.sandbox.runtime_class).toBeUndefined();
  });

  // Needs `sandbox.warm_pool` in src/config/policy.ts (being added alongside the Kubernetes backend).
  it('ships a policy file that airlock accepts, whose sandbox pods are restricted and land where the Role reaches', () => {
    const policy = parsePolicy(policyText(render('base')), 'manifests/base/airlock.yaml');
    expect(policy.sandbox).toMatchObject({ namespace: SANDBOX_NS, warm_pool: 2 });
    for (const repo of Object.keys(policy.repos)) {
      const pod = sandboxPod(policy, repo, 'manifest-check') as Json;
      expect(pod.metadata.namespace).toBe(SANDBOX_NS);
      expect(restrictedViolations(pod)).toEqual([]);
    }
  });
});

describe('overlays', () => {
  const withoutKinds = (objects: Json[], kinds: string[]) => objects.filter((o) => !kinds.includes(o.kind));

  it('gvisor: only the policy changes, and only by sandbox.runtime_class: gvisor', () => {
    const base = render('base');
    const gvisor = render('gvisor');
    expect(withoutKinds(gvisor, ['ConfigMap'])).toEqual(withoutKinds(base, ['ConfigMap']));
    const want = parseYaml(policyText(base)) as Json;
    want.sandbox.runtime_class = 'gvisor';
    expect(parseYaml(policyText(gvisor))).toEqual(want);
  });

  // Needs `sandbox.warm_pool` in src/config/policy.ts, as above.
  it('gvisor: airlock accepts the policy and its sandbox pods ask for the gvisor RuntimeClass', () => {
    const policy = parsePolicy(policyText(render('gvisor')), 'manifests/overlays/gvisor/airlock.yaml');
    expect(policy.sandbox.runtime_class).toBe('gvisor');
    const pod = sandboxPod(policy, 'acme/widgets', 'manifest-check') as Json;
    expect(pod.spec.runtimeClassName).toBe('gvisor');
    expect(restrictedViolations(pod)).toEqual([]);
  });

  it('egress-proxy: the bot goes out only to DNS, the proxy on 3128 and the API server', () => {
    const base = render('base');
    const proxied = render('egress-proxy');
    expect(withoutKinds(proxied, ['Deployment', 'NetworkPolicy'])).toEqual(
      withoutKinds(base, ['Deployment', 'NetworkPolicy']),
    );
    const { ports, egress } = botNetwork(proxied);
    expect(ports).toEqual([53, 443, 3128, 6443]);
    for (const rule of egress) {
      const rulePorts = rule.ports.map((p: Json) => p.port);
      if (rulePorts.includes(53)) {
        expect(rulePorts).toEqual([53, 53]);
      } else if (rulePorts.includes(3128)) {
        expect(rule).toEqual({
          to: [
            {
              namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'egress-proxy' } },
              podSelector: { matchLabels: { 'app.kubernetes.io/name': 'egress-proxy' } },
            },
          ],
          ports: [{ protocol: 'TCP', port: 3128 }],
        });
      } else {
        // The API server: named addresses only, never "anywhere on 443".
        expect([...rulePorts].sort((a: number, b: number) => a - b)).toEqual([443, 6443]);
        expect(rule.to?.length).toBeGreaterThan(0);
        for (const peer of rule.to) {
          expect(Object.keys(peer)).toEqual(['ipBlock']);
          expect(peer.ipBlock.cidr).toMatch(/\/32$|\/128$/);
        }
      }
    }
  });

  it('egress-proxy: the bot is told to use the proxy, except for the API server and the cluster', () => {
    const env = envOf(botContainer(render('egress-proxy')));
    expect(env.HTTPS_PROXY).toMatch(/^http:\/\/[\w.-]+:3128$/);
    expect(env.HTTP_PROXY).toBe(env.HTTPS_PROXY);
    const noProxy = String(env.NO_PROXY).split(',');
    for (const entry of ['kubernetes.default.svc', '.svc', '.cluster.local', '10.0.0.0/8'])
      expect(noProxy).toContain(entry);
    expect(envOf(botContainer(render('base'))).HTTPS_PROXY).toBeUndefined();
  });
});

describe('manifests/examples/sandbox-egress-package-mirror.yaml (not applied by default)', () => {
  const example = () =>
    parseYaml(readFileSync(`${ROOT}/manifests/examples/sandbox-egress-package-mirror.yaml`, 'utf8')) as Json;

  it('is a schema-valid exception for the labelled pods only: DNS and one mirror', () => {
    expect(schemaProblems([example()])).toEqual([]);
    expect(sandboxEgressExceptionProblems(example())).toEqual([]);
    expect(example().metadata.namespace).toBe(SANDBOX_NS);
  });

  it('selects the label airlock puts on pods of repositories that list the name', () => {
    const policy = parsePolicy('repos:\n  acme/deps:\n    sandbox: { egress: [package-mirror] }\n');
    const pod = sandboxPod(policy, 'acme/deps', 'manifest-check') as Json;
    for (const [k, v] of Object.entries(example().spec.podSelector.matchLabels))
      expect(pod.metadata.labels[k]).toBe(v);
  });

  it('the check catches an exception that selects every pod or opens egress to anywhere', () => {
    const wide = example();
    wide.spec.podSelector = {};
    wide.spec.egress.push({ ports: [{ protocol: 'TCP', port: 443 }] });
    wide.spec.egress[1].to[0].ipBlock.cidr = '0.0.0.0/0';
    expect(sandboxEgressExceptionProblems(wide)).toEqual([
      'NetworkPolicy airlock-sandboxes/sandbox-egress-package-mirror: must select only pods labelled egress.airlock.dev/<name>',
      'NetworkPolicy airlock-sandboxes/sandbox-egress-package-mirror: 0.0.0.0/0 is wider than a /24',
      'NetworkPolicy airlock-sandboxes/sandbox-egress-package-mirror: an egress rule to anywhere',
    ]);
  });
});

describe('the images', () => {
  const lastUser = (file: string) =>
    [...readFileSync(`${ROOT}/${file}`, 'utf8').matchAll(/^USER\s+(\S+)\s*$/gm)].at(-1)?.[1];

  it('the bot image runs as the numeric user the Deployment asks for', () => {
    const sc = deploymentOf(render('base')).spec.template.spec.securityContext;
    expect(lastUser('Dockerfile')).toBe(`${sc.runAsUser}:${sc.runAsGroup}`);
  });

  it('the sandbox image runs as the user of the sandbox pod', () => {
    expect(lastUser('Dockerfile.sandbox')).toBe(`${SANDBOX_UID}:${SANDBOX_UID}`);
  });
});

// --- the checks can fail ------------------------------------------------------------------------

describe('the checks catch a tampered copy', () => {
  it('a wildcard verb on the Role', () => {
    const objects = render('base');
    one(objects, 'Role', SANDBOX_NS, 'airlock-sandboxes').rules[0].verbs = ['*'];
    expect(ruleProblems(objects)).toEqual([`Role ${SANDBOX_NS}/airlock-sandboxes rule 0: '*' in verbs`]);
    expect(roleProblems(objects).length).toBeGreaterThan(0);
  });

  it('a rule on secrets', () => {
    const objects = render('base');
    one(objects, 'Role', SANDBOX_NS, 'airlock-sandboxes').rules.push({
      apiGroups: [''],
      resources: ['secrets'],
      verbs: ['get'],
    });
    expect(ruleProblems(objects)).toEqual([`Role ${SANDBOX_NS}/airlock-sandboxes rule 3: touches secrets`]);
    expect(roleProblems(objects)).toEqual([
      `Role ${SANDBOX_NS}/airlock-sandboxes: unexpected rule {"apiGroups":[""],"resources":["secrets"],"verbs":["get"]}`,
    ]);
  });

  it('a ClusterRoleBinding, and a RoleBinding to a ClusterRole or someone else', () => {
    const objects = render('base');
    objects.push({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'airlock-admin' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [SERVICE_ACCOUNT],
    });
    const binding = one(objects, 'RoleBinding', SANDBOX_NS, 'airlock-sandboxes');
    binding.roleRef = { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' };
    binding.subjects.push({
      kind: 'Group',
      name: 'system:authenticated',
      apiGroup: 'rbac.authorization.k8s.io',
    });
    expect(schemaProblems(objects)).toEqual([]);
    expect(forbiddenObjects(objects)).toEqual([
      'ClusterRoleBinding airlock-admin: no ClusterRoleBinding belongs in the manifests',
    ]);
    const problems = bindingProblems(objects);
    expect(problems).toContain(`RoleBinding ${SANDBOX_NS}/airlock-sandboxes: binds ClusterRole edit`);
    expect(problems.some((p) => p.startsWith(`RoleBinding ${SANDBOX_NS}/airlock-sandboxes: subjects`))).toBe(
      true,
    );
    expect(problems).toContain('ClusterRoleBinding airlock-admin: cluster-wide binding');
    expect(problems).toContain('ClusterRoleBinding airlock-admin: binds ClusterRole cluster-admin');
  });

  it('a Secret in the manifests', () => {
    const objects = render('base');
    objects.push({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'airlock-secrets', namespace: BOT_NS },
    });
    expect(forbiddenObjects(objects)).toEqual([
      'Secret airlock/airlock-secrets: no Secret belongs in the manifests',
    ]);
  });

  it('a privileged bot container, a hostPath, a second replica, no probes', () => {
    const objects = render('base');
    const d = deploymentOf(objects);
    const c = d.spec.template.spec.containers[0];
    c.securityContext = { privileged: true };
    delete c.livenessProbe;
    d.spec.replicas = 2;
    d.spec.template.spec.volumes.push({ name: 'docker', hostPath: { path: '/var/run/docker.sock' } });
    expect(deploymentProblems(d)).toEqual([
      'replicas must be 1 (SQLite on a ReadWriteOnce volume)',
      'volume type hostPath',
      'airlock: privileged',
      'airlock: allowPrivilegeEscalation must be false',
      'airlock: must drop ALL capabilities',
      'volume docker: hostPath',
      'airlock: readOnlyRootFilesystem',
      'airlock: no livenessProbe',
    ]);
  });

  it('an invalid object', () => {
    const objects = render('base');
    deploymentOf(objects).spec.replicas = 'one';
    objects.push({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'airlock', namespace: BOT_NS } });
    const problems = schemaProblems(objects);
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatch(/^Deployment airlock\/airlock: .*replicas must be integer/);
    expect(problems[1]).toMatch(/^Service airlock\/airlock: no schema for v1 Service/);
  });

  it('a namespace without the restricted label', () => {
    const objects = render('base');
    delete objects.find((o) => o.kind === 'Namespace' && o.metadata.name === SANDBOX_NS)?.metadata.labels[
      'pod-security.kubernetes.io/enforce'
    ];
    expect(namespaceProblems(objects)).toEqual([
      `Namespace ${SANDBOX_NS}: pod-security.kubernetes.io/enforce must be restricted`,
    ]);
  });

  it('a sandbox NetworkPolicy that lets traffic out, or a deny-all that selects only some pods', () => {
    const objects = render('base');
    objects.push({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'allow-npm', namespace: SANDBOX_NS },
      spec: {
        podSelector: {},
        policyTypes: ['Egress'],
        egress: [{ ports: [{ protocol: 'TCP', port: 443 }] }],
      },
    });
    expect(sandboxNetworkProblems(objects)).toEqual([
      `NetworkPolicy ${SANDBOX_NS}/allow-npm egress rule 0: ports [{"protocol":"TCP","port":443}], not TCP 3128 only`,
      `NetworkPolicy ${SANDBOX_NS}/allow-npm egress rule 0: to anywhere`,
    ]);
    one(objects, 'NetworkPolicy', SANDBOX_NS, 'deny-all').spec.podSelector = { matchLabels: { x: 'y' } };
    expect(sandboxNetworkProblems(objects)).toContain(
      `no NetworkPolicy in ${SANDBOX_NS} selects every pod for Ingress and Egress`,
    );
  });

  describe('sandbox egress to anything but TCP 3128 on the bot', () => {
    const GATEWAY = `NetworkPolicy ${SANDBOX_NS}/egress-gateway egress rule 0`;
    /** The base's problems after `change` to its gateway rule. */
    const problemsAfter = (change: (rule: Json) => void) => {
      const objects = render('base');
      change(one(objects, 'NetworkPolicy', SANDBOX_NS, 'egress-gateway').spec.egress[0]);
      return sandboxNetworkProblems(objects);
    };

    it('another port, an extra port, a port range, or every port', () => {
      expect(problemsAfter((r) => (r.ports[0].port = 53))).toEqual([
        `${GATEWAY}: ports [{"port":53,"protocol":"TCP"}], not TCP 3128 only`,
      ]);
      expect(problemsAfter((r) => r.ports.push({ protocol: 'UDP', port: 53 }))).toHaveLength(1);
      expect(problemsAfter((r) => (r.ports[0].endPort = 3200))).toHaveLength(1);
      expect(problemsAfter((r) => delete r.ports)).toEqual([`${GATEWAY}: ports "all", not TCP 3128 only`]);
    });

    it('the whole bot namespace, the bot label anywhere, either selector alone, an address block, anywhere', () => {
      expect(problemsAfter((r) => delete r.to[0].podSelector)).toEqual([
        `${GATEWAY}: to {"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"airlock"}}}, not the bot's pods in namespace airlock`,
      ]);
      expect(problemsAfter((r) => (r.to[0].namespaceSelector = {}))).toHaveLength(1);
      expect(problemsAfter((r) => delete r.to[0].namespaceSelector)).toHaveLength(1);
      const split = problemsAfter((r) => {
        r.to = [{ namespaceSelector: r.to[0].namespaceSelector }, { podSelector: r.to[0].podSelector }];
      });
      expect(split).toHaveLength(2);
      expect(problemsAfter((r) => r.to.push({ ipBlock: { cidr: '0.0.0.0/0' } }))).toEqual([
        `${GATEWAY}: to {"ipBlock":{"cidr":"0.0.0.0/0"}}, not the bot's pods in namespace airlock`,
      ]);
      expect(problemsAfter((r) => delete r.to)).toEqual([`${GATEWAY}: to anywhere`]);
    });

    it('a second rule, or no way to the gateway at all', () => {
      expect(
        problemsAfter((r) => {
          r.ports = GATEWAY_PORTS;
          r.to = [GATEWAY_PEER];
        }),
      ).toEqual([]);
      const objects = render('base');
      const gateway = one(objects, 'NetworkPolicy', SANDBOX_NS, 'egress-gateway');
      gateway.spec.egress.push({ to: [GATEWAY_PEER], ports: [{ protocol: 'UDP', port: 53 }] });
      expect(sandboxNetworkProblems(objects)).toEqual([
        `NetworkPolicy ${SANDBOX_NS}/egress-gateway egress rule 1: ports [{"protocol":"UDP","port":53}], not TCP 3128 only`,
      ]);
      gateway.spec.egress = [];
      expect(sandboxNetworkProblems(objects)).toEqual([
        `no NetworkPolicy in ${SANDBOX_NS} lets every pod reach the egress gateway`,
      ]);
    });
  });

  it('a bot egress rule without ports, and ingress to the bot from elsewhere or on another port', () => {
    const objects = render('base');
    const policy = one(objects, 'NetworkPolicy', BOT_NS, 'airlock');
    policy.spec.egress.push({ to: [{ ipBlock: { cidr: '0.0.0.0/0' } }] });
    policy.spec.ingress.push({});
    expect(botNetwork(objects).problems).toEqual([
      'ingress rule 1: ports "all", not TCP 3128 only',
      'ingress rule 1: from anywhere',
      'egress rule 2 allows every port',
    ]);
  });

  it('ingress on 3128 from another namespace, every namespace, an address block or anywhere', () => {
    const problemsAfter = (change: (rule: Json) => void) => {
      const objects = render('base');
      change(one(objects, 'NetworkPolicy', BOT_NS, 'airlock').spec.ingress[0]);
      return botNetwork(objects).problems;
    };
    expect(problemsAfter(() => {})).toEqual([]);
    expect(
      problemsAfter(
        (r) => (r.from[0].namespaceSelector.matchLabels['kubernetes.io/metadata.name'] = 'default'),
      ),
    ).toEqual([
      'ingress rule 0: from {"namespaceSelector":{"matchLabels":{"kubernetes.io/metadata.name":"default"}}}, not namespace airlock-sandboxes',
    ]);
    expect(problemsAfter((r) => (r.from[0].namespaceSelector = {}))).toHaveLength(1);
    expect(problemsAfter((r) => r.from.push({ ipBlock: { cidr: '10.0.0.0/8' } }))).toHaveLength(1);
    expect(problemsAfter((r) => r.from.push({ podSelector: {} }))).toHaveLength(1);
    expect(problemsAfter((r) => delete r.from)).toEqual(['ingress rule 0: from anywhere']);
    expect(problemsAfter((r) => r.ports.push({ protocol: 'TCP', port: 8080 }))).toHaveLength(1);
  });

  it('a second policy that selects every pod of the bot namespace', () => {
    const objects = render('base');
    objects.push({
      apiVersion: 'networking.k8s.io/v1',
      kind: 'NetworkPolicy',
      metadata: { name: 'allow-all', namespace: BOT_NS },
      spec: { podSelector: {}, policyTypes: ['Ingress'], ingress: [{}] },
    });
    expect(botNetwork(objects).problems).toContain('2 NetworkPolicies select the bot; expected 1');
  });
});
