import type { Readable } from 'node:stream';

/** The port runs/ uses to fix a run's base commit and take its snapshot. */
export interface RepositorySource {
  fetchBase(repo: string, base: string): Promise<string>;
  /** The objects of the commit at `sha` and nothing else, as a git pack stream (no history). */
  snapshot(repo: string, sha: string): Readable;
  /** A regular file at `sha` (never a symlink's target), or undefined. */
  readFile(repo: string, sha: string, path: string): Promise<Buffer | undefined>;
  /** `git diff --binary from to` of two commits already fetched. */
  changesBetween(repo: string, from: string, to: string): Promise<Buffer>;
  /** A pull request's changes: `git diff base...head` (from their merge base), both fetched. */
  reviewDiff(repo: string, base: string, head: string): Promise<Buffer>;
  /** Is `ancestor` in the history of `of` (both fetched)? */
  isAncestor(repo: string, ancestor: string, of: string): Promise<boolean>;
}
