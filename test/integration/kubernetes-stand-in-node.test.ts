// The Kubernetes API stand-in's node: exec over WebSocket, logs, and the kubelet's view of pods,
// driven only through the real @kubernetes/client-node.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { type CoreV1Api, Exec, type KubeConfig, Log, type V1Status } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { FakeKubernetes } from '../fakes/kubernetes/index.js';
import { NS, run, sandboxPod, startWith, until, useStandIn } from '../support/kube-stand-in.js';

describe('the Kubernetes API stand-in: the node (exec, logs, the kubelet)', () => {
  let kube: FakeKubernetes;
  let kc: KubeConfig;
  let core: CoreV1Api;
  const { running, createRunning } = useStandIn((s) => {
    ({ kube, kc, core } = s);
  });

  it('execs over the v5 WebSocket protocol: output, exit codes, stdin half-close, shared files and processes', async () => {
    await createRunning('exec-1');
    const echo = await run(kc, 'exec-1', ['echo', 'hello']);
    expect(echo).toMatchObject({ stdout: 'hello\n', stderr: '', protocol: 'v5.channel.k8s.io' });
    expect(echo.status).toEqual({ metadata: {}, status: 'Success' });

    const failed = await run(kc, 'exec-1', ['sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(failed).toMatchObject({ stdout: 'out\n', stderr: 'err\n' });
    expect(failed.status).toEqual({
      metadata: {},
      status: 'Failure',
      message:
        'command terminated with non-zero exit code: error executing command [sh -c echo out; echo err >&2; exit 3], exit code 3',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '3' }] },
    });
    expect(kube.execs.at(-1)).toMatchObject({ pod: 'exec-1', exitCode: 3, protocol: 'v5.channel.k8s.io' });

    // stdin ends with the v5 close frame, so wc sees EOF and can answer.
    expect((await run(kc, 'exec-1', ['wc', '-c'], 'x'.repeat(70_000))).stdout.trim()).toBe('70000');
    expect((await run(kc, 'exec-1', ['cat'], 'piped\n')).stdout).toBe('piped\n');

    const pwd = await run(kc, 'exec-1', ['sh', '-c', 'pwd; echo kept > notes.txt; echo $HOME; hostname']);
    expect(pwd.stdout).toBe('/workspace\n/home/airlock\nexec-1\n');
    expect(readFileSync(join(kube.podDir(NS, 'exec-1'), 'workspace', 'notes.txt'), 'utf8')).toBe('kept\n');
    expect((await run(kc, 'exec-1', ['cat', '/workspace/notes.txt'])).stdout).toBe('kept\n');
    expect(
      (await run(kc, 'exec-1', ['sh', '-c', 'touch /etc/x 2>&1; touch /tmp/ok && echo tmp-ok'])).stdout,
    ).toMatch(/Read-only file system[\s\S]*tmp-ok/);

    // One exec can see and signal another's process group, as in one container.
    await run(kc, 'exec-1', ['sh', '-c', 'setsid sleep 30 > /dev/null 2>&1 & echo $! > /tmp/bg.pid']);
    const killed = await run(kc, 'exec-1', [
      'bash',
      '-c',
      'kill -0 $(cat /tmp/bg.pid) && kill -KILL -- -$(cat /tmp/bg.pid) && echo killed',
    ]);
    expect(killed.stdout).toBe('killed\n');

    // Output is streamed as written, not when the command ends.
    const begun = Date.now();
    const chunks: string[] = [];
    const early = new PassThrough().on('data', (b: Buffer) => chunks.push(b.toString()));
    const slow = await new Exec(kc).exec(
      NS,
      'exec-1',
      'sandbox',
      ['sh', '-c', 'echo first; sleep 0.6; echo second'],
      early,
      null,
      null,
      false,
    );
    await new Promise((resolve) => slow.once('close', resolve));
    expect(Date.now() - begun).toBeGreaterThanOrEqual(600);
    // The first line came on its own, before the second was written 0.6 s later.
    expect(chunks[0]).toBe('first\n');
    expect(chunks.join('')).toBe('first\nsecond\n');

    const missing = await run(kc, 'exec-1', ['no-such-tool', '--help']);
    expect(missing.status).toMatchObject({ status: 'Failure', reason: 'InternalError', code: 500 });
    expect(missing.status?.message).toContain('exec: "no-such-tool": executable file not found in $PATH');
    expect(missing.status?.details?.causes?.some((c) => c.reason === 'ExitCode')).toBe(false);
  });

  it('projects a service-account token into pods that do not opt out, as the ServiceAccount admission does', async () => {
    const pod = sandboxPod('token-1');
    if (pod.spec) pod.spec.automountServiceAccountToken = undefined;
    const created = await core.createNamespacedPod({ namespace: NS, body: pod });
    expect(created.spec?.volumes?.map((v) => v.name)).toContainEqual(
      expect.stringMatching(/^kube-api-access-/),
    );
    await running('token-1');
    const seen = await run(kc, 'token-1', ['cat', '/var/run/secrets/kubernetes.io/serviceaccount/namespace']);
    expect(seen.stdout).toBe(NS);
    await createRunning('token-2');
    expect((await run(kc, 'token-2', ['ls', '/var/run/secrets'])).status?.status).toBe('Failure');
  });

  it('has no network inside a pod', async () => {
    await createRunning('net-1');
    const port = new URL(kube.url).port;
    const probe = await run(kc, 'net-1', [
      'bash',
      '-c',
      `tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; (echo > /dev/tcp/127.0.0.1/${port}) 2>/dev/null && echo reached || echo unreachable`,
    ]);
    expect(probe.stdout).toBe('lo\nunreachable\n');
  });

  it('refuses exec into unknown containers, pods that are not running, and without pods/exec create', async () => {
    await createRunning('exec-2');
    const ws = (container: string, pod = 'exec-2') =>
      new Exec(kc).exec(NS, pod, container, ['true'], new PassThrough(), null, null, false);
    await expect(ws('sidecar')).rejects.toMatchObject({ message: 'Unexpected server response: 400' });
    expect(kube.requests.at(-1)).toMatchObject({ status: 400 });
    await expect(ws('sandbox', 'ghost-1')).rejects.toMatchObject({
      message: 'Unexpected server response: 404',
    });
    kube.setRules(NS, [{ apiGroups: [''], resources: ['pods/exec'], verbs: ['get'] }]);
    await expect(ws('sandbox')).rejects.toMatchObject({ message: 'Unexpected server response: 403' });
    kube.setRules(NS, (await import('../fakes/kubernetes/index.js')).AIRLOCK_ROLE_RULES);
    // An exec into a pod that is gone (404) is a normal answer; the other two were provoked here.
    expect(kube.takeProblems()).toEqual([
      expect.stringContaining('400 BadRequest: container sidecar is not valid for pod exec-2'),
      expect.stringContaining('403 Forbidden: pods "exec-2" is forbidden'),
    ]);
  });

  it('keeps an exec running after the client goes away, as the kubelet does', async () => {
    await createRunning('exec-3');
    const conn = await new Exec(kc).exec(
      NS,
      'exec-3',
      'sandbox',
      ['sh', '-c', 'sleep 0.3; echo late > /workspace/late.txt'],
      new PassThrough(),
      null,
      null,
      false,
    );
    conn.close();
    const record = await until(
      () => kube.execs.find((e) => e.pod === 'exec-3' && e.exitCode === 0),
      'the exec to finish',
    );
    expect(record.clientClosed).toBe(true);
    expect(readFileSync(join(kube.podDir(NS, 'exec-3'), 'workspace', 'late.txt'), 'utf8')).toBe('late\n');
  });

  it('serves the main process as the pod log: tailLines, follow', async () => {
    // The main process logs whatever an exec drops into /tmp/say, so the test controls its output.
    const relay =
      'echo booted; echo warming >&2; while :; do [ -f /tmp/say ] && cat /tmp/say && rm /tmp/say; sleep 0.02; done';
    await core.createNamespacedPod({ namespace: NS, body: sandboxPod('log-1', { command: relay }) });
    await running('log-1');
    const say = (text: string) =>
      run(kc, 'log-1', ['sh', '-c', `echo ${text} > /tmp/say.new && mv /tmp/say.new /tmp/say`]);
    const text = (chunks: Buffer[]) => Buffer.concat(chunks).toString();
    const read = async (opts: { tailLines?: number; follow?: boolean }) => {
      const chunks: Buffer[] = [];
      const sink = new PassThrough().on('data', (b: Buffer) => chunks.push(b));
      const ended = new Promise((resolve) => sink.on('end', resolve));
      await new Log(kc).log(NS, 'log-1', 'sandbox', sink, opts);
      return { chunks, ended };
    };
    const whole = async (opts: { tailLines?: number } = {}) => {
      const r = await read(opts);
      await r.ended;
      return text(r.chunks);
    };
    await say('one');
    await until(async () => (await whole()).includes('one'), 'the first line', 5000);
    expect(await whole()).toBe('booted\nwarming\none\n');
    expect(await whole({ tailLines: 2 })).toBe('warming\none\n');
    expect(kube.requests.at(-1)?.path).toMatch(
      /\/log\?container=sandbox&follow=false&pretty=false&previous=false&tailLines=2&timestamps=false$/,
    );
    // A followed log streams new output as it is written, until the container ends.
    const followed = await read({ follow: true });
    await say('two');
    await until(() => text(followed.chunks).includes('two'), 'the followed line');
    await core.deleteNamespacedPod({ name: 'log-1', namespace: NS });
    await followed.ended;
    expect(text(followed.chunks)).toBe('booted\nwarming\none\ntwo\n');
    await expect(new Log(kc).log(NS, 'ghost-1', 'sandbox', new PassThrough())).rejects.toMatchObject({
      code: 404,
    });
  });

  it('reports ImagePullBackOff and Unschedulable like the kubelet and scheduler', async () => {
    await core.createNamespacedPod({
      namespace: NS,
      body: sandboxPod('pull-1', { image: 'registry.example/does-not-exist:1' }),
    });
    const big = sandboxPod('big-1');
    const res = big.spec?.containers[0]?.resources;
    if (res) res.limits = { cpu: '1', memory: '100Gi' };
    await core.createNamespacedPod({ namespace: NS, body: big });
    const selective = sandboxPod('gpu-1');
    if (selective.spec) selective.spec.nodeSelector = { pool: 'gpu' };
    await core.createNamespacedPod({ namespace: NS, body: selective });

    const waiting = await until(() => {
      const p = kube.pods(NS).find((x) => x.metadata.name === 'pull-1');
      return p?.status.containerStatuses?.[0]?.state.waiting?.reason === 'ImagePullBackOff' && p;
    }, 'ImagePullBackOff');
    expect(waiting.status.phase).toBe('Pending');
    expect(waiting.status.containerStatuses[0].state.waiting.message).toBe(
      'Back-off pulling image "registry.example/does-not-exist:1"',
    );
    expect(
      kube
        .podHistory()
        .some(
          (p) =>
            p.metadata.name === 'pull-1' &&
            p.status.containerStatuses?.[0]?.state.waiting?.reason === 'ErrImagePull',
        ),
    ).toBe(true);
    const scheduled = (name: string) =>
      kube.pods(NS).find((x) => x.metadata.name === name)?.status.conditions?.[0];
    await until(() => scheduled('big-1') && scheduled('gpu-1'), 'scheduling attempts');
    expect(scheduled('big-1')).toMatchObject({
      type: 'PodScheduled',
      status: 'False',
      reason: 'Unschedulable',
      message:
        '0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.',
    });
    expect(scheduled('gpu-1')?.message).toMatch(
      /^0\/1 nodes are available: 1 node\(s\) didn't match Pod's node affinity\/selector\./,
    );
    await expect(new Log(kc).log(NS, 'pull-1', 'sandbox', new PassThrough())).rejects.toMatchObject({
      code: 400,
    });
    await expect(
      new Exec(kc).exec(NS, 'pull-1', 'sandbox', ['true'], new PassThrough(), null, null, false),
    ).rejects.toMatchObject({ message: 'Unexpected server response: 400' });
    expect(kube.requests.at(-1)).toMatchObject({ method: 'GET', status: 400 });
    expect(kube.takeProblems()).toEqual([
      expect.stringContaining(
        '/pull-1/log?container=sandbox -> 400 BadRequest: container "sandbox" in pod "pull-1" is waiting',
      ),
      expect.stringContaining('/pull-1/exec?'),
    ]);
    for (const name of ['pull-1', 'big-1', 'gpu-1']) await core.deleteNamespacedPod({ name, namespace: NS });
  });

  it('fails pods as the kubelet does: OOMKilled kills a running exec; the deadline and evictions', async () => {
    await createRunning('oom-1');
    let status: V1Status | undefined;
    const out = new PassThrough();
    let printed = '';
    out.on('data', (c: Buffer) => {
      printed += c.toString();
    });
    const conn = await new Exec(kc).exec(
      NS,
      'oom-1',
      'sandbox',
      ['sh', '-c', 'echo running; exec sleep 30'],
      out,
      null,
      null,
      false,
      (s) => {
        status = s;
      },
    );
    const closed = new Promise((resolve) => conn.once('close', resolve));
    // A running exec: killed while it runs, not while it starts.
    await until(() => printed.includes('running'), 'the exec to run', 5000);
    const started = Date.now();
    kube.failPod(NS, 'oom-1', 'OOMKilled');
    await closed;
    expect(Date.now() - started).toBeLessThan(3000);
    expect(status).toMatchObject({
      status: 'Failure',
      reason: 'NonZeroExitCode',
      details: { causes: [{ message: '137' }] },
    });
    const oom = await core.readNamespacedPod({ name: 'oom-1', namespace: NS });
    expect(oom.status?.phase).toBe('Failed');
    expect(oom.status?.containerStatuses?.[0]?.state?.terminated).toMatchObject({
      reason: 'OOMKilled',
      exitCode: 137,
    });
    await expect(
      new Exec(kc).exec(NS, 'oom-1', 'sandbox', ['true'], new PassThrough(), null, null, false),
    ).rejects.toMatchObject({ message: 'Unexpected server response: 400' });
    expect(kube.takeProblems()).toEqual([
      expect.stringContaining('400 BadRequest: cannot exec into a container in a completed pod'),
    ]);

    await createRunning('evict-1');
    kube.failPod(NS, 'evict-1', 'Evicted');
    const evicted = await core.readNamespacedPod({ name: 'evict-1', namespace: NS });
    expect(evicted.status).toMatchObject({ phase: 'Failed', reason: 'Evicted' });
    expect(evicted.status?.message).toMatch(/^The node was low on resource: ephemeral-storage\./);

    const short = sandboxPod('deadline-1');
    if (short.spec) short.spec.activeDeadlineSeconds = 1;
    await core.createNamespacedPod({ namespace: NS, body: short });
    const expired = await until(
      () => kube.pods(NS).find((p) => p.metadata.name === 'deadline-1' && p.status.phase === 'Failed'),
      'the deadline',
    );
    expect(expired.status).toMatchObject({
      reason: 'DeadlineExceeded',
      message: 'Pod was active on the node longer than the specified deadline',
    });
  });
});

describe('a stand-in that only speaks v4.channel.k8s.io', () => {
  it('negotiates v4 with the client; without a half-close, stdin must be self-delimiting', async () => {
    const { kube, kc, core, close } = await startWith({ execProtocols: ['v4.channel.k8s.io'] });
    try {
      await core.createNamespacedPod({ namespace: NS, body: sandboxPod('v4-1') });
      await until(() => kube.pods(NS)[0]?.status.phase === 'Running', 'running');
      const echo = await run(kc, 'v4-1', ['echo', 'hi']);
      expect(echo).toMatchObject({
        stdout: 'hi\n',
        protocol: 'v4.channel.k8s.io',
        status: { status: 'Success' },
      });
      // head -c reads exactly what it needs; the client's end of stdin closes the whole socket on v4.
      const conn = await new Exec(kc).exec(
        NS,
        'v4-1',
        'sandbox',
        ['sh', '-c', 'head -c 5 > /workspace/in.txt'],
        new PassThrough(),
        null,
        Readable.from([Buffer.from('12345')]),
        false,
      );
      await new Promise((resolve) => conn.once('close', resolve));
      await until(() => kube.execs.at(-1)?.exitCode === 0, 'head to finish');
      expect(readFileSync(join(kube.podDir(NS, 'v4-1'), 'workspace', 'in.txt'), 'utf8')).toBe('12345');
      expect(kube.execs.map((e) => e.protocol)).toEqual(['v4.channel.k8s.io', 'v4.channel.k8s.io']);
    } finally {
      await close();
    }
  });

  it('refuses the upgrade when client and server share no subprotocol', async () => {
    const { kube, kc, core, close } = await startWith({ execProtocols: ['v6.channel.k8s.io'] });
    try {
      await core.createNamespacedPod({ namespace: NS, body: sandboxPod('v6-1') });
      await until(() => kube.pods(NS)[0]?.status.phase === 'Running', 'running');
      await expect(
        new Exec(kc).exec(NS, 'v6-1', 'sandbox', ['true'], new PassThrough(), null, null, false),
      ).rejects.toMatchObject({ message: 'Unexpected server response: 400' });
      expect(kube.execs).toEqual([]);
      expect(kube.takeProblems()).toEqual([
        expect.stringContaining('requested protocol(s) are not supported'),
      ]);
    } finally {
      await close();
    }
  });
});
