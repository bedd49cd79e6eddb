// Shared plumbing for the scripted model-server fakes: a loopback HTTP server, request
// recording, a FIFO script queue, SSE writing and small validation helpers.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A scripted HTTP failure, e.g. `{ status: 529, type: 'overloaded_error', message: 'Overloaded' }`. */
export interface ScriptedError {
  status: number;
  type: string;
  message: string;
  headers?: Record<string, string>;
}

/** Parsed, not-yet-validated JSON. */
// biome-ignore lint/suspicious/noExplicitAny: request bodies are arbitrary JSON until validated
export type Json = any;

export interface RecordedRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  rawBody: string;
  body: Json;
  stream: boolean;
}

/** Thrown by validators and handlers; turned into the provider's error body by the server. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly extra: { param?: string | null; code?: string | null; headers?: Record<string, string> } = {},
  ) {
    super(message);
  }
}

/** A fake-side failure (script misuse / exhaustion): 500 that tells SDKs not to retry. */
export function scriptBug(type: string, message: string): HttpError {
  return new HttpError(500, type, message, { headers: { 'x-should-retry': 'false' } });
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
export function randomId(prefix: string, length = 24): string {
  const bytes = randomBytes(length);
  let out = prefix;
  for (const b of bytes) out += ALPHABET[b % ALPHABET.length];
  return out;
}

export function isRecord(value: unknown): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function isScriptedError(step: unknown): step is ScriptedError {
  return isRecord(step) && typeof step.status === 'number' && typeof step.type === 'string';
}

export function isPositiveInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1;
}

/** Splits `text` into `parts` non-empty pieces (fewer if the text is shorter). */
export function splitInto(text: string, parts: number): string[] {
  if (text.length === 0) return [''];
  const n = Math.max(1, Math.min(parts, text.length));
  const size = Math.ceil(text.length / n);
  const out: string[] = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

export class ScriptQueue<S> {
  private readonly steps: S[];
  constructor(initial: S[] = []) {
    this.steps = [...initial];
  }
  push(...steps: S[]): void {
    this.steps.push(...steps);
  }
  shift(): S | undefined {
    return this.steps.shift();
  }
  /** Removes and returns every step not yet taken. */
  drain(): S[] {
    return this.steps.splice(0);
  }
  get length(): number {
    return this.steps.length;
  }
}

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  path: string;
  query: URLSearchParams;
  record: RecordedRequest;
  /** Parsed JSON body; `undefined` when empty, the `INVALID_JSON` symbol when unparseable. */
  body: unknown;
}

export const INVALID_JSON: unique symbol = Symbol('invalid-json');

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export interface StartedServer {
  server: Server;
  origin: string;
  close(): Promise<void>;
}

/** Listens on 127.0.0.1:0 and records every request before handing it to `handle`. */
export async function startRecordingServer(
  requests: RecordedRequest[],
  handle: (ctx: RequestContext) => Promise<void>,
  onCrash: (ctx: RequestContext, err: unknown) => void,
): Promise<StartedServer> {
  const server = createServer((req, res) => {
    void (async () => {
      const rawBody = await readBody(req);
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      let body: unknown;
      if (rawBody.length > 0) {
        try {
          body = JSON.parse(rawBody);
        } catch {
          body = INVALID_JSON;
        }
      }
      const record: RecordedRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        headers: { ...req.headers },
        rawBody,
        body: body === INVALID_JSON ? undefined : body,
        stream: isRecord(body) && body.stream === true,
      };
      requests.push(record);
      const ctx: RequestContext = {
        req,
        res,
        method: record.method,
        path: url.pathname,
        query: url.searchParams,
        record,
        body,
      };
      try {
        await handle(ctx);
      } catch (err) {
        onCrash(ctx, err);
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    server,
    origin: `http://127.0.0.1:${port}`,
    // Idempotent; drops keep-alive sockets the SDKs hold open so close() never hangs.
    close: () => {
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

export function sendJson(
  res: ServerResponse,
  status: number,
  payload: unknown,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(payload);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
  });
  res.end(text);
}

/** Writes a complete `text/event-stream` response. `event` may be omitted (OpenAI style). */
export function sendSse(
  res: ServerResponse,
  events: Array<{ event?: string; data: string }>,
  headers: Record<string, string> = {},
): void {
  res.writeHead(200, {
    ...headers,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  for (const e of events) res.write(`${e.event ? `event: ${e.event}\n` : ''}data: ${e.data}\n\n`);
  res.end();
}
