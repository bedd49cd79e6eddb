import { describe, expect, it } from 'vitest';
import { RunQueue } from '../../src/runs/run-queue.js';

describe('RunQueue', () => {
  it('keeps to the limit, first in first out, and says each waiting run its place', async () => {
    const started: string[] = [];
    const finish = new Map<string, () => void>();
    const queue = new RunQueue(1, (id) => {
      started.push(id);
      return new Promise<void>((resolve) => finish.set(id, resolve));
    });
    expect(queue.add('a')).toBe(0);
    expect(queue.add('b')).toBe(1);
    expect(queue.add('c')).toBe(2);
    expect(started).toEqual(['a']);
    finish.get('a')?.();
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(['a', 'b']);
    expect(queue.position('c')).toBe(1);
  });

  it('a run added again while it runs goes again once it stops, never dropped', async () => {
    const started: string[] = [];
    const finish: Array<() => void> = [];
    const queue = new RunQueue(2, (id) => {
      started.push(id);
      return new Promise<void>((resolve) => finish.push(resolve));
    });
    queue.add('a');
    queue.add('a');
    expect(started).toEqual(['a']);
    finish[0]?.();
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(['a', 'a']);
    finish[1]?.();
    await new Promise((r) => setImmediate(r));
    expect(started).toEqual(['a', 'a']);
    expect(queue.size).toEqual({ running: 0, waiting: 0 });
  });
});
