import { lookup } from 'node:dns/promises';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, isIP, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log/logger.js';
import type { Egress, EgressRecord, NetworkPhase } from '../runs/ports/egress.js';
import {
  type HostRule,
  hostRules,
  matchRule,
  normaliseHost,
  parseHostRule,
  ruleFor,
} from '../shared/host-rule.js';
import type { EgressRoutes } from './egress-routes.js';
import { forbiddenAddress } from './special-addresses.js';
import { goesDirect, openStream, type UpstreamProxy } from './upstream.js';

/** What a sandbox may reach now: its phase's rules and what approvers granted during the run. */
interface Scope {
  phase: NetworkPhase;
  askable: boolean;
  rules: HostRule[];
  grants: HostRule[];
}

/** A connection's sandbox, looked up when each request arrives (a key can be renamed on claim). */
interface Holder {
  key: string;
}

export interface EgressGatewayOptions {
  logger: Logger;
  /** Every connection, allowed or refused, once it is over (the audit log's egress events). */
  onConnection: (record: EgressRecord) => void;
  connectTimeoutMs?: number;
  /** Idle tunnels are closed after this long without a byte either way. */
  idleTimeoutMs?: number;
  resolve?: (host: string) => Promise<string[]>;
  /** airlock's own way out (HTTPS_PROXY of its environment), chained through for allowed hosts. */
  upstreamProxy?: UpstreamProxy;
}

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * airlock's egress gateway (DESIGN.md §4): an HTTP proxy, CONNECT for TLS and absolute-URI
 * requests for plain HTTP, that is a sandbox's only way out. Each connection belongs to one
 * sandbox — by the socket it came in on (local backend) or its source address (pods) — and is
 * judged by that sandbox's phase: `network.setup` while setup runs, `network.agent` while the
 * agent works, plus what an approver allowed. Refusals are a 403 whose body says what to change.
 */
export class EgressGateway implements Egress, EgressRoutes {
  private readonly scopes = new Map<string, Scope>();
  private readonly holders = new Map<string, Holder>();
  private readonly listeners = new Map<string, Server[]>();
  private readonly addresses = new Map<string, Holder>();
  private readonly http = createServer({ requestTimeout: 0, headersTimeout: 30_000 });
  private readonly socketKeys = new WeakMap<Socket, Holder>();
  private readonly shared: Server[] = [];
  /**
   * Every open socket, client and upstream: the HTTP server never listens itself (connections are
   * handed to it), so its closeAllConnections() does not know them.
   */
  private readonly tunnels = new Set<Duplex>();
  private socketDir?: string;
  private sockets = 0;

  constructor(private readonly opts: EgressGatewayOptions) {
    this.http.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      void this.tunnel(req, socket, head);
    });
    this.http.on('request', (req: IncomingMessage, res: ServerResponse) => {
      void this.forward(req, res);
    });
    this.http.on('clientError', (_error, socket: Duplex) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
  }

  enter(key: string, phase: NetworkPhase, allow: readonly string[], opts: { askable?: boolean } = {}): void {
    const grants = this.scopes.get(key)?.grants ?? [];
    this.scopes.set(key, { phase, askable: opts.askable ?? false, rules: hostRules(allow), grants });
  }

  grant(key: string, target: string): void {
    const rule = parseHostRule(target);
    if (typeof rule === 'string') throw new Error(rule);
    const scope = this.scopes.get(key);
    if (!scope) this.scopes.set(key, { phase: 'agent', askable: false, rules: [], grants: [rule] });
    else if (!scope.grants.some((g) => g.text === rule.text)) scope.grants.push(rule);
  }

  forget(key: string): void {
    this.scopes.delete(key);
  }

  /** A Unix socket for one sandbox (the local backend binds it into the sandbox). */
  async socketFor(key: string): Promise<string> {
    this.socketDir ??= mkdtempSync(join(tmpdir(), 'airlock-egress-'));
    this.sockets += 1;
    const path = join(this.socketDir, `${this.sockets}.sock`);
    await this.listen(key, path);
    // The sandbox's uid (not airlock's) connects; the directory stays airlock's own (0700).
    chmodSync(path, 0o666);
    return path;
  }

  /** A loopback port for one sandbox: for unisolated local sandboxes, where it can only be advice. */
  async portFor(key: string): Promise<number> {
    const server = await this.listen(key, { host: '127.0.0.1', port: 0 });
    const address = server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  /** One port for sandboxes told apart by their source address (pods): see routeAddress. */
  async listenShared(port: number, host = '0.0.0.0'): Promise<number> {
    const server = createTcpServer((socket) => {
      socket.on('error', () => socket.destroy());
      const holder = this.addresses.get(sourceAddress(socket.remoteAddress ?? ''));
      this.socketKeys.set(socket, holder ?? { key: '' });
      this.track(socket);
      this.http.emit('connection', socket);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    this.shared.push(server);
    const address = server.address();
    return typeof address === 'object' && address ? address.port : port;
  }

  routeAddress(address: string, key: string): void {
    this.addresses.set(sourceAddress(address), this.holder(key));
  }

  unrouteAddress(address: string): void {
    this.addresses.delete(sourceAddress(address));
  }

  /** A prepared sandbox claimed by a run: its connections are the run's from now on. */
  rekey(from: string, to: string): void {
    const holder = this.holders.get(from);
    if (holder) {
      holder.key = to;
      this.holders.delete(from);
      this.holders.set(to, holder);
    }
    const servers = this.listeners.get(from);
    if (servers) {
      this.listeners.delete(from);
      this.listeners.set(to, servers);
    }
    const scope = this.scopes.get(from);
    if (scope) {
      this.scopes.delete(from);
      this.scopes.set(to, scope);
    }
  }

  async release(key: string): Promise<void> {
    this.scopes.delete(key);
    const servers = this.listeners.get(key) ?? [];
    this.listeners.delete(key);
    this.holders.delete(key);
    for (const [address, holder] of this.addresses) if (holder.key === key) this.addresses.delete(address);
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }

  /** Stops taking connections and drops open ones at once; the promise settles when all are closed. */
  close(): Promise<void> {
    const all = [...this.shared, ...[...this.listeners.values()].flat()];
    this.listeners.clear();
    this.shared.length = 0;
    this.scopes.clear();
    const closed = all.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
    this.http.closeAllConnections();
    for (const socket of this.tunnels) socket.destroy();
    if (this.socketDir) rmSync(this.socketDir, { recursive: true, force: true });
    return Promise.all(closed).then(() => undefined);
  }

  private track(socket: Duplex): void {
    this.tunnels.add(socket);
    socket.once('close', () => this.tunnels.delete(socket));
  }

  private holder(key: string): Holder {
    let holder = this.holders.get(key);
    if (!holder) {
      holder = { key };
      this.holders.set(key, holder);
    }
    return holder;
  }

  private async listen(key: string, where: string | { host: string; port: number }): Promise<Server> {
    const holder = this.holder(key);
    const server = createTcpServer((socket) => {
      socket.on('error', () => socket.destroy());
      this.socketKeys.set(socket, holder);
      this.track(socket);
      this.http.emit('connection', socket);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (typeof where === 'string') server.listen(where, () => resolve());
      else server.listen(where.port, where.host, () => resolve());
    });
    this.listeners.set(key, [...(this.listeners.get(key) ?? []), server]);
    return server;
  }

  /** Whose connection this is and whether it may reach host:port now. */
  private judge(socket: Socket, host: string, port: number): Judgement {
    const key = this.socketKeys.get(socket)?.key ?? '';
    const scope = key ? this.scopes.get(key) : undefined;
    const target = { key, host: normaliseHost(host), port };
    if (!scope) {
      return { ...target, phase: 'none', allowed: false, reason: 'this sandbox belongs to no running work' };
    }
    const rule = matchRule(scope.rules, host, port) ?? matchRule(scope.grants, host, port);
    if (rule) return { ...target, phase: scope.phase, allowed: true, rule };
    return {
      ...target,
      phase: scope.phase,
      allowed: false,
      reason:
        `not in network.${scope.phase} of the policy` +
        (scope.phase === 'agent' && scope.askable
          ? "; approvers were asked in the run's thread and can allow it for this run"
          : ''),
    };
  }

  /** The address to connect to, or why not: a name must not lead to airlock's own host or metadata. */
  private async address(judgement: Allowed): Promise<{ address?: string } | { refused: string }> {
    const { host, rule } = judgement;
    // Through airlock's own proxy the name is resolved there, far from airlock's loopback.
    if (!goesDirect(this.opts.upstreamProxy, host)) return {};
    if (isIP(host)) return { address: host };
    let found: string[];
    try {
      found = this.opts.resolve ? await this.opts.resolve(host) : await resolveAll(host);
    } catch (error) {
      return { refused: `${host} does not resolve (${(error as NodeJS.ErrnoException).code ?? 'error'})` };
    }
    const usable = rule.host === 'localhost' ? found : found.filter((a) => !forbiddenAddress(a));
    const address = usable[0];
    if (!address) {
      return {
        refused: `${host} resolves to ${found.join(', ') || 'nothing'}, a loopback, link-local or unspecified address; name the address itself in the policy to allow it`,
      };
    }
    return { address };
  }

  private async tunnel(req: IncomingMessage, client: Duplex, head: Buffer): Promise<void> {
    client.on('error', () => client.destroy());
    const started = Date.now();
    const target = parseAuthority(req.url ?? '');
    if (!target) {
      client.end(
        plainResponse(400, 'Bad Request', 'CONNECT needs host:port, as in CONNECT example.com:443.'),
      );
      return;
    }
    const judgement = this.judge(req.socket, target.host, target.port);
    if (!judgement.allowed) {
      this.record({ ...judgement, method: 'CONNECT', started });
      client.end(plainResponse(403, 'Forbidden', refusalText(judgement)));
      return;
    }
    const resolved = await this.address(judgement);
    if ('refused' in resolved) {
      this.record({ ...judgement, allowed: false, reason: resolved.refused, method: 'CONNECT', started });
      client.end(plainResponse(403, 'Forbidden', `airlock egress gateway: ${resolved.refused}.\n`));
      return;
    }
    const counts = { sent: head.length, received: 0 };
    this.track(client);
    let upstream: Socket;
    try {
      upstream = await openStream(
        { host: target.host, port: target.port, address: resolved.address },
        this.opts.upstreamProxy,
        this.opts.connectTimeoutMs ?? 10_000,
      );
    } catch (e) {
      const message = (e as Error).message;
      if (client.writable) {
        client.end(
          plainResponse(
            502,
            'Bad Gateway',
            `airlock egress gateway: ${ruleFor(target.host, target.port)}: ${message}.\n`,
          ),
        );
      }
      this.record({ ...judgement, method: 'CONNECT', started, sent: 0, received: 0, error: message });
      return;
    }
    this.track(upstream);
    if (client.destroyed) {
      upstream.destroy();
      this.record({ ...judgement, method: 'CONNECT', started, sent: 0, received: 0 });
      return;
    }
    let error: string | undefined;
    client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head.length) upstream.write(head);
    upstream.setTimeout(this.opts.idleTimeoutMs ?? 600_000, () => upstream.destroy());
    client.on('data', (chunk: Buffer) => {
      counts.sent += chunk.length;
    });
    upstream.on('data', (chunk: Buffer) => {
      counts.received += chunk.length;
    });
    client.pipe(upstream);
    upstream.pipe(client);
    upstream.on('error', (e) => {
      error = e.message;
      client.destroy();
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => {
      client.destroy();
      this.record({
        ...judgement,
        method: 'CONNECT',
        started,
        sent: counts.sent,
        received: counts.received,
        error,
      });
    });
  }

  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    let url: URL | undefined;
    try {
      url = new URL(req.url ?? '');
    } catch {
      url = undefined;
    }
    if (url?.protocol !== 'http:') {
      const text =
        url?.protocol === 'https:'
          ? 'Use CONNECT for https:// (set HTTPS_PROXY); the gateway does not terminate TLS.'
          : "This is airlock's egress gateway, an HTTP proxy: send absolute URLs (http://host/path) or CONNECT host:port.";
      res
        .writeHead(400, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' })
        .end(`${text}\n`);
      return;
    }
    const port = url.port ? Number(url.port) : 80;
    const judgement = this.judge(req.socket, url.hostname, port);
    const method = req.method ?? 'GET';
    if (!judgement.allowed) {
      this.record({ ...judgement, method, started });
      res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' }).end(refusalText(judgement));
      req.resume();
      return;
    }
    const resolved = await this.address(judgement);
    if ('refused' in resolved) {
      this.record({ ...judgement, allowed: false, reason: resolved.refused, method, started });
      res
        .writeHead(403, { 'content-type': 'text/plain; charset=utf-8' })
        .end(`airlock egress gateway: ${resolved.refused}.\n`);
      req.resume();
      return;
    }
    const counts = { sent: 0, received: 0 };
    const proxy = resolved.address ? undefined : this.opts.upstreamProxy;
    const upstream = request({
      host: proxy?.host ?? resolved.address,
      port: proxy?.port ?? port,
      method,
      // Through airlock's own proxy a request names its whole URL, as the sandbox's did.
      path: proxy ? url.href : `${url.pathname}${url.search}`,
      headers: {
        ...withoutHopByHop(req.headers),
        host: url.host,
        ...(proxy?.authorization ? { 'proxy-authorization': proxy.authorization } : {}),
      },
      setHost: false,
      agent: false,
      timeout: this.opts.connectTimeoutMs ?? 10_000,
    });
    let error: string | undefined;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      this.record({ ...judgement, method, started, sent: counts.sent, received: counts.received, error });
    };
    req.on('data', (chunk: Buffer) => {
      counts.sent += chunk.length;
    });
    upstream.on('timeout', () => upstream.destroy(new Error('connection timed out')));
    upstream.on('response', (answer) => {
      upstream.setTimeout(0);
      answer.on('data', (chunk: Buffer) => {
        counts.received += chunk.length;
      });
      res.writeHead(answer.statusCode ?? 502, answer.statusMessage, withoutHopByHop(answer.headers));
      answer.pipe(res);
      answer.on('end', finish);
      answer.on('error', () => res.destroy());
    });
    upstream.on('error', (e) => {
      error = e.message;
      if (!res.headersSent) {
        res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`airlock egress gateway: ${url.host}: ${e.message}.\n`);
      } else res.destroy();
      finish();
    });
    res.on('close', () => {
      upstream.destroy();
      finish();
    });
    req.pipe(upstream);
  }

  private record(
    r: Judgement & { method: string; started: number; sent?: number; received?: number; error?: string },
  ): void {
    const record: EgressRecord = {
      key: r.key,
      allowed: r.allowed,
      host: r.host,
      port: r.port,
      phase: r.phase,
      method: r.method,
      rule: r.allowed ? r.rule.text : undefined,
      reason: r.allowed ? undefined : r.reason,
      bytesSent: r.sent ?? 0,
      bytesReceived: r.received ?? 0,
      durationMs: Date.now() - r.started,
      error: r.error,
    };
    try {
      this.opts.onConnection(record);
    } catch (error) {
      this.opts.logger.error(
        { err: error, host: r.host, port: r.port },
        'egress: could not record a connection',
      );
    }
  }
}

type Allowed = {
  key: string;
  host: string;
  port: number;
  phase: NetworkPhase;
  allowed: true;
  rule: HostRule;
};
type Refused = {
  key: string;
  host: string;
  port: number;
  phase: NetworkPhase | 'none';
  allowed: false;
  reason: string;
};
type Judgement = Allowed | Refused;

async function resolveAll(host: string): Promise<string[]> {
  const found = await lookup(host, { all: true, verbatim: true });
  return found.map((f) => f.address);
}

/**
 * A source address as routes are keyed: a dual-stack listener (::) sees an IPv4 pod as
 * ::ffff:10.0.0.7, which is the pod that was routed as 10.0.0.7.
 */
function sourceAddress(address: string): string {
  const host = normaliseHost(address);
  return /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(host)?.[1] ?? host;
}

/** host:port of a CONNECT request, IPv6 in brackets. */
function parseAuthority(authority: string): { host: string; port: number } | undefined {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(authority);
  if (!match?.[1] || !match[2]) return undefined;
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: normaliseHost(match[1]), port };
}

function refusalText(judgement: Refused): string {
  const target = ruleFor(judgement.host, judgement.port);
  return (
    `airlock egress gateway refused ${target}: ${judgement.reason}.\n` +
    (judgement.phase === 'none'
      ? ''
      : `To allow it for every run, add "${target}" under network.${judgement.phase} in the policy file.\n`)
  );
}

function plainResponse(status: number, text: string, body: string): string {
  const bytes = Buffer.byteLength(body);
  return `HTTP/1.1 ${status} ${text}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${bytes}\r\nConnection: close\r\n\r\n${body}`;
}

function withoutHopByHop(headers: IncomingMessage['headers']): Record<string, string | string[]> {
  const named = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase()),
  );
  const kept: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || HOP_BY_HOP.has(name) || named.has(name)) continue;
    kept[name] = value;
  }
  return kept;
}
