/**
 * A bare git repository of many small files for `npm run bench:start`, made in one `git fast-import`
 * (one commit on `main`). Sizes follow a log-normal spread around 1.5 kB like a source tree's:
 * mostly small modules, a tail of large ones, and 1 % binary assets that do not compress. The
 * content is pseudo-code from a fixed seed, so every bench run measures the same bytes.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

export interface BenchRepo {
  bare: string;
  head: string;
  files: number;
  bytes: number;
}

const WORDS = (
  'const let return function async await import export from if else for while value result ' +
  'error options config request response handler client server stream buffer length index ' +
  'count items map filter reduce push pop keys entries string number boolean undefined null ' +
  'this new class extends interface type readonly private public static get set'
).split(' ');

/** mulberry32: a small, fast, seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

function textOf(size: number, random: () => number): Buffer {
  const lines: string[] = [];
  let length = 0;
  while (length < size) {
    const indent = '  '.repeat(Math.floor(random() * 4));
    const words = Array.from(
      { length: 3 + Math.floor(random() * 9) },
      () => WORDS[Math.floor(random() * WORDS.length)],
    );
    const line = `${indent}${words.join(' ')};`;
    lines.push(line);
    length += line.length + 1;
  }
  return Buffer.from(`${lines.join('\n')}\n`.slice(0, size));
}

/** Makes `<root>/repo.git` with `files` files on `main` (10,000: about 25 MB). */
export function makeBenchRepo(root: string, files = 10_000, seed = 11): BenchRepo {
  const random = prng(seed);
  const bare = join(root, 'repo.git');
  mkdirSync(bare, { recursive: true });
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: root, GIT_CONFIG_NOSYSTEM: '1' };
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', bare], { env });
  const parts: Buffer[] = [
    Buffer.from(
      'commit refs/heads/main\nauthor Bench <bench@example.com> 1764460800 +0000\n' +
        'committer Bench <bench@example.com> 1764460800 +0000\ndata 15\nbench: 10k tree\n',
    ),
  ];
  let bytes = 0;
  const add = (path: string, content: Buffer) => {
    parts.push(Buffer.from(`M 100644 inline ${path}\ndata ${content.length}\n`), content, Buffer.from('\n'));
    bytes += content.length;
  };
  add('README.md', Buffer.from('# bench\n\nA generated tree for `npm run bench:start`.\n'));
  // 20 packages × 10 modules × 50 files = 10,000 files (the README among them).
  for (let i = 1; i < files; i++) {
    const pkg = `packages/pkg${String(Math.floor(i / 500)).padStart(2, '0')}`;
    const mod = `mod${Math.floor(i / 50) % 10}`;
    const binary = random() < 0.01;
    const size = Math.min(200_000, Math.max(40, Math.round(1500 * Math.exp(gaussian(random)))));
    if (binary) {
      const content = Buffer.alloc(size);
      for (let b = 0; b < size; b++) content[b] = Math.floor(random() * 256);
      add(`${pkg}/assets/${mod}-${i}.bin`, content);
    } else add(`${pkg}/src/${mod}/file${i}.ts`, textOf(size, random));
  }
  execFileSync('git', ['fast-import', '--quiet'], {
    cwd: bare,
    env,
    input: Buffer.concat(parts),
    maxBuffer: 64 * 1024 * 1024,
  });
  const head = execFileSync('git', ['rev-parse', 'main'], { cwd: bare, env, encoding: 'utf8' }).trim();
  return { bare, head, files, bytes };
}
