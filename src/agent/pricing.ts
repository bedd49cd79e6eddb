import type { Usage } from '../runs/ports/model.js';

/** USD per million tokens. Cache writes cost 1.25× input and cache reads 0.1× (Anthropic's rates). */
export interface Price {
  input: number;
  output: number;
}

// Most specific first. Sources: the model pages on platform.claude.com (2026-11).
const KNOWN: Array<[RegExp, Price]> = [
  [
    /claude-3-opus|claude-opus-4-0|claude-opus-4-1|claude-opus-4-2025|claude-opus-4@|claude-opus-4-v/,
    { input: 15, output: 75 },
  ],
  [/fable|mythos/, { input: 10, output: 50 }],
  [/opus-5-5/, { input: 4, output: 20 }],
  [/opus/, { input: 5, output: 25 }],
  [/claude-3-haiku/, { input: 0.25, output: 1.25 }],
  [/claude-3-5-haiku/, { input: 0.8, output: 4 }],
  // Haiku 5.5 is tiered by prompt length; the higher tier errs towards stopping early.
  [/haiku/, { input: 1, output: 5 }],
  [/sonnet-5/, { input: 2, output: 10 }],
  [/sonnet/, { input: 3, output: 15 }],
];

export function priceFor(model: string, override?: Price): Price | undefined {
  if (override) return override;
  return KNOWN.find(([pattern]) => pattern.test(model))?.[1];
}

export function costUsd(usage: Usage, price: Price | undefined): number {
  if (!price) return 0;
  const perToken = (usd: number) => usd / 1_000_000;
  return (
    usage.inputTokens * perToken(price.input) +
    usage.cacheWriteTokens * perToken(price.input * 1.25) +
    usage.cacheReadTokens * perToken(price.input * 0.1) +
    usage.outputTokens * perToken(price.output)
  );
}
