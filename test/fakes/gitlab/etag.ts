// Conditional requests as a Rails app answers them, the GitLab API included: Rack::ETag gives a 200/201
// with a body a weak ETag (the first 32 hex digits of the body's SHA-256, Rack 2.2) and the Cache-Control
// `max-age=0, private, must-revalidate`; any other reply gets `no-cache`. Rack::ConditionalGet then turns a
// GET or HEAD whose If-None-Match equals that ETag (as one string: no lists, no weak comparison) into a
// bodiless 304 without Content-Type.
import { createHash } from 'node:crypto';

export class ConditionalRequests {
  /** Conditional GETs answered 304 / answered in full because the resource changed. */
  hits = 0;
  misses = 0;

  finish(
    method: string,
    ifNoneMatch: string | undefined,
    status: number,
    body: string,
    headers: Record<string, string>,
  ): { status: number; body: string } {
    let etag: string | undefined;
    if ((status === 200 || status === 201) && body.length > 0 && !headers.etag && !headers['last-modified']) {
      etag = `W/"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;
      headers.etag = etag;
    }
    headers['cache-control'] ??= etag ? 'max-age=0, private, must-revalidate' : 'no-cache';
    if ((method !== 'GET' && method !== 'HEAD') || ifNoneMatch === undefined || status !== 200)
      return { status, body };
    if (headers.etag !== undefined && headers.etag === ifNoneMatch) {
      this.hits++;
      delete headers['content-type'];
      return { status: 304, body: '' };
    }
    this.misses++;
    return { status, body };
  }
}
