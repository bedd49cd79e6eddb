// Every request's path through the stand-in, as through the API server's filters: authentication
// (bearer token), request info, RBAC, then the resource handler; errors become Status bodies.
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocketServer } from 'ws';
import { accessReviewApi } from './access-review-api.js';
import type { Cluster } from './context.js';
import { prepareExec, upgradeExec } from './exec-websocket.js';
import { discovery, namespacesApi } from './namespaces-api.js';
import { networkPoliciesApi } from './network-policies-api.js';
import { podsApi } from './pods-api.js';
import { allowedBy, denied, nonResourceAllowed, nonResourceDenied } from './rbac.js';
import { type RequestInfo, requestInfo } from './request-info.js';
import { ApiError, noSuchResource, sendError, unauthorized } from './status.js';

/** Authenticates and authorizes; returns what the request is about. */
function admit(c: Cluster, req: IncomingMessage, url: URL, verbOverride?: string): RequestInfo {
  if (req.headers.authorization !== `Bearer ${c.token}`) throw unauthorized();
  const info = requestInfo(req.method ?? 'GET', url);
  if (verbOverride) info.verb = verbOverride;
  if (!info.isResource) {
    if (!nonResourceAllowed(info.verb, info.path)) throw nonResourceDenied(info.verb, info.path);
  } else {
    const attributes = { ...info, name: info.name || info.selectorName };
    if (!allowedBy(c.rules, attributes)) throw denied(attributes);
  }
  return info;
}

const FAULT_REASONS = { 429: 'TooManyRequests', 500: 'InternalError', 503: 'ServiceUnavailable' } as const;

/** A failure the test asked for with injectFault(), so not a problem. */
class InjectedFault extends ApiError {}

/**
 * Whether a refusal is one a correct client never provokes: bad credentials, RBAC or Pod Security
 * denials, malformed or invalid requests, unknown resources, crashes. A named object that is not
 * there (404), already exists or changed meanwhile (409), or a watch too old (410) are answers a
 * client is built to handle, and injected faults are the test's own doing.
 */
function isProblem(err: ApiError): boolean {
  if (err instanceof InjectedFault) return false;
  if (err.code === 404) return err.details?.name === undefined;
  return err.code !== 409 && err.code !== 410;
}

function noteProblem(c: Cluster, req: IncomingMessage, err: ApiError): void {
  if (isProblem(err))
    c.problems.push(`${req.method} ${req.url} -> ${err.code} ${err.reason}: ${err.message}`);
}

/** An injected fault that matches the request, spent by one use. */
function fault(c: Cluster, req: IncomingMessage): ApiError | undefined {
  const f = c.faults.find((x) => x.times > 0 && x.method === req.method && (req.url ?? '').includes(x.path));
  if (!f) return undefined;
  f.times--;
  const message =
    f.status === 429
      ? 'Too many requests, please try again later.'
      : f.status === 503
        ? 'the server is currently unable to handle the request'
        : 'Internal error occurred: etcdserver: request timed out';
  return new InjectedFault(f.status, FAULT_REASONS[f.status], message);
}

async function route(c: Cluster, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const injected = fault(c, req);
  if (injected) {
    // Priority and fairness answers 429 with the wait it wants.
    if (injected.code === 429) res.setHeader('Retry-After', '1');
    throw injected;
  }
  const info = admit(c, req, url);
  const method = req.method ?? 'GET';
  if (!info.isResource) {
    if (discovery(res, info.path, req.headers.host ?? '')) return;
    throw noSuchResource();
  }
  const api = `${info.group}/${info.version}`;
  if (api === '/v1' && info.resource === 'namespaces') return namespacesApi(c, method, res, url, info);
  if (api === '/v1' && info.resource === 'pods') return podsApi(c, req, res, url, info);
  if (api === 'networking.k8s.io/v1' && info.resource === 'networkpolicies')
    return networkPoliciesApi(c, req, res, url, info);
  if (api === 'authorization.k8s.io/v1' && info.resource === 'selfsubjectaccessreviews' && !info.name)
    return accessReviewApi(c, req, res);
  throw noSuchResource();
}

export async function handleRequest(c: Cluster, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  try {
    await route(c, req, res, url);
  } catch (err) {
    const apiErr =
      err instanceof ApiError
        ? err
        : new ApiError(500, 'InternalError', `Internal error occurred: ${String(err)}`);
    noteProblem(c, req, apiErr);
    if (!res.headersSent) sendError(res, apiErr);
    else res.destroy();
  } finally {
    const contentType = req.headers['content-type'];
    c.requests.push({
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      ...(contentType ? { contentType } : {}),
      status: res.statusCode,
    });
  }
}

function rejectUpgrade(socket: Duplex, err: ApiError): void {
  const body = JSON.stringify(err.status());
  socket.end(
    `HTTP/1.1 ${err.code} ${STATUS_CODES[err.code]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** WebSocket upgrades: only pods/exec, which RBAC checks as `create` (as current API servers do). */
export function handleUpgrade(
  c: Cluster,
  wss: WebSocketServer,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): void {
  const url = new URL(req.url ?? '/', 'http://localhost');
  let status = 101;
  try {
    const isExec = /^\/api\/v1\/namespaces\/[^/]+\/pods\/[^/]+\/exec$/.test(url.pathname);
    const info = admit(c, req, url, isExec ? 'create' : undefined);
    if (!isExec || req.method !== 'GET') throw noSuchResource();
    upgradeExec(c, wss, prepareExec(c, req, url, info), req, socket, head);
  } catch (err) {
    const apiErr =
      err instanceof ApiError
        ? err
        : new ApiError(500, 'InternalError', `Internal error occurred: ${String(err)}`);
    status = apiErr.code;
    noteProblem(c, req, apiErr);
    rejectUpgrade(socket, apiErr);
  } finally {
    c.requests.push({ method: req.method ?? 'GET', path: req.url ?? '/', status });
  }
}
