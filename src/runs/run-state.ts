/** The run's states (DESIGN.md §2) and the transitions allowed between them. */
export const RUN_STATES = [
  'requested',
  'queued',
  'provisioning',
  'working',
  'awaiting_approval',
  'changes_requested',
  'pushing',
  'done',
  'rejected',
  'failed',
  'cancelled',
  'expired',
] as const;

export type RunState = (typeof RUN_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<RunState> = new Set([
  'done',
  'rejected',
  'failed',
  'cancelled',
  'expired',
]);

const ENDINGS: RunState[] = ['failed', 'cancelled'];

/** For each state, the states it may move to. Anything else is a bug, refused by the store. */
export const TRANSITIONS: Record<RunState, readonly RunState[]> = {
  requested: ['queued', ...ENDINGS, 'rejected'],
  queued: ['provisioning', ...ENDINGS],
  provisioning: ['working', ...ENDINGS],
  working: ['awaiting_approval', 'done', ...ENDINGS],
  awaiting_approval: ['pushing', 'changes_requested', 'rejected', 'expired', 'done', ...ENDINGS],
  changes_requested: ['working', ...ENDINGS],
  pushing: ['done', ...ENDINGS],
  done: [],
  rejected: [],
  // A failed push the lifecycle marked retryable is the one way out of `failed` (airlock retry).
  failed: ['pushing'],
  cancelled: [],
  expired: [],
};

export function canTransition(from: RunState, to: RunState): boolean {
  return TRANSITIONS[from].includes(to);
}

export function isTerminal(state: RunState): boolean {
  return TERMINAL_STATES.has(state);
}
