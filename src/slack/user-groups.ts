import type { SlackOutbox } from './slack-outbox.js';
import { Priority } from './slack-outbox.js';

const TTL_MS = 5 * 60_000;

/**
 * Which of the policy's user groups a person is in, from usergroups.users.list, cached for a
 * few minutes (Tier 2: 20 calls a minute). An approval asks `fresh`: someone just removed from a
 * group must not approve from a stale cache.
 */
export class UserGroups {
  private readonly cache = new Map<string, { users: Set<string>; at: number }>();

  constructor(
    private readonly outbox: SlackOutbox,
    private readonly now: () => number = Date.now,
  ) {}

  async groupsOf(userId: string, candidates: string[], opts: { fresh?: boolean } = {}): Promise<string[]> {
    const groups = candidates.filter((id) => id.startsWith('S'));
    const found: string[] = [];
    for (const group of groups) {
      if ((await this.members(group, opts.fresh ?? false)).has(userId)) found.push(group);
    }
    return found;
  }

  private async members(group: string, fresh: boolean): Promise<Set<string>> {
    const hit = this.cache.get(group);
    if (!fresh && hit && this.now() - hit.at < TTL_MS) return hit.users;
    const res = await this.outbox.call<{ users?: string[] }>(
      'usergroups.users.list',
      { usergroup: group },
      Priority.decision,
    );
    const users = new Set(res.users ?? []);
    this.cache.set(group, { users, at: this.now() });
    return users;
  }
}
