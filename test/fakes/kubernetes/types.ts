/** Shared shapes of the Kubernetes API stand-in. */

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are free-form JSON, checked at runtime by the schema and admission
export type KubeObject = Record<string, any>;

/** The one identity the bearer token authenticates as (airlock's controller service account). */
export const USER = 'system:serviceaccount:airlock:airlock';

/** The single simulated node every pod is scheduled to. */
export const NODE_NAME = 'fake-node-1';
export const HOST_IP = '172.18.0.2';

/** A resource and its API group ('' for the core group), as names appear in errors and RBAC. */
export interface GroupResource {
  group: string;
  resource: string;
}
export const PODS: GroupResource = { group: '', resource: 'pods' };
export const NAMESPACES: GroupResource = { group: '', resource: 'namespaces' };
export const NETWORK_POLICIES: GroupResource = { group: 'networking.k8s.io', resource: 'networkpolicies' };

export const deepCopy = <T>(v: T): T => structuredClone(v);
export const now = (): string => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

/** JSON with object keys sorted, so structurally equal objects compare equal as strings. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(
          Object.entries(x as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)),
        )
      : x,
  );
}
