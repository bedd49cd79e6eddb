// A pod's state on the fake node, beyond what its status shows: processes, logs, timers, volumes.
import type { ChildProcess } from 'node:child_process';
import type { SandboxInit } from './container-runtime.js';
import type { ContainerLog } from './pod-log.js';
import { type ContainerState, containerStatus } from './pod-status.js';
import type { KubeObject } from './types.js';
import type { PreparedVolume } from './volumes.js';

export interface PodRuntime {
  ns: string;
  name: string;
  /** Its directory, by UID as the kubelet's /var/lib/kubelet/pods/<uid>: a pod deleted and made again under the same name gets a new one. */
  dir: string;
  procs: Set<ChildProcess>;
  running: Map<string, Running>;
  logs: Map<string, ContainerLog>;
  timers: Set<NodeJS.Timeout>;
  deadline?: NodeJS.Timeout;
  startedMs?: number;
  volumes?: Map<string, PreparedVolume>;
  unschedulable: boolean;
  stopped: boolean;
}

export type StatusList = 'containerStatuses' | 'initContainerStatuses';
/** A started container: `init` (its PID namespace's init) is known once it is ready for execs. */
export interface Running {
  id: string;
  startedAt: string;
  ready: Promise<SandboxInit>;
  init?: SandboxInit;
}

export function setContainer(
  pod: KubeObject,
  field: StatusList,
  c: KubeObject,
  state: ContainerState,
  id?: string,
): void {
  const list: KubeObject[] = pod.status[field] ?? [];
  const at = list.findIndex((s) => s.name === c.name);
  const next = containerStatus(c, state, id);
  if (at >= 0) list[at] = next;
  else list.push(next);
  pod.status[field] = list;
}
