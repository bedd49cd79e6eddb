// Threads on a merge request in the GitLab stand-in: GET and POST
// /projects/:id/merge_requests/:iid/discussions (API::Discussions, Entities::Discussion). A new thread with
// a `position` starts with a DiffNote, checked as DiffNote's validations check it (diff-lines.ts); one
// without starts with a DiscussionNote. The listing has every note in its discussion: a plain comment or
// a system note is an individual one.
import type { WatchContext } from './context.js';
import { type Conversation, MAX_NOTE, type Note, QUICK_ACTIONS } from './conversation.js';
import { positionFindsLine, type TextPosition } from './diff-lines.js';
import type { GitLabRepo } from './git.js';
import { GitLabError, type Json, type MergeRequest, paginate, paramError } from './json.js';
import type { Handler } from './rest.js';

const CREATE_PARAMS = ['body', 'created_at', 'position', 'commit_id'];
// The `position` hash as API::Discussions declares it, in its order (Grape reports errors in that order).
const POSITION: Array<[name: string, kind: 'string' | 'integer' | 'hash', required?: true]> = [
  ['base_sha', 'string', true],
  ['start_sha', 'string', true],
  ['head_sha', 'string', true],
  ['position_type', 'string', true],
  ['new_path', 'string'],
  ['new_line', 'integer'],
  ['old_path', 'string'],
  ['old_line', 'integer'],
  ['width', 'integer'],
  ['height', 'integer'],
  ['x', 'integer'],
  ['y', 'integer'],
  ['line_range', 'hash'],
];
const POSITION_TYPES = ['text', 'image', 'file'];
const LINE_CODE_ERRORS = ["can't be blank", 'must be a valid line code'];

type DiffRefs = { base_sha: string | null; start_sha: string | null; head_sha: string };

const isHash = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const present = (v: unknown) => typeof v === 'number' || (typeof v === 'string' && v.trim() !== '');

/** Grape's String coercion: scalars become strings, a hash or an array "is invalid"; null stays null. */
function grapeString(v: unknown, name: string, errors: string[]): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  errors.push(`${name} is invalid`);
  return null;
}

/** Grape's Integer (dry-types params.integer): '' is nil, a string must be base-10, a float truncates. */
function grapeInteger(v: unknown, name: string, errors: string[]): number | null {
  if (v === null || v === undefined || v === '') return null;
  if (typeof v === 'number' && Number.isFinite(v)) return Math.trunc(v);
  if (typeof v === 'string' && /^\s*[+-]?\d+(_\d+)*\s*$/.test(v)) return Number(v.replace(/_/g, '').trim());
  errors.push(`${name} is invalid`);
  return null;
}

/** `Note #{note.errors.messages}`: the ActiveModel errors hash as Ruby (before 3.4) inspects it. */
function noteErrors(errors: Record<string, string[]>): GitLabError {
  const hash = Object.entries(errors)
    .map(([k, v]) => `:${k}=>[${v.map((m) => JSON.stringify(m)).join(', ')}]`)
    .join(', ');
  return new GitLabError(400, { message: `400 Bad request - Note {${hash}}` });
}

export class Discussions {
  constructor(
    private readonly ctx: WatchContext,
    private readonly conversation: Conversation,
  ) {}

  /** Routes under /projects/:id/merge_requests/:iid/discussions. */
  match(method: string, id: string, rest: string[]): Handler | undefined {
    if (rest[0] !== 'merge_requests' || rest.length !== 3 || rest[2] !== 'discussions') return undefined;
    if (method !== 'GET' && method !== 'POST') return undefined;
    const iid = rest[1] ?? '';
    return async ({ params, url, headers, authenticated }) => {
      if (!authenticated) throw new GitLabError(401, { message: '401 Unauthorized' });
      if (method === 'POST') return this.create(id, iid, params, url);
      this.ctx.flagUnknown(`GET ${url.pathname}`, params, ['page', 'per_page']);
      if (!/^\d+$/.test(iid)) throw paramError('noteable_id is invalid');
      const r = this.ctx.project(id, true);
      const mr = this.ctx.mergeRequest(r, iid, 'noteable_id');
      return { status: 200, json: paginate(this.threads(mr), url, headers).map((t) => this.json(t)) };
    };
  }

  /** discussion_ids_relation: discussions by their first note (created_at, then id); notes `fresh`. */
  threads(mr: MergeRequest): Note[][] {
    const notes = this.conversation.notes
      .filter((n) => n.mr === mr)
      .sort((a, b) => (a.createdAt < b.createdAt ? -1 : a.createdAt > b.createdAt ? 1 : a.id - b.id));
    const byId = new Map<string, Note[]>();
    for (const n of notes) byId.set(n.discussionId, [...(byId.get(n.discussionId) ?? []), n]);
    return [...byId.values()];
  }

  /** Entities::Discussion. */
  json(notes: Note[]): Json {
    return {
      id: notes[0]?.discussionId,
      individual_note: notes[0]?.type === null, // IndividualNoteDiscussion: a plain comment or a system note
      notes: notes.map((n) => this.conversation.json(n)),
    };
  }

  /** The merge request's diff_refs, as GET .../merge_requests/:iid renders them (frozen once merged). */
  async diffRefs(r: GitLabRepo, mr: MergeRequest): Promise<DiffRefs> {
    const frozen = this.ctx.extra(mr).diffRefs;
    if (frozen) return frozen as DiffRefs;
    const start = (await this.ctx.git.branchSha(r, mr.target_branch)) ?? null;
    const base = start ? ((await this.ctx.git.mergeBase(r, start, mr.sha)) ?? null) : null;
    return { base_sha: base, start_sha: start, head_sha: mr.sha };
  }

  private problem(message: string): void {
    this.ctx.problems.push(message);
  }

  /** Grape's checks of `position`, errors collected in declaration order; the hash as the params hold it. */
  private position(v: unknown, where: string, errors: string[]): Json | undefined {
    if (v === undefined || v === null) return undefined;
    if (!isHash(v)) {
      errors.push('position is invalid');
      return undefined;
    }
    for (const k of Object.keys(v))
      if (!POSITION.some(([name]) => name === k))
        this.problem(`${where}: GitLab ignores the parameter "position[${k}]"`);
    const out: Json = {};
    for (const [name, kind, required] of POSITION) {
      const full = `position[${name}]`;
      if (!(name in v)) {
        if (required) errors.push(`${full} is missing`);
        continue;
      }
      if (kind === 'string') out[name] = grapeString(v[name], full, errors);
      else if (kind === 'integer') out[name] = grapeInteger(v[name], full, errors);
      else if (v[name] === null || isHash(v[name])) out[name] = v[name];
      else errors.push(`${full} is invalid`);
    }
    // `values: %w[text image file]`; a nil skips it in a nested scope.
    const type = out.position_type;
    if (typeof type === 'string' && !POSITION_TYPES.includes(type))
      errors.push('position[position_type] does not have a valid value');
    return out;
  }

  private async create(id: string, iid: string, params: Json, url: URL) {
    const where = `POST ${url.pathname}`;
    this.ctx.flagUnknown(where, params, CREATE_PARAMS);
    const errors: string[] = [];
    if (!/^\d+$/.test(iid)) errors.push('noteable_id is invalid');
    // `requires :body` is Grape's presence: the key must be there (a null passes, then fails as blank).
    if (!('body' in params)) errors.push('body is missing');
    const body = grapeString(params.body, 'body', errors) ?? '';
    grapeString(params.created_at, 'created_at', errors);
    const position = this.position(params.position, where, errors);
    if (errors.length > 0) throw paramError(errors.join(', '));

    const r = this.ctx.project(id, true);
    const mr = this.ctx.mergeRequest(r, iid, 'noteable_id');
    if (params.created_at !== undefined)
      this.problem(`${where}: created_at needs an administrator or owner; GitLab drops it`);
    if (QUICK_ACTIONS.test(body))
      this.problem(`${where}: the body has a quick action, which is not modelled`);
    let commitId: string | undefined;
    if (params.commit_id !== undefined && params.commit_id !== null) {
      if (!position) this.problem(`${where}: commit_id is used only with a position; GitLab drops it`);
      else if (typeof params.commit_id === 'string') commitId = params.commit_id;
      else this.problem(`${where}: commit_id ${JSON.stringify(params.commit_id)} is not a string`);
    }

    // The note's validations, in Note's then DiffNote's order.
    const invalid: Record<string, string[]> = {};
    if (!body.trim()) invalid.note = ["can't be blank"];
    else if (body.length > MAX_NOTE) invalid.note = [`is too long (maximum is ${MAX_NOTE} characters)`];
    let stored: Json | undefined;
    if (position) {
      const type = position.position_type ?? 'text'; // Gitlab::Diff::Position's formatter default
      if (type === 'text') {
        const text = this.textPosition(position);
        if ([text.old_path, text.new_path].includes(''))
          this.problem(`${where}: an empty position path; what Gitaly makes of it is not modelled`);
        if (!(await positionFindsLine(this.ctx.git, r, text))) invalid.line_code = LINE_CODE_ERRORS;
        const filePath = present(text.new_path) ? text.new_path : text.old_path;
        const complete =
          present(filePath) &&
          (text.old_line !== null || text.new_line !== null) &&
          present(text.start_sha) &&
          present(text.head_sha);
        if (!complete) invalid.position = ['is incomplete'];
        stored = { ...this.base(text), position_type: 'text' };
        Object.assign(stored, { old_line: text.old_line, new_line: text.new_line });
        stored.line_range = position.line_range ?? null;
        if (position.line_range != null)
          this.problem(`${where}: a multi-line position (line_range) is not checked by the stand-in`);
        for (const k of ['width', 'height', 'x', 'y'])
          if (position[k] != null) this.problem(`${where}: a text position ignores position[${k}]`);
        if (Object.keys(invalid).length === 0) await this.checkCurrent(r, mr, text, where);
      } else {
        this.problem(`${where}: ${type} positions are not modelled; the note is kept unchecked`);
        stored = { ...this.base(this.textPosition(position)), position_type: type };
        if (type === 'image') for (const k of ['width', 'height', 'x', 'y']) stored[k] = position[k] ?? null;
      }
    }
    if (Object.keys(invalid).length > 0) throw noteErrors(invalid);
    const type = position ? 'DiffNote' : 'DiscussionNote';
    const note = this.conversation.add(mr, this.ctx.users.bot, body, { type, position: stored, commitId });
    return { status: 201, json: this.json([note]) };
  }

  private textPosition(p: Json): TextPosition {
    const pick = <T>(k: string) => (p[k] ?? null) as T | null;
    return {
      ...{ base_sha: pick('base_sha'), start_sha: pick('start_sha'), head_sha: pick('head_sha') },
      ...{ old_path: pick('old_path'), new_path: pick('new_path') },
      ...{ old_line: pick('old_line'), new_line: pick('new_line') },
    };
  }

  /** BaseFormatter#to_h's fields, in its order. */
  private base(p: TextPosition): Json {
    const { base_sha, start_sha, head_sha, old_path, new_path } = p;
    return { base_sha, start_sha, head_sha, old_path, new_path };
  }

  /**
   * A position on other diff_refs than the merge request's: GitLab checks the line in that diff, keeps the
   * note and has Gitlab::Diff::PositionTracer carry the position to the current diff (or mark it outdated).
   * The stand-in does not trace: it flags it and refuses the note as GitLab refuses an unfound line.
   */
  private async checkCurrent(r: GitLabRepo, mr: MergeRequest, p: TextPosition, where: string) {
    const refs = await this.diffRefs(r, mr);
    if (p.base_sha === refs.base_sha && p.start_sha === refs.start_sha && p.head_sha === refs.head_sha)
      return;
    this.problem(
      `${where}: the position's diff_refs (base ${p.base_sha}, start ${p.start_sha}, head ${p.head_sha}) ` +
        `are not !${mr.iid}'s current ones (base ${refs.base_sha}, start ${refs.start_sha}, head ` +
        `${refs.head_sha}); GitLab would keep the note and trace its position to the current diff, ` +
        'which the stand-in does not model',
    );
    throw noteErrors({ line_code: LINE_CODE_ERRORS });
  }
}
