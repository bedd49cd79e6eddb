import { Agent, createServer, type Server as HttpServer, type IncomingHttpHeaders, request } from 'node:http';
import {
  type AddressInfo,
  connect,
  createServer as createTcpServer,
  type Server,
  type Socket,
} from 'node:net';
import { networkInterfaces } from 'node:os';
import { pino } from 'pino';
import { ProxyAgent, fetch as undiciFetch } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EgressGateway, type EgressGatewayOptions } from '../../src/egress/egress-gateway.js';
import type { EgressRecord } from '../../src/runs/ports/egress.js';
import { until } from '../support/until.js';

/**
 * The egress gateway on its own (DESIGN.md §4, Network by phase), driven by real clients over the
 * routes a sandbox gets: its Unix socket, its loopback port, or the shared port told apart by
 * source address. Upstreams listen on 127.0.0.2 and are allowed by IP literal and port.
 */

const UPSTREAM_HOST = '127.0.0.2';
/** A dual-stack listener (::) needs IPv6 on the host. */
const HAS_IPV6 = Object.values(networkInterfaces()).some((list) => list?.some((i) => i.family === 'IPv6'));

/** How a client reaches the gateway: a sandbox's socket, or a TCP port (from a given source address). */
type Route = { path: string } | { port: number; localAddress?: string };

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** A plain HTTP server that records each request it got, as the upstream saw it. */
async function startHttpUpstream(): Promise<{ port: number; received: Received[]; server: HttpServer }> {
  const received: Received[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      received.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'text/plain', 'x-upstream': 'yes' });
      res.end(`upstream saw ${req.method} ${req.url} with ${body.length} bytes`);
    });
  });
  await listen(server);
  return { port: (server.address() as AddressInfo).port, received, server };
}

/** A TCP echo server: stands in for a TLS server at the far end of a CONNECT tunnel. */
async function startEcho(): Promise<{ port: number; open: Set<Socket>; server: Server }> {
  const open = new Set<Socket>();
  const server = createTcpServer((socket) => {
    open.add(socket);
    socket.on('close', () => open.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  await listen(server);
  return { port: (server.address() as AddressInfo).port, open, server };
}

function listen(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, UPSTREAM_HOST, () => resolve());
  });
}

/** A port on 127.0.0.2 nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createTcpServer();
  await listen(server);
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function dial(route: Route): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket =
      'path' in route
        ? connect({ path: route.path })
        : connect({ host: '127.0.0.1', port: route.port, localAddress: route.localAddress });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** A raw connection to the gateway that collects what comes back. */
class Wire {
  private buffer = Buffer.alloc(0);
  closed = false;

  constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
    });
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('error', () => {});
  }

  static async open(route: Route): Promise<Wire> {
    return new Wire(await dial(route));
  }

  /** Everything up to and including `marker`, taken off what was received. */
  async readUntil(marker: string): Promise<string> {
    await until(
      () => this.buffer.includes(marker) || this.closed,
      `${JSON.stringify(marker)} from the gateway`,
    );
    const at = this.buffer.indexOf(marker);
    if (at < 0) throw new Error(`connection closed before ${JSON.stringify(marker)}: ${this.buffer}`);
    const text = this.buffer.subarray(0, at + marker.length).toString();
    this.buffer = this.buffer.subarray(at + marker.length);
    return text;
  }

  /** What is left once the gateway closed the connection. */
  async rest(): Promise<string> {
    await until(() => this.closed, 'the gateway to close the connection');
    return this.buffer.toString();
  }
}

/** CONNECT authority through route; `head` rides in the same write as the request. */
async function openTunnel(
  route: Route,
  authority: string,
  head = '',
): Promise<{ wire: Wire; status: number; body: string }> {
  const wire = await Wire.open(route);
  wire.socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n${head}`);
  const head_ = await wire.readUntil('\r\n\r\n');
  const status = Number(head_.split(' ')[1]);
  const body = status === 200 ? '' : await wire.rest();
  return { wire, status, body };
}

/** A raw request (for the shapes no well-behaved client sends); the answer once the gateway closes. */
async function rawRequest(route: Route, text: string): Promise<{ status: number; body: string }> {
  const wire = await Wire.open(route);
  wire.socket.write(text);
  const answer = await wire.rest();
  const [head = '', body = ''] = answer.split('\r\n\r\n');
  return { status: Number(head.split(' ')[1]), body };
}

interface ProxyAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  reusedSocket: boolean;
}

/** A plain-HTTP request for an absolute URL, sent to the gateway as a proxy, with node:http. */
function viaProxy(
  route: Route,
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; agent?: Agent } = {},
): Promise<ProxyAnswer> {
  const where =
    'path' in route
      ? { socketPath: route.path }
      : { host: '127.0.0.1', port: route.port, localAddress: route.localAddress };
  return new Promise((resolve, reject) => {
    const req = request({
      ...where,
      method: opts.method ?? 'GET',
      path: url,
      headers: { host: new URL(url).host, ...opts.headers },
      agent: opts.agent ?? false,
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
          reusedSocket: req.reusedSocket,
        }),
      );
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Echoes `text` through an open tunnel and returns what came back. */
async function echo(wire: Wire, text: string): Promise<string> {
  wire.socket.write(text);
  return wire.readUntil(text);
}

function closeTunnel(wire: Wire): Promise<void> {
  wire.socket.end();
  return until(() => wire.closed, 'the tunnel to close').then(() => undefined);
}

describe('the egress gateway', () => {
  let http: Awaited<ReturnType<typeof startHttpUpstream>>;
  let echoServer: Awaited<ReturnType<typeof startEcho>>;
  /** The policy line for each upstream. */
  let httpRule: string;
  let echoRule: string;
  let gateway: EgressGateway;
  let records: EgressRecord[];

  beforeAll(async () => {
    http = await startHttpUpstream();
    echoServer = await startEcho();
    httpRule = `${UPSTREAM_HOST}:${http.port}`;
    echoRule = `${UPSTREAM_HOST}:${echoServer.port}`;
  });

  afterAll(async () => {
    http.server.closeAllConnections();
    await new Promise((resolve) => http.server.close(resolve));
    for (const socket of echoServer.open) socket.destroy();
    await new Promise((resolve) => echoServer.server.close(resolve));
  });

  function start(opts: Partial<EgressGatewayOptions> = {}): EgressGateway {
    records = [];
    gateway = new EgressGateway({
      logger: pino({ level: 'silent' }),
      onConnection: (record) => records.push(record),
      ...opts,
    });
    return gateway;
  }

  afterEach(async () => {
    await gateway?.close();
    http.received.length = 0;
  });

  /** The first record that matches, once the gateway wrote it (records come when connections end). */
  function recorded(match: (r: EgressRecord) => boolean = () => true): Promise<EgressRecord> {
    return until(() => records.find(match), 'an egress record');
  }

  describe('CONNECT', () => {
    it('tunnels bytes both ways to an allowed upstream and records the connection with its bytes', async () => {
      start().enter('run-1', 'setup', [echoRule]);
      const route = { path: await gateway.socketFor('run-1') };
      const { wire, status } = await openTunnel(route, echoRule, 'hello-in-the-head\n');
      expect(status).toBe(200);
      expect(await wire.readUntil('hello-in-the-head\n')).toBe('hello-in-the-head\n');
      expect(await echo(wire, 'ping 1\n')).toBe('ping 1\n');
      const big = `${'x'.repeat(100_000)}\n`;
      expect(await echo(wire, big)).toBe(big);
      await closeTunnel(wire);

      const record = await recorded();
      const bytes = 'hello-in-the-head\n'.length + 'ping 1\n'.length + big.length;
      expect(record).toMatchObject({
        key: 'run-1',
        allowed: true,
        host: UPSTREAM_HOST,
        port: echoServer.port,
        phase: 'setup',
        method: 'CONNECT',
        rule: echoRule,
        bytesSent: bytes,
        bytesReceived: bytes,
      });
      expect(record.reason).toBeUndefined();
      expect(record.error).toBeUndefined();
      expect(record.durationMs).toBeGreaterThanOrEqual(0);
      expect(records).toHaveLength(1);
    });

    it('refuses a host outside the phase list with a 403 naming the host and network.agent', async () => {
      start().enter('run-1', 'agent', [echoRule]);
      const route = { path: await gateway.socketFor('run-1') };
      const { status, body, wire } = await openTunnel(route, 'registry.npmjs.org:443');
      expect(status).toBe(403);
      expect(body).toBe(
        'airlock egress gateway refused registry.npmjs.org: not in network.agent of the policy.\n' +
          'To allow it for every run, add "registry.npmjs.org" under network.agent in the policy file.\n',
      );
      expect(wire.closed).toBe(true);
      expect(await recorded()).toMatchObject({
        key: 'run-1',
        allowed: false,
        host: 'registry.npmjs.org',
        port: 443,
        phase: 'agent',
        method: 'CONNECT',
        reason: 'not in network.agent of the policy',
        bytesSent: 0,
        bytesReceived: 0,
      });
      expect(records[0]?.rule).toBeUndefined();
    });

    it('refuses an allowed host on another port, naming the port in the line to add', async () => {
      start().enter('run-1', 'setup', ['mirror.internal']);
      const route = { path: await gateway.socketFor('run-1') };
      const { status, body } = await openTunnel(route, 'mirror.internal:8081');
      expect(status).toBe(403);
      expect(body).toContain('add "mirror.internal:8081" under network.setup');
    });

    it('answers 400 to a CONNECT without host:port', async () => {
      start().enter('run-1', 'setup', [echoRule]);
      const route = { path: await gateway.socketFor('run-1') };
      const { status, body } = await openTunnel(route, 'no-port-here');
      expect(status).toBe(400);
      expect(body).toBe('CONNECT needs host:port, as in CONNECT example.com:443.');
    });

    it('carries a real client (undici ProxyAgent) through a tunnel over the sandbox port', async () => {
      start().enter('run-1', 'setup', [httpRule]);
      const port = await gateway.portFor('run-1');
      const dispatcher = new ProxyAgent({ uri: `http://127.0.0.1:${port}` });
      try {
        const answer = await undiciFetch(`http://${httpRule}/tunnelled?x=1`, { dispatcher });
        expect(answer.status).toBe(200);
        expect(await answer.text()).toBe('upstream saw GET /tunnelled?x=1 with 0 bytes');
      } finally {
        await dispatcher.close();
      }
      expect(await recorded()).toMatchObject({
        key: 'run-1',
        allowed: true,
        method: 'CONNECT',
        rule: httpRule,
      });
    });
  });

  describe('plain HTTP (absolute-URI requests)', () => {
    it('forwards a GET and records the bytes received', async () => {
      start().enter('run-1', 'setup', [httpRule]);
      const route = { path: await gateway.socketFor('run-1') };
      const answer = await viaProxy(route, `http://${httpRule}/simple/pkg/?q=1`);
      expect(answer.status).toBe(200);
      expect(answer.headers['x-upstream']).toBe('yes');
      expect(answer.body).toBe('upstream saw GET /simple/pkg/?q=1 with 0 bytes');
      expect(http.received).toHaveLength(1);
      expect(http.received[0]).toMatchObject({ method: 'GET', url: '/simple/pkg/?q=1' });
      expect(http.received[0]?.headers.host).toBe(httpRule);
      expect(await recorded()).toMatchObject({
        key: 'run-1',
        allowed: true,
        host: UPSTREAM_HOST,
        port: http.port,
        phase: 'setup',
        method: 'GET',
        rule: httpRule,
        bytesSent: 0,
        bytesReceived: answer.body.length,
      });
    });

    it('forwards a POST with its body, without hop-by-hop or Proxy-Authorization headers', async () => {
      start().enter('run-1', 'setup', [httpRule]);
      const route = { path: await gateway.socketFor('run-1') };
      const body = `payload=${'p'.repeat(50_000)}`;
      const answer = await viaProxy(route, `http://${httpRule}/upload`, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'content-length': String(body.length),
          'proxy-authorization': 'Basic c2VjcmV0OnNlY3JldA==',
          'proxy-connection': 'keep-alive',
          connection: 'keep-alive, x-named-hop',
          'x-named-hop': 'only for the proxy',
          'keep-alive': 'timeout=5',
          te: 'trailers',
          'x-end-to-end': 'kept',
        },
      });
      expect(answer.status).toBe(200);
      expect(answer.body).toBe(`upstream saw POST /upload with ${body.length} bytes`);
      const got = http.received[0];
      expect(got?.body).toBe(body);
      expect(got?.headers['x-end-to-end']).toBe('kept');
      expect(got?.headers['content-type']).toBe('application/x-www-form-urlencoded');
      for (const name of ['proxy-authorization', 'proxy-connection', 'x-named-hop', 'keep-alive', 'te']) {
        expect(got?.headers[name], name).toBeUndefined();
      }
      expect(got?.headers.connection).not.toContain('x-named-hop');
      expect(await recorded()).toMatchObject({
        method: 'POST',
        allowed: true,
        bytesSent: body.length,
        bytesReceived: answer.body.length,
      });
    });

    it('does not forward the Proxy-Authorization a real client (undici, no tunnel) sends', async () => {
      start().enter('run-1', 'setup', [httpRule]);
      const port = await gateway.portFor('run-1');
      const dispatcher = new ProxyAgent({
        uri: `http://127.0.0.1:${port}`,
        token: 'Bearer proxy-secret',
        proxyTunnel: false,
      });
      try {
        const answer = await undiciFetch(`http://${httpRule}/json`, {
          method: 'POST',
          body: '{"a":1}',
          dispatcher,
        });
        expect(answer.status).toBe(200);
        expect(await answer.text()).toBe('upstream saw POST /json with 7 bytes');
      } finally {
        await dispatcher.close();
      }
      expect(http.received[0]?.body).toBe('{"a":1}');
      expect(http.received[0]?.headers['proxy-authorization']).toBeUndefined();
      expect(await recorded()).toMatchObject({ method: 'POST', allowed: true, rule: httpRule });
    });

    it('refuses a plain-HTTP request outside the list with a 403 and never reaches the upstream', async () => {
      start().enter('run-1', 'agent', []);
      const route = { path: await gateway.socketFor('run-1') };
      const answer = await viaProxy(route, `http://${httpRule}/x`, { method: 'POST', body: 'data' });
      expect(answer.status).toBe(403);
      expect(answer.body).toBe(
        `airlock egress gateway refused ${httpRule}: not in network.agent of the policy.\n` +
          `To allow it for every run, add "${httpRule}" under network.agent in the policy file.\n`,
      );
      expect(http.received).toHaveLength(0);
      expect(await recorded()).toMatchObject({ allowed: false, method: 'POST', phase: 'agent' });
    });

    it('answers 400 to a request that is not an absolute URI, and to an https:// one', async () => {
      start().enter('run-1', 'setup', [httpRule]);
      const route = { path: await gateway.socketFor('run-1') };
      const origin = await rawRequest(
        route,
        `GET /path HTTP/1.1\r\nHost: ${httpRule}\r\nConnection: close\r\n\r\n`,
      );
      expect(origin.status).toBe(400);
      expect(origin.body).toContain('send absolute URLs (http://host/path) or CONNECT host:port');
      const https = await rawRequest(
        route,
        `GET https://${httpRule}/path HTTP/1.1\r\nHost: ${httpRule}\r\nConnection: close\r\n\r\n`,
      );
      expect(https.status).toBe(400);
      expect(https.body).toContain('Use CONNECT for https:// (set HTTPS_PROXY)');
      expect(http.received).toHaveLength(0);
    });
  });

  describe('who a connection belongs to', () => {
    it('refuses a sandbox that never entered a phase, as phase none', async () => {
      start();
      const route = { path: await gateway.socketFor('ghost') };
      const { status, body } = await openTunnel(route, echoRule);
      expect(status).toBe(403);
      expect(body).toBe(
        `airlock egress gateway refused ${echoRule}: this sandbox belongs to no running work.\n`,
      );
      expect(await recorded()).toMatchObject({ key: 'ghost', allowed: false, phase: 'none' });
    });

    it('refuses everything once the run is forgotten', async () => {
      start().enter('run-1', 'setup', [echoRule]);
      const route = { path: await gateway.socketFor('run-1') };
      const before = await openTunnel(route, echoRule);
      expect(before.status).toBe(200);
      await closeTunnel(before.wire);
      gateway.forget('run-1');
      const after = await openTunnel(route, echoRule);
      expect(after.status).toBe(403);
      expect(after.body).toContain('this sandbox belongs to no running work');
      await until(() => records.length === 2, 'two records');
      expect(records.map((r) => [r.allowed, r.phase])).toEqual([
        [true, 'setup'],
        [false, 'none'],
      ]);
    });

    it('lets a granted host through for that key only, and keeps the grant across phases', async () => {
      start().enter('run-a', 'agent', []);
      gateway.enter('run-b', 'agent', []);
      const a = { path: await gateway.socketFor('run-a') };
      const b = { path: await gateway.socketFor('run-b') };
      expect((await openTunnel(a, echoRule)).status).toBe(403);
      gateway.grant('run-a', echoRule);
      const granted = await openTunnel(a, echoRule);
      expect(granted.status).toBe(200);
      expect(await echo(granted.wire, 'granted\n')).toBe('granted\n');
      await closeTunnel(granted.wire);
      expect((await openTunnel(b, echoRule)).status).toBe(403);
      // Entering a phase again (a resumed run) keeps what approvers allowed.
      gateway.enter('run-a', 'agent', []);
      const again = await openTunnel(a, echoRule);
      expect(again.status).toBe(200);
      await closeTunnel(again.wire);
      await until(() => records.length === 4, 'four records');
      expect(records.map((r) => [r.key, r.allowed, r.rule])).toEqual([
        ['run-a', false, undefined],
        ['run-a', true, echoRule],
        ['run-b', false, undefined],
        ['run-a', true, echoRule],
      ]);
    });

    it('tells the agent approvers were asked only when askable and in the agent phase', async () => {
      start().enter('asked', 'agent', [], { askable: true });
      gateway.enter('silent', 'agent', []);
      gateway.enter('setting-up', 'setup', [], { askable: true });
      const body = async (key: string) =>
        (await openTunnel({ path: await gateway.socketFor(key) }, 'pypi.org:443')).body;
      expect(await body('asked')).toBe(
        'airlock egress gateway refused pypi.org: not in network.agent of the policy; ' +
          "approvers were asked in the run's thread and can allow it for this run.\n" +
          'To allow it for every run, add "pypi.org" under network.agent in the policy file.\n',
      );
      expect(await body('silent')).not.toContain('approvers');
      expect(await body('setting-up')).not.toContain('approvers');
      expect(await body('setting-up')).toContain('under network.setup');
    });

    it('moves a socket and its open connections to the new key on rekey', async () => {
      start().enter('prepared-1', 'setup', [httpRule]);
      const route = { path: await gateway.socketFor('prepared-1') };
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const first = await viaProxy(route, `http://${httpRule}/one`, { agent });
        expect(first.status).toBe(200);
        gateway.rekey('prepared-1', 'run-7');
        // The run's rules now; the prepared sandbox's name no longer means anything to this socket.
        gateway.enter('run-7', 'agent', []);
        gateway.enter('prepared-1', 'setup', [httpRule]);
        const second = await viaProxy(route, `http://${httpRule}/two`, { agent });
        expect(second.reusedSocket).toBe(true);
        expect(second.status).toBe(403);
        expect(second.body).toContain('under network.agent');
        const fresh = await viaProxy(route, `http://${httpRule}/three`);
        expect(fresh.reusedSocket).toBe(false);
        expect(fresh.status).toBe(403);
      } finally {
        agent.destroy();
      }
      await until(() => records.length === 3, 'three records');
      expect(records.map((r) => [r.key, r.allowed, r.phase])).toEqual([
        ['prepared-1', true, 'setup'],
        ['run-7', false, 'agent'],
        ['run-7', false, 'agent'],
      ]);
      expect(http.received.map((r) => r.url)).toEqual(['/one']);
    });

    it('tells connections on the shared port apart by source address, and refuses an unrouted one', async () => {
      start().enter('pod-run', 'setup', [echoRule]);
      const port = await gateway.listenShared(0, '127.0.0.1');
      gateway.routeAddress('127.0.0.3', 'pod-run');
      const routed = await openTunnel({ port, localAddress: '127.0.0.3' }, echoRule);
      expect(routed.status).toBe(200);
      expect(await echo(routed.wire, 'from the pod\n')).toBe('from the pod\n');
      await closeTunnel(routed.wire);
      const stranger = await openTunnel({ port, localAddress: '127.0.0.4' }, echoRule);
      expect(stranger.status).toBe(403);
      expect(stranger.body).toContain('this sandbox belongs to no running work');
      gateway.unrouteAddress('127.0.0.3');
      const gone = await openTunnel({ port, localAddress: '127.0.0.3' }, echoRule);
      expect(gone.status).toBe(403);
      await until(() => records.length === 3, 'three records');
      expect(records.map((r) => [r.key, r.allowed, r.phase])).toEqual([
        ['pod-run', true, 'setup'],
        ['', false, 'none'],
        ['', false, 'none'],
      ]);
    });

    it.skipIf(!HAS_IPV6)(
      'routes an IPv4 source on a dual-stack shared port as the same address',
      async () => {
        start().enter('pod-run', 'setup', [echoRule]);
        const port = await gateway.listenShared(0, '::');
        gateway.routeAddress('127.0.0.3', 'pod-run');
        const routed = await openTunnel({ port, localAddress: '127.0.0.3' }, echoRule);
        expect(routed.status).toBe(200);
        await closeTunnel(routed.wire);
        expect(await recorded()).toMatchObject({ key: 'pod-run', allowed: true });
      },
    );
  });

  describe('names and upstreams', () => {
    const resolve = async (host: string): Promise<string[]> => {
      if (host === 'mirror.test' || host === 'localhost') return [UPSTREAM_HOST];
      throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    };

    it('refuses a name that resolves to loopback, unless the rule is localhost itself', async () => {
      start({ resolve }).enter('run-1', 'setup', [
        `mirror.test:${echoServer.port}`,
        `localhost:${echoServer.port}`,
      ]);
      const route = { path: await gateway.socketFor('run-1') };
      const mirror = await openTunnel(route, `mirror.test:${echoServer.port}`);
      expect(mirror.status).toBe(403);
      expect(mirror.body).toBe(
        `airlock egress gateway: mirror.test resolves to ${UPSTREAM_HOST}, a loopback, link-local or unspecified address; name the address itself in the policy to allow it.\n`,
      );
      expect(await recorded()).toMatchObject({ host: 'mirror.test', allowed: false, phase: 'setup' });
      expect(records[0]?.reason).toContain('resolves to 127.0.0.2');
      const local = await openTunnel(route, `localhost:${echoServer.port}`);
      expect(local.status).toBe(200);
      expect(await echo(local.wire, 'via localhost\n')).toBe('via localhost\n');
      await closeTunnel(local.wire);
      expect(await recorded((r) => r.host === 'localhost')).toMatchObject({
        allowed: true,
        rule: `localhost:${echoServer.port}`,
      });
    });

    it('refuses a name that does not resolve, saying so', async () => {
      start({ resolve }).enter('run-1', 'setup', ['nowhere.test']);
      const route = { path: await gateway.socketFor('run-1') };
      const answer = await viaProxy(route, 'http://nowhere.test/');
      expect(answer.status).toBe(403);
      expect(answer.body).toBe('airlock egress gateway: nowhere.test does not resolve (ENOTFOUND).\n');
    });

    it('answers 502 when an allowed upstream is down, and records the error', async () => {
      const down = await closedPort();
      const downRule = `${UPSTREAM_HOST}:${down}`;
      start().enter('run-1', 'setup', [downRule]);
      const route = { path: await gateway.socketFor('run-1') };
      const tunnel = await openTunnel(route, downRule);
      expect(tunnel.status).toBe(502);
      expect(tunnel.body).toContain(`airlock egress gateway: ${downRule}: connect ECONNREFUSED`);
      const viaHttp = await viaProxy(route, `http://${downRule}/`);
      expect(viaHttp.status).toBe(502);
      expect(viaHttp.body).toContain('ECONNREFUSED');
      await until(() => records.length === 2, 'two records');
      for (const record of records) {
        expect(record).toMatchObject({ allowed: true, rule: downRule, bytesReceived: 0 });
        expect(record.error).toContain('ECONNREFUSED');
      }
      expect(records.map((r) => r.method).sort()).toEqual(['CONNECT', 'GET']);
    });
  });

  it('closes a tunnel idle for idleTimeoutMs and records what it carried', async () => {
    start({ idleTimeoutMs: 150 }).enter('run-1', 'setup', [echoRule]);
    const route = { path: await gateway.socketFor('run-1') };
    const { wire, status } = await openTunnel(route, echoRule);
    expect(status).toBe(200);
    expect(await echo(wire, 'once\n')).toBe('once\n');
    await until(() => wire.closed, 'the idle tunnel to be closed', 5_000);
    expect(await recorded()).toMatchObject({ allowed: true, bytesSent: 5, bytesReceived: 5 });
    expect(records[0]?.durationMs).toBeGreaterThanOrEqual(150);
  });

  it('drops idle keep-alive connections on close, and settles at once', async () => {
    start().enter('run-1', 'setup', [httpRule]);
    const route = { path: await gateway.socketFor('run-1') };
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      expect((await viaProxy(route, `http://${httpRule}/kept`, { agent })).status).toBe(200);
      const idle = Object.values(agent.freeSockets).flat()[0];
      expect(idle).toBeDefined();
      const started = Date.now();
      await gateway.close();
      expect(Date.now() - started).toBeLessThan(1_000);
      await until(() => idle?.destroyed, 'the idle connection to be dropped');
    } finally {
      agent.destroy();
    }
  });

  it('drops open tunnels on close', async () => {
    start().enter('run-1', 'setup', [echoRule]);
    const route = { path: await gateway.socketFor('run-1') };
    const { wire, status } = await openTunnel(route, echoRule);
    expect(status).toBe(200);
    expect(await echo(wire, 'still here\n')).toBe('still here\n');
    await until(() => echoServer.open.size === 1, 'the upstream to hold the tunnel');
    await gateway.close();
    await until(() => wire.closed, 'the tunnel to be dropped');
    await until(() => echoServer.open.size === 0, 'the upstream side to be dropped');
    expect(await recorded()).toMatchObject({ allowed: true, bytesSent: 'still here\n'.length });
    await expect(dial(route)).rejects.toThrow(/ENOENT|ECONNREFUSED/);
  });
});
