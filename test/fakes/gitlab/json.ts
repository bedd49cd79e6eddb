// JSON renderings and request-parameter helpers of the GitLab stand-in, named and typed as GitLab's REST
// v4 entities (Entities::Project, ::Branch, ::MergeRequestBasic / ::MergeRequest, ::UserPublic).
import type { CommitInfo, GitLabRepo } from './git.js';

// biome-ignore lint/suspicious/noExplicitAny: request parameters are arbitrary JSON until validated
export type Json = Record<string, any>;

export interface FakeMergeRequest {
  iid: number;
  project: string;
  title: string;
  description: string | null;
  source_branch: string;
  target_branch: string;
  state: 'opened' | 'closed' | 'merged';
  draft: boolean;
  labels: string[];
  web_url: string;
}
export interface MergeRequest extends FakeMergeRequest {
  id: number;
  projectId: number;
  sha: string;
  createdAt: string;
  updatedAt: string;
  closedAt: string | null;
  forceRemoveSourceBranch: boolean;
  squash: boolean;
}

/** A GitLab error reply: `{ message }` from the application, `{ error }` from Grape's param checks. */
export class GitLabError {
  constructor(
    readonly status: number,
    readonly body: Json,
  ) {}
}
export const notFound = (what = '') =>
  new GitLabError(404, { message: `404 ${what}${what ? ' ' : ''}Not Found` });
export const paramError = (error: string) => new GitLabError(400, { error });

// GitLab's MergeRequest draft detection: a `[Draft]`, `(Draft)` or `Draft:` title prefix, any case.
export const isDraftTitle = (title: string) => /^\s*(\[draft\]|\(draft\)|draft:)/i.test(title);

/** Grape's Boolean coercion: true/false, 1/0 and their strings; anything else "is invalid". */
export function boolParam(params: Json, name: string): boolean | undefined {
  const v = params[name];
  if (v === undefined) return undefined;
  if (v === true || v === 'true' || v === 1 || v === '1') return true;
  if (v === false || v === 'false' || v === 0 || v === '0') return false;
  throw paramError(`${name} is invalid`);
}

/** Grape's String: absent stays undefined; a non-string "is invalid". */
export function stringParam(params: Json, name: string): string | undefined {
  const v = params[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw paramError(`${name} is invalid`);
  return v;
}

/** `labels` (and add_/remove_labels): a comma-separated string or an array of strings. */
export function labelsParam(params: Json, name: string): string[] | undefined {
  const v = params[name] ?? params[`${name}[]`];
  if (v === undefined || v === null) return undefined;
  const parts = Array.isArray(v) ? v : [v];
  if (parts.some((p) => typeof p !== 'string')) throw paramError(`${name} is invalid`);
  return [
    ...new Set(
      (parts as string[])
        .flatMap((p) => p.split(','))
        .map((p) => p.trim())
        .filter(Boolean),
    ),
  ];
}

/** Offset pagination with GitLab's x-* headers and a Link header that keeps the query. */
export function paginate<T>(items: T[], url: URL, headers: Record<string, string>): T[] {
  const q = url.searchParams;
  for (const name of ['page', 'per_page'])
    if (q.has(name) && !/^-?\d+$/.test(q.get(name) ?? '')) throw paramError(`${name} is invalid`);
  const perPage = Math.min(100, Math.max(1, Number(q.get('per_page') ?? 20) || 20));
  const page = Math.max(1, Number(q.get('page') ?? 1) || 1);
  const totalPages = Math.max(1, Math.ceil(items.length / perPage));
  const link = (n: number, rel: string) => {
    const u = new URL(url);
    u.searchParams.set('page', String(n));
    u.searchParams.set('per_page', String(perPage));
    return `<${u}>; rel="${rel}"`;
  };
  const links: string[] = [];
  if (page > 1) links.push(link(page - 1, 'prev'));
  if (page < totalPages) links.push(link(page + 1, 'next'));
  links.push(link(1, 'first'), link(totalPages, 'last'));
  Object.assign(headers, {
    'x-page': String(page),
    'x-per-page': String(perPage),
    'x-total': String(items.length),
    'x-total-pages': String(totalPages),
    'x-next-page': page < totalPages ? String(page + 1) : '',
    'x-prev-page': page > 1 ? String(page - 1) : '',
    link: links.join(', '),
  });
  return items.slice((page - 1) * perPage, page * perPage);
}

export function userJson(base: string): Json {
  return {
    id: 1,
    username: 'airlock-bot',
    name: 'Airlock Bot',
    state: 'active',
    locked: false,
    avatar_url: null,
    web_url: `${base}/airlock-bot`,
  };
}

export function projectJson(base: string, r: GitLabRepo): Json {
  const groups = r.namespace.split('/');
  const web = `${base}/${r.path}`;
  const api = `${base}/api/v4/projects/${r.id}`;
  return {
    id: r.id,
    description: null,
    name: r.name,
    name_with_namespace: [...groups, r.name].join(' / '),
    path: r.name,
    path_with_namespace: r.path,
    created_at: r.createdAt,
    default_branch: r.defaultBranch,
    ...{ tag_list: [], topics: [], ssh_url_to_repo: `git@127.0.0.1:${r.path}.git` },
    http_url_to_repo: `${web}.git`,
    web_url: web,
    ...{ readme_url: null, avatar_url: null, forks_count: 0, star_count: 0, last_activity_at: r.createdAt },
    namespace: {
      id: 100 + r.id,
      name: groups.at(-1),
      path: groups.at(-1),
      kind: 'group',
      full_path: r.namespace,
      parent_id: null,
      avatar_url: null,
      web_url: `${base}/groups/${r.namespace}`,
    },
    _links: {
      self: api,
      issues: `${api}/issues`,
      merge_requests: `${api}/merge_requests`,
      repo_branches: `${api}/repository/branches`,
      labels: `${api}/labels`,
      events: `${api}/events`,
      members: `${api}/members`,
    },
    ...{ empty_repo: false, archived: false, visibility: 'private', merge_requests_enabled: true },
    ...{ issues_enabled: true, jobs_enabled: true, wiki_enabled: true, snippets_enabled: true },
    ...{ merge_method: 'merge', squash_option: 'default_off', remove_source_branch_after_merge: true },
    only_allow_merge_if_pipeline_succeeds: r.pipelinesMustSucceed,
    allow_merge_on_skipped_pipeline: false,
    permissions: { project_access: { access_level: 30, notification_level: 3 }, group_access: null },
  };
}

export function branchJson(base: string, r: GitLabRepo, name: string, c: CommitInfo, isProtected: boolean) {
  return {
    name,
    commit: {
      id: c.id,
      short_id: c.id.slice(0, 8),
      created_at: c.committedDate,
      parent_ids: c.parentIds,
      title: c.title,
      message: c.message,
      ...{ author_name: c.authorName, author_email: c.authorEmail, authored_date: c.authoredDate },
      ...{
        committer_name: c.committerName,
        committer_email: c.committerEmail,
        committed_date: c.committedDate,
      },
      ...{ trailers: {}, extended_trailers: {}, web_url: `${base}/${r.path}/-/commit/${c.id}` },
    },
    merged: false,
    protected: isProtected,
    ...{ developers_can_push: false, developers_can_merge: false, can_push: !isProtected },
    default: name === r.defaultBranch,
    web_url: `${base}/${r.path}/-/tree/${name}`,
  };
}

export function mergeRequestJson(base: string, r: GitLabRepo, mr: MergeRequest): Json {
  const author = userJson(base);
  return {
    id: mr.id,
    iid: mr.iid,
    project_id: r.id,
    title: mr.title,
    description: mr.description,
    state: mr.state,
    ...{
      created_at: mr.createdAt,
      updated_at: mr.updatedAt,
      merged_by: null,
      merge_user: null,
      merged_at: null,
    },
    closed_by: mr.state === 'closed' ? author : null,
    closed_at: mr.closedAt,
    target_branch: mr.target_branch,
    source_branch: mr.source_branch,
    ...{
      user_notes_count: 0,
      upvotes: 0,
      downvotes: 0,
      author,
      assignees: [],
      assignee: null,
      reviewers: [],
    },
    ...{ source_project_id: r.id, target_project_id: r.id, labels: [...mr.labels].sort() },
    ...{
      draft: mr.draft,
      imported: false,
      imported_from: 'none',
      work_in_progress: mr.draft,
      milestone: null,
    },
    merge_when_pipeline_succeeds: false,
    merge_status: 'can_be_merged',
    detailed_merge_status: mr.state !== 'opened' ? 'not_open' : mr.draft ? 'draft_status' : 'mergeable',
    ...{ merge_after: null, sha: mr.sha, merge_commit_sha: null, squash_commit_sha: null },
    ...{ discussion_locked: null, should_remove_source_branch: null },
    force_remove_source_branch: mr.forceRemoveSourceBranch,
    ...{ prepared_at: mr.createdAt, allow_collaboration: false, allow_maintainer_to_push: false },
    reference: `!${mr.iid}`,
    references: { short: `!${mr.iid}`, relative: `!${mr.iid}`, full: `${r.path}!${mr.iid}` },
    web_url: mr.web_url,
    time_stats: {
      time_estimate: 0,
      total_time_spent: 0,
      human_time_estimate: null,
      human_total_time_spent: null,
    },
    ...{
      squash: mr.squash,
      squash_on_merge: mr.squash,
      task_completion_status: { count: 0, completed_count: 0 },
    },
    ...{ has_conflicts: false, blocking_discussions_resolved: true, approvals_before_merge: null },
  };
}
