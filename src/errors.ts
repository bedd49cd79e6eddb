/**
 * The closed set of failures airlock reports. Every message is written for the person who
 * reads it: what went wrong and what to do. Policy refusals are not errors (see runs/policy.ts).
 */
export type ErrorCode =
  | 'config_invalid' // the policy file or environment is wrong; exit 2
  | 'usage' // the command line is wrong; exit 2
  | 'repo_unknown' // a repository that the policy file does not list; exit 2
  | 'git_failed' // a git command against the mirror failed
  | 'sandbox_failed' // the sandbox could not be created or a command could not be started
  | 'model_failed' // the model endpoint failed after the SDK's retries
  | 'prompt_too_long' // the endpoint refused the prompt as longer than its window (the agent elides and retries)
  | 'forge_failed' // GitHub refused or failed
  | 'store_failed' // the database failed
  | 'run_not_found'
  | 'cancelled';

export class AirlockError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AirlockError';
    this.code = code;
  }
}

/**
 * Exit codes of DESIGN.md §7: 0 done, 1 the run failed or was refused, 2 bad usage or config
 * (an unknown run id is bad usage).
 */
export function exitCodeFor(error: unknown): 1 | 2 {
  if (
    error instanceof AirlockError &&
    ['config_invalid', 'usage', 'repo_unknown', 'run_not_found'].includes(error.code)
  )
    return 2;
  return 1;
}

/** Wraps an SDK or process failure with the service's name, keeping the cause for logs. */
export function wrapError(code: ErrorCode, service: string, error: unknown): AirlockError {
  if (error instanceof AirlockError) return error;
  const detail = error instanceof Error ? error.message : String(error);
  return new AirlockError(code, `${service}: ${detail}`, { cause: error });
}

export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
