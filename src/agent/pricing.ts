import type { Usage } from './model-client.js';

/** USD per million tokens. Cache writes cost 1.25× input and cache reads 0.1× (Anthropic's rates). */
export interface Price {
  input: number;
  output: number;
}

const KNOWN: Array<[RegExp, Price]> = [
  [/claude-3-opus|claude-opus-4-0|claude-opus-4-1|claude-opus-4-2025/, { input: 15, output: 75 }],
  [/opus/, { input: 5, output: 25 }],
  [/claude-3-haiku/, { input: 0.25, output: 1.25 }],
  [/claude-3-5-haiku/, { input: 0.8, output: 4 }],
  [/haiku/, { input: 1, output: 5 }],
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
