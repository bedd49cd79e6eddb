// What happens to the GitHub stand-in's pull requests outside the client under test: a maintainer
// merges or closes one, someone pushes to a branch (the pull request's head, or its base).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type GitRepo, type GitRepos, type RefUpdate, runGit } from './git-http-backend.js';
import type { Json, Users } from './github-listing.js';

/** The state of a pull request this module changes. */
export interface PullState {
  number: number;
  state: 'open' | 'closed';
  headSha: string;
  closedAt: string | null;
  updatedAt: string;
  mergedAt: string | null;
  mergedBy: Json | null;
  mergeCommitSha: string | null;
}
export interface OutsidePush {
  owner: string;
  repo: string;
  branch: string;
  /** A branch or commit to start `branch` at when it does not exist yet (the push creates it). */
  from?: string;
  /** Files to write (path → content), or to delete (path → null), on top of the branch. */
  files: Record<string, string | null>;
  message?: string;
  author?: { name: string; email: string };
}

export class PullEvents {
  constructor(
    private readonly deps: {
      git: GitRepos;
      users: Users;
      mustRepo(owner: string, name: string): GitRepo;
      pullsOf(r: GitRepo): PullState[];
      /** Moves open pull requests along with their head branches, as a push received over git would. */
      advancePulls(r: GitRepo, updates: RefUpdate[]): Promise<void>;
    },
  ) {}

  private open(owner: string, repo: string, number: number): PullState {
    const p = this.deps.pullsOf(this.deps.mustRepo(owner, repo)).find((x) => x.number === number);
    if (!p) throw new Error(`no pull request #${number} in ${owner}/${repo}`);
    if (p.state !== 'open')
      throw new Error(`GitHub: pull request #${number} is closed (405 Pull Request is not mergeable)`);
    return p;
  }

  /** A maintainer merges the pull request (its state only: the base branch does not move). */
  merge(w: { owner: string; repo: string; number: number; by: string }): void {
    const p = this.open(w.owner, w.repo, w.number);
    const at = new Date().toISOString();
    p.state = 'closed';
    p.closedAt = at;
    p.mergedAt = at;
    p.mergedBy = this.deps.users.json(w.by);
    p.mergeCommitSha = p.headSha;
    p.updatedAt = at;
  }

  /** A maintainer closes the pull request without merging it. */
  closePull(w: { owner: string; repo: string; number: number }): void {
    const p = this.open(w.owner, w.repo, w.number);
    p.state = 'closed';
    p.closedAt = new Date().toISOString();
    p.updatedAt = p.closedAt;
  }

  /**
   * Someone else commits on top of `branch` and pushes (as an admin may, even to a protected branch):
   * an open pull request whose head it is moves to the new commit. Not recorded in `pushes`, which
   * holds what the server received over git. Returns the new commit's SHA.
   */
  async pushOutside(push: OutsidePush): Promise<string> {
    const { git } = this.deps;
    const r = this.deps.mustRepo(push.owner, push.repo);
    const existing = await git.branchSha(r, push.branch);
    const start = push.from === undefined ? undefined : ((await git.branchSha(r, push.from)) ?? push.from);
    const parent = existing ?? start;
    if (!parent) throw new Error(`no branch ${push.branch} in ${push.owner}/${push.repo} (and no "from")`);
    if (Object.keys(push.files).length === 0) throw new Error('pushOutside needs at least one file change');
    const work = await mkdtemp(join(tmpdir(), 'fake-github-outside-'));
    const author = push.author ?? { name: 'Outside Contributor', email: 'outside@example.com' };
    const env = {
      ...git.env,
      GIT_WORK_TREE: work, // an empty one: only the index and the object store are used
      GIT_INDEX_FILE: join(work, 'index'),
      ...{ GIT_AUTHOR_NAME: author.name, GIT_AUTHOR_EMAIL: author.email },
      ...{ GIT_COMMITTER_NAME: author.name, GIT_COMMITTER_EMAIL: author.email },
    };
    const run = (args: string[]) => runGit(args, { cwd: r.barePath, env }).then((out) => out.trim());
    try {
      await run(['read-tree', parent]);
      let n = 0;
      for (const [path, content] of Object.entries(push.files)) {
        if (content === null) {
          await run(['update-index', '--force-remove', '--', path]);
          continue;
        }
        const file = join(work, `blob-${n++}`);
        await writeFile(file, content);
        const blob = await run(['hash-object', '-w', file]);
        await run(['update-index', '--add', '--cacheinfo', `100644,${blob},${path}`]);
      }
      const tree = await run(['write-tree']);
      const message = push.message ?? `Update ${Object.keys(push.files).join(', ')}`;
      const sha = await run(['commit-tree', tree, '-p', parent, '-m', message]);
      const old = existing ?? '0'.repeat(40);
      await run(['update-ref', `refs/heads/${push.branch}`, sha, existing ?? '']);
      await this.deps.advancePulls(r, [{ ref: `refs/heads/${push.branch}`, oldSha: old, newSha: sha }]);
      return sha;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }
}
