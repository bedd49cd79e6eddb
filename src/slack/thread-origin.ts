import type { ChatOrigin } from '../runs/ports/chat.js';
import type { RunThread } from './run-threads.js';

/** A Slack thread as the opaque origin runs/ hands back: `slack:<channel>:<thread ts>`. */
export function threadOrigin(channel: string, threadTs: string): ChatOrigin {
  return `slack:${channel}:${threadTs}`;
}

export function parseThreadOrigin(origin: ChatOrigin): Pick<RunThread, 'channel' | 'threadTs'> | undefined {
  const m = /^slack:([^:]+):(.+)$/.exec(origin);
  return m ? { channel: m[1] as string, threadTs: m[2] as string } : undefined;
}
