import type { WebClient } from '@slack/web-api';
import type PQueue from 'p-queue';
import type { Logger } from '../log/logger.js';
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
  private readonly queues = new Map<string, PQueue>();
  private readonly channelQueues = new Map<string, PQueue>();
  private readonly coalesced = new Map<string, Coalesced>();

  constructor(
    private readonly client: WebClient,
    private readonly opts: { scale?: number; logger: Logger },
  ) {}

  /** One call, paced and prioritised. Rejects with the Slack error. */
  call<T = Args>(method: string, args: Args, priority: number = Priority.normal): Promise<T> {
    const run = () => this.client.apiCall(method, args) as Promise<T>;
    if (method === 'chat.postMessage') {
      const channel = String(args.channel);
      return this.channelQueue(channel).add(() => this.queue(method).add(run, { priority }), {
        priority,
      }) as Promise<T>;
    }
    return this.queue(method).add(run, { priority }) as Promise<T>;
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
    waiting?.abort.abort();
    const entry: Coalesced = { build, priority, abort: new AbortController(), method };
    this.coalesced.set(key, entry);
    this.queue(method)
      .add(
        async () => {
          if (this.coalesced.get(key) === entry) this.coalesced.delete(key);
          const args = entry.build();
          if (args) await this.client.apiCall(method, args);
        },
        { priority, signal: entry.abort.signal },
      )
      .catch((error: Error) => {
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

  private queue(method: string): PQueue {
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

  private channelQueue(channel: string): PQueue {
    let q = this.channelQueues.get(channel);
    if (!q) {
      q = rateQueue(POST_MESSAGE_PER_CHANNEL_PER_SECOND * 10, 10_000, this.opts.scale);
      this.channelQueues.set(channel, q);
    }
    return q;
  }
}
