// Git plumbing the PR-watch hooks of the GitLab stand-in need on the bare repositories: resolving what
// project.commit(ref) resolves, a commit made without a push (someone else's), the merge commit GitLab's
// "merge" method makes, and where a line of the new file sits in the old one (a DiffNote's old_line).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runGit } from '../git-http-backend.js';
import type { GitLabRepo, GitLabRepos } from './git.js';

export interface Identity {
  name: string;
  email: string;
}

const run = (git: GitLabRepos, r: GitLabRepo, args: string[], env: NodeJS.ProcessEnv = {}) =>
  runGit(args, { cwd: r.barePath, env: { ...git.env, ...env } });

const identityEnv = (who: Identity): NodeJS.ProcessEnv => ({
  GIT_AUTHOR_NAME: who.name,
  GIT_AUTHOR_EMAIL: who.email,
  GIT_COMMITTER_NAME: who.name,
  GIT_COMMITTER_EMAIL: who.email,
});

/** project.commit(id): a full or short SHA or a ref name; undefined when nothing resolves. */
export async function resolveCommit(
  git: GitLabRepos,
  r: GitLabRepo,
  rev: string,
): Promise<string | undefined> {
  if (!rev || rev.startsWith('-') || /[\s\0]/.test(rev)) return undefined;
  return run(git, r, ['rev-parse', '--verify', '--quiet', `${rev}^{commit}`]).then(
    (out) => out.trim() || undefined,
    () => undefined,
  );
}

/** Commits reachable from `head` but not from `not`, oldest first. */
export async function revList(
  git: GitLabRepos,
  r: GitLabRepo,
  head: string,
  not?: string,
): Promise<string[]> {
  const args = ['rev-list', '--reverse', head, ...(not ? ['--not', not] : [])];
  return (await run(git, r, args)).split('\n').filter(Boolean);
}

/** Branch names containing the commit, sorted as Gitaly lists them (by name). */
export async function branchesContaining(git: GitLabRepos, r: GitLabRepo, sha: string): Promise<string[]> {
  const out = await run(git, r, ['for-each-ref', '--contains', sha, '--format=%(refname)', 'refs/heads/']);
  return out
    .split('\n')
    .filter(Boolean)
    .map((ref) => ref.slice('refs/heads/'.length))
    .sort();
}

/** A commit of `files` on top of `branch`, made in the bare repository as a push from elsewhere would. */
export async function commitFiles(
  git: GitLabRepos,
  r: GitLabRepo,
  opts: { branch: string; files: Record<string, string>; message: string; author: Identity },
): Promise<{ oldSha: string; newSha: string }> {
  const parent = await git.branchSha(r, opts.branch);
  if (!parent) throw new Error(`no branch ${opts.branch} in ${r.path}`);
  const tmp = await mkdtemp(join(git.root, 'commit-'));
  try {
    const env = { ...identityEnv(opts.author), GIT_INDEX_FILE: join(tmp, 'index') };
    await run(git, r, ['read-tree', parent], env);
    let n = 0;
    for (const [path, content] of Object.entries(opts.files)) {
      const blobFile = join(tmp, `blob-${n++}`);
      await writeFile(blobFile, content);
      const blob = (await run(git, r, ['hash-object', '-w', blobFile])).trim();
      await run(git, r, ['update-index', '--add', '--cacheinfo', `100644,${blob},${path}`], env);
    }
    const tree = (await run(git, r, ['write-tree'], env)).trim();
    const newSha = (await run(git, r, ['commit-tree', tree, '-p', parent, '-m', opts.message], env)).trim();
    await run(git, r, ['update-ref', `refs/heads/${opts.branch}`, newSha, parent]);
    return { oldSha: parent, newSha };
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** The merge commit of GitLab's "merge" method (never a fast-forward); throws on a conflict. */
export async function mergeCommit(
  git: GitLabRepos,
  r: GitLabRepo,
  opts: { target: string; source: string; message: string; author: Identity },
): Promise<string> {
  const targetSha = await git.branchSha(r, opts.target);
  if (!targetSha) throw new Error(`no target branch ${opts.target} in ${r.path}`);
  const tree = await run(git, r, ['merge-tree', '--write-tree', targetSha, opts.source]).then(
    (out) => out.split('\n')[0]?.trim() ?? '',
    () => {
      throw new Error(`merge request of ${opts.source} into ${opts.target} has conflicts`);
    },
  );
  const env = identityEnv(opts.author);
  const args = ['commit-tree', tree, '-p', targetSha, '-p', opts.source, '-m', opts.message];
  const sha = (await run(git, r, args, env)).trim();
  await run(git, r, ['update-ref', `refs/heads/${opts.target}`, sha, targetSha]);
  return sha;
}

export async function deleteBranch(git: GitLabRepos, r: GitLabRepo, branch: string): Promise<void> {
  await run(git, r, ['update-ref', '-d', `refs/heads/${branch}`]);
}

export async function changedPaths(git: GitLabRepos, r: GitLabRepo, base: string, head: string) {
  return (await run(git, r, ['diff', '--name-only', base, head])).split('\n').filter(Boolean);
}

export async function lineCount(git: GitLabRepos, r: GitLabRepo, sha: string, path: string): Promise<number> {
  const text = await run(git, r, ['show', `${sha}:${path}`]).catch(() => undefined);
  if (!text) return 0;
  return text.replace(/\n$/, '').split('\n').length;
}

/** For a line of the new file: null when the diff adds it, else its number in the old file. */
export async function oldLineOf(
  git: GitLabRepos,
  r: GitLabRepo,
  base: string,
  head: string,
  path: string,
  newLine: number,
): Promise<number | null> {
  const out = await run(git, r, ['diff', '-U0', base, head, '--', path]);
  let delta = 0;
  for (const m of out.matchAll(/^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@/gm)) {
    const oldCount = m[2] === undefined ? 1 : Number(m[2]);
    const newStart = Number(m[3]);
    const newCount = m[4] === undefined ? 1 : Number(m[4]);
    if (newCount > 0 && newLine >= newStart && newLine < newStart + newCount) return null;
    const before = newCount === 0 ? newStart < newLine : newStart + newCount - 1 < newLine;
    if (before) delta += oldCount - newCount;
  }
  return newLine + delta;
}
