// Namespaces (read-only here: they come from the options) and the discovery endpoints.
import { createHash } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Cluster } from './context.js';
import { listOf, typed } from './http-util.js';
import type { RequestInfo } from './request-info.js';
import { labelSelector } from './selectors.js';
import { methodNotAllowed, noSuchResource, notFound, sendJson } from './status.js';
import { type KubeObject, NAMESPACES } from './types.js';

const stableUid = (seed: string) => {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
};

function namespaceObject(c: Cluster, name: string): KubeObject {
  return {
    metadata: {
      name,
      uid: stableUid(`namespace/${name}`),
      resourceVersion: '1',
      creationTimestamp: c.namespaceCreated,
      labels: { 'kubernetes.io/metadata.name': name, ...c.namespaces[name] },
    },
    spec: { finalizers: ['kubernetes'] },
    status: { phase: 'Active' },
  };
}

export function namespacesApi(
  c: Cluster,
  method: string,
  res: ServerResponse,
  url: URL,
  info: RequestInfo,
): void {
  if (method !== 'GET') throw methodNotAllowed();
  if (info.subresource) throw noSuchResource();
  if (info.name) {
    if (!Object.hasOwn(c.namespaces, info.name)) throw notFound(NAMESPACES, info.name);
    sendJson(res, 200, typed('v1', 'Namespace', namespaceObject(c, info.name)));
    return;
  }
  const selector = labelSelector(url.searchParams.get('labelSelector'));
  const items = Object.keys(c.namespaces)
    .sort()
    .map((n) => namespaceObject(c, n))
    .filter(selector);
  sendJson(res, 200, listOf('v1', 'Namespace', items, c.store.resourceVersion, url));
}

/** The non-resource URLs every authenticated client may read; false if this is not one of them. */
export function discovery(res: ServerResponse, path: string, host: string): boolean {
  const ok = (body: unknown) => {
    sendJson(res, 200, body);
    return true;
  };
  if (path === '/version')
    return ok({
      major: '1',
      minor: '31',
      gitVersion: 'v1.31.0',
      gitTreeState: 'clean',
      goVersion: 'go1.22.5',
      compiler: 'gc',
      platform: 'linux/amd64',
    });
  if (path === '/api')
    return ok({
      kind: 'APIVersions',
      versions: ['v1'],
      serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: host }],
    });
  if (path === '/apis') {
    const group = (name: string) => ({
      name,
      versions: [{ groupVersion: `${name}/v1`, version: 'v1' }],
      preferredVersion: { groupVersion: `${name}/v1`, version: 'v1' },
    });
    return ok({
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [group('authorization.k8s.io'), group('networking.k8s.io')],
    });
  }
  if (['/healthz', '/livez', '/readyz'].includes(path)) {
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('ok');
    return true;
  }
  return false;
}
