import { connect, type Socket } from 'node:net';

/**
 * The proxy airlock itself must use to leave the network (HTTPS_PROXY / HTTP_PROXY of its own
 * environment, as in the egress-proxy overlay). The gateway chains through it: its judgement
 * stays the same, the connection just takes the one way out the company allows.
 */
export interface UpstreamProxy {
  host: string;
  port: number;
  /** `Basic …` from the proxy URL's user:password, sent as Proxy-Authorization. */
  authorization?: string;
  /** NO_PROXY entries: host suffixes (or `*`) reached directly. */
  noProxy: string[];
}

export function upstreamProxyFrom(env: NodeJS.ProcessEnv): UpstreamProxy | undefined {
  const pick = (name: string) => env[name.toLowerCase()] || env[name] || undefined;
  const raw = pick('HTTPS_PROXY') ?? pick('HTTP_PROXY');
  if (!raw) return undefined;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  const user = decodeURIComponent(url.username);
  const password = decodeURIComponent(url.password);
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
    authorization: user ? `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` : undefined,
    noProxy: (pick('NO_PROXY') ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase().replace(/:\d+$/, ''))
      .filter(Boolean),
  };
}

/** Whether `host` is reached directly rather than through the upstream proxy (NO_PROXY). */
export function goesDirect(proxy: UpstreamProxy | undefined, host: string): boolean {
  if (!proxy) return true;
  return proxy.noProxy.some((entry) => {
    if (entry === '*') return true;
    const suffix = entry.replace(/^\*?\./, '');
    return host === suffix || host.endsWith(`.${suffix}`);
  });
}

/**
 * A TCP stream to host:port: to `address` directly, or through a CONNECT on the upstream proxy
 * (which then resolves the name itself). Rejects with a sentence when it cannot be opened.
 */
export function openStream(
  target: { host: string; port: number; address?: string },
  proxy: UpstreamProxy | undefined,
  timeoutMs: number,
): Promise<Socket> {
  const direct = goesDirect(proxy, target.host) || !proxy;
  const socket = direct
    ? connect({ host: target.address ?? target.host, port: target.port })
    : connect({ host: proxy.host, port: proxy.port });
  return new Promise((resolve, reject) => {
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(error);
    };
    const timer = setTimeout(() => fail(new Error('connection timed out')), timeoutMs);
    socket.once('error', fail);
    socket.once('connect', () => {
      if (direct) {
        clearTimeout(timer);
        socket.off('error', fail);
        resolve(socket);
        return;
      }
      const authority = target.host.includes(':')
        ? `[${target.host}]:${target.port}`
        : `${target.host}:${target.port}`;
      const auth = proxy?.authorization ? `Proxy-Authorization: ${proxy.authorization}\r\n` : '';
      socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth}\r\n`);
      let answer = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        answer = Buffer.concat([answer, chunk]);
        const end = answer.indexOf('\r\n\r\n');
        if (end < 0) {
          if (answer.length > 16_384) fail(new Error('the upstream proxy sent an oversized answer'));
          return;
        }
        socket.off('data', onData);
        const status = /^HTTP\/1\.[01] (\d{3})/.exec(answer.subarray(0, end).toString('latin1'))?.[1];
        if (status !== '200') {
          fail(
            new Error(
              `the upstream proxy ${proxy?.host}:${proxy?.port} answered ${status ?? 'something else'} to CONNECT`,
            ),
          );
          return;
        }
        clearTimeout(timer);
        socket.off('error', fail);
        const rest = answer.subarray(end + 4);
        if (rest.length) socket.unshift(rest);
        resolve(socket);
      };
      socket.on('data', onData);
    });
  });
}
