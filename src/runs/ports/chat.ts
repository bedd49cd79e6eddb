import type { DiffStat } from '../diffstat.js';
import type { RunRecord } from './store.js';

/** Where a run stands, for a status line: coalesced by the chat adapter, latest wins. */
export interface RunProgress {
  step: number;
  maxSteps: number;
  lastAction?: string;
  lastExitCode?: number | null;
  startedAt: number;
  tokens: number;
  costUsd: number;
}

/** What runs/ tells the people following a run. The Chat port renders it (Slack, or nothing). */
export type RunNotice =
  | { kind: 'accepted'; run: RunRecord; position: number }
  | { kind: 'progress'; run: RunRecord; progress: RunProgress }
  | { kind: 'milestone'; run: RunRecord; text: string }
  | { kind: 'awaiting-approval'; run: RunRecord; diff: Buffer; stat: DiffStat; approvers: string[] }
  | { kind: 'approved'; run: RunRecord; by: string }
  | { kind: 'changes-requested'; run: RunRecord; by: string }
  | { kind: 'refused'; run: RunRecord; user: string; reason: string }
  | { kind: 'finished'; run: RunRecord };

export interface Chat {
  notify(notice: RunNotice): void;
  /** Posts a new top-level message whose thread a run will live in. */
  startThread(channel: string, text: string): Promise<{ channel: string; threadTs: string }>;
}

/** For headless runs: nobody to tell. */
export const NO_CHAT: Chat = {
  notify: () => {},
  startThread: async () => {
    throw new Error('no chat to start a thread in');
  },
};
