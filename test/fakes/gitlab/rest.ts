// REST v4 routes of the GitLab stand-in: projects, branches, merge requests and the current user, with
// GitLab's validation order (Grape params 400 {error}; model errors 422 > 409 > 400 {message}).
import type { RefUpdate } from '../git-http-backend.js';
import { type GitLabRepo, type GitLabRepos, isProtected } from './git.js';
import {
  boolParam,
  branchJson,
  GitLabError,
  isDraftTitle,
  type Json,
  labelsParam,
  type MergeRequest,
  mergeRequestJson,
  notFound,
  paginate,
  paramError,
  projectJson,
  stringParam,
  userJson,
} from './json.js';

/** `raw`, when set, is the body as is (a job log) instead of `json` rendered. */
export type Reply = { status: number; json: unknown; raw?: string };
export type Handler = (ctx: {
  params: Json;
  url: URL;
  headers: Record<string, string>;
  authenticated: boolean;
}) => Promise<Reply>;

const OPTIONAL = [
  'assignee_id',
  'assignee_ids',
  'reviewer_ids',
  'description',
  'labels',
  'add_labels',
  'remove_labels',
  'milestone_id',
  'remove_source_branch',
  'allow_collaboration',
  'allow_maintainer_to_push',
  'squash',
  'merge_after',
  'approvals_before_merge',
];
const CREATE_PARAMS = new Set(['title', 'source_branch', 'target_branch', 'target_project_id', ...OPTIONAL]);
// The update endpoint's `at_least_one_of`, in GitLab's order (also its error message).
const UPDATE_ONE_OF = [
  ...['assignee_id', 'assignee_ids', 'reviewer_ids', 'description', 'labels', 'add_labels', 'remove_labels'],
  ...['milestone_id', 'remove_source_branch', 'allow_collaboration', 'allow_maintainer_to_push', 'squash'],
  ...['target_branch', 'title', 'state_event', 'discussion_locked', 'merge_after'],
];
const UPDATE_PARAMS = new Set([...UPDATE_ONE_OF, 'approvals_before_merge']);
const SORT_OPTIONS = ['created_at', 'label_priority', 'milestone_due', 'popularity', 'priority', 'title'];
const ORDER_BY = [...SORT_OPTIONS, 'updated_at', 'merged_at'];
const SAME_BRANCH = "You can't use same project/branch for source and target";

export class GitLabRest {
  readonly mergeRequests: MergeRequest[] = [];
  /** Merge request fields kept elsewhere (notes, approvals, pipelines, merges: see watch.ts). */
  decorate?: {
    basic(r: GitLabRepo, mr: MergeRequest): Json;
    full(r: GitLabRepo, mr: MergeRequest): Promise<Json>;
  };

  constructor(
    private readonly git: GitLabRepos,
    private readonly base: string,
    private readonly problems: string[],
  ) {}

  /** Grape matches the route before anything else; an unmatched one is `{"error":"404 Not Found"}`. */
  match(method: string, segs: string[]): Handler | undefined {
    if (method === 'GET' && segs.length === 1 && segs[0] === 'user')
      return async ({ authenticated }) => {
        if (!authenticated) throw new GitLabError(401, { message: '401 Unauthorized' });
        return { status: 200, json: { ...userJson(this.base), created_at: '2024-01-01T00:00:00.000Z' } };
      };
    const [top, id = '', ...rest] = segs;
    if (top !== 'projects' || segs.length < 2) return undefined;
    const path = rest.join('/');
    const project = (authenticated: boolean) => {
      const r = /^\d+$/.test(id) ? this.git.all.find((x) => x.id === Number(id)) : this.git.find(id);
      if (!r || !authenticated) throw notFound('Project'); // every project is private
      return r;
    };
    if (method === 'GET' && rest.length === 0)
      return async ({ authenticated }) => ({
        status: 200,
        json: projectJson(this.base, project(authenticated)),
      });
    if (method === 'GET' && rest.length === 3 && path.startsWith('repository/branches/'))
      return async ({ authenticated }) => this.branch(project(authenticated), rest[2] ?? '');
    if (path === 'merge_requests' && method === 'GET')
      return async (c) => this.list(project(c.authenticated), c.url, c.headers);
    if (path === 'merge_requests' && method === 'POST')
      return async (c) => this.create(project(c.authenticated), c.params, c.url);
    if (rest[0] !== 'merge_requests' || rest.length !== 2 || (method !== 'GET' && method !== 'PUT'))
      return undefined;
    return async (c) => {
      const r = project(c.authenticated);
      if (!/^\d+$/.test(rest[1] ?? '')) throw paramError('merge_request_iid is invalid');
      const mr = this.mergeRequests.find((m) => m.projectId === r.id && m.iid === Number(rest[1]));
      if (!mr) throw new GitLabError(404, { message: '404 Not found' });
      if (method === 'GET') return { status: 200, json: await this.full(r, mr) };
      return this.update(r, mr, c.params, c.url);
    };
  }

  private async branch(r: GitLabRepo, name: string): Promise<Reply> {
    const sha = await this.git.branchSha(r, name);
    if (!sha) throw notFound('Branch');
    const commit = await this.git.commit(r, sha);
    return { status: 200, json: branchJson(this.base, r, name, commit, isProtected(r, name)) };
  }

  private async full(r: GitLabRepo, mr: MergeRequest): Promise<Json> {
    const targetSha = (await this.git.branchSha(r, mr.target_branch)) ?? '';
    const baseSha = targetSha ? await this.git.mergeBase(r, targetSha, mr.sha) : undefined;
    const changes = baseSha ? await this.git.changedFiles(r, baseSha, mr.sha) : 0;
    return {
      ...mergeRequestJson(this.base, r, mr),
      ...{ subscribed: true, changes_count: String(changes), latest_build_started_at: null },
      ...{ latest_build_finished_at: null, first_deployed_to_production_at: null, pipeline: null },
      head_pipeline: null,
      diff_refs: { base_sha: baseSha ?? null, head_sha: mr.sha, start_sha: targetSha || null },
      ...{ merge_error: null, first_contribution: false, user: { can_merge: false } },
      ...(await this.decorate?.full(r, mr)),
    };
  }

  /** GitLab (Grape) silently drops undeclared parameters; a client relying on one has a bug. */
  private flagUnknown(what: string, params: Json, known: Set<string>) {
    for (const k of Object.keys(params)) {
      if (known.has(k) || known.has(k.replace(/\[\]$/, ''))) continue;
      const hint = k === 'draft' ? ' (mark a draft with a "Draft:" title prefix)' : '';
      this.problems.push(`${what}: GitLab ignores the parameter "${k}"${hint}`);
    }
  }

  private list(r: GitLabRepo, url: URL, headers: Record<string, string>): Reply {
    const q = url.searchParams;
    const oneOf = (name: string, values: string[], fallback: string) => {
      const v = q.get(name) ?? fallback;
      if (!values.includes(v)) throw paramError(`${name} does not have a valid value`);
      return v;
    };
    const state = oneOf('state', ['opened', 'closed', 'locked', 'merged', 'all'], 'all');
    const orderBy = oneOf('order_by', ORDER_BY, 'created_at');
    const sort = oneOf('sort', ['asc', 'desc'], 'desc');
    const labels = labelsParam(Object.fromEntries(q), 'labels') ?? [];
    const iids = [...q.getAll('iids[]'), ...q.getAll('iids')].flatMap((v) => v.split(','));
    if (iids.some((v) => !/^\d+$/.test(v))) throw paramError('iids is invalid');
    const search = q.get('search')?.toLowerCase();
    const draft = q.get('draft') ?? (q.has('wip') ? String(q.get('wip') === 'yes') : null);
    const matches = this.mergeRequests
      .filter((m) => m.projectId === r.id && (state === 'all' || m.state === state))
      .filter((m) => !q.has('source_branch') || m.source_branch === q.get('source_branch'))
      .filter((m) => !q.has('target_branch') || m.target_branch === q.get('target_branch'))
      .filter((m) => labels.every((l) => m.labels.includes(l)))
      .filter((m) => iids.length === 0 || iids.includes(String(m.iid)))
      .filter((m) => !search || `${m.title}\n${m.description ?? ''}`.toLowerCase().includes(search))
      .filter((m) => draft === null || String(m.draft) === draft)
      .filter(() => !q.has('author_username') || q.get('author_username') === 'airlock-bot')
      .sort((a, b) => {
        const key = orderBy === 'updated_at' ? 'updatedAt' : orderBy === 'title' ? 'title' : 'createdAt';
        const c = a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : a.id - b.id;
        return sort === 'asc' ? c : -c;
      });
    return {
      status: 200,
      json: paginate(matches, url, headers).map((m) => ({
        ...mergeRequestJson(this.base, r, m),
        ...this.decorate?.basic(r, m),
      })),
    };
  }

  /** MergeRequest model validations, reported the way API::MergeRequests#handle_merge_request_errors! does. */
  private async validate(
    r: GitLabRepo,
    m: Pick<MergeRequest, 'title' | 'description' | 'source_branch' | 'target_branch'>,
    self?: MergeRequest,
    branches: Array<'source_branch' | 'target_branch'> = ['source_branch', 'target_branch'],
  ) {
    const errors: Record<string, string[]> = {};
    const add = (field: string, msg: string) => {
      errors[field] = [...(errors[field] ?? []), msg];
    };
    if (!m.title.trim()) add('title', "can't be blank");
    if (m.title.length > 255) add('title', 'is too long (maximum is 255 characters)');
    if ((m.description ?? '').length > 1048576)
      add('description', 'is too long (maximum is 1048576 characters)');
    if (m.source_branch === m.target_branch) throw new GitLabError(422, { message: [SAME_BRANCH] });
    for (const field of branches) {
      if (!m[field].trim()) add(field, "can't be blank");
      else if (!(await this.git.branchSha(r, m[field]))) add(field, 'does not exist');
    }
    const dup = this.mergeRequests.find(
      (x) =>
        x !== self &&
        x.projectId === r.id &&
        x.state === 'opened' &&
        x.source_branch === m.source_branch &&
        x.target_branch === m.target_branch,
    );
    if (dup)
      throw new GitLabError(409, {
        message: [`Another open merge request already exists for this source branch: !${dup.iid}`],
      });
    if (Object.keys(errors).length > 0) throw new GitLabError(400, { message: errors });
  }

  private async create(r: GitLabRepo, params: Json, url: URL): Promise<Reply> {
    this.flagUnknown(`POST ${url.pathname}`, params, CREATE_PARAMS);
    const missing = ['title', 'source_branch', 'target_branch'].filter((k) => params[k] == null);
    if (missing.length > 0) throw paramError(missing.map((k) => `${k} is missing`).join(', '));
    const title = stringParam(params, 'title') ?? '';
    const source = stringParam(params, 'source_branch') ?? '';
    const target = stringParam(params, 'target_branch') ?? '';
    const description = stringParam(params, 'description') ?? null;
    const labels = labelsParam(params, 'labels') ?? [];
    const removeSource = boolParam(params, 'remove_source_branch');
    const squash = boolParam(params, 'squash') ?? false;
    if (params.target_project_id != null && String(params.target_project_id) !== String(r.id)) {
      this.problems.push(
        `POST ${url.pathname}: target_project_id ${params.target_project_id} (no forks here)`,
      );
      throw notFound('Project');
    }
    await this.validate(r, { title, description, source_branch: source, target_branch: target });
    const sha = (await this.git.branchSha(r, source)) ?? '';
    const iid = this.mergeRequests.filter((m) => m.projectId === r.id).length + 1;
    const now = new Date().toISOString();
    const mr: MergeRequest = {
      ...{ id: 1000 + this.mergeRequests.length, iid, projectId: r.id, project: r.path, title, description },
      ...{
        source_branch: source,
        target_branch: target,
        state: 'opened',
        draft: isDraftTitle(title),
        labels,
      },
      web_url: `${this.base}/${r.path}/-/merge_requests/${iid}`,
      ...{ sha, createdAt: now, updatedAt: now, closedAt: null },
      forceRemoveSourceBranch: removeSource ?? true, // the project default (remove_source_branch_after_merge)
      squash,
    };
    await this.git.setRef(r, `refs/merge-requests/${iid}/head`, sha);
    this.mergeRequests.push(mr);
    return { status: 201, json: await this.full(r, mr) };
  }

  private async update(r: GitLabRepo, mr: MergeRequest, params: Json, url: URL): Promise<Reply> {
    this.flagUnknown(`PUT ${url.pathname}`, params, UPDATE_PARAMS);
    if (!UPDATE_ONE_OF.some((k) => params[k] !== undefined))
      throw paramError(`${UPDATE_ONE_OF.join(', ')} are missing, at least one parameter must be provided`);
    for (const k of ['title', 'target_branch'])
      if (params[k] !== undefined && !String(params[k] ?? '').trim()) throw paramError(`${k} is empty`);
    const stateEvent = stringParam(params, 'state_event');
    if (stateEvent !== undefined && stateEvent !== 'close' && stateEvent !== 'reopen')
      throw paramError('state_event does not have a valid value');
    const title = stringParam(params, 'title') ?? mr.title;
    const target = stringParam(params, 'target_branch') ?? mr.target_branch;
    const description =
      params.description !== undefined ? (stringParam(params, 'description') ?? null) : mr.description;
    const removeSource = boolParam(params, 'remove_source_branch');
    const squash = boolParam(params, 'squash');
    let labels = labelsParam(params, 'labels') ?? mr.labels;
    labels = [...new Set([...labels, ...(labelsParam(params, 'add_labels') ?? [])])];
    const removed = labelsParam(params, 'remove_labels') ?? [];
    labels = labels.filter((l) => !removed.includes(l));
    // A reopen is refused silently when the source branch is gone, as GitLab's state machine does.
    const reopen =
      stateEvent === 'reopen' &&
      mr.state === 'closed' &&
      (await this.git.branchSha(r, mr.source_branch)) !== undefined;
    const state = stateEvent === 'close' && mr.state === 'opened' ? 'closed' : reopen ? 'opened' : mr.state;
    // Branch existence is validated only for what changes, as GitLab validates changed attributes.
    const changed: Array<'source_branch' | 'target_branch'> = reopen ? ['source_branch'] : [];
    if (target !== mr.target_branch) changed.push('target_branch');
    const edited = { title, description, source_branch: mr.source_branch, target_branch: target };
    if (state === 'opened') await this.validate(r, edited, mr, changed);
    else if (!title.trim()) throw new GitLabError(400, { message: { title: ["can't be blank"] } });
    Object.assign(mr, { title, description, target_branch: target, labels, draft: isDraftTitle(title) });
    if (removeSource !== undefined) mr.forceRemoveSourceBranch = removeSource;
    if (squash !== undefined) mr.squash = squash;
    if (state !== mr.state) mr.closedAt = state === 'closed' ? new Date().toISOString() : null;
    mr.state = state;
    mr.updatedAt = new Date().toISOString();
    return { status: 200, json: await this.full(r, mr) };
  }

  /** A push to a merge request's source branch moves it (and refs/merge-requests/N/head) along. */
  async onPush(r: GitLabRepo, updates: RefUpdate[]): Promise<void> {
    for (const u of updates) {
      if (/^0+$/.test(u.newSha)) continue; // GitLab keeps the MR open with its branch gone
      for (const mr of this.mergeRequests) {
        if (mr.projectId !== r.id || mr.state !== 'opened' || `refs/heads/${mr.source_branch}` !== u.ref)
          continue;
        mr.sha = u.newSha;
        mr.updatedAt = new Date().toISOString();
        await this.git.setRef(r, `refs/merge-requests/${mr.iid}/head`, u.newSha);
      }
    }
  }
}
