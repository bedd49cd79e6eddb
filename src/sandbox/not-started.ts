import type { ExecResult } from '../runs/ports/sandbox.js';

/**
 * The result of a command whose signal was aborted before it began: both backends then start
 * nothing, so a cancelled result never hides a command that ran anyway.
 */
export function cancelledBeforeStart(): ExecResult {
  return {
    exitCode: null,
    stdout: Buffer.alloc(0),
    stderr: Buffer.alloc(0),
    timedOut: false,
    cancelled: true,
    droppedBytes: 0,
    durationMs: 0,
  };
}
