/**
 * Path patterns as `protected_paths` and the sensitive-change rules write them: always anchored at
 * the repository's root, `/`-separated.
 *
 * - `**` as a whole segment matches any number of segments, none included (`.github/**`, `deploy/**`);
 * - `*` matches any run of characters within one segment, dot files included;
 * - `?` matches one character other than `/`;
 * - everything else is literal (the policy schema refuses `[`, `]`, `{`, `}`, `\` and a leading `!`).
 *
 * A pattern that names a directory covers everything under it: `deploy` and `deploy/` cover
 * `deploy/prod.yaml` as `deploy/**` does. For a protection rule, matching too much is the safe way
 * to be wrong.
 */

/** Does `pattern` match `path` exactly (the whole path, not a directory above it)? */
export function matchesGlob(pattern: string, path: string): boolean {
  const p = segmentsOf(pattern);
  const s = segmentsOf(path);
  // memo[i][j]: does p[i..] match s[j..]? Segment-wise, so `**` costs O(|p|·|s|), never exponential.
  const memo = new Map<number, boolean>();
  const width = s.length + 1;
  const go = (i: number, j: number): boolean => {
    const key = i * width + j;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let result: boolean;
    if (i === p.length) result = j === s.length;
    else if (p[i] === '**') result = go(i + 1, j) || (j < s.length && go(i, j + 1));
    else result = j < s.length && segmentMatches(p[i] as string, s[j] as string) && go(i + 1, j + 1);
    memo.set(key, result);
    return result;
  };
  return go(0, 0);
}

/** Does `pattern` match `path`, or a directory that contains it? */
export function globCovers(pattern: string, path: string): boolean {
  const s = segmentsOf(path);
  for (let n = s.length; n > 0; n--) if (matchesGlob(pattern, s.slice(0, n).join('/'))) return true;
  return false;
}

function segmentsOf(path: string): string[] {
  return path.split('/').filter((segment) => segment !== '');
}

const segmentRegexes = new Map<string, RegExp>();

function segmentMatches(pattern: string, segment: string): boolean {
  if (!/[*?]/.test(pattern)) return pattern === segment;
  let regex = segmentRegexes.get(pattern);
  if (!regex) {
    const body = pattern
      .replace(/\*+/g, '*')
      .split('')
      .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
      .join('');
    regex = new RegExp(`^${body}$`, 's');
    segmentRegexes.set(pattern, regex);
  }
  return regex.test(segment);
}
