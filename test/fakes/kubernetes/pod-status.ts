// Pod status pieces as the kubelet writes them: conditions, container statuses, image IDs.
import { createHash, randomBytes } from 'node:crypto';
import { type KubeObject, now } from './types.js';

export type ContainerState =
  | { waiting: { reason: string; message?: string } }
  | { running: { startedAt: string } }
  | {
      terminated: {
        exitCode: number;
        reason: string;
        message?: string;
        startedAt?: string | null;
        finishedAt: string;
        containerID?: string;
      };
    };

export function condition(type: string, ok: boolean, reason?: string, message?: string): KubeObject {
  return {
    type,
    status: ok ? 'True' : 'False',
    lastProbeTime: null,
    lastTransitionTime: now(),
    ...(reason ? { reason } : {}),
    ...(message ? { message } : {}),
  };
}

/** The five conditions of a scheduled pod; `ready` lists the containers that are not ready. */
export function podConditions(
  sandbox: boolean,
  initialized: boolean,
  notReady: string[],
  reason?: string,
): KubeObject[] {
  const why = reason ?? 'ContainersNotReady';
  const message =
    reason === 'PodCompleted' ? undefined : `containers with unready status: [${notReady.join(' ')}]`;
  const ready = notReady.length === 0;
  return [
    condition('PodReadyToStartContainers', sandbox),
    condition('Initialized', initialized, initialized ? undefined : 'ContainersNotInitialized'),
    condition('Ready', ready, ready ? undefined : why, ready ? undefined : message),
    condition('ContainersReady', ready, ready ? undefined : why, ready ? undefined : message),
    condition('PodScheduled', true),
  ];
}

/** A stable digest per image name, so the same image always resolves to the same imageID. */
export function imageId(image: string): string {
  const name = image.split('@')[0]?.replace(/:[^/:]+$/, '') ?? image;
  const full = name.includes('/') ? name : `docker.io/library/${name}`;
  return `${full}@sha256:${createHash('sha256').update(image).digest('hex')}`;
}

export const containerId = () => `containerd://${randomBytes(32).toString('hex')}`;

export function containerStatus(c: KubeObject, state: ContainerState, id?: string): KubeObject {
  const running = 'running' in state;
  const pulled = !('waiting' in state);
  return {
    name: c.name,
    image: c.image,
    imageID: pulled ? imageId(c.image) : '',
    ...(id ? { containerID: id } : {}),
    ready: running,
    started: running,
    restartCount: 0,
    state,
    lastState: {},
  };
}

export type FailReason = 'OOMKilled' | 'Evicted' | 'DeadlineExceeded';
const EVICTED =
  'The node was low on resource: ephemeral-storage. Threshold quantity: 1Gi, available: 512Mi. Container sandbox was using 12Gi, request is 10Gi, has larger consumption of ephemeral-storage.';

/** The status the kubelet writes after killing a pod for `reason` (restartPolicy Never). */
export function failedStatus(
  p: KubeObject,
  reason: FailReason,
  running: Map<string, { id: string; startedAt: string }>,
): void {
  p.status.phase = 'Failed';
  p.status.containerStatuses = (p.spec.containers as KubeObject[]).map((c, i) => {
    const run = running.get(c.name);
    const why = reason === 'OOMKilled' && i === 0 ? 'OOMKilled' : 'Error';
    const terminated = {
      exitCode: 137,
      reason: why,
      startedAt: run?.startedAt ?? null,
      finishedAt: now(),
      ...(run ? { containerID: run.id } : {}),
    };
    return containerStatus(c, { terminated }, run?.id);
  });
  const conditions = podConditions(
    false,
    true,
    p.spec.containers.map((c: KubeObject) => c.name),
    'PodCompleted',
  );
  if (reason === 'Evicted') {
    Object.assign(p.status, { reason: 'Evicted', message: EVICTED });
    conditions.push(condition('DisruptionTarget', true, 'TerminationByKubelet', EVICTED));
  }
  if (reason === 'DeadlineExceeded')
    Object.assign(p.status, {
      reason,
      message: 'Pod was active on the node longer than the specified deadline',
    });
  p.status.conditions = conditions;
}
