// The simulated scheduler + kubelet for the one fake node: binds pods that fit, "pulls" images,
// sets up volumes, runs containers as bubblewrapped processes, and writes each status change
// back through the store (so watches see every MODIFIED), enforcing activeDeadlineSeconds.
import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClusterNetwork } from './cluster-network.js';
import { containerEnv, containerView } from './container-env.js';
import { ContainerRunner } from './container-runner.js';
import { execProblem, killProcess, killSandbox, spawnExec } from './container-runtime.js';
import type { ContainerLog } from './pod-log.js';
import { type PodRuntime, setContainer } from './pod-runtime.js';
import { condition, containerStatus, type FailReason, failedStatus, podConditions } from './pod-status.js';
import { type Resources, unschedulable } from './scheduler.js';
import type { ObjectStore } from './store.js';
import { canonical, deepCopy, HOST_IP, type KubeObject, NODE_NAME, now } from './types.js';
import { prepareVolumes } from './volumes.js';

export interface KubeletConfig {
  store: ObjectStore;
  root: string;
  node: { labels: Record<string, string>; capacity: Resources };
  startDelayMs: number;
  missingImages: (image: string) => boolean;
  /** Pod IPs, and each pod's one route out (to the egress gateway) when the cluster has one. */
  network: ClusterNetwork;
}
const terminal = (p: KubeObject) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
const names = (cs: KubeObject[] = []) => cs.map((c) => c.name as string);

export class Kubelet {
  private readonly pods = new Map<string, PodRuntime>();
  /** Pod directories being removed (see removed()). */
  private readonly removals = new Set<Promise<void>>();
  private readonly runner = new ContainerRunner({
    current: (rt) => this.k.store.get('pods', rt.ns, rt.name),
    mutate: (rt, fn) => this.mutate(rt, fn),
    finish: (rt) => this.finish(rt),
    wrap: (rt, view, command) => this.k.network.wrap(keyOf(rt), view, command),
  });

  constructor(private readonly k: KubeletConfig) {}

  /** The directory of the pod now named `name` (one removed under that name had its own). */
  podDir(ns: string, name: string): string {
    return this.pods.get(`${ns}/${name}`)?.dir ?? join(this.k.root, ns, name);
  }

  created(pod: KubeObject): void {
    const rt: PodRuntime = {
      ns: pod.metadata.namespace,
      name: pod.metadata.name,
      dir: join(this.k.root, pod.metadata.namespace, `${pod.metadata.name}-${pod.metadata.uid}`),
      procs: new Set(),
      running: new Map(),
      logs: new Map(),
      timers: new Set(),
      unschedulable: false,
      stopped: false,
    };
    this.pods.set(`${rt.ns}/${rt.name}`, rt);
    this.after(rt, () => this.schedule(rt));
  }

  private after(rt: PodRuntime, fn: () => void): void {
    const t = setTimeout(() => {
      rt.timers.delete(t);
      if (!rt.stopped) fn();
    }, this.k.startDelayMs);
    rt.timers.add(t);
  }

  private mutate(rt: PodRuntime, fn: (p: KubeObject) => void): void {
    const pod = this.k.store.get('pods', rt.ns, rt.name);
    if (!pod) return;
    const next = deepCopy(pod);
    fn(next);
    if (canonical(next) !== canonical(pod)) this.k.store.update('pods', next);
  }

  private schedule(rt: PodRuntime): void {
    const pod = this.k.store.get('pods', rt.ns, rt.name);
    if (!pod || pod.metadata.deletionTimestamp || pod.spec.nodeName) return;
    const others = this.k.store
      .list('pods')
      .filter((p) => p.spec.nodeName && !terminal(p) && p.metadata.uid !== pod.metadata.uid);
    const why = unschedulable(pod, this.k.node, others);
    rt.unschedulable = why !== null;
    if (why) {
      if (pod.status.conditions?.[0]?.message !== why)
        this.mutate(rt, (p) => {
          p.status.conditions = [condition('PodScheduled', false, 'Unschedulable', why)];
        });
      return;
    }
    rt.startedMs = Date.now();
    this.mutate(rt, (p) => {
      p.spec.nodeName = NODE_NAME;
      p.status.conditions = [condition('PodScheduled', true)];
    });
    const inits: KubeObject[] = pod.spec.initContainers ?? [];
    this.mutate(rt, (p) => {
      p.status = {
        ...p.status,
        phase: 'Pending',
        hostIP: HOST_IP,
        hostIPs: [{ ip: HOST_IP }],
        startTime: now(),
        conditions: podConditions(false, !inits.length, names(pod.spec.containers)),
        ...(inits.length
          ? {
              initContainerStatuses: inits.map((c) =>
                containerStatus(c, { waiting: { reason: 'PodInitializing' } }),
              ),
            }
          : {}),
        containerStatuses: pod.spec.containers.map((c: KubeObject) =>
          containerStatus(c, { waiting: { reason: inits.length ? 'PodInitializing' : 'ContainerCreating' } }),
        ),
      };
    });
    this.armDeadline(rt);
    this.after(rt, () => this.sandbox(rt));
  }

  /** Volumes and the pod's network, then the images; a pod whose volume cannot mount stays ContainerCreating. */
  private sandbox(rt: PodRuntime): void {
    const pod = this.k.store.get('pods', rt.ns, rt.name);
    if (!pod) return;
    const volumes = prepareVolumes(pod, rt.dir);
    if (typeof volumes === 'string') return;
    rt.volumes = volumes;
    void this.k.network.attach(keyOf(rt)).then(
      (ip) => {
        if (rt.stopped) this.k.network.detach(keyOf(rt));
        else this.images(rt, ip);
      },
      // As a failed CNI leaves a pod: ContainerCreating (FailedCreatePodSandBox), saying why.
      (error: Error) => {
        const message = `FailedCreatePodSandBox: failed to set up the pod's network: ${error.message}`;
        this.mutate(rt, (p) => {
          for (const c of p.spec.containers as KubeObject[])
            setContainer(p, 'containerStatuses', c, { waiting: { reason: 'ContainerCreating', message } });
        });
      },
    );
  }

  /** The pod IP is known: it goes in the status, and the containers start once their images are here. */
  private images(rt: PodRuntime, ip: string): void {
    const pod = this.k.store.get('pods', rt.ns, rt.name);
    if (!pod) return;
    const inits: KubeObject[] = pod.spec.initContainers ?? [];
    this.mutate(rt, (p) => {
      p.status.podIP = ip;
      p.status.podIPs = [{ ip }];
      p.status.conditions = podConditions(true, !inits.length, names(pod.spec.containers));
    });
    const missing = [...inits, ...pod.spec.containers].find((c: KubeObject) => this.k.missingImages(c.image));
    if (!missing) {
      this.runner.runInit(rt, 0);
      return;
    }
    const field = inits.includes(missing) ? 'initContainerStatuses' : 'containerStatuses';
    const waiting = (reason: string, message: string) => (p: KubeObject) =>
      setContainer(p, field, missing, { waiting: { reason, message } });
    const ref = missing.image.includes('/') ? missing.image : `docker.io/library/${missing.image}`;
    this.mutate(
      rt,
      waiting(
        'ErrImagePull',
        `rpc error: code = NotFound desc = failed to pull and unpack image "${ref}": failed to resolve reference "${ref}": ${ref}: not found`,
      ),
    );
    this.after(rt, () =>
      this.mutate(rt, waiting('ImagePullBackOff', `Back-off pulling image "${missing.image}"`)),
    );
  }

  /** Every container has terminated: the phase follows from the exit codes (restartPolicy Never). */
  private finish(rt: PodRuntime): void {
    this.stop(rt);
    this.mutate(rt, (p) => {
      const states: KubeObject[] = [
        ...(p.status.initContainerStatuses ?? []),
        ...(p.status.containerStatuses ?? []),
      ];
      const failed = states.some((s) => s.state.terminated && s.state.terminated.exitCode !== 0);
      p.status.phase = failed ? 'Failed' : 'Succeeded';
      p.status.conditions = podConditions(false, true, names(p.spec.containers), 'PodCompleted');
    });
    this.retryUnschedulable();
  }

  private armDeadline(rt: PodRuntime): void {
    clearTimeout(rt.deadline);
    const ads = this.k.store.get('pods', rt.ns, rt.name)?.spec.activeDeadlineSeconds;
    if (!ads || rt.startedMs === undefined || rt.stopped) return;
    const left = Math.max(0, rt.startedMs + ads * 1000 - Date.now());
    rt.deadline = setTimeout(() => this.fail(rt.ns, rt.name, 'DeadlineExceeded'), left);
  }

  specChanged(ns: string, name: string): void {
    const rt = this.pods.get(`${ns}/${name}`);
    if (rt) this.armDeadline(rt);
  }

  /** As the kubelet would: kill every process of the pod, then record why it failed. */
  fail(ns: string, name: string, reason: FailReason): void {
    const rt = this.pods.get(`${ns}/${name}`);
    if (!rt || !this.k.store.get('pods', ns, name)) throw new Error(`no pod ${ns}/${name}`);
    const running = new Map(rt.running);
    this.stop(rt);
    this.mutate(rt, (p) => failedStatus(p, reason, running));
    this.retryUnschedulable();
  }

  /** Kills the pod's processes (main and exec'd) and cancels its pending steps. */
  private stop(rt: PodRuntime): void {
    rt.stopped = true;
    this.k.network.detach(keyOf(rt));
    clearTimeout(rt.deadline);
    for (const t of rt.timers) clearTimeout(t);
    rt.timers.clear();
    for (const child of rt.procs) killProcess(child);
    for (const run of rt.running.values()) void run.ready.then(killSandbox, () => {});
  }

  deleting(ns: string, name: string): void {
    const rt = this.pods.get(`${ns}/${name}`);
    if (rt) this.stop(rt);
  }

  /**
   * The pod is gone from the API: its processes are killed and, once they have exited, its
   * directory goes. Never rejects (its caller does not wait); close() waits for it.
   */
  removed(ns: string, name: string): Promise<void> {
    const rt = this.pods.get(`${ns}/${name}`);
    this.deleting(ns, name);
    this.pods.delete(`${ns}/${name}`);
    this.retryUnschedulable();
    const removal = (async () => {
      // A killed process can still be writing into its volumes for a moment: removing the
      // directory under it fails with ENOTEMPTY.
      if (rt) await exited(rt);
      if (rt) await rm(rt.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
    })().catch(() => {
      // Left for close(), which removes the whole root.
    });
    this.removals.add(removal);
    void removal.finally(() => this.removals.delete(removal));
    return removal;
  }

  private retryUnschedulable(): void {
    for (const rt of this.pods.values()) if (rt.unschedulable && !rt.stopped) this.schedule(rt);
  }

  /** An exec'd process in a running container, or the runtime's reason it cannot start. */
  exec(
    ns: string,
    name: string,
    container: string,
    command: string[],
    stdin: boolean,
  ): ChildProcess | string {
    const rt = this.pods.get(`${ns}/${name}`);
    const pod = this.k.store.get('pods', ns, name);
    const c: KubeObject | undefined = pod?.spec.containers.find((x: KubeObject) => x.name === container);
    const env = pod && c ? containerEnv(pod, c) : 'container not found';
    if (!rt || rt.stopped || !pod || !c || !rt.running.has(container) || typeof env === 'string')
      return `container not found ("${container}")`;
    const view = containerView(pod, c, env, rt.volumes ?? new Map());
    const problem = execProblem(view, command);
    if (problem) return problem;
    const wrapped = this.k.network.wrap(keyOf(rt), view, command);
    const child = spawnExec(wrapped.view, wrapped.command, stdin, rt.running.get(container)?.init);
    rt.procs.add(child);
    child.on('close', () => rt.procs.delete(child));
    return child;
  }

  log(ns: string, name: string, container: string): ContainerLog | undefined {
    return this.pods.get(`${ns}/${name}`)?.logs.get(container);
  }

  isRunning(ns: string, name: string, container: string): boolean {
    const rt = this.pods.get(`${ns}/${name}`);
    return !!rt && !rt.stopped && rt.running.get(container)?.init !== undefined;
  }

  /** Kills every pod's processes and resolves once they have exited and pending removals are done. */
  async close(): Promise<void> {
    const pods = [...this.pods.values()];
    for (const rt of pods) this.stop(rt);
    this.k.network.close();
    await Promise.all([...pods.map(exited), ...this.removals]);
  }
}

/** How long a killed pod's processes get to exit before their directories are removed anyway. */
const EXIT_WAIT_MS = 5000;

/** Resolves once every process the pod had has closed (they were killed), or after EXIT_WAIT_MS. */
function exited(rt: PodRuntime): Promise<void> {
  const open = [...rt.procs].map(
    (child) => new Promise<void>((resolve) => child.once('close', () => resolve())),
  );
  if (open.length === 0) return Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, EXIT_WAIT_MS);
  });
  return Promise.race([Promise.all(open).then(() => undefined), late]).finally(() => clearTimeout(timer));
}

const keyOf = (rt: PodRuntime) => `${rt.ns}/${rt.name}`;
