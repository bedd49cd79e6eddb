import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { closeServer } from './server-util.js';
import { registerStandIn } from './stand-ins.js';

export interface ForwardProxy {
  url: string;
  /** host:port of every destination, in order: CONNECT tunnels and absolute-URI requests alike. */
  seen: string[];
  /** The full URLs of absolute-URI requests (plain-http git). */
  absolute: string[];
  /** Tunnels whose first request was a WebSocket upgrade (readable because the stand-ins speak plain HTTP). */
  websockets: string[];
  /** Requests it could not forward; any a test does not claim with takeProblems() fails it. */
  problems: string[];
  /** Claims the problems not yet checked, for a test that provokes them on purpose. */
  takeProblems(): string[];
  close(): Promise<void>;
}

/**
 * An HTTP forward proxy on loopback, as a corporate egress proxy is: CONNECT tunnels (what undici's
 * ProxyAgent opens, for http and https alike) and absolute-URI requests (what git's libcurl
 * sends for http:// remotes). It records where traffic went.
 */
export async function startForwardProxy(): Promise<ForwardProxy> {
  const seen: string[] = [];
  const absolute: string[] = [];
  const websockets: string[] = [];
  const problems: string[] = [];
  const server = createServer((req, res) => {
    let target: URL;
    try {
      target = new URL(req.url ?? '');
    } catch {
      problems.push(`${req.method} ${req.url}: a proxy needs an absolute URI`);
      res.writeHead(400).end('a proxy needs an absolute URI');
      return;
    }
    seen.push(target.host);
    absolute.push(target.href);
    const upstream = request(
      {
        host: target.hostname,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method: req.method,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    upstream.on('error', (err) => {
      problems.push(`${req.method} ${target.href}: upstream unreachable: ${err.message}`);
      res.writeHead(502).end();
    });
    req.pipe(upstream);
  });
  server.on('connect', (req, socket, head) => {
    const [host, port] = (req.url ?? '').split(':');
    seen.push(req.url ?? '');
    const upstream = connect(Number(port), host ?? '', () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
      // Any request on the tunnel may be the upgrade: undici reuses kept-alive tunnels.
      socket.on('data', (chunk: Buffer) => {
        if (/^upgrade:\s*websocket/im.test(chunk.toString('latin1'))) websockets.push(req.url ?? '');
      });
    });
    const drop = () => {
      upstream.destroy();
      socket.destroy();
    };
    upstream.on('error', drop);
    socket.on('error', drop);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const standIn = registerStandIn({ name: `forward proxy ${url}`, problems });
  return {
    url,
    seen,
    absolute,
    websockets,
    problems,
    takeProblems: standIn.takeProblems,
    close: () => {
      standIn.closed();
      return closeServer(server);
    },
  };
}
