import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { PacedQueue } from '../../src/slack/paced-queue.js';

const WINDOW = 1000;

describe('the paced queue behind the Slack outbox', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const tick = (ms: number) => vi.advanceTimersByTimeAsync(ms);

  it('starts at most `cap` tasks per window, the highest priority first', async () => {
    const q = new PacedQueue(2, WINDOW);
    const started: string[] = [];
    const task = (name: string) => async () => {
      started.push(name);
    };
    for (const name of ['a', 'b', 'c', 'd']) void q.add(task(name), { priority: 0 });
    void q.add(task('urgent'), { priority: 10 });
    await tick(0);
    expect(started).toEqual(['a', 'b']);
    await tick(WINDOW);
    expect(started).toEqual(['a', 'b', 'urgent', 'c']);
    await tick(WINDOW);
    expect(started).toEqual(['a', 'b', 'urgent', 'c', 'd']);
  });

  it('counts a task still running at the end of a window against the next one', async () => {
    const q = new PacedQueue(1, WINDOW);
    let finish = () => {};
    const slow = q.add(
      () =>
        new Promise<void>((resolve) => {
          finish = resolve;
        }),
    );
    let next = false;
    void q.add(async () => {
      next = true;
    });
    await tick(WINDOW * 3);
    expect(next).toBe(false);
    finish();
    await slow;
    await tick(WINDOW);
    expect(next).toBe(true);
  });

  it('holds no timer once its work is done', async () => {
    const q = new PacedQueue(5, WINDOW);
    await q.add(async () => 'done');
    expect(vi.getTimerCount()).toBe(1);
    await tick(WINDOW);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('close rejects every task not yet settled, runs nothing more and clears its timer', async () => {
    const q = new PacedQueue(1, WINDOW);
    const ran: string[] = [];
    const running = q.add(() => new Promise<void>(() => ran.push('running')));
    const waiting = q.add(async () => {
      ran.push('waiting');
    });
    await tick(0);
    q.close();
    await expect(running).rejects.toThrow(/abort/i);
    await expect(waiting).rejects.toThrow(/abort/i);
    await expect(q.add(async () => ran.push('late'))).rejects.toThrow(/abort/i);
    expect(vi.getTimerCount()).toBe(0);
    await tick(WINDOW * 2);
    expect(ran).toEqual(['running']);
  });
});
