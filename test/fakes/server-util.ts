import type { IncomingMessage, Server, ServerResponse } from 'node:http';

/** Plumbing the forge stand-ins share. */
export function parseOrRaw(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

export function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Stops accepting and drops kept-alive client connections, so close() does not hang. */
export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/**
 * The tail of every forge stand-in's request: an unknown route is a 404 and a problem; the status
 * the handler answered is recorded; a crash becomes a problem and a 500 shaped like the service's.
 */
export function settle(
  work: Promise<number> | undefined,
  ctx: {
    req: IncomingMessage;
    res: ServerResponse;
    path: string;
    entry: { status?: number };
    problems: string[];
    crash: { contentType: string; message: string };
  },
): void {
  const { req, res, entry, problems } = ctx;
  if (!work) {
    problems.push(`unknown route ${req.method} ${ctx.path}`);
    req.resume();
    res.writeHead(404, { 'content-type': 'text/plain' }).end('Not Found');
  }
  (work ?? Promise.resolve(404)).then(
    (status) => {
      entry.status = status;
    },
    (err: unknown) => {
      problems.push(`fake crashed on ${req.method} ${ctx.path}: ${String(err)}`);
      entry.status = 500;
      if (!res.headersSent) res.writeHead(500, { 'content-type': ctx.crash.contentType });
      res.end(JSON.stringify({ message: ctx.crash.message }));
    },
  );
}
