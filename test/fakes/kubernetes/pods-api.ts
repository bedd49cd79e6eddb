// /api/v1/namespaces/{ns}/pods[/{name}[/log|/exec|/status]] and the cluster-wide /api/v1/pods.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Cluster } from './context.js';
import { boolParam, intParam, listOf, typed } from './http-util.js';
import { serveLog } from './pod-log.js';
import { createPod, deletePod, patchPod, replacePod } from './pod-write.js';
import type { RequestInfo } from './request-info.js';
import { fieldSelector, labelSelector, POD_FIELDS } from './selectors.js';
import { badRequest, methodNotAllowed, noSuchResource, notFound, sendJson } from './status.js';
import { type KubeObject, PODS } from './types.js';
import { serveWatch } from './watch.js';

const pod = (o: KubeObject) => typed('v1', 'Pod', o);

function collection(c: Cluster, res: ServerResponse, url: URL, ns: string): void {
  const labels = labelSelector(url.searchParams.get('labelSelector'));
  const fields = fieldSelector(url.searchParams.get('fieldSelector'), POD_FIELDS);
  const selector = (o: KubeObject) => labels(o) && fields(o);
  if (boolParam(url, 'watch')) {
    const watch = {
      resource: 'pods',
      ...(ns ? { namespace: ns } : {}),
      selector,
      resourceVersion: url.searchParams.get('resourceVersion'),
      timeoutSeconds: intParam(url, 'timeoutSeconds'),
      kind: 'Pod',
      apiVersion: 'v1',
    };
    serveWatch(res, c.store, watch, c.streams);
    return;
  }
  const items = c.store.list('pods', ns || undefined).filter(selector);
  sendJson(res, 200, listOf('v1', 'Pod', items, c.store.resourceVersion, url));
}

/** Which container a log or exec request means: the named one, or the only one. */
export function pickContainer(p: KubeObject, requested: string | null): KubeObject {
  const all: KubeObject[] = [...p.spec.containers, ...(p.spec.initContainers ?? [])];
  if (!requested) {
    if (p.spec.containers.length === 1) return p.spec.containers[0];
    throw badRequest(
      `a container name must be specified for pod ${p.metadata.name}, choose one of: [${p.spec.containers.map((x: KubeObject) => x.name).join(' ')}]`,
    );
  }
  const found = all.find((x) => x.name === requested);
  if (!found) throw badRequest(`container ${requested} is not valid for pod ${p.metadata.name}`);
  return found;
}

function log(c: Cluster, res: ServerResponse, url: URL, p: KubeObject): void {
  const container = pickContainer(p, url.searchParams.get('container'));
  const { name } = p.metadata;
  if (boolParam(url, 'previous'))
    throw badRequest(`previous terminated container "${container.name}" in pod "${name}" not found`);
  if (!p.spec.nodeName) throw badRequest(`pod ${name} does not have a host assigned`);
  const log = c.kubelet.log(p.metadata.namespace, name, container.name);
  if (!log) {
    const statuses: KubeObject[] = [
      ...(p.status.containerStatuses ?? []),
      ...(p.status.initContainerStatuses ?? []),
    ];
    const waiting =
      statuses.find((s) => s.name === container.name)?.state?.waiting?.reason ?? 'ContainerCreating';
    const why = /ImagePull|ErrImage/.test(waiting) ? 'trying and failing to pull image' : waiting;
    throw badRequest(`container "${container.name}" in pod "${name}" is waiting to start: ${why}`);
  }
  const q = {
    tailLines: intParam(url, 'tailLines'),
    limitBytes: intParam(url, 'limitBytes'),
    follow: boolParam(url, 'follow'),
  };
  serveLog(res, log, q, c.streams);
}

export async function podsApi(
  c: Cluster,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  info: RequestInfo,
): Promise<void> {
  const { namespace: ns, name, subresource: sub } = info;
  const method = req.method ?? 'GET';
  if (!name) {
    if (method === 'GET') return collection(c, res, url, ns);
    if (method === 'POST' && ns) {
      const [code, created] = await createPod(c, req, url, ns);
      return sendJson(res, code, pod(created));
    }
    throw methodNotAllowed();
  }
  if (!ns) throw noSuchResource();
  if (sub === 'exec' || sub === 'attach') {
    if (method === 'GET' || method === 'POST') throw badRequest('Upgrade request required');
    throw methodNotAllowed();
  }
  if (sub && sub !== 'log' && sub !== 'status') throw noSuchResource();
  if (method === 'GET') {
    const found = c.store.get('pods', ns, name);
    if (!found) throw notFound(PODS, name);
    if (sub === 'log') return log(c, res, url, found);
    return sendJson(res, 200, pod(found));
  }
  if (sub) throw methodNotAllowed();
  if (method === 'PATCH') return sendJson(res, 200, pod(await patchPod(c, req, url, ns, name)));
  if (method === 'PUT') return sendJson(res, 200, pod(await replacePod(c, req, url, ns, name)));
  if (method === 'DELETE') return sendJson(res, 200, pod(await deletePod(c, req, url, ns, name)));
  throw methodNotAllowed();
}
