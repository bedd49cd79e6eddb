// A Jira stand-in faked at the wire: a real HTTP server on 127.0.0.1 that the real jira.js clients
// drive. `cloud` speaks REST v3 (basic auth email:apiToken, ADF rich text, /search/jql);
// `datacenter` speaks REST v2 (Bearer PAT, wiki-markup strings, /search with startAt/total).
// It is deliberately as strict as Jira: what Jira refuses it refuses, with Jira's status and body,
// and every refusal the client should have seen coming is also written to `problems`.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { registerStandIn } from '../stand-ins.js';
import { type Env, INVALID_JSON, type Reply, type Req, type Route } from './http.js';
import { issueRoutes } from './routes-issue.js';
import { cloudSearchRoutes, dcSearchRoutes } from './routes-search.js';
import { JiraState } from './state.js';
import {
  errorBody,
  type FakeJira,
  type FakeJiraOptions,
  JiraError,
  type RecordedJiraRequest,
} from './types.js';

export type {
  FakeJira,
  FakeJiraComment,
  FakeJiraIssue,
  FakeJiraOptions,
  JiraFlavor,
  RecordedJiraRequest,
} from './types.js';

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function checkAuth(opts: FakeJiraOptions, header: string | undefined): JiraError | undefined {
  const cloud = opts.flavor === 'cloud';
  const refuse = (problem?: string) =>
    cloud
      ? new JiraError(401, errorBody(['Client must be authenticated to access this resource.']), problem)
      : new JiraError(
          401,
          errorBody(['You are not authenticated. Authentication required to perform this operation.']),
          problem,
          { 'X-Seraph-LoginReason': 'AUTHENTICATED_FAILED' },
        );
  if (!header) return refuse('request without an Authorization header');
  const [scheme = '', ...rest] = header.split(' ');
  const credential = rest.join(' ');
  if (cloud) {
    if (scheme !== 'Basic') {
      return refuse(`Jira Cloud takes "Basic base64(email:apiToken)", got a ${scheme} credential`);
    }
    const expected = Buffer.from(`${opts.email}:${opts.apiToken}`).toString('base64');
    return credential === expected ? undefined : refuse();
  }
  if (scheme !== 'Bearer') {
    return refuse(`Jira Data Center takes "Bearer <personal access token>", got a ${scheme} credential`);
  }
  return credential === opts.pat ? undefined : refuse();
}

function notFound(cloud: boolean, method: string, url: string, pathname: string): JiraError {
  const body = cloud
    ? { type: 'about:blank', title: 'Not Found', status: 404, detail: `No endpoint ${method} ${pathname}.` }
    : { message: `null for uri: ${url}`, 'status-code': 404 };
  return new JiraError(404, body, `${method} ${pathname}: no such endpoint`);
}

export async function startFakeJira(opts: FakeJiraOptions): Promise<FakeJira> {
  const cloud = opts.flavor === 'cloud';
  if (cloud && (!opts.email || !opts.apiToken)) throw new Error('fake-jira: cloud needs email and apiToken');
  if (!cloud && !opts.pat) throw new Error('fake-jira: datacenter needs pat');
  const state = new JiraState(opts);
  const requests: RecordedJiraRequest[] = [];
  const problems: string[] = [];
  const env: Env = { state, problem: (m) => problems.push(m) };
  const prefix = cloud ? '/rest/api/3' : '/rest/api/2';
  const otherPrefix = cloud ? '/rest/api/2' : '/rest/api/3';
  const routes: Route[] = [...issueRoutes, ...(cloud ? cloudSearchRoutes : dcSearchRoutes)];

  const dispatch = (req: IncomingMessage, url: URL, body: unknown, rawBody: string): Reply => {
    const method = req.method ?? 'GET';
    const path = url.pathname;
    const denied = checkAuth(opts, req.headers.authorization);
    if (denied) throw denied;
    if (path.startsWith(`${otherPrefix}/`)) {
      const err = notFound(cloud, method, url.href, path);
      throw new JiraError(
        404,
        err.body,
        `${method} ${path}: ${cloud ? 'Cloud' : 'Data Center'} is driven through REST v${cloud ? 3 : 2} (${prefix}) only`,
      );
    }
    if (!path.startsWith(`${prefix}/`)) throw notFound(cloud, method, url.href, path);
    const sub = path.slice(prefix.length);
    const matching = routes.filter((r) => r.pattern.test(sub));
    const route = matching.find((r) => r.method === method);
    if (!route) {
      if (matching.length === 0) throw notFound(cloud, method, url.href, path);
      const body405 = cloud
        ? {
            type: 'about:blank',
            title: 'Method Not Allowed',
            status: 405,
            detail: `Method '${method}' is not supported.`,
          }
        : undefined;
      throw new JiraError(405, body405, `${method} ${path}: method not allowed`, {
        Allow: matching.map((r) => r.method).join(', '),
      });
    }
    if (rawBody.length > 0 && !/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
      throw new JiraError(
        415,
        undefined,
        `${method} ${path}: body sent as ${req.headers['content-type'] ?? 'no type'}`,
      );
    }
    const params = (route.pattern.exec(sub) ?? []).slice(1).map((p) => decodeURIComponent(p));
    const r: Req = { method, path: sub, params, query: url.searchParams, body };
    return route.handler(r, env);
  };

  const send = (res: ServerResponse, reply: Reply): void => {
    const headers: Record<string, string> = { ...(reply.headers ?? {}) };
    if (reply.body === undefined) {
      res.writeHead(reply.status, headers);
      res.end();
      return;
    }
    const text = JSON.stringify(reply.body);
    headers['Content-Type'] = 'application/json;charset=UTF-8';
    headers['Content-Length'] = String(Buffer.byteLength(text));
    res.writeHead(reply.status, headers);
    res.end(text);
  };

  const server = createServer((req, res) => {
    void (async () => {
      const rawBody = await readBody(req);
      const url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`);
      let body: unknown;
      if (rawBody.length > 0) {
        try {
          body = JSON.parse(rawBody);
        } catch {
          body = INVALID_JSON;
        }
      }
      const record: RecordedJiraRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
        ...(rawBody.length > 0 ? { body: body === INVALID_JSON ? rawBody : body } : {}),
        status: 0,
      };
      requests.push(record);
      let reply: Reply;
      try {
        reply = dispatch(req, url, body, rawBody);
      } catch (err) {
        if (err instanceof JiraError) {
          if (err.problem) problems.push(`${record.method} ${record.path} -> ${err.status}: ${err.problem}`);
          reply = { status: err.status, body: err.body, headers: err.headers };
        } else {
          problems.push(`${record.method} ${record.path}: stand-in crashed: ${String(err)}`);
          reply = { status: 500, body: errorBody([`Internal server error: ${String(err)}`]) };
        }
      }
      record.status = reply.status;
      send(res, reply);
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  state.baseUrl = url;
  let closing: Promise<void> | undefined;
  const standIn = registerStandIn({ name: `jira ${opts.flavor} ${url}`, problems });

  return {
    url,
    flavor: opts.flavor,
    requests,
    problems,
    takeProblems: standIn.takeProblems,
    issue(key) {
      const i = state.find(key);
      if (!i) throw new Error(`fake-jira: no issue ${key}`);
      return {
        key: i.key,
        status: i.status,
        labels: [...i.labels],
        comments: i.comments.map((c) => ({ id: c.id, author: c.author.displayName, body: c.body })),
      };
    },
    addIssue(issue) {
      state.add(issue);
    },
    close() {
      standIn.closed();
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
