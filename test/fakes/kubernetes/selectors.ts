// Label and field selectors as list and watch requests carry them (?labelSelector=, ?fieldSelector=).
import { labelValue, qualifiedName } from './names.js';
import { badRequest } from './status.js';
import type { KubeObject } from './types.js';

type LabelOp = 'exists' | '!exists' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt';
interface LabelRequirement {
  key: string;
  op: LabelOp;
  values: string[];
}
export type Selector = (obj: KubeObject) => boolean;

/** Splits on the commas that separate requirements, not those inside `in (a,b)`. */
function splitTerms(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out.map((t) => t.trim());
}

const OPS = { '==': '=', '=': '=', '!=': '!=', '>': 'gt', '<': 'lt' } as const;

function parseTerm(term: string): LabelRequirement | undefined {
  let m = /^!\s*(\S+)$/.exec(term);
  if (m) return { key: m[1] as string, op: '!exists', values: [] };
  m = /^(\S+?)\s+(in|notin)\s*\(([^)]*)\)$/.exec(term);
  if (m) {
    const values = (m[3] as string).split(',').map((v) => v.trim());
    return { key: m[1] as string, op: m[2] as LabelOp, values };
  }
  m = /^([^!=<>\s]+)\s*(!=|==|=|>|<)\s*(\S*)$/.exec(term);
  if (m) return { key: m[1] as string, op: OPS[m[2] as keyof typeof OPS], values: [m[3] as string] };
  if (/^[^\s!=<>(),]+$/.test(term)) return { key: term, op: 'exists', values: [] };
  return undefined;
}

function requirement(term: string): LabelRequirement {
  const fail = (why: string) => badRequest(`unable to parse requirement: ${why}`);
  const r = parseTerm(term);
  if (!r) throw fail(`found '${term}', expected: identifier, '!', 'in', 'notin', '=', '==', '!=', '>', '<'`);
  const badKey = qualifiedName(r.key);
  if (badKey) throw fail(`key: Invalid value: ${JSON.stringify(r.key)}: ${badKey}`);
  const numeric = r.op === 'gt' || r.op === 'lt';
  if (numeric && !/^-?\d+$/.test(r.values[0] ?? ''))
    throw fail(`for 'Gt', 'Lt' operators, the value must be an integer`);
  for (const v of r.values) {
    const bad = numeric ? undefined : labelValue(v);
    if (bad) throw fail(`values[0][${r.key}]: Invalid value: ${JSON.stringify(v)}: ${bad}`);
  }
  return r;
}

export function labelSelector(text: string | null): Selector {
  if (!text?.trim()) return () => true;
  const reqs = splitTerms(text).map(requirement);
  return (obj) => {
    const labels: Record<string, string> = obj.metadata?.labels ?? {};
    return reqs.every(({ key, op, values }) => {
      const has = Object.hasOwn(labels, key);
      const v = labels[key] ?? '';
      if (op === 'exists') return has;
      if (op === '!exists') return !has;
      if (op === '=' || op === 'in') return has && values.includes(v);
      if (op === '!=' || op === 'notin') return !has || !values.includes(v);
      if (!has || !/^-?\d+$/.test(v)) return false;
      return op === 'gt' ? Number(v) > Number(values[0]) : Number(v) < Number(values[0]);
    });
  };
}

/** The pod fields the API server indexes for field selectors (pkg/registry/core/pod.ToSelectableFields). */
export const POD_FIELDS: Record<string, (pod: KubeObject) => string> = {
  'metadata.name': (p) => p.metadata.name,
  'metadata.namespace': (p) => p.metadata.namespace,
  'spec.nodeName': (p) => p.spec.nodeName ?? '',
  'spec.restartPolicy': (p) => p.spec.restartPolicy ?? '',
  'spec.schedulerName': (p) => p.spec.schedulerName ?? '',
  'spec.serviceAccountName': (p) => p.spec.serviceAccountName ?? '',
  'spec.hostNetwork': (p) => String(p.spec.hostNetwork ?? false),
  'status.phase': (p) => p.status?.phase ?? '',
  'status.podIP': (p) => p.status?.podIP ?? '',
  'status.nominatedNodeName': (p) => p.status?.nominatedNodeName ?? '',
};
export const META_FIELDS: Record<string, (obj: KubeObject) => string> = {
  'metadata.name': (o) => o.metadata.name,
  'metadata.namespace': (o) => o.metadata.namespace,
};

export function fieldSelector(
  text: string | null,
  fields: Record<string, (o: KubeObject) => string>,
): Selector {
  if (!text?.trim()) return () => true;
  const reqs = text.split(',').map((term) => {
    const m = /^\s*([^!=\s]+)\s*(!=|==|=)\s*(.*?)\s*$/.exec(term);
    if (!m) throw badRequest(`invalid selector: '${text}'; can't understand '${term}'`);
    const get = fields[m[1] as string];
    if (!get) throw badRequest(`field label not supported: ${m[1]}`);
    return { get, negate: m[2] === '!=', value: m[3] as string };
  });
  return (obj) => reqs.every((r) => (r.get(obj) === r.value) !== r.negate);
}

/** `metadata.name=x` in a list or watch's field selector names the object, for RBAC's resourceNames. */
export function nameFromFieldSelector(text: string | null): string {
  if (!text) return '';
  const terms = text.split(',').map((t) => /^\s*metadata\.name\s*==?\s*(.+?)\s*$/.exec(t));
  const hit = terms.find((m) => m);
  return hit?.[1] ?? '';
}
