import { createServer, request as rawRequest, type Server } from 'node:http';
import { connect, createServer as createTcpServer } from 'node:net';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { EgressGateway } from '../../src/egress/egress-gateway.js';
import { goesDirect, upstreamProxyFrom } from '../../src/egress/upstream.js';
import type { EgressRecord } from '../../src/runs/ports/egress.js';
import { type ForwardProxy, startForwardProxy } from '../fakes/forward-proxy.js';
import { until } from '../support/until.js';

/**
 * airlock behind a corporate proxy (the egress-proxy overlay): the gateway judges as always and
 * then chains allowed connections through airlock's own HTTPS_PROXY, honouring NO_PROXY.
 */
describe('egress gateway chained through an upstream proxy', () => {
  const closers: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const close of closers.splice(0).reverse()) await close();
  });

  async function upstreamServer(): Promise<{ port: number }> {
    const server: Server = createServer((req, res) => res.end(`hello ${req.url}`));
    await new Promise<void>((r) => server.listen(0, '127.0.0.2', r));
    closers.push(() => new Promise<void>((r) => server.close(() => r())));
    const address = server.address();
    return { port: typeof address === 'object' && address ? address.port : 0 };
  }

  async function gatewayVia(proxy: ForwardProxy | undefined, noProxy = '') {
    const records: EgressRecord[] = [];
    const gateway = new EgressGateway({
      logger: pino({ level: 'silent' }),
      onConnection: (r) => records.push(r),
      upstreamProxy: proxy ? upstreamProxyFrom({ HTTPS_PROXY: proxy.url, NO_PROXY: noProxy }) : undefined,
      // A name that only the upstream proxy could resolve must not be resolved here.
      resolve: async (host) => {
        throw Object.assign(new Error(`no DNS for ${host}`), { code: 'ENOTFOUND' });
      },
    });
    closers.push(() => gateway.close());
    const port = await gateway.portFor('run1');
    return { gateway, records, port };
  }

  function get(gatewayPort: number, url: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = rawRequest({ host: '127.0.0.1', port: gatewayPort, path: url, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => {
          body += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  function tunnel(gatewayPort: number, authority: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(gatewayPort, '127.0.0.1', () => {
        socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
      });
      let seen = '';
      socket.on('data', (chunk) => {
        seen += chunk.toString();
        if (seen.startsWith('HTTP/1.1 200') && seen.includes('\r\n\r\n') && !seen.includes('echo:')) {
          socket.write('ping');
        }
        if (seen.includes('echo:ping') || (!seen.startsWith('HTTP/1.1 200') && seen.includes('\r\n\r\n'))) {
          socket.destroy();
          resolve(seen);
        }
      });
      socket.on('error', reject);
    });
  }

  it('an allowed CONNECT and an allowed plain GET go through the upstream proxy, which connects for the gateway', async () => {
    const proxy = await startForwardProxy();
    closers.push(() => proxy.close());
    const web = await upstreamServer();
    const echo = createTcpServer((s) => s.on('data', (d) => s.write(`echo:${d}`)));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.2', r));
    closers.push(() => new Promise<void>((r) => echo.close(() => r())));
    const echoPort = (echo.address() as { port: number }).port;

    const { gateway, records, port } = await gatewayVia(proxy);
    gateway.enter('run1', 'setup', [`127.0.0.2:${web.port}`, `127.0.0.2:${echoPort}`]);
    const answer = await get(port, `http://127.0.0.2:${web.port}/pkg`);
    expect(answer).toEqual({ status: 200, body: 'hello /pkg' });
    expect(await tunnel(port, `127.0.0.2:${echoPort}`)).toContain('echo:ping');
    expect(proxy.seen).toEqual([`127.0.0.2:${web.port}`, `127.0.0.2:${echoPort}`]);
    expect(proxy.absolute).toEqual([`http://127.0.0.2:${web.port}/pkg`]);
    // A connection is recorded once it ends.
    await until(() => records.length >= 2, 'both connections recorded');
    expect(records.map((r) => [r.allowed, r.method, r.error])).toEqual([
      [true, 'GET', undefined],
      [true, 'CONNECT', undefined],
    ]);
  });

  it('a refused host never reaches the upstream proxy', async () => {
    const proxy = await startForwardProxy();
    closers.push(() => proxy.close());
    const { gateway, records, port } = await gatewayVia(proxy);
    gateway.enter('run1', 'agent', []);
    const answer = await get(port, 'http://registry.example.test/pkg');
    expect(answer.status).toBe(403);
    expect(await tunnel(port, 'registry.example.test:443')).toMatch(/^HTTP\/1\.1 403/);
    expect(proxy.seen).toEqual([]);
    expect(records.every((r) => !r.allowed)).toBe(true);
  });

  it('NO_PROXY hosts go direct (and are resolved and guarded here); a refusing upstream proxy is a 502 with its answer', async () => {
    const proxy = await startForwardProxy();
    closers.push(() => proxy.close());
    const web = await upstreamServer();
    const direct = await gatewayVia(proxy, '127.0.0.2');
    direct.gateway.enter('run1', 'setup', [`127.0.0.2:${web.port}`]);
    expect(await get(direct.port, `http://127.0.0.2:${web.port}/x`)).toEqual({
      status: 200,
      body: 'hello /x',
    });
    expect(proxy.seen).toEqual([]);

    // A proxy that refuses CONNECT (as a corporate proxy does for an unlisted host).
    const refusing = createServer((_req, res) => res.writeHead(403).end());
    refusing.on('connect', (_req, socket) => socket.end('HTTP/1.1 403 Forbidden\r\n\r\n'));
    await new Promise<void>((r) => refusing.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise<void>((r) => refusing.close(() => r())));
    const records: EgressRecord[] = [];
    const gateway = new EgressGateway({
      logger: pino({ level: 'silent' }),
      onConnection: (r) => records.push(r),
      upstreamProxy: upstreamProxyFrom({
        HTTPS_PROXY: `http://user:s3cret@127.0.0.1:${(refusing.address() as { port: number }).port}`,
      }),
    });
    closers.push(() => gateway.close());
    const port = await gateway.portFor('run2');
    gateway.enter('run2', 'setup', ['registry.example.test']);
    const said = await tunnel(port, 'registry.example.test:443');
    expect(said).toMatch(/^HTTP\/1\.1 502/);
    expect(said).toContain('answered 403 to CONNECT');
    expect(said).not.toContain('s3cret');
    await until(() => records.length >= 1, 'the connection recorded');
    expect(records[0]).toMatchObject({ allowed: true, error: expect.stringContaining('answered 403') });
  });

  it('reads the proxy and NO_PROXY as airlock reads its own', () => {
    const proxy = upstreamProxyFrom({
      https_proxy: 'http://a%40b:p%3Ass@proxy.corp:3128',
      NO_PROXY: '.corp, localhost:8080',
    });
    expect(proxy).toMatchObject({ host: 'proxy.corp', port: 3128, noProxy: ['.corp', 'localhost'] });
    expect(proxy?.authorization).toBe(`Basic ${Buffer.from('a@b:p:ss').toString('base64')}`);
    expect(goesDirect(proxy, 'mirror.corp')).toBe(true);
    expect(goesDirect(proxy, 'corp')).toBe(true);
    expect(goesDirect(proxy, 'evilcorp')).toBe(false);
    expect(goesDirect(proxy, 'registry.npmjs.org')).toBe(false);
    expect(upstreamProxyFrom({})).toBeUndefined();
  });
});
