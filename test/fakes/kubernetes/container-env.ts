// A container's environment and filesystem view as the kubelet assembles them: the kubernetes
// service variables, HOSTNAME, `env` with $(VAR) expansion and downward-API fieldRefs, and its
// volume mounts resolved to the pod's prepared volume directories.
import { mkdirSync } from 'node:fs';
import { posix } from 'node:path';
import { type ContainerView, DEFAULT_PATH } from './container-runtime.js';
import { parseQuantity } from './scheduler.js';
import type { KubeObject } from './types.js';
import { fieldValue, type PreparedVolume } from './volumes.js';

/** Kubernetes' $(VAR) expansion: known names are replaced, $$ escapes, unknown references stay. */
export function expand(s: string, env: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (m, name?: string) =>
    m === '$$' ? '$' : name !== undefined && Object.hasOwn(env, name) ? (env[name] as string) : m,
  );
}

function resourceValue(c: KubeObject, resource: string, divisor: unknown): string {
  const [kind, name] = resource.split('.') as [string, string];
  const raw = c.resources?.[kind]?.[name];
  if (raw === undefined) return '0';
  return String(Math.ceil(parseQuantity(raw) / (divisor ? parseQuantity(divisor) : 1)));
}

/** The container's variables, or the kubelet's CreateContainerConfigError message. */
export function containerEnv(pod: KubeObject, c: KubeObject): Record<string, string> | string {
  const env: Record<string, string> = {
    PATH: DEFAULT_PATH,
    HOSTNAME: pod.metadata.name,
    KUBERNETES_SERVICE_HOST: '10.96.0.1',
    KUBERNETES_SERVICE_PORT: '443',
    KUBERNETES_SERVICE_PORT_HTTPS: '443',
    KUBERNETES_PORT: 'tcp://10.96.0.1:443',
    KUBERNETES_PORT_443_TCP: 'tcp://10.96.0.1:443',
    KUBERNETES_PORT_443_TCP_PROTO: 'tcp',
    KUBERNETES_PORT_443_TCP_PORT: '443',
    KUBERNETES_PORT_443_TCP_ADDR: '10.96.0.1',
  };
  for (const from of (c.envFrom ?? []) as KubeObject[]) {
    const ref = from.configMapRef ?? from.secretRef;
    if (!ref?.optional) return `${from.configMapRef ? 'configmap' : 'secret'} "${ref?.name}" not found`;
  }
  for (const e of (c.env ?? []) as KubeObject[]) {
    const vf = e.valueFrom;
    if (!vf) env[e.name] = expand(String(e.value ?? ''), env);
    else if (vf.fieldRef) env[e.name] = fieldValue(pod, vf.fieldRef.fieldPath) ?? '';
    else if (vf.resourceFieldRef)
      env[e.name] = resourceValue(c, vf.resourceFieldRef.resource, vf.resourceFieldRef.divisor);
    else {
      const ref = vf.configMapKeyRef ?? vf.secretKeyRef;
      if (!ref?.optional) return `${vf.configMapKeyRef ? 'configmap' : 'secret'} "${ref?.name}" not found`;
    }
  }
  return env;
}

export function containerView(
  pod: KubeObject,
  c: KubeObject,
  env: Record<string, string>,
  volumes: Map<string, PreparedVolume>,
): ContainerView {
  return {
    env,
    hostname: pod.spec.hostname ?? pod.metadata.name,
    workingDir: c.workingDir || '/',
    readOnlyRoot: c.securityContext?.readOnlyRootFilesystem === true,
    mounts: ((c.volumeMounts ?? []) as KubeObject[]).flatMap((m) => {
      const v = volumes.get(m.name);
      if (!v) return [];
      const hostPath = m.subPath ? posix.join(v.hostPath, m.subPath) : v.hostPath;
      // The kubelet creates a missing subPath inside a writable volume.
      if (m.subPath && !v.readOnly) mkdirSync(hostPath, { recursive: true });
      return [{ hostPath, mountPath: m.mountPath, readOnly: v.readOnly || m.readOnly === true }];
    }),
  };
}

/**
 * The main process: command + args, $(VAR)-expanded. This stand-in's "image" (the host) has no
 * ENTRYPOINT, so args alone run as the command and a container with neither idles.
 */
export function mainCommand(c: KubeObject, env: Record<string, string>): string[] {
  const argv: string[] = [...(c.command ?? []), ...(c.args ?? [])];
  return argv.length ? argv.map((a) => expand(String(a), env)) : ['sleep', 'infinity'];
}
