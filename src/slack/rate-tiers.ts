import { PacedQueue } from './paced-queue.js';

/**
 * Slack's published Web API rate tiers for the methods airlock calls (requests per minute,
 * per workspace). chat.postMessage is special: about one message per second per channel.
 */
export const SLACK_RATE_TIERS: Record<string, number> = {
  'apps.connections.open': 1,
  'usergroups.users.list': 20,
  'conversations.replies': 20,
  'files.completeUploadExternal': 20,
  'chat.update': 50,
  'reactions.add': 50,
  'users.info': 50,
  'users.lookupByEmail': 50,
  'chat.postEphemeral': 100,
  'views.open': 100,
  'views.update': 100,
  'files.getUploadURLExternal': 100,
  'auth.test': 100,
};
export const POST_MESSAGE_PER_CHANNEL_PER_SECOND = 1;
export const POST_MESSAGE_PER_MINUTE = 300;

/**
 * A queue that starts at most `limit` calls in any `windowMs`, spread in small slices with a
 * 10% margin, so no sliding window sees a burst over the limit. `scale` shrinks the window (tests
 * run Slack's exact shape faster; 1 is Slack's real numbers).
 */
export function rateQueue(limit: number, windowMs: number, scale = 1): PacedQueue {
  const window = windowMs / scale;
  const cap = Math.max(1, Math.floor(limit / 10));
  const interval = Math.max(1, Math.ceil(((window * cap) / limit) * 1.1));
  return new PacedQueue(cap, interval);
}
