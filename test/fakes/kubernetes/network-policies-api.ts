// /apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies[/{name}]: create, get, list, watch, delete.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { requireNamespace } from './admission.js';
import type { Cluster } from './context.js';
import { boolParam, intParam, isDryRun, listOf, objectBody, typed } from './http-util.js';
import { generateSuffix } from './names.js';
import type { RequestInfo } from './request-info.js';
import { labelSelector } from './selectors.js';
import { alreadyExists, badRequest, methodNotAllowed, noSuchResource, notFound, sendJson } from './status.js';
import { type KubeObject, NETWORK_POLICIES, now } from './types.js';
import { checkSchema, metadataErrors, rejectInvalid } from './validation.js';
import { serveWatch } from './watch.js';

const API_VERSION = 'networking.k8s.io/v1';
const KIND = 'NetworkPolicy';
const RESOURCE = 'networkpolicies';
const policy = (o: KubeObject) => typed(API_VERSION, KIND, o);

async function create(c: Cluster, req: IncomingMessage, url: URL, ns: string): Promise<KubeObject> {
  const np = await objectBody(req, API_VERSION, KIND);
  const meta = np.metadata;
  if (meta.namespace !== undefined && meta.namespace !== ns)
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  const dryRun = isDryRun(url);
  requireNamespace(c, ns);
  if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${generateSuffix()}`;
  const name = meta.name ?? '';
  checkSchema(KIND, NETWORK_POLICIES, name, np, () => new NetworkPolicy(np as never).validate());
  rejectInvalid(KIND, NETWORK_POLICIES, name, metadataErrors(meta));
  if (c.store.get(RESOURCE, ns, name)) throw alreadyExists(NETWORK_POLICIES, name);
  const { apiVersion: _a, kind: _k, ...rest } = np;
  rest.metadata = { ...meta, namespace: ns, uid: randomUUID(), creationTimestamp: now(), generation: 1 };
  delete rest.metadata.resourceVersion;
  return dryRun ? rest : c.store.create(RESOURCE, rest);
}

export async function networkPoliciesApi(
  c: Cluster,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  info: RequestInfo,
): Promise<void> {
  const { namespace: ns, name } = info;
  const method = req.method ?? 'GET';
  if (info.subresource) throw noSuchResource();
  if (!name && method === 'GET') {
    const selector = labelSelector(url.searchParams.get('labelSelector'));
    if (boolParam(url, 'watch'))
      return serveWatch(
        res,
        c.store,
        {
          resource: RESOURCE,
          ...(ns ? { namespace: ns } : {}),
          selector,
          resourceVersion: url.searchParams.get('resourceVersion'),
          timeoutSeconds: intParam(url, 'timeoutSeconds'),
          kind: KIND,
          apiVersion: API_VERSION,
        },
        c.streams,
      );
    const items = c.store.list(RESOURCE, ns || undefined).filter(selector);
    return sendJson(res, 200, listOf(API_VERSION, KIND, items, c.store.resourceVersion, url));
  }
  if (!ns) throw methodNotAllowed();
  if (!name && method === 'POST') return sendJson(res, 201, policy(await create(c, req, url, ns)));
  if (!name) throw methodNotAllowed();
  const found = c.store.get(RESOURCE, ns, name);
  if (method === 'GET' || method === 'DELETE') {
    if (!found) throw notFound(NETWORK_POLICIES, name);
    if (method === 'GET') return sendJson(res, 200, policy(found));
    if (isDryRun(url)) return sendJson(res, 200, policy(found));
    return sendJson(res, 200, policy(c.store.delete(RESOURCE, ns, name) as KubeObject));
  }
  throw methodNotAllowed();
}
