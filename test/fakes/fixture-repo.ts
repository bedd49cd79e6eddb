import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** A small project with one bug (add() subtracts) and a test that shows it. */
export const FIXTURE_FILES: Record<string, string> = {
  'README.md': '# widgets\n\nAdds numbers.\n',
  'src/add.js': 'export function add(a, b) {\n  return a - b;\n}\n',
  'test.sh':
    '#!/bin/sh\nset -e\nresult=$(node -e "import(\'./src/add.js\').then(m => console.log(m.add(2, 3)))")\n[ "$result" = "5" ] && echo "ok: add(2, 3) = 5" || { echo "FAIL: add(2, 3) = $result, expected 5"; exit 1; }\n',
};

function run(args: string[], cwd: string): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, GIT_CONFIG_NOSYSTEM: '1' },
  }).trim();
}

/** A bare repository holding FIXTURE_FILES on `main`, reachable by path (forge: git). */
export function createBareFixture(files: Record<string, string> = FIXTURE_FILES): {
  bare: string;
  head: string;
  cleanup: () => void;
} {
  const root = mkdtempSync(join(tmpdir(), 'airlock-fixture-'));
  const work = join(root, 'work');
  mkdirSync(work);
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(work, path)), { recursive: true });
    writeFileSync(join(work, path), content, { mode: path.endsWith('.sh') ? 0o755 : 0o644 });
  }
  run(['init', '-q', '-b', 'main'], work);
  run(['add', '-A'], work);
  run(
    ['-c', 'user.name=Fixture', '-c', 'user.email=fixture@example.com', 'commit', '-q', '-m', 'initial'],
    work,
  );
  const bare = join(root, 'widgets.git');
  run(['clone', '-q', '--bare', work, bare], root);
  return {
    bare,
    head: run(['rev-parse', 'HEAD'], work),
    cleanup: () => rmSync(root, { recursive: true, force: true }),
  };
}

export function gitIn(cwd: string, ...args: string[]): string {
  return run(args, cwd);
}
