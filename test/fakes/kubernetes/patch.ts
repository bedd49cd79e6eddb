// The three non-apply patch types the API server accepts: JSON merge patch (RFC 7386),
// strategic merge patch (merge-key lists, $patch directives) and JSON patch (RFC 6902).
import { ApiError, badRequest } from './status.js';
import { deepCopy, type KubeObject } from './types.js';

export const PATCH_TYPES = [
  'application/json-patch+json',
  'application/merge-patch+json',
  'application/strategic-merge-patch+json',
];

const isMap = (v: unknown): v is KubeObject => typeof v === 'object' && v !== null && !Array.isArray(v);

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isMap(patch)) return deepCopy(patch);
  const out: KubeObject = isMap(target) ? deepCopy(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/** patchMergeKey of the list fields a pod patch is likely to touch (from the core/v1 Go types). */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  env: 'name',
  imagePullSecrets: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  ports: 'containerPort',
  conditions: 'type',
  ownerReferences: 'uid',
  podIPs: 'ip',
  hostIPs: 'ip',
};
/** Lists of scalars with patchStrategy=merge: patched as sets. */
const MERGED_SETS = new Set(['finalizers']);

function mergeList(field: string, target: unknown[], patch: unknown[]): unknown[] {
  const key = MERGE_KEYS[field];
  if (MERGED_SETS.has(field)) return [...new Set([...target, ...patch])];
  if (!key) return deepCopy(patch.filter((p) => !(isMap(p) && p.$patch)));
  const out = deepCopy(target) as KubeObject[];
  for (const item of patch) {
    if (!isMap(item) || item[key] === undefined)
      throw badRequest(`map: ${JSON.stringify(item)} does not contain declared merge key: ${key}`);
    const at = out.findIndex((o) => isMap(o) && o[key] === item[key]);
    if (item.$patch === 'delete') {
      if (at >= 0) out.splice(at, 1);
    } else if (at >= 0) out[at] = strategicMerge(out[at], item) as KubeObject;
    else out.push(strategicMerge({}, item) as KubeObject);
  }
  return out;
}

export function strategicMerge(target: unknown, patch: unknown): unknown {
  if (!isMap(patch)) return deepCopy(patch);
  if (patch.$patch === 'replace') {
    const { $patch: _, ...rest } = patch;
    return deepCopy(rest);
  }
  if (patch.$patch === 'delete') return undefined;
  const out: KubeObject = isMap(target) ? deepCopy(target) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k.startsWith('$setElementOrder/') || k === '$retainKeys' || k === '$patch') continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const list = k.slice('$deleteFromPrimitiveList/'.length);
      out[list] = (out[list] ?? []).filter((x: unknown) => !(v as unknown[]).includes(x));
      continue;
    }
    if (v === null) delete out[k];
    else if (Array.isArray(v)) out[k] = mergeList(k, Array.isArray(out[k]) ? out[k] : [], v);
    else {
      const merged = strategicMerge(out[k], v);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    }
  }
  return out;
}

// ---- JSON patch ---------------------------------------------------------------------------------

const unprocessable = (message: string) => new ApiError(422, 'Invalid', message);

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw unprocessable(`JSON pointer ${JSON.stringify(path)} must start with /`);
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
}

/** The container holding the pointer's last token, and that token. */
function parentOf(
  doc: unknown,
  tokens: string[],
  op: string,
  path: string,
): [KubeObject | unknown[], string] {
  let cur: unknown = doc;
  for (const t of tokens.slice(0, -1)) {
    cur = Array.isArray(cur) ? cur[Number(t)] : isMap(cur) ? cur[t] : undefined;
    if (cur === undefined)
      throw unprocessable(
        `${op} operation does not apply: doc is missing path: ${JSON.stringify(path)}: missing value`,
      );
  }
  if (!isMap(cur) && !Array.isArray(cur))
    throw unprocessable(
      `${op} operation does not apply: doc is missing path: ${JSON.stringify(path)}: missing value`,
    );
  return [cur, tokens[tokens.length - 1] as string];
}

function read(doc: unknown, path: string, op: string): unknown {
  let cur = doc;
  for (const t of pointer(path)) {
    cur = Array.isArray(cur) ? cur[Number(t)] : isMap(cur) ? cur[t] : undefined;
    if (cur === undefined)
      throw unprocessable(
        `${op} operation does not apply: doc is missing path: ${JSON.stringify(path)}: missing value`,
      );
  }
  return cur;
}

function write(doc: unknown, path: string, value: unknown, op: 'add' | 'replace'): unknown {
  const tokens = pointer(path);
  if (tokens.length === 0) return deepCopy(value);
  const [parent, last] = parentOf(doc, tokens, op, path);
  if (Array.isArray(parent)) {
    const i = last === '-' ? parent.length : Number(last);
    const bound = op === 'add' ? parent.length : parent.length - 1;
    if (!/^\d+$/.test(last === '-' ? '0' : last) || i > bound)
      throw unprocessable(
        `${op} operation does not apply: doc is missing path: ${JSON.stringify(path)}: missing value`,
      );
    parent.splice(i, op === 'add' ? 0 : 1, deepCopy(value));
  } else {
    if (op === 'replace' && !Object.hasOwn(parent, last))
      throw unprocessable(`replace operation does not apply: doc is missing key: ${path}: missing value`);
    parent[last] = deepCopy(value);
  }
  return doc;
}

function remove(doc: unknown, path: string): unknown {
  const [parent, last] = parentOf(doc, pointer(path), 'remove', path);
  const missing = Array.isArray(parent) ? !(Number(last) < parent.length) : !Object.hasOwn(parent, last);
  if (missing)
    throw unprocessable(
      `remove operation does not apply: doc is missing path: ${JSON.stringify(path)}: missing value`,
    );
  if (Array.isArray(parent)) parent.splice(Number(last), 1);
  else delete parent[last];
  return doc;
}

export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops))
    throw badRequest('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let doc = deepCopy(target);
  for (const raw of ops) {
    if (!isMap(raw) || typeof raw.op !== 'string')
      throw badRequest('unexpected kind of JSON patch operation');
    const {
      op,
      path = '',
      from = '',
      value,
    } = raw as { op: string; path?: string; from?: string; value?: unknown };
    if (op === 'add' || op === 'replace') doc = write(doc, path, value, op);
    else if (op === 'remove') doc = remove(doc, path);
    else if (op === 'move') {
      const moved = read(doc, from, 'move');
      doc = write(remove(doc, from), path, moved, 'add');
    } else if (op === 'copy') doc = write(doc, path, read(doc, from, 'copy'), 'add');
    else if (op === 'test') {
      const actual = read(doc, path, 'test');
      if (JSON.stringify(actual) !== JSON.stringify(value))
        throw unprocessable(`testing value ${path} failed: test failed`);
    } else throw badRequest(`Unexpected kind: ${op}`);
  }
  return doc;
}

/** Applies a patch body of the given (already checked) media type. */
export function applyPatch(contentType: string, target: KubeObject, body: string): KubeObject {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (err) {
    throw badRequest(`error decoding patch: ${(err as Error).message}`);
  }
  if (contentType === 'application/json-patch+json') return jsonPatch(target, parsed) as KubeObject;
  if (!isMap(parsed))
    throw badRequest(
      'error decoding patch: json: cannot unmarshal array into Go value of type map[string]interface {}',
    );
  if (contentType === 'application/merge-patch+json') return mergePatch(target, parsed) as KubeObject;
  return strategicMerge(target, parsed) as KubeObject;
}
