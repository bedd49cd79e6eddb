import { describe, expect, it } from 'vitest';
import { measureBurst } from '../../bench/burst-scenario.js';

/**
 * Issue 12: a burst of mentions against `airlock serve` in its own process, with Slack's
 * redelivery rules (an envelope not acked within 3 s is sent again, and dropped after the third
 * retry). The thousand-mention version with its latencies is `npm run bench:burst`.
 */
describe('a burst of mentions', () => {
  it('300 at once in 300 channels: every one acked, none dropped, exactly one run each', async () => {
    const result = await measureBurst({ mentions: 300, windowSeconds: 0, isolation: 'none' });
    expect(result.dropped).toBe(0);
    expect(result.runs).toBe(300);
    expect(result.doubles).toBe(0);
    expect(result.problems).toEqual([]);
    // Acks within Slack's 3 s, so no envelope needed a second delivery.
    expect(result.redelivered).toBe(0);
    expect(result.ack.max).toBeLessThan(3000);
  }, 120_000);
});
