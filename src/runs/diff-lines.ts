/**
 * The lines of each file's new version that a unified diff shows (added and context lines, as
 * GitHub and GitLab accept review comments on them), by path.
 */
export function newSideLines(diff: string): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  let path: string | undefined;
  let line = 0;
  let inHunk = false;
  for (const text of diff.split('\n')) {
    if (text.startsWith('diff --git ')) {
      path = undefined;
      inHunk = false;
      continue;
    }
    if (!inHunk && text.startsWith('+++ ')) {
      const name = text.slice(4).trim();
      path = name === '/dev/null' ? undefined : name.replace(/^b\//, '');
      if (path && !out.has(path)) out.set(path, new Set());
      continue;
    }
    const hunk = /^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@/.exec(text);
    if (hunk) {
      line = Number(hunk[1]);
      inHunk = true;
      continue;
    }
    if (!inHunk || !path) continue;
    if (text.startsWith('+') || text.startsWith(' ')) {
      out.get(path)?.add(line);
      line++;
    } else if (text.startsWith('\\')) {
      // "\ No newline at end of file"
    } else if (!text.startsWith('-')) inHunk = false;
  }
  return out;
}
