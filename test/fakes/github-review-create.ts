// What GitHub checks of a "Create a review for a pull request" request (POST .../pulls/{n}/reviews)
// before it stores anything: the body's schema, and where each of its line comments lands in the diff.
// The review is all or nothing: one comment GitHub cannot place refuses the whole request.
import { type DiffRow, fileDiff, lineOf, rowAt, type Side } from './github-diff-position.js';
import { checkTypes, type Fail, type Json } from './github-listing.js';

export type ReviewEvent = 'APPROVE' | 'REQUEST_CHANGES' | 'COMMENT';
const EVENTS: ReviewEvent[] = ['APPROVE', 'REQUEST_CHANGES', 'COMMENT'];
const SIDES: Side[] = ['LEFT', 'RIGHT'];
const BODY_KEYS = ['commit_id', 'body', 'event', 'comments'];
const COMMENT_KEYS = ['path', 'position', 'body', 'line', 'side', 'start_line', 'start_side'];

export interface CommentRequest {
  path: string;
  body: string;
  line?: number;
  side?: Side;
  startLine?: number;
  startSide?: Side;
  position?: number;
}
export interface CreateReviewRequest {
  commitId?: string;
  body: string;
  /** Undefined: a PENDING review. */
  event?: ReviewEvent;
  comments: CommentRequest[];
}
/** A comment GitHub placed in the diff at the review's commit. */
export interface PlacedComment {
  path: string;
  body: string;
  line: number;
  side: Side;
  startLine?: number;
  startSide?: Side;
  position: number;
  diffHunk: string;
}

/** GitHub's "Unprocessable Entity" refusal: `errors` is a list of sentences, not of error objects. */
export const unprocessable = (fail: Fail, doc: string, message: string) =>
  fail(422, 'Unprocessable Entity', doc, { errors: [message] });

/** Keys GitHub does not take, which it does not act on: a problem (the client meant something). */
function unknownKeys(o: Json, known: string[], where: string, problems: string[]): void {
  for (const key of Object.keys(o))
    if (!known.includes(key))
      problems.push(
        `POST ${where} with "${key}": not a parameter of this endpoint, GitHub does not act on it`,
      );
}

/** The request body as GitHub's schema reads it, or the 422 it answers. */
export function parseCreateReview(
  raw: Json,
  opts: { fail: Fail; doc: string; problems: string[]; where: string },
): CreateReviewRequest {
  const { fail, doc, problems, where } = opts;
  checkTypes(fail, raw, { commit_id: 'string', body: 'string', event: 'string' }, doc);
  unknownKeys(raw, BODY_KEYS, where, problems);
  const event = raw.event as string | undefined;
  if (event !== undefined && event !== '' && !EVENTS.includes(event as ReviewEvent))
    throw fail(
      422,
      `Invalid request.\n\nFor 'event', ${JSON.stringify(event)} is not a member of ${JSON.stringify(EVENTS).replaceAll(',', ', ')}.`,
      doc,
    );
  if (raw.comments !== undefined && !Array.isArray(raw.comments))
    throw fail(
      422,
      `Invalid request.\n\nFor 'comments', ${JSON.stringify(raw.comments)} is not an array.`,
      doc,
    );
  const comments = ((raw.comments as unknown[] | undefined) ?? []).map((item) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item))
      throw fail(422, `Invalid request.\n\nFor 'items', ${JSON.stringify(item)} is not an object.`, doc);
    const c = item as Json;
    const missing = ['path', 'body'].filter((k) => c[k] === undefined).map((k) => `"${k}"`);
    if (missing.length > 0)
      throw fail(
        422,
        `Invalid request.\n\n${missing.join(', ')} ${missing.length > 1 ? "weren't" : "wasn't"} supplied.`,
        doc,
      );
    const types = { path: 'string', body: 'string', side: 'string', start_side: 'string' };
    checkTypes(fail, c, { ...types, position: 'number', line: 'number', start_line: 'number' }, doc);
    for (const k of ['position', 'line', 'start_line'])
      if (c[k] !== undefined && !Number.isInteger(c[k]))
        throw fail(422, `Invalid request.\n\nFor '${k}', ${JSON.stringify(c[k])} is not an integer.`, doc);
    unknownKeys(c, COMMENT_KEYS, `${where} comments[]`, problems);
    if (c.line !== undefined && c.position !== undefined)
      problems.push(
        `POST ${where}: a comment with both "line" and "position" (the legacy one); send one of them`,
      );
    const out: CommentRequest = { path: c.path as string, body: c.body as string };
    if (c.line !== undefined) out.line = c.line as number;
    if (c.side !== undefined) out.side = c.side as Side;
    if (c.start_line !== undefined) out.startLine = c.start_line as number;
    if (c.start_side !== undefined) out.startSide = c.start_side as Side;
    if (c.position !== undefined) out.position = c.position as number;
    return out;
  });
  const out: CreateReviewRequest = { body: (raw.body as string | undefined) ?? '', comments };
  if (raw.commit_id !== undefined) out.commitId = raw.commit_id as string;
  if (event) out.event = event as ReviewEvent;
  return out;
}

const THREAD = 'Pull request review thread';
const NO_HUNK = `${THREAD} diff hunk can't be blank`;

/**
 * Where GitHub places `c` in the diff (rows of its file, undefined when the diff does not touch it),
 * or the sentence it refuses the review with.
 */
export function placeComment(c: CommentRequest, rows: DiffRow[] | undefined): PlacedComment | string {
  if (!c.body.trim()) return 'Review comments is invalid and Review threads is invalid';
  if (!rows) return 'Path could not be resolved';
  const side = c.side ?? 'RIGHT';
  if (!SIDES.includes(side)) return `${THREAD} side is not included in the list`;
  if (c.line === undefined) {
    // The legacy way: a position in the file's diff; GitHub reports the line and side it lands on.
    const row = c.position === undefined ? undefined : rows.find((r) => r.position === c.position);
    if (!row)
      return c.position === undefined
        ? 'Line could not be resolved'
        : `${THREAD} position is invalid and ${NO_HUNK}`;
    return { path: c.path, body: c.body, ...lineOf(row), position: row.position, diffHunk: row.diffHunk };
  }
  const row = rowAt(rows, c.line, side);
  if (!row) return 'Line could not be resolved';
  const placed: PlacedComment = {
    ...{ path: c.path, body: c.body, line: c.line, side },
    ...{ position: row.position, diffHunk: row.diffHunk },
  };
  if (c.startLine === undefined) return placed; // start_side alone says nothing
  const startSide = c.startSide ?? side;
  if (!SIDES.includes(startSide)) return `${THREAD} start side is not included in the list`;
  const start = rowAt(rows, c.startLine, startSide);
  if (!start || start.hunk !== row.hunk)
    return `${THREAD} start line must be part of the same hunk as the line.`;
  if (start.position >= row.position) return `${THREAD} start line must precede the end line.`;
  return { ...placed, startLine: c.startLine, startSide };
}

/** Places every comment of a review at `range` (the review's commit), or the first refusal. */
export async function placeComments(
  repo: { barePath: string },
  env: NodeJS.ProcessEnv,
  range: { base: string; head: string },
  comments: CommentRequest[],
): Promise<PlacedComment[] | { refused: string }> {
  const diffs = new Map<string, DiffRow[] | undefined>();
  const placed: PlacedComment[] = [];
  for (const c of comments) {
    if (!diffs.has(c.path)) diffs.set(c.path, await fileDiff(repo, env, range, c.path));
    const p = placeComment(c, diffs.get(c.path));
    if (typeof p === 'string') return { refused: p };
    placed.push(p);
  }
  return placed;
}
