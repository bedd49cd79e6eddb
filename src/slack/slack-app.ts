import { App, LogLevel, SocketModeReceiver } from '@slack/bolt';
import slackWebApi, { type FetchFunction, type RetryOptions } from '@slack/web-api';
import { type Dispatcher, fetch as undiciFetch } from 'undici';
import type { Logger } from '../log/logger.js';
import { settlesWithin } from '../shared/settles-within.js';
import type { EnvelopeLog } from './envelope-log.js';
import { HandOverQueue } from './hand-over-queue.js';

/** What @slack/socket-mode's client emits as 'slack_event' (Bolt's receiver listens to it). */
interface SlackEventArgs {
  ack: (response?: unknown) => Promise<void>;
  envelope_id: string;
  type: string;
  body: unknown;
  retry_num?: number;
  retry_reason?: string;
  accepts_response_payload?: boolean;
}

/** How long a stop waits for envelopes already taken to be acked (Slack's own deadline is 3 s). */
const ACK_WITHIN_MS = 2_000;
/** How long a stop waits for Slack to answer the WebSocket close frame before dropping the socket. */
const CLOSE_WITHIN_MS = 1_000;
/** What @slack/socket-mode retries apps.connections.open with, as it would set it itself. */
const RECONNECT_RETRIES: RetryOptions = { retries: 100, factor: 1.3 };

/** Bolt's logger interface over pino, so Bolt's lines carry airlock's redaction. */
function boltLogger(logger: Logger) {
  const child = logger.child({ component: 'slack' });
  let level: LogLevel = LogLevel.INFO;
  return {
    debug: (...msg: unknown[]) => child.debug(msg.map(String).join(' ')),
    info: (...msg: unknown[]) => child.info(msg.map(String).join(' ')),
    warn: (...msg: unknown[]) => child.warn(msg.map(String).join(' ')),
    error: (...msg: unknown[]) => child.error(msg.map(String).join(' ')),
    setLevel: (l: LogLevel) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}

export interface SlackConnection {
  app: App;
  connected: () => boolean;
  /** Connects (rejecting if Slack refuses), then keeps reconnecting on its own. */
  start: () => Promise<void>;
  /**
   * Stops intake: envelopes arriving from now on are left unacked, so Slack delivers them again
   * (to the next start); the ones already taken are acked and handed to their listener first,
   * for up to `ackWithinMs`. Then closes the socket, with no reconnect. Resolves with how many
   * taken envelopes stayed unacked.
   */
  stop: (opts?: { ackWithinMs?: number }) => Promise<{ unacked: number }>;
  /** Ends every Web API call still in flight, and its retries. For after the outbox has drained. */
  abortCalls: () => void;
}

/**
 * WebClient options whose calls `halt` ends: the fetch is aborted and a failed attempt is not
 * retried, so no socket or backoff timer outlives a stop.
 */
function haltable(
  base: { slackApiUrl?: string },
  retryConfig: RetryOptions,
  halt: AbortSignal,
  dispatcher: Dispatcher | undefined,
): { slackApiUrl?: string; fetch: FetchFunction; retryConfig: RetryOptions } {
  const fetch: FetchFunction = async (url, init) => {
    // One controller per call, unlinked when the call returns: a long-lived `halt` (or
    // AbortSignal.any over it) would gather a listener per call for the life of the bot.
    const call = new AbortController();
    const sources = [halt, init?.signal].filter((s): s is AbortSignal => !!s);
    const onAbort = (event: Event) => call.abort((event.target as AbortSignal).reason);
    for (const source of sources) {
      if (source.aborted) call.abort(source.reason);
      else source.addEventListener('abort', onAbort, { once: true });
    }
    // Node's fetch and undici's take the same init; only their FormData types differ.
    const withSignal = { ...init, signal: call.signal } as RequestInit;
    try {
      return await (dispatcher
        ? undiciFetch(url, { ...withSignal, dispatcher } as Parameters<typeof undiciFetch>[1])
        : globalThis.fetch(url, withSignal));
    } finally {
      for (const source of sources) source.removeEventListener('abort', onAbort);
    }
  };
  // p-retry (inside WebClient) gives up when onFailedAttempt throws; a backoff under way when the
  // stop comes must not hold the process either (unref).
  const retries = {
    ...retryConfig,
    unref: true,
    onFailedAttempt: (error: Error) => {
      if (halt.aborted) throw error;
    },
  };
  return { ...base, fetch, retryConfig: retries };
}

/**
 * Bolt in Socket Mode: outbound WebSocket only, no request URL. SLACK_API_URL reaches both the
 * Web API client and the Socket Mode client (private gateways, GovSlack, tests).
 */
export function createSlackApp(opts: {
  botToken: string;
  appToken: string;
  apiUrl?: string;
  logger: Logger;
  /** undici dispatcher for the Socket Mode WebSocket (an egress proxy). */
  dispatcher?: Dispatcher;
  /** Where events are kept as they are acked, until handed over. */
  envelopes?: EnvelopeLog;
}): SlackConnection {
  const base = opts.apiUrl
    ? { slackApiUrl: opts.apiUrl.endsWith('/') ? opts.apiUrl : `${opts.apiUrl}/` }
    : {};
  // Two switches: one ends reconnecting when the socket closes, one ends Web API calls after the
  // outbox has drained.
  const stopSocket = new AbortController();
  const stopCalls = new AbortController();
  const logger = boltLogger(opts.logger);
  // Bolt hands installerOptions.clientOptions to the Socket Mode client (apps.connections.open).
  // Each client gets its own options object: the Socket Mode client writes its reconnect retry
  // policy (100 retries) into the one it is given, which the bot's client must not inherit.
  const receiver = new SocketModeReceiver({
    appToken: opts.appToken,
    dispatcher: opts.dispatcher,
    installerOptions: {
      clientOptions: haltable(base, RECONNECT_RETRIES, stopSocket.signal, opts.dispatcher),
    },
    logger,
    logLevel: LogLevel.INFO,
  });
  const app = new App({
    token: opts.botToken,
    receiver,
    clientOptions: haltable(
      base,
      // A CommonJS re-export Node's ESM loader cannot name: read it off the module.
      slackWebApi.retryPolicies.tenRetriesInAboutThirtyMinutes,
      stopCalls.signal,
      opts.dispatcher,
    ),
    logger,
    logLevel: LogLevel.INFO,
  });
  let connected = false;
  receiver.client.on('connected', () => {
    connected = true;
  });
  receiver.client.on('disconnected', () => {
    connected = false;
  });
  receiver.client.on('reconnecting', () => {
    connected = false;
  });
  const client = receiver.client;

  // Intake gate: Bolt handles each envelope in its one 'slack_event' listener; wrapped here so a
  // stop can refuse new envelopes and wait for the taken ones: acked, and handed over to intake.
  let intakeOpen = true;
  const taken = new Map<string, { acked: boolean }>();
  let onHandled = () => {};
  const bolt = client.listeners('slack_event') as Array<(args: SlackEventArgs) => unknown>;
  client.removeAllListeners('slack_event');
  const handOver = new HandOverQueue();
  const dispatch = (args: SlackEventArgs) => {
    const id = args.envelope_id;
    const handled = Promise.allSettled(bolt.map(async (listener) => listener(args)));
    void handled.then(() => {
      if (args.type === 'events_api') opts.envelopes?.handled(id);
      if (taken.delete(id) && taken.size === 0) onHandled();
    });
    return handled;
  };
  client.on('slack_event', (args: SlackEventArgs) => {
    if (!intakeOpen) return; // left unacked: Slack delivers it again, to the next connection
    const id = args.envelope_id;
    taken.set(id, { acked: false });
    if (args.type !== 'events_api') {
      // Interactive payloads are acked by Bolt's listener: the ack may carry an answer (a modal's
      // errors), and a click's work is small.
      void dispatch(args);
      return;
    }
    // An event is kept and acked before anything else is done with it, whatever else the process
    // is busy with; its work waits its turn (issue 12: intake that cannot be starved). The events
    // of one read from the socket are kept in one transaction, then acked.
    arriving.push(args);
    if (arriving.length === 1) queueMicrotask(keepAndAck);
  });
  const arriving: SlackEventArgs[] = [];
  const keepAndAck = () => {
    const batch = arriving.splice(0);
    try {
      opts.envelopes?.received(batch.map((a) => ({ envelopeId: a.envelope_id, body: a.body })));
    } catch (error) {
      // Not kept (a locked or full database): left unacked, so Slack delivers them again.
      for (const a of batch) taken.delete(a.envelope_id);
      opts.logger.error(
        { err: (error as Error).message, envelopes: batch.length },
        'Slack events not kept; not acked',
      );
      return;
    }
    for (const args of batch) {
      args.ack().catch((error: Error) => opts.logger.warn({ err: error.message }, 'Slack ack not sent'));
      handOver.push(() => dispatch({ ...args, ack: async () => {} }));
    }
  };
  client.on('outgoing_message', (message: { envelope_id: string }) => {
    const envelope = taken.get(message.envelope_id);
    if (envelope) envelope.acked = true;
  });
  /** Events kept but never handed over (the previous process stopped first): handed over now. */
  const replay = () => {
    for (const { envelopeId, body } of opts.envelopes?.unhandled() ?? []) {
      opts.logger.info({ envelope_id: envelopeId }, 'handing over a Slack event kept before a restart');
      handOver.push(() =>
        dispatch({ envelope_id: envelopeId, type: 'events_api', body, ack: async () => {}, retry_num: 0 }),
      );
    }
    opts.envelopes?.prune(24 * 3600_000);
  };

  const start = async () => {
    replay();
    await app.start();
    // @slack/socket-mode chains `start().then(...)` for each reconnect with no rejection handler,
    // so a reconnect attempt cut short (by a stop, or a second drop) rejects unhandled, which
    // ends a Node process. Once connected, reconnect attempts log their failure instead.
    const original = client.start.bind(client);
    client.start = async () => {
      if (stopSocket.signal.aborted) return undefined as never;
      try {
        const connection = await original();
        // A reconnect that was already under way when the stop came: close what it opened.
        if (stopSocket.signal.aborted) await settlesWithin(client.disconnect(), CLOSE_WITHIN_MS);
        return connection;
      } catch (error) {
        opts.logger.warn(
          { err: error instanceof Error ? error.message : String(error) },
          'Slack reconnect attempt ended',
        );
        return undefined as never;
      }
    };
  };

  const stop = async ({ ackWithinMs = ACK_WITHIN_MS } = {}) => {
    intakeOpen = false;
    if (taken.size > 0) {
      const handled = new Promise<void>((resolve) => {
        onHandled = resolve;
      });
      await settlesWithin(handled, ackWithinMs);
    }
    const left = [...taken.values()].filter((e) => !e.acked).length;
    // Also ends an apps.connections.open under way (a reconnect) and its retries.
    stopSocket.abort();
    // disconnect() sends a close frame and waits for Slack's; a second call drops the socket.
    if (!(await settlesWithin(client.disconnect(), CLOSE_WITHIN_MS)))
      await settlesWithin(client.disconnect(), CLOSE_WITHIN_MS);
    return { unacked: left };
  };

  return { app, connected: () => connected, start, stop, abortCalls: () => stopCalls.abort() };
}
