import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/config/policy.js';
import { EgressGateway } from '../../src/egress/egress-gateway.js';
import type { EgressRoutes } from '../../src/egress/egress-routes.js';
import type { EgressRecord } from '../../src/runs/ports/egress.js';
import type { Sandbox } from '../../src/runs/ports/sandbox.js';
import { KubeApi } from '../../src/sandbox/kubernetes/kube-api.js';
import { KubernetesSandboxes } from '../../src/sandbox/kubernetes/kubernetes-sandboxes.js';
import { RUN_ID_LABEL } from '../../src/sandbox/kubernetes/pod-spec.js';
import { POD_PROXY_URL, startFakeKubernetes } from '../fakes/kubernetes/index.js';
import { closeServer } from '../fakes/server-util.js';
import { eventually } from '../support/bot-harness.js';

/**
 * The Kubernetes backend behind airlock's egress gateway (DESIGN.md §4, Network by phase), on the
 * stand-in's cluster network as manifests/ makes it: a pod's one way out is the gateway, which
 * knows the pod's run by the pod's IP.
 */

const NS = 'airlock-sandboxes';
const logger = pino({ level: 'silent' });

let cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** The gateway's routes, with every route change the backend makes written down. */
function recording(routes: EgressRoutes): { routes: EgressRoutes; calls: string[][] } {
  const calls: string[][] = [];
  return {
    calls,
    routes: {
      socketFor: (key) => routes.socketFor(key),
      portFor: (key) => routes.portFor(key),
      rekey: (from, to) => routes.rekey(from, to),
      routeAddress(address, key) {
        calls.push(['route', address, key]);
        routes.routeAddress(address, key);
      },
      unrouteAddress(address) {
        calls.push(['unroute', address]);
        routes.unrouteAddress(address);
      },
      async release(key) {
        calls.push(['release', key]);
        await routes.release(key);
      },
    },
  };
}

/** An HTTP server on 127.0.0.2 (outside NO_PROXY's 127.0.0.1), saying which path it was asked. */
async function startUpstream() {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.url ?? '');
    res.end(`upstream saw ${req.method} ${req.url}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', resolve));
  cleanups.push(() => closeServer(server));
  const port = (server.address() as AddressInfo).port;
  return { seen, port, target: `127.0.0.2:${port}`, url: `http://127.0.0.2:${port}` };
}

async function setup(policyText = 'repos:\n  acme/widgets: {}\n') {
  const records: EgressRecord[] = [];
  const gateway = new EgressGateway({ logger, onConnection: (r) => records.push(r) });
  const gatewayPort = await gateway.listenShared(0, '127.0.0.1');
  cleanups.push(() => gateway.close());
  const kube = await startFakeKubernetes({ gateway: { host: '127.0.0.1', port: gatewayPort } });
  const dir = mkdtempSync(join(tmpdir(), 'airlock-k8s-egress-'));
  cleanups.push(async () => {
    await kube.close();
    rmSync(dir, { recursive: true, force: true });
  });
  kube.writeKubeconfig(join(dir, 'kubeconfig'));
  const policy = parsePolicy(policyText);
  const { routes, calls } = recording(gateway);
  /** A backend, as one airlock process has it; a second call is airlock after a restart. */
  const provider = (proxyUrl = POD_PROXY_URL) => {
    const kc = new KubeConfig();
    kc.loadFromFile(join(dir, 'kubeconfig'));
    const sandboxes = new KubernetesSandboxes(new KubeApi(kc, NS), policy, {
      logger,
      isRunActive: () => true,
      startTimeoutMs: 10_000,
      egress: { routes, proxyUrl },
    });
    cleanups.push(() => sandboxes.close());
    return sandboxes;
  };
  const podOf = (runId: string) => {
    const pod = kube.pods(NS).find((p) => p.metadata.labels?.[RUN_ID_LABEL] === runId);
    if (!pod) throw new Error(`no pod for ${runId}`);
    return { name: pod.metadata.name as string, ip: pod.status.podIP as string };
  };
  return { gateway, gatewayPort, records, kube, provider, calls, podOf, upstream: await startUpstream() };
}

/** curl in the pod: its exit code, and what it printed. */
async function curl(sandbox: Sandbox, args: string) {
  const r = await sandbox.exec(`curl -sS -m 10 ${args}`, { timeoutMs: 20_000 });
  return { exitCode: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe('kubernetes sandboxes behind the egress gateway', () => {
  it("reaches an allowed upstream through the gateway, plain and tunnelled, recorded as the run's", async () => {
    const { gateway, records, provider, calls, podOf, upstream } = await setup();
    const sandbox = await provider().create('run-a', { repo: 'acme/widgets' });
    const { ip } = podOf('run-a');
    expect(ip).toMatch(/^127\.1\.\d+\.\d+$/);
    expect(calls).toEqual([['route', ip, 'run-a']]);
    const env = await sandbox.exec('printenv HTTP_PROXY http_proxy HTTPS_PROXY https_proxy NO_PROXY');
    expect(env.stdout.toString().split('\n')).toEqual([
      ...Array(4).fill(POD_PROXY_URL),
      'localhost,127.0.0.1,::1',
      '',
    ]);

    gateway.enter('run-a', 'setup', [upstream.target]);
    expect(await curl(sandbox, `${upstream.url}/plain`)).toMatchObject({
      exitCode: 0,
      stdout: 'upstream saw GET /plain',
    });
    // -p: through a CONNECT tunnel, as an https:// URL would go.
    expect(await curl(sandbox, `-p ${upstream.url}/tunnel`)).toMatchObject({
      exitCode: 0,
      stdout: 'upstream saw GET /tunnel',
    });
    expect(upstream.seen).toEqual(['/plain', '/tunnel']);
    await eventually(() => records.length === 2, 5000, 'both connections recorded');
    const allowed = { key: 'run-a', allowed: true, host: '127.0.0.2', port: upstream.port, phase: 'setup' };
    expect(records).toEqual([
      expect.objectContaining({ ...allowed, method: 'GET', rule: upstream.target }),
      expect.objectContaining({ ...allowed, method: 'CONNECT', rule: upstream.target }),
    ]);
    expect(records[1]?.bytesReceived).toBeGreaterThan(0);
  });

  it("gets the gateway's 403 for the same request once the run is in its agent phase", async () => {
    const { gateway, records, provider, upstream } = await setup();
    const sandbox = await provider().create('run-a', { repo: 'acme/widgets' });
    gateway.enter('run-a', 'setup', [upstream.target]);
    expect((await curl(sandbox, `${upstream.url}/setup`)).exitCode).toBe(0);

    gateway.enter('run-a', 'agent', []);
    const plain = await curl(sandbox, `-w '\\n%{http_code}' ${upstream.url}/agent`);
    expect(plain.exitCode).toBe(0);
    expect(plain.stdout).toContain(`refused ${upstream.target}: not in network.agent`);
    expect(plain.stdout.endsWith('\n403')).toBe(true);
    const tunnel = await curl(sandbox, `-p ${upstream.url}/agent-tunnel`);
    expect(tunnel.exitCode).toBe(56); // curl: the proxy answered CONNECT with an error
    expect(tunnel.stderr).toContain('403');
    expect(upstream.seen).toEqual(['/setup']);
    await eventually(() => records.length === 3, 5000, 'three connections recorded');
    const refused = { key: 'run-a', allowed: false, host: '127.0.0.2', port: upstream.port, phase: 'agent' };
    expect(records.slice(1)).toEqual([
      expect.objectContaining({ ...refused, method: 'GET' }),
      expect.objectContaining({ ...refused, method: 'CONNECT' }),
    ]);
  });

  it('cannot reach anything without the gateway, even what the gateway would allow', async () => {
    const { gateway, gatewayPort, records, provider, upstream } = await setup();
    const sandbox = await provider().create('run-a', { repo: 'acme/widgets' });
    gateway.enter('run-a', 'setup', [upstream.target]);
    // The allowed upstream itself, the gateway's own host port, an address off the host: curl 7,
    // "couldn't connect" (no route, or nothing on the pod's own loopback).
    for (const url of [`${upstream.url}/direct`, `http://127.0.0.1:${gatewayPort}/`, 'http://10.1.2.3/']) {
      const r = await curl(sandbox, `--noproxy '*' ${url}`);
      expect(r, url).toMatchObject({ exitCode: 7, stdout: '' });
    }
    // bash's own /dev/tcp, which no proxy variable reaches.
    const tcp = await sandbox.exec(`exec 3<>/dev/tcp/127.0.0.2/${upstream.port}`);
    expect(tcp.exitCode).not.toBe(0);
    expect(upstream.seen).toEqual([]);
    expect(records).toEqual([]);
    // Yet the same pod, through its route, gets there: the blocks above are the network, not curl.
    expect((await curl(sandbox, `${upstream.url}/via-gateway`)).stdout).toBe('upstream saw GET /via-gateway');
  });

  it("tells two runs' pods apart: one run's allowance does not let the other through", async () => {
    const { gateway, records, provider, podOf, upstream } = await setup();
    const sandboxes = provider();
    const a = await sandboxes.create('run-a', { repo: 'acme/widgets' });
    const b = await sandboxes.create('run-b', { repo: 'acme/widgets' });
    expect(podOf('run-a').ip).not.toBe(podOf('run-b').ip);
    const status = async (sandbox: Sandbox, path: string) =>
      (await curl(sandbox, `-o /dev/null -w '%{http_code}' ${upstream.url}/${path}`)).stdout;

    gateway.enter('run-a', 'setup', [upstream.target]);
    gateway.enter('run-b', 'setup', []);
    expect(await status(a, 'a1')).toBe('200');
    expect(await status(b, 'b1')).toBe('403');
    // The other way round, so it is the pod that decides, not the order.
    gateway.enter('run-a', 'agent', []);
    gateway.enter('run-b', 'agent', [upstream.target]);
    expect(await status(a, 'a2')).toBe('403');
    expect(await status(b, 'b2')).toBe('200');
    expect(upstream.seen).toEqual(['/a1', '/b2']);
    await eventually(() => records.length === 4, 5000, 'four connections recorded');
    expect(records.map((r) => [r.key, r.allowed])).toEqual([
      ['run-a', true],
      ['run-b', false],
      ['run-a', false],
      ['run-b', true],
    ]);
  });

  it('routes a claimed warm pod and a pod attached after a restart; destroy and a lost pod unroute', async () => {
    const { gateway, gatewayPort, records, kube, provider, calls, podOf, upstream } = await setup(
      'repos:\n  acme/widgets: {}\nsandbox: { warm_pool: 1 }\n',
    );
    const first = provider();
    await first.pool.refill();
    for (const until = Date.now() + 10_000; (await first.pool.ready()) < 1; ) {
      if (Date.now() > until) throw new Error('no warm pod became ready');
      await new Promise((r) => setTimeout(r, 25));
    }
    // A warm pod belongs to no run: it is not routed.
    expect(calls).toEqual([]);
    const warm = await first.create('run-w', { repo: 'acme/widgets' });
    expect(first.starts()).toEqual({ warm: 1, cold: 0 });
    const { ip } = podOf('run-w');
    expect(calls).toEqual([['route', ip, 'run-w']]);
    gateway.enter('run-w', 'setup', [upstream.target]);
    expect((await curl(warm, `${upstream.url}/claimed`)).stdout).toBe('upstream saw GET /claimed');

    // airlock restarts: the new process knows the pod's address from the pod.
    const attached = await provider().attach('run-w');
    if (!attached) throw new Error('the run has a pod');
    expect(calls.at(-1)).toEqual(['route', ip, 'run-w']);
    expect((await curl(attached, `${upstream.url}/attached`)).stdout).toBe('upstream saw GET /attached');

    await attached.destroy();
    expect(calls.slice(-2)).toEqual([
      ['unroute', ip],
      ['release', 'run-w'],
    ]);
    // The address no longer speaks for the run, even while the run may reach the upstream.
    gateway.enter('run-w', 'setup', [upstream.target]);
    expect(await fromAddress(ip, gatewayPort, `${upstream.url}/stale`)).toBe(403);
    await eventually(() => records.at(-1)?.host === '127.0.0.2' && records.at(-1)?.key === '', 5000);
    expect(records.map((r) => r.key)).toEqual(['run-w', 'run-w', '']);

    // A pod that fails under a run (evicted): housekeeping takes its address off the run.
    const second = provider();
    await second.create('run-x', { repo: 'acme/widgets' });
    const x = podOf('run-x');
    expect(calls.at(-1)).toEqual(['route', x.ip, 'run-x']);
    kube.failPod(NS, x.name, 'Evicted');
    await eventually(() => kube.pods(NS).find((p) => p.metadata.name === x.name)?.status.phase === 'Failed');
    await new Promise((r) => setTimeout(r, 5)); // housekeeping only prunes routes older than its listing
    await second.housekeeping();
    expect(calls).toContainEqual(['unroute', x.ip]);
  });

  it('exports the proxy variables as values, never as shell code', async () => {
    const { provider } = await setup();
    const strange = `${POD_PROXY_URL}/$(touch /tmp/pwned)'\`touch /tmp/pwned2\`"; touch /tmp/pwned3`;
    const sandbox = await provider(strange).create('run-q', { repo: 'acme/widgets' });
    const r = await sandbox.exec('printenv HTTPS_PROXY; ls /tmp/pwned* 2>&1 || true');
    expect(r.stdout.toString().split('\n')[0]).toBe(strange);
    expect(r.stdout.toString()).toContain('No such file');
  });
});

/** A proxy request from `ip` (a former pod's address) straight to the gateway: its status code. */
function fromAddress(ip: string, gatewayPort: number, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const target = { host: '127.0.0.1', port: gatewayPort, localAddress: ip, path: url, agent: false };
    const req = request(target, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}
