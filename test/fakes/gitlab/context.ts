// State shared by the PR-watch side of the GitLab stand-in (notes, approvals, pipelines, commit
// statuses): a clock, id sequences, the merge requests' extra state, and GitLab's lookups of a project
// and a merge request with their error replies.
import type { GitLabRepo, GitLabRepos } from './git.js';
import { GitLabError, type Json, type MergeRequest, notFound, paramError } from './json.js';
import type { GitLabUser, GitLabUsers } from './users.js';

/** What GitLab keeps on a merge request beyond the fields rest.ts models. */
export interface MergeRequestExtra {
  approvals: Array<{ userId: number; createdAt: string }>;
  mergedBy?: number;
  mergedAt?: string;
  mergeCommitSha?: string;
  /** diff_refs frozen at merge time, as GitLab keeps the last diff version's. */
  diffRefs?: Json;
  /** Who closed it, valid while mr.closedAt is still this value. */
  closed?: { by: number; at: string };
  /** Every commit of every diff version (GitLab's all_commit_shas), and the heads already listed. */
  commitShas: Set<string>;
  heads: Set<string>;
  /** merge_request_diff ids, one a version. */
  diffIds: number[];
}

export class WatchContext {
  private last = 0;
  private readonly seqs = new Map<string, number>();
  private readonly extras = new Map<number, MergeRequestExtra>();

  constructor(
    readonly git: GitLabRepos,
    readonly base: string,
    readonly problems: string[],
    readonly mergeRequests: MergeRequest[],
    readonly users: GitLabUsers,
  ) {}

  /** An ISO timestamp later than every one handed out before, so each change moves updated_at. */
  now(): string {
    this.last = Math.max(Date.now(), this.last + 1);
    return new Date(this.last).toISOString();
  }

  /** Database ids: notes, pipelines, jobs (one table for builds and commit statuses), ... */
  nextId(kind: string, start = 1): number {
    const next = (this.seqs.get(kind) ?? start - 1) + 1;
    this.seqs.set(kind, next);
    return next;
  }

  /** `:id` as GitLab resolves it: numeric id or URL-encoded full path; every project is private. */
  project(id: string, authenticated: boolean): GitLabRepo {
    const r = /^\d+$/.test(id) ? this.git.all.find((x) => x.id === Number(id)) : this.git.find(id);
    if (!r || !authenticated) throw notFound('Project');
    return r;
  }

  /** find_merge_request_with_access: Grape's Integer check, then find_by! (RecordNotFound's 404). */
  mergeRequest(r: GitLabRepo, iid: string, param = 'merge_request_iid'): MergeRequest {
    if (!/^\d+$/.test(iid)) throw paramError(`${param} is invalid`);
    const mr = this.mergeRequests.find((m) => m.projectId === r.id && m.iid === Number(iid));
    if (!mr) throw new GitLabError(404, { message: '404 Not found' });
    return mr;
  }

  /** For test hooks: a mistake in the test, not a GitLab reply. */
  mustProject(path: string): GitLabRepo {
    const r = this.git.find(path);
    if (!r) throw new Error(`no fake project ${path}`);
    return r;
  }

  mustMergeRequest(path: string, iid: number): { r: GitLabRepo; mr: MergeRequest } {
    const r = this.mustProject(path);
    const mr = this.mergeRequests.find((m) => m.projectId === r.id && m.iid === iid);
    if (!mr) throw new Error(`no merge request !${iid} in ${path}`);
    return { r, mr };
  }

  extra(mr: MergeRequest): MergeRequestExtra {
    let e = this.extras.get(mr.id);
    if (!e) {
      e = { approvals: [], commitShas: new Set(), heads: new Set(), diffIds: [this.nextId('diff')] };
      this.extras.set(mr.id, e);
    }
    return e;
  }

  /** What a note, an approval or a state change does to the merge request: bump updated_at. */
  touch(mr: MergeRequest): void {
    mr.updatedAt = this.now();
  }

  user(username: string): GitLabUser {
    return this.users.ensure(username);
  }

  /** GitLab (Grape) silently drops undeclared parameters; a client relying on one has a bug. */
  flagUnknown(what: string, params: Json, known: string[]): void {
    for (const k of Object.keys(params))
      if (!known.includes(k)) this.problems.push(`${what}: GitLab ignores the parameter "${k}"`);
  }

  /** Grape `values:` check; `required` adds "is missing" the way Grape reports both. */
  oneOf(params: Json, name: string, values: string[], fallback?: string): string {
    const v = params[name] ?? fallback;
    if (v === undefined) throw paramError(`${name} is missing, ${name} does not have a valid value`);
    if (typeof v !== 'string' || !values.includes(v)) throw paramError(`${name} does not have a valid value`);
    return v;
  }
}

export const escapeHtml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
