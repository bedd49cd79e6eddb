// Where a pull request review comment sits in the diff, as GitHub computes it: `position` counts the
// lines of the file's diff from the line below its first @@ header (later @@ headers count too), and
// `diff_hunk` is the hunk up to and including the commented line. A line outside the diff cannot be
// commented on (GitHub: "pull_request_review_thread.line must be part of the diff").
import { runGit } from './git-http-backend.js';

export interface DiffPlace {
  position: number;
  diffHunk: string;
}
export type Side = 'LEFT' | 'RIGHT';

/** One line of a file's diff that a comment can sit on. */
export interface DiffRow {
  position: number;
  kind: ' ' | '+' | '-';
  /** Its line number on the base side (context and removed lines). */
  oldLine?: number;
  /** Its line number on the head side (context and added lines). */
  newLine?: number;
  /** Which hunk (0-based) it belongs to. */
  hunk: number;
  /** The hunk from its @@ header up to and including this line. */
  diffHunk: string;
}

/** The rows of `path`'s diff base...head, or undefined when the diff does not touch `path`. */
export async function fileDiff(
  repo: { barePath: string },
  env: NodeJS.ProcessEnv,
  range: { base: string; head: string },
  path: string,
): Promise<DiffRow[] | undefined> {
  const args = ['diff', '--no-color', '-U3', `${range.base}...${range.head}`, '--', path];
  // Literal: a path is a file's path, never a glob; a directory's path names no file of the diff.
  const diff = await runGit(['--literal-pathspecs', ...args], { cwd: repo.barePath, env });
  const lines = diff.split('\n');
  const files = lines.filter((l) => l.startsWith('diff --git '));
  if (files.length !== 1 || !files[0]?.endsWith(` b/${path}`)) return undefined;
  const first = lines.findIndex((l) => l.startsWith('@@'));
  if (first < 0) return undefined;
  const rows: DiffRow[] = [];
  let position = 0;
  let hunk = -1;
  let hunkStart = first;
  let oldLine = 0;
  let newLine = 0;
  for (let i = first; i < lines.length; i++) {
    const text = lines[i] ?? '';
    if (text.startsWith('@@')) {
      const m = /^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(text);
      oldLine = Number(m?.[1] ?? 0);
      newLine = Number(m?.[2] ?? 0);
      hunkStart = i;
      hunk++;
      if (i !== first) position++;
      continue;
    }
    if (text === '' && i === lines.length - 1) break; // the diff's trailing newline
    position++;
    if (text.startsWith('\\')) continue; // "\ No newline at end of file"
    const diffHunk = lines.slice(hunkStart, i + 1).join('\n');
    if (text.startsWith('-')) rows.push({ position, kind: '-', oldLine: oldLine++, hunk, diffHunk });
    else if (text.startsWith('+')) rows.push({ position, kind: '+', newLine: newLine++, hunk, diffHunk });
    else rows.push({ position, kind: ' ', oldLine: oldLine++, newLine: newLine++, hunk, diffHunk });
  }
  return rows;
}

/** The row of `line` on `side` (RIGHT: the head's line numbers, LEFT: the base's), if in the diff. */
export function rowAt(rows: DiffRow[], line: number, side: Side): DiffRow | undefined {
  return rows.find((r) => (side === 'RIGHT' ? r.newLine : r.oldLine) === line);
}

/** The line and side GitHub reports for a row (a removed line is on the LEFT, anything else RIGHT). */
export function lineOf(row: DiffRow): { line: number; side: Side } {
  return row.kind === '-'
    ? { line: row.oldLine ?? 0, side: 'LEFT' }
    : { line: row.newLine ?? 0, side: 'RIGHT' };
}

/** The place of new-side `line` of `path` in the diff base...head, or why GitHub would refuse it. */
export async function diffPlace(
  repo: { barePath: string },
  env: NodeJS.ProcessEnv,
  range: { base: string; head: string },
  path: string,
  line: number,
): Promise<DiffPlace | { refused: string }> {
  const rows = await fileDiff(repo, env, range, path);
  if (!rows) return { refused: 'pull_request_review_thread.path could not be resolved' };
  const row = rowAt(rows, line, 'RIGHT');
  if (!row) return { refused: 'pull_request_review_thread.line must be part of the diff' };
  return { position: row.position, diffHunk: row.diffHunk };
}
