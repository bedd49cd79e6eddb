import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { AirlockError } from '../errors.js';
import { directSpawn, type Spawn } from '../shared/process-spawner.js';
import { git, gitText } from './git.js';
import { KeyedLock } from './keyed-lock.js';

/**
 * A bare mirror per repository under the data directory. Only airlock touches it; the sandbox
 * gets the objects of one commit and never the mirror, its remote or a credential.
 */
export class Mirrors {
  private readonly locks = new KeyedLock();
  /** When each repo@base was last fetched: runs started together share one fetch. */
  private readonly fresh = new Map<string, { at: number; sha: string }>();

  constructor(
    private readonly root: string,
    private readonly freshForMs = 5_000,
    private readonly now: () => number = Date.now,
    private readonly spawn: Spawn = directSpawn,
  ) {}

  pathFor(repo: string): string {
    return join(this.root, `${repo}.git`);
  }

  /** Fetches `base` (a branch, or a commit sha) and returns the commit the run is fixed to. */
  async fetchBase(repo: string, url: string, base: string, extraHeader?: string): Promise<string> {
    const release = await this.locks.acquire(repo);
    try {
      const key = `${repo}@${base}`;
      const recent = this.fresh.get(key);
      if (recent && this.now() - recent.at < this.freshForMs) return recent.sha;
      const dir = this.pathFor(repo);
      if (!existsSync(join(dir, 'HEAD'))) {
        mkdirSync(dir, { recursive: true });
        await git(['init', '--bare', '-q', dir], { cwd: dir, spawn: this.spawn });
      }
      const isSha = /^[0-9a-f]{40}$/.test(base);
      // A full ref (a pull request's head, refs/pull/N/head) is fetched as it is named.
      const isRef = base.startsWith('refs/');
      const refspec = isSha
        ? '+refs/heads/*:refs/heads/*'
        : isRef
          ? `+${base}:${base}`
          : `+refs/heads/${base}:refs/heads/${base}`;
      try {
        await git(['fetch', '--quiet', '--no-tags', '--prune', url, refspec], {
          cwd: dir,
          extraHeader,
          spawn: this.spawn,
        });
      } catch (error) {
        throw new AirlockError(
          'git_failed',
          `Cannot fetch ${base} of ${repo} from ${url}: ${(error as Error).message.replace(/^git fetch failed: /, '')}`,
        );
      }
      const ref = isSha || isRef ? base : `refs/heads/${base}`;
      const sha = await gitText(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], {
        cwd: dir,
        spawn: this.spawn,
      }).catch(() => {
        throw new AirlockError('git_failed', `${base} is not a branch or commit of ${repo}.`);
      });
      this.fresh.set(key, { at: this.now(), sha });
      return sha;
    } finally {
      release();
    }
  }

  /**
   * A regular file's bytes at `sha`, or undefined when the path is absent or is not a regular file
   * (a symlink's target is never followed: the repository decides no host path airlock reads).
   */
  async readFile(repo: string, sha: string, path: string): Promise<Buffer | undefined> {
    const cwd = this.pathFor(repo);
    const entry = await gitText(['ls-tree', '-z', sha, '--', path], { cwd, spawn: this.spawn }).catch(
      () => '',
    );
    const match = /^(\d{6}) blob ([0-9a-f]+)\t/.exec(entry);
    if (!match || (match[1] !== '100644' && match[1] !== '100755')) return undefined;
    const { stdout } = await git(['cat-file', 'blob', match[2] as string], { cwd, spawn: this.spawn });
    return stdout;
  }

  /**
   * The run's snapshot as a git pack of exactly the objects of the commit at `sha` (the commit,
   * its trees and blobs; no history): the sandbox checks the commit out from it, so nothing is
   * hashed or compressed again (issue 12). No new deltas are searched for (--window=0); those the
   * mirror already has are reused.
   */
  snapshot(repo: string, sha: string): Readable {
    if (!/^[0-9a-f]{40,64}$/.test(sha)) throw new AirlockError('git_failed', `bad commit ${sha}`);
    const child = this.spawn(
      'bash',
      [
        '-c',
        'set -o pipefail; git rev-list --objects --no-walk "$1" | git pack-objects --stdout -q --window=0',
        'snapshot',
        sha,
      ],
      {
        cwd: this.pathFor(repo),
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GIT_CONFIG_NOSYSTEM: '1', HOME: '/nonexistent' },
        stdin: 'ignore',
      },
    );
    const errors: Buffer[] = [];
    child.stderr.on('data', (c: Buffer) => errors.push(c));
    child.on('close', (code) => {
      if (code !== 0) {
        child.stdout.destroy(
          new AirlockError(
            'git_failed',
            `Cannot pack ${sha} of ${repo}: ${Buffer.concat(errors).toString().trim()}`,
          ),
        );
      }
    });
    return child.stdout;
  }
}
