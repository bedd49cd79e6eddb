// Request-body and query plumbing shared by the resource handlers.
import type { IncomingMessage } from 'node:http';
import { readBody } from '../server-util.js';
import { badRequest, unsupportedMediaType } from './status.js';
import type { KubeObject } from './types.js';

export const JSON_TYPES = ['application/json'];

export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** The raw body, after checking its media type is one the endpoint accepts (415 otherwise). */
export async function bodyOf(req: IncomingMessage, accepted: string[]): Promise<string> {
  const type = mediaType(req);
  const raw = await readBody(req);
  if (!accepted.includes(type)) throw unsupportedMediaType(accepted);
  return raw;
}

/** A JSON object body of `kind`; apiVersion and kind may be omitted but must match if given. */
export async function objectBody(
  req: IncomingMessage,
  apiVersion: string,
  kind: string,
): Promise<KubeObject> {
  const raw = await bodyOf(req, JSON_TYPES);
  let obj: unknown;
  try {
    obj = JSON.parse(raw);
  } catch (err) {
    throw badRequest(`couldn't get version/kind; json parse error: ${(err as Error).message}`);
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj))
    throw badRequest(`couldn't get version/kind; json parse error: expected an object`);
  const o = obj as KubeObject;
  if (o.apiVersion !== undefined && o.apiVersion !== apiVersion)
    throw badRequest(
      `the API version in the data (${o.apiVersion}) does not match the expected API version (${apiVersion})`,
    );
  if (o.kind !== undefined && o.kind !== kind)
    throw badRequest(`the kind in the data (${o.kind}) does not match the expected kind (${kind})`);
  o.metadata ??= {};
  return o;
}

/** ?dryRun=All runs every stage but does not persist; any other value is refused. */
export function isDryRun(url: URL): boolean {
  const values = url.searchParams.getAll('dryRun');
  for (const v of values) if (v !== 'All') throw badRequest(`Invalid dry run value: ${v}`);
  return values.length > 0;
}

export function intParam(url: URL, name: string): number | null {
  const v = url.searchParams.get(name);
  if (v === null || v === '') return null;
  if (!/^-?\d+$/.test(v)) throw badRequest(`${name}: Invalid value: "${v}": must be an integer`);
  return Number(v);
}

export function boolParam(url: URL, name: string): boolean {
  return ['true', '1'].includes(url.searchParams.get(name) ?? '');
}

export const typed = (apiVersion: string, kind: string, o: KubeObject): KubeObject => ({
  kind,
  apiVersion,
  ...o,
});

/** A list response; ?limit and ?continue page it (the token is the next index, opaque to clients). */
export function listOf(
  apiVersion: string,
  kind: string,
  items: KubeObject[],
  rv: string,
  url: URL,
): KubeObject {
  const limit = Number(url.searchParams.get('limit') ?? 0);
  const token = url.searchParams.get('continue');
  let start = 0;
  if (token) {
    start = Number(Buffer.from(token, 'base64url').toString('utf8'));
    if (!Number.isInteger(start) || start < 0)
      throw badRequest('continue key is not valid: invalid continue token');
  }
  const end = limit > 0 ? start + limit : items.length;
  const more = end < items.length;
  return {
    kind: `${kind}List`,
    apiVersion,
    metadata: {
      resourceVersion: rv,
      ...(more
        ? { continue: Buffer.from(String(end)).toString('base64url'), remainingItemCount: items.length - end }
        : {}),
    },
    items: items.slice(start, end),
  };
}
