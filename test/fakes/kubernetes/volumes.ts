// The kubelet's volume setup on the fake node: emptyDirs are per-pod host directories; the
// service-account token, downward API and kube-root-ca.crt projections are written as files;
// other ConfigMaps and Secrets do not exist in this stand-in, so mounting them fails (the
// container then stays ContainerCreating, as with a real FailedMount).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeObject } from './types.js';

export interface PreparedVolume {
  hostPath: string;
  readOnly: boolean;
}

/** A downward-API fieldRef's value (the fields the kubelet supports). */
export function fieldValue(pod: KubeObject, fieldPath: string): string | undefined {
  const m = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (m) return pod.metadata[m[1] as string]?.[m[2] as string] ?? '';
  const simple: Record<string, unknown> = {
    'metadata.name': pod.metadata.name,
    'metadata.namespace': pod.metadata.namespace,
    'metadata.uid': pod.metadata.uid,
    'spec.nodeName': pod.spec.nodeName,
    'spec.serviceAccountName': pod.spec.serviceAccountName,
    'status.podIP': pod.status?.podIP,
    'status.hostIP': pod.status?.hostIP,
  };
  return Object.hasOwn(simple, fieldPath) ? String(simple[fieldPath] ?? '') : undefined;
}

type Files = Record<string, string>;

function projection(pod: KubeObject, volume: string, source: KubeObject): Files | string {
  if (source.serviceAccountToken)
    return {
      [source.serviceAccountToken.path]:
        `fake-token.${pod.metadata.namespace}.${pod.spec.serviceAccountName}`,
    };
  if (source.downwardAPI) {
    const items: KubeObject[] = source.downwardAPI.items ?? [];
    return Object.fromEntries(items.map((i) => [i.path, fieldValue(pod, i.fieldRef?.fieldPath ?? '') ?? '']));
  }
  const ref = source.configMap ?? source.secret;
  const name = ref?.name ?? ref?.secretName;
  if (source.configMap && name === 'kube-root-ca.crt')
    return { 'ca.crt': '-----BEGIN CERTIFICATE-----\nfake\n-----END CERTIFICATE-----\n' };
  if (ref?.optional) return {};
  const kind = source.configMap ? 'configmap' : source.secret ? 'secret' : 'volume source';
  return `MountVolume.SetUp failed for volume "${volume}" : ${kind} "${name}" not found`;
}

/** Creates the pod's volumes under `podDir`; a FailedMount message if one cannot be set up. */
export function prepareVolumes(pod: KubeObject, podDir: string): Map<string, PreparedVolume> | string {
  const out = new Map<string, PreparedVolume>();
  for (const v of (pod.spec.volumes ?? []) as KubeObject[]) {
    if (v.emptyDir || !(v.projected || v.downwardAPI || v.configMap || v.secret)) {
      // emptyDir, and (not emulated) every other volume type: an empty writable directory.
      const hostPath = join(podDir, v.name);
      mkdirSync(hostPath, { recursive: true });
      out.set(v.name, { hostPath, readOnly: false });
      continue;
    }
    const sources: KubeObject[] = v.projected?.sources ?? [
      v.downwardAPI ? { downwardAPI: v.downwardAPI } : v,
    ];
    const files: Files = {};
    for (const s of sources) {
      const got = projection(pod, v.name, s);
      if (typeof got === 'string') return got;
      Object.assign(files, got);
    }
    const hostPath = join(podDir, '.projected', v.name);
    mkdirSync(hostPath, { recursive: true });
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(join(hostPath, path, '..'), { recursive: true });
      writeFileSync(join(hostPath, path), content);
    }
    out.set(v.name, { hostPath, readOnly: true });
  }
  return out;
}
