import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '../../src');

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

const ADAPTER_FOLDERS = ['slack', 'jira', 'forge', 'sandbox', 'models', 'store', 'repos', 'server', 'cli'];

/** Module specifiers a file imports (static and dynamic). */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/(?:from\s+|import\()\s*['"]([^'"]+)['"]/g)].map((m) => m[1] as string);
}

describe('the dependency rule (docs/architecture.md)', () => {
  it('runs/ and agent/ import only node builtins, each other, config, log, errors and shared', () => {
    const offending: string[] = [];
    for (const folder of ['runs', 'agent']) {
      for (const file of filesUnder(join(SRC, folder))) {
        for (const spec of importsOf(file)) {
          if (spec.startsWith('node:')) continue;
          const adapter = ADAPTER_FOLDERS.some((a) => new RegExp(`(^|/)\\.\\.(/\\.\\.)*/${a}/`).test(spec));
          const sdk = !spec.startsWith('.');
          if (adapter || sdk) offending.push(`${relative(SRC, file)} imports ${spec}`);
        }
      }
    }
    expect(offending).toEqual([]);
  });

  it('only the run lifecycle calls the store to change a run state', () => {
    const callers = filesUnder(SRC)
      .filter((f) => /\bstore\.transition\(/.test(readFileSync(f, 'utf8')))
      .map((f) => relative(SRC, f));
    expect(callers).toEqual(['runs/run-lifecycle.ts']);
  });

  it('only the composition root builds clients', () => {
    // Every SDK client is built by one of these, and only the composition root calls them.
    const BUILDERS =
      /\b(createSlackApp|createModelClient|openDatabase|loadKubeConfig)\(|new (WebClient|SqliteStore|SqliteRunThreads|KubeApi|KubernetesSandboxes|LocalSandboxProvider|JiraTickets|GitHubForge|GitLabForge|PlainGitForge|GitHubAppCredentials|GitPublisher|Mirrors|RunLifecycle|RequestResolver)\(/;
    const callers = filesUnder(SRC)
      .filter((f) => !f.endsWith('composition-root.ts'))
      .flatMap((f) =>
        readFileSync(f, 'utf8')
          .split('\n')
          .filter((line) => BUILDERS.test(line) && !/^\s*(export |\/\/|\*)/.test(line))
          .map((line) => `${relative(SRC, f)}: ${line.trim()}`),
      );
    expect(callers).toEqual([]);
  });
});
