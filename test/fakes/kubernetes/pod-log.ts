// A container's log (its main process's stdout and stderr, interleaved as written) and the
// pods/log endpoint: ?container, ?tailLines, ?limitBytes, ?follow.
import type { ServerResponse } from 'node:http';

export class ContainerLog {
  private readonly chunks: Buffer[] = [];
  private readonly followers = new Set<{ data: (b: Buffer) => void; end: () => void }>();
  ended = false;

  append(chunk: Buffer): void {
    this.chunks.push(chunk);
    for (const f of this.followers) f.data(chunk);
  }

  end(): void {
    this.ended = true;
    for (const f of [...this.followers]) f.end();
    this.followers.clear();
  }

  text(): Buffer {
    return Buffer.concat(this.chunks);
  }

  follow(data: (b: Buffer) => void, end: () => void): () => void {
    const f = { data, end };
    this.followers.add(f);
    return () => this.followers.delete(f);
  }
}

/** The last n lines (a trailing partial line counts as one). */
function tail(buf: Buffer, n: number): Buffer {
  const text = buf.toString('utf8');
  const lines = text.split(/(?<=\n)/);
  return Buffer.from(lines.slice(Math.max(0, lines.length - n)).join(''), 'utf8');
}

export function serveLog(
  res: ServerResponse,
  log: ContainerLog,
  q: { tailLines: number | null; limitBytes: number | null; follow: boolean },
  open: Set<ServerResponse>,
): void {
  let body = log.text();
  if (q.tailLines !== null) body = tail(body, q.tailLines);
  let budget = q.limitBytes ?? Number.POSITIVE_INFINITY;
  const write = (b: Buffer) => {
    if (budget <= 0 || res.writableEnded) return;
    const part = b.subarray(0, Math.min(b.length, budget));
    budget -= part.length;
    res.write(part);
  };
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache, private' });
  write(body);
  if (!q.follow || log.ended) {
    res.end();
    return;
  }
  open.add(res);
  const stop = log.follow(write, () => {
    open.delete(res);
    res.end();
  });
  res.on('close', () => {
    stop();
    open.delete(res);
  });
}
