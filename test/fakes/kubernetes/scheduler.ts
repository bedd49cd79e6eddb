// The scheduler's filters for the one fake node: node selector / required node affinity, then
// resource fit against the node's capacity minus what bound, unfinished pods request.
import type { KubeObject } from './types.js';

export type Resources = { cpu: string; memory: string; 'ephemeral-storage': string };
const RESOURCES = ['cpu', 'ephemeral-storage', 'memory'] as const;

const BINARY: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/** A resource.Quantity ('500m', '4Gi', '1e3', 2) as a plain number of base units. */
export function parseQuantity(q: unknown): number {
  if (typeof q === 'number') return q;
  const m = /^([+-]?(?:\d+\.?\d*|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$/.exec(
    String(q).trim(),
  );
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  const suffix = m[2] ?? '';
  if (/^[eE]/.test(suffix)) return n * 10 ** Number(suffix.slice(1));
  return n * (BINARY[suffix] ?? DECIMAL[suffix] ?? Number.NaN);
}

/** What the scheduler charges a pod: the sum over containers, or the largest init container if more. */
export function podRequests(pod: KubeObject): Record<(typeof RESOURCES)[number], number> {
  const sum = (cs: KubeObject[] = [], r: string) =>
    cs.reduce((acc, c) => acc + parseQuantity(c.resources?.requests?.[r] ?? 0), 0);
  const max = (cs: KubeObject[] = [], r: string) =>
    Math.max(0, ...cs.map((c) => parseQuantity(c.resources?.requests?.[r] ?? 0)));
  const out = { cpu: 0, memory: 0, 'ephemeral-storage': 0 };
  for (const r of RESOURCES) out[r] = Math.max(sum(pod.spec.containers, r), max(pod.spec.initContainers, r));
  return out;
}

function expressionMatches(labels: Record<string, string>, e: KubeObject): boolean {
  const has = Object.hasOwn(labels, e.key);
  const v = labels[e.key] ?? '';
  const values: string[] = e.values ?? [];
  switch (e.operator) {
    case 'In':
      return has && values.includes(v);
    case 'NotIn':
      return !has || !values.includes(v);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Gt':
      return has && Number(v) > Number(values[0]);
    case 'Lt':
      return has && Number(v) < Number(values[0]);
    default:
      return false;
  }
}

function nodeMatches(pod: KubeObject, labels: Record<string, string>): boolean {
  const selector: Record<string, string> = pod.spec.nodeSelector ?? {};
  if (!Object.entries(selector).every(([k, v]) => labels[k] === v)) return false;
  const terms: KubeObject[] | undefined =
    pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (!terms) return true;
  return terms.some((t) => (t.matchExpressions ?? []).every((e: KubeObject) => expressionMatches(labels, e)));
}

/** Why the pod cannot be placed, worded as the scheduler's FailedScheduling message; null if it fits. */
export function unschedulable(
  pod: KubeObject,
  node: { labels: Record<string, string>; capacity: Resources },
  others: KubeObject[],
): string | null {
  if (!nodeMatches(pod, node.labels))
    return "0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.";
  const want = podRequests(pod);
  const used = { cpu: 0, memory: 0, 'ephemeral-storage': 0 };
  for (const o of others) {
    const r = podRequests(o);
    for (const k of RESOURCES) used[k] += r[k];
  }
  const short = RESOURCES.filter((k) => want[k] > 0 && used[k] + want[k] > parseQuantity(node.capacity[k]));
  if (!short.length) return null;
  return `0/1 nodes are available: ${short.map((k) => `1 Insufficient ${k}`).join(', ')}. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.`;
}
