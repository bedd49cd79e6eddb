// Vitest global setup: compiles src/ into plain JavaScript once per test run (and again before
// each rerun in watch mode), so the tests that start the real CLI as a child process
// (test/support/run-cli.ts) run it with plain node instead of through tsx. The code is the same:
// tsx transforms with this same esbuild, file by file, and node loads every module as it would.
// A start costs about half the CPU without tsx's module hooks, and the suite starts the CLI about
// a hundred times. The output goes under node_modules/.cache, where the compiled files find the
// project's dependencies, in a folder of its own per run, so two runs at once do not collide.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The compiled CLI entry point (cli.js), or '' when there is none. */
    airlockCli: string;
  }
}

/** The one call used of esbuild's API. */
interface Esbuild {
  build(options: Record<string, unknown>): Promise<unknown>;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SRC = join(ROOT, 'src');
const CACHE = join(ROOT, 'node_modules', '.cache', 'airlock-test-cli');

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return tsFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Folders left by runs that were killed before their teardown. */
function removeStale(): void {
  let entries: string[] = [];
  try {
    entries = readdirSync(CACHE);
  } catch {
    return;
  }
  for (const name of entries) {
    const pid = Number(name.split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && !alive(pid))
      rmSync(join(CACHE, name), { recursive: true, force: true });
  }
}

async function compile(out: string): Promise<string> {
  // esbuild is tsx's own dependency: the transformer tsx would have used.
  const esbuild: Esbuild = createRequire(createRequire(ROOT).resolve('tsx'))('esbuild');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  await esbuild.build({
    entryPoints: tsFiles(SRC),
    outdir: join(out, 'src'),
    outbase: SRC,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: 'inline',
    tsconfig: join(ROOT, 'tsconfig.json'),
    logLevel: 'error',
  });
  // node_modules/package.json ends node's search for the package scope: say what the files are.
  writeFileSync(join(out, 'package.json'), '{ "type": "module" }\n');
  return join(out, 'src', 'cli.js');
}

export default async function setup(project: TestProject): Promise<() => void> {
  removeStale();
  const out = join(CACHE, `${process.pid}-${Date.now()}`);
  project.provide('airlockCli', await compile(out));
  project.onTestsRerun(async () => {
    project.provide('airlockCli', await compile(out));
  });
  return () => rmSync(out, { recursive: true, force: true });
}
