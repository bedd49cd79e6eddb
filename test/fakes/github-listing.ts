// What the GitHub stand-in's newer endpoints share: GitHub's error helpers as passed in by the server,
// page/per_page slicing with a Link header, the `since`/`sort`/`direction` query parameters, query
// parameters GitHub would silently ignore, second-precision timestamps, and user objects.
import type { GitRepo } from './git-http-backend.js';

export type Json = Record<string, unknown>;
export type Reply = { status: number; json: unknown };
/** The server's error factory: returns what to throw (an HttpError with GitHub's body). */
export type Fail = (status: number, message: string, doc?: string, extra?: Json) => unknown;
/** An installation token's permission check (a no-op for the server's own token). */
export type Need = (permission: string, level: 'read' | 'write', doc: string) => void;

/** One REST request as the server routes it, for the endpoint modules. */
export interface RouteCtx {
  method: string;
  r: GitRepo;
  /** The path segments after /repos/{owner}/{repo}, decoded. */
  segs: string[];
  url: URL;
  body: Json;
  headers: Record<string, string>;
  need: Need;
  /** Who the credential acts as: the server's bot user or the App's bot. */
  actor: Json;
}

export const DOCS = 'https://docs.github.com/rest';
export const isoSeconds = (ms = Date.now()) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** Any one of several permissions will do (GitHub's "at least one of the following permission sets"). */
export function needAny(ctx: RouteCtx, alternatives: Array<[string, 'read' | 'write']>, doc: string): void {
  let refusal: unknown;
  for (const [permission, level] of alternatives) {
    try {
      ctx.need(permission, level, doc);
      return;
    } catch (err) {
      refusal = err;
    }
  }
  ctx.headers['x-accepted-github-permissions'] = alternatives.map(([p, l]) => `${p}=${l}`).join('; ');
  throw refusal;
}

/** Rejects, as GitHub's schema validation does, body parameters of the wrong JSON type. */
export function checkTypes(fail: Fail, body: Json, types: Record<string, string>, doc: string): void {
  for (const [field, allowed] of Object.entries(types)) {
    const v = body[field];
    const t = v === null ? 'null' : typeof v;
    if (v !== undefined && !allowed.split('|').includes(t))
      throw fail(
        422,
        `Invalid request.\n\nFor '${field}', ${JSON.stringify(v)} is not a ${allowed.replace('|', ' or ')}.`,
        doc,
      );
  }
}

/** GitHub's page/per_page slicing (per_page at most 100) with a Link header (prev, next, last, first). */
export function page<T>(items: T[], url: URL, headers: Record<string, string>): T[] {
  const q = url.searchParams;
  const perPage = Math.min(100, Math.max(1, Number.parseInt(q.get('per_page') ?? '30', 10) || 30));
  const n = Math.max(1, Number.parseInt(q.get('page') ?? '1', 10) || 1);
  const last = Math.max(1, Math.ceil(items.length / perPage));
  const link = (to: number, rel: string) => {
    const u = new URL(url);
    u.searchParams.set('page', String(to));
    return `<${u}>; rel="${rel}"`;
  };
  const links = n > 1 ? [link(n - 1, 'prev')] : [];
  if (n < last) links.push(link(n + 1, 'next'), link(last, 'last'));
  if (n > 1) links.push(link(1, 'first'));
  if (links.length > 0) headers.link = links.join(', ');
  return items.slice((n - 1) * perPage, n * perPage);
}

const PAGING = ['per_page', 'page'];

/**
 * Query parameters an endpoint does not take are silently ignored by GitHub; a client that sends one
 * (`since` on a listing without it, say) meant something GitHub will not do, so each is a problem.
 */
export function onlyParams(url: URL, accepted: string[], problems: string[], method = 'GET'): void {
  for (const name of new Set(url.searchParams.keys()))
    if (!accepted.includes(name) && !PAGING.includes(name))
      problems.push(
        `${method} ${url.pathname} with ${name}=${url.searchParams.get(name)}: this endpoint takes no ` +
          `"${name}" parameter, so GitHub silently ignores it`,
      );
}

/** An enum query parameter; a value GitHub does not know does not filter or sort as meant: a problem. */
export function enumParam(url: URL, name: string, allowed: string[], problems: string[]): string | undefined {
  const v = url.searchParams.get(name);
  if (v === null) return undefined;
  if (allowed.includes(v)) return v;
  problems.push(`GET ${url.pathname} with ${name}=${v}: not one of ${allowed.join(', ')}; GitHub ignores it`);
  return undefined;
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})$/;

/** `since` (ISO 8601), as epoch milliseconds; GitHub answers 422 to anything else. */
export function sinceParam(url: URL, fail: Fail, doc: string): number | undefined {
  const raw = url.searchParams.get('since');
  if (raw === null) return undefined;
  const ms = Date.parse(raw);
  if (!ISO_8601.test(raw) || Number.isNaN(ms))
    throw fail(422, 'The since parameter needs to be in ISO 8601 format: YYYY-MM-DDTHH:MM:SSZ', doc);
  return ms;
}

interface Dated {
  id: number;
  createdAt: string;
  updatedAt: string;
}

/**
 * GitHub's comment listings: `since` keeps what was updated at or after it; without `sort` they are in
 * ascending id order and `direction` is ignored (a problem: the client meant an order it will not get);
 * with `sort` (created | updated) `direction` defaults to asc.
 */
export function sortComments<T extends Dated>(
  items: T[],
  url: URL,
  opts: { fail: Fail; problems: string[]; doc: string; sorts: string[] },
): T[] {
  const since = sinceParam(url, opts.fail, opts.doc);
  const sortable = opts.sorts.length > 0; // otherwise onlyParams() reported sort and direction
  const sort = sortable ? enumParam(url, 'sort', opts.sorts, opts.problems) : undefined;
  const direction = sortable ? enumParam(url, 'direction', ['asc', 'desc'], opts.problems) : undefined;
  if (direction !== undefined && url.searchParams.get('sort') === null)
    opts.problems.push(
      `GET ${url.pathname} with direction=${direction} but no sort: GitHub ignores direction without sort`,
    );
  const key = (c: T) => Date.parse(sort === 'updated' ? c.updatedAt : c.createdAt);
  const sign = sort !== undefined && direction === 'desc' ? -1 : 1;
  return items
    .filter((c) => since === undefined || Date.parse(c.updatedAt) >= since)
    .sort((a, b) => sign * (sort === undefined ? a.id - b.id : key(a) - key(b) || a.id - b.id));
}

export interface UserSpec {
  email?: string | null;
  name?: string | null;
  /** How GitHub relates this user to the repositories (author_association); default MEMBER. */
  association?: string;
  type?: 'User' | 'Bot' | 'Organization';
  id?: number;
  nodeId?: string;
}
interface KnownUser {
  login: string;
  id: number;
  nodeId: string;
  type: string;
  email: string | null;
  name: string | null;
  association: string;
  createdAt: string;
}

/**
 * The users the stand-in knows: added by tests, the bots, the repository owners, and anyone a test
 * made act (a comment, a review): on GitHub they all exist. Others answer 404 on GET /users/{login}.
 */
export class Users {
  private readonly known = new Map<string, KnownUser>();
  private nextId = 5001;

  constructor(
    private readonly apiUrl: string,
    private readonly webUrl: string,
  ) {}

  add(login: string, spec: UserSpec = {}): void {
    const had = this.known.get(login.toLowerCase());
    const id = spec.id ?? had?.id ?? this.nextId++;
    const type = spec.type ?? had?.type ?? 'User';
    const prefix = type === 'Bot' ? 'BOT' : type === 'Organization' ? 'O' : 'U';
    this.known.set(login.toLowerCase(), {
      login,
      id,
      nodeId: spec.nodeId ?? had?.nodeId ?? `${prefix}_${id}`,
      type,
      email: spec.email ?? had?.email ?? null,
      name: spec.name ?? had?.name ?? null,
      association: spec.association ?? (type === 'Bot' ? 'NONE' : 'MEMBER'),
      createdAt: had?.createdAt ?? isoSeconds(),
    });
  }

  private get(login: string): KnownUser {
    const found = this.known.get(login.toLowerCase());
    if (found) return found;
    // A login a test made act without addUser: a user GitHub knows, outside the organisation.
    this.add(login, { association: 'NONE' });
    return this.get(login);
  }

  association(login: string): string {
    return this.get(login).association;
  }

  /** GitHub's simple-user object. */
  json(login: string): Json {
    const u = this.get(login);
    const url = `${this.apiUrl}/users/${u.login}`;
    return {
      login: u.login,
      id: u.id,
      node_id: u.nodeId,
      avatar_url: `${this.webUrl}/avatars/u/${u.id}`,
      gravatar_id: '',
      url,
      html_url: `${this.webUrl}/${u.type === 'Bot' ? `apps/${u.login.replace(/\[bot\]$/, '')}` : u.login}`,
      type: u.type,
      site_admin: false,
    };
  }

  /** GET /users/{login}: the public profile, or undefined for a login GitHub would not know. */
  publicJson(login: string): Json | undefined {
    const u = this.known.get(login.toLowerCase());
    if (!u) return undefined;
    return {
      ...this.json(u.login),
      ...{ name: u.name, company: null, blog: '', location: null, email: u.email, hireable: null },
      ...{ bio: null, twitter_username: null, public_repos: 0, public_gists: 0, followers: 0, following: 0 },
      ...{ created_at: u.createdAt, updated_at: u.createdAt },
    };
  }
}
