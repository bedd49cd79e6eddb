// Starting a scheduled pod's containers: init containers one after another, then the main ones;
// each exit is written to the pod's status, and the pod finishes when all have stopped.
import { containerEnv, containerView, mainCommand } from './container-env.js';
import { type ContainerView, execProblem, exitStatus, spawnMain } from './container-runtime.js';
import { ContainerLog } from './pod-log.js';
import { type PodRuntime, type Running, setContainer } from './pod-runtime.js';
import { type ContainerState, containerId, podConditions } from './pod-status.js';
import { type KubeObject, now } from './types.js';

type Launch = 'started' | 'failed' | 'config';
const names = (cs: KubeObject[] = []) => cs.map((c) => c.name as string);

/** What the runner needs from the kubelet. */
export interface RunnerHost {
  current(rt: PodRuntime): KubeObject | undefined;
  mutate(rt: PodRuntime, fn: (p: KubeObject) => void): void;
  /** Every container has stopped (or one could not start): settle the pod's phase. */
  finish(rt: PodRuntime): void;
  /** The process as the pod's network starts it (under its route's forwarder, when it has one). */
  wrap(rt: PodRuntime, view: ContainerView, command: string[]): { view: ContainerView; command: string[] };
}

export class ContainerRunner {
  constructor(private readonly host: RunnerHost) {}

  /** Starts a container's main process: 'config' and 'failed' (StartError) are recorded in its status. */
  private launch(rt: PodRuntime, pod: KubeObject, c: KubeObject, onExit: (code: number) => void): Launch {
    const env = containerEnv(pod, c);
    const field = pod.spec.containers.includes(c) ? 'containerStatuses' : 'initContainerStatuses';
    if (typeof env === 'string') {
      this.host.mutate(rt, (p) =>
        setContainer(p, field, c, { waiting: { reason: 'CreateContainerConfigError', message: env } }),
      );
      return 'config';
    }
    const command = mainCommand(c, env);
    const view = containerView(pod, c, env, rt.volumes ?? new Map());
    const problem = execProblem(view, command);
    if (problem) {
      const message = `failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: error during container init: ${problem}: unknown`;
      const terminated = { exitCode: 128, reason: 'StartError', message, startedAt: null, finishedAt: now() };
      this.host.mutate(rt, (p) => setContainer(p, field, c, { terminated }));
      return 'failed';
    }
    const wrapped = this.host.wrap(rt, view, command);
    const { child, ready } = spawnMain(wrapped.view, wrapped.command);
    const log = new ContainerLog();
    rt.logs.set(c.name, log);
    rt.procs.add(child);
    const run: Running = { id: containerId(), startedAt: now(), ready };
    rt.running.set(c.name, run);
    void ready.then((init) => {
      run.init = init;
    });
    child.stdout?.on('data', (b: Buffer) => log.append(b));
    child.stderr?.on('data', (b: Buffer) => log.append(b));
    child.on('close', (code, signal) => {
      rt.procs.delete(child);
      log.end();
      if (!rt.stopped) onExit(exitStatus(code, signal));
    });
    return 'started';
  }

  /** The terminated state of a container whose process exited, and forgets it as running. */
  private exited(rt: PodRuntime, c: KubeObject, exitCode: number): ContainerState {
    const run = rt.running.get(c.name);
    rt.running.delete(c.name);
    const reason = exitCode === 0 ? 'Completed' : 'Error';
    return {
      terminated: {
        exitCode,
        reason,
        startedAt: run?.startedAt ?? null,
        finishedAt: now(),
        containerID: run?.id,
      },
    };
  }

  runInit(rt: PodRuntime, i: number): void {
    const pod = this.host.current(rt);
    if (!pod || rt.stopped) return;
    const c: KubeObject | undefined = pod.spec.initContainers?.[i];
    if (!c) {
      this.startMain(rt, pod);
      return;
    }
    const started = this.launch(rt, pod, c, (exitCode) => {
      const state = this.exited(rt, c, exitCode);
      this.host.mutate(rt, (p) => setContainer(p, 'initContainerStatuses', c, state));
      if (exitCode === 0) this.runInit(rt, i + 1);
      else this.host.finish(rt);
    });
    const run = rt.running.get(c.name);
    if (started === 'failed') this.host.finish(rt);
    else if (run)
      this.host.mutate(rt, (p) =>
        setContainer(p, 'initContainerStatuses', c, { running: { startedAt: run.startedAt } }, run.id),
      );
  }

  private startMain(rt: PodRuntime, pod: KubeObject): void {
    const results = (pod.spec.containers as KubeObject[]).map((c) =>
      this.launch(rt, pod, c, (exitCode) => {
        const state = this.exited(rt, c, exitCode);
        this.host.mutate(rt, (p) => setContainer(p, 'containerStatuses', c, state));
        if (rt.running.size === 0) this.host.finish(rt);
      }),
    );
    if (!rt.running.size) {
      if (!results.includes('config')) this.host.finish(rt);
      return;
    }
    // Running once every started container's sandbox is up (and so ready for execs).
    void Promise.allSettled([...rt.running.values()].map((r) => r.ready)).then(() => {
      if (!rt.stopped && rt.running.size) this.markRunning(rt, pod);
    });
  }

  private markRunning(rt: PodRuntime, pod: KubeObject): void {
    this.host.mutate(rt, (p) => {
      p.status.phase = 'Running';
      for (const c of pod.spec.containers as KubeObject[]) {
        const run = rt.running.get(c.name);
        if (run) setContainer(p, 'containerStatuses', c, { running: { startedAt: run.startedAt } }, run.id);
      }
      const waiting = names(pod.spec.containers).filter((n) => !rt.running.has(n));
      p.status.conditions = podConditions(true, true, waiting);
    });
  }
}
