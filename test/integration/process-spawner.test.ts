import { afterEach, describe, expect, it } from 'vitest';
import { ProcessSpawner, type SpawnedProcess } from '../../src/shared/process-spawner.js';

/** Collects a process's output and how it ended. */
function finished(child: SpawnedProcess) {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const fd3: Buffer[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c));
  child.stderr.on('data', (c: Buffer) => err.push(c));
  child.fd3?.on('data', (c: Buffer) => fd3.push(c));
  return new Promise<{ code: number | null; signal: string | null; out: string; err: string; fd3: string }>(
    (resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code: number | null, signal: string | null) =>
        resolve({
          code,
          signal,
          out: Buffer.concat(out).toString(),
          err: Buffer.concat(err).toString(),
          fd3: Buffer.concat(fd3).toString(),
        }),
      );
    },
  );
}

const env = { PATH: process.env.PATH ?? '/usr/bin:/bin' };

/** The process helper `serve` starts commands through (issue 12): the same processes, another parent. */
describe('process spawner', () => {
  let spawner: ProcessSpawner | undefined;
  afterEach(() => spawner?.close());

  it('carries stdin, stdout, stderr, fd 3 and the exit code, byte for byte, for many at once', async () => {
    spawner = new ProcessSpawner();
    const big = Buffer.alloc(3 * 1024 * 1024, 'x');
    const runs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => {
        const child = (spawner as ProcessSpawner).spawn(
          'sh',
          ['-c', `wc -c; echo err-${i} >&2; echo info-${i} >&3; exit ${i % 5}`],
          { cwd: '/', env, fd3: true },
        );
        child.stdin?.end(big);
        return finished(child);
      }),
    );
    runs.forEach((r, i) => {
      expect(r).toMatchObject({ code: i % 5, out: `${big.length}\n`, err: `err-${i}\n`, fd3: `info-${i}\n` });
    });
  });

  it('a missing program is an error event with its code; a killed group reports its signal', async () => {
    spawner = new ProcessSpawner();
    const missing = spawner.spawn('no-such-program-airlock', [], { cwd: '/', env });
    await expect(finished(missing)).rejects.toMatchObject({ code: 'ENOENT' });

    const child = spawner.spawn('bash', ['-c', 'sleep 30 & sleep 30'], { cwd: '/', env, detached: true });
    await new Promise((r) => child.once('spawn', r));
    process.kill(-(child.pid as number), 'SIGKILL');
    expect(await finished(child)).toMatchObject({ code: null, signal: 'SIGKILL' });
  });

  it('a process whose helper dies ends as killed, and the next spawn starts a new helper', async () => {
    spawner = new ProcessSpawner();
    const child = spawner.spawn('sleep', ['30'], { cwd: '/', env, detached: true });
    await new Promise((r) => child.once('spawn', r));
    const helperPid = Number(
      (await import('node:fs')).readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1],
    );
    process.kill(helperPid, 'SIGKILL');
    expect(await finished(child)).toMatchObject({ signal: 'SIGKILL' });
    process.kill(child.pid as number, 'SIGKILL');
    const again = spawner.spawn('echo', ['still here'], { cwd: '/', env });
    expect(await finished(again)).toMatchObject({ code: 0, out: 'still here\n' });
  });
});
