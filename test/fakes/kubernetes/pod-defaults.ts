// What the API server adds to a created pod before validation: the v1 defaults, the
// DefaultTolerationSeconds and ServiceAccount admission mutations, and the QoS class.
import { parseQuantity } from './scheduler.js';
import type { KubeObject } from './types.js';

const DEFAULT_TOLERATIONS = ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable'].map((key) => ({
  key,
  operator: 'Exists',
  effect: 'NoExecute',
  tolerationSeconds: 300,
}));

function pullPolicy(image: string): string {
  if (image.includes('@')) return 'IfNotPresent';
  const tag = image.slice(image.lastIndexOf('/') + 1).split(':')[1];
  return !tag || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultContainer(c: KubeObject): void {
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
  if (typeof c.image === 'string') c.imagePullPolicy ??= pullPolicy(c.image);
  c.resources ??= {};
  // Requests default to limits when only the limit is given.
  for (const [k, v] of Object.entries(c.resources.limits ?? {})) {
    c.resources.requests ??= {};
    c.resources.requests[k] ??= v;
  }
  for (const p of c.ports ?? []) p.protocol ??= 'TCP';
}

/** Mutates a pod being created; `token` names the injected service-account token volume. */
export function defaultPod(pod: KubeObject, token: string): void {
  const spec = pod.spec;
  spec.restartPolicy ??= 'Always';
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.schedulerName ??= 'default-scheduler';
  spec.securityContext ??= {};
  spec.serviceAccountName ??= spec.serviceAccount ?? 'default';
  spec.serviceAccount = spec.serviceAccountName;
  spec.enableServiceLinks ??= true;
  spec.priority ??= 0;
  spec.preemptionPolicy ??= 'PreemptLowerPriority';
  const tolerations: KubeObject[] = spec.tolerations ?? [];
  for (const t of DEFAULT_TOLERATIONS)
    if (!tolerations.some((x) => x.key === t.key && (x.effect ?? t.effect) === t.effect)) tolerations.push(t);
  spec.tolerations = tolerations;
  const containers: KubeObject[] = [...(spec.containers ?? []), ...(spec.initContainers ?? [])];
  for (const c of containers) if (c && typeof c === 'object') defaultContainer(c);
  for (const v of spec.volumes ?? []) if (v && Object.keys(v).length === 1) v.emptyDir = {};
  if (spec.automountServiceAccountToken === false) return;
  // The ServiceAccount admission plugin projects a token into every container unless told not to.
  spec.volumes ??= [];
  spec.volumes.push({
    name: token,
    projected: {
      defaultMode: 420,
      sources: [
        { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        {
          downwardAPI: {
            items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }],
          },
        },
      ],
    },
  });
  for (const c of containers) {
    c.volumeMounts ??= [];
    c.volumeMounts.push({
      name: token,
      readOnly: true,
      mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
    });
  }
}

export function qosClass(pod: KubeObject): string {
  let any = false;
  let guaranteed = true;
  for (const c of [...(pod.spec.containers ?? []), ...(pod.spec.initContainers ?? [])] as KubeObject[]) {
    for (const r of ['cpu', 'memory']) {
      const req = c.resources?.requests?.[r];
      const lim = c.resources?.limits?.[r];
      if (req !== undefined || lim !== undefined) any = true;
      if (lim === undefined || req === undefined || parseQuantity(req) !== parseQuantity(lim))
        guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}
