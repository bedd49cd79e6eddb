// External commit statuses in the GitLab stand-in, as Ci::CreateCommitStatusService keeps them: a job of
// the `external` stage in the newest pipeline of the commit (an `external` pipeline is made when there is
// none). A pending or running status of the same name, ref and user is updated in place, through
// CommitStatus's state machine (so pending→pending and running→running are 400s); a finished one is
// retried by a new status. GET .../repository/commits/:sha/statuses lists CI jobs and statuses alike.
import type { WatchContext } from './context.js';
import { isProtected } from './git.js';
import { branchesContaining, resolveCommit } from './git-write.js';
import { boolParam, GitLabError, type Json, paginate, paramError, stringParam } from './json.js';
import type { GitLabPipelines, Job } from './pipelines.js';
import type { Handler } from './rest.js';

const STATES = ['pending', 'running', 'success', 'failed', 'canceled', 'skipped'];
const CREATE_PARAMS = [
  'state',
  'ref',
  'target_url',
  'description',
  'name',
  'context',
  'coverage',
  'pipeline_id',
];
const LIST_PARAMS = ['ref', 'stage', 'name', 'pipeline_id', 'all', 'order_by', 'sort', 'page', 'per_page'];

// CommitStatus's state machine: which states each event leaves from.
const EVENTS: Record<string, { event: string; from: string[] }> = {
  pending: { event: 'enqueue', from: ['created', 'skipped', 'manual', 'scheduled'] },
  running: { event: 'run', from: ['pending'] },
  success: { event: 'success', from: ['created', 'waiting_for_resource', 'preparing', 'pending', 'running'] },
  failed: {
    event: 'drop',
    from: ['created', 'waiting_for_resource', 'preparing', 'pending', 'running', 'scheduled'],
  },
  canceled: {
    event: 'cancel',
    from: ['created', 'waiting_for_resource', 'preparing', 'pending', 'running', 'manual', 'scheduled'],
  },
  skipped: { event: 'skip', from: ['created', 'waiting_for_resource', 'preparing', 'pending'] },
};

/** The error StateMachines::InvalidTransition reports, or undefined when `from` may go to `state`. */
function refusal(from: string, state: string): string | undefined {
  const t = EVENTS[state];
  if (!t) return 'invalid state';
  if (t.from.includes(from)) return undefined;
  return `Cannot transition status via :${t.event} from :${from} (Reason(s): Status cannot transition via "${t.event}")`;
}

export class CommitStatuses {
  constructor(
    private readonly ctx: WatchContext,
    private readonly ci: GitLabPipelines,
  ) {}

  match(method: string, id: string, rest: string[]): Handler | undefined {
    if (method === 'POST' && rest.length === 2 && rest[0] === 'statuses')
      return async ({ params, url, authenticated }) => {
        if (!authenticated) throw new GitLabError(401, { message: '401 Unauthorized' });
        return this.create(id, rest[1] ?? '', params, url);
      };
    const [a, b, sha = '', d] = rest;
    if (method === 'GET' && rest.length === 4 && a === 'repository' && b === 'commits' && d === 'statuses')
      return async ({ params, url, headers, authenticated }) => {
        if (!authenticated) throw new GitLabError(401, { message: '401 Unauthorized' });
        this.ctx.flagUnknown(`GET ${url.pathname}`, params, LIST_PARAMS);
        if (params.pipeline_id !== undefined && !/^\d+$/.test(String(params.pipeline_id)))
          throw paramError('pipeline_id is invalid');
        const all = boolParam(params, 'all') ?? false;
        const orderBy = this.ctx.oneOf(params, 'order_by', ['id', 'pipeline_id'], 'id');
        const sort = this.ctx.oneOf(params, 'sort', ['asc', 'desc'], 'asc');
        const r = this.ctx.project(id, true);
        if (!(await resolveCommit(this.ctx.git, r, sha)))
          throw new GitLabError(404, { message: '404 Commit Not Found' });
        // Pipelines are matched on the :sha as given (a short SHA finds the commit but no pipeline).
        const list = this.ci.jobs
          .filter((j) => j.pipeline.projectId === r.id && j.pipeline.sha === sha)
          .filter((j) => params.pipeline_id === undefined || j.pipeline.id === Number(params.pipeline_id))
          .filter((j) => all || !j.retried)
          .filter((j) => !params.ref || j.pipeline.ref === params.ref)
          .filter((j) => !params.stage || j.stage === params.stage)
          .filter((j) => !params.name || j.name === params.name)
          .sort((x, y) => {
            const c = orderBy === 'pipeline_id' ? x.pipeline.id - y.pipeline.id || x.id - y.id : x.id - y.id;
            return sort === 'asc' ? c : -c;
          });
        return { status: 200, json: paginate(list, url, headers).map((j) => this.json(j)) };
      };
    return undefined;
  }

  private async create(id: string, shaParam: string, params: Json, url: URL) {
    this.ctx.flagUnknown(`POST ${url.pathname}`, params, CREATE_PARAMS);
    const state = this.ctx.oneOf(params, 'state', STATES);
    for (const k of ['ref', 'target_url', 'description', 'name', 'context']) stringParam(params, k);
    if (params.coverage !== undefined && !Number.isFinite(Number(params.coverage)))
      throw paramError('coverage is invalid');
    if (params.pipeline_id !== undefined && !/^\d+$/.test(String(params.pipeline_id)))
      throw paramError('pipeline_id is invalid');
    const r = this.ctx.project(id, true);
    const sha = await resolveCommit(this.ctx.git, r, shaParam);
    if (!sha) throw new GitLabError(404, { message: '404 Commit Not Found' });
    const pipelineId = params.pipeline_id === undefined ? undefined : Number(params.pipeline_id);
    const matching = (ref?: string) =>
      this.ci.pipelines
        .filter((p) => p.projectId === r.id && p.sha === sha)
        .filter((p) => ref === undefined || p.ref === ref)
        .filter((p) => pipelineId === undefined || p.id === pipelineId)
        .sort((a, b) => b.id - a.id)[0];
    const first = matching(params.ref);
    const ref: string | undefined =
      params.ref || first?.ref || (await branchesContaining(this.ctx.git, r, sha))[0];
    if (!ref) throw new GitLabError(404, { message: '404 References for commit Not Found' });
    if (pipelineId !== undefined && !first)
      throw new GitLabError(404, { message: '404 Pipeline for pipeline_id, sha and ref Not Found' });
    // A Developer may not update a pipeline of a protected ref (the token's user is a Developer).
    if (isProtected(r, ref)) throw new GitLabError(403, { message: '403 Forbidden' });
    const bot = this.ctx.users.bot;
    const pipeline = first ?? (await this.ci.add(r, { sha, ref, source: 'external', userId: bot.id }));
    const name: string = params.name ?? params.context ?? 'default'; // Ruby's ||: '' is a name
    if (!name.trim()) throw new GitLabError(400, { message: { name: ["can't be blank"] } });
    if (this.ci.jobs.some((j) => j.pipeline === pipeline && j.kind === 'build' && j.name === name))
      throw new GitLabError(400, { message: { name: ['has already been taken'] } });
    const existing = this.ci.jobs.find(
      (j) =>
        j.pipeline === pipeline &&
        j.kind === 'external' &&
        j.name === name &&
        j.userId === bot.id &&
        (j.status === 'pending' || j.status === 'running'),
    );
    const targetUrl = params.target_url ?? existing?.targetUrl ?? null;
    const urlError = targetUrl === null ? undefined : this.targetUrlError(targetUrl);
    if (urlError) throw new GitLabError(400, { message: { target_url: [urlError] } });
    // `running` first enqueues quietly (created → pending), then runs; a refusal changes nothing.
    let from = existing?.status ?? 'created';
    if (state === 'running' && EVENTS.pending?.from.includes(from)) from = 'pending';
    const refused = refusal(from, state);
    if (refused) throw new GitLabError(400, { message: refused });
    const job =
      existing ?? this.ci.newJob(pipeline, { kind: 'external', name, stage: 'external', userId: bot.id });
    job.targetUrl = targetUrl;
    if (params.description !== undefined) job.description = params.description;
    if (params.coverage !== undefined) job.coverage = Number(params.coverage);
    if (from !== job.status) this.ci.setJobStatus(job, from);
    this.ci.setJobStatus(job, state, 'api_failure');
    // update_older_statuses_retried!: a status of this name made before it no longer counts.
    for (const j of this.ci.jobs)
      if (j !== job && j.pipeline === pipeline && j.name === name && j.id < job.id) j.retried = true;
    this.ci.refresh(pipeline, true);
    return { status: 201, json: this.json(job) };
  }

  /** GenericCommitStatus: `target_url, addressable_url: true, length: { maximum: 255 }`. */
  private targetUrlError(value: string): string | undefined {
    if (value.length > 255) return 'is too long (maximum is 255 characters)';
    let u: URL;
    try {
      u = new URL(value);
    } catch {
      return 'is blocked: Only allowed schemes are http, https';
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      return 'is blocked: Only allowed schemes are http, https';
    return undefined;
  }

  /** Entities::CommitStatus. */
  json(j: Job): Json {
    return {
      ...{ id: j.id, sha: j.pipeline.sha, ref: j.pipeline.ref, status: j.status, name: j.name },
      ...{ target_url: j.targetUrl, description: j.description, created_at: j.createdAt },
      ...{ started_at: j.startedAt, finished_at: j.finishedAt, allow_failure: j.allowFailure },
      ...{ coverage: j.coverage, pipeline_id: j.pipeline.id },
      author: this.ctx.users.basic(this.ctx.users.byId(j.userId)),
    };
  }
}
