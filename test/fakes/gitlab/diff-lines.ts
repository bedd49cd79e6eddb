// Whether a DiffNote's text position lands on a line, as GitLab decides it (DiffNote#set_line_code, then
// its line_code validation): Gitlab::Diff::Position#diff_file compares start_sha and head_sha (from their
// merge base, or straight from start_sha when base_sha equals it), takes the first file of that diff
// limited to [old_path, new_path], parses its patch as Gitlab::Diff::Parser does, unfolds it around an
// unchanged line outside the hunks as Gitlab::Diff::LinesUnfolder does, and looks for a line whose
// old_line and new_line both equal the position's (Gitlab::Diff::File#line_for_position).
import { runGit } from '../git-http-backend.js';
import type { GitLabRepo, GitLabRepos } from './git.js';
import { resolveCommit } from './git-write.js';

/** Gitlab::Diff::Line: `type` null (context), 'new', 'old', 'match' or '<context>-nonewline'. */
interface DiffLine {
  type: string | null;
  oldPos: number;
  newPos: number;
}
interface DiffFile {
  oldPath?: string;
  newFile: boolean;
  deletedFile: boolean;
  lines: DiffLine[];
}
export interface TextPosition {
  base_sha: string | null;
  start_sha: string | null;
  head_sha: string | null;
  old_path: string | null;
  new_path: string | null;
  old_line: number | null;
  new_line: number | null;
}

const META = ['match', 'new-nonewline', 'old-nonewline'];
const oldLineOf = (l: DiffLine) =>
  l.type === 'new' || l.type === 'new-nonewline' || META.includes(l.type ?? '') ? null : l.oldPos;
const newLineOf = (l: DiffLine) =>
  l.type === 'old' || l.type === 'old-nonewline' || META.includes(l.type ?? '') ? null : l.newPos;
// Gitlab::Diff::Parser#filename?: skipped wherever they appear, a removed "-- a…" line included.
const FILENAME = ['--- /dev/null', '+++ /dev/null', '--- a', '+++ b', '+++ a', '--- b'];
const UNFOLD_CONTEXT_SIZE = 3;

const git = (repos: GitLabRepos, r: GitLabRepo, args: string[]) =>
  runGit(args, { cwd: r.barePath, env: { ...repos.env, GIT_LITERAL_PATHSPECS: '1' } });

/** Gitlab::Diff::Parser#parse over one file's patch (from its first `@@`). */
function parse(patch: string[]): DiffLine[] {
  const lines: DiffLine[] = [];
  let lineOld = 1;
  let lineNew = 1;
  let context = '';
  for (const line of patch) {
    if (FILENAME.some((p) => line.startsWith(p))) continue;
    if (line.startsWith('@@ -')) {
      lineOld = Math.abs(Number.parseInt(/-[0-9]*/.exec(line)?.[0] ?? '', 10)) || 0;
      lineNew = Math.abs(Number.parseInt(/\+[0-9]*/.exec(line)?.[0] ?? '', 10)) || 0;
      if (lineOld <= 1 && lineNew <= 1) continue; // top of file: no match line
      lines.push({ type: 'match', oldPos: lineOld, newPos: lineNew });
      continue;
    }
    const first = line[0];
    const type =
      first === '\\' ? `${context}-nonewline` : first === '+' ? 'new' : first === '-' ? 'old' : null;
    lines.push({ type, oldPos: lineOld, newPos: lineNew });
    if (first === '+') {
      lineNew++;
      context = 'new';
    } else if (first === '-') {
      lineOld++;
      context = 'old';
    } else if (first !== '\\') {
      lineNew++;
      lineOld++;
    }
  }
  return lines;
}

/** The first file of the diff (of every file when `paths` is empty), renames found as Gitaly finds them. */
async function firstDiffFile(
  repos: GitLabRepos,
  r: GitLabRepo,
  from: string,
  to: string,
  paths: string[],
): Promise<DiffFile | undefined> {
  const args = ['-c', 'core.quotePath=false', 'diff', '--no-color', '--no-ext-diff', '--no-textconv', '-M'];
  const out = await git(repos, r, [...args, '-U3', from, to, '--', ...paths]).catch(() => undefined);
  if (!out) return undefined;
  const all = out.split('\n');
  if (all.at(-1) === '') all.pop();
  const start = all.findIndex((l) => l.startsWith('diff --git '));
  if (start < 0) return undefined;
  const next = all.findIndex((l, i) => i > start && l.startsWith('diff --git '));
  const section = all.slice(start + 1, next < 0 ? undefined : next);
  const hunk = section.findIndex((l) => l.startsWith('@@'));
  const header = hunk < 0 ? section : section.slice(0, hunk);
  const renamedFrom = header.find((l) => l.startsWith('rename from '))?.slice('rename from '.length);
  const minus = header.find((l) => l.startsWith('--- '))?.slice(4);
  return {
    oldPath: renamedFrom ?? (minus?.startsWith('a/') ? minus.slice(2) : undefined),
    newFile: header.some((l) => l.startsWith('new file mode')),
    deletedFile: header.some((l) => l.startsWith('deleted file mode')),
    lines: hunk < 0 ? [] : parse(section.slice(hunk)),
  };
}

/** Gitlab::Git::Blob#lines' size: `data.split($/)`, so trailing empty lines do not count. */
async function blobLineCount(repos: GitLabRepos, r: GitLabRepo, sha: string, path: string) {
  const text = await git(repos, r, ['cat-file', 'blob', `${sha}:${path}`]).catch(() => '');
  const parts = text.split('\n');
  while (parts.length > 0 && parts.at(-1) === '') parts.pop();
  return parts.length;
}

/** Gitlab::Diff::LinesUnfolder: does unfolding around an unchanged position bring its line in? */
function unfoldFinds(file: DiffFile, pos: TextPosition, oldBlobLines: number): boolean {
  const { old_line: oldLine, new_line: newLine } = pos;
  if (oldLine === null || newLine === null) return false; // only an unchanged position unfolds
  if (file.newFile || file.deletedFile || oldLine > oldBlobLines) return false;
  const { lines } = file;
  const last = lines.at(-1);
  if (!last) return false;
  const bottom = oldLine > last.oldPos;
  const at = bottom ? lines.length - 1 : lines.findIndex((l) => l.oldPos > oldLine && l.type === 'match');
  const unfold = lines[at];
  if (!unfold) return false;
  const offset = unfold.newPos - unfold.oldPos;
  const before = at > 0 ? (lines[at - 1]?.oldPos ?? 0) : 0;
  const from = Math.max(oldLine - UNFOLD_CONTEXT_SIZE, before + 1);
  let to = oldLine + UNFOLD_CONTEXT_SIZE;
  const after = lines[at + 1];
  if (!bottom && after && to >= after.oldPos - 1) to = after.oldPos - 1;
  if (oldLine < from || oldLine > Math.min(to, oldBlobLines)) return false;
  return newLine === oldLine + offset;
}

/** Position#line_code is present: the position's diff has its line (unfolded if need be). */
export async function positionFindsLine(
  repos: GitLabRepos,
  r: GitLabRepo,
  pos: TextPosition,
): Promise<boolean> {
  if (!pos.start_sha || !pos.head_sha) return false; // DiffRefs#complete? fails: no diff at all
  const start = await resolveCommit(repos, r, pos.start_sha.trim());
  const head = await resolveCommit(repos, r, pos.head_sha.trim());
  if (!start || !head) return false; // CompareService finds no commits: no comparison
  const from = pos.start_sha === pos.base_sha ? start : await repos.mergeBase(r, head, start);
  if (!from) return false;
  const paths = [...new Set([pos.old_path, pos.new_path].filter((p): p is string => p !== null))];
  if (paths.includes('')) return false; // an empty pathspec matches nothing Gitaly would return
  const file = await firstDiffFile(repos, r, from, head, paths);
  if (!file) return false;
  const found = file.lines.findLast((l) => oldLineOf(l) === pos.old_line && newLineOf(l) === pos.new_line);
  if (found) return true;
  const oldBlobLines = file.oldPath ? await blobLineCount(repos, r, from, file.oldPath) : 0;
  return unfoldFinds(file, pos, oldBlobLines);
}
