// The conversation on the GitHub stand-in's pull requests: issue comments (a pull request is an
// issue), review comments and reviews, as REST endpoints and as test hooks that play the humans.
import { type GitRepo, type GitRepos, runGit } from './git-http-backend.js';
import { diffPlace, type Side } from './github-diff-position.js';
import {
  checkTypes,
  DOCS,
  type Fail,
  isoSeconds,
  type Json,
  needAny,
  onlyParams,
  page,
  type Reply,
  type RouteCtx,
  sortComments,
  type Users,
} from './github-listing.js';
import { parseCreateReview, placeComments, type ReviewEvent, unprocessable } from './github-review-create.js';

/** What this module reads of (and bumps on) the server's pull requests. */
export interface PullView {
  number: number;
  head: string;
  base: string;
  headSha: string;
  html_url: string;
  author: Json;
  updatedAt: string;
}
export type ReviewState = 'APPROVED' | 'CHANGES_REQUESTED' | 'COMMENTED' | 'DISMISSED' | 'PENDING';
export interface Where {
  owner: string;
  repo: string;
  number: number;
}
export interface ReviewCommentSpec extends Where {
  user: string;
  body: string;
  /** A file of the pull request's diff and a line of its new side (at the current head). */
  path: string;
  line: number;
  /** Replaces the hunk computed from the diff. */
  diffHunk?: string;
  /** Answers that review comment (same thread: its path, line and hunk). */
  inReplyTo?: number;
  /** created_at/updated_at (ISO 8601); default now. */
  at?: string;
}
export interface ReviewSpec extends Where {
  user: string;
  state: ReviewState;
  body?: string;
  comments?: Array<{ path: string; line: number; body: string }>;
  at?: string;
}

interface Dated {
  id: number;
  repoId: number;
  number: number;
  login: string;
  body: string;
  createdAt: string;
  updatedAt: string;
}
type IssueComment = Dated;
interface ReviewComment extends Dated {
  reviewId: number;
  path: string;
  line: number;
  side: Side;
  startLine?: number;
  startSide?: Side;
  position: number;
  diffHunk: string;
  commitId: string;
  inReplyTo?: number;
}
interface Review {
  id: number;
  repoId: number;
  number: number;
  login: string;
  body: string;
  state: ReviewState;
  commitId: string;
  /** Unset while the review is PENDING (GitHub then leaves submitted_at out). */
  submittedAt?: string;
}

const DOC_COMMENTS = `${DOCS}/issues/comments`;
const DOC_REVIEW_COMMENTS = `${DOCS}/pulls/comments`;
const DOC_REVIEWS = `${DOCS}/pulls/reviews`;
const MAX_BODY = 65536;
const REVIEW_STATES: ReviewState[] = ['APPROVED', 'CHANGES_REQUESTED', 'COMMENTED', 'DISMISSED'];
const STATE_OF: Record<ReviewEvent, ReviewState> = {
  APPROVE: 'APPROVED',
  REQUEST_CHANGES: 'CHANGES_REQUESTED',
  COMMENT: 'COMMENTED',
};
// GitHub's sentence for a COMMENT or REQUEST_CHANGES review with neither a body nor a line comment.
const NEEDS_COMMENT = 'You need to leave a comment indicating the requested changes.';
const NUMBER = /^[1-9]\d*$/;
// GitHub: "at least one of" issues or pull_requests (a pull request's comments are an issue's)
const READ_COMMENTS: Array<[string, 'read' | 'write']> = [
  ['issues', 'read'],
  ['pull_requests', 'read'],
];
const WRITE_COMMENTS: Array<[string, 'read' | 'write']> = [
  ['issues', 'write'],
  ['pull_requests', 'write'],
];

export class Conversation {
  private readonly issueComments: IssueComment[] = [];
  private readonly reviewCommentList: ReviewComment[] = [];
  private readonly reviewList: Review[] = [];
  private nextId = { comment: 1_200_000_001, reviewComment: 1_600_000_001, review: 2_100_000_001 };

  constructor(
    private readonly deps: {
      fail: Fail;
      users: Users;
      apiUrl: string;
      git: GitRepos;
      problems: string[];
      pullsOf(r: GitRepo): PullView[];
      mustRepo(owner: string, name: string): GitRepo;
    },
  ) {}

  // ---- JSON renderings ------------------------------------------------------------------------------
  private api(r: GitRepo): string {
    return `${this.deps.apiUrl}/repos/${r.owner}/${r.name}`;
  }
  private pull(r: GitRepo, number: number): PullView | undefined {
    return this.deps.pullsOf(r).find((p) => p.number === number);
  }

  private commentJson(r: GitRepo, c: IssueComment): Json {
    const { users } = this.deps;
    const htmlUrl = this.pull(r, c.number)?.html_url ?? '';
    return {
      url: `${this.api(r)}/issues/comments/${c.id}`,
      html_url: `${htmlUrl}#issuecomment-${c.id}`,
      issue_url: `${this.api(r)}/issues/${c.number}`,
      id: c.id,
      node_id: `IC_${c.id}`,
      user: users.json(c.login),
      ...{ created_at: c.createdAt, updated_at: c.updatedAt },
      author_association: users.association(c.login),
      body: c.body,
      performed_via_github_app: null,
    };
  }

  private reviewCommentJson(r: GitRepo, c: ReviewComment): Json {
    const { users } = this.deps;
    const url = `${this.api(r)}/pulls/comments/${c.id}`;
    const htmlUrl = `${this.pull(r, c.number)?.html_url ?? ''}#discussion_r${c.id}`;
    const pullUrl = `${this.api(r)}/pulls/${c.number}`;
    return {
      url,
      pull_request_review_id: c.reviewId,
      id: c.id,
      node_id: `PRRC_${c.id}`,
      diff_hunk: c.diffHunk,
      path: c.path,
      ...{ position: c.position, original_position: c.position },
      ...{ commit_id: c.commitId, original_commit_id: c.commitId },
      ...(c.inReplyTo !== undefined ? { in_reply_to_id: c.inReplyTo } : {}),
      user: users.json(c.login),
      body: c.body,
      ...{ created_at: c.createdAt, updated_at: c.updatedAt },
      html_url: htmlUrl,
      pull_request_url: pullUrl,
      author_association: users.association(c.login),
      _links: { self: { href: url }, html: { href: htmlUrl }, pull_request: { href: pullUrl } },
      ...{ start_line: c.startLine ?? null, original_start_line: c.startLine ?? null },
      start_side: c.startSide ?? null,
      ...{ line: c.line, original_line: c.line, side: c.side, subject_type: 'line' },
    };
  }

  private reviewJson(r: GitRepo, v: Review): Json {
    const { users } = this.deps;
    const htmlUrl = `${this.pull(r, v.number)?.html_url ?? ''}#pullrequestreview-${v.id}`;
    const pullUrl = `${this.api(r)}/pulls/${v.number}`;
    return {
      id: v.id,
      node_id: `PRR_${v.id}`,
      user: users.json(v.login),
      body: v.body,
      state: v.state,
      html_url: htmlUrl,
      pull_request_url: pullUrl,
      author_association: users.association(v.login),
      _links: { html: { href: htmlUrl }, pull_request: { href: pullUrl } },
      ...(v.submittedAt !== undefined ? { submitted_at: v.submittedAt } : {}),
      commit_id: v.commitId,
    };
  }

  /** The `comments` and `review_comments` counts of pull request `number`. */
  counts(r: GitRepo, number: number): { comments: number; review_comments: number } {
    const mine = (c: Dated) => c.repoId === r.id && c.number === number;
    return {
      comments: this.issueComments.filter(mine).length,
      review_comments: this.reviewCommentList.filter((c) => mine(c) && this.submitted(c)).length,
    };
  }

  /** A pending review's comments are its author's drafts: no listing shows them. */
  private submitted(c: ReviewComment): boolean {
    return this.reviewList.find((v) => v.id === c.reviewId)?.state !== 'PENDING';
  }

  /** A pending review is seen by its author only. */
  private visibleTo(v: Review, actor: Json): boolean {
    return v.state !== 'PENDING' || v.login.toLowerCase() === String(actor.login).toLowerCase();
  }

  // ---- REST ---------------------------------------------------------------------------------------
  async route(ctx: RouteCtx): Promise<Reply | undefined> {
    const [what, a, b, ...more] = ctx.segs;
    if (more.length > 0 || (what !== 'issues' && what !== 'pulls')) return undefined;
    const { method, r, url, headers } = ctx;
    const { fail, problems } = this.deps;
    if (what === 'issues' && a === 'comments' && b === undefined && method === 'GET') {
      const doc = `${DOC_COMMENTS}#list-issue-comments-for-a-repository`;
      needAny(ctx, READ_COMMENTS, doc);
      onlyParams(url, ['sort', 'direction', 'since'], problems);
      const mine = this.issueComments.filter((c) => c.repoId === r.id);
      const sorted = sortComments(mine, url, { fail, problems, doc, sorts: ['created', 'updated'] });
      return { status: 200, json: page(sorted, url, headers).map((c) => this.commentJson(r, c)) };
    }
    if (what === 'issues' && NUMBER.test(a ?? '') && b === 'comments') {
      const number = Number(a);
      if (method === 'GET') {
        const doc = `${DOC_COMMENTS}#list-issue-comments`;
        needAny(ctx, READ_COMMENTS, doc);
        if (!this.pull(r, number)) throw fail(404, 'Not Found', doc);
        onlyParams(url, ['since'], problems);
        const mine = this.issueComments.filter((c) => c.repoId === r.id && c.number === number);
        const sorted = sortComments(mine, url, { fail, problems, doc, sorts: [] });
        return { status: 200, json: page(sorted, url, headers).map((c) => this.commentJson(r, c)) };
      }
      if (method === 'POST') return this.createComment(ctx, number);
      return undefined;
    }
    if (what === 'pulls' && a === 'comments' && b === undefined && method === 'GET') {
      const doc = `${DOC_REVIEW_COMMENTS}#list-review-comments-in-a-repository`;
      ctx.need('pull_requests', 'read', doc);
      onlyParams(url, ['sort', 'direction', 'since'], problems);
      const mine = this.reviewCommentList.filter((c) => c.repoId === r.id && this.submitted(c));
      const sorts = ['created', 'updated', 'created_at'];
      const sorted = sortComments(mine, url, { fail, problems, doc, sorts });
      return { status: 200, json: page(sorted, url, headers).map((c) => this.reviewCommentJson(r, c)) };
    }
    if (what === 'pulls' && NUMBER.test(a ?? '') && method === 'GET' && b === 'comments') {
      const doc = `${DOC_REVIEW_COMMENTS}#list-review-comments-on-a-pull-request`;
      ctx.need('pull_requests', 'read', doc);
      if (!this.pull(r, Number(a))) throw fail(404, 'Not Found', doc);
      onlyParams(url, ['sort', 'direction', 'since'], problems);
      const mine = this.reviewCommentList.filter(
        (c) => c.repoId === r.id && c.number === Number(a) && this.submitted(c),
      );
      const sorted = sortComments(mine, url, { fail, problems, doc, sorts: ['created', 'updated'] });
      return { status: 200, json: page(sorted, url, headers).map((c) => this.reviewCommentJson(r, c)) };
    }
    if (what === 'pulls' && NUMBER.test(a ?? '') && method === 'GET' && b === 'reviews') {
      const doc = `${DOC_REVIEWS}#list-reviews-for-a-pull-request`;
      ctx.need('pull_requests', 'read', doc);
      if (!this.pull(r, Number(a))) throw fail(404, 'Not Found', doc);
      onlyParams(url, [], problems);
      const mine = this.reviewList.filter(
        (v) => v.repoId === r.id && v.number === Number(a) && this.visibleTo(v, ctx.actor),
      );
      return { status: 200, json: page(mine, url, headers).map((v) => this.reviewJson(r, v)) };
    }
    if (what === 'pulls' && NUMBER.test(a ?? '') && method === 'POST' && b === 'reviews')
      return this.createReview(ctx, Number(a));
    return undefined;
  }

  /**
   * "Create a review for a pull request": at `commit_id` (default the head), as the credential's user,
   * submitted with `event` or left PENDING without one; its line comments land with it, or nothing does.
   */
  private async createReview(ctx: RouteCtx, number: number): Promise<Reply> {
    const { fail, problems, git } = this.deps;
    const { r, actor } = ctx;
    const doc = `${DOC_REVIEWS}#create-a-review-for-a-pull-request`;
    ctx.need('pull_requests', 'write', doc);
    const pull = this.pull(r, number);
    if (!pull) throw fail(404, 'Not Found', doc);
    onlyParams(ctx.url, [], problems, 'POST');
    const req = parseCreateReview(ctx.body, { fail, doc, problems, where: ctx.url.pathname });
    const base = (await git.branchSha(r, pull.base)) ?? '';
    const commitId = req.commitId ?? pull.headSha;
    const range = base ? `${base}..${pull.headSha}` : pull.headSha; // the pull request's commits
    const commits = await runGit(['rev-list', range], { cwd: r.barePath, env: git.env });
    if (!commits.split('\n').includes(commitId))
      throw unprocessable(fail, doc, 'commit_id is not part of the pull request');
    const login = String(actor.login);
    const mine = (v: Review) => v.repoId === r.id && v.number === number;
    if (this.reviewList.some((v) => mine(v) && v.state === 'PENDING' && this.visibleTo(v, actor)))
      throw unprocessable(fail, doc, 'User can only have one pending review per pull request');
    if (req.body.length > MAX_BODY)
      throw unprocessable(fail, doc, `Body is too long (maximum is ${MAX_BODY} characters)`);
    const placed = await placeComments(r, git.env, { base, head: commitId }, req.comments);
    if ('refused' in placed) throw unprocessable(fail, doc, placed.refused);
    const empty = !req.body.trim() && placed.length === 0;
    const own = String(pull.author.login).toLowerCase() === login.toLowerCase();
    if (req.event === 'COMMENT' && empty) throw unprocessable(fail, doc, NEEDS_COMMENT);
    if (req.event === 'APPROVE' && own)
      throw unprocessable(fail, doc, 'Can not approve your own pull request');
    if (req.event === 'REQUEST_CHANGES' && empty) throw unprocessable(fail, doc, NEEDS_COMMENT);
    if (req.event === 'REQUEST_CHANGES' && own)
      throw unprocessable(fail, doc, 'Can not request changes on your own pull request');

    const at = isoSeconds();
    const state = req.event ? STATE_OF[req.event] : 'PENDING';
    const review = this.pushReview(r, pull, {
      ...{ login, body: req.body, state, commitId },
      ...(state !== 'PENDING' ? { submittedAt: at } : {}),
    });
    for (const p of placed)
      this.reviewCommentList.push({
        id: this.nextId.reviewComment++,
        ...{ repoId: r.id, number, reviewId: review.id, login, body: p.body },
        ...{ path: p.path, line: p.line, side: p.side, position: p.position, diffHunk: p.diffHunk },
        ...(p.startLine !== undefined ? { startLine: p.startLine, startSide: p.startSide } : {}),
        ...{ commitId, createdAt: at, updatedAt: at },
      });
    if (state !== 'PENDING') pull.updatedAt = new Date().toISOString();
    return { status: 200, json: this.reviewJson(r, review) };
  }

  private createComment(ctx: RouteCtx, number: number): Reply {
    const { fail } = this.deps;
    const doc = `${DOC_COMMENTS}#create-an-issue-comment`;
    needAny(ctx, WRITE_COMMENTS, doc);
    const pull = this.pull(ctx.r, number);
    if (!pull) throw fail(404, 'Not Found', doc);
    if (ctx.body.body === undefined) throw fail(422, `Invalid request.\n\n"body" wasn't supplied.`, doc);
    checkTypes(fail, ctx.body, { body: 'string' }, doc);
    const refusal = bodyRefusal(ctx.body.body as string);
    if (refusal)
      throw fail(422, 'Validation Failed', doc, {
        errors: [{ resource: 'IssueComment', code: 'unprocessable', field: 'data', message: refusal }],
      });
    const c = this.pushComment(ctx.r, pull, String(ctx.actor.login), ctx.body.body as string);
    const json = this.commentJson(ctx.r, c);
    ctx.headers.location = String(json.url);
    return { status: 201, json };
  }

  private pushComment(r: GitRepo, pull: PullView, login: string, body: string, at?: string): IssueComment {
    const createdAt = at ?? isoSeconds();
    const c = { id: this.nextId.comment++, repoId: r.id, number: pull.number, login, body, createdAt };
    this.issueComments.push({ ...c, updatedAt: createdAt });
    pull.updatedAt = new Date().toISOString(); // a comment updates its issue
    return this.issueComments.at(-1) as IssueComment;
  }

  // ---- test hooks (the humans on the other side) ------------------------------------------------------
  private where(w: Where): { r: GitRepo; pull: PullView } {
    const r = this.deps.mustRepo(w.owner, w.repo);
    const pull = this.pull(r, w.number);
    if (!pull) throw new Error(`no pull request #${w.number} in ${w.owner}/${w.repo}`);
    return { r, pull };
  }

  /** A user comments on the pull request's conversation; returns the comment as GitHub lists it. */
  addComment(w: Where & { user: string; body: string; at?: string }): Json {
    const { r, pull } = this.where(w);
    const refusal = bodyRefusal(w.body);
    if (refusal) throw new Error(`GitHub refuses this comment: ${refusal}`);
    return this.commentJson(r, this.pushComment(r, pull, w.user, w.body, w.at));
  }

  /** A user edits an issue comment: its body and updated_at change. */
  editComment(w: { owner: string; repo: string; id: number; body: string; at?: string }): Json {
    const r = this.deps.mustRepo(w.owner, w.repo);
    const c = this.issueComments.find((x) => x.repoId === r.id && x.id === w.id);
    if (!c) throw new Error(`no issue comment ${w.id} in ${w.owner}/${w.repo}`);
    const refusal = bodyRefusal(w.body);
    if (refusal) throw new Error(`GitHub refuses this edit: ${refusal}`);
    c.body = w.body;
    c.updatedAt = w.at ?? isoSeconds();
    return this.commentJson(r, c);
  }

  /**
   * A user comments on a line of the pull request's diff (the new side, at its current head). Outside
   * a review (`inReview`) it comes with its own COMMENTED review, as GitHub's "Add single comment" does.
   */
  async addReviewComment(w: ReviewCommentSpec, inReview?: number): Promise<Json> {
    const { r, pull } = this.where(w);
    if (!w.body.trim()) throw new Error('GitHub refuses a review comment without a body');
    const parent = this.reviewCommentList.find((c) => c.id === w.inReplyTo && c.repoId === r.id);
    if (w.inReplyTo !== undefined && (!parent || parent.number !== pull.number))
      throw new Error(`no review comment ${w.inReplyTo} on #${pull.number} to reply to`);
    let place = parent && { position: parent.position, diffHunk: parent.diffHunk };
    if (!place) {
      const base = (await this.deps.git.branchSha(r, pull.base)) ?? '';
      const found = await diffPlace(r, this.deps.git.env, { base, head: pull.headSha }, w.path, w.line);
      if ('refused' in found) throw new Error(`GitHub refuses this review comment: ${found.refused}`);
      place = found;
    }
    const at = w.at ?? isoSeconds();
    const reviewId =
      inReview ??
      this.pushReview(r, pull, { login: w.user, body: '', state: 'COMMENTED', submittedAt: at }).id;
    const c: ReviewComment = {
      id: this.nextId.reviewComment++,
      ...{ repoId: r.id, number: pull.number, reviewId, login: w.user, body: w.body },
      ...{ path: parent?.path ?? w.path, line: parent?.line ?? w.line, position: place.position },
      side: parent?.side ?? 'RIGHT',
      diffHunk: w.diffHunk ?? place.diffHunk,
      commitId: pull.headSha,
      ...(parent ? { inReplyTo: parent.id } : {}),
      ...{ createdAt: at, updatedAt: at },
    };
    this.reviewCommentList.push(c);
    pull.updatedAt = new Date().toISOString();
    return this.reviewCommentJson(r, c);
  }

  /** A user submits a review, optionally with line comments; returns the review as GitHub lists it. */
  async addReview(w: ReviewSpec): Promise<Json> {
    const { r, pull } = this.where(w);
    if (!REVIEW_STATES.includes(w.state)) throw new Error(`no review state ${w.state} on GitHub`);
    const body = w.body ?? '';
    const comments = w.comments ?? [];
    if ((w.state === 'COMMENTED' || w.state === 'CHANGES_REQUESTED') && !body.trim() && comments.length === 0)
      throw new Error(`GitHub refuses a ${w.state} review without a body or comments`);
    const own = String(pull.author.login).toLowerCase() === w.user.toLowerCase();
    if (own && w.state === 'APPROVED') throw new Error('GitHub: Can not approve your own pull request');
    if (own && w.state === 'CHANGES_REQUESTED')
      throw new Error('GitHub: Can not request changes on your own pull request');
    const at = w.at ?? isoSeconds();
    const review = this.pushReview(r, pull, { login: w.user, body, state: w.state, submittedAt: at });
    for (const c of comments) await this.addReviewComment({ ...w, ...c, at }, review.id);
    pull.updatedAt = new Date().toISOString();
    return this.reviewJson(r, review);
  }

  private pushReview(
    r: GitRepo,
    pull: PullView,
    v: Omit<Review, 'id' | 'repoId' | 'number' | 'commitId'> & { commitId?: string },
  ): Review {
    const review: Review = {
      id: this.nextId.review++,
      repoId: r.id,
      number: pull.number,
      commitId: pull.headSha,
      ...v,
    };
    this.reviewList.push(review);
    return review;
  }

  /** Issue comments on pull request `number`, oldest first, as GitHub lists them (airlock's too). */
  comments(owner: string, repo: string, number: number): Json[] {
    const r = this.deps.mustRepo(owner, repo);
    const mine = this.issueComments.filter((c) => c.repoId === r.id && c.number === number);
    return mine.map((c) => this.commentJson(r, c));
  }

  /** Reviews of pull request `number` as GitHub lists them, the pending ones (anyone's) too. */
  reviews(owner: string, repo: string, number: number): Json[] {
    const r = this.deps.mustRepo(owner, repo);
    const mine = this.reviewList.filter((v) => v.repoId === r.id && v.number === number);
    return mine.map((v) => this.reviewJson(r, v));
  }

  /**
   * Review comments on pull request `number` as GitHub lists them (`pull_request_review_id` names
   * their review), oldest first, the drafts of pending reviews too.
   */
  reviewComments(owner: string, repo: string, number: number): Json[] {
    const r = this.deps.mustRepo(owner, repo);
    const mine = this.reviewCommentList.filter((c) => c.repoId === r.id && c.number === number);
    return mine.map((c) => this.reviewCommentJson(r, c));
  }
}

/** Why GitHub would refuse an issue comment body, or undefined. */
function bodyRefusal(body: string): string | undefined {
  if (!body.trim()) return 'Body cannot be blank';
  if (body.length > MAX_BODY) return `Body is too long (maximum is ${MAX_BODY} characters)`;
  return undefined;
}
