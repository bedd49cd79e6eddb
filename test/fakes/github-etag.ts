// Conditional requests as GitHub answers them: every 200 to a GET carries a strong ETag (a hash of the
// body) with GitHub's Cache-Control and Vary; a GET whose If-None-Match names the current ETag is
// answered 304 Not Modified with no body, and (as on GitHub) costs no rate limit.
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const CACHE_CONTROL = 'private, max-age=60, s-maxage=60';
export const VARY = 'Accept, Authorization, Cookie, X-GitHub-OTP';

export function etagOf(body: string): string {
  return `"${createHash('sha256').update(body).digest('hex')}"`;
}

/** If-None-Match uses the weak comparison: a listed tag matches with or without W/; `*` matches any. */
export function noneMatch(ifNoneMatch: string, etag: string): boolean {
  const opaque = (tag: string) => tag.trim().replace(/^W\//, '');
  const listed = ifNoneMatch.split(',').map((t) => t.trim());
  return listed.some((t) => t === '*' || opaque(t) === opaque(etag));
}

export interface ConditionalCounts {
  /** GETs with If-None-Match answered 304 Not Modified. */
  hits: number;
  /** GETs with If-None-Match whose resource had changed (answered 200). */
  misses: number;
  /** Successful GETs sent without If-None-Match. */
  unconditional: number;
}

export class ConditionalRequests {
  private readonly counts: ConditionalCounts = { hits: 0, misses: 0, unconditional: 0 };

  /**
   * For a GET answered 200 with `body`: sets ETag, Cache-Control and Vary, and tells whether the
   * request's If-None-Match makes it a 304 instead.
   */
  notModified(req: IncomingMessage, body: string, headers: Record<string, string>): boolean {
    const etag = etagOf(body);
    headers.etag = etag;
    headers['cache-control'] = CACHE_CONTROL;
    headers.vary = VARY;
    const ifNoneMatch = req.headers['if-none-match'];
    if (ifNoneMatch === undefined) {
      this.counts.unconditional++;
      return false;
    }
    const hit = noneMatch(ifNoneMatch, etag);
    if (hit) this.counts.hits++;
    else this.counts.misses++;
    return hit;
  }

  snapshot(): ConditionalCounts {
    return { ...this.counts };
  }
}
