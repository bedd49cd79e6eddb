// Where a pull request review comment sits in the diff, as GitHub computes it: `position` counts the
// lines of the file's diff from the line below its first @@ header (later @@ headers count too), and
// `diff_hunk` is the hunk up to and including the commented line. A line outside the diff cannot be
// commented on (GitHub: "pull_request_review_thread.line must be part of the diff").
import { runGit } from './git-http-backend.js';

export interface DiffPlace {
  position: number;
  diffHunk: string;
}

/** The place of new-side `line` of `path` in the diff base...head, or why GitHub would refuse it. */
export async function diffPlace(
  repo: { barePath: string },
  env: NodeJS.ProcessEnv,
  range: { base: string; head: string },
  path: string,
  line: number,
): Promise<DiffPlace | { refused: string }> {
  const diff = await runGit(['diff', '--no-color', '-U3', `${range.base}...${range.head}`, '--', path], {
    cwd: repo.barePath,
    env,
  });
  const lines = diff.split('\n');
  const first = lines.findIndex((l) => l.startsWith('@@'));
  if (first < 0) return { refused: 'pull_request_review_thread.path could not be resolved' };
  let position = 0;
  let hunkStart = first;
  let newLine = 0;
  for (let i = first; i < lines.length; i++) {
    const text = lines[i] ?? '';
    if (text.startsWith('@@')) {
      const m = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(text);
      newLine = Number(m?.[1] ?? 0);
      hunkStart = i;
      if (i !== first) position++;
      continue;
    }
    if (text === '' && i === lines.length - 1) break; // the diff's trailing newline
    position++;
    if (text.startsWith('\\')) continue; // "\ No newline at end of file"
    if (text.startsWith('-')) continue;
    if (newLine === line) return { position, diffHunk: lines.slice(hunkStart, i + 1).join('\n') };
    newLine++;
  }
  return { refused: 'pull_request_review_thread.line must be part of the diff' };
}
