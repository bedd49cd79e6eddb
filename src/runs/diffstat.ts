export interface FileStat {
  path: string;
  added: number;
  removed: number;
  binary: boolean;
}

export interface DiffStat {
  files: FileStat[];
  added: number;
  removed: number;
}

/** Counts a unified git diff's changed lines per file, as `git diff --stat` would. */
export function diffStat(diff: string): DiffStat {
  const files: FileStat[] = [];
  let current: FileStat | undefined;
  let inHunk = false;
  for (const line of diff.split('\n')) {
    if (line.startsWith('diff --git ')) {
      const match = /^diff --git a\/(.+) b\/(.+)$/.exec(line);
      current = { path: match?.[2] ?? line.slice(11), added: 0, removed: 0, binary: false };
      files.push(current);
      inHunk = false;
    } else if (!current) {
    } else if (line.startsWith('@@')) inHunk = true;
    else if (line.startsWith('GIT binary patch') || line.startsWith('Binary files ')) current.binary = true;
    else if (inHunk && line.startsWith('+')) current.added++;
    else if (inHunk && line.startsWith('-')) current.removed++;
  }
  return {
    files,
    added: files.reduce((n, f) => n + f.added, 0),
    removed: files.reduce((n, f) => n + f.removed, 0),
  };
}

export function formatDiffStat(stat: DiffStat): string {
  if (stat.files.length === 0) return 'no changes';
  const lines = stat.files.map((f) => ` ${f.path} | ${f.binary ? 'binary' : `+${f.added} -${f.removed}`}`);
  const n = stat.files.length;
  lines.push(
    ` ${n} file${n === 1 ? '' : 's'} changed, ${stat.added} insertion(s)(+), ${stat.removed} deletion(s)(-)`,
  );
  return lines.join('\n');
}
