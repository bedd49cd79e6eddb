import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import * as tar from 'tar';
import { afterEach, describe, expect, it } from 'vitest';
import { type Policy, parsePolicy } from '../../src/config/policy.js';
import { SESSION_KILL, SUPERVISOR } from '../../src/sandbox/kubernetes/exec-session.js';
import { KubeApi } from '../../src/sandbox/kubernetes/kube-api.js';
import { KILL, WRAPPER } from '../../src/sandbox/kubernetes/kubernetes-sandbox.js';
import { KubernetesSandboxes } from '../../src/sandbox/kubernetes/kubernetes-sandboxes.js';
import { POOL_LABEL, RUN_ID_LABEL, sandboxPod } from '../../src/sandbox/kubernetes/pod-spec.js';
import { type PolicyRule, startFakeKubernetes } from '../fakes/kubernetes/index.js';
import { restrictedViolations } from '../fakes/kubernetes/pod-security.js';
import { eventually } from '../support/bot-harness.js';
import { initSnapshotRepository } from '../support/snapshot-repository.js';

const NS = 'airlock-sandboxes';
const POLICY = `
repos:
  acme/widgets: {}
  acme/ml:
    sandbox: { image: ghcr.io/acme/ml:1 }
  acme/broken:
    sandbox: { image: registry.example/does-not-exist:1 }
  acme/huge:
    sandbox: { cpu: "64" }
limits: { max_minutes: 30 }
`;

let cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function setup(
  opts: { policy?: string; execProtocols?: string[]; active?: (id: string) => boolean } = {},
) {
  const kube = await startFakeKubernetes({ execProtocols: opts.execProtocols });
  const dir = mkdtempSync(join(tmpdir(), 'airlock-k8s-'));
  cleanups.push(async () => {
    await kube.close();
    rmSync(dir, { recursive: true, force: true });
  });
  kube.writeKubeconfig(join(dir, 'kubeconfig'));
  const policy = parsePolicy(opts.policy ?? POLICY);
  const provider = (
    active = opts.active ?? (() => true),
    p: Policy = policy,
    retries?: number,
    housekeepingMs?: number,
  ) => {
    const kc = new KubeConfig();
    kc.loadFromFile(join(dir, 'kubeconfig'));
    const sandboxes = new KubernetesSandboxes(new KubeApi(kc, NS, retries), p, {
      logger: pino({ level: 'silent' }),
      isRunActive: active,
      startTimeoutMs: 10_000,
      scheduleTimeoutMs: 300,
      housekeepingMs,
    });
    cleanups.push(() => sandboxes.close());
    return sandboxes;
  };
  return { kube, dir, policy, provider };
}

/**
 * A tar of a small tree, streamed from a child process's stdout as the mirror's `git archive` is:
 * such a stream loses its data if nobody reads it before the process exits.
 */
function snapshotOf(dir: string, files: Record<string, string | Buffer>): NodeJS.ReadableStream {
  const src = join(dir, `src-${Math.random().toString(36).slice(2)}`);
  for (const [path, body] of Object.entries(files)) {
    mkdirSync(join(src, path, '..'), { recursive: true });
    writeFileSync(join(src, path), body);
  }
  const file = `${src}.tar`;
  tar.create({ cwd: src, portable: true, sync: true, file }, Object.keys(files));
  return spawn('cat', [file], { stdio: ['ignore', 'pipe', 'ignore'] }).stdout;
}

function hostProcesses(marker: string): string[] {
  return execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(marker) && !l.includes('ps -eo'));
}

/** The stand-in's node is running `command` itself (not just the shell or bubblewrap around it). */
const nodeRuns = (command: string) => () => hostProcesses(command).some((l) => l.trim() === command);

describe('kubernetes sandbox backend, against the API stand-in', () => {
  it('creates one restricted pod per run and runs commands over exec, with their exit codes', async () => {
    const { kube, provider } = await setup();
    const sandbox = await provider().create('r1', { repo: 'acme/widgets' });
    const pod = kube.pods(NS)[0] ?? {};
    expect(pod.metadata.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'airlock',
      [RUN_ID_LABEL]: 'r1',
    });
    expect(restrictedViolations(pod)).toEqual([]);
    const r = await sandbox.exec('echo hello; echo oops >&2; exit 3');
    expect(r).toMatchObject({ exitCode: 3, timedOut: false, cancelled: false });
    expect(r.stdout.toString()).toBe('hello\n');
    expect(r.stderr.toString()).toBe('oops\n');
    expect((await sandbox.exec('pwd')).stdout.toString().trim()).toBe('/workspace');
    await sandbox.exec('mkdir -p a/b');
    expect((await sandbox.exec('pwd', { cwd: 'a/b' })).stdout.toString().trim()).toBe('/workspace/a/b');
    const env = (await sandbox.exec('env')).stdout.toString();
    expect(env).toContain('HOME=/home/airlock');
    expect(env).not.toContain(kube.token);
    expect(kube.execs.length).toBeGreaterThan(0);
    await sandbox.destroy();
    await eventually(() => kube.pods(NS).length === 0, 5000, 'the pod deleted');
  });

  for (const protocol of ['v5.channel.k8s.io', 'v4.channel.k8s.io']) {
    it(`streams the snapshot in as tar over exec stdin, edits files and takes the diff (${protocol})`, async () => {
      const { kube, dir, provider } = await setup({ execProtocols: [protocol] });
      const sandbox = await provider().create('r1', { repo: 'acme/widgets' });
      const binary = Buffer.from([0, 1, 2, 255, 254, 0, 10]);
      await sandbox.putTree(
        snapshotOf(dir, { 'src/add.js': 'export const add = (a, b) => a - b;\n', 'bin/data': binary }),
      );
      expect(kube.execs.at(-1)?.protocol).toBe(protocol);
      const snapshot = await initSnapshotRepository(sandbox, 'a'.repeat(40));
      expect(await sandbox.readFile('bin/data')).toEqual(binary);
      await sandbox.writeFile('src/add.js', 'export const add = (a, b) => a + b;\n');
      await sandbox.writeFile('/workspace/docs/new.md', '# new\n');
      expect((await sandbox.readFile('docs/new.md')).toString()).toBe('# new\n');
      await expect(sandbox.readFile('missing.txt')).rejects.toMatchObject({ code: 'ENOENT' });
      await expect(sandbox.readFile('/etc/passwd')).rejects.toThrow(/outside the workspace/);
      const diff = (await sandbox.diff(snapshot)).toString();
      expect(diff).toContain('+export const add = (a, b) => a + b;');
      expect(diff).toContain('+++ b/docs/new.md');
    });
  }

  it('commands share a long-lived exec session; commands at once get a session each, output never mixed', async () => {
    const { kube, provider } = await setup();
    const sandbox = await provider().create('r1', { repo: 'acme/widgets' });
    const sessions = () => kube.execs.filter((e) => e.command.includes(SUPERVISOR));
    for (let i = 0; i < 20; i++) {
      const r = await sandbox.exec(`echo ${i}; echo e${i} >&2; exit ${i % 3}`, { timeoutMs: 10_000 });
      expect(r).toMatchObject({ exitCode: i % 3, timedOut: false, cancelled: false });
      expect([r.stdout.toString(), r.stderr.toString()]).toEqual([`${i}\n`, `e${i}\n`]);
    }
    await sandbox.writeFile('f.txt', 'through the session');
    expect((await sandbox.readFile('f.txt')).toString()).toBe('through the session');
    expect(sessions()).toHaveLength(1);

    const together = await Promise.all(
      [0, 1, 2].map((i) => sandbox.exec(`sleep 0.3; head -c 100000 /dev/zero | tr '\\0' ${i}`)),
    );
    expect(together.map((r) => r.stdout.toString())).toEqual(['0', '1', '2'].map((d) => d.repeat(100_000)));
    expect(sessions()).toHaveLength(3);
    // Two stay open for the next commands; the third ends.
    await eventually(
      () => sessions().filter((e) => e.exitCode === 0).length === 1,
      5000,
      'one session closed',
    );
    expect(sessions().filter((e) => e.exitCode === null)).toHaveLength(2);
  });

  it('a session that dropped while idle is replaced; output a stray process writes between commands is dropped', async () => {
    const { kube, provider } = await setup();
    const sandbox = await provider().create('r1', { repo: 'acme/widgets' });
    // The command ends once the stray has left its process group (which is killed as it ends).
    const first = await sandbox.exec(
      'setsid bash -c ": > stray.started; sleep 0.3; echo stray; echo stray >&2; : > stray.done" & ' +
        'until [ -e stray.started ]; do sleep 0.01; done; echo first',
    );
    expect(first.stdout.toString()).toBe('first\n');
    // The stray wrote its output between the two commands (it marks that in the workspace).
    const pod = kube.pods(NS).find((p) => p.metadata.labels?.[RUN_ID_LABEL] === 'r1');
    const done = join(kube.podDir(NS, pod?.metadata.name), 'workspace', 'stray.done');
    await eventually(() => existsSync(done), 5000, 'the stray output written');
    const second = await sandbox.exec('echo second');
    expect([second.stdout.toString(), second.stderr.toString()]).toEqual(['second\n', '']);

    kube.dropExecStreams();
    await eventually(() => kube.execs.every((e) => e.clientClosed || e.exitCode !== null), 5000, 'dropped');
    await new Promise((r) => setTimeout(r, 50));
    const third = await sandbox.exec('echo third', { timeoutMs: 10_000 });
    expect(third).toMatchObject({ exitCode: 0, timedOut: false });
    expect([third.stdout.toString(), third.stderr.toString()]).toEqual(['third\n', '']);
  });

  it('a timeout kills the command and everything it started', async () => {
    const { provider } = await setup();
    const sandbox = await provider().create('r1', { repo: 'acme/widgets' });
    const timed = await sandbox.exec('sleep 31.25 & sleep 31.25; echo never', { timeoutMs: 1000 });
    expect(timed).toMatchObject({ exitCode: null, timedOut: true });
    expect(timed.durationMs).toBeLessThan(10_000);
    await eventually(() => hostProcesses('sleep 31.25').length === 0, 5000, 'the sleeps killed');
  });

  // A cancel kills the command's process group from a second exec, which must share the pod's PID
  // namespace; bubblewrap joins one only as root (CI runs as root).
  it.runIf(process.getuid?.() === 0)('a cancel kills the command and everything it started', async () => {
    const { provider } = await setup();
    const sandbox = await provider().create('r1', { repo: 'acme/widgets' });
    const abort = new AbortController();
    void eventually(nodeRuns('sleep 32.5'), 5000, 'the command').then(() => abort.abort());
    const cancelled = await sandbox.exec('sleep 32.5 & sleep 32.5', { signal: abort.signal });
    expect(cancelled).toMatchObject({ exitCode: null, cancelled: true });
    await eventually(() => hostProcesses('sleep 32.5').length === 0, 5000, 'the cancelled sleeps killed');
  });

  it('caps output like the local backend, keeping head and tail', async () => {
    const { provider } = await setup();
    const sandbox = await provider().create('r1', { repo: 'acme/widgets' });
    const r = await sandbox.exec('echo START; head -c 3000000 /dev/zero | tr "\\0" x; echo; echo END', {
      maxOutputBytes: 1000,
    });
    expect(r.exitCode).toBe(0);
    expect(r.droppedBytes).toBeGreaterThan(2_990_000);
    const text = r.stdout.toString();
    expect(text.startsWith('START\n')).toBe(true);
    expect(text.trimEnd().endsWith('END')).toBe(true);
  });

  it('re-attaches to a run’s pod after a restart and reaps the pods of finished or unknown runs', async () => {
    const { kube, policy, provider } = await setup();
    const first = provider();
    const kept = await first.create('r1', { repo: 'acme/widgets' });
    await first.create('r2', { repo: 'acme/widgets' });
    await kept.writeFile('notes.txt', 'survives a restart');
    // A new airlock process: only r1 is still active in its store.
    const ended = new Set<string>();
    const second = provider((id) => id === 'r1' && !ended.has(id), policy, undefined, 200);
    const again = await second.attach('r1');
    expect((await again?.readFile('notes.txt'))?.toString()).toBe('survives a restart');
    expect(await second.attach('unknown')).toBeUndefined();
    await second.start(); // reaps at start, then every 200 ms here
    await eventually(
      () =>
        kube
          .pods(NS)
          .map((p) => p.metadata.labels[RUN_ID_LABEL])
          .join() === 'r1',
      5000,
      'only r1 left',
    );
    // r1 ends while airlock runs: the next periodic pass takes its pod too.
    ended.add('r1');
    await eventually(() => kube.pods(NS).length === 0, 5000, 'r1 reaped later');
  });

  it('create for a run whose old pod is still terminating waits for it to go instead of meeting 409', async () => {
    const { kube, provider } = await setup();
    const sandboxes = provider();
    const first = await sandboxes.create('r1', { repo: 'acme/widgets' });
    await first.writeFile('old.txt', 'old');
    await first.destroy();
    // As on a real API server, the deleted pod keeps its name until the kubelet confirms.
    expect(kube.pods(NS).map((p) => p.metadata.deletionTimestamp)).toEqual([expect.any(String)]);
    const second = await sandboxes.create('r1', { repo: 'acme/widgets' });
    expect((await second.exec('ls -A')).stdout.toString()).toBe('');
    expect(kube.requests.filter((r) => r.status === 409)).toEqual([]);
  });

  it('warm pool: a run claims a ready pod with a resourceVersion-guarded patch; concurrent runs never share one', async () => {
    const { kube, provider } = await setup({ policy: `${POLICY}sandbox: { warm_pool: 2 }\n` });
    const sandboxes = provider();
    await sandboxes.start();
    const warm = () =>
      kube.pods(NS).filter((p) => p.metadata.labels[POOL_LABEL] === 'warm' && p.status.phase === 'Running');
    await eventually(() => warm().length === 2, 10_000, 'two warm pods');
    const warmNames = warm().map((p) => p.metadata.name);
    await expect(sandboxes.check()).resolves.toMatch(/every permission granted; warm pool: 2 of 2 ready$/);

    const [a, b, c] = await Promise.all(
      ['r1', 'r2', 'r3'].map((id) => sandboxes.create(id, { repo: 'acme/widgets' })),
    );
    const byRun = new Map(kube.pods(NS).map((p) => [p.metadata.labels[RUN_ID_LABEL], p]));
    const names = ['r1', 'r2', 'r3'].map((id) => byRun.get(id)?.metadata.name);
    expect(new Set(names).size).toBe(3);
    expect(names.filter((n) => warmNames.includes(n)).length).toBe(2);
    expect(names.filter((n) => n?.startsWith('airlock-run-'))).toHaveLength(1);
    expect(kube.requests.some((r) => r.method === 'PATCH' && r.status === 409)).toBe(true);
    for (const s of [a, b, c]) expect((await s?.exec('echo ok'))?.stdout.toString()).toBe('ok\n');
    const claimed = byRun.get('r1');
    expect(claimed?.metadata.labels[POOL_LABEL]).toBeUndefined();
    expect(claimed?.spec.activeDeadlineSeconds).toBeLessThanOrEqual(30 * 60 + 900 + 60);

    await eventually(() => warm().length === 2, 10_000, 'the pool refilled');
    // A repository with its own image cannot use a generic warm pod.
    await sandboxes.create('r4', { repo: 'acme/ml' });
    expect(kube.pods(NS).find((p) => p.metadata.labels[RUN_ID_LABEL] === 'r4')?.metadata.name).toBe(
      'airlock-run-r4',
    );
    expect(warm()).toHaveLength(2);
  });

  it('a pod that cannot run fails the run with a message a person can act on', async () => {
    const { kube, provider } = await setup();
    const sandboxes = provider();
    await expect(sandboxes.create('r1', { repo: 'acme/broken' })).rejects.toThrow(
      /could not be pulled \(ImagePullBackOff.*Check sandbox\.image/,
    );
    await expect(sandboxes.create('r2', { repo: 'acme/huge' })).rejects.toThrow(
      /No node in the cluster can run the sandbox pod \(0\/1 nodes are available.*sandbox\.cpu/,
    );
    await eventually(() => kube.pods(NS).length === 0, 5000, 'failed pods deleted');

    const oom = await sandboxes.create('r3', { repo: 'acme/widgets' });
    const running = oom.exec('sleep 20');
    await eventually(nodeRuns('sleep 20'), 5000, 'the command');
    kube.failPod(NS, 'airlock-run-r3', 'OOMKilled');
    await expect(running).rejects.toThrow(/ran out of memory \(limit 4Gi\).*sandbox\.memory/);

    await sandboxes.create('r4', { repo: 'acme/widgets' });
    kube.failPod(NS, 'airlock-run-r4', 'Evicted');
    await expect(sandboxes.attach('r4')).rejects.toThrow(/evicted the sandbox.*ephemeral-storage/);

    const late = await sandboxes.create('r5', { repo: 'acme/widgets' });
    kube.failPod(NS, 'airlock-run-r5', 'DeadlineExceeded');
    await expect(late.exec('true')).rejects.toThrow(/time limit \(45 minutes\).*limits\.max_minutes/);
    // airlock learns of the failed pod from the refused exec, as it would from a real API server.
    expect(kube.takeProblems()).toEqual([
      expect.stringContaining('400 BadRequest: cannot exec into a container in a completed pod'),
    ]);
  });

  it('rides out a busy API server on calls that are safe to repeat, and names it when it stays down', async () => {
    const { kube, policy, provider } = await setup();
    const LIST = '/api/v1/namespaces/airlock-sandboxes/pods?labelSelector=';
    kube.injectFault({ method: 'GET', path: LIST, status: 503, times: 2 });
    kube.injectFault({ method: 'GET', path: '/pods/airlock-run-r1', status: 429, times: 1 });
    const sandbox = await provider().create('r1', { repo: 'acme/widgets' });
    expect((await sandbox.exec('echo up')).stdout.toString()).toBe('up\n');
    const answered = kube.requests.filter((r) => r.status === 503 || r.status === 429).map((r) => r.status);
    expect(answered.sort()).toEqual([429, 503, 503]);

    kube.injectFault({ method: 'GET', path: LIST, status: 503, times: 100 });
    await expect(provider(undefined, policy, 1).create('r2', { repo: 'acme/widgets' })).rejects.toThrow(
      'Kubernetes: could not list sandbox pods: the server is currently unable to handle the request',
    );
  });

  it('a dropped exec stream interrupts the command, not the run: it is stopped and the pod goes on', async () => {
    const { kube, provider } = await setup();
    const sandbox = await provider().create('r1', { repo: 'acme/widgets' });
    void eventually(nodeRuns('sleep 33.75'), 5000, 'the command').then(() => kube.dropExecStreams());
    const r = await sandbox.exec('sleep 33.75; echo never');
    expect(r.exitCode).toBeNull();
    expect(r.stderr.toString()).toContain(
      'the connection to the sandbox was lost before this command finished',
    );
    expect(r.stdout.toString()).not.toContain('never');
    if (process.getuid?.() === 0)
      await eventually(() => hostProcesses('sleep 33.75').length === 0, 5000, 'the command stopped');
    expect((await sandbox.exec('echo still here')).stdout.toString()).toBe('still here\n');
  });

  it('a sandbox container that stops by itself is explained with its last output (pods/log)', async () => {
    const { kube, dir, policy, provider } = await setup();
    // An image whose idle loop cannot run, as a minimal image without `sleep` would.
    const pod = sandboxPod(policy, 'acme/widgets', 'r6');
    const container = (pod.spec.containers as Array<{ command: string[] }>)[0] as { command: string[] };
    container.command = ['/bin/sh', '-c', 'echo "sh: 1: sleep: not found" >&2; exit 127'];
    const kc = new KubeConfig();
    kc.loadFromFile(join(dir, 'kubeconfig'));
    await new KubeApi(kc, NS).createPod(pod);
    await eventually(() => kube.pods(NS)[0]?.status.phase === 'Failed', 5000, 'the container to stop');
    await expect(provider().attach('r6')).rejects.toThrow(
      /The sandbox container stopped \(Error, exit code 127\).*Its last output:\nsh: 1: sleep: not found/s,
    );
    expect(kube.requests.some((r) => r.path.includes('/pods/airlock-run-r6/log'))).toBe(true);
  });

  it('names the missing permission when the Role is not applied; doctor lists every gap', async () => {
    const { kube, provider } = await setup();
    const readOnly: PolicyRule[] = [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }];
    kube.setRules(NS, readOnly);
    const sandboxes = provider();
    await expect(sandboxes.check()).rejects.toThrow(
      /may not create pods, watch pods, delete pods, patch pods, create pods\/exec, get pods\/exec, get pods\/log in namespace airlock-sandboxes/,
    );
    await expect(sandboxes.create('r1', { repo: 'acme/widgets' })).rejects.toThrow(
      /refused to let airlock create a sandbox pod in namespace airlock-sandboxes.*airlock doctor/,
    );
    expect(kube.takeProblems()).toEqual([
      expect.stringContaining('POST /api/v1/namespaces/airlock-sandboxes/pods -> 403 Forbidden'),
    ]);
    kube.setRules(NS, [
      { apiGroups: [''], resources: ['pods'], verbs: ['create', 'get', 'list', 'watch', 'delete', 'patch'] },
      { apiGroups: [''], resources: ['pods/exec'], verbs: ['create', 'get'] },
      { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
    ]);
    await expect(sandboxes.check()).resolves.toMatch(/every permission granted/);
  });
});

// The command and its cancel travel as two execs, which a real cluster may deliver in either order;
// the stand-in always starts the first one sent first, so the other order is shown with bash here.
describe('the exec wrapper and its kill, run by bash as in the pod', () => {
  it('a kill that reaches the pod before the command means the command never starts', () => {
    const id = randomBytes(8).toString('hex');
    const dir = mkdtempSync(join(tmpdir(), 'airlock-wrapper-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const bash = (script: string, ...args: string[]) =>
      spawnSync('/bin/bash', ['-c', script, 'airlock', id, ...args], { encoding: 'utf8' });
    expect(bash(KILL).status).toBe(0);
    const wrapped = bash(WRAPPER, '0', dir, 'echo ran > ran.txt');
    expect(wrapped.status).toBe(130);
    expect(existsSync(join(dir, 'ran.txt'))).toBe(false);
    expect(existsSync(`/tmp/.airlock-exec-${id}.cancel`)).toBe(false);
    // Without a kill, the same command runs, and the wrapper leaves nothing behind in /tmp.
    expect(bash(WRAPPER, '0', dir, 'echo ran > ran.txt; exit 3').status).toBe(3);
    expect(existsSync(join(dir, 'ran.txt'))).toBe(true);
    expect(existsSync(`/tmp/.airlock-exec-${id}`)).toBe(false);
  });

  it('in an exec session too: a cancelled command never starts, the next runs with its input, a cut request never', () => {
    const session = randomBytes(8).toString('hex');
    const dir = mkdtempSync(join(tmpdir(), 'airlock-session-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const request = (id: string, nonce: string, command: string, stdin = '') => {
      const [d, i, c] = [dir, stdin, command].map((x) => Buffer.from(x));
      return `${id} ${nonce} 0 ${d?.length} ${i?.length} ${c?.length}\n${dir}${stdin}${command}`;
    };
    const kill = spawnSync('/bin/bash', ['-c', SESSION_KILL, 'airlock', session, 'c1'], { encoding: 'utf8' });
    expect(kill.status).toBe(0);
    const n1 = randomBytes(16).toString('hex');
    const n2 = randomBytes(16).toString('hex');
    // The third request is cut short, as by a dropped stream: it never starts.
    const cut = request('c3', randomBytes(16).toString('hex'), 'echo ran > cut.txt', 'input').slice(0, -3);
    const ran = spawnSync('/bin/bash', ['-c', SUPERVISOR, 'airlock', session, 'GREETING=hi there'], {
      input:
        request('c1', n1, 'echo ran > ran.txt') +
        request('c2', n2, 'cat; echo " $GREETING"; exit 3', 'in') +
        cut,
      encoding: 'utf8',
    });
    expect(ran.status).toBe(0);
    expect(ran.stdout).toBe(`${n1}s${n1}e130\n${n2}sin hi there\n${n2}e3\n`);
    expect(ran.stderr).toBe(`${n1}s${n1}e\n${n2}s${n2}e\n`);
    expect(existsSync(join(dir, 'ran.txt'))).toBe(false);
    expect(existsSync(join(dir, 'cut.txt'))).toBe(false);
    // The session's files go with it.
    for (const suffix of ['', '.cancel', '.in'])
      expect(existsSync(`/tmp/.airlock-exec-${session}${suffix}`)).toBe(false);
  });
});
