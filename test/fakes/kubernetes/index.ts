// A Kubernetes API server stand-in faked at the wire: a real HTTP (+ WebSocket) server on 127.0.0.1
// that the real @kubernetes/client-node talks to. It is as strict as a real API server where
// airlock touches it (authn, RBAC, schema, Pod Security, update rules, preconditions), and its
// "node" runs each pod's processes under bubblewrap so exec, logs and volumes behave for real.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocketServer } from 'ws';
import { stringify } from 'yaml';
import { closeServer } from '../server-util.js';
import { registerStandIn } from '../stand-ins.js';
import { ClusterNetwork, type GatewayAddress } from './cluster-network.js';
import type { Cluster, ExecRecord, Fault, RecordedRequest } from './context.js';
import { negotiate } from './exec-websocket.js';
import { Kubelet } from './kubelet.js';
import { AIRLOCK_ROLE_RULES, type PolicyRule } from './rbac.js';
import { handleRequest, handleUpgrade } from './router.js';
import { ObjectStore } from './store.js';
import { deepCopy, type KubeObject, now } from './types.js';

export { type GatewayAddress, POD_PROXY_URL } from './cluster-network.js';
export type { ExecRecord, Fault, RecordedRequest } from './context.js';
export { AIRLOCK_ROLE_RULES, type PolicyRule } from './rbac.js';
export type { KubeObject } from './types.js';

export interface FakeKubernetesOptions {
  /** Where per-pod directories go; default a temporary directory removed on close. */
  root?: string;
  /** The bearer token every request must carry; default 'fake-kube-token'. */
  token?: string;
  /** Namespace name → labels. Default: airlock-sandboxes and airlock, both enforcing PSS restricted. */
  namespaces?: Record<string, Record<string, string>>;
  /** Namespace → the RBAC rules the token's user has there ('' = cluster-wide). Default: AIRLOCK_ROLE_RULES in airlock-sandboxes. */
  rules?: Record<string, PolicyRule[]>;
  /** Exec subprotocols the server accepts; default v5 and v4 of channel.k8s.io. */
  execProtocols?: string[];
  /** Pause between lifecycle steps (schedule, sandbox, start); default 30 ms. */
  startDelayMs?: number;
  /** The one node's labels, for nodeSelector and node affinity; default { 'kubernetes.io/os': 'linux' }. */
  nodeLabels?: Record<string, string>;
  nodeCapacity?: { cpu: string; memory: string; 'ephemeral-storage': string };
  /** RuntimeClasses that exist; default ['gvisor']. */
  runtimeClasses?: string[];
  /** Images that fail to pull; default: those containing 'does-not-exist'. */
  missingImages?: (image: string) => boolean;
  /** Changes kept for watches to resume from; older resourceVersions get 410 Expired. Default 1000. */
  watchHistory?: number;
  /**
   * airlock's egress gateway on the host. Given, the cluster network is as manifests/ makes it:
   * each pod has a 127.1.x.y IP and one way out, POD_PROXY_URL on its own loopback, which reaches
   * this address from the pod's IP (cluster-network.ts). Without it pods have no way out at all.
   */
  gateway?: GatewayAddress;
}

export interface FakeKubernetes {
  url: string;
  token: string;
  /** Writes a kubeconfig (cluster, token user, current context) that KubeConfig.loadFromFile accepts. */
  writeKubeconfig(path: string): void;
  /** Deep copies of the stored pods, of one namespace or all. */
  pods(namespace?: string): KubeObject[];
  /** Every version of every pod ever stored (created, each change, deleted), oldest first. */
  podHistory(): KubeObject[];
  /** The host directory holding a pod's volumes (`<root>/<ns>/<pod>/<volume>` for emptyDirs). */
  podDir(namespace: string, name: string): string;
  requests: RecordedRequest[];
  execs: ExecRecord[];
  /**
   * Refusals a correct client never provokes (bad credentials, RBAC or Pod Security denials,
   * invalid requests, unknown resources, crashes); any a test does not claim with takeProblems() fails it.
   */
  problems: string[];
  /** Claims the problems not yet checked, for a test that provokes them on purpose. */
  takeProblems(): string[];
  /** As the kubelet would: kill the pod's processes and record the failure in its status. */
  failPod(namespace: string, name: string, reason: 'OOMKilled' | 'Evicted' | 'DeadlineExceeded'): void;
  setRules(namespace: string, rules: PolicyRule[]): void;
  /** Answers the next `times` requests matching method and path with `status`, as a busy API server does. */
  injectFault(fault: Fault): void;
  /** Drops every open exec stream, as an API server restart does; the processes keep running. */
  dropExecStreams(): void;
  /** Kills every process, ends open streams, removes root if it made it. */
  close(): Promise<void>;
}

const RESTRICTED = { 'pod-security.kubernetes.io/enforce': 'restricted' };

export async function startFakeKubernetes(opts: FakeKubernetesOptions = {}): Promise<FakeKubernetes> {
  const ownRoot = opts.root === undefined;
  const root = opts.root ?? mkdtempSync(join(tmpdir(), 'fake-kube-'));
  const store = new ObjectStore(opts.watchHistory ?? 1000);
  const c: Cluster = {
    token: opts.token ?? 'fake-kube-token',
    store,
    kubelet: new Kubelet({
      store,
      root,
      node: {
        labels: {
          'kubernetes.io/hostname': 'fake-node-1',
          ...(opts.nodeLabels ?? { 'kubernetes.io/os': 'linux' }),
        },
        capacity: opts.nodeCapacity ?? { cpu: '16', memory: '64Gi', 'ephemeral-storage': '200Gi' },
      },
      startDelayMs: opts.startDelayMs ?? 30,
      missingImages: opts.missingImages ?? ((image) => image.includes('does-not-exist')),
      network: new ClusterNetwork(opts.gateway),
    }),
    rules: deepCopy(opts.rules ?? { 'airlock-sandboxes': AIRLOCK_ROLE_RULES }),
    namespaces: opts.namespaces ?? { 'airlock-sandboxes': { ...RESTRICTED }, airlock: { ...RESTRICTED } },
    namespaceCreated: now(),
    runtimeClasses: opts.runtimeClasses ?? ['gvisor'],
    execProtocols: opts.execProtocols ?? ['v5.channel.k8s.io', 'v4.channel.k8s.io'],
    requests: [],
    execs: [],
    streams: new Set(),
    sockets: new Set(),
    timers: new Set(),
    faults: [],
    problems: [],
  };
  const history: KubeObject[] = [];
  store.subscribe((e) => {
    if (e.resource === 'pods') history.push(e.object);
  });
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (offered) => negotiate([...offered].join(','), c.execProtocols) ?? false,
  });
  const server = createServer((req, res) => void handleRequest(c, req, res));
  server.on('upgrade', (req, socket, head) => handleUpgrade(c, wss, req, socket, head));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const standIn = registerStandIn({ name: `kubernetes ${url}`, problems: c.problems });

  return {
    url,
    token: c.token,
    requests: c.requests,
    execs: c.execs,
    problems: c.problems,
    takeProblems: standIn.takeProblems,
    writeKubeconfig(path) {
      const config = {
        apiVersion: 'v1',
        kind: 'Config',
        // client-node 2.x refuses a plain-http server unless TLS verification is explicitly off.
        clusters: [{ name: 'fake', cluster: { server: url, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'airlock', user: { token: c.token } }],
        contexts: [
          { name: 'fake', context: { cluster: 'fake', user: 'airlock', namespace: 'airlock-sandboxes' } },
        ],
        'current-context': 'fake',
      };
      writeFileSync(path, stringify(config));
    },
    pods: (namespace) => deepCopy(store.list('pods', namespace)),
    podHistory: () => deepCopy(history),
    podDir: (namespace, name) => c.kubelet.podDir(namespace, name),
    failPod: (namespace, name, reason) => c.kubelet.fail(namespace, name, reason),
    setRules(namespace, rules) {
      c.rules[namespace] = deepCopy(rules);
    },
    injectFault(fault) {
      c.faults.push({ ...fault });
    },
    dropExecStreams() {
      for (const ws of c.sockets) ws.terminate();
    },
    async close() {
      standIn.closed();
      const stopped = c.kubelet.close();
      for (const t of c.timers) clearTimeout(t);
      for (const res of c.streams) res.end();
      for (const ws of c.sockets) ws.terminate();
      wss.close();
      await closeServer(server);
      // Only once the pods' processes have exited: one still writing makes the removal fail.
      await stopped;
      if (ownRoot) await rm(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
    },
  };
}
