// Wire plumbing for the Slack fake: ids, timestamps, request bodies (urlencoded, JSON, multipart) and
// JSON responses with the headers Slack's edge sends.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** Slack-style object id: prefix + uppercase alphanumerics, e.g. `Ev07ABC123XY`. */
export function slackId(prefix: string, length = 10): string {
  let out = prefix;
  for (const b of randomBytes(length)) out += UPPER[b % UPPER.length];
  return out;
}

export function hex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

/** Strictly increasing message timestamps, `seconds.microseconds` like Slack's. */
export class TsClock {
  private last = 0;
  next(): string {
    const micros = Math.max(this.last + 1, Date.now() * 1000);
    this.last = micros;
    return `${Math.floor(micros / 1e6)}.${String(micros % 1e6).padStart(6, '0')}`;
  }
}

export const MAX_BODY_BYTES = 50 * 1024 * 1024;

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new Error('request body too large');
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

export interface MultipartPart {
  name: string;
  filename?: string;
  contentType?: string;
  data: Buffer;
}

export function boundaryOf(contentType: string): string | undefined {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  return m ? (m[1] ?? m[2])?.trim() : undefined;
}

/** Parses a multipart/form-data body; undefined when it is malformed. */
export function parseMultipart(body: Buffer, boundary: string): MultipartPart[] | undefined {
  const delimiter = Buffer.from(`--${boundary}`);
  const between = Buffer.from(`\r\n--${boundary}`);
  const parts: MultipartPart[] = [];
  let pos = body.indexOf(delimiter);
  if (pos !== 0) return undefined;
  for (;;) {
    pos += delimiter.length;
    const after = body.subarray(pos, pos + 2).toString('latin1');
    if (after === '--') return parts;
    if (after !== '\r\n') return undefined;
    pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    if (headerEnd < 0) return undefined;
    const headers = body.subarray(pos, headerEnd).toString('utf8');
    const next = body.indexOf(between, headerEnd + 4);
    if (next < 0) return undefined;
    const disposition = /content-disposition:\s*form-data;([^\r\n]*)/i.exec(headers)?.[1] ?? '';
    const name = /\bname="([^"]*)"/i.exec(disposition)?.[1];
    if (name === undefined) return undefined;
    const filename = /\bfilename="([^"]*)"/i.exec(disposition)?.[1];
    const contentType = /content-type:\s*([^\r\n]+)/i.exec(headers)?.[1]?.trim();
    parts.push({
      name,
      data: body.subarray(headerEnd + 4, next),
      ...(filename !== undefined ? { filename } : {}),
      ...(contentType !== undefined ? { contentType } : {}),
    });
    pos = next + 2;
  }
}

export const BOT_SCOPES = [
  'app_mentions:read',
  'channels:history',
  'chat:write',
  'files:write',
  'groups:history',
  'im:history',
  'reactions:write',
  'usergroups:read',
  'users:read',
  'users:read.email',
];

/** Writes a JSON body with the headers Slack's API edge sends on every response. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  extraHeaders: Record<string, string> = {},
): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    'x-slack-req-id': hex(16),
    'x-slack-backend': 'r',
    'x-oauth-scopes': BOT_SCOPES.join(','),
    'access-control-allow-origin': '*',
    'access-control-expose-headers': 'x-slack-req-id, retry-after',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    'x-xss-protection': '0',
    vary: 'Accept-Encoding',
    ...extraHeaders,
  });
  res.end(payload);
}

export function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-slack-req-id': hex(16) });
  res.end(text);
}
