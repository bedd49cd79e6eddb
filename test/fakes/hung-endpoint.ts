// Scripted endpoint trouble for the model stand-ins: one script step each, consumed by one request.
//   { hang: true }                  the request is read and never answered, not even with headers
//   { stall: reply, afterEvents? }  headers and the reply's first events (default 2), then nothing
//   { drip: reply, gapMs }          the whole reply, one stream event every gapMs
// A held response ends when the client gives up or the stand-in closes (close() drops every
// connection, so it never waits for one).
import type { ServerResponse } from 'node:http';
import { isRecord, scriptBug, splitInto } from './http.js';

export type Trouble<R> = { hang: true } | { stall: R; afterEvents?: number } | { drip: R; gapMs: number };

export function isTrouble(step: unknown): step is Trouble<unknown> {
  return isRecord(step) && (step.hang === true || 'stall' in step || 'drip' in step);
}

export function describeTrouble(step: Trouble<unknown>): string {
  if ('hang' in step) return 'hang before headers';
  if ('stall' in step) return `stall after ${step.afterEvents ?? 2} events`;
  return `drip every ${step.gapMs} ms`;
}

/** The reply a stall or drip sends (part of), or undefined for a hang. */
export function troubledReply<R>(step: Trouble<R>): R | undefined {
  return 'hang' in step ? undefined : 'stall' in step ? step.stall : step.drip;
}

/** A response body as the pieces it is written in. */
export interface Body {
  contentType: string;
  pieces: string[];
}

export function sseBody(events: Array<{ event?: string; data: string }>): Body {
  return {
    contentType: 'text/event-stream; charset=utf-8',
    pieces: events.map((e) => `${e.event ? `event: ${e.event}\n` : ''}data: ${e.data}\n\n`),
  };
}

/** A JSON body in a few pieces, so that a non-streaming reply can stall halfway too. */
export function jsonBody(payload: unknown): Body {
  return { contentType: 'application/json', pieces: splitInto(JSON.stringify(payload), 4) };
}

/** Answers (or does not) as the trouble says; script misuse throws the stand-in's scriptBug. */
export function playTrouble(
  res: ServerResponse,
  step: Trouble<unknown>,
  body: Body,
  headers: Record<string, string>,
  errorType: string,
): void {
  if ('hang' in step) return;
  const sent = 'stall' in step ? (step.afterEvents ?? 2) : body.pieces.length;
  if ('stall' in step && !(Number.isInteger(sent) && sent >= 0 && sent < body.pieces.length))
    throw scriptBug(errorType, `stall afterEvents ${sent} must be below the reply's ${body.pieces.length}`);
  if ('drip' in step && !(typeof step.gapMs === 'number' && step.gapMs > 0))
    throw scriptBug(errorType, `drip gapMs must be a positive number, got ${step.gapMs}`);
  res.writeHead(200, { ...headers, 'content-type': body.contentType, 'cache-control': 'no-cache' });
  if ('stall' in step) {
    for (const piece of body.pieces.slice(0, sent)) res.write(piece);
    return;
  }
  const pieces = [...body.pieces];
  const timer = setInterval(() => {
    const piece = pieces.shift();
    if (piece === undefined) {
      clearInterval(timer);
      res.end();
    } else res.write(piece);
  }, step.gapMs);
  res.on('close', () => clearInterval(timer));
}
