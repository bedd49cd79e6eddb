// What airlock's PR watch polls on the GitLab stand-in, wired together: the routes (notes, discussions,
// approvals, pipelines, jobs, commit statuses, protected branches, status checks, users), the merge
// request fields they add to rest.ts's, conditional requests, and the test hooks that act as people and
// CI would.
import type { RefUpdate } from '../git-http-backend.js';
import { WatchContext } from './context.js';
import { Conversation, type Tier } from './conversation.js';
import { Discussions } from './discussions.js';
import { ConditionalRequests } from './etag.js';
import type { GitLabRepo, GitLabRepos } from './git.js';
import { commitFiles, deleteBranch, type Identity, mergeCommit } from './git-write.js';
import type { Json, MergeRequest } from './json.js';
import { GitLabPipelines, type JobSpec } from './pipelines.js';
import type { GitLabRest, Handler } from './rest.js';
import { ProjectSettings } from './settings.js';
import { CommitStatuses } from './statuses.js';
import { type GitLabUser, GitLabUsers } from './users.js';

export type { JobSpec, Tier };

type MrRef = { project: string; iid: number };

/** The test hooks FakeGitLab offers for PR watch; each moves updated_at and the ETags it affects. */
export interface WatchHooks {
  addUser(username: string, opts?: { publicEmail?: string; name?: string }): { id: number; username: string };
  /** A comment; `discussion` starts a resolvable thread (DiscussionNote); `system` writes a system note. */
  addNote(o: MrRef & { author: string; body: string; system?: boolean; discussion?: boolean }): {
    id: number;
  };
  /** A comment on a line of the new version of `path`, which must be in the merge request's diff. */
  addDiffNote(
    o: MrRef & { author: string; body: string; path: string; line: number },
  ): Promise<{ id: number }>;
  approve(o: MrRef & { by: string }): void;
  /** A pipeline at `sha` (full SHA) on `ref`; `status` defaults to GitLab's composite of the jobs. */
  addPipeline(o: {
    project: string;
    sha: string;
    ref: string;
    status?: string;
    source?: string;
    jobs?: JobSpec[];
  }): Promise<{ id: number; iid: number; jobs: number[] }>;
  /** A job moving on (its pipeline's status becomes the composite of its jobs). */
  updateJob(o: { project: string; id: number; status: string; trace?: string }): void;
  /** Merges as GitLab's "merge" method does (a merge commit), deleting the source branch when set to. */
  merge(o: MrRef & { by: string }): Promise<string>;
  closeMergeRequest(o: MrRef & { by?: string }): void;
  /** Someone else's commit on `branch` (by `by`, default root), moving merge requests as a push would. */
  pushOutside(o: {
    project: string;
    branch: string;
    files: Record<string, string>;
    message?: string;
    by?: string;
  }): Promise<string>;
  addExternalStatusCheck(o: {
    project: string;
    name: string;
    externalUrl: string;
    protectedBranches?: string[];
  }): {
    id: number;
  };
  /** The external commit statuses set on `sha` (retried ones too), oldest first, as the API renders them. */
  statuses(project: string, sha: string): Json[];
  /** The merge request's notes, system notes included, oldest first, as the API renders them. */
  notes(project: string, iid: number): Json[];
  /**
   * The merge request's discussions, oldest first, as GET .../discussions renders them (unpaginated): the
   * threads created (POST .../discussions, addNote with `discussion`, addDiffNote) and, as
   * `individual_note: true`, each plain comment and system note.
   */
  discussions(project: string, iid: number): Json[];
  /** Conditional GETs (If-None-Match) answered 304, and those answered in full. */
  conditional(): { hits: number; misses: number };
}

export class GitLabWatch {
  readonly users: GitLabUsers;
  readonly conditional = new ConditionalRequests();
  private readonly ctx: WatchContext;
  private readonly conversation: Conversation;
  private readonly discussions: Discussions;
  private readonly ci: GitLabPipelines;
  private readonly commitStatuses: CommitStatuses;
  private readonly settings: ProjectSettings;

  constructor(
    git: GitLabRepos,
    base: string,
    problems: string[],
    private readonly rest: GitLabRest,
    tier: Tier,
  ) {
    this.users = new GitLabUsers(base, problems);
    this.ctx = new WatchContext(git, base, problems, rest.mergeRequests, this.users);
    this.conversation = new Conversation(this.ctx, tier);
    this.discussions = new Discussions(this.ctx, this.conversation);
    this.ci = new GitLabPipelines(this.ctx);
    this.commitStatuses = new CommitStatuses(this.ctx, this.ci);
    this.settings = new ProjectSettings(this.ctx, tier);
  }

  match(method: string, segs: string[]): Handler | undefined {
    const users = this.users.match(method, segs);
    if (users || segs[0] !== 'projects' || segs.length < 3) return users;
    const [, id = '', ...rest] = segs;
    return (
      this.conversation.match(method, id, rest) ??
      this.discussions.match(method, id, rest) ??
      this.ci.match(method, id, rest) ??
      this.commitStatuses.match(method, id, rest) ??
      this.settings.match(method, id, rest)
    );
  }

  /** Fields of Entities::MergeRequestBasic this side keeps. */
  basic(_r: GitLabRepo, mr: MergeRequest): Json {
    const extra = this.ctx.extra(mr);
    const user = (id: number | undefined) =>
      id === undefined ? null : this.users.basic(this.users.byId(id));
    const closer = extra.closed && extra.closed.at === mr.closedAt ? extra.closed.by : this.users.bot.id;
    return {
      user_notes_count: this.conversation.userNotesCount(mr),
      ...{ merged_by: user(extra.mergedBy), merge_user: user(extra.mergedBy) },
      merged_at: extra.mergedAt ?? null,
      closed_by: mr.state === 'closed' ? user(closer) : null,
      merge_commit_sha: extra.mergeCommitSha ?? null,
    };
  }

  /** ... and of Entities::MergeRequest: the head pipeline, and diff_refs frozen by a merge. */
  async full(r: GitLabRepo, mr: MergeRequest): Promise<Json> {
    const head = this.ci.head(r, mr);
    const refs = this.ctx.extra(mr).diffRefs;
    return {
      ...this.basic(r, mr),
      pipeline: head ? this.ci.basic(head) : null,
      head_pipeline: head ? this.ci.detailed(head) : null,
      ...(refs ? { diff_refs: refs } : {}),
    };
  }

  /** A push moved branches: rest.ts moves the merge requests, then GitLab's refresh writes its notes. */
  async onPush(r: GitLabRepo, updates: RefUpdate[], by: GitLabUser = this.users.bot): Promise<void> {
    const before = new Map(this.ctx.mergeRequests.map((m) => [m, m.sha]));
    await this.rest.onPush(r, updates);
    for (const [mr, old] of before) {
      if (mr.sha === old) continue;
      await this.ci.recordHead(r, mr, old);
      await this.ci.recordHead(r, mr, mr.sha);
      await this.conversation.pushed(r, mr, old, by);
    }
  }

  private identity(u: GitLabUser): Identity {
    return { name: u.name, email: u.publicEmail ?? `${u.username}@users.noreply.gitlab.example` };
  }

  readonly hooks: WatchHooks = {
    addUser: (username, opts) => {
      const u = this.users.add(username, opts);
      return { id: u.id, username: u.username };
    },
    addNote: ({ project, iid, author, body, system, discussion }) => {
      const { mr } = this.ctx.mustMergeRequest(project, iid);
      const type = system || !discussion ? null : 'DiscussionNote';
      return { id: this.conversation.add(mr, this.ctx.user(author), body, { system, type }).id };
    },
    addDiffNote: async ({ project, iid, author, body, path, line }) => {
      const { r, mr } = this.ctx.mustMergeRequest(project, iid);
      const note = await this.conversation.addDiff(r, mr, this.ctx.user(author), body, path, line);
      return { id: note.id };
    },
    approve: ({ project, iid, by }) => {
      const { mr } = this.ctx.mustMergeRequest(project, iid);
      this.conversation.approve(mr, this.ctx.user(by));
    },
    addPipeline: async ({ project, sha, ref, status, source, jobs }) => {
      const r = this.ctx.mustProject(project);
      const p = await this.ci.add(r, { sha, ref, status, source, jobs, userId: this.users.bot.id });
      const ids = this.ci.jobs.filter((j) => j.pipeline === p).map((j) => j.id);
      return { id: p.id, iid: p.iid, jobs: ids };
    },
    updateJob: ({ project, id, status, trace }) => {
      const r = this.ctx.mustProject(project);
      const job = this.ci.jobs.find(
        (j) => j.id === id && j.pipeline.projectId === r.id && j.kind === 'build',
      );
      if (!job) throw new Error(`no job ${id} in ${project}`);
      this.ci.setJobStatus(job, status);
      if (trace !== undefined) job.trace = trace;
      this.ci.refresh(job.pipeline, true);
    },
    merge: async ({ project, iid, by }) => {
      const { r, mr } = this.ctx.mustMergeRequest(project, iid);
      if (mr.state !== 'opened') throw new Error(`!${iid} is ${mr.state}; only an open one can be merged`);
      if (mr.draft) throw new Error(`!${iid} is a draft; GitLab blocks merging it until it is marked ready`);
      const user = this.ctx.user(by);
      const extra = this.ctx.extra(mr);
      await this.ci.recordHead(r, mr, mr.sha);
      const start = await this.ctx.git.branchSha(r, mr.target_branch);
      const base = start ? await this.ctx.git.mergeBase(r, start, mr.sha) : undefined;
      extra.diffRefs = { base_sha: base ?? null, head_sha: mr.sha, start_sha: start ?? null };
      const message =
        `Merge branch '${mr.source_branch}' into '${mr.target_branch}'\n\n${mr.title}\n\n` +
        `See merge request ${r.path}!${mr.iid}`;
      const target = mr.target_branch;
      const sha = await mergeCommit(this.ctx.git, r, {
        target,
        source: mr.sha,
        message,
        author: this.identity(user),
      });
      Object.assign(extra, { mergeCommitSha: sha, mergedBy: user.id, mergedAt: this.ctx.now() });
      mr.state = 'merged';
      this.ctx.touch(mr);
      if (mr.forceRemoveSourceBranch && (await this.ctx.git.branchSha(r, mr.source_branch)) === mr.sha)
        await deleteBranch(this.ctx.git, r, mr.source_branch);
      return sha;
    },
    closeMergeRequest: ({ project, iid, by }) => {
      const { mr } = this.ctx.mustMergeRequest(project, iid);
      if (mr.state !== 'opened') throw new Error(`!${iid} is ${mr.state}; only an open one can be closed`);
      const user = by ? this.ctx.user(by) : this.users.bot;
      mr.state = 'closed';
      mr.closedAt = this.ctx.now();
      this.ctx.extra(mr).closed = { by: user.id, at: mr.closedAt };
      this.ctx.touch(mr);
    },
    pushOutside: async ({ project, branch, files, message, by }) => {
      const r = this.ctx.mustProject(project);
      const user = this.ctx.user(by ?? 'root');
      const author = this.identity(user);
      const msg = message ?? `Update ${Object.keys(files).join(', ')}`;
      const { oldSha, newSha } = await commitFiles(this.ctx.git, r, { branch, files, message: msg, author });
      await this.onPush(r, [{ ref: `refs/heads/${branch}`, oldSha, newSha }], user);
      return newSha;
    },
    addExternalStatusCheck: ({ project, ...spec }) => ({
      id: this.settings.addStatusCheck(this.ctx.mustProject(project), spec).id,
    }),
    statuses: (project, sha) => {
      const r = this.ctx.mustProject(project);
      return this.ci.jobs
        .filter((j) => j.kind === 'external' && j.pipeline.projectId === r.id && j.pipeline.sha === sha)
        .map((j) => this.commitStatuses.json(j));
    },
    notes: (project, iid) => {
      const { mr } = this.ctx.mustMergeRequest(project, iid);
      return this.conversation.notes.filter((n) => n.mr === mr).map((n) => this.conversation.json(n));
    },
    discussions: (project, iid) => {
      const { mr } = this.ctx.mustMergeRequest(project, iid);
      return this.discussions.threads(mr).map((t) => this.discussions.json(t));
    },
    conditional: () => ({ hits: this.conditional.hits, misses: this.conditional.misses }),
  };
}
