// A GitHub (Enterprise Server-shaped) stand-in faked at the wire: a real HTTP server on 127.0.0.1 that
// the real Octokit client and the real git CLI talk to. It is deliberately as strict as GitHub.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GIT_PATH, type GitRepo, GitRepos, type RefUpdate } from './git-http-backend.js';
import { type AppTokenRequest, FakeGitHubApp, type FakeGitHubAppSpec } from './github-app.js';
import { BranchRules, type RequiredChecksSpec, type RulesetSpec } from './github-branch-rules.js';
import { type CheckRunSpec, Checks } from './github-checks.js';
import { Conversation, type ReviewCommentSpec, type ReviewSpec } from './github-conversation.js';
import { type ConditionalCounts, ConditionalRequests } from './github-etag.js';
import { page, type RouteCtx, type UserSpec, Users } from './github-listing.js';
import { type OutsidePush, PullEvents } from './github-pull-events.js';
import { closeServer, parseOrRaw, readBody, settle } from './server-util.js';
import { registerStandIn } from './stand-ins.js';

export { generateAppKeyPair } from './github-app.js';

export interface FakeRepoSpec {
  owner: string;
  name: string;
  defaultBranch?: string;
  files?: Record<string, string>;
  protectedBranches?: string[];
}
export interface FakePull {
  number: number;
  owner: string;
  repo: string;
  title: string;
  body: string | null;
  head: string;
  base: string;
  draft: boolean;
  state: 'open' | 'closed';
  html_url: string;
  headSha: string;
}
export interface FakeGitHub {
  apiUrl: string;
  webUrl: string;
  token: string;
  gitUrl(owner: string, name: string): string;
  barePath(owner: string, name: string): string;
  pulls: FakePull[];
  requests: Array<{ method: string; path: string; authorization?: string; body?: unknown; status: number }>;
  pushes: Array<{ owner: string; repo: string; updates: RefUpdate[] }>;
  /** Unknown routes, silently ignored parameters, leaked tokens, crashes; any a test does not claim with takeProblems() fails it. */
  problems: string[];
  /** Claims the problems not yet checked, for a test that provokes them on purpose. */
  takeProblems(): string[];
  refSha(owner: string, name: string, ref: string): string | undefined;
  /** Installation-token requests the GitHub App endpoint received (empty without `app`). */
  tokenRequests: AppTokenRequest[];
  /** Test hook: every installation token minted so far answers 401 from now on. */
  expireTokens(): void;
  /**
   * Fault injection: the next `times` requests matching `method` and `path` get `status` with
   * GitHub's error body, after authentication (as a real outage or a permission problem would).
   * A fault never hit is reported as unconsumed after the test.
   */
  failNext(fault: { method: string; path: RegExp; status: number; message: string; times?: number }): void;
  /** Labels on issue or pull request `number`. */
  labels(owner: string, repo: string, number: number): string[];
  /** Conditional GETs so far: answered 304 (hits), changed (misses), sent without If-None-Match. */
  conditional(): ConditionalCounts;

  // ---- PR watch: the people and CI on the other side (each changes what they affect, and its ETag) --
  /** A user GitHub knows (GET /users/{login}); anyone a hook makes act is known too (email null). */
  addUser(login: string, spec?: UserSpec): void;
  /** A user comments on pull request `number`; returns the comment as GitHub lists it. */
  addComment(c: {
    owner: string;
    repo: string;
    number: number;
    user: string;
    body: string;
    at?: string;
  }): Json;
  editComment(c: { owner: string; repo: string; id: number; body: string; at?: string }): Json;
  /** A user comments on a line of the diff (its own COMMENTED review, as "Add single comment"). */
  addReviewComment(c: ReviewCommentSpec): Promise<Json>;
  addReview(r: ReviewSpec): Promise<Json>;
  /** GitHub Actions reports a check run; returns its id, which is also its job id (for the logs). */
  addCheckRun(c: CheckRunSpec): Promise<number>;
  updateCheckRun(
    c: Omit<Partial<CheckRunSpec>, 'sha' | 'name'> & { owner: string; repo: string; id: number },
  ): void;
  /** Every job log download link handed out so far has expired (they last a minute). */
  expireLogLinks(): void;
  merge(m: { owner: string; repo: string; number: number; by: string }): void;
  closePull(c: { owner: string; repo: string; number: number }): void;
  /** Someone else commits on top of `branch`; an open pull request on it moves. Returns the SHA. */
  pushOutside(p: OutsidePush): Promise<string>;
  requireStatusChecks(spec: RequiredChecksSpec): void;
  addRuleset(spec: RulesetSpec): number;
  /** Statuses posted to `sha`, in creation order. */
  statuses(owner: string, repo: string, sha: string): Json[];
  /** Issue comments on pull request `number` (airlock's too), oldest first. */
  comments(owner: string, repo: string, number: number): Json[];
  /** Reviews on pull request `number` as GitHub lists them, anyone's PENDING ones included. */
  reviews(owner: string, repo: string, number: number): Json[];
  /**
   * Review comments on pull request `number` as GitHub lists them, oldest first, with
   * `pull_request_review_id` naming their review; the drafts of PENDING reviews included.
   */
  reviewComments(owner: string, repo: string, number: number): Json[];
  close(): Promise<void>;
}

interface Pull extends FakePull {
  id: number;
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
  maintainerCanModify: boolean;
  author: Json;
  mergedAt: string | null;
  mergedBy: Json | null;
  mergeCommitSha: string | null;
}
type Json = Record<string, unknown>;
type Reply = { status: number; json: unknown };
class HttpError {
  constructor(
    readonly status: number,
    readonly body: Json,
  ) {}
}

const DOCS = 'https://docs.github.com/rest';
const DOC_PULLS = `${DOCS}/pulls/pulls`;
const API_VERSION = '2022-11-28';
const RATE_LIMIT = 5000;
const BOT = { login: 'airlock-bot', id: 4242, node_id: 'U_airlockbot', type: 'User', site_admin: false };
const fail = (status: number, message: string, doc = DOCS, extra: Json = {}) =>
  new HttpError(status, { message, ...extra, documentation_url: doc, status: String(status) });
const invalid = (doc: string, error: Json) => fail(422, 'Validation Failed', doc, { errors: [error] });
const custom = (doc: string, message: string, field?: string) =>
  invalid(doc, { resource: 'PullRequest', code: 'custom', ...(field ? { field } : {}), message });
const badField = (doc: string, field: string) =>
  invalid(doc, { resource: 'PullRequest', field, code: 'invalid' });
const now = () => new Date().toISOString();
const requestId = () => [2, 3, 4, 2].map((n) => randomBytes(n).toString('hex').toUpperCase()).join(':');

/** Rejects, as GitHub's schema validation does, parameters of the wrong JSON type. */
function checkTypes(body: Json, types: Record<string, string>, doc: string): void {
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

export async function startFakeGitHub(opts: {
  token?: string;
  repos: FakeRepoSpec[];
  /** A GitHub App installed on some of the repositories: JWT-only app endpoints, scoped installation tokens. */
  app?: FakeGitHubAppSpec;
}): Promise<FakeGitHub> {
  const token = opts.token ?? `ghs_${randomBytes(18).toString('hex')}`;
  const root = await mkdtemp(join(tmpdir(), 'fake-github-'));
  const git = await GitRepos.create(root, opts.repos).catch(async (err: unknown) => {
    await rm(root, { recursive: true, force: true });
    throw err;
  });
  const requests: FakeGitHub['requests'] = [];
  const pushes: FakeGitHub['pushes'] = [];
  const problems: string[] = [];
  const pulls: Pull[] = [];
  let rateRemaining = RATE_LIMIT;
  const rateReset = Math.floor(Date.now() / 1000) + 3600;
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const webUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const apiUrl = `${webUrl}/api/v3`;
  const gitUrl = (owner: string, name: string) => `${webUrl}/${owner}/${name}.git`;
  const pullsOf = (r: GitRepo) => pulls.filter((p) => p.owner === r.owner && p.repo === r.name);

  // ---- JSON renderings (the fields a client is likely to read, named and typed as on GitHub) ------
  const ownerJson = (login: string) => ({ login, id: 1, node_id: `O_${login}`, type: 'Organization' });
  const repoJson = (r: GitRepo) => ({
    id: r.id,
    node_id: `R_${r.id}`,
    name: r.name,
    full_name: `${r.owner}/${r.name}`,
    private: true,
    visibility: 'private',
    owner: { ...ownerJson(r.owner), url: `${apiUrl}/users/${r.owner}`, html_url: `${webUrl}/${r.owner}` },
    html_url: `${webUrl}/${r.owner}/${r.name}`,
    url: `${apiUrl}/repos/${r.owner}/${r.name}`,
    clone_url: gitUrl(r.owner, r.name),
    ssh_url: `git@127.0.0.1:${r.owner}/${r.name}.git`,
    default_branch: r.defaultBranch,
    ...{ description: null, fork: false, archived: false, disabled: false },
    permissions: { admin: false, maintain: false, push: true, triage: true, pull: true },
  });
  async function pullJson(r: GitRepo, p: Pull, full: boolean): Promise<Json> {
    const baseSha = (await git.branchSha(r, p.base)) ?? '';
    const api = `${apiUrl}/repos/${r.owner}/${r.name}`;
    const side = (ref: string, sha: string) => ({
      label: `${r.owner}:${ref}`,
      ref,
      sha,
      user: ownerJson(r.owner),
      repo: repoJson(r),
    });
    const json: Json = {
      url: `${api}/pulls/${p.number}`,
      id: p.id,
      node_id: `PR_${p.id}`,
      html_url: p.html_url,
      diff_url: `${p.html_url}.diff`,
      issue_url: `${api}/issues/${p.number}`,
      number: p.number,
      state: p.state,
      locked: false,
      title: p.title,
      user: p.author,
      body: p.body,
      ...{ created_at: p.createdAt, updated_at: p.updatedAt, closed_at: p.closedAt, merged_at: p.mergedAt },
      merge_commit_sha: p.mergeCommitSha,
      ...{ assignee: null, assignees: [], requested_reviewers: [], labels: [] },
      draft: p.draft,
      head: side(p.head, p.headSha),
      base: side(p.base, baseSha),
      author_association: 'MEMBER',
      auto_merge: null,
    };
    if (!full) return json;
    const commits = baseSha ? await git.ahead(r, baseSha, p.headSha) : 0;
    return {
      ...json,
      ...{ merged: p.mergedAt !== null, mergeable: null, mergeable_state: 'unknown', merged_by: p.mergedBy },
      ...conversation.counts(r, p.number),
      maintainer_can_modify: p.maintainerCanModify,
      commits,
    };
  }

  let app: FakeGitHubApp | undefined;
  try {
    app = opts.app && new FakeGitHubApp(opts.app, { git, fail, repoJson, apiUrl, webUrl });
  } catch (err) {
    server.close();
    await rm(root, { recursive: true, force: true });
    throw err;
  }

  // ---- PR watch: conversation, CI, branch rules, users, conditional requests ----------------------------
  const mustRepo = (owner: string, name: string) => {
    const repo = git.find(owner, name);
    if (!repo) throw new Error(`no fake repo ${owner}/${name}`);
    return repo;
  };
  const users = new Users(apiUrl, webUrl);
  users.add(BOT.login, { id: BOT.id, nodeId: BOT.node_id, association: 'MEMBER' });
  if (app) users.add(String(app.bot.login), { id: Number(app.bot.id), type: 'Bot' });
  for (const spec of opts.repos)
    users.add(spec.owner, { id: 1, type: 'Organization', nodeId: `O_${spec.owner}` });
  const modules = { fail, users, apiUrl, webUrl, git, problems, pullsOf, mustRepo };
  const conversation = new Conversation(modules);
  const checks = new Checks({ ...modules, repoJson });
  const branchRules = new BranchRules(modules);
  const pullEvents = new PullEvents({ ...modules, advancePulls: (r, updates) => advancePulls(r, updates) });
  const conditional = new ConditionalRequests();

  // ---- pulls ------------------------------------------------------------------------------------
  const openDuplicate = (r: GitRepo, head: string, base: string, except?: Pull) =>
    pullsOf(r).some((p) => p !== except && p.state === 'open' && p.head === head && p.base === base);

  async function createPull(r: GitRepo, body: Json, author: Json): Promise<Reply> {
    const doc = `${DOC_PULLS}#create-a-pull-request`;
    const missing = ['head', 'base'].filter((f) => body[f] === undefined).map((f) => `"${f}"`);
    if (missing.length > 0)
      throw fail(
        422,
        `Invalid request.\n\n${missing.join(', ')} ${missing.length > 1 ? "weren't" : "wasn't"} supplied.`,
        doc,
      );
    const types = { title: 'string', head: 'string', base: 'string', body: 'string|null', draft: 'boolean' };
    checkTypes(body, { ...types, maintainer_can_modify: 'boolean' }, doc);
    const { head: headSpec, base, title } = body as { head: string; base: string; title?: string };
    if (!title?.trim()) throw invalid(doc, { resource: 'Issue', code: 'missing_field', field: 'title' });
    const [headOwner = '', head = ''] = headSpec.includes(':')
      ? headSpec.split(/:(.*)/s)
      : [r.owner, headSpec];
    const baseSha = await git.branchSha(r, base);
    if (!baseSha) throw badField(doc, 'base');
    // Only same-repository heads exist here: a fork owner's head is as unknown as a missing branch.
    const headSha =
      headOwner.toLowerCase() === r.owner.toLowerCase() ? await git.branchSha(r, head) : undefined;
    if (!headSha) throw badField(doc, 'head');
    if (openDuplicate(r, head, base))
      throw custom(doc, `A pull request already exists for ${r.owner}:${head}.`);
    if (head === base || (await git.ahead(r, baseSha, headSha)) === 0)
      throw custom(doc, `No commits between ${base} and ${head}`);
    const number = pullsOf(r).length + 1;
    const pull: Pull = {
      number,
      id: 500000 + pulls.length,
      owner: r.owner,
      repo: r.name,
      title,
      body: typeof body.body === 'string' ? body.body : null,
      head,
      base,
      draft: body.draft === true,
      state: 'open',
      html_url: `${webUrl}/${r.owner}/${r.name}/pull/${number}`,
      headSha,
      ...{ createdAt: now(), updatedAt: now(), closedAt: null },
      maintainerCanModify: body.maintainer_can_modify !== false,
      author,
      ...{ mergedAt: null, mergedBy: null, mergeCommitSha: null },
    };
    await git.setRef(r, `refs/pull/${number}/head`, headSha); // GitHub publishes refs/pull/N/head
    pulls.push(pull);
    return { status: 201, json: await pullJson(r, pull, true) };
  }

  async function updatePull(r: GitRepo, p: Pull, body: Json): Promise<Reply> {
    const doc = `${DOC_PULLS}#update-a-pull-request`;
    const types = { title: 'string', body: 'string|null', state: 'string', base: 'string' };
    checkTypes(body, { ...types, maintainer_can_modify: 'boolean' }, doc);
    const state = body.state as string | undefined;
    if (state !== undefined && state !== 'open' && state !== 'closed')
      throw fail(
        422,
        `Invalid request.\n\nFor 'state', ${JSON.stringify(state)} is not a member of ["open", "closed"].`,
        doc,
      );
    if (typeof body.title === 'string' && !body.title.trim())
      throw invalid(doc, { resource: 'PullRequest', code: 'missing_field', field: 'title' });
    const base = typeof body.base === 'string' ? body.base : p.base;
    const reopening = state === 'open' && p.state === 'closed';
    if (reopening && p.mergedAt !== null)
      throw custom(doc, 'state cannot be changed. The pull request cannot be reopened.', 'state');
    if (base !== p.base) {
      if (p.state === 'closed' && !reopening)
        throw custom(doc, 'Cannot change the base branch of a closed pull request.', 'base');
      if (!(await git.branchSha(r, base))) throw badField(doc, 'base');
    }
    if (reopening || base !== p.base) {
      if (!(await git.branchSha(r, p.head)))
        throw custom(doc, `state cannot be changed. The ${p.head} branch has been deleted.`, 'state');
      if (openDuplicate(r, p.head, base, p))
        throw custom(doc, `A pull request already exists for ${r.owner}:${p.head}.`);
    }
    if (typeof body.title === 'string') p.title = body.title;
    if (body.body !== undefined) p.body = body.body as string | null;
    if (typeof body.maintainer_can_modify === 'boolean') p.maintainerCanModify = body.maintainer_can_modify;
    p.base = base;
    if (state === 'closed' && p.state === 'open') p.closedAt = now();
    if (reopening) p.closedAt = null;
    if (state === 'open' || state === 'closed') p.state = state;
    p.updatedAt = now();
    return { status: 200, json: await pullJson(r, p, true) };
  }

  async function listPulls(r: GitRepo, url: URL, headers: Record<string, string>): Promise<Reply> {
    const q = url.searchParams;
    const state = q.get('state') ?? 'open';
    const error = { value: state, resource: 'PullRequest', field: 'state', code: 'invalid' };
    if (!['open', 'closed', 'all'].includes(state)) throw invalid(`${DOC_PULLS}#list-pull-requests`, error);
    let head = q.get('head');
    if (head !== null && !head.includes(':')) {
      problems.push(
        `GET pulls with head=${head}: no "owner:" prefix, so GitHub silently ignores this filter`,
      );
      head = null;
    }
    const [headOwner = '', headRef = ''] = head?.split(/:(.*)/s) ?? [];
    const base = q.get('base');
    const matches = pullsOf(r)
      .filter((p) => state === 'all' || p.state === state)
      .filter(
        (p) => head === null || (p.owner.toLowerCase() === headOwner.toLowerCase() && p.head === headRef),
      )
      .filter((p) => base === null || p.base === base)
      .sort((a, b) => (q.get('direction') === 'asc' ? a.number - b.number : b.number - a.number));
    const slice = page(matches, url, headers);
    return { status: 200, json: await Promise.all(slice.map((p) => pullJson(r, p, false))) };
  }

  // ---- REST routing -------------------------------------------------------------------------------
  const labelsByIssue = new Map<string, string[]>();

  const faults: Array<{ method: string; path: RegExp; status: number; message: string; times: number }> = [];

  async function route(
    req: IncomingMessage,
    url: URL,
    raw: string,
    headers: Record<string, string>,
    charge: { charged: boolean },
  ) {
    const method = req.method ?? 'GET';
    const fault = faults.find(
      (f) => f.method === method && f.path.test(url.pathname.slice('/api/v3'.length)),
    );
    if (!req.headers['user-agent'])
      throw fail(
        403,
        'Request forbidden by administrative rules. Please make sure your request has a User-Agent header.',
      );
    if (!req.headers.authorization) throw fail(401, 'Requires authentication');
    const cred = /^(?:token|bearer)\s+(\S+)$/i.exec(req.headers.authorization)?.[1];
    // App endpoints take only the app's JWT; everything else takes the token or an installation token.
    const appRoute = app?.isAppRoute(url.pathname.slice('/api/v3'.length)) === true;
    const installation = appRoute ? undefined : app?.installationToken(cred);
    if (appRoute) app?.verifyJwt(cred);
    else if (cred !== token && !installation) throw fail(401, 'Bad credentials');
    const version = req.headers['x-github-api-version'];
    if (version !== undefined && version !== API_VERSION)
      throw fail(400, `API version '${version}' is not supported.`);
    if (rateRemaining <= 0) throw fail(403, `API rate limit exceeded for user ID ${BOT.id}.`);
    if (url.pathname !== '/api/v3/rate_limit') {
      rateRemaining--; // GitHub does not count this one
      charge.charged = true;
    }
    if (fault) {
      if (--fault.times <= 0) faults.splice(faults.indexOf(fault), 1);
      throw fail(fault.status, fault.message);
    }
    let body: Json = {};
    if (raw.trim() !== '') {
      try {
        body = JSON.parse(raw);
      } catch {
        throw fail(400, 'Problems parsing JSON');
      }
      if (typeof body !== 'object' || body === null || Array.isArray(body))
        throw fail(400, 'Problems parsing JSON');
    }
    const segs = url.pathname.slice('/api/v3/'.length).split('/').map(decodeURIComponent);
    if (appRoute) return app?.route(method, segs, body, url, headers);
    if (method === 'GET' && url.pathname === '/api/v3/user') {
      const doc = `${DOCS}/users/users#get-the-authenticated-user`;
      if (installation) throw fail(403, 'Resource not accessible by integration', doc);
      return { status: 200, json: { ...BOT, name: 'Airlock Bot', html_url: `${webUrl}/airlock-bot` } };
    }
    if (method === 'GET' && url.pathname === '/api/v3/installation/repositories' && installation)
      return app?.tokenRepositories(installation, url, headers);
    if (method === 'GET' && url.pathname === '/api/v3/rate_limit') {
      const used = RATE_LIMIT - rateRemaining;
      const core = { limit: RATE_LIMIT, remaining: rateRemaining, reset: rateReset, used, resource: 'core' };
      return { status: 200, json: { resources: { core }, rate: core } };
    }
    if (method === 'GET' && segs[0] === 'users' && segs.length === 2) {
      const json = users.publicJson(segs[1] ?? '');
      if (!json) throw fail(404, 'Not Found', `${DOCS}/users/users#get-a-user`);
      return { status: 200, json };
    }
    if (segs[0] !== 'repos' || segs.length < 3) return undefined;
    const r = git.find(segs[1] ?? '', segs[2] ?? '');
    if (!r) throw fail(404, 'Not Found', `${DOCS}/repos/repos#get-a-repository`);
    // An installation token sees only its repositories, and needs the permission each endpoint names.
    const need = (permission: string, level: 'read' | 'write', doc: string) => {
      if (installation) app?.authorize(installation, r, { permission, level, doc }, headers);
    };
    need('metadata', 'read', `${DOCS}/repos/repos#get-a-repository`);
    const actor = installation && app ? app.bot : BOT;
    const ctx: RouteCtx = { method, r, segs: segs.slice(3), url, body, headers, need, actor };
    const routed =
      (await conversation.route(ctx)) ??
      (await checks.route(ctx)) ??
      (await branchRules.route(ctx, installation !== undefined));
    if (routed) return routed;
    const [what, ...rest] = segs.slice(3);
    if (method === 'GET' && what === undefined) return { status: 200, json: repoJson(r) };
    if (method === 'GET' && what === 'branches' && rest.length > 0) {
      const name = rest.join('/');
      need('contents', 'read', `${DOCS}/branches/branches#get-a-branch`);
      const sha = await git.branchSha(r, name);
      if (!sha) throw fail(404, 'Branch not found', `${DOCS}/branches/branches#get-a-branch`);
      const api = `${apiUrl}/repos/${r.owner}/${r.name}`;
      const commit = { sha, node_id: `C_${sha}`, url: `${api}/commits/${sha}` };
      const _links = { self: `${api}/branches/${name}`, html: `${webUrl}/${r.owner}/${r.name}/tree/${name}` };
      const protection_url = `${api}/branches/${name}/protection`;
      const protection = branchRules.branchProtection(r, name);
      const json = { name, commit, _links, protected: protection.enabled, protection, protection_url };
      return { status: 200, json };
    }
    if (what === 'issues' && rest.length === 2 && rest[1] === 'labels' && method === 'POST') {
      // Pull requests are issues: labels go through the Issues API and need issues: write.
      need('issues', 'write', `${DOCS}/issues/labels#add-labels-to-an-issue`);
      const p = pullsOf(r).find((x) => x.number === Number(rest[0]));
      if (!p) throw fail(404, 'Not Found', `${DOCS}/issues/labels#add-labels-to-an-issue`);
      const names = (body as { labels?: unknown } | undefined)?.labels;
      if (
        !Array.isArray(names) ||
        names.length === 0 ||
        !names.every((n) => typeof n === 'string' && n.length > 0)
      ) {
        throw fail(
          422,
          'Invalid request.\n\n"labels" must be a non-empty array of strings.',
          `${DOCS}/issues/labels#add-labels-to-an-issue`,
        );
      }
      const key = `${r.owner}/${r.name}#${p.number}`;
      const set = [...new Set([...(labelsByIssue.get(key) ?? []), ...(names as string[])])];
      labelsByIssue.set(key, set);
      return {
        status: 200,
        json: set.map((name, i) => ({
          id: i + 1,
          node_id: `LA_${i}`,
          name,
          color: 'ededed',
          default: false,
          description: null,
        })),
      };
    }
    if (what !== 'pulls' || rest.length > 1) return undefined;
    if (rest.length === 0) {
      if (method === 'GET') need('pull_requests', 'read', `${DOC_PULLS}#list-pull-requests`);
      if (method === 'GET') return listPulls(r, url, headers);
      if (method !== 'POST') return undefined;
      need('pull_requests', 'write', `${DOC_PULLS}#create-a-pull-request`);
      return createPull(r, body, actor);
    }
    if (!/^[1-9]\d*$/.test(rest[0] ?? '') || (method !== 'GET' && method !== 'PATCH')) return undefined;
    if (method === 'GET') need('pull_requests', 'read', `${DOC_PULLS}#get-a-pull-request`);
    else need('pull_requests', 'write', `${DOC_PULLS}#update-a-pull-request`);
    const p = pullsOf(r).find((x) => x.number === Number(rest[0]));
    if (!p) throw fail(404, 'Not Found', `${DOC_PULLS}#get-a-pull-request`);
    return method === 'GET' ? { status: 200, json: await pullJson(r, p, true) } : updatePull(r, p, body);
  }

  async function handleRest(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    raw: string,
  ): Promise<number> {
    const headers: Record<string, string> = {
      'content-type': 'application/json; charset=utf-8',
      'x-github-request-id': requestId(),
      'x-github-media-type': 'github.v3; format=json',
      'x-github-api-version-selected': API_VERSION,
    };
    let reply: Reply;
    const charge = { charged: false };
    try {
      const out = await route(req, url, raw, headers, charge);
      if (!out) {
        problems.push(`unexpected REST call ${req.method} ${url.pathname}${url.search}`);
        throw fail(404, 'Not Found');
      }
      reply = out;
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      reply = { status: err.status, json: err.body };
    }
    let text = reply.json === undefined ? '' : JSON.stringify(reply.json);
    if (req.method === 'GET' && reply.status === 200 && conditional.notModified(req, text, headers)) {
      if (charge.charged) rateRemaining++; // a 304 costs no rate limit
      reply = { status: 304, json: undefined };
      text = '';
    }
    if (reply.json === undefined) delete headers['content-type'];
    if (reply.status !== 401) {
      const rate = {
        limit: RATE_LIMIT,
        remaining: rateRemaining,
        reset: rateReset,
        used: RATE_LIMIT - rateRemaining,
      };
      for (const [k, v] of Object.entries(rate)) headers[`x-ratelimit-${k}`] = String(v);
      headers['x-ratelimit-resource'] = 'core';
    }
    res.writeHead(reply.status, headers);
    res.end(text);
    return reply.status;
  }

  // A push moves open pull requests (and refs/pull/N/head) along with their head branch; deleting
  // the head branch closes them, as on GitHub.
  async function onPush(r: GitRepo, updates: RefUpdate[]): Promise<void> {
    pushes.push({ owner: r.owner, repo: r.name, updates });
    await advancePulls(r, updates);
  }
  async function advancePulls(r: GitRepo, updates: RefUpdate[]): Promise<void> {
    for (const u of updates) {
      for (const p of pullsOf(r).filter((x) => x.state === 'open' && `refs/heads/${x.head}` === u.ref)) {
        if (/^0+$/.test(u.newSha)) {
          p.state = 'closed';
          p.closedAt = now();
        } else {
          p.headSha = u.newSha;
          await git.setRef(r, `refs/pull/${p.number}/head`, u.newSha);
        }
        p.updatedAt = now();
      }
    }
  }

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', webUrl);
    const entry: FakeGitHub['requests'][number] = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      status: 0,
    };
    if (req.headers.authorization !== undefined) entry.authorization = req.headers.authorization;
    requests.push(entry);
    if ((req.url ?? '').includes(token))
      problems.push(`token sent in the URL of ${req.method} ${url.pathname}`);
    const gitMatch = GIT_PATH.exec(url.pathname);
    let work: Promise<number> | undefined;
    if (url.pathname.startsWith('/api/v3/')) {
      work = readBody(req).then((raw) => {
        if (raw.length > 0) entry.body = parseOrRaw(raw);
        return handleRest(req, res, url, raw);
      });
    } else if (gitMatch) {
      const authorize = app ? (password: string) => app.gitGrant(password) : undefined;
      work = git.serve(req, res, url, gitMatch, { token, problems, onPush, authorize });
    } else if (url.pathname.startsWith('/_logs/')) {
      work = Promise.resolve(checks.serveLog(req, res, url)); // job log downloads (no authentication)
    }
    settle(work, {
      req,
      res,
      path: url.pathname,
      entry,
      problems,
      crash: { contentType: 'application/json; charset=utf-8', message: 'Server Error' },
    });
  });

  const standIn = registerStandIn({
    name: `github ${webUrl}`,
    problems,
    takeUnconsumed: () =>
      faults.splice(0).map((f) => `fault ${f.status} on ${f.method} ${f.path} (${f.times} left)`),
  });
  return {
    apiUrl,
    webUrl,
    token,
    gitUrl,
    barePath: (owner, name) => mustRepo(owner, name).barePath,
    pulls,
    requests,
    pushes,
    problems,
    takeProblems: standIn.takeProblems,
    refSha: (owner, name, ref) => git.refShaSync(mustRepo(owner, name), ref),
    tokenRequests: app?.tokenRequests ?? [],
    expireTokens: () => app?.expireTokens(),
    failNext: (fault) => faults.push({ times: 1, ...fault }),
    labels: (owner: string, repo: string, number: number) =>
      labelsByIssue.get(`${owner}/${repo}#${number}`) ?? [],
    conditional: () => conditional.snapshot(),
    addUser: (login, spec) => users.add(login, spec),
    addComment: (c) => conversation.addComment(c),
    editComment: (c) => conversation.editComment(c),
    addReviewComment: (c) => conversation.addReviewComment(c),
    addReview: (r) => conversation.addReview(r),
    addCheckRun: (c) => checks.addCheckRun(c),
    updateCheckRun: (c) => checks.updateCheckRun(c),
    expireLogLinks: () => checks.expireLogLinks(),
    merge: (m) => pullEvents.merge(m),
    closePull: (c) => pullEvents.closePull(c),
    pushOutside: (p) => pullEvents.pushOutside(p),
    requireStatusChecks: (spec) => branchRules.requireStatusChecks(spec),
    addRuleset: (spec) => branchRules.addRuleset(spec),
    statuses: (owner, repo, sha) => checks.statuses(owner, repo, sha),
    comments: (owner, repo, number) => conversation.comments(owner, repo, number),
    reviews: (owner, repo, number) => conversation.reviews(owner, repo, number),
    reviewComments: (owner, repo, number) => conversation.reviewComments(owner, repo, number),
    async close() {
      standIn.closed();
      await closeServer(server);
      await rm(root, { recursive: true, force: true });
    },
  };
}
