// ?watch=true on a collection: newline-delimited JSON events streamed chunked, as the API server's
// watch cache serves them (initial ADDEDs for a fresh watch, replay for a resumed one, 410 if compacted).
import type { ServerResponse } from 'node:http';
import type { Selector } from './selectors.js';
import { expired } from './status.js';
import type { ObjectStore, StoreEvent } from './store.js';
import type { KubeObject } from './types.js';

export interface WatchRequest {
  resource: string;
  namespace?: string;
  selector: Selector;
  resourceVersion: string | null;
  timeoutSeconds: number | null;
  /** List items carry no kind/apiVersion on the wire; watch events do. */
  kind: string;
  apiVersion: string;
}

export function serveWatch(
  res: ServerResponse,
  store: ObjectStore,
  w: WatchRequest,
  open: Set<ServerResponse>,
): void {
  res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
  res.flushHeaders();
  open.add(res);
  const typed = (o: KubeObject) => ({ kind: w.kind, apiVersion: w.apiVersion, ...o });
  const send = (type: string, object: unknown) => {
    if (!res.writableEnded) res.write(`${JSON.stringify({ type, object })}\n`);
  };
  const inScope = (e: StoreEvent) =>
    e.resource === w.resource && (!w.namespace || e.namespace === w.namespace);
  // An object moving into or out of the selector is an ADDED or DELETED for this watcher.
  const deliver = (e: StoreEvent) => {
    if (!inScope(e)) return;
    const now = w.selector(e.object);
    const before = e.previous !== undefined && e.type === 'MODIFIED' ? w.selector(e.previous) : now;
    if (e.type === 'MODIFIED' && now && !before) send('ADDED', typed(e.object));
    else if (e.type === 'MODIFIED' && !now && before) send('DELETED', typed(e.object));
    else if (now) send(e.type, typed(e.object));
  };
  const rv = w.resourceVersion && w.resourceVersion !== '0' ? Number(w.resourceVersion) : null;
  if (rv === null || Number.isNaN(rv)) {
    for (const o of store.list(w.resource, w.namespace)) if (w.selector(o)) send('ADDED', typed(o));
  } else {
    const replay = store.since(w.resource, rv);
    if (!replay) {
      send('ERROR', expired(`too old resource version: ${rv} (${store.oldestResumable + 1})`).status());
      open.delete(res);
      res.end();
      return;
    }
    for (const e of replay) deliver(e);
  }
  const unsubscribe = store.subscribe(deliver);
  const finish = () => {
    unsubscribe();
    clearTimeout(timer);
    open.delete(res);
    if (!res.writableEnded) res.end();
  };
  const timer = w.timeoutSeconds ? setTimeout(finish, w.timeoutSeconds * 1000) : undefined;
  // The response closes when the client goes away (or the stream ends); the request may not.
  res.on('close', finish);
}
