// Commit statuses, check runs and GitHub Actions job logs on the GitHub stand-in: the REST endpoints a
// client polls and posts to, and test hooks that play CI.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type GitRepo, type GitRepos, runGit } from './git-http-backend.js';
import type { PullView } from './github-conversation.js';
import {
  checkTypes,
  DOCS,
  enumParam,
  type Fail,
  isoSeconds,
  type Json,
  onlyParams,
  page,
  type Reply,
  type RouteCtx,
  type Users,
} from './github-listing.js';

export type CheckStatus = 'queued' | 'in_progress' | 'completed';
export type CheckConclusion =
  | 'success'
  | 'failure'
  | 'neutral'
  | 'cancelled'
  | 'skipped'
  | 'timed_out'
  | 'action_required';
export interface CheckOutput {
  title: string;
  summary: string;
  text?: string | null;
}
export interface CheckRunSpec {
  owner: string;
  repo: string;
  sha: string;
  name: string;
  status?: CheckStatus;
  conclusion?: CheckConclusion | null;
  /** The job's log: GET /actions/jobs/{id}/logs serves it (a GitHub Actions check run id is its job id). */
  log?: string;
  output?: CheckOutput;
  externalId?: string;
}

interface Status {
  id: number;
  repoId: number;
  sha: string;
  state: string;
  description: string | null;
  targetUrl: string | null;
  context: string;
  createdAt: string;
  login: string;
}
interface CheckRun {
  id: number;
  repoId: number;
  sha: string;
  name: string;
  status: CheckStatus;
  conclusion: CheckConclusion | null;
  startedAt: string;
  completedAt: string | null;
  output: { title: string | null; summary: string | null; text: string | null };
  log?: string;
  suiteId: number;
  externalId: string;
}

const DOC_STATUSES = `${DOCS}/commits/statuses`;
const DOC_CHECKS = `${DOCS}/checks/runs`;
const DOC_JOB_LOGS = `${DOCS}/actions/workflow-jobs#download-job-logs-for-a-workflow-run`;
const STATES = ['error', 'failure', 'pending', 'success'];
const CHECK_STATUSES: CheckStatus[] = ['queued', 'in_progress', 'completed'];
const CONCLUSIONS = ['success', 'failure', 'neutral', 'cancelled', 'skipped', 'timed_out', 'action_required'];
const MAX_DESCRIPTION = 140;
const MAX_PER_CONTEXT = 1000;
const LOG_LINK_TTL_MS = 60_000; // GitHub: "This link expires after 1 minute."
const ACTIONS_APP_ID = 15368;

export class Checks {
  private readonly statusList: Status[] = [];
  private readonly runs: CheckRun[] = [];
  private readonly suites = new Map<string, number>();
  private readonly logLinks = new Map<string, { log: string; expiresAt: number }>();
  private nextId = { status: 31_000_000_001, run: 41_000_000_001, suite: 51_000_000_001 };

  constructor(
    private readonly deps: {
      fail: Fail;
      users: Users;
      apiUrl: string;
      webUrl: string;
      git: GitRepos;
      problems: string[];
      repoJson(r: GitRepo): Json;
      pullsOf(r: GitRepo): Array<PullView & { id: number; state: string }>;
      mustRepo(owner: string, name: string): GitRepo;
    },
  ) {}

  /** The commit `ref` (a full SHA, a branch or a tag) names, or undefined. */
  private async commit(r: GitRepo, ref: string): Promise<string | undefined> {
    const candidates = /^[0-9a-f]{40}$/.test(ref) ? [ref] : [`refs/heads/${ref}`, `refs/tags/${ref}`];
    for (const c of candidates) {
      try {
        const out = await runGit(['rev-parse', '--verify', '--quiet', `${c}^{commit}`], {
          cwd: r.barePath,
          env: this.deps.git.env,
        });
        if (out.trim()) return out.trim();
      } catch {
        // not this one
      }
    }
    return undefined;
  }

  private async mustCommit(r: GitRepo, ref: string, doc: string): Promise<string> {
    const sha = await this.commit(r, ref);
    if (!sha) throw this.deps.fail(422, `No commit found for SHA: ${ref}`, doc);
    return sha;
  }

  // ---- JSON renderings ------------------------------------------------------------------------------
  private api(r: GitRepo): string {
    return `${this.deps.apiUrl}/repos/${r.owner}/${r.name}`;
  }

  private statusJson(r: GitRepo, s: Status, withCreator = true): Json {
    const creator = this.deps.users.json(s.login);
    return {
      url: `${this.api(r)}/statuses/${s.sha}`,
      avatar_url: creator.avatar_url,
      id: s.id,
      node_id: `SC_${s.id}`,
      state: s.state,
      description: s.description,
      target_url: s.targetUrl,
      context: s.context,
      ...{ created_at: s.createdAt, updated_at: s.createdAt },
      ...(withCreator ? { creator } : {}),
    };
  }

  private async checkRunJson(r: GitRepo, c: CheckRun): Promise<Json> {
    const api = this.api(r);
    const { webUrl } = this.deps;
    const htmlUrl = `${webUrl}/${r.owner}/${r.name}/actions/runs/${c.suiteId}/job/${c.id}`;
    const repoRef = { id: r.id, url: api, name: r.name };
    const pulls = this.deps.pullsOf(r).filter((p) => p.state === 'open' && p.headSha === c.sha);
    const pullRequests = await Promise.all(
      pulls.map(async (p) => ({
        id: p.id,
        number: p.number,
        url: `${api}/pulls/${p.number}`,
        head: { ref: p.head, sha: p.headSha, repo: repoRef },
        base: { ref: p.base, sha: (await this.deps.git.branchSha(r, p.base)) ?? '', repo: repoRef },
      })),
    );
    return {
      id: c.id,
      head_sha: c.sha,
      node_id: `CR_${c.id}`,
      external_id: c.externalId,
      url: `${api}/check-runs/${c.id}`,
      html_url: htmlUrl,
      details_url: htmlUrl,
      status: c.status,
      conclusion: c.conclusion,
      ...{ started_at: c.startedAt, completed_at: c.completedAt },
      output: { ...c.output, annotations_count: 0, annotations_url: `${api}/check-runs/${c.id}/annotations` },
      name: c.name,
      check_suite: { id: c.suiteId },
      app: {
        id: ACTIONS_APP_ID,
        slug: 'github-actions',
        node_id: 'MDM6QXBwMTUzNjg=',
        owner: { login: 'github', id: 9919, node_id: 'MDEyOk9yZ2FuaXphdGlvbjk5MTk=', type: 'Organization' },
        name: 'GitHub Actions',
        description: 'Automate your workflow from idea to production',
        external_url: 'https://help.github.com/en/actions',
        html_url: `${webUrl}/apps/github-actions`,
        ...{ created_at: '2018-07-30T09:30:17Z', updated_at: '2019-12-10T19:04:12Z' },
      },
      pull_requests: pullRequests,
    };
  }

  // ---- REST ---------------------------------------------------------------------------------------
  async route(ctx: RouteCtx): Promise<Reply | undefined> {
    const { method, segs } = ctx;
    const [what, a, ...rest] = segs;
    if (what === 'statuses' && a !== undefined && rest.length === 0 && method === 'POST')
      return this.createStatus(ctx, a);
    if (what === 'commits' && method === 'GET' && a !== undefined && rest.length > 0) {
      // {ref} may hold slashes (a branch), sent encoded or not
      const tail = rest.at(-1);
      const ref = [a, ...rest.slice(0, -1)].join('/');
      if (tail === 'status') return this.combined(ctx, ref);
      if (tail === 'statuses') return this.listStatuses(ctx, ref);
      if (tail === 'check-runs') return this.listCheckRuns(ctx, ref);
      return undefined;
    }
    if (what === 'actions' && a === 'jobs' && rest.length === 2 && rest[1] === 'logs' && method === 'GET')
      return this.jobLogs(ctx, rest[0] ?? '');
    return undefined;
  }

  private async createStatus(ctx: RouteCtx, sha: string): Promise<Reply> {
    const { fail } = this.deps;
    const doc = `${DOC_STATUSES}#create-a-commit-status`;
    ctx.need('statuses', 'write', doc);
    const { body, r } = ctx;
    checkTypes(fail, body, { state: 'string', target_url: 'string|null', description: 'string|null' }, doc);
    checkTypes(fail, body, { context: 'string' }, doc);
    const invalid = (field: string, message: string) =>
      fail(422, 'Validation Failed', doc, {
        errors: [{ resource: 'Status', code: 'custom', field, message }],
      });
    if (!STATES.includes(String(body.state))) throw invalid('state', 'state is not included in the list');
    const description = (body.description as string | null | undefined) ?? null;
    if (description !== null && description.length > MAX_DESCRIPTION)
      throw invalid('description', `description is too long (maximum is ${MAX_DESCRIPTION} characters)`);
    const commit = /^[0-9a-f]{40}$/.test(sha) ? await this.commit(r, sha) : undefined;
    if (!commit) throw fail(422, `No commit found for SHA: ${sha}`, doc);
    const context = (body.context as string | undefined) ?? 'default';
    const same = this.statusList.filter(
      (s) => s.repoId === r.id && s.sha === commit && s.context.toLowerCase() === context.toLowerCase(),
    );
    if (same.length >= MAX_PER_CONTEXT)
      throw invalid('context', 'This SHA and context has reached the maximum number of statuses.');
    const status: Status = {
      id: this.nextId.status++,
      ...{ repoId: r.id, sha: commit, state: String(body.state), description },
      targetUrl: (body.target_url as string | null | undefined) ?? null,
      ...{ context, createdAt: isoSeconds(), login: String(ctx.actor.login) },
    };
    this.statusList.push(status);
    ctx.headers.location = `${this.api(r)}/statuses/${commit}`;
    return { status: 201, json: this.statusJson(r, status) };
  }

  /** Statuses of `sha`, newest first. */
  private statusesOf(r: GitRepo, sha: string): Status[] {
    return this.statusList.filter((s) => s.repoId === r.id && s.sha === sha).reverse();
  }

  private async combined(ctx: RouteCtx, ref: string): Promise<Reply> {
    const doc = `${DOC_STATUSES}#get-the-combined-status-for-a-specific-reference`;
    ctx.need('statuses', 'read', doc);
    onlyParams(ctx.url, [], this.deps.problems);
    const { r } = ctx;
    const sha = await this.mustCommit(r, ref, doc);
    const latest = new Map<string, Status>(); // per context, case-insensitively
    for (const s of this.statusesOf(r, sha))
      if (!latest.has(s.context.toLowerCase())) latest.set(s.context.toLowerCase(), s);
    const all = [...latest.values()].sort((x, y) => x.id - y.id);
    const states = all.map((s) => s.state);
    const state = states.some((s) => s === 'error' || s === 'failure')
      ? 'failure'
      : states.length === 0 || states.includes('pending')
        ? 'pending'
        : 'success';
    const statuses = page(all, ctx.url, ctx.headers).map((s) => this.statusJson(r, s, false));
    const api = this.api(r);
    return {
      status: 200,
      json: {
        ...{ state, statuses, sha, total_count: all.length, repository: this.deps.repoJson(r) },
        ...{ commit_url: `${api}/commits/${sha}`, url: `${api}/commits/${sha}/status` },
      },
    };
  }

  private async listStatuses(ctx: RouteCtx, ref: string): Promise<Reply> {
    const doc = `${DOC_STATUSES}#list-commit-statuses-for-a-reference`;
    ctx.need('statuses', 'read', doc);
    onlyParams(ctx.url, [], this.deps.problems);
    const sha = await this.mustCommit(ctx.r, ref, doc);
    const all = this.statusesOf(ctx.r, sha);
    return { status: 200, json: page(all, ctx.url, ctx.headers).map((s) => this.statusJson(ctx.r, s)) };
  }

  private async listCheckRuns(ctx: RouteCtx, ref: string): Promise<Reply> {
    const doc = `${DOC_CHECKS}#list-check-runs-for-a-git-reference`;
    ctx.need('checks', 'read', doc);
    const { url, r } = ctx;
    const { problems } = this.deps;
    onlyParams(url, ['check_name', 'status', 'filter', 'app_id'], problems);
    const sha = await this.mustCommit(r, ref, doc);
    const name = url.searchParams.get('check_name');
    const status = enumParam(url, 'status', CHECK_STATUSES, problems);
    const filter = enumParam(url, 'filter', ['latest', 'all'], problems) ?? 'latest';
    const appId = url.searchParams.get('app_id');
    // newest first; `latest` keeps each name's most recent run (a re-run supersedes), then the filters
    const onSha = this.runs.filter((c) => c.repoId === r.id && c.sha === sha).sort((x, y) => y.id - x.id);
    const runs = onSha
      .filter((c, i) => filter === 'all' || onSha.findIndex((o) => o.name === c.name) === i)
      .filter((c) => name === null || c.name === name)
      .filter((c) => status === undefined || c.status === status)
      .filter(() => appId === null || Number(appId) === ACTIONS_APP_ID);
    const shown = page(runs, url, ctx.headers);
    const checkRuns = await Promise.all(shown.map((c) => this.checkRunJson(r, c)));
    return { status: 200, json: { total_count: runs.length, check_runs: checkRuns } };
  }

  private jobLogs(ctx: RouteCtx, jobId: string): Reply {
    ctx.need('actions', 'read', DOC_JOB_LOGS);
    onlyParams(ctx.url, [], this.deps.problems);
    const run = this.runs.find((c) => c.repoId === ctx.r.id && String(c.id) === jobId);
    if (run?.log === undefined) throw this.deps.fail(404, 'Not Found', DOC_JOB_LOGS);
    const token = randomBytes(24).toString('base64url');
    const expiresAt = Date.now() + LOG_LINK_TTL_MS;
    this.logLinks.set(token, { log: run.log, expiresAt });
    const expires = encodeURIComponent(new Date(expiresAt).toISOString());
    ctx.headers.location = `${this.deps.webUrl}/_logs/${token}?urlExpires=${expires}`;
    return { status: 302, json: undefined };
  }

  /** A download link (outside /api/v3, no authentication): the log, until the link expires. */
  serveLog(req: IncomingMessage, res: ServerResponse, url: URL): number {
    req.resume();
    const link = this.logLinks.get(url.pathname.slice('/_logs/'.length));
    const xml = (code: string, message: string) =>
      `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res
        .writeHead(405, { 'content-type': 'application/xml' })
        .end(xml('UnsupportedHttpVerb', req.method ?? ''));
      return 405;
    }
    if (!link) {
      res.writeHead(404, { 'content-type': 'application/xml' });
      res.end(xml('BlobNotFound', 'The specified blob does not exist.'));
      return 404;
    }
    if (Date.now() >= link.expiresAt) {
      res.writeHead(403, { 'content-type': 'application/xml' });
      res.end(xml('AuthenticationFailed', 'Signed expiry time has passed: the link expired after 1 minute.'));
      return 403;
    }
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(req.method === 'HEAD' ? undefined : link.log);
    return 200;
  }

  // ---- test hooks (CI's side) -------------------------------------------------------------------------
  /** A GitHub Actions job reports a check run on `sha`; returns its id (which is also its job id). */
  async addCheckRun(spec: CheckRunSpec): Promise<number> {
    const r = this.deps.mustRepo(spec.owner, spec.repo);
    const sha = /^[0-9a-f]{40}$/.test(spec.sha) ? await this.commit(r, spec.sha) : undefined;
    if (!sha) throw new Error(`GitHub: No commit found for SHA: ${spec.sha}`);
    if (!spec.name.trim()) throw new Error('GitHub refuses a check run without a name');
    const suiteKey = `${r.id}:${sha}`;
    const suiteId = this.suites.get(suiteKey) ?? this.nextId.suite++;
    this.suites.set(suiteKey, suiteId);
    const run: CheckRun = {
      id: this.nextId.run++,
      ...{ repoId: r.id, sha, name: spec.name, status: 'queued', conclusion: null },
      ...{ startedAt: isoSeconds(), completedAt: null, suiteId, externalId: spec.externalId ?? '' },
      output: { title: null, summary: null, text: null },
    };
    this.apply(run, spec);
    this.runs.push(run);
    return run.id;
  }

  /** The job moves on: a new status, conclusion, output or log. */
  updateCheckRun(
    u: Omit<Partial<CheckRunSpec>, 'sha' | 'name'> & { owner: string; repo: string; id: number },
  ) {
    const r = this.deps.mustRepo(u.owner, u.repo);
    const run = this.runs.find((c) => c.repoId === r.id && c.id === u.id);
    if (!run) throw new Error(`no check run ${u.id} in ${u.owner}/${u.repo}`);
    this.apply(run, u);
  }

  private apply(run: CheckRun, spec: Omit<Partial<CheckRunSpec>, 'sha' | 'name'>): void {
    const { conclusion } = spec;
    if (conclusion && !CONCLUSIONS.includes(conclusion)) throw new Error(`no conclusion ${conclusion}`);
    if (spec.status && !CHECK_STATUSES.includes(spec.status))
      throw new Error(`no check status ${spec.status}`);
    // GitHub: providing a conclusion sets the status to completed; completed needs a conclusion.
    if (conclusion && spec.status && spec.status !== 'completed')
      throw new Error(`a check run with conclusion ${conclusion} is completed, not ${spec.status}`);
    const status = conclusion ? 'completed' : (spec.status ?? run.status);
    if (status === 'completed' && !(conclusion ?? run.conclusion))
      throw new Error('GitHub refuses a completed check run without a conclusion');
    if (spec.output && (!spec.output.title || !spec.output.summary))
      throw new Error('GitHub refuses a check run output without a title and a summary');
    if (run.status === 'completed' && status !== 'completed')
      throw new Error('a completed check run does not go back (GitHub re-runs make new check runs)');
    if (status === 'completed' && run.completedAt === null) run.completedAt = isoSeconds();
    run.status = status;
    run.conclusion = conclusion ?? run.conclusion;
    if (spec.output)
      run.output = { title: spec.output.title, summary: spec.output.summary, text: spec.output.text ?? null };
    if (spec.log !== undefined) run.log = spec.log;
  }

  /** Test hook: every log download link handed out so far has expired. */
  expireLogLinks(): void {
    for (const link of this.logLinks.values()) link.expiresAt = 0;
  }

  /** Statuses posted to `sha`, in creation order. */
  statuses(owner: string, repo: string, sha: string): Json[] {
    const r = this.deps.mustRepo(owner, repo);
    return this.statusList
      .filter((s) => s.repoId === r.id && s.sha === sha)
      .map((s) => this.statusJson(r, s));
  }
}
