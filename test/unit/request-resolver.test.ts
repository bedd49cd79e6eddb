import { describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/config/policy.js';
import type { Ticket, Tickets } from '../../src/runs/ports/tickets.js';
import { RequestResolver } from '../../src/runs/request-resolver.js';

const TICKET: Ticket = {
  key: 'WID-7',
  url: 'https://jira.test/browse/WID-7',
  summary: 'Dates parse wrong',
  description: 'ISO weeks fail.',
  status: 'To Do',
  comments: [],
};

function tickets(configured = true): Tickets & { fetched: string[] } {
  const fetched: string[] = [];
  return {
    configured,
    fetched,
    fetch: async (key) => {
      fetched.push(key);
      if (!configured) throw new Error('Jira is not configured for airlock: set JIRA_BASE_URL');
      if (key !== 'WID-7') throw new Error(`${key} does not exist`);
      return TICKET;
    },
    commentPullRequest: async () => {},
    transition: async () => {},
    search: async () => [],
    urlFor: () => undefined,
    check: async () => 'ok',
  };
}

const TWO = parsePolicy(
  'repos:\n  a/one: {}\n  a/two: {}\nchannels:\n  C1: { repo: a/two }\njira:\n  projects: { WID: a/one }\n',
);

describe('one resolver for every intake', () => {
  it('picks the repository from the request, else the ticket project, else the channel, else the only one, else asks', async () => {
    const r = new RequestResolver(TWO, tickets());
    expect(await r.resolve({ text: 'x', repo: 'a/one', channel: 'C1' })).toMatchObject({
      ok: true,
      request: { repo: 'a/one' },
    });
    expect(await r.resolve({ text: 'fix WID-7', channel: 'C1' })).toMatchObject({
      ok: true,
      request: { repo: 'a/one', ticketKey: 'WID-7' },
    });
    expect(await r.resolve({ text: 'x', channel: 'C1' })).toMatchObject({
      ok: true,
      request: { repo: 'a/two' },
    });
    expect(await r.resolve({ text: 'x', channel: 'C2' })).toMatchObject({
      ok: false,
      kind: 'repo',
      task: 'x',
    });
    const one = new RequestResolver(parsePolicy('repos:\n  a/one: {}\n'), tickets());
    expect(await one.resolve({ text: 'x' })).toMatchObject({ ok: true, request: { repo: 'a/one' } });
  });

  it('an unknown repository is refused naming the configured ones', async () => {
    const r = new RequestResolver(TWO, tickets());
    expect(await r.resolve({ text: 'x', repo: 'a/nope' })).toEqual({
      ok: false,
      kind: 'usage',
      reason: 'Repository a/nope is not configured. Configured: a/one, a/two.',
    });
  });

  it('a ticket becomes the task, with what else the person wrote', async () => {
    const r = new RequestResolver(TWO, tickets());
    const resolved = await r.resolve({ text: 'https://jira.test/browse/WID-7 and keep it small' });
    if (!resolved.ok) throw new Error(resolved.reason);
    expect(resolved.request.task).toContain('Jira ticket WID-7: Dates parse wrong');
    expect(resolved.request.task).toContain('Also: and keep it small');
  });

  it('a ticket mentioned in passing without Jira configured is a note; a named ticket is refused', async () => {
    const r = new RequestResolver(TWO, tickets(false));
    const mentioned = await r.resolve({ text: 'like WID-7', channel: 'C1' });
    expect(mentioned).toMatchObject({
      ok: true,
      request: { task: 'like WID-7' },
      notes: [expect.stringContaining('Jira is not configured')],
    });
    expect(await r.resolve({ ticket: 'WID-7' })).toMatchObject({
      ok: false,
      kind: 'ticket',
      reason: expect.stringContaining('Jira is not configured'),
    });
    expect(await r.resolve({ ticket: 'not a key' })).toMatchObject({ ok: false, kind: 'usage' });
  });

  it('a ticket of an unmapped project without a repository asks which repository', async () => {
    const r = new RequestResolver(TWO, { ...tickets(), fetch: async () => ({ ...TICKET, key: 'OPS-1' }) });
    expect(await r.resolve({ ticket: 'OPS-1' })).toMatchObject({
      ok: false,
      kind: 'repo',
      reason: expect.stringContaining('No repository for Jira project OPS'),
    });
  });
});
