import { execFile, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EgressGateway } from '../../src/egress/egress-gateway.js';
import { EgressLedger, type EgressRefusal, refusedTargets } from '../../src/runs/egress-ledger.js';
import type { AuditEvent } from '../../src/runs/ports/store.js';
import { bubblewrapProblem } from '../../src/sandbox/local/bubblewrap.js';
import {
  type LocalIsolation,
  type LocalSandbox,
  LocalSandboxProvider,
} from '../../src/sandbox/local/local-sandbox.js';
import { sandboxIdentity } from '../../src/sandbox/local/sandbox-identity.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { until } from '../support/until.js';

/**
 * DESIGN.md §4, Network by phase, on the local backend: a sandboxed command's only way out is the
 * egress gateway, reached through the proxy bridged into its own loopback. What the run's phase
 * allows gets through; everything else is a 403 from the gateway, and no route around it works —
 * not ignoring the proxy, not a raw socket, not the gateway's own socket or port on the host. Every
 * connection lands in the run's audit events.
 *
 * The upstream listens on 127.0.0.2: NO_PROXY covers 127.0.0.1, so a client would not send
 * 127.0.0.1 through the proxy. Scratch space is under /var/tmp, which bubblewrap does not show.
 */

const run = promisify(execFile);
const UPSTREAM_HOST = '127.0.0.2';
const UPSTREAM_BODY = 'hello from the registry';
const CURL = 'curl -sS --max-time 10';

const BWRAP_PROBLEM = bubblewrapProblem(sandboxIdentity({}), []);
const CURL_PROBLEM =
  spawnSync('curl', ['--version']).status === 0 ? undefined : 'curl is not installed (apt-get install curl)';
const SKIP_BWRAP = BWRAP_PROBLEM ?? CURL_PROBLEM;
const HAS_PYTHON = spawnSync('python3', ['--version']).status === 0;

/** An HTTP answer on an abstract Unix socket named by argv[1]; prints a line once listening. */
const ABSTRACT_SERVER = `
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind('\\0' + sys.argv[1])
s.listen()
print('ready', flush=True)
while True:
    c, _ = s.accept()
    c.recv(65536)
    c.sendall(b'HTTP/1.0 200 OK\\r\\nContent-Length: 22\\r\\n\\r\\nabstract host service\\n')
    c.close()
`;

interface Shell {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

async function sh(sandbox: LocalSandbox, command: string): Promise<Shell> {
  const result = await sandbox.exec(command, { timeoutMs: 30_000 });
  return { exitCode: result.exitCode, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

/**
 * curl on the host itself, outside any sandbox: the control that a route exists at all. Not
 * spawnSync: the gateway answering it runs in this process.
 */
async function hostCurl(...args: string[]): Promise<string> {
  const { stdout } = await run('curl', ['-sS', '--max-time', '10', ...args], { encoding: 'utf8' });
  return stdout;
}

/** A run's egress audit events, as `type` and the event data. */
function egressEvents(events: AuditEvent[]): Array<{ type: string; data: Record<string, unknown> }> {
  return events.filter((e) => e.type.startsWith('egress.')).map((e) => ({ type: e.type, data: e.data }));
}

/** The world: an upstream, a store with runs, a gateway writing to it through the ledger. */
function world() {
  let base: string;
  let upstream: Server;
  let hits = 0;
  let store: SqliteStore;
  let gateway: EgressGateway;
  let ledger: EgressLedger;
  const refusals: Array<{ run: string } & EgressRefusal> = [];
  const sandboxes: LocalSandbox[] = [];

  const w = {
    get base() {
      return base;
    },
    get store() {
      return store;
    },
    get gateway() {
      return gateway;
    },
    get hits() {
      return hits;
    },
    refusals,
    /** The policy line for the upstream, and its URL. */
    rule: '',
    url: '',

    async start(): Promise<void> {
      base = mkdtempSync(join('/var/tmp', 'airlock-egress-'));
      upstream = createServer((req, res) => {
        hits += 1;
        req.resume();
        res.end(`${UPSTREAM_BODY} (${req.method} ${req.url})\n`);
      });
      await new Promise<void>((resolve) => upstream.listen(0, UPSTREAM_HOST, resolve));
      const { port } = upstream.address() as AddressInfo;
      w.rule = `${UPSTREAM_HOST}:${port}`;
      w.url = `http://${w.rule}/simple/left-pad/`;
      store = new SqliteStore(openDatabase(join(base, 'data', 'airlock.db')));
      const logger = pino({ level: 'silent' });
      ledger = new EgressLedger(store, logger);
      ledger.onAgentRefused = (run, refusal) => refusals.push({ run: run.id, ...refusal });
      gateway = new EgressGateway({ logger, onConnection: (record) => ledger.record(record) });
    },

    /** A run in the store and its sandbox. */
    async sandbox(provider: LocalSandboxProvider, runId: string): Promise<LocalSandbox> {
      store.createRun({
        id: runId,
        repo: 'acme/widgets',
        task: 'add a dependency',
        requester: 'U1',
        source: 'cli',
        baseRef: 'main',
        ownerId: null,
      });
      const sandbox = (await provider.create(runId)) as LocalSandbox;
      sandboxes.push(sandbox);
      return sandbox;
    },

    provider(isolation: LocalIsolation): LocalSandboxProvider {
      return new LocalSandboxProvider(join(base, 'data', 'workspaces'), { isolation, egress: gateway });
    },

    async stop(): Promise<void> {
      for (const sandbox of sandboxes.splice(0)) await sandbox.destroy();
      await gateway?.close();
      upstream?.closeAllConnections();
      await new Promise((resolve) => upstream?.close(resolve));
      if (base) rmSync(base, { recursive: true, force: true });
    },
  };
  return w;
}

describe.skipIf(SKIP_BWRAP !== undefined)(
  `a bubblewrapped local sandbox reaches the network only through the egress gateway${SKIP_BWRAP ? ` (skipped: ${SKIP_BWRAP})` : ''}`,
  () => {
    const w = world();
    let provider: LocalSandboxProvider;
    let sandbox: LocalSandbox;
    const RUN = 'egress-run-1';

    beforeAll(async () => {
      await w.start();
      provider = w.provider('bubblewrap');
      expect(provider.isolated).toBe(true);
      sandbox = await w.sandbox(provider, RUN);
    });

    afterAll(() => w.stop());

    it('tells commands to use the proxy on their own loopback', async () => {
      const result = await sh(
        sandbox,
        'for v in HTTP_PROXY HTTPS_PROXY http_proxy https_proxy NO_PROXY; do printenv $v; done',
      );
      expect(result.stdout).toBe(
        'http://127.0.0.1:3128\nhttp://127.0.0.1:3128\nhttp://127.0.0.1:3128\nhttp://127.0.0.1:3128\nlocalhost,127.0.0.1,::1\n',
      );
    });

    it('in setup, reaches what network.setup allows through the proxy, plain and tunnelled', async () => {
      w.gateway.enter(RUN, 'setup', [w.rule]);
      const plain = await sh(sandbox, `${CURL} -f ${w.url}`);
      expect(plain).toMatchObject({ exitCode: 0, stderr: '' });
      expect(plain.stdout).toBe(`${UPSTREAM_BODY} (GET /simple/left-pad/)\n`);
      // -p: CONNECT through the proxy, as every https:// request does.
      const tunnelled = await sh(sandbox, `${CURL} -f -p ${w.url}?tunnel=1`);
      expect(tunnelled).toMatchObject({ exitCode: 0 });
      expect(tunnelled.stdout).toBe(`${UPSTREAM_BODY} (GET /simple/left-pad/?tunnel=1)\n`);
      const events = await until(() => {
        const found = egressEvents(w.store.events(RUN));
        return found.length >= 2 && found;
      }, 'two egress events');
      expect(events).toHaveLength(2);
      for (const [event, method] of [
        [events[0], 'GET'],
        [events[1], 'CONNECT'],
      ] as const) {
        expect(event?.type).toBe('egress.allowed');
        expect(event?.data).toMatchObject({ host: UPSTREAM_HOST, phase: 'setup', method, rule: w.rule });
        expect(event?.data.bytes_received).toBeGreaterThan(0);
      }
      // The tunnel carried curl's request one way and the whole response the other.
      expect(events[1]?.data.bytes_sent).toBeGreaterThan(0);
    });

    it('in the agent phase with network.agent empty, the same request is a 403 naming network.agent', async () => {
      w.gateway.enter(RUN, 'agent', []);
      const before = w.hits;
      const failed = await sh(sandbox, `${CURL} -f ${w.url}`);
      expect(failed.exitCode).toBe(22);
      expect(failed.stderr).toContain('The requested URL returned error: 403');
      const body = await sh(sandbox, `${CURL} ${w.url}`);
      expect(body.exitCode).toBe(0);
      expect(body.stdout).toBe(
        `airlock egress gateway refused ${w.rule}: not in network.agent of the policy.\n` +
          `To allow it for every run, add "${w.rule}" under network.agent in the policy file.\n`,
      );
      const tunnel = await sh(sandbox, `${CURL} -f -p ${w.url}`);
      // curl's words and exit code for a refused CONNECT differ between versions (22 with -f, or 56).
      expect([22, 56]).toContain(tunnel.exitCode);
      expect(tunnel.stderr).toMatch(/\b403\b/);
      expect(w.hits).toBe(before);
      const refused = egressEvents(w.store.events(RUN)).filter((e) => e.type === 'egress.refused');
      expect(refused.map((e) => e.data.method)).toEqual(['GET', 'GET', 'CONNECT']);
      for (const event of refused) {
        expect(event.data).toMatchObject({
          host: UPSTREAM_HOST,
          phase: 'agent',
          reason: 'not in network.agent of the policy',
          bytes_sent: 0,
          bytes_received: 0,
        });
        expect(event.data.rule).toBeUndefined();
      }
      // Approvers hear of the host once, however often the agent tries.
      expect(w.refusals).toEqual([{ run: RUN, target: w.rule, rule: w.rule }]);
      expect(refusedTargets(w.store, RUN)).toEqual([{ phase: 'agent', target: w.rule, rule: w.rule }]);
    });

    describe.each(['setup', 'agent'] as const)('in %s, no route around the gateway', (phase) => {
      it('ignoring the proxy, a raw socket and the gateway on the host all fail', async () => {
        w.gateway.enter(RUN, phase, phase === 'setup' ? [w.rule] : []);
        const before = w.hits;
        const noProxy = await sh(sandbox, `${CURL} --noproxy '*' ${w.url}`);
        expect(noProxy.exitCode).toBe(7);
        expect(noProxy.stdout).toBe('');
        const [, port] = w.rule.split(':');
        const raw = await sh(
          sandbox,
          `exec 3<>/dev/tcp/${UPSTREAM_HOST}/${port} && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3`,
        );
        expect(raw.exitCode).not.toBe(0);
        expect(raw.stdout).toBe('');
        expect(raw.stderr).toMatch(/connect|Connection refused|unreachable/i);
        // The gateway's own TCP port for an unisolated sandbox lives in the host's network only.
        const hostPort = await w.gateway.portFor(`${RUN}-host-port`);
        w.gateway.enter(`${RUN}-host-port`, phase, [w.rule]);
        const viaHostPort = await sh(sandbox, `${CURL} -x http://127.0.0.1:${hostPort} ${w.url}`);
        expect(viaHostPort.exitCode).toBe(7);
        expect(w.hits).toBe(before);
      });
    });

    it("cannot reach the gateway's socket on the host, another sandbox's, or any other host socket", async () => {
      w.gateway.enter(RUN, 'agent', []);
      const other = `${RUN}-other`;
      const otherSocket = await w.gateway.socketFor(other);
      w.gateway.enter(other, 'setup', [w.rule]);
      // Controls: from the host, each of these routes works.
      expect(await hostCurl('--unix-socket', otherSocket, '--request-target', w.url, w.url)).toContain(
        UPSTREAM_BODY,
      );
      const before = w.hits;
      // The other sandbox's socket by its host path: not there at all inside this one.
      const byPath = await sh(
        sandbox,
        `ls -la ${otherSocket} || true; ${CURL} --unix-socket ${otherSocket} ${w.url}`,
      );
      expect(byPath.stdout).not.toContain('.sock');
      expect(byPath.exitCode).toBe(7);
      // A host service on a Unix socket under the data directory's parent.
      const hostService = createServer((_req, res) => res.end('host service\n'));
      const path = join(w.base, 'host-service.sock');
      await new Promise<void>((resolve) => hostService.listen(path, resolve));
      try {
        expect(await hostCurl('--unix-socket', path, 'http://host/')).toBe('host service\n');
        const file = await sh(sandbox, `${CURL} --unix-socket ${path} http://host/`);
        expect(file.exitCode).toBe(7);
        expect(file.stdout).toBe('');
      } finally {
        await new Promise((resolve) => hostService.close(resolve));
      }
      // The socket bound into the sandbox is this sandbox's own route: judged as this run, refused.
      const own = await sh(
        sandbox,
        `${CURL} --unix-socket /run/airlock/egress.sock --request-target ${w.url} ${w.url}`,
      );
      expect(own.stdout).toContain(`airlock egress gateway refused ${w.rule}: not in network.agent`);
      expect(w.hits).toBe(before);
      await w.gateway.release(other);
    });

    // Abstract Unix sockets belong to the network namespace: the sandbox's own has none of the host's.
    // (python3 serves it: node pads abstract names to the full address length, which curl cannot name.)
    it.skipIf(!HAS_PYTHON)('cannot reach a host service in the abstract Unix socket namespace', async () => {
      const name = `airlock-egress-test-${process.pid}`;
      const server = spawn('python3', ['-c', ABSTRACT_SERVER, name], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      try {
        await new Promise<void>((resolve, reject) => {
          server.stdout.once('data', () => resolve());
          server.once('exit', (code) => reject(new Error(`the abstract socket server exited (${code})`)));
        });
        expect(await hostCurl('--abstract-unix-socket', name, 'http://host/')).toBe(
          'abstract host service\n',
        );
        const inside = await sh(sandbox, `${CURL} --abstract-unix-socket ${name} http://host/`);
        expect(inside.exitCode).toBe(7);
        expect(inside.stdout).toBe('');
      } finally {
        server.kill();
      }
    });

    it('tells the sandboxes of two runs apart, by phase and in the audit events', async () => {
      const setupRun = 'egress-run-2';
      const agentRun = 'egress-run-3';
      const setupBox = await w.sandbox(provider, setupRun);
      const agentBox = await w.sandbox(provider, agentRun);
      w.gateway.enter(setupRun, 'setup', [w.rule]);
      w.gateway.enter(agentRun, 'agent', []);
      const [allowed, refused] = await Promise.all([
        sh(setupBox, `${CURL} -f ${w.url}`),
        sh(agentBox, `${CURL} -f ${w.url}`),
      ]);
      expect(allowed.exitCode).toBe(0);
      expect(allowed.stdout).toContain(UPSTREAM_BODY);
      expect(refused.exitCode).toBe(22);
      const setupEvents = await until(() => {
        const found = egressEvents(w.store.events(setupRun));
        return found.length > 0 && found;
      }, 'the setup run to have an egress event');
      expect(setupEvents.map((e) => [e.type, e.data.phase])).toEqual([['egress.allowed', 'setup']]);
      expect(egressEvents(w.store.events(agentRun)).map((e) => [e.type, e.data.phase])).toEqual([
        ['egress.refused', 'agent'],
      ]);
      // A grant for one run opens nothing for the other.
      w.gateway.grant(agentRun, w.rule);
      w.gateway.enter(setupRun, 'agent', []);
      const [granted, nowRefused] = await Promise.all([
        sh(agentBox, `${CURL} -f ${w.url}`),
        sh(setupBox, `${CURL} -f ${w.url}`),
      ]);
      expect(granted.exitCode).toBe(0);
      expect(nowRefused.exitCode).toBe(22);
    });
  },
);

describe.skipIf(CURL_PROBLEM !== undefined)(
  `an unisolated local sandbox (isolation none) is told to use the gateway${CURL_PROBLEM ? ` (skipped: ${CURL_PROBLEM})` : ''}`,
  () => {
    const w = world();
    let sandbox: LocalSandbox;
    const RUN = 'egress-none-1';

    beforeAll(async () => {
      await w.start();
      const provider = w.provider('none');
      expect(provider.isolated).toBe(false);
      sandbox = await w.sandbox(provider, RUN);
    });

    afterAll(() => w.stop());
    afterEach(() => w.gateway.forget(RUN));

    it("points HTTP_PROXY at a loopback port of the gateway, which applies the run's rules", async () => {
      const env = await sh(sandbox, 'printf "%s %s %s" "$HTTP_PROXY" "$https_proxy" "$NO_PROXY"');
      const match =
        /^http:\/\/127\.0\.0\.1:(\d+) http:\/\/127\.0\.0\.1:(\d+) localhost,127\.0\.0\.1,::1$/.exec(
          env.stdout,
        );
      expect(match, env.stdout).not.toBeNull();
      expect(match?.[1]).toBe(match?.[2]);
      expect(Number(match?.[1])).not.toBe(3128);

      w.gateway.enter(RUN, 'setup', [w.rule]);
      const allowed = await sh(sandbox, `${CURL} -f ${w.url}`);
      expect(allowed.exitCode).toBe(0);
      expect(allowed.stdout).toBe(`${UPSTREAM_BODY} (GET /simple/left-pad/)\n`);

      w.gateway.enter(RUN, 'agent', []);
      const refused = await sh(sandbox, `${CURL} ${w.url}`);
      expect(refused.stdout).toContain(`refused ${w.rule}: not in network.agent of the policy`);

      const events = await until(() => {
        const found = egressEvents(w.store.events(RUN));
        return found.length >= 2 && found;
      }, 'two egress events');
      expect(events.map((e) => [e.type, e.data.phase])).toEqual([
        ['egress.allowed', 'setup'],
        ['egress.refused', 'agent'],
      ]);
      expect(events[0]?.data.bytes_received).toBeGreaterThan(0);
    });
  },
);
