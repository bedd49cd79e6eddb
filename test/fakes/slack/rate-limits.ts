// Slack's Web API rate limits, per method (and per channel for chat.postMessage), as sliding windows.
// `rateScale` keeps each window's allowance and shrinks the window (60 s / rateScale), so the shape of a
// burst that trips a limit is the same as in production, only faster.

/** Requests per minute for each tier, and which methods the fake puts in it. */
export const SLACK_RATE_TIERS = {
  tier1: { perMinute: 1, methods: ['apps.connections.open'] },
  tier2: {
    perMinute: 20,
    methods: [
      'usergroups.users.list',
      'conversations.replies',
      'files.completeUploadExternal',
      'reactions.remove',
    ],
  },
  tier3: { perMinute: 50, methods: ['chat.update', 'reactions.add', 'users.info', 'users.lookupByEmail'] },
  tier4: {
    perMinute: 100,
    methods: ['chat.postEphemeral', 'views.open', 'views.update', 'files.getUploadURLExternal', 'auth.test'],
  },
  /** chat.postMessage: 1/s per channel (10 in any 10 s window), and 300/min across the workspace. */
  special: {
    'chat.postMessage': {
      perChannel: { limit: 10, windowSeconds: 10 },
      workspace: { limit: 300, windowSeconds: 60 },
    },
  },
} as const;

export interface RateRule {
  key: string;
  limit: number;
  windowMs: number;
}

const TIER_OF = new Map<string, number>();
for (const tier of [
  SLACK_RATE_TIERS.tier1,
  SLACK_RATE_TIERS.tier2,
  SLACK_RATE_TIERS.tier3,
  SLACK_RATE_TIERS.tier4,
])
  for (const method of tier.methods) TIER_OF.set(method, tier.perMinute);

/** The windows a call to `method` counts against. Tier 1 applies only at real scale (rateScale 1). */
export function rulesFor(method: string, channel: string | undefined, rateScale: number): RateRule[] {
  const scale = (seconds: number) => (seconds * 1000) / rateScale;
  if (method === 'chat.postMessage') {
    const { perChannel, workspace } = SLACK_RATE_TIERS.special['chat.postMessage'];
    const rules: RateRule[] = [
      { key: 'chat.postMessage', limit: workspace.limit, windowMs: scale(workspace.windowSeconds) },
    ];
    if (channel)
      rules.unshift({
        key: `chat.postMessage:${channel}`,
        limit: perChannel.limit,
        windowMs: scale(perChannel.windowSeconds),
      });
    return rules;
  }
  const perMinute = TIER_OF.get(method);
  if (perMinute === undefined) return [];
  // apps.connections.open at 1/min would make every reconnect in a test wait a minute.
  if (method === 'apps.connections.open' && rateScale !== 1) return [];
  return [{ key: method, limit: perMinute, windowMs: scale(60) }];
}

export interface RateRefusal {
  key: string;
  retryAfterSeconds: number;
}

export class RateLimiter {
  private readonly hits = new Map<string, number[]>();

  constructor(
    private readonly rateScale: number,
    private readonly now: () => number = Date.now,
  ) {
    if (!(rateScale > 0)) throw new Error(`rateScale must be > 0, got ${rateScale}`);
  }

  /**
   * Records the call and returns undefined, or returns the first window that refuses it (not recorded).
   * `caller` separates quotas the way Slack's "per app per workspace" does: by the token presented.
   */
  take(method: string, channel: string | undefined, caller = ''): RateRefusal | undefined {
    const now = this.now();
    const rules = rulesFor(method, channel, this.rateScale);
    for (const rule of rules) {
      const hits = this.prune(rule, now, caller);
      if (hits.length >= rule.limit) {
        const oldest = hits[hits.length - rule.limit] ?? now;
        const waitMs = oldest + rule.windowMs - now;
        return { key: rule.key, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
      }
    }
    for (const rule of rules) this.prune(rule, now, caller).push(now);
    return undefined;
  }

  private prune(rule: RateRule, now: number, caller: string): number[] {
    const key = `${caller}\u0000${rule.key}`;
    const hits = (this.hits.get(key) ?? []).filter((t) => t > now - rule.windowMs);
    this.hits.set(key, hits);
    return hits;
  }
}
