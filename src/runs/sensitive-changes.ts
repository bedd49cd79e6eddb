import type { RepoPolicy } from '../config/policy.js';
import type { Approver, Decision } from './approval-policy.js';
import { globCovers, matchesGlob } from './path-glob.js';

/**
 * What in an approved diff deserves a second look before anyone approves it (DESIGN.md §5), read
 * from the `git diff --binary --no-renames --full-index` text itself (runs/workspace-git.ts
 * `diffAgainst`), and who may approve it under the repository's `protected_paths` and
 * `allow_ci_changes`. Pure: no git, no filesystem.
 */

export type SensitiveKind =
  | 'git_metadata'
  | 'ci'
  | 'protected'
  | 'symlink'
  | 'submodule'
  | 'gitmodules'
  | 'gitattributes'
  | 'codeowners'
  | 'executable'
  | 'dependencies'
  | 'unreadable';

/** Short names for each kind, for the approval message and the PR body. */
export const SENSITIVE_KIND_LABELS: Record<SensitiveKind, string> = {
  git_metadata: 'Git metadata',
  ci: 'CI definition',
  protected: 'Protected path',
  symlink: 'Symlink',
  submodule: 'Submodule',
  gitmodules: '.gitmodules',
  gitattributes: '.gitattributes',
  codeowners: 'CODEOWNERS',
  executable: 'Executable bit',
  dependencies: 'Dependencies',
  unreadable: 'Unreadable diff header',
};

export interface SensitiveFinding {
  kind: SensitiveKind;
  path: string;
  /** One line a person can read: what changed and why it matters. */
  reason: string;
  /** symlink: where the link points, as stored. */
  target?: string;
  /** symlink: the target is absolute or climbs out of the repository with `..`. */
  outside?: boolean;
  /** protected: the `protected_paths` pattern that matched, and that entry's approvers. */
  pattern?: string;
  approvers?: string[];
}

export type SensitivePolicy = Pick<RepoPolicy, 'protected_paths' | 'allow_ci_changes'>;

/** The findings, and what they mean for approval under the policy. */
export interface SensitiveReview {
  findings: SensitiveFinding[];
  /** CI definitions change and the repository does not set `allow_ci_changes: true`. */
  ciRefused: boolean;
  /** Why nobody may approve this diff (CI refused, a `.git` path), or undefined. */
  refusal?: string;
}

// ---------------------------------------------------------------------------------------------
// The rules, by path

/** Where CI systems read their definitions; changes run with the repository's CI secrets. */
export const CI_PATTERNS = [
  '.github/workflows/**',
  '.github/actions/**',
  '.gitlab-ci.yml',
  '.gitlab/ci/**',
  '**/Jenkinsfile',
  '.circleci/**',
  'azure-pipelines.yml',
  'azure-pipelines.yaml',
  '.azure-pipelines/**',
  '.buildkite/**',
  'bitbucket-pipelines.yml',
  '.travis.yml',
  '.drone.yml',
] as const;

/** GitHub reads CODEOWNERS from these three places (GitLab also from .gitlab/). */
const CODEOWNERS_PATHS = ['CODEOWNERS', '.github/CODEOWNERS', 'docs/CODEOWNERS', '.gitlab/CODEOWNERS'];

/** Lock files: they pin exactly what gets installed. Matched by file name, at any depth. */
const LOCK_FILES = [
  'package-lock.json',
  'npm-shrinkwrap.json',
  'yarn.lock',
  'pnpm-lock.yaml',
  'bun.lock',
  'bun.lockb',
  'poetry.lock',
  'Pipfile.lock',
  'uv.lock',
  'pdm.lock',
  'go.sum',
  'Cargo.lock',
  'Gemfile.lock',
  'composer.lock',
  'gradle.lockfile',
  'mix.lock',
  'Package.resolved',
  'Podfile.lock',
  'packages.lock.json',
  'pubspec.lock',
];

/** Manifests: what gets installed, and often which install scripts run. By file name (globs allowed). */
const MANIFESTS = [
  'package.json',
  'pnpm-workspace.yaml',
  '.npmrc',
  '.yarnrc',
  '.yarnrc.yml',
  'requirements*.txt',
  'constraints*.txt',
  'Pipfile',
  'pyproject.toml',
  'setup.py',
  'setup.cfg',
  'go.mod',
  'go.work',
  'Cargo.toml',
  'Gemfile',
  '*.gemspec',
  'pom.xml',
  'build.gradle',
  'build.gradle.kts',
  'settings.gradle',
  'settings.gradle.kts',
  'composer.json',
  'mix.exs',
  'Package.swift',
  'Podfile',
  'pubspec.yaml',
  'Directory.Packages.props',
  'packages.config',
];

const SYMLINK = '120000';
const GITLINK = '160000';
const EXECUTABLE = '100755';
const REGULAR = '100644';

/** How many paths a refusal names before "and N more". */
const PATHS_IN_REASON = 3;

// ---------------------------------------------------------------------------------------------
// Reading the diff

type Status = 'added' | 'changed' | 'deleted';

interface FilePatch {
  /** The path (a/ and b/ are the same path: diffs are taken with --no-renames). */
  paths: string[];
  header: string;
  status: Status;
  oldMode?: string;
  newMode?: string;
  /** The first added content line, without its `+` (a symlink's target, a gitlink's commit). */
  firstAdded?: string;
  binary: boolean;
}

/** Splits `git diff` text into one record per file. Content lines never start with `diff --git`. */
export function readFilePatches(diff: string | Uint8Array): FilePatch[] {
  const text = typeof diff === 'string' ? diff : Buffer.from(diff).toString('utf8');
  const patches: FilePatch[] = [];
  let current: FilePatch | undefined;
  let inHunk = false;
  let fallback: string | undefined;
  const finish = () => {
    if (current && current.paths.length === 0 && fallback !== undefined) current.paths.push(fallback);
  };
  for (const line of text.split('\n')) {
    if (line.startsWith('diff --git ')) {
      finish();
      current = {
        paths: pathsOfHeader(line.slice('diff --git '.length)),
        header: line,
        status: 'changed',
        binary: false,
      };
      patches.push(current);
      inHunk = false;
      fallback = undefined;
      continue;
    }
    if (!current) continue;
    if (inHunk) {
      if (line.startsWith('+') && current.firstAdded === undefined) current.firstAdded = line.slice(1);
      continue;
    }
    if (line.startsWith('@@')) inHunk = true;
    else if (line === 'GIT binary patch' || line.startsWith('Binary files ')) {
      current.binary = true;
      inHunk = true;
    } else if (line.startsWith('new file mode ')) {
      current.status = 'added';
      current.newMode = line.slice('new file mode '.length).trim();
    } else if (line.startsWith('deleted file mode ')) {
      current.status = 'deleted';
      current.oldMode = line.slice('deleted file mode '.length).trim();
    } else if (line.startsWith('old mode ')) current.oldMode = line.slice('old mode '.length).trim();
    else if (line.startsWith('new mode ')) current.newMode = line.slice('new mode '.length).trim();
    else if (line.startsWith('index ')) {
      // `index <old>..<new> <mode>` when the mode did not change.
      const mode = line.split(' ')[2];
      if (mode) {
        current.oldMode ??= mode;
        current.newMode ??= mode;
      }
    } else if (line.startsWith('+++ ') || line.startsWith('--- ')) {
      const name = unquote(line.slice(4).replace(/\t$/, ''));
      if (name !== undefined && name !== '/dev/null') fallback ??= withoutPrefix(name);
    }
  }
  finish();
  return patches;
}

/**
 * The path of a `diff --git <a> <b>` header. Both sides name the same path (--no-renames), so the
 * header is the path twice; either may be C-quoted when the path has unusual bytes. The `a/` and
 * `b/` prefixes are taken off whatever they are (diff.noprefix or mnemonicPrefix in a config the
 * agent could write change them).
 */
function pathsOfHeader(rest: string): string[] {
  let a: string | undefined;
  let b: string | undefined;
  if (rest.startsWith('"')) {
    const first = readQuoted(rest, 0);
    if (first) {
      a = first.value;
      const tail = rest.slice(first.end + 1);
      b = tail.startsWith('"') ? readQuoted(tail, 0)?.value : tail;
    }
  } else if (rest.endsWith('"')) {
    const open = rest.lastIndexOf(' "');
    if (open > 0) {
      a = rest.slice(0, open);
      b = readQuoted(rest, open + 1)?.value;
    }
  } else if (rest.length % 2 === 1 && rest[(rest.length - 1) / 2] === ' ') {
    a = rest.slice(0, (rest.length - 1) / 2);
    b = rest.slice((rest.length + 1) / 2);
  }
  if (a === undefined || b === undefined) return [];
  const pa = withoutPrefix(a);
  const pb = withoutPrefix(b);
  if (pa === pb) return [pb];
  if (a === b) return [a];
  return [pa, pb];
}

function withoutPrefix(name: string): string {
  return /^[a-z]\//.test(name) ? name.slice(2) : name;
}

function unquote(name: string): string | undefined {
  return name.startsWith('"') ? readQuoted(name, 0)?.value : name;
}

const ESCAPES: Record<string, number> = { a: 7, b: 8, t: 9, n: 10, v: 11, f: 12, r: 13, '"': 34, '\\': 92 };

/** Reads a C-quoted name as git writes it (octal escapes are UTF-8 bytes). */
function readQuoted(text: string, start: number): { value: string; end: number } | undefined {
  const bytes: number[] = [];
  let i = start + 1;
  while (i < text.length) {
    const c = text[i] as string;
    if (c === '"') return { value: Buffer.from(bytes).toString('utf8'), end: i + 1 };
    if (c === '\\') {
      const next = text[i + 1] ?? '';
      const octal = /^[0-7]{3}/.exec(text.slice(i + 1, i + 4));
      if (octal) {
        bytes.push(Number.parseInt(octal[0], 8));
        i += 4;
      } else if (Object.hasOwn(ESCAPES, next)) {
        bytes.push(ESCAPES[next] as number);
        i += 2;
      } else return undefined;
    } else {
      bytes.push(...Buffer.from(c, 'utf8'));
      i += 1;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Findings

/**
 * Is this path component `.git` as some filesystem would see it: any case, trailing dots or spaces
 * (NTFS), characters HFS+ ignores, or NTFS's short name `git~1`?
 */
function isGitComponent(segment: string): boolean {
  const bare = segment
    .replace(/[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]/g, '')
    .replace(/[. ]+$/, '')
    .toLowerCase();
  return bare === '.git' || bare === 'git~1';
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Where a symlink points, resolved from its own directory; undefined when it leaves the repository. */
function resolveInside(linkPath: string, target: string): string | undefined {
  if (target.startsWith('/') || /^[A-Za-z]:[\\/]/.test(target) || target.startsWith('\\')) return undefined;
  const parts = linkPath.split('/').slice(0, -1);
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(part);
  }
  return parts.join('/');
}

const VERB: Record<Status, string> = { added: 'added', changed: 'changed', deleted: 'deleted' };

function findingsFor(patch: FilePatch, path: string, policy: SensitivePolicy): SensitiveFinding[] {
  const out: SensitiveFinding[] = [];
  const verb = VERB[patch.status];
  const name = basename(path);
  const segments = path.split('/');

  if (segments.some(isGitComponent))
    out.push({
      kind: 'git_metadata',
      path,
      reason: isGitComponent(name)
        ? `a file named .git (${verb}): git metadata, which airlock never pushes`
        : `inside a .git directory (${verb}): git metadata, which airlock never pushes`,
    });

  if (CI_PATTERNS.some((p) => matchesGlob(p, path)))
    out.push({
      kind: 'ci',
      path,
      reason:
        patch.status === 'deleted'
          ? 'CI definition deleted: the checks it ran will stop running'
          : `CI definition ${verb}: it runs in CI with the repository's secrets`,
    });

  for (const entry of policy.protected_paths) {
    const pattern = entry.paths.find((p) => globCovers(p, path));
    if (pattern)
      out.push({
        kind: 'protected',
        path,
        reason: `protected by "${pattern}" (${verb}): needs an approval from ${entry.approvers.join(', ')}`,
        pattern,
        approvers: [...entry.approvers],
      });
  }

  if (patch.newMode === SYMLINK && patch.status !== 'deleted') {
    const target = patch.binary ? undefined : patch.firstAdded;
    if (target === undefined) {
      out.push({ kind: 'symlink', path, reason: `symlink ${verb}; its target is not shown in the diff` });
    } else {
      const inside = resolveInside(path, target);
      const where =
        inside === undefined
          ? target.startsWith('/')
            ? ': an absolute path outside the repository'
            : ': outside the repository'
          : inside.split('/').some(isGitComponent)
            ? ': into .git'
            : '';
      out.push({
        kind: 'symlink',
        path,
        reason: `symlink ${verb} → ${target}${where}`,
        target,
        outside: inside === undefined,
      });
    }
  }

  if (patch.newMode === GITLINK && patch.status !== 'deleted') {
    const commit = /^Subproject commit ([0-9a-f]+)/.exec(patch.firstAdded ?? '')?.[1];
    out.push({
      kind: 'submodule',
      path,
      reason: `submodule ${verb}${commit ? ` → commit ${commit.slice(0, 12)}` : ''}: its code is fetched from elsewhere`,
    });
  }

  if (name === '.gitmodules')
    out.push({
      kind: 'gitmodules',
      path,
      reason: `.gitmodules ${verb}: submodule URLs decide what else gets cloned`,
    });

  if (name === '.gitattributes')
    out.push({
      kind: 'gitattributes',
      path,
      reason: `.gitattributes ${verb}: can change how files are filtered, diffed, merged and checked out`,
    });

  if (CODEOWNERS_PATHS.includes(path))
    out.push({ kind: 'codeowners', path, reason: `CODEOWNERS ${verb}: decides who must review changes` });

  if (patch.status === 'added' && patch.newMode === EXECUTABLE)
    out.push({ kind: 'executable', path, reason: 'new executable file (mode 100755)' });
  else if (patch.status === 'changed' && patch.oldMode === REGULAR && patch.newMode === EXECUTABLE)
    out.push({ kind: 'executable', path, reason: 'made executable (mode 100644 → 100755)' });
  else if (patch.status === 'changed' && patch.oldMode === EXECUTABLE && patch.newMode === REGULAR)
    out.push({ kind: 'executable', path, reason: 'no longer executable (mode 100755 → 100644)' });

  if (LOCK_FILES.includes(name))
    out.push({
      kind: 'dependencies',
      path,
      reason: `lock file ${verb}: pins exactly which package versions get installed`,
    });
  else if (MANIFESTS.some((m) => matchesGlob(m, name)))
    out.push({
      kind: 'dependencies',
      path,
      reason: `dependency manifest ${verb}: decides what gets installed and which install scripts run`,
    });

  return out;
}

/** Most serious first: what blocks approval, then what narrows it, then what to read closely. */
const ORDER: SensitiveKind[] = [
  'git_metadata',
  'unreadable',
  'ci',
  'protected',
  'symlink',
  'submodule',
  'gitmodules',
  'gitattributes',
  'codeowners',
  'executable',
  'dependencies',
];

/** Everything in the diff that deserves a second look, most serious first, each path once per kind. */
export function findSensitiveChanges(diff: string | Uint8Array, policy: SensitivePolicy): SensitiveFinding[] {
  const findings: SensitiveFinding[] = [];
  // A type change (a file become a symlink) is two patches of one path, a deletion then an
  // addition: the later patch says what the path is now, so it wins.
  const seen = new Map<string, number>();
  for (const patch of readFilePatches(diff)) {
    const found =
      patch.paths.length === 0
        ? [
            {
              kind: 'unreadable' as const,
              path: patch.header.slice(0, 200),
              reason:
                'airlock could not read the path of this file from the diff: read it in the diff itself',
            },
          ]
        : patch.paths.flatMap((path) => findingsFor(patch, path, policy));
    for (const f of found) {
      const key = `${f.kind}\0${f.path}\0${f.pattern ?? ''}`;
      const at = seen.get(key);
      if (at === undefined) {
        seen.set(key, findings.length);
        findings.push(f);
      } else if (patch.status !== 'deleted') findings[at] = f;
    }
  }
  return findings.sort((x, y) => ORDER.indexOf(x.kind) - ORDER.indexOf(y.kind));
}

// ---------------------------------------------------------------------------------------------
// Decisions

const ALLOW: Decision = { allowed: true };

function listPaths(findings: readonly SensitiveFinding[]): string {
  const paths = [...new Set(findings.map((f) => f.path))];
  const shown = paths.slice(0, PATHS_IN_REASON).join(', ');
  return paths.length > PATHS_IN_REASON ? `${shown} and ${paths.length - PATHS_IN_REASON} more` : shown;
}

/**
 * May anyone at all approve this diff? No when it touches `.git`, when a path in it could not be
 * read, or when it changes CI while the repository does not allow CI changes.
 */
export function mayAnyoneApprove(
  findings: readonly SensitiveFinding[],
  policy: SensitivePolicy,
  repo: string,
): Decision {
  const git = findings.filter((f) => f.kind === 'git_metadata');
  if (git.length)
    return {
      allowed: false,
      reason: `This diff touches git metadata (${listPaths(git)}), which is never pushed. Request changes or reject it.`,
    };
  const unreadable = findings.filter((f) => f.kind === 'unreadable');
  if (unreadable.length)
    return {
      allowed: false,
      reason: `airlock could not read ${unreadable.length === 1 ? 'a path' : `${unreadable.length} paths`} in this diff, so it cannot say what would be pushed. Request changes or reject it.`,
    };
  const ci = findings.filter((f) => f.kind === 'ci');
  if (ci.length && policy.allow_ci_changes !== true)
    return {
      allowed: false,
      reason: `This diff changes CI definitions (${listPaths(ci)}), which ${repo} does not allow. Request changes or reject it, or set repos.${repo}.allow_ci_changes: true in airlock.yaml.`,
    };
  return ALLOW;
}

/**
 * May this person approve this diff, as far as its sensitive changes go? Call it with findings
 * computed from the diff and the policy as they are at the click, next to `mayApprove` (which
 * still decides whether the person approves for the repository at all).
 */
export function mayApproveSensitive(
  findings: readonly SensitiveFinding[],
  policy: SensitivePolicy,
  approver: Approver,
  repo: string,
): Decision {
  const anyone = mayAnyoneApprove(findings, policy, repo);
  if (!anyone.allowed) return anyone;
  const ids = [approver.id, ...(approver.groups ?? [])];
  const missing = findings.filter(
    (f) => f.kind === 'protected' && !(f.approvers ?? []).some((a) => ids.includes(a)),
  );
  if (missing.length) {
    const needs = [...new Set(missing.map((f) => `${f.pattern}: ${(f.approvers ?? []).join(', ')}`))];
    return {
      allowed: false,
      reason: `This diff changes protected paths (${listPaths(missing)}) and you are not among their approvers (${needs.join('; ')}).`,
    };
  }
  return ALLOW;
}

/** The findings and what they mean for approval: what the approval message shows. */
export function reviewSensitiveChanges(
  diff: string | Uint8Array,
  policy: SensitivePolicy,
  repo: string,
): SensitiveReview {
  const findings = findSensitiveChanges(diff, policy);
  const anyone = mayAnyoneApprove(findings, policy, repo);
  return {
    findings,
    ciRefused: policy.allow_ci_changes !== true && findings.some((f) => f.kind === 'ci'),
    ...(anyone.allowed ? {} : { refusal: anyone.reason }),
  };
}

/** Protected-path entries this diff touches, each once: who must approve, for the message. */
export function protectedEntries(
  findings: readonly SensitiveFinding[],
): { pattern: string; approvers: string[]; paths: string[] }[] {
  const byPattern = new Map<string, { pattern: string; approvers: string[]; paths: string[] }>();
  for (const f of findings) {
    if (f.kind !== 'protected' || f.pattern === undefined) continue;
    const key = `${f.pattern}\0${(f.approvers ?? []).join(',')}`;
    const entry = byPattern.get(key) ?? { pattern: f.pattern, approvers: f.approvers ?? [], paths: [] };
    entry.paths.push(f.path);
    byPattern.set(key, entry);
  }
  return [...byPattern.values()];
}
