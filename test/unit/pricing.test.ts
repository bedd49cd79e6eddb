import { describe, expect, it } from 'vitest';
import { costUsd, priceFor } from '../../src/agent/pricing.js';
import type { Usage } from '../../src/runs/ports/model.js';

const usage = (u: Partial<Usage>): Usage => ({
  inputTokens: 0,
  outputTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  ...u,
});

describe('priceFor', () => {
  it.each([
    ['claude-sonnet-4-6', { input: 3, output: 15 }],
    ['claude-sonnet-4-5-20250929', { input: 3, output: 15 }],
    ['claude-3-7-sonnet-20250219', { input: 3, output: 15 }],
    ['claude-opus-5', { input: 5, output: 25 }],
    ['claude-opus-4-5', { input: 5, output: 25 }],
    ['claude-opus-4-1', { input: 15, output: 75 }],
    ['claude-opus-4-0', { input: 15, output: 75 }],
    ['claude-opus-4-20250514', { input: 15, output: 75 }],
    ['claude-3-opus-20240229', { input: 15, output: 75 }],
    ['claude-haiku-4-5-20251001', { input: 1, output: 5 }],
    ['claude-3-5-haiku-20241022', { input: 0.8, output: 4 }],
    ['claude-3-haiku-20240307', { input: 0.25, output: 1.25 }],
  ])('prices the known family of %s', (model, price) => {
    expect(priceFor(model)).toEqual(price);
  });

  it.each([
    ['us.anthropic.claude-opus-4-1-20250805-v1:0', { input: 15, output: 75 }],
    ['anthropic.claude-3-5-haiku-20241022-v1:0', { input: 0.8, output: 4 }],
    ['claude-opus-4-1@20250805', { input: 15, output: 75 }],
    ['claude-sonnet-4-5@20250929', { input: 3, output: 15 }],
  ])('prices the Bedrock / Vertex id %s like its family', (model, price) => {
    expect(priceFor(model)).toEqual(price);
  });

  // BUG (src/agent/pricing.ts:10): Vertex names Opus 4.0 `claude-opus-4@20250514`; the first
  // pattern only knows `claude-opus-4-0` / `claude-opus-4-2025…`, so it falls through to /opus/ and
  // is priced at $5/$25 instead of $15/$75, letting a run spend 3× its cost budget.
  it('prices the Vertex id of Opus 4.0 (claude-opus-4@20250514) as Opus 4.0', () => {
    expect(priceFor('claude-opus-4@20250514')).toEqual({ input: 15, output: 75 });
  });

  // BUG (src/agent/pricing.ts:9-16): the table predates the Fable / Mythos families, which the
  // installed SDK lists (claude-fable-5-2, claude-mythos-5-1, …). They match no pattern, so priceFor
  // returns undefined, costUsd is 0 and maxCostUsd never stops a run on the most expensive models
  // ($10 / $50 per MTok on platform.claude.com's model pages).
  it('prices Claude Fable models instead of leaving them free', () => {
    expect(priceFor('claude-fable-5-1')).toEqual({ input: 10, output: 50 });
  });

  it('prices Claude Mythos models instead of leaving them free', () => {
    expect(priceFor('claude-mythos-5-1')).toEqual({ input: 10, output: 50 });
  });

  // BUG (src/agent/pricing.ts:15): /sonnet/ prices every Sonnet at $3 / $15, but Sonnet 5 and 5.5
  // (the default model) are $2 / $10, so reported cost is 1.5× and cost budgets stop runs early.
  it('prices the default Sonnet (claude-sonnet-5-5) at its published $2 / $10', () => {
    expect(priceFor('claude-sonnet-5-5')).toEqual({ input: 2, output: 10 });
  });

  // BUG (src/agent/pricing.ts:11): /opus/ prices Opus 5.5 at $5 / $25; its published rate is $4 / $20.
  it('prices claude-opus-5-5 at its published $4 / $20', () => {
    expect(priceFor('claude-opus-5-5')).toEqual({ input: 4, output: 20 });
  });

  it('uses the override price over a known family', () => {
    expect(priceFor('claude-sonnet-5-5', { input: 1.5, output: 7 })).toEqual({ input: 1.5, output: 7 });
  });

  it('uses the override price for a model it does not know', () => {
    expect(priceFor('fake-coder-7b', { input: 0.1, output: 0.2 })).toEqual({ input: 0.1, output: 0.2 });
  });

  it('returns undefined for an unknown model without an override', () => {
    expect(priceFor('fake-coder-7b')).toBeUndefined();
    expect(priceFor('gpt-4o')).toBeUndefined();
  });
});

describe('costUsd', () => {
  const sonnet = { input: 3, output: 15 };

  it('charges input and output per million tokens', () => {
    expect(costUsd(usage({ inputTokens: 1_000_000 }), sonnet)).toBeCloseTo(3, 10);
    expect(costUsd(usage({ outputTokens: 1_000_000 }), sonnet)).toBeCloseTo(15, 10);
    expect(costUsd(usage({ inputTokens: 2_000, outputTokens: 500 }), sonnet)).toBeCloseTo(0.0135, 12);
  });

  it('charges cache writes at 1.25× and cache reads at 0.1× the input price', () => {
    expect(costUsd(usage({ cacheWriteTokens: 1_000_000 }), sonnet)).toBeCloseTo(3.75, 10);
    expect(costUsd(usage({ cacheReadTokens: 1_000_000 }), sonnet)).toBeCloseTo(0.3, 10);
  });

  it('adds all four kinds of tokens', () => {
    const all = usage({
      inputTokens: 1_000_000,
      outputTokens: 1_000_000,
      cacheWriteTokens: 1_000_000,
      cacheReadTokens: 1_000_000,
    });
    expect(costUsd(all, sonnet)).toBeCloseTo(3 + 15 + 3.75 + 0.3, 10);
  });

  it('costs 0 when there is no price (unknown model)', () => {
    const lots = usage({ inputTokens: 5_000_000, outputTokens: 1_000_000, cacheReadTokens: 9_000_000 });
    expect(costUsd(lots, priceFor('fake-coder-7b'))).toBe(0);
    expect(costUsd(lots, undefined)).toBe(0);
  });

  it('costs 0 for no tokens at a known price', () => {
    expect(costUsd(usage({}), sonnet)).toBe(0);
  });
});
