import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readEnv } from '../../src/config/env.js';
import { createModelClient } from '../../src/models/create-model-client.js';
import { DEFAULT_ANTHROPIC_MODEL } from '../../src/models/default-model.js';

const SDK_DIR = dirname(createRequire(import.meta.url).resolve('@anthropic-ai/sdk'));

/** The string literals of `export type Model = ...` in the installed SDK's typings. */
function listedModels(): string[] {
  const dts = readFileSync(join(SDK_DIR, 'resources/messages/messages.d.ts'), 'utf8');
  const union = /export type Model =([^;]*);/.exec(dts)?.[1];
  if (!union) throw new Error('export type Model not found in messages.d.ts');
  return [...union.matchAll(/'([^']+)'/g)].map((m) => m[1] as string);
}

/**
 * The SDK's DEPRECATED_MODELS. `@anthropic-ai/sdk/internal/...` is not in the package's exports
 * map, so the module is imported by its file URL.
 */
async function deprecatedModels(): Promise<Record<string, string>> {
  const url = pathToFileURL(join(SDK_DIR, 'internal/data/deprecated-models.mjs')).href;
  const mod = (await import(url)) as { DEPRECATED_MODELS: Record<string, string> };
  return mod.DEPRECATED_MODELS;
}

/** [major, minor] of a Sonnet id; dated ids (-YYYYMMDD) are the version of their alias. */
function sonnetVersion(id: string): [number, number] | undefined {
  const m = /^claude-sonnet-(\d+)(?:-(\d{1,2}))?(?:-(\d{8}))?$/.exec(id);
  return m ? [Number(m[1]), Number(m[2] ?? 0)] : undefined;
}

function compare(a: [number, number], b: [number, number]): number {
  return a[0] - b[0] || a[1] - b[1];
}

describe('DEFAULT_ANTHROPIC_MODEL', () => {
  it('reads a non-trivial Model union and deprecation list from the installed SDK', async () => {
    const models = listedModels();
    expect(models.length).toBeGreaterThan(5);
    expect(models.every((m) => m.startsWith('claude-'))).toBe(true);
    expect(Object.keys(await deprecatedModels()).length).toBeGreaterThan(0);
  });

  it('is listed in the SDK Model union', () => {
    expect(listedModels()).toContain(DEFAULT_ANTHROPIC_MODEL);
  });

  it('is a Sonnet', () => {
    expect(sonnetVersion(DEFAULT_ANTHROPIC_MODEL)).toBeDefined();
  });

  it('is not deprecated in the SDK', async () => {
    expect(Object.keys(await deprecatedModels())).not.toContain(DEFAULT_ANTHROPIC_MODEL);
  });

  it('is the newest listed, non-deprecated Sonnet', async () => {
    const deprecated = await deprecatedModels();
    const sonnets = listedModels()
      .filter((id) => !(id in deprecated))
      .flatMap((id) => {
        const v = sonnetVersion(id);
        return v ? [{ id, v }] : [];
      });
    const own = sonnetVersion(DEFAULT_ANTHROPIC_MODEL) as [number, number];
    const newer = sonnets.filter((s) => compare(s.v, own) > 0).map((s) => s.id);
    expect(newer).toEqual([]);
  });

  it('orders Sonnet ids by the version in them, dated ids equal to their alias', () => {
    expect(sonnetVersion('claude-sonnet-4-5-20250929')).toEqual([4, 5]);
    expect(sonnetVersion('claude-sonnet-4-20250514')).toEqual([4, 0]);
    expect(sonnetVersion('claude-sonnet-5')).toEqual([5, 0]);
    expect(compare([5, 5], [5, 0])).toBeGreaterThan(0);
    expect(compare([5, 0], [4, 6])).toBeGreaterThan(0);
    expect(sonnetVersion('claude-opus-5-5')).toBeUndefined();
  });

  it('is the model createModelClient uses for Anthropic when AIRLOCK_MODEL is not set', () => {
    const client = createModelClient(
      readEnv({ ANTHROPIC_API_KEY: 'sk-ant-test-key', ANTHROPIC_BASE_URL: 'http://127.0.0.1:9' }),
    );
    expect(client.provider).toBe('anthropic');
    expect(client.model).toBe(DEFAULT_ANTHROPIC_MODEL);
  });

  it('gives way to AIRLOCK_MODEL, and to the policy model when AIRLOCK_MODEL is not set', () => {
    const env = { ANTHROPIC_API_KEY: 'sk-ant-test-key', ANTHROPIC_BASE_URL: 'http://127.0.0.1:9' };
    expect(createModelClient(readEnv({ ...env, AIRLOCK_MODEL: 'claude-opus-5-5' })).model).toBe(
      'claude-opus-5-5',
    );
    expect(createModelClient(readEnv(env), 'claude-haiku-5-5').model).toBe('claude-haiku-5-5');
  });
});
