/**
 * Where prepared sandboxes are kept track of (DESIGN.md §4, Prepared sandboxes): a row per
 * sandbox, from building to ready to claimed. Claims are atomic: one row goes to one run.
 */
export type PreparedState = 'building' | 'ready' | 'claimed';

export interface PreparedRecord {
  id: string;
  repo: string;
  baseSha: string;
  /** What else shaped the sandbox: setup, image, network.setup. A different one is stale. */
  fingerprint: string;
  state: PreparedState;
  snapshotCommit: string | null;
  setup: { command: string; exitCode: number | null; output: string; durationMs: number } | null;
  /** The process building it; a building row whose owner is gone is cleaned up. */
  ownerId: string | null;
  claimedBy: string | null;
  createdAt: string;
  readyAt: string | null;
}

export interface PreparedSandboxes {
  add(record: Pick<PreparedRecord, 'id' | 'repo' | 'baseSha' | 'fingerprint' | 'ownerId'>): void;
  ready(id: string, snapshotCommit: string, setup: PreparedRecord['setup']): void;
  /** Takes one ready sandbox of the repository at this base and fingerprint for the run, if any. */
  claim(repo: string, baseSha: string, fingerprint: string, runId: string): PreparedRecord | undefined;
  list(repo?: string): PreparedRecord[];
  /** Whether a row of that id is kept (building, ready or claimed): the backend keeps its sandbox. */
  has(id: string): boolean;
  remove(id: string): void;
}
