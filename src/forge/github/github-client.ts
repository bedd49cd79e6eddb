import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';
import { Octokit } from '@octokit/rest';

/** Octokit with GitHub's recommended retry and rate-limit handling. */
const GitHubClient = Octokit.plugin(retry, throttling);

const quiet = () => {};
/** Octokit's `log` that says nothing: airlock reports GitHub failures itself. */
export const QUIET = { debug: quiet, info: quiet, warn: quiet, error: quiet };

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
