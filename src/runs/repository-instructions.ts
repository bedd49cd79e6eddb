import { createHash } from 'node:crypto';
import type { RepositorySource } from './ports/repositories.js';

/** Where a repository keeps notes for coding agents, in order: the first that exists is used. */
export const NOTE_FILES = ['AGENTS.md', 'CLAUDE.md', '.github/copilot-instructions.md'] as const;

/** The most of a repository's notes the agent reads; more would crowd out the task. */
export const NOTES_MAX_BYTES = 32 * 1024;

export interface RepositoryNotes {
  path: string;
  text: string;
  /** Bytes of the whole file, and whether the agent sees only its first NOTES_MAX_BYTES. */
  bytes: number;
  truncated: boolean;
  sha256: string;
}

/**
 * The repository's own notes for agents at the run's base commit (DESIGN.md §3), read from the
 * mirror rather than the sandbox, and only as a regular file: a symlink named AGENTS.md is not
 * followed. Repository content: it informs the agent and never changes policy.
 */
export async function loadRepositoryNotes(
  repos: RepositorySource,
  repo: string,
  baseSha: string,
): Promise<RepositoryNotes | undefined> {
  for (const path of NOTE_FILES) {
    const bytes = await repos.readFile(repo, baseSha, path);
    if (!bytes || bytes.length === 0) continue;
    const truncated = bytes.length > NOTES_MAX_BYTES;
    // Decoding a cut byte sequence yields one replacement character at most, never an error.
    let text = bytes
      .subarray(0, NOTES_MAX_BYTES)
      .toString('utf8')
      .replace(/\uFFFD$/, '');
    if (truncated)
      text += `\n\n[airlock: ${path} is ${bytes.length} bytes; only the first ${NOTES_MAX_BYTES} are shown.]`;
    return {
      path,
      text,
      bytes: bytes.length,
      truncated,
      sha256: createHash('sha256').update(bytes).digest('hex'),
    };
  }
  return undefined;
}
