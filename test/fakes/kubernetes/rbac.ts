// RBAC as the API server's authorizer evaluates it: rules bound in a namespace (a RoleBinding)
// apply there; rules under '' (a ClusterRoleBinding) apply at the cluster scope and everywhere.
import type { RequestInfo } from './request-info.js';
import { ApiError, forbidden } from './status.js';
import { USER } from './types.js';

export interface PolicyRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}

/** The Role the airlock manifests bind to the controller's service account in the sandbox namespace. */
export const AIRLOCK_ROLE_RULES: PolicyRule[] = [
  { apiGroups: [''], resources: ['pods'], verbs: ['create', 'get', 'list', 'watch', 'delete', 'patch'] },
  { apiGroups: [''], resources: ['pods/exec'], verbs: ['create', 'get'] },
  { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
];

export type Attributes = Pick<
  RequestInfo,
  'verb' | 'group' | 'resource' | 'subresource' | 'namespace' | 'name'
>;

/** rbac/v1 helpers: VerbMatches, APIGroupMatches, ResourceMatches, ResourceNameMatches. */
export function ruleAllows(rule: PolicyRule, a: Attributes): boolean {
  const combined = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const resourceOk = rule.resources.some(
    (r) => r === '*' || r === combined || (a.subresource !== '' && r === `*/${a.subresource}`),
  );
  const namesOk = !rule.resourceNames?.length || (a.name !== '' && rule.resourceNames.includes(a.name));
  return (
    rule.verbs.some((v) => v === '*' || v === a.verb) &&
    rule.apiGroups.some((g) => g === '*' || g === a.group) &&
    resourceOk &&
    namesOk
  );
}

/** What every authenticated user may do (the system:basic-user ClusterRole). */
const BASIC_USER: PolicyRule[] = [
  {
    apiGroups: ['authorization.k8s.io'],
    resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'],
    verbs: ['create'],
  },
];

/** The RBAC authorizer's reason when some binding allows the request, null when none does. */
export function allowedBy(rules: Record<string, PolicyRule[]>, a: Attributes): string | null {
  const sa = 'ServiceAccount "airlock/airlock"';
  if (a.namespace && (rules[a.namespace] ?? []).some((r) => ruleAllows(r, a)))
    return `RBAC: allowed by RoleBinding "airlock/${a.namespace}" of Role "airlock" to ${sa}`;
  if ((rules[''] ?? []).some((r) => ruleAllows(r, a)))
    return `RBAC: allowed by ClusterRoleBinding "airlock" of ClusterRole "airlock" to ${sa}`;
  if (BASIC_USER.some((r) => ruleAllows(r, a)))
    return 'RBAC: allowed by ClusterRoleBinding "system:basic-user" of ClusterRole "system:basic-user" to Group "system:authenticated"';
  return null;
}

/** `pods "x" is forbidden: User "..." cannot create resource "pods/exec" in API group "" in the namespace "ns"` */
export function denied(a: Attributes): ApiError {
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  return forbidden(
    { group: a.group, resource: a.resource },
    a.name,
    `User "${USER}" cannot ${a.verb} resource "${resource}" in API group "${a.group}" ${scope}`,
  );
}

/** Non-resource URLs every authenticated user may read (the system:discovery and public-info roles). */
const DISCOVERY = ['/api', '/apis', '/version', '/healthz', '/livez', '/readyz', '/openapi'];
export function nonResourceAllowed(verb: string, path: string): boolean {
  return verb === 'get' && DISCOVERY.some((p) => path === p || path.startsWith(`${p}/`));
}
export const nonResourceDenied = (verb: string, path: string) =>
  new ApiError(403, 'Forbidden', `forbidden: User "${USER}" cannot ${verb} path "${path}"`, {});
