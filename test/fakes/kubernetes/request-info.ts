// What a request asks to do, parsed from its method and path the way the API server's
// RequestInfoFactory does, so authorization sees the same attributes a real cluster would.
import { nameFromFieldSelector } from './selectors.js';

export interface RequestInfo {
  isResource: boolean;
  path: string;
  verb: string;
  group: string;
  version: string;
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
  /** For list and watch: the object a `metadata.name=` field selector names (RBAC's resourceNames see it). */
  selectorName: string;
}

const VERBS: Record<string, string> = { POST: 'create', PUT: 'update', PATCH: 'patch' };

export function requestInfo(method: string, url: URL): RequestInfo {
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const base: RequestInfo = {
    isResource: false,
    path: url.pathname,
    verb: method.toLowerCase(),
    group: '',
    version: '',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
    selectorName: '',
  };
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) rest = parts.slice(2);
  else if (parts[0] === 'apis' && parts.length >= 4) rest = parts.slice(3);
  else return base;
  const info: RequestInfo = {
    ...base,
    isResource: true,
    group: parts[0] === 'api' ? '' : (parts[1] as string),
    version: (parts[0] === 'api' ? parts[1] : parts[2]) as string,
  };
  // /namespaces/{ns}/... is namespaced; /namespaces/{ns} itself is the namespace, and its
  // namespace attribute is its own name (so a Role in it may grant reading it).
  if (rest[0] === 'namespaces' && rest.length > 1) {
    info.namespace = rest[1] as string;
    if (rest.length > 2) rest = rest.slice(2);
  }
  info.resource = rest[0] ?? '';
  info.name = rest[1] ?? '';
  info.subresource = rest[2] ?? '';
  const watching = ['true', '1'].includes(url.searchParams.get('watch') ?? '');
  if (method === 'GET' || method === 'HEAD') info.verb = info.name ? 'get' : watching ? 'watch' : 'list';
  else if (method === 'DELETE') info.verb = info.name ? 'delete' : 'deletecollection';
  else info.verb = VERBS[method] ?? method.toLowerCase();
  if (info.verb === 'list' || info.verb === 'watch')
    info.selectorName = nameFromFieldSelector(url.searchParams.get('fieldSelector'));
  return info;
}
