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
  out.push(...podLevelViolations(pod));
  const all = [
    ...(spec.containers ?? []),
    ...(spec.initContainers ?? []),
    ...(spec.ephemeralContainers ?? []),
  ];
  for (const c of all as Json[]) {
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
    if (sc.seccompProfile?.type === 'Unconfined') out.push(`${c.name}: seccomp Unconfined`);
    if (sc.windowsOptions?.hostProcess) out.push(`${c.name}: hostProcess`);
    if (sc.procMount && sc.procMount !== 'Default') out.push(`${c.name}: procMount ${sc.procMount}`);
    if (badSeLinux(sc.seLinuxOptions)) out.push(`${c.name}: seLinuxOptions`);
    const annotation =
      pod.metadata?.annotations?.[`container.apparmor.security.beta.kubernetes.io/${c.name}`];
    if (
      sc.appArmorProfile?.type === 'Unconfined' ||
      (annotation && !/^(runtime\/default|localhost\/.+)$/.test(annotation))
    )
      out.push(`${c.name}: appArmor Unconfined`);
  }
  return out;
}

/** Sysctls the baseline standard allows (all are namespaced and safe). */
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);
const SELINUX_TYPES = ['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t'];
const badSeLinux = (o?: Json) => !!o && (!SELINUX_TYPES.includes(o.type ?? '') || !!o.user || !!o.role);

/** The checks on the pod-level securityContext that container settings cannot make up for. */
function podLevelViolations(pod: Json): string[] {
  const sc = (pod.spec as Json).securityContext ?? {};
  const out: string[] = [];
  if (sc.runAsUser === 0) out.push('pod: runAsUser 0');
  if (sc.seccompProfile?.type === 'Unconfined') out.push('pod: seccomp Unconfined');
  if (sc.appArmorProfile?.type === 'Unconfined') out.push('pod: appArmor Unconfined');
  if (sc.windowsOptions?.hostProcess) out.push('pod: hostProcess');
  if (badSeLinux(sc.seLinuxOptions)) out.push('pod: seLinuxOptions');
  for (const s of sc.sysctls ?? []) if (!SAFE_SYSCTLS.has(s.name)) out.push(`pod: sysctl ${s.name}`);
  return out;
}
