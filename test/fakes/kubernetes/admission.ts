// The admission chain a pod create passes through, in the API server's order: mutating plugins
// (NamespaceLifecycle, ServiceAccount, RuntimeClass, defaults) before validation, validating ones
// (PodSecurity) after it.

import { randomBytes } from 'node:crypto';
import type { Cluster } from './context.js';
import { defaultPod } from './pod-defaults.js';
import { restrictedViolations } from './pod-security.js';
import { forbidden, notFound } from './status.js';
import { type KubeObject, NAMESPACES, PODS } from './types.js';

export function requireNamespace(c: Cluster, ns: string): void {
  if (!Object.hasOwn(c.namespaces, ns)) throw notFound(NAMESPACES, ns);
}

export function mutatingAdmission(c: Cluster, ns: string, pod: KubeObject): void {
  requireNamespace(c, ns);
  const token = `kube-api-access-${randomBytes(3).toString('hex').slice(0, 5)}`;
  if (pod.spec && typeof pod.spec === 'object') defaultPod(pod, token);
  const name = pod.metadata.name ?? '';
  const sa = pod.spec?.serviceAccountName;
  // Each namespace has only its "default" service account in this stand-in.
  if (sa && sa !== 'default')
    throw forbidden(
      PODS,
      name,
      `error looking up service account ${ns}/${sa}: serviceaccount "${sa}" not found`,
    );
  const rc = pod.spec?.runtimeClassName;
  if (rc && !c.runtimeClasses.includes(rc))
    throw forbidden(PODS, name, `pod rejected: RuntimeClass "${rc}" not found`);
}

/** PodSecurity: the namespace's `enforce` level (only "restricted" is evaluated by this stand-in). */
export function validatingAdmission(c: Cluster, ns: string, pod: KubeObject): void {
  const labels = c.namespaces[ns] ?? {};
  if (labels['pod-security.kubernetes.io/enforce'] !== 'restricted') return;
  const version = labels['pod-security.kubernetes.io/enforce-version'] ?? 'latest';
  const violations = restrictedViolations(pod);
  if (violations.length)
    throw forbidden(
      PODS,
      pod.metadata.name,
      `violates PodSecurity "restricted:${version}": ${violations.join('; ')}`,
    );
}
