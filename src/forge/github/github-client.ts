import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import { Octokit } from '@octokit/rest';
import { AirlockError } from '../../errors.js';

/** Octokit with GitHub's recommended retry and rate-limit handling. */
const GitHubClient = Octokit.plugin(retry, throttling);

const quiet = () => {};
/** Octokit's `log` that says nothing: airlock reports GitHub failures itself. */
export const QUIET = { debug: quiet, info: quiet, warn: quiet, error: quiet };

/**
 * An Octokit failure as airlock says it: the service's name, what failed, and what to check
 * (`permission` for 403/404, which GitHub answers when a token may not do something).
 */
export function gitHubFailure(error: unknown, what: string, permission: string): AirlockError {
  if (error instanceof AirlockError) return error;
  const status = (error as { status?: number }).status;
  const hint =
    status === 401 ? ' Check GITHUB_TOKEN.' : status === 403 || status === 404 ? ` ${permission}` : '';
  return new AirlockError('forge_failed', `GitHub: could not ${what}: ${(error as Error).message}.${hint}`, {
    cause: error,
  });
}

/** A client for one token: retries what GitHub says to retry, waits out rate limits twice at most. */
export function gitHubClient(token: string | undefined, apiUrl: string): Octokit {
  return new GitHubClient({
    auth: token,
    baseUrl: apiUrl,
    userAgent: 'airlock',
    // Octokit logs every failed request, 304s too, on the console; airlock reports what failed
    // itself, through its own logger, with the service's name.
    log: QUIET,
    throttle: {
      onRateLimit: (_after: number, _options: unknown, _octokit: unknown, retryCount: number) =>
        retryCount < 2,
      onSecondaryRateLimit: (_after: number, _options: unknown, _octokit: unknown, retryCount: number) =>
        retryCount < 2,
    },
  });
}
