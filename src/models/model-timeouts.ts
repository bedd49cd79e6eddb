import { AsyncLocalStorage } from 'node:async_hooks';
import { AirlockError } from '../errors.js';

/** policy `model.idle_timeout_seconds` and `model.request_timeout_seconds`, in milliseconds. */
export interface ModelTimeouts {
  /** The longest wait for the next byte: for each attempt's response headers, then between body reads. */
  idleTimeoutMs: number;
  /** One deadline over a whole model call, the SDK's retries included. */
  requestTimeoutMs: number;
}

export const DEFAULT_MODEL_TIMEOUTS: ModelTimeouts = { idleTimeoutMs: 120_000, requestTimeoutMs: 900_000 };

/**
 * Attempts that may go without response headers before a call gives up. The SDKs would retry an
 * idle attempt like any connection error; one retry covers a dead pooled connection, more would
 * only keep a run waiting on an endpoint that hangs. 429s and 5xx keep the SDK's own retries.
 */
const IDLE_ATTEMPTS = 2;

/** How failures name the endpoint, and what its operator should look at when it hangs. */
export interface Endpoint {
  name: string;
  check: string;
}

/** The SDKs' `timeout` option takes whole milliseconds. */
export function wholeMs(ms: number): number {
  return Math.max(1, Math.ceil(ms));
}

type Ending = 'headers' | 'body' | 'total';

const seconds = (ms: number) => `${Number((ms / 1000).toFixed(3))} s`;

/** One model call: its deadline, its idle timer, and why it was ended, if it was. */
class ModelCall {
  readonly signal: AbortSignal;
  private readonly ended = new AbortController();
  private ending: Ending | undefined;
  private readonly deadline: NodeJS.Timeout;
  private idleTimer: NodeJS.Timeout | undefined;
  private idleAttempts = 0;
  /** The SDK may word its own timeout as a connection error; this says what it was. */
  private lastAttemptIdle = false;

  constructor(
    private readonly timeouts: ModelTimeouts,
    private readonly caller: AbortSignal | undefined,
  ) {
    // Linked by hand and unlinked in finish(): a run's signal outlives hundreds of calls, and
    // AbortSignal.any would leave a listener on it for each until garbage collection.
    this.signal = this.ended.signal;
    if (caller?.aborted) this.ended.abort(caller.reason);
    else caller?.addEventListener('abort', this.onCallerAbort, { once: true });
    this.deadline = setTimeout(() => this.end('total'), timeouts.requestTimeoutMs);
  }

  private readonly onCallerAbort = () => this.ended.abort(this.caller?.reason);

  /** One attempt. The SDK's `timeout` bounds the wait for headers; the body is watched here. */
  async fetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(input, init);
    } catch (error) {
      // While this call's own signal is quiet, only the SDK's timeout aborts an attempt.
      this.lastAttemptIdle = init?.signal?.aborted === true && !this.signal.aborted;
      if (this.lastAttemptIdle && ++this.idleAttempts >= IDLE_ATTEMPTS) this.end('headers');
      throw error;
    }
    this.lastAttemptIdle = false;
    return response.body ? this.watchBody(response, response.body) : response;
  }

  /** The body as the SDK reads it, the idle timer running while a read waits for bytes. */
  private watchBody(response: Response, source: ReadableStream<Uint8Array>): Response {
    const reader = source.getReader();
    const body = new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          this.idleTimer = setTimeout(() => this.end('body'), this.timeouts.idleTimeoutMs);
          try {
            const { done, value } = await reader.read();
            if (done) controller.close();
            else controller.enqueue(value);
          } finally {
            clearTimeout(this.idleTimer);
          }
        },
        cancel: (reason) => reader.cancel(reason),
      },
      // Pull only when the SDK reads, so a body nobody reads (a 429 before a retry) is not timed.
      { highWaterMark: 0 },
    );
    const { status, statusText, headers } = response;
    const watched = new Response(body, { status, statusText, headers });
    Object.defineProperty(watched, 'url', { value: response.url });
    return watched;
  }

  private end(ending: Ending): void {
    this.ending ??= ending;
    this.ended.abort();
  }

  /** The error to report when a timeout or the caller ended the call; undefined otherwise. */
  explain(endpoint: Endpoint, cause: unknown): AirlockError | undefined {
    if (this.caller?.aborted) return new AirlockError('cancelled', 'Cancelled.');
    const ending = this.ending ?? (this.lastAttemptIdle ? 'headers' : undefined);
    if (!ending) return undefined;
    const idle = `${seconds(this.timeouts.idleTimeoutMs)} (model.idle_timeout_seconds)`;
    const attempts = this.idleAttempts === 1 ? '1 attempt' : `${this.idleAttempts} attempts`;
    const what = {
      headers: `no response for ${idle} on ${attempts}`,
      body: `the reply stopped mid-stream: nothing for ${idle}`,
      total: `the request did not finish within ${seconds(this.timeouts.requestTimeoutMs)} (model.request_timeout_seconds), retries included`,
    }[ending];
    return new AirlockError('model_failed', `${endpoint.name}: ${what}. Check ${endpoint.check}.`, { cause });
  }

  finish(): void {
    clearTimeout(this.deadline);
    clearTimeout(this.idleTimer);
    this.caller?.removeEventListener('abort', this.onCallerAbort);
  }
}

const current = new AsyncLocalStorage<ModelCall>();

/**
 * The `fetch` the model SDK clients are built with: inside withinTimeouts it lets the call watch
 * every attempt's bytes (the SDKs offer no per-request hook for that); elsewhere it is plain fetch.
 */
export function watchedFetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
  const call = current.getStore();
  return call ? call.fetch(input, init) : fetch(input, init);
}

/** `work`, or the signal's abort if that comes first; a later rejection of `work` is absorbed. */
function settleOnAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * Runs one model call (all its SDK attempts) under the timeouts. It settles as soon as a timeout
 * or the caller's signal fires, even while an SDK sleeps between retries (openai's backoff does
 * not watch the signal): with model_failed naming the endpoint, or cancelled. Any other failure
 * goes through `describe`.
 */
export async function withinTimeouts<T>(
  options: {
    timeouts: ModelTimeouts;
    signal: AbortSignal | undefined;
    endpoint: Endpoint;
    describe: (error: unknown) => AirlockError;
  },
  run: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const call = new ModelCall(options.timeouts, options.signal);
  try {
    return await current.run(call, () => settleOnAbort(run(call.signal), call.signal));
  } catch (error) {
    throw call.explain(options.endpoint, error) ?? options.describe(error);
  } finally {
    call.finish();
  }
}
