// CI of the GitLab stand-in: pipelines a test adds, their jobs and logs, and GitLab's derived state (a
// pipeline's composite status, a merge request's pipelines and head pipeline). Commit statuses are jobs of
// the `external` stage in the same tables (see statuses.ts). Entities::Ci::PipelineBasic / ::Pipeline / ::Job.
import type { WatchContext } from './context.js';
import type { GitLabRepo } from './git.js';
import { resolveCommit, revList } from './git-write.js';
import { boolParam, GitLabError, type Json, type MergeRequest, paginate, paramError } from './json.js';
import type { Handler } from './rest.js';

export const JOB_STATUSES = [
  ...['created', 'waiting_for_resource', 'preparing', 'waiting_for_callback', 'pending', 'running'],
  ...['success', 'failed', 'canceling', 'canceled', 'skipped', 'manual', 'scheduled'],
];
const DONE = ['success', 'failed', 'canceled', 'skipped'];
const FINISHED = ['success', 'failed', 'canceled'];

export interface Pipeline {
  id: number;
  iid: number;
  projectId: number;
  sha: string;
  ref: string;
  source: string;
  status: string;
  /** A status the test set; GitLab's composite of the jobs takes over when a commit status arrives. */
  pinned: boolean;
  userId: number;
  createdAt: string;
  updatedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}
export interface Job {
  id: number;
  pipeline: Pipeline;
  kind: 'build' | 'external';
  name: string;
  stage: string;
  status: string;
  allowFailure: boolean;
  trace: string | null;
  userId: number;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  failureReason: string | null;
  targetUrl: string | null;
  description: string | null;
  coverage: number | null;
  retried: boolean;
}
export interface JobSpec {
  name: string;
  status: string;
  stage?: string;
  trace?: string;
  allowFailure?: boolean;
}

/** Gitlab::Ci::Status::Composite over the latest jobs; an optional job failed, canceled or waiting for a
 * manual start is ignored. */
export function compositeStatus(jobs: Array<Pick<Job, 'status' | 'allowFailure'>>): string | undefined {
  if (jobs.length === 0) return undefined;
  const ignored = (j: Pick<Job, 'status' | 'allowFailure'>) =>
    j.allowFailure && ['failed', 'canceled', 'manual'].includes(j.status);
  const set = new Set(jobs.map((j) => (ignored(j) ? 'ignored' : j.status)));
  const only = (...s: string[]) => [...set].every((x) => s.includes(x));
  const any = (...s: string[]) => s.some((x) => set.has(x));
  if (only('skipped', 'ignored')) return 'skipped';
  if (only('success', 'skipped', 'ignored')) return 'success';
  if (only('created', 'ignored')) return 'created';
  if (only('preparing', 'ignored')) return 'preparing';
  if (only('canceled', 'success', 'skipped', 'ignored')) return 'canceled';
  if (only('pending', 'created', 'skipped', 'ignored')) return 'pending';
  if (any('running', 'pending')) return 'running';
  if (any('waiting_for_resource')) return 'waiting_for_resource';
  if (any('manual')) return 'manual';
  if (any('scheduled')) return 'scheduled';
  if (any('preparing')) return 'preparing';
  if (any('created')) return 'running';
  return 'failed';
}

const LABELS: Record<string, [string, string]> = {
  success: ['Passed', 'passed'],
  failed: ['Failed', 'failed'],
  running: ['Running', 'running'],
  pending: ['Pending', 'pending'],
  canceled: ['Canceled', 'canceled'],
  skipped: ['Skipped', 'skipped'],
  created: ['Created', 'created'],
  manual: ['Manual', 'manual action'],
};

export class GitLabPipelines {
  readonly pipelines: Pipeline[] = [];
  readonly jobs: Job[] = [];

  constructor(private readonly ctx: WatchContext) {}

  /** MR pipelines, pipeline jobs, job logs. */
  match(method: string, id: string, rest: string[]): Handler | undefined {
    if (method !== 'GET' || rest.length !== 3) return undefined;
    const [what, key = '', sub] = rest;
    if (what === 'merge_requests' && sub === 'pipelines')
      return async ({ url, headers, authenticated }) => {
        const r = this.ctx.project(id, authenticated);
        const mr = this.ctx.mergeRequest(r, key);
        const list = await this.forMergeRequest(r, mr);
        return { status: 200, json: paginate(list, url, headers).map((p) => this.basic(p)) };
      };
    if (what === 'pipelines' && sub === 'jobs')
      return async ({ params, url, headers, authenticated }) => {
        if (!/^\d+$/.test(key)) throw paramError('pipeline_id is invalid');
        const scope = params.scope === undefined ? undefined : [params.scope].flat();
        if (scope?.some((s) => !JOB_STATUSES.includes(s)))
          throw paramError('scope does not have a valid value');
        const retried = boolParam(params, 'include_retried') ?? false;
        this.ctx.flagUnknown(`GET ${url.pathname}`, params, ['scope', 'include_retried', 'page', 'per_page']);
        const r = this.ctx.project(id, authenticated);
        const p = this.pipelines.find((x) => x.projectId === r.id && x.id === Number(key));
        if (!p) throw new GitLabError(404, { message: '404 Not found' });
        const jobs = this.jobs
          .filter((j) => j.pipeline === p && j.kind === 'build' && (retried || !j.retried))
          .filter((j) => !scope || scope.includes(j.status));
        const page = paginate(jobs, url, headers);
        return { status: 200, json: await Promise.all(page.map((j) => this.jobJson(r, j))) };
      };
    if (what === 'jobs' && sub === 'trace')
      return async ({ headers, authenticated }) => {
        if (!authenticated) throw new GitLabError(401, { message: '401 Unauthorized' });
        if (!/^\d+$/.test(key)) throw paramError('job_id is invalid');
        const r = this.ctx.project(id, true);
        const job = this.jobs.find((j) => j.pipeline.projectId === r.id && j.id === Number(key));
        if (job?.kind !== 'build') throw new GitLabError(404, { message: '404 Not found' });
        headers['content-type'] = 'text/plain';
        headers['content-disposition'] = `infile; filename="${job.id}.log"`;
        return { status: 200, json: null, raw: job.trace ?? '' }; // no log yet: an empty 200
      };
    return undefined;
  }

  async add(
    r: GitLabRepo,
    spec: { sha: string; ref: string; status?: string; source?: string; jobs?: JobSpec[]; userId: number },
  ): Promise<Pipeline> {
    const sha = await resolveCommit(this.ctx.git, r, spec.sha);
    if (!sha || sha !== spec.sha) throw new Error(`no commit ${spec.sha} in ${r.path} (give the full SHA)`);
    for (const s of [spec.status, ...(spec.jobs ?? []).map((j) => j.status)])
      if (s !== undefined && !JOB_STATUSES.includes(s)) throw new Error(`not a GitLab CI status: ${s}`);
    const at = this.ctx.now();
    const p: Pipeline = {
      ...{ id: this.ctx.nextId('pipeline'), iid: this.ctx.nextId(`pipeline-iid-${r.id}`), projectId: r.id },
      ...{ sha, ref: spec.ref, source: spec.source ?? 'push', status: spec.status ?? 'created' },
      ...{ pinned: spec.status !== undefined, userId: spec.userId, createdAt: at, updatedAt: at },
      ...{ startedAt: null, finishedAt: null },
    };
    this.pipelines.push(p);
    for (const j of spec.jobs ?? []) {
      const job = this.newJob(p, { kind: 'build', name: j.name, stage: j.stage ?? 'test', userId: p.userId });
      job.allowFailure = j.allowFailure ?? j.status === 'manual';
      job.trace = j.trace ?? null;
      this.setJobStatus(job, j.status);
    }
    this.refresh(p);
    return p;
  }

  newJob(p: Pipeline, j: Pick<Job, 'kind' | 'name' | 'stage' | 'userId'>): Job {
    const job: Job = {
      ...{ id: this.ctx.nextId('job'), pipeline: p, ...j, status: 'created', allowFailure: false },
      ...{ trace: null, createdAt: this.ctx.now(), startedAt: null, finishedAt: null, failureReason: null },
      ...{ targetUrl: null, description: null, coverage: null, retried: false },
    };
    this.jobs.push(job);
    return job;
  }

  /** The timestamps and failure reason GitLab's state machine sets on the way to `status`. */
  setJobStatus(job: Job, status: string, failureReason = 'script_failure'): void {
    const at = this.ctx.now();
    if (status === 'running' || FINISHED.includes(status)) job.startedAt ??= at;
    if (FINISHED.includes(status)) job.finishedAt = at;
    job.failureReason = status === 'failed' ? failureReason : null;
    job.status = status;
  }

  /** The pipeline's status, timestamps and updated_at after one of its jobs changed. */
  refresh(p: Pipeline, unpin = false): void {
    if (unpin) p.pinned = false;
    const latest = this.jobs.filter((j) => j.pipeline === p && !j.retried);
    if (!p.pinned) p.status = compositeStatus(latest) ?? p.status;
    const at = this.ctx.now();
    if (p.status !== 'created' && p.status !== 'pending') p.startedAt ??= at;
    p.finishedAt = DONE.includes(p.status) ? (p.finishedAt ?? at) : null;
    p.updatedAt = at;
  }

  /** MergeRequest#all_pipelines: the source branch's pipelines at any commit of any diff version. */
  async forMergeRequest(r: GitLabRepo, mr: MergeRequest): Promise<Pipeline[]> {
    await this.recordHead(r, mr, mr.sha);
    const shas = this.ctx.extra(mr).commitShas;
    return this.pipelines
      .filter((p) => p.projectId === r.id && p.ref === mr.source_branch && shas.has(p.sha))
      .sort((a, b) => b.id - a.id);
  }

  /** The commits of a diff version with head `sha` (rev-list from its target branch). */
  async recordHead(r: GitLabRepo, mr: MergeRequest, sha: string): Promise<void> {
    const extra = this.ctx.extra(mr);
    if (/^0+$/.test(sha) || extra.heads.has(sha)) return;
    extra.heads.add(sha);
    const target = mr.state === 'merged' ? undefined : `refs/heads/${mr.target_branch}`;
    for (const c of await revList(this.ctx.git, r, sha, target).catch(() => [sha])) extra.commitShas.add(c);
    extra.commitShas.add(sha);
  }

  /** head_pipeline: the newest pipeline of the source branch at the merge request's head. */
  head(r: GitLabRepo, mr: MergeRequest): Pipeline | undefined {
    return this.pipelines
      .filter((p) => p.projectId === r.id && p.ref === mr.source_branch && p.sha === mr.sha)
      .sort((a, b) => b.id - a.id)[0];
  }

  /** Entities::Ci::PipelineBasic. */
  basic(p: Pipeline): Json {
    const path = this.ctx.git.all.find((x) => x.id === p.projectId)?.path;
    return {
      ...{ id: p.id, iid: p.iid, project_id: p.projectId, sha: p.sha, ref: p.ref, status: p.status },
      ...{ source: p.source, created_at: p.createdAt, updated_at: p.updatedAt },
      web_url: `${this.ctx.base}/${path}/-/pipelines/${p.id}`,
    };
  }

  /** Entities::Ci::Pipeline, the merge request's head_pipeline. */
  detailed(p: Pipeline): Json {
    const path = this.ctx.git.all.find((x) => x.id === p.projectId)?.path;
    const [text, label] = LABELS[p.status] ?? [p.status, p.status];
    const seconds = (a: string | null, b: string | null) =>
      a && b ? Math.round((Date.parse(b) - Date.parse(a)) / 1000) : null;
    return {
      ...this.basic(p),
      ...{ before_sha: '0'.repeat(40), tag: false, yaml_errors: null },
      user: this.ctx.users.basic(this.ctx.users.byId(p.userId)),
      ...{ started_at: p.startedAt, finished_at: p.finishedAt, committed_at: null },
      ...{ duration: seconds(p.startedAt, p.finishedAt), queued_duration: null, coverage: null },
      detailed_status: {
        ...{ icon: `status_${p.status}`, text, label, group: p.status, tooltip: label, has_details: true },
        ...{ details_path: `/${path}/-/pipelines/${p.id}`, illustration: null },
        favicon: `/assets/ci_favicons/favicon_status_${p.status}.png`,
      },
    };
  }

  /** Entities::Ci::Job. */
  async jobJson(r: GitLabRepo, j: Job): Promise<Json> {
    const c = await this.ctx.git.commit(r, j.pipeline.sha);
    const seconds = (a: string | null, b: string | null) =>
      a && b ? (Date.parse(b) - Date.parse(a)) / 1000 : null;
    return {
      ...{ id: j.id, status: j.status, stage: j.stage, name: j.name, ref: j.pipeline.ref, tag: false },
      ...{ coverage: j.coverage, allow_failure: j.allowFailure, created_at: j.createdAt },
      ...{ started_at: j.startedAt, finished_at: j.finishedAt, erased_at: null },
      ...{ duration: seconds(j.startedAt, j.finishedAt), queued_duration: null },
      user: this.ctx.users.full(this.ctx.users.byId(j.userId)),
      commit: {
        ...{ id: c.id, short_id: c.id.slice(0, 8), created_at: c.committedDate, parent_ids: c.parentIds },
        ...{ title: c.title, message: c.message, author_name: c.authorName, author_email: c.authorEmail },
        ...{ authored_date: c.authoredDate, committer_name: c.committerName },
        ...{ committer_email: c.committerEmail, committed_date: c.committedDate },
        ...{ trailers: {}, extended_trailers: {}, web_url: `${this.ctx.base}/${r.path}/-/commit/${c.id}` },
      },
      pipeline: this.basic(j.pipeline),
      ...(j.status === 'failed' ? { failure_reason: j.failureReason } : {}),
      web_url: `${this.ctx.base}/${r.path}/-/jobs/${j.id}`,
      project: { ci_job_token_scope_enabled: false },
      ...{ artifacts: [], runner: null, runner_manager: null, artifacts_expire_at: null },
      ...{ archived: false, tag_list: [] },
    };
  }
}
