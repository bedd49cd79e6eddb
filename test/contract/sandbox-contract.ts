// The promises every Sandbox backend keeps (DESIGN.md §4), as one vitest suite each backend runs:
// test/integration/sandbox-contract-*.test.ts. Everything is observed through the port itself, plus
// the host's process list (in tests both backends run commands as host processes: the local one
// directly, the Kubernetes one through the API stand-in's bubblewrapped "node").
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Sandbox, SandboxProvider } from '../../src/runs/ports/sandbox.js';
import { initSnapshotRepository } from '../support/snapshot-repository.js';
import { until } from '../support/until.js';

export interface SandboxBackend {
  provider: SandboxProvider;
  /** A second provider over the same sandboxes, as a restarted airlock builds. */
  reopen(): SandboxProvider;
  /** Checks the backend's stand-ins saw nothing wrong, then releases everything. */
  close(): Promise<void>;
}

/** What a backend does not promise by design; those cases are skipped for it. */
export interface BackendTraits {
  /** Commands cannot open a connection anywhere, not even to the host's loopback. */
  noNetwork: boolean;
  /** A command reading stdin sees its end (EOF) once the input is sent. */
  stdinEnds: boolean;
}

/**
 * Promises a backend is known to break today. Each case still runs with its full assertions, as
 * `it.fails`, so it turns red the day the backend is fixed and the entry can go.
 */
export type KnownBreak =
  | 'exec-refusal-is-a-rejection'
  | 'pre-aborted-signal-runs-nothing'
  | 'background-processes-die-with-command'
  | 'create-reuses-run-id';

export interface SandboxContractOptions {
  traits: BackendTraits;
  /** Each known break with the reason, shown in the case's name. */
  knownBreaks?: Partial<Record<KnownBreak, string>>;
  /** The repository named in SandboxSpec; the backend's policy must know it. */
  repo?: string;
}

/** How long a command's processes may take to go after it returned. */
const GONE_MS = 5000;
/** How long an abort may take to come back as a result. */
const CANCEL_MS = 5000;
/** How often an already-aborted signal is tried. */
const PRE_ABORT_TRIES = 5;
const SECRET_NAMES = ['AIRLOCK_CONTRACT_SECRET', 'ANTHROPIC_API_KEY', 'GITHUB_TOKEN', 'SLACK_BOT_TOKEN'];

/** `sleep` with a duration no other test uses, so its process can be found and told apart. */
function uniqueSleep(): string {
  return `sleep 4${randomInt(0, 10)}.${randomInt(100_000, 1_000_000)}`;
}

function hostProcesses(): string[] {
  return execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).split('\n');
}

/** Until the command `sleep` itself runs (not just the shell that will start it). */
function untilRunning(sleep: string): Promise<unknown> {
  return until(() => hostProcesses().some((l) => l.trim() === sleep), `${sleep} running`);
}

/** Until no process mentions the sleep: neither it nor a shell or wrapper around it. */
function untilGone(sleep: string): Promise<unknown> {
  return until(() => !hostProcesses().some((l) => l.includes(sleep)), `${sleep} gone`, GONE_MS);
}

function git(cwd: string, ...args: string[]): string {
  return execFileSync(
    'git',
    ['-c', 'user.name=Test', '-c', 'user.email=test@example.com', '-c', 'init.defaultBranch=main', ...args],
    {
      cwd,
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd, GIT_CONFIG_NOSYSTEM: '1' },
    },
  ).trim();
}

/** The tree the workspace would commit to (modes and symlinks included), from a throwaway repository. */
const TREE_OF_WORKSPACE = [
  'export GIT_DIR="$(mktemp -d)/.git" GIT_WORK_TREE="$PWD"',
  'git init -q && git add -A && git write-tree; s=$?',
  'rm -rf "$(dirname "$GIT_DIR")"; exit $s',
].join('\n');

/** A repository to snapshot: text, an executable, a relative symlink, a binary, a file to delete. */
function createOrigin(dir: string): { head: string; tree: string } {
  mkdirSync(join(dir, 'src'), { recursive: true });
  writeFileSync(join(dir, 'README.md'), '# demo\n');
  writeFileSync(join(dir, 'src/keep.txt'), 'line1\nline2\nline3\n');
  writeFileSync(join(dir, 'src/gone.txt'), 'bye\n');
  writeFileSync(join(dir, 'run.sh'), '#!/bin/sh\necho run\n');
  chmodSync(join(dir, 'run.sh'), 0o755);
  writeFileSync(join(dir, 'tool.sh'), '#!/bin/sh\necho tool\n');
  symlinkSync('src/keep.txt', join(dir, 'keep-link'));
  writeFileSync(join(dir, 'img.bin'), binary(7, 300));
  git(dir, 'init', '-q');
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'initial');
  return { head: git(dir, 'rev-parse', 'HEAD'), tree: git(dir, 'rev-parse', 'HEAD^{tree}') };
}

/** Bytes with NULs and high bytes, so git treats them as binary. */
function binary(seed: number, length: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => (i % 5 === 0 ? 0 : (i * seed) % 256)));
}

/** `git archive` of the repository, streamed from the child's stdout as airlock's mirror does. */
async function putArchive(sandbox: Sandbox, repo: string): Promise<void> {
  const child = spawn('git', ['archive', '--format=tar', 'HEAD'], {
    cwd: repo,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: repo, GIT_CONFIG_NOSYSTEM: '1' },
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  await sandbox.putTree(child.stdout);
  expect(await exited).toBe(0);
}

export function sandboxContract(
  name: string,
  setup: () => Promise<SandboxBackend>,
  options: SandboxContractOptions,
): void {
  const { traits, knownBreaks = {}, repo = 'acme/widgets' } = options;

  /** A case that keeps a promise; run as `it.fails` where the backend is known to break it. */
  function promise(title: string, fn: () => Promise<void>, breaks?: KnownBreak): void {
    const reason = breaks && knownBreaks[breaks];
    if (reason) it.fails(`${title} [known break: ${reason}]`, fn);
    else it(title, fn);
  }

  describe(`Sandbox contract: ${name}`, () => {
    let backend: SandboxBackend;
    let scratch: string;
    const made: Sandbox[] = [];
    let runs = 0;

    beforeAll(async () => {
      backend = await setup();
      scratch = mkdtempSync(join(tmpdir(), 'airlock-contract-'));
    });
    afterEach(async () => {
      for (const sandbox of made.splice(0)) await sandbox.destroy();
    });
    afterAll(async () => {
      rmSync(scratch, { recursive: true, force: true });
      await backend?.close();
    });

    const newRunId = () => `contract-${++runs}-${randomBytes(3).toString('hex')}`;
    async function create(runId = newRunId()): Promise<Sandbox> {
      const sandbox = await backend.provider.create(runId, { repo });
      made.push(sandbox);
      return sandbox;
    }

    describe('commands', () => {
      promise('a command runs in the workspace, where files written through the port are', async () => {
        const sandbox = await create();
        expect(sandbox.workdir).toMatch(/^\//);
        await sandbox.writeFile('hello.txt', 'from the port\n');
        const result = await sandbox.exec(
          'pwd; echo "$PWD"; cat hello.txt; echo from the command > made.txt',
        );
        expect(result.exitCode).toBe(0);
        expect(result.stdout.toString()).toBe(`${sandbox.workdir}\n${sandbox.workdir}\nfrom the port\n`);
        expect((await sandbox.readFile('made.txt')).toString()).toBe('from the command\n');
      });

      promise('exec returns stdout and stderr apart, and the exit code', async () => {
        const sandbox = await create();
        const result = await sandbox.exec('echo out; echo err >&2; echo more out');
        expect(result).toMatchObject({ exitCode: 0, timedOut: false, cancelled: false, droppedBytes: 0 });
        expect(result.stdout.toString()).toBe('out\nmore out\n');
        expect(result.stderr.toString()).toBe('err\n');
        expect(result.durationMs).toBeGreaterThanOrEqual(0);
      });

      promise('a non-zero exit code comes back as the command gave it', async () => {
        const sandbox = await create();
        for (const code of [1, 7, 125, 255]) {
          const result = await sandbox.exec(`echo before; exit ${code}`);
          expect(result).toMatchObject({ exitCode: code, timedOut: false, cancelled: false });
          expect(result.stdout.toString()).toBe('before\n');
        }
        const missing = await sandbox.exec('no-such-command-airlock');
        expect(missing.exitCode).toBe(127);
        expect(missing.stderr.toString()).toContain('no-such-command-airlock');
      });

      promise('cwd runs a command in a directory of the workspace, given relative or absolute', async () => {
        const sandbox = await create();
        await sandbox.writeFile('sub/dir/x.txt', 'x');
        const relative = await sandbox.exec('pwd; cat x.txt', { cwd: 'sub/dir' });
        expect(relative.stdout.toString()).toBe(`${sandbox.workdir}/sub/dir\nx`);
        const absolute = await sandbox.exec('pwd', { cwd: `${sandbox.workdir}/sub` });
        expect(absolute.stdout.toString()).toBe(`${sandbox.workdir}/sub\n`);
        const normalised = await sandbox.exec('pwd', { cwd: './sub/../sub/dir' });
        expect(normalised.stdout.toString()).toBe(`${sandbox.workdir}/sub/dir\n`);
      });

      promise('a cwd outside the workspace is refused', async () => {
        const sandbox = await create();
        const attempt = async (cwd: string) => sandbox.exec('pwd', { cwd });
        await expect(attempt('..')).rejects.toThrow(/outside the workspace/);
        await expect(attempt('/etc')).rejects.toThrow(/outside the workspace/);
        await expect(attempt('sub/../../x')).rejects.toThrow(/outside the workspace/);
      });

      promise(
        'exec reports a refusal as a rejected promise, never a synchronous throw',
        async () => {
          const sandbox = await create();
          let pending: Promise<unknown> | undefined;
          expect(() => {
            pending = sandbox.exec('pwd', { cwd: '/etc' });
          }).not.toThrow();
          await expect(pending).rejects.toThrow(/outside the workspace/);
        },
        'exec-refusal-is-a-rejection',
      );

      promise('stdin reaches the command byte for byte, as text, as bytes and as a stream', async () => {
        const sandbox = await create();
        // head -c reads exactly what was sent, so this needs no end of stdin.
        const text = await sandbox.exec('head -c 13; echo " <- read"', { stdin: 'hello sandbox' });
        expect(text).toMatchObject({ exitCode: 0, timedOut: false });
        expect(text.stdout.toString()).toBe('hello sandbox <- read\n');
        const bytes = await sandbox.exec('head -c 3 | od -An -tx1 | tr -d " \\n"', {
          stdin: Buffer.from([0, 255, 10]),
        });
        expect(bytes.stdout.toString()).toBe('00ff0a');
        const chunks = [Buffer.from('one\n'), Buffer.from('two\n'), randomBytes(100_000)];
        const all = Buffer.concat(chunks);
        const streamed = await sandbox.exec(`head -c ${all.length} | sha256sum | cut -d" " -f1`, {
          stdin: Readable.from(chunks),
        });
        expect(streamed.stdout.toString()).toBe(`${createHash('sha256').update(all).digest('hex')}\n`);
        const none = await sandbox.exec('wc -c', { timeoutMs: 10_000 });
        expect(none).toMatchObject({ exitCode: 0, timedOut: false });
        expect(none.stdout.toString().trim()).toBe('0');
      });

      it.runIf(traits.stdinEnds)('a command reading its stdin to the end sees the end', async () => {
        const sandbox = await create();
        const read = await sandbox.exec('cat; echo " <- end"', { stdin: 'all of it', timeoutMs: 10_000 });
        expect(read).toMatchObject({ exitCode: 0, timedOut: false });
        expect(read.stdout.toString()).toBe('all of it <- end\n');
      });

      promise('a command that ignores a large stdin still completes', async () => {
        const sandbox = await create();
        const result = await sandbox.exec('echo done', { stdin: Buffer.alloc(4 * 1024 * 1024, 'x') });
        expect(result).toMatchObject({ exitCode: 0, timedOut: false, cancelled: false });
        expect(result.stdout.toString()).toBe('done\n');
      });

      promise("a command cannot see airlock's environment, so none of its secrets", async () => {
        const saved = Object.fromEntries(SECRET_NAMES.map((k) => [k, process.env[k]]));
        const values = SECRET_NAMES.map((k) => `${k.toLowerCase()}-${randomBytes(8).toString('hex')}`);
        SECRET_NAMES.forEach((k, i) => {
          process.env[k] = values[i];
        });
        try {
          const sandbox = await create();
          const result = await sandbox.exec('env');
          expect(result.exitCode).toBe(0);
          const text = result.stdout.toString();
          expect(text).toMatch(/^PATH=/m);
          for (const value of values) expect(text).not.toContain(value);
          for (const key of SECRET_NAMES) expect(text).not.toMatch(new RegExp(`^${key}=`, 'm'));
        } finally {
          for (const [k, v] of Object.entries(saved)) {
            if (v === undefined) delete process.env[k];
            else process.env[k] = v;
          }
        }
      });

      promise('HOME and TMPDIR are writable directories that last between commands', async () => {
        const sandbox = await create();
        const wrote = await sandbox.exec('echo h > "$HOME/h.txt" && echo t > "$TMPDIR/t.txt"');
        expect(wrote).toMatchObject({ exitCode: 0 });
        const read = await sandbox.exec('cat "$HOME/h.txt" "$TMPDIR/t.txt"');
        expect(read.stdout.toString()).toBe('h\nt\n');
      });

      it.runIf(traits.noNetwork)(
        'a command cannot reach the network, not even the host loopback',
        async () => {
          const server = createServer((_req, res) => res.end('ok'));
          await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
          const { port } = server.address() as AddressInfo;
          try {
            const sandbox = await create();
            const result = await sandbox.exec(`exec 3<>/dev/tcp/127.0.0.1/${port} && echo connected`, {
              timeoutMs: 10_000,
            });
            expect(result.timedOut).toBe(false);
            expect(result.exitCode).not.toBe(0);
            expect(result.stdout.toString()).toBe('');
          } finally {
            server.closeAllConnections();
            await new Promise((resolve) => server.close(resolve));
          }
        },
      );
    });

    describe('time limits and cancellation', () => {
      promise('a command that finishes within timeoutMs is not affected by it', async () => {
        const sandbox = await create();
        const result = await sandbox.exec('echo quick', { timeoutMs: 10_000 });
        expect(result).toMatchObject({ exitCode: 0, timedOut: false, cancelled: false });
        expect(result.stdout.toString()).toBe('quick\n');
      });

      promise(
        'timeoutMs stops a command that runs too long, reports it with the output so far, leaves no process, and the sandbox still works',
        async () => {
          const sandbox = await create();
          const sleep = uniqueSleep();
          const started = Date.now();
          const result = await sandbox.exec(`echo begun; ${sleep} & ${sleep}; echo never`, {
            timeoutMs: 1000,
          });
          expect(result).toMatchObject({ exitCode: null, timedOut: true, cancelled: false });
          expect(result.stdout.toString()).toBe('begun\n');
          expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
          expect(result.durationMs).toBeLessThan(10_000);
          await untilGone(sleep);
          const after = await sandbox.exec('echo still here');
          expect(after).toMatchObject({ exitCode: 0, timedOut: false });
          expect(after.stdout.toString()).toBe('still here\n');
        },
      );

      promise(
        'an AbortSignal cancels a running command: reported cancelled, no process left, the sandbox still works',
        async () => {
          const sandbox = await create();
          const sleep = uniqueSleep();
          const controller = new AbortController();
          const pending = sandbox.exec(`echo begun; ${sleep} & ${sleep}`, { signal: controller.signal });
          await untilRunning(sleep);
          const abortedAt = Date.now();
          controller.abort();
          const result = await pending;
          expect(Date.now() - abortedAt).toBeLessThan(CANCEL_MS);
          expect(result).toMatchObject({ exitCode: null, cancelled: true, timedOut: false });
          expect(result.stdout.toString()).toBe('begun\n');
          await untilGone(sleep);
          expect((await sandbox.exec('echo still here')).stdout.toString()).toBe('still here\n');
        },
      );

      promise(
        'a signal that is already aborted cancels the command at once and leaves no process',
        async () => {
          const sandbox = await create();
          // A backend may race the command's start against the cancel; a few tries show a lost race.
          for (let attempt = 0; attempt < PRE_ABORT_TRIES; attempt++) {
            const sleep = uniqueSleep();
            const started = Date.now();
            const result = await sandbox.exec(sleep, { signal: AbortSignal.abort() });
            expect(Date.now() - started).toBeLessThan(CANCEL_MS);
            expect(result).toMatchObject({ exitCode: null, cancelled: true, timedOut: false });
            await untilGone(sleep);
          }
        },
        'pre-aborted-signal-runs-nothing',
      );

      promise(
        'a signal aborted while the command is starting still stops it and leaves no process',
        async () => {
          const sandbox = await create();
          // Right after the call, then a few milliseconds in: while the backend is still starting it.
          for (let attempt = 0; attempt < PRE_ABORT_TRIES; attempt++) {
            const sleep = uniqueSleep();
            const controller = new AbortController();
            const pending = sandbox.exec(sleep, { signal: controller.signal });
            if (attempt < 3) controller.abort();
            else setTimeout(() => controller.abort(), (attempt - 2) * 10);
            const result = await pending;
            expect(result).toMatchObject({ exitCode: null, cancelled: true, timedOut: false });
            await untilGone(sleep);
          }
        },
      );

      promise(
        'processes a command leaves in the background do not outlive it',
        async () => {
          const sandbox = await create();
          const sleep = uniqueSleep();
          const result = await sandbox.exec(`${sleep} >/dev/null 2>&1 </dev/null & echo started`);
          expect(result).toMatchObject({ exitCode: 0, timedOut: false, cancelled: false });
          expect(result.stdout.toString()).toBe('started\n');
          await untilGone(sleep);
        },
        'background-processes-die-with-command',
      );

      promise('a background process that keeps stdout open does not hold the command open', async () => {
        const sandbox = await create();
        const sleep = uniqueSleep();
        const started = Date.now();
        const result = await sandbox.exec(`${sleep} & echo started`);
        // The sleep would hold stdout for 40 s and more.
        expect(Date.now() - started).toBeLessThan(GONE_MS);
        expect(result).toMatchObject({ exitCode: 0, timedOut: false, cancelled: false });
        expect(result.stdout.toString()).toBe('started\n');
        await untilGone(sleep);
      });
    });

    describe('output', () => {
      promise(
        'output beyond maxOutputBytes keeps the head and tail of each stream and counts what was dropped',
        async () => {
          const sandbox = await create();
          const result = await sandbox.exec(
            "printf HEAD; head -c 10000 /dev/zero | tr '\\0' x; printf TAIL; head -c 1000 /dev/zero | tr '\\0' e >&2",
            { maxOutputBytes: 100 },
          );
          expect(result.exitCode).toBe(0);
          expect(result.droppedBytes).toBe(10008 - 100 + (1000 - 100));
          expect(result.stdout.toString()).toBe(
            `HEAD${'x'.repeat(46)}\n[... 9908 bytes of output dropped ...]\n${'x'.repeat(46)}TAIL`,
          );
          expect(result.stderr.toString()).toBe(
            `${'e'.repeat(50)}\n[... 900 bytes of output dropped ...]\n${'e'.repeat(50)}`,
          );
        },
      );

      promise('output within the cap comes back whole, byte for byte', async () => {
        const sandbox = await create();
        const blob = randomBytes(256 * 1024);
        await sandbox.writeFile('blob.bin', blob);
        const result = await sandbox.exec('cat blob.bin; cat blob.bin >&2');
        expect(result).toMatchObject({ exitCode: 0, droppedBytes: 0 });
        expect(result.stdout.equals(blob)).toBe(true);
        expect(result.stderr.equals(blob)).toBe(true);
      });
    });

    describe('files', () => {
      promise(
        'writeFile and readFile round-trip bytes: binary, large, relative and absolute paths',
        async () => {
          const sandbox = await create();
          const every = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
          const large = randomBytes(8 * 1024 * 1024 + 3);
          await sandbox.writeFile('text.txt', 'héllo\n');
          await sandbox.writeFile('deep/er/every.bin', every);
          await sandbox.writeFile(`${sandbox.workdir}/large.bin`, large);
          await sandbox.writeFile('empty', '');
          expect((await sandbox.readFile('text.txt')).toString()).toBe('héllo\n');
          expect((await sandbox.readFile(`${sandbox.workdir}/deep/er/every.bin`)).equals(every)).toBe(true);
          expect((await sandbox.readFile('./deep/../large.bin')).equals(large)).toBe(true);
          expect((await sandbox.readFile('empty')).length).toBe(0);
          // Commands see the very bytes the port wrote.
          const sums = await sandbox.exec('sha256sum large.bin deep/er/every.bin | cut -d" " -f1');
          expect(sums.stdout.toString()).toBe(
            `${createHash('sha256').update(large).digest('hex')}\n${createHash('sha256').update(every).digest('hex')}\n`,
          );
        },
      );

      promise('writeFile replaces the whole of an existing file', async () => {
        const sandbox = await create();
        await sandbox.writeFile('f.txt', 'a long first version\n');
        await sandbox.writeFile('f.txt', 'short\n');
        expect((await sandbox.readFile('f.txt')).toString()).toBe('short\n');
      });

      promise('readFile reads what commands wrote', async () => {
        const sandbox = await create();
        await sandbox.exec("mkdir -p out && printf '\\000\\001\\377' > out/raw.bin");
        expect([...(await sandbox.readFile('out/raw.bin'))]).toEqual([0, 1, 255]);
      });

      promise('readFile of a missing file rejects with code ENOENT', async () => {
        const sandbox = await create();
        await expect(sandbox.readFile('missing.txt')).rejects.toMatchObject({ code: 'ENOENT' });
      });

      promise('readFile and writeFile refuse paths outside the workspace', async () => {
        const sandbox = await create();
        await expect(sandbox.readFile('/etc/passwd')).rejects.toThrow(/outside the workspace/);
        await expect(sandbox.readFile('../x')).rejects.toThrow(/outside the workspace/);
        await expect(sandbox.writeFile('../escaped.txt', 'x')).rejects.toThrow(/outside the workspace/);
        await expect(sandbox.writeFile('/etc/escaped.txt', 'x')).rejects.toThrow(/outside the workspace/);
        const parent = await sandbox.exec('test -e ../escaped.txt && echo there || echo absent');
        expect(parent.stdout.toString()).toBe('absent\n');
      });
    });

    describe('putTree', () => {
      promise(
        'putTree unpacks a tar stream: contents, directories, the executable bit and symlinks',
        async () => {
          const src = mkdtempSync(join(scratch, 'tree-'));
          mkdirSync(join(src, 'bin'));
          mkdirSync(join(src, 'docs/deep'), { recursive: true });
          writeFileSync(join(src, 'bin/tool.sh'), '#!/bin/sh\necho tool ran\n');
          chmodSync(join(src, 'bin/tool.sh'), 0o755);
          writeFileSync(join(src, 'docs/deep/readme.txt'), 'packed\n');
          writeFileSync(join(src, 'data.bin'), binary(5, 5000));
          symlinkSync('docs/deep/readme.txt', join(src, 'link'));
          const sandbox = await create();
          await sandbox.putTree(
            Readable.from(tar.c({ cwd: src, portable: true }, ['bin', 'docs', 'data.bin', 'link'])),
          );
          expect((await sandbox.readFile('docs/deep/readme.txt')).toString()).toBe('packed\n');
          expect((await sandbox.readFile('data.bin')).equals(binary(5, 5000))).toBe(true);
          const shown = await sandbox.exec(
            'test -x bin/tool.sh && ./bin/tool.sh; test -x data.bin || echo data not executable; readlink link; cat link',
          );
          expect(shown.stdout.toString()).toBe(
            'tool ran\ndata not executable\ndocs/deep/readme.txt\npacked\n',
          );
        },
      );

      promise("putTree of a git archive gives exactly the commit's tree", async () => {
        const origin = mkdtempSync(join(scratch, 'origin-'));
        const { tree } = createOrigin(origin);
        const sandbox = await create();
        await putArchive(sandbox, origin);
        const result = await sandbox.exec(TREE_OF_WORKSPACE);
        expect(result.stderr.toString()).toBe('');
        expect(result.stdout.toString()).toBe(`${tree}\n`);
      });

      promise('putTree refuses a tar entry that climbs out of the workspace', async () => {
        const inner = join(mkdtempSync(join(scratch, 'evil-')), 'inner');
        mkdirSync(inner);
        const evil = `evil-${randomBytes(4).toString('hex')}.txt`;
        writeFileSync(join(inner, '..', evil), 'evil');
        const sandbox = await create();
        await expect(
          sandbox.putTree(Readable.from(tar.c({ cwd: inner, preservePaths: true }, [`../${evil}`]))),
        ).rejects.toThrow(/\.\./);
        const seen = await sandbox.exec(`ls -A; test -e ../${evil} && echo escaped || echo contained`);
        expect(seen.stdout.toString()).toBe('contained\n');
      });
    });

    describe('diff', () => {
      let origin: string;
      let base: { head: string; tree: string };
      beforeAll(() => {
        origin = mkdtempSync(join(scratch, 'diff-origin-'));
        base = createOrigin(origin);
      });

      promise('diff is empty when nothing changed since the snapshot', async () => {
        const sandbox = await create();
        await putArchive(sandbox, origin);
        const snapshot = await initSnapshotRepository(sandbox, base.head);
        expect(snapshot).toMatch(/^[0-9a-f]{40}$/);
        const head = await sandbox.exec('git rev-parse HEAD^{tree}');
        expect(head.stdout.toString()).toBe(`${base.tree}\n`);
        expect((await sandbox.diff(snapshot)).length).toBe(0);
      });

      promise(
        'diff is the git diff --binary of the workspace against the snapshot commit, new files and modes included',
        async () => {
          const sandbox = await create();
          await putArchive(sandbox, origin);
          const snapshot = await initSnapshotRepository(sandbox, base.head);
          await sandbox.writeFile('src/keep.txt', 'line1\nline2 changed\nline3\n');
          await sandbox.writeFile('notes/new.txt', 'fresh\n');
          await sandbox.writeFile('img.bin', binary(11, 300));
          await sandbox.writeFile('new.bin', binary(13, 100));
          const edits = await sandbox.exec(
            'rm src/gone.txt && chmod +x tool.sh && ln -s README.md readme-link',
          );
          expect(edits.exitCode).toBe(0);

          const diff = await sandbox.diff(snapshot);
          const text = diff.toString('latin1');
          const files = [...text.matchAll(/^diff --git a\/(\S+) b\//gm)].map((m) => m[1]).sort();
          expect(files).toEqual([
            'img.bin',
            'new.bin',
            'notes/new.txt',
            'readme-link',
            'src/gone.txt',
            'src/keep.txt',
            'tool.sh',
          ]);
          expect(text).toContain('-line2\n+line2 changed\n');
          expect(text).toContain('diff --git a/src/gone.txt b/src/gone.txt\ndeleted file mode 100644\n');
          expect(text).toContain('diff --git a/notes/new.txt b/notes/new.txt\nnew file mode 100644\n');
          expect(text).toContain('diff --git a/readme-link b/readme-link\nnew file mode 120000\n');
          expect(text).toContain('diff --git a/tool.sh b/tool.sh\nold mode 100644\nnew mode 100755\n');
          expect(text.match(/GIT binary patch/g)).toHaveLength(2);

          // Applied to the original, the diff gives exactly the workspace's tree.
          const fresh = mkdtempSync(join(scratch, 'applied-'));
          git(fresh, 'clone', '-q', origin, '.');
          writeFileSync(join(scratch, `${snapshot}.patch`), diff);
          git(fresh, 'apply', '--binary', join(scratch, `${snapshot}.patch`));
          git(fresh, 'add', '-A');
          const workspaceTree = await sandbox.exec(TREE_OF_WORKSPACE);
          expect(workspaceTree.stdout.toString()).toBe(`${git(fresh, 'write-tree')}\n`);
          // Taking the diff changed nothing in the workspace.
          expect((await sandbox.diff(snapshot)).equals(diff)).toBe(true);
        },
      );
    });

    describe('lifecycle', () => {
      promise('attach after create finds the same sandbox with the same files', async () => {
        const runId = newRunId();
        const first = await create(runId);
        await first.writeFile('state.txt', 'kept');
        const again = await backend.provider.attach(runId);
        expect(again?.runId).toBe(runId);
        expect(again?.workdir).toBe(first.workdir);
        expect((await again?.readFile('state.txt'))?.toString()).toBe('kept');
        await again?.writeFile('back.txt', 'both ways');
        expect((await first.exec('cat back.txt')).stdout.toString()).toBe('both ways');
      });

      promise('a restarted airlock attaches to the sandbox of a run with the same files', async () => {
        const runId = newRunId();
        const first = await create(runId);
        await first.writeFile('state.txt', 'kept across restarts');
        const again = await backend.reopen().attach(runId);
        expect(again?.runId).toBe(runId);
        expect((await again?.exec('cat state.txt'))?.stdout.toString()).toBe('kept across restarts');
      });

      promise('attach for a run that has no sandbox returns undefined', async () => {
        expect(await backend.provider.attach(newRunId())).toBeUndefined();
        expect(await backend.reopen().attach(newRunId())).toBeUndefined();
      });

      promise('destroy removes the sandbox, after which attach returns undefined', async () => {
        const runId = newRunId();
        const sandbox = await create(runId);
        await sandbox.writeFile('x.txt', 'x');
        await sandbox.destroy();
        expect(await backend.provider.attach(runId)).toBeUndefined();
        expect(await backend.reopen().attach(runId)).toBeUndefined();
      });

      promise(
        'create for a run id used before starts from an empty workspace',
        async () => {
          const runId = newRunId();
          const first = await create(runId);
          await first.writeFile('leftover.txt', 'old');
          const second = await create(runId);
          const listed = await second.exec('ls -A');
          expect(listed).toMatchObject({ exitCode: 0 });
          expect(listed.stdout.toString()).toBe('');
        },
        'create-reuses-run-id',
      );

      promise('sandboxes of different runs share no files', async () => {
        const a = await create();
        const b = await create();
        await a.writeFile('mine.txt', 'a');
        await expect(b.readFile('mine.txt')).rejects.toMatchObject({ code: 'ENOENT' });
        expect((await b.exec('test -e mine.txt; echo $?')).stdout.toString()).toBe('1\n');
      });
    });
  });
}
