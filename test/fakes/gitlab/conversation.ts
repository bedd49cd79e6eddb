// The conversation on a merge request in the GitLab stand-in: notes (comments, threads, DiffNotes, the
// system notes GitLab writes for approvals and pushes) and approvals, with their REST v4 routes.
// Entities::Note; GET .../approvals is EE's ApprovalState (CE's MergeRequestApprovals with tier 'ce').
// Every note belongs to a discussion (discussion_id): threads are served by discussions.ts.
import { randomBytes } from 'node:crypto';
import type { MergeRequestExtra, WatchContext } from './context.js';
import { escapeHtml } from './context.js';
import type { GitLabRepo } from './git.js';
import { changedPaths, lineCount, oldLineOf, revList } from './git-write.js';
import { boolParam, GitLabError, type Json, type MergeRequest, paginate, paramError } from './json.js';
import type { Handler } from './rest.js';
import type { GitLabUser } from './users.js';

export interface Note {
  id: number;
  type: null | 'DiffNote' | 'DiscussionNote';
  body: string;
  authorId: number;
  createdAt: string;
  updatedAt: string;
  system: boolean;
  internal: boolean;
  mr: MergeRequest;
  /** Note#discussion_id: 40 hex digits, shared by the notes of one thread, its own for a lone note. */
  discussionId: string;
  position?: Json;
  /** A DiffNote's commit_id (set through the discussions API's undeclared `commit_id`). */
  commitId?: string;
}
export type Tier = 'ce' | 'free' | 'premium' | 'ultimate';

// Quick actions GitLab would run instead of (or besides) posting the text; not modelled here.
export const QUICK_ACTIONS =
  /^\/(approve|unapprove|merge|close|reopen|label|unlabel|relabel|assign|unassign|reassign|draft|ready|wip|title|rebase|submit_review|copy_metadata|estimate|spend|milestone|lock|unlock|reviewer|request_review|assign_reviewer|unassign_reviewer|target_branch|todo|done|subscribe|unsubscribe|award|react|shrug|tableflip)\b/m;
const LIST_PARAMS = ['order_by', 'sort', 'activity_filter', 'page', 'per_page'];
const CREATE_PARAMS = ['body', 'confidential', 'internal', 'created_at', 'merge_request_diff_head_sha'];
export const MAX_NOTE = 1_000_000;

export class Conversation {
  readonly notes: Note[] = [];

  constructor(
    private readonly ctx: WatchContext,
    private readonly tier: Tier,
  ) {}

  /** Routes under /projects/:id/merge_requests/:iid/{notes,approvals}. */
  match(method: string, id: string, rest: string[]): Handler | undefined {
    if (rest[0] !== 'merge_requests' || rest.length !== 3) return undefined;
    const iid = rest[1] ?? '';
    if (rest[2] === 'notes' && (method === 'GET' || method === 'POST'))
      return async ({ params, url, headers, authenticated }) => {
        if (!authenticated) throw new GitLabError(401, { message: '401 Unauthorized' });
        if (!/^\d+$/.test(iid)) throw paramError('noteable_id is invalid');
        if (method === 'GET') {
          this.ctx.flagUnknown(`GET ${url.pathname}`, params, LIST_PARAMS);
          const orderBy = this.ctx.oneOf(params, 'order_by', ['created_at', 'updated_at'], 'created_at');
          const sort = this.ctx.oneOf(params, 'sort', ['asc', 'desc'], 'desc');
          const filter = this.ctx.oneOf(params, 'activity_filter', ACTIVITY, 'all_notes');
          const r = this.ctx.project(id, true);
          const mr = this.ctx.mergeRequest(r, iid, 'noteable_id');
          const notes = this.list(mr, orderBy === 'updated_at' ? 'updatedAt' : 'createdAt', sort, filter);
          return { status: 200, json: paginate(notes, url, headers).map((n) => this.json(n)) };
        }
        return this.create(id, iid, params, url);
      };
    if (rest[2] === 'approvals' && method === 'GET')
      return async ({ authenticated }) => {
        const r = this.ctx.project(id, authenticated);
        return { status: 200, json: this.approvalsJson(r, this.ctx.mergeRequest(r, iid)) };
      };
    return undefined;
  }

  private list(mr: MergeRequest, key: 'createdAt' | 'updatedAt', sort: string, filter: string): Note[] {
    return this.notes
      .filter((n) => n.mr === mr)
      .filter((n) => filter === 'all_notes' || n.system === (filter === 'only_activity'))
      .sort((a, b) => {
        const c = a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : a.id - b.id;
        return sort === 'asc' ? c : -c;
      });
  }

  private async create(id: string, iid: string, params: Json, url: URL) {
    this.ctx.flagUnknown(`POST ${url.pathname}`, params, CREATE_PARAMS);
    if (params.body === undefined || params.body === null) throw paramError('body is missing');
    if (typeof params.body !== 'string') throw paramError('body is invalid');
    // `params[:internal] || params[:confidential]`
    const internal = Boolean(boolParam(params, 'internal') || boolParam(params, 'confidential'));
    const r = this.ctx.project(id, true);
    const mr = this.ctx.mergeRequest(r, iid, 'noteable_id');
    if (params.created_at !== undefined)
      this.ctx.problems.push(
        `POST ${url.pathname}: created_at needs an administrator or owner; GitLab drops it`,
      );
    if (QUICK_ACTIONS.test(params.body))
      this.ctx.problems.push(`POST ${url.pathname}: the body has a quick action, which is not modelled`);
    const body: string = params.body;
    const invalid = !body.trim()
      ? "can't be blank"
      : body.length > MAX_NOTE
        ? `is too long (maximum is ${MAX_NOTE} characters)`
        : undefined;
    if (invalid)
      throw new GitLabError(400, { message: `400 Bad request - Note {:note=>[${JSON.stringify(invalid)}]}` });
    const note = this.add(mr, this.ctx.users.bot, body, { internal });
    return { status: 201, json: this.json(note) };
  }

  add(
    mr: MergeRequest,
    author: GitLabUser,
    body: string,
    opts: {
      system?: boolean;
      type?: Note['type'];
      internal?: boolean;
      position?: Json;
      commitId?: string;
    } = {},
  ): Note {
    const at = this.ctx.now();
    const note: Note = {
      id: this.ctx.nextId('note'),
      type: opts.type ?? null,
      body,
      authorId: author.id,
      createdAt: at,
      updatedAt: at,
      system: opts.system ?? false,
      internal: opts.internal ?? false,
      mr,
      discussionId: randomBytes(20).toString('hex'),
      ...(opts.position ? { position: opts.position } : {}),
      ...(opts.commitId !== undefined ? { commitId: opts.commitId } : {}),
    };
    this.notes.push(note);
    this.ctx.touch(mr); // Note#touch_noteable
    return note;
  }

  /** A comment on a line of the merge request's diff, positioned as GitLab's text DiffNote. */
  async addDiff(
    r: GitLabRepo,
    mr: MergeRequest,
    author: GitLabUser,
    body: string,
    path: string,
    line: number,
  ) {
    const startSha = (await this.ctx.git.branchSha(r, mr.target_branch)) ?? '';
    const refs = this.ctx.extra(mr).diffRefs;
    const base = refs?.base_sha ?? (await this.ctx.git.mergeBase(r, startSha, mr.sha));
    if (!base) throw new Error(`!${mr.iid} has no merge base with ${mr.target_branch}`);
    if (!(await changedPaths(this.ctx.git, r, base, mr.sha)).includes(path))
      throw new Error(`${path} is not in the diff of !${mr.iid}; GitLab refuses such a position`);
    if (!Number.isInteger(line) || line < 1 || line > (await lineCount(this.ctx.git, r, mr.sha, path)))
      throw new Error(`${path} has no line ${line} at ${mr.sha}`);
    const position = {
      base_sha: base,
      start_sha: refs?.start_sha ?? startSha,
      head_sha: mr.sha,
      old_path: path,
      new_path: path,
      position_type: 'text',
      old_line: await oldLineOf(this.ctx.git, r, base, mr.sha, path, line),
      new_line: line,
      line_range: null,
    };
    return this.add(mr, author, body, { type: 'DiffNote', position });
  }

  /** MergeRequests::ApprovalService: the approval, then its system note. */
  approve(mr: MergeRequest, by: GitLabUser): void {
    const extra = this.ctx.extra(mr);
    if (mr.state !== 'opened') throw new Error(`!${mr.iid} is ${mr.state}; only an open one can be approved`);
    if (extra.approvals.some((a) => a.userId === by.id)) throw new Error(`${by.username} already approved`);
    extra.approvals.push({ userId: by.id, createdAt: this.ctx.now() });
    this.add(mr, by, 'approved this merge request', { system: true });
  }

  /** MergeRequests::RefreshService's "added N commits" system note, by whoever pushed. */
  async pushed(r: GitLabRepo, mr: MergeRequest, oldSha: string, by: GitLabUser): Promise<void> {
    const extra = this.ctx.extra(mr);
    const zero = /^0+$/.test(oldSha);
    const fresh = await revList(this.ctx.git, r, mr.sha, zero ? `refs/heads/${mr.target_branch}` : oldSha);
    if (fresh.length === 0) return;
    extra.diffIds.push(this.ctx.nextId('diff'));
    const items = [];
    for (const sha of fresh) {
      const c = await this.ctx.git.commit(r, sha);
      items.push(`<li>${sha.slice(0, 8)} - ${escapeHtml(c.title)}</li>`);
    }
    const n = fresh.length;
    const compare = `/${r.path}/-/merge_requests/${mr.iid}/diffs?diff_id=${extra.diffIds.at(-1)}&start_sha=${oldSha}`;
    const body = `added ${n} commit${n === 1 ? '' : 's'}\n\n<ul>${items.join('')}</ul>\n\n[Compare with previous version](${compare})`;
    this.add(mr, by, body, { system: true });
  }

  /** Entities::Note. */
  json(n: Note): Json {
    const diff = n.type === 'DiffNote';
    const resolvable = !n.system && n.type !== null;
    return {
      id: n.id,
      type: n.type,
      body: n.body,
      author: this.ctx.users.basic(this.ctx.users.byId(n.authorId)),
      created_at: n.createdAt,
      updated_at: n.updatedAt,
      system: n.system,
      noteable_id: n.mr.id,
      noteable_type: 'MergeRequest',
      project_id: n.mr.projectId,
      ...(diff ? { commit_id: n.commitId ?? null, position: n.position } : {}),
      resolvable,
      ...(resolvable ? { resolved: false, resolved_by: null, resolved_at: null } : {}),
      ...(diff ? { suggestions: [] } : {}),
      ...{ confidential: n.internal, internal: n.internal, imported: false, imported_from: 'none' },
      noteable_iid: n.mr.iid,
      commands_changes: {},
    };
  }

  userNotesCount(mr: MergeRequest): number {
    return this.notes.filter((n) => n.mr === mr && !n.system).length;
  }

  /** GET .../approvals: EE's ApprovalState (approved with no approval rules), or CE's entity. */
  approvalsJson(r: GitLabRepo, mr: MergeRequest): Json {
    const extra: MergeRequestExtra = this.ctx.extra(mr);
    const users = this.ctx.users;
    const approvedBy = extra.approvals.map((a) => ({
      user: users.basic(users.byId(a.userId)),
      approved_at: a.createdAt,
    }));
    const hasApproved = extra.approvals.some((a) => a.userId === users.bot.id);
    if (this.tier === 'ce')
      return {
        user_has_approved: hasApproved,
        user_can_approve: !hasApproved && mr.state === 'opened',
        approved: approvedBy.length > 0,
        approved_by: approvedBy,
      };
    return {
      ...{ id: mr.id, iid: mr.iid, project_id: r.id, title: mr.title, description: mr.description },
      ...{ state: mr.state, created_at: mr.createdAt, updated_at: mr.updatedAt },
      merge_status: 'can_be_merged',
      approved: true, // no approval rules: ApprovalState#approved? is all? over none
      ...{ approvals_required: 0, approvals_left: 0, require_password_to_approve: false },
      approved_by: approvedBy,
      ...{ suggested_approvers: [], approvers: [], approver_groups: [] },
      user_has_approved: hasApproved,
      user_can_approve: false, // airlock-bot authors its merge requests; authors may not approve
      ...{ approval_rules_left: [], has_approval_rules: false },
      merge_request_approvers_available: this.tier !== 'free',
      multiple_approval_rules_available: this.tier !== 'free',
      invalid_approvers_rules: [],
    };
  }
}

const ACTIVITY = ['all_notes', 'only_comments', 'only_activity'];
