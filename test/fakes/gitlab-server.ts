// A self-managed GitLab stand-in faked at the wire: a real HTTP server on 127.0.0.1 serving REST v4 under
// /api/v4 (driven by the real @gitbeaker/rest) and git smart HTTP through the real `git http-backend`.
// It is deliberately as strict as GitLab: its status codes, its error shapes, its silent drops flagged.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { RefUpdate } from './git-http-backend.js';
import { GITLAB_GIT_PATH, type GitLabProjectSpec, GitLabRepos } from './gitlab/git.js';
import { type FakeMergeRequest, GitLabError, type Json, type MergeRequest } from './gitlab/json.js';
import { GitLabRest, type Reply } from './gitlab/rest.js';
import { GitLabWatch, type JobSpec, type Tier, type WatchHooks } from './gitlab/watch.js';
import { closeServer, parseOrRaw, readBody, settle } from './server-util.js';
import { boundaryOf, parseMultipart } from './slack/http-util.js';
import { registerStandIn } from './stand-ins.js';

export type { FakeMergeRequest, GitLabProjectSpec, JobSpec, Tier };
/** The stand-in, and (WatchHooks, gitlab/watch.ts) the hooks that act as reviewers and CI would. */
export interface FakeGitLab extends WatchHooks {
  /** http://127.0.0.1:PORT, what GITLAB_URL / gitbeaker's `host` is set to. */
  url: string;
  token: string;
  /** http://127.0.0.1:PORT/group/project.git */
  gitUrl(path: string): string;
  barePath(path: string): string;
  mergeRequests: FakeMergeRequest[];
  requests: Array<{ method: string; path: string; auth?: string; body?: unknown; status: number }>;
  pushes: Array<{ project: string; updates: RefUpdate[] }>;
  /** Unknown routes, silently ignored parameters, leaked tokens, crashes; any a test does not claim with takeProblems() fails it. */
  problems: string[];
  /** Claims the problems not yet checked, for a test that provokes them on purpose. */
  takeProblems(): string[];
  refSha(path: string, ref: string): string | undefined;
  close(): Promise<void>;
}

/** Rack::QueryParser's nesting of form keys: `a[b][c]` hashes, `a[]` arrays, `a[][b]` arrays of hashes. */
function rackParams(pairs: Iterable<[string, string]>): Json {
  const out: Json = {};
  for (const [name, value] of pairs) rackNormalize(out, name, value);
  return out;
}

function rackNormalize(params: Json, name: string, v: unknown): Json {
  const m = /^[[\]]*([^[\]]+)\]*/.exec(name);
  const k = m?.[1] ?? '';
  const after = name.slice(m?.[0].length ?? name.length);
  if (k === '') return params;
  const isHash = (x: unknown): x is Json => typeof x === 'object' && x !== null && !Array.isArray(x);
  const expect = (want: 'Array' | 'Hash') => {
    const got = params[k];
    if (want === 'Array' ? Array.isArray(got) : isHash(got)) return;
    const gotName = Array.isArray(got) ? 'Array' : isHash(got) ? 'Hash' : 'String';
    throw new GitLabError(400, { error: `expected ${want} (got ${gotName}) for param \`${k}'` });
  };
  if (after === '') params[k] = v;
  else if (after === '[') params[name] = v;
  else if (after === '[]') {
    params[k] ??= [];
    expect('Array');
    params[k].push(v);
  } else {
    const child = /^\[\]\[([^[\]]+)\]$/.exec(after) ?? /^\[\](.+)$/.exec(after);
    if (child) {
      const childKey = child[1] ?? '';
      params[k] ??= [];
      expect('Array');
      const last = params[k].at(-1);
      if (isHash(last) && !rackHasKey(last, childKey)) rackNormalize(last, childKey, v);
      else params[k].push(rackNormalize({}, childKey, v));
    } else {
      params[k] ??= {};
      expect('Hash');
      rackNormalize(params[k], after, v);
    }
  }
  return params;
}

function rackHasKey(hash: Json, key: string): boolean {
  if (key.includes('[]')) return false;
  let h: unknown = hash;
  for (const part of key.split(/[[\]]+/)) {
    if (part === '') continue;
    if (typeof h !== 'object' || h === null || Array.isArray(h) || !(part in h)) return false;
    h = (h as Json)[part];
  }
  return true;
}

export async function startFakeGitLab(opts: {
  token?: string;
  projects: GitLabProjectSpec[];
  /** The edition and license: 'ce' (FOSS), or EE with 'free' (default), 'premium' or 'ultimate'. */
  tier?: Tier;
}): Promise<FakeGitLab> {
  const token = opts.token ?? `glpat-${randomBytes(10).toString('hex')}`;
  const root = await mkdtemp(join(tmpdir(), 'fake-gitlab-'));
  const git = await GitLabRepos.create(root, opts.projects).catch(async (err: unknown) => {
    await rm(root, { recursive: true, force: true });
    throw err;
  });
  const requests: FakeGitLab['requests'] = [];
  const pushes: FakeGitLab['pushes'] = [];
  const problems: string[] = [];
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const rest = new GitLabRest(git, url, problems);
  const watch = new GitLabWatch(git, url, problems, rest, opts.tier ?? 'free');
  rest.decorate = watch;

  /**
   * Grape's params: the query string (`k[]` as arrays) overlaid by a JSON body or a form body (urlencoded
   * or multipart, as gitbeaker's `isForm` sends it), whose `a[b]` and `a[]` keys Rack nests.
   */
  function params(u: URL, req: IncomingMessage, raw: string): Json {
    const out: Json = {};
    for (const k of new Set(u.searchParams.keys())) {
      if (k === 'private_token' || k === 'access_token') continue;
      out[k.replace(/\[\]$/, '')] = k.endsWith('[]') ? u.searchParams.getAll(k) : u.searchParams.get(k);
    }
    if (raw.trim() === '') return out;
    const contentType = req.headers['content-type'] ?? '';
    const type = contentType.split(';')[0]?.trim().toLowerCase();
    if (type === 'application/x-www-form-urlencoded')
      return { ...out, ...rackParams(new URLSearchParams(raw)) };
    if (type === 'multipart/form-data') {
      const boundary = boundaryOf(contentType);
      const parts = boundary ? parseMultipart(Buffer.from(raw, 'utf8'), boundary) : undefined;
      if (!parts) {
        problems.push(`malformed multipart body on ${req.method} ${u.pathname}`);
        throw new GitLabError(400, { error: 'message body does not match declared format' });
      }
      for (const p of parts.filter((x) => x.filename !== undefined))
        problems.push(`file upload "${p.name}" on ${req.method} ${u.pathname} is not modelled`);
      return { ...out, ...rackParams(parts.map((p): [string, string] => [p.name, p.data.toString('utf8')])) };
    }
    if (type !== 'application/json') {
      problems.push(`unsupported request body type ${type} on ${req.method} ${u.pathname}`);
      throw new GitLabError(415, { error: `The provided content-type '${type}' is not supported.` });
    }
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      throw new GitLabError(400, { error: 'message body does not match declared format' });
    }
    if (typeof body !== 'object' || body === null || Array.isArray(body))
      throw new GitLabError(400, { error: 'message body does not match declared format' });
    return { ...out, ...(body as Json) };
  }

  async function handleApi(req: IncomingMessage, res: ServerResponse, u: URL, raw: string): Promise<number> {
    const method = req.method ?? 'GET';
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'x-request-id': randomBytes(13).toString('hex').toUpperCase(),
      'x-content-type-options': 'nosniff',
    };
    let reply: Reply;
    try {
      let segs: string[];
      try {
        segs = u.pathname.slice('/api/v4/'.length).split('/').map(decodeURIComponent);
      } catch {
        throw new GitLabError(400, { error: 'invalid URL encoding' });
      }
      const handler = watch.match(method, segs) ?? rest.match(method, segs);
      if (!handler) {
        problems.push(`unexpected REST call ${method} ${u.pathname}${u.search}`);
        throw new GitLabError(404, { error: '404 Not Found' });
      }
      // PRIVATE-TOKEN, OAuth-style Bearer, or (accepted, but a leak) ?private_token= / ?access_token=.
      const bearer = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
      const queryToken =
        u.searchParams.get('private_token') ?? u.searchParams.get('access_token') ?? undefined;
      const header = req.headers['private-token'];
      const cred = (typeof header === 'string' ? header : undefined) ?? bearer ?? queryToken;
      if (cred !== undefined && cred !== token) throw new GitLabError(401, { message: '401 Unauthorized' });
      const authenticated = cred === token;
      if (!authenticated && method !== 'GET') throw new GitLabError(401, { message: '401 Unauthorized' });
      reply = await handler({ params: params(u, req, raw), url: u, headers, authenticated });
    } catch (err) {
      if (!(err instanceof GitLabError)) throw err;
      reply = { status: err.status, json: err.body };
    }
    // Rack::ETag and Rack::ConditionalGet (gitlab/etag.ts) see every reply.
    const ifNoneMatch = req.headers['if-none-match'];
    const { status, body } = watch.conditional.finish(
      method,
      ifNoneMatch,
      reply.status,
      reply.raw ?? JSON.stringify(reply.json),
      headers,
    );
    res.writeHead(status, headers);
    res.end(body);
    return status;
  }

  async function onPush(repo: { path: string }, updates: RefUpdate[]): Promise<void> {
    pushes.push({ project: repo.path, updates });
    const r = git.find(repo.path);
    if (r) await watch.onPush(r, updates);
  }

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', url);
    const entry: FakeGitLab['requests'][number] = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      status: 0,
    };
    const privateToken = req.headers['private-token'];
    if (typeof privateToken === 'string') entry.auth = `PRIVATE-TOKEN ${privateToken}`;
    else if (req.headers.authorization !== undefined) entry.auth = req.headers.authorization;
    requests.push(entry);
    if ((req.url ?? '').includes(token))
      problems.push(`token sent in the URL of ${req.method} ${u.pathname}`);
    const gitMatch = GITLAB_GIT_PATH.exec(u.pathname);
    let work: Promise<number> | undefined;
    if (u.pathname.startsWith('/api/v4/')) {
      work = readBody(req).then((raw) => {
        if (raw.length > 0) entry.body = parseOrRaw(raw);
        return handleApi(req, res, u, raw);
      });
    } else if (gitMatch) {
      work = git.serve(req, res, u, gitMatch, { token, baseUrl: url, problems, onPush });
    }
    settle(work, {
      req,
      res,
      path: u.pathname,
      entry,
      problems,
      crash: { contentType: 'application/json', message: '500 Internal Server Error' },
    });
  });

  const standIn = registerStandIn({ name: `gitlab ${url}`, problems });
  const mustRepo = (path: string) => {
    const repo = git.find(path);
    if (!repo) throw new Error(`no fake project ${path}`);
    return repo;
  };
  return {
    url,
    token,
    gitUrl: (path) => `${url}/${path}.git`,
    barePath: (path) => mustRepo(path).barePath,
    mergeRequests: rest.mergeRequests as MergeRequest[],
    requests,
    pushes,
    problems,
    takeProblems: standIn.takeProblems,
    refSha: (path, ref) => git.refShaSync(mustRepo(path), ref),
    ...watch.hooks,
    async close() {
      standIn.closed();
      await closeServer(server);
      await rm(root, { recursive: true, force: true });
    },
  };
}
