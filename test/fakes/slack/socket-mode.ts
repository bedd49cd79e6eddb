// Socket Mode as Slack runs it: single-use tickets from apps.connections.open, a `hello` on connect,
// envelopes that must be acked by envelope_id within the ack timeout, at-least-once redelivery of
// events (retry_attempt + 1, retry_reason 'timeout'), events queued while no connection is up, and
// `disconnect` messages that make the client fetch a new URL.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { hex } from './http-util.js';

// biome-ignore lint/suspicious/noExplicitAny: envelopes are arbitrary JSON
type Json = any;

export type EnvelopeType = 'events_api' | 'interactive';
export type DisconnectReason = 'refresh_requested' | 'warning' | 'link_disabled';

export interface EnvelopeRecord {
  envelopeId: string;
  type: EnvelopeType;
  /** The event type (events_api) or interaction type (interactive). */
  payloadType: string;
  retryAttempt: number;
  acked: boolean;
  ackPayload?: unknown;
  deliveries: number;
  /** When each delivery went out (epoch ms), for ack latencies. */
  deliveredAt: number[];
  /** When the ack that settled it arrived. */
  ackedAt?: number;
  /** Slack gave up on it: never acked after the last retry. The event is lost to the app. */
  dropped: boolean;
}

interface Pending {
  seq: number;
  record: EnvelopeRecord;
  envelope: Json;
  socket?: WebSocket;
  timer?: NodeJS.Timeout;
  /** Acked, or given up on: no more timers, retries or problems for this delivery. */
  done: boolean;
  waiters: Array<(ack: unknown) => void>;
}

export interface SocketHubOptions {
  appId: string;
  ackTimeoutMs: number;
  maxRetries: number;
  problems: string[];
}

const HOST = 'applink-fake';

export class SocketHub {
  readonly envelopes: EnvelopeRecord[] = [];
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly tickets = new Set<string>();
  private readonly live: WebSocket[] = [];
  private readonly queue: Pending[] = [];
  private readonly pending = new Map<string, Pending>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private connectionWaiters: Array<() => void> = [];
  private closed = false;

  constructor(private readonly opts: SocketHubOptions) {}

  /** A single-use ticket for the `?ticket=` of the WebSocket URL. */
  issueTicket(): string {
    const ticket = `${randomUUID()}-${hex(8)}`;
    this.tickets.add(ticket);
    return ticket;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const ticket = url.searchParams.get('ticket');
    const pathOk = url.pathname === '/link/' || url.pathname === '/link';
    if (this.closed || !pathOk || !ticket || !this.tickets.delete(ticket)) {
      if (!this.closed)
        this.opts.problems.push(`socket mode: refused connection to ${url.pathname}${url.search}`);
      socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws));
  }

  private onConnection(ws: WebSocket): void {
    ws.on('error', () => undefined);
    ws.on('message', (data, isBinary) => this.onMessage(data.toString(), isBinary));
    ws.on('close', () => this.onClose(ws));
    ws.send(
      JSON.stringify({
        type: 'hello',
        num_connections: this.live.length + 1,
        debug_info: { host: HOST, approximate_connection_time: 18060 },
        connection_info: { app_id: this.opts.appId },
      }),
    );
    this.live.push(ws);
    for (const p of this.queue.splice(0)) this.send(p);
    const waiters = this.connectionWaiters;
    this.connectionWaiters = [];
    for (const w of waiters) w();
  }

  private onMessage(text: string, isBinary: boolean): void {
    let msg: Json;
    try {
      msg = isBinary ? undefined : JSON.parse(text);
    } catch {
      msg = undefined;
    }
    if (!msg || typeof msg !== 'object' || typeof msg.envelope_id !== 'string') {
      this.opts.problems.push(`socket mode: malformed message from client: ${text.slice(0, 200)}`);
      return;
    }
    const p = this.pending.get(msg.envelope_id);
    if (!p) {
      this.opts.problems.push(`socket mode: ack for unknown envelope ${msg.envelope_id}`);
      return;
    }
    if (p.record.acked) return; // a late ack of an earlier delivery: at-least-once makes this normal
    // An ack after Slack gave up changes nothing: the event is already lost to the app.
    if (p.done && p.record.type === 'events_api') return;
    // Slack accepts an ack on any of the app's connections, so the socket it arrives on is not checked.
    const payload = msg.payload;
    if (
      p.record.type === 'events_api' &&
      payload &&
      typeof payload === 'object' &&
      Object.keys(payload).length > 0
    )
      this.opts.problems.push(
        `socket mode: events_api envelope ${msg.envelope_id} acked with a payload Slack ignores: ${JSON.stringify(payload)}`,
      );
    this.settle(p, true, payload);
  }

  private onClose(ws: WebSocket): void {
    const i = this.live.indexOf(ws);
    if (i >= 0) this.live.splice(i, 1);
    for (const p of this.pending.values()) {
      if (p.socket !== ws || p.done) continue;
      this.clearTimer(p);
      p.socket = undefined;
      this.onUnacked(p, 'the connection closed before it was acked');
    }
  }

  /** Sends an events_api envelope now, or queues it until a client connects. */
  deliverEvent(payload: Json, eventType: string): EnvelopeRecord {
    return this.enqueue('events_api', payload, eventType).record;
  }

  /** Sends an interactive envelope and resolves with the ack payload (undefined if never acked). */
  deliverInteractive(payload: Json): { record: EnvelopeRecord; ack: Promise<unknown> } {
    if (this.live.length === 0)
      throw new Error(`no Socket Mode connection: Slack would show the user an error for ${payload.type}`);
    const p = this.enqueue('interactive', payload, String(payload.type));
    return { record: p.record, ack: new Promise((resolve) => p.waiters.push(resolve)) };
  }

  waitForAck(envelopeId: string, timeoutMs: number): Promise<unknown> {
    const p = this.pending.get(envelopeId);
    if (!p) return Promise.reject(new Error(`unknown envelope ${envelopeId}`));
    if (p.record.acked) return Promise.resolve(p.record.ackPayload);
    if (p.done) return Promise.reject(new Error(`envelope ${envelopeId} was never acked`));
    return new Promise((resolve, reject) => {
      const timer = this.later(timeoutMs, () =>
        reject(new Error(`envelope ${envelopeId} not acked within ${timeoutMs} ms`)),
      );
      p.waiters.push((ack) => {
        clearTimeout(timer);
        this.timers.delete(timer);
        if (p.record.acked) resolve(ack);
        else reject(new Error(`envelope ${envelopeId} was never acked`));
      });
    });
  }

  private enqueue(type: EnvelopeType, payload: Json, payloadType: string): Pending {
    const envelopeId = randomUUID();
    const record: EnvelopeRecord = {
      envelopeId,
      type,
      payloadType,
      retryAttempt: 0,
      acked: false,
      deliveries: 0,
      deliveredAt: [],
      dropped: false,
    };
    const envelope: Json =
      type === 'events_api'
        ? {
            envelope_id: envelopeId,
            payload,
            type,
            accepts_response_payload: false,
            retry_attempt: 0,
            retry_reason: '',
          }
        : { envelope_id: envelopeId, payload, type, accepts_response_payload: true };
    const p: Pending = { seq: this.envelopes.length, record, envelope, waiters: [], done: false };
    this.envelopes.push(record);
    this.pending.set(envelopeId, p);
    this.send(p);
    return p;
  }

  /** Sends an envelope again with retry_attempt + 1, as Slack's at-least-once delivery does. */
  redeliver(envelopeId: string, reason = 'timeout'): void {
    const p = this.pending.get(envelopeId);
    if (!p) throw new Error(`unknown envelope ${envelopeId}`);
    if (p.record.type !== 'events_api') throw new Error('Slack only redelivers events_api envelopes');
    this.clearTimer(p);
    // The app must ack every delivery, duplicates included, or Slack keeps retrying.
    p.record.acked = false;
    p.record.ackPayload = undefined;
    p.done = false;
    this.retry(p, reason);
  }

  private retry(p: Pending, reason: string): void {
    p.record.retryAttempt += 1;
    p.envelope.retry_attempt = p.record.retryAttempt;
    p.envelope.retry_reason = reason;
    this.send(p);
  }

  private send(p: Pending): void {
    if (this.closed) return;
    const ws = this.live[this.live.length - 1];
    if (!ws) {
      if (!this.queue.includes(p)) {
        // A retry of an older envelope goes out before newer ones, as it would have on a live connection.
        this.queue.push(p);
        this.queue.sort((a, b) => a.seq - b.seq);
      }
      return;
    }
    p.socket = ws;
    p.record.deliveries += 1;
    p.record.deliveredAt.push(Date.now());
    ws.send(JSON.stringify(p.envelope));
    this.clearTimer(p);
    p.timer = this.later(this.opts.ackTimeoutMs, () => {
      p.timer = undefined;
      if (!p.done) this.onUnacked(p, `not acked within ${this.opts.ackTimeoutMs} ms`);
    });
  }

  private onUnacked(p: Pending, why: string): void {
    const { record } = p;
    if (record.type === 'interactive') {
      this.opts.problems.push(
        `socket mode: interactive ${record.payloadType} envelope ${record.envelopeId} ${why}; Slack shows the user an error`,
      );
      this.settle(p, false, undefined);
      return;
    }
    if (record.retryAttempt < this.opts.maxRetries) {
      this.retry(p, 'timeout');
      return;
    }
    this.opts.problems.push(
      `socket mode: ${record.payloadType} envelope ${record.envelopeId} ${why} after ${record.retryAttempt} retries; Slack gives up`,
    );
    record.dropped = true;
    this.settle(p, false, undefined);
  }

  private settle(p: Pending, acked: boolean, payload: unknown): void {
    this.clearTimer(p);
    p.done = true;
    if (acked) {
      p.record.acked = true;
      p.record.ackedAt ??= Date.now();
      p.record.ackPayload = payload;
    }
    const waiters = p.waiters.splice(0);
    for (const w of waiters) w(payload);
  }

  private clearTimer(p: Pending): void {
    if (p.timer) {
      clearTimeout(p.timer);
      this.timers.delete(p.timer);
      p.timer = undefined;
    }
  }

  private later(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  get connected(): boolean {
    return this.live.length > 0;
  }

  waitForConnection(timeoutMs: number): Promise<void> {
    if (this.live.length > 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = this.later(timeoutMs, () => {
        this.connectionWaiters = this.connectionWaiters.filter((w) => w !== done);
        reject(new Error(`no Socket Mode client completed hello within ${timeoutMs} ms`));
      });
      const done = () => {
        clearTimeout(timer);
        this.timers.delete(timer);
        resolve();
      };
      this.connectionWaiters.push(done);
    });
  }

  /** Sends Slack's `disconnect` message to every connection, then closes them with 1000. */
  disconnect(reason: DisconnectReason): void {
    for (const ws of this.live.splice(0)) {
      ws.send(JSON.stringify({ type: 'disconnect', reason, debug_info: { host: HOST } }));
      // Slack warns ~10 s before recycling a connection; the other reasons close promptly.
      this.later(reason === 'warning' ? 10_000 : 100, () => ws.close(1000));
    }
  }

  /** Terminates every socket without a close frame, like a network failure. */
  drop(): void {
    for (const ws of this.live.splice(0)) ws.terminate();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const p of this.pending.values()) this.settle(p, p.record.acked, p.record.ackPayload);
    for (const ws of this.wss.clients) ws.terminate();
    this.live.length = 0;
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
