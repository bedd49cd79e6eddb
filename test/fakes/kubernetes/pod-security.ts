/**
 * The checks of the "restricted" Pod Security Standard, shared by the Kubernetes stand-in's
 * admission and the tests of the pod spec and the manifests.
 */
// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are checked field by field below
type Json = Record<string, any>;

/** Violations of the restricted standard (kubernetes.io/docs/concepts/security/pod-security-standards) by a pod. */
export function restrictedViolations(pod: Json): string[] {
  const out: string[] = [];
  const spec = pod.spec as Json;
  if (spec.hostNetwork || spec.hostPID || spec.hostIPC) out.push('host namespaces');
  for (const v of spec.volumes ?? []) {
    const kinds = Object.keys(v).filter((k) => k !== 'name');
    const allowed = [
      'configMap',
      'csi',
      'downwardAPI',
      'emptyDir',
      'ephemeral',
      'persistentVolumeClaim',
      'projected',
      'secret',
    ];
    if (!kinds.every((k) => allowed.includes(k))) out.push(`volume type ${kinds}`);
  }
  const podSc = spec.securityContext ?? {};
  for (const c of [...(spec.containers ?? []), ...(spec.initContainers ?? [])] as Json[]) {
    const sc = c.securityContext ?? {};
    if (sc.privileged) out.push(`${c.name}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) out.push(`${c.name}: allowPrivilegeEscalation must be false`);
    if (!(sc.runAsNonRoot ?? podSc.runAsNonRoot)) out.push(`${c.name}: runAsNonRoot`);
    if ((sc.runAsUser ?? podSc.runAsUser) === 0) out.push(`${c.name}: runAsUser 0`);
    const seccomp = sc.seccompProfile?.type ?? podSc.seccompProfile?.type;
    if (!['RuntimeDefault', 'Localhost'].includes(seccomp)) out.push(`${c.name}: seccomp`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) out.push(`${c.name}: must drop ALL capabilities`);
    if ((sc.capabilities?.add ?? []).some((cap: string) => cap !== 'NET_BIND_SERVICE'))
      out.push(`${c.name}: adds capabilities`);
    if (c.ports?.some((p: Json) => p.hostPort)) out.push(`${c.name}: hostPort`);
  }
  return out;
}
