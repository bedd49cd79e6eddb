import type { WebClient } from '@slack/web-api';
import type { Logger } from '../log/logger.js';
import { settlesWithin } from '../shared/settles-within.js';
import { TurnSlicer } from '../shared/turn-slicer.js';
import type { PacedQueue } from './paced-queue.js';
import {
  POST_MESSAGE_PER_CHANNEL_PER_SECOND,
  POST_MESSAGE_PER_MINUTE,
  rateQueue,
  SLACK_RATE_TIERS,
} from './rate-tiers.js';

/** Higher goes first. Approvals and final states never wait behind progress ticks. */
export const Priority = { progress: 0, milestone: 3, normal: 5, decision: 8, urgent: 10 } as const;

type Args = Record<string, unknown>;

interface Coalesced {
  build: () => Args | undefined;
  priority: number;
  abort: AbortController;
  method: string;
}

/**
 * Every Slack Web API call airlock makes goes through here: paced per method by Slack's tier
 * (and per channel for chat.postMessage), ordered by priority, and, for edits of the same
 * message, coalesced so the latest state wins and stale ones are never sent.
 */
export class SlackOutbox {
  private readonly queues = new Map<string, PacedQueue>();
  private readonly channelQueues = new Map<string, PacedQueue>();
  private readonly coalesced = new Map<string, Coalesced>();
  /** Calls and non-progress edits handed over and not yet settled: what a stop lets finish. */
  private readonly inFlight = new Set<Promise<unknown>>();
  private draining = false;
  private closed = false;
  /** Calls whose turn comes together (a thousand channels' windows open at once) start in slices. */
  private readonly slicer = new TurnSlicer();

  constructor(
    private readonly client: WebClient,
    private readonly opts: { scale?: number; logger: Logger },
  ) {}

  /** One call, paced and prioritised. Rejects with the Slack error. */
  call<T = Args>(method: string, args: Args, priority: number = Priority.normal): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`the Slack outbox is closed; ${method} was not sent`));
    const run = () => this.slicer.run(() => this.client.apiCall(method, args) as Promise<T>);
    const channel = method === 'chat.postMessage' ? String(args.channel) : undefined;
    return this.track(
      channel
        ? this.channelQueue(channel).add(() => this.queue(method).add(run, { priority }), { priority })
        : this.queue(method).add(run, { priority }),
    );
  }

  /**
   * An edit whose latest version is all that matters (a status line). While one is waiting, a
   * newer one replaces it; a more urgent one jumps the queue. `build` runs at send time and may
   * return undefined to send nothing.
   */
  coalesce(
    key: string,
    method: string,
    build: () => Args | undefined,
    priority: number = Priority.progress,
  ): void {
    const waiting = this.coalesced.get(key);
    if (waiting && waiting.priority >= priority) {
      waiting.build = build;
      return;
    }
    // A stopping bot sends no more progress: the next start re-renders every status message.
    if (this.closed || (this.draining && priority <= Priority.progress)) return;
    waiting?.abort.abort();
    const entry: Coalesced = { build, priority, abort: new AbortController(), method };
    this.coalesced.set(key, entry);
    const sent = this.queue(method).add(
      () =>
        this.slicer.run(async () => {
          if (this.coalesced.get(key) === entry) this.coalesced.delete(key);
          const args = entry.build();
          if (args) await this.client.apiCall(method, args);
        }),
      { priority, signal: entry.abort.signal },
    );
    if (priority > Priority.progress) this.track(sent);
    sent.catch((error: Error) => {
      if (error.name === 'AbortError') return;
      this.opts.logger.warn({ method, key, err: error.message }, 'slack update failed');
    });
  }

  /** Calls waiting in all queues: for /metrics and tests. */
  get backlog(): number {
    let n = 0;
    for (const q of [...this.queues.values(), ...this.channelQueues.values()]) n += q.size + q.pending;
    return n;
  }

  async idle(): Promise<void> {
    for (;;) {
      const queues = [...this.queues.values(), ...this.channelQueues.values()];
      await Promise.all(queues.map((q) => q.onIdle()));
      if (queues.every((q) => q.size === 0 && q.pending === 0)) return;
    }
  }

  /**
   * For a stop: drops the waiting progress edits (the next start re-renders every status), lets
   * the calls already handed over (replies, decisions, final states) finish for up to `withinMs`,
   * then closes: whatever has not settled is rejected and no pacing timer is left behind.
   * Resolves with how many calls were cut.
   */
  async drain(withinMs: number): Promise<number> {
    this.draining = true;
    for (const [key, entry] of this.coalesced) {
      if (entry.priority > Priority.progress) continue;
      entry.abort.abort();
      this.coalesced.delete(key);
    }
    await settlesWithin(this.settled(), withinMs);
    const cut = this.inFlight.size;
    this.close();
    return cut;
  }

  /** Rejects every call not yet settled and clears every pacing timer; nothing is sent after. */
  close(): void {
    this.closed = true;
    for (const q of [...this.queues.values(), ...this.channelQueues.values()]) q.close();
    this.coalesced.clear();
  }

  private async settled(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private track<T>(call: Promise<T>): Promise<T> {
    this.inFlight.add(call);
    const done = () => this.inFlight.delete(call);
    call.then(done, done);
    return call;
  }

  private queue(method: string): PacedQueue {
    let q = this.queues.get(method);
    if (!q) {
      q =
        method === 'chat.postMessage'
          ? rateQueue(POST_MESSAGE_PER_MINUTE, 60_000, this.opts.scale)
          : rateQueue(SLACK_RATE_TIERS[method] ?? 20, 60_000, this.opts.scale);
      this.queues.set(method, q);
    }
    return q;
  }

  private channelQueue(channel: string): PacedQueue {
    let q = this.channelQueues.get(channel);
    if (!q) {
      q = rateQueue(POST_MESSAGE_PER_CHANNEL_PER_SECOND * 10, 10_000, this.opts.scale);
      this.channelQueues.set(channel, q);
    }
    return q;
  }
}
