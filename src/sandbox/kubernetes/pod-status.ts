import type { V1Pod } from '@kubernetes/client-node';

/** Where a sandbox pod stands, as far as airlock cares: usable, still coming, or gone for good. */
export type PodCondition =
  | { kind: 'ready' }
  | { kind: 'starting'; unschedulable?: string }
  | { kind: 'failed'; reason: string; message: string; showLog?: boolean };

const IMAGE_FAILURES = new Set(['ImagePullBackOff', 'ErrImageNeverPull', 'InvalidImageName']);
const CONFIG_FAILURES = new Set(['CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

/**
 * Reads a pod's status the way a person would, and says in their words why a pod that will not
 * serve the run failed: the thread shows this message, so it names the policy key to change.
 */
export function podCondition(pod: V1Pod): PodCondition {
  const name = pod.metadata?.name ?? 'the sandbox pod';
  const container = pod.status?.containerStatuses?.[0];
  const limits = pod.spec?.containers?.[0]?.resources?.limits ?? {};
  if (pod.metadata?.deletionTimestamp) {
    return failed('Deleted', `The sandbox pod ${name} was deleted before the run ended.`);
  }
  const terminated = container?.state?.terminated ?? container?.lastState?.terminated;
  if (terminated?.reason === 'OOMKilled') {
    return failed(
      'OOMKilled',
      `The sandbox ran out of memory (limit ${limits.memory ?? 'unknown'}) and Kubernetes killed it. ` +
        'Raise sandbox.memory for this repository in airlock.yaml, or give a task that needs less memory.',
    );
  }
  const phase = pod.status?.phase;
  if (phase === 'Failed' || phase === 'Succeeded') {
    const reason = pod.status?.reason ?? terminated?.reason ?? phase;
    const detail = pod.status?.message ?? terminated?.message;
    if (reason === 'DeadlineExceeded') {
      const minutes = Math.round((pod.spec?.activeDeadlineSeconds ?? 0) / 60);
      return failed(
        reason,
        `The sandbox reached its time limit (${minutes} minutes) and Kubernetes stopped it. ` +
          'Raise limits.max_minutes in airlock.yaml, or split the task.',
      );
    }
    if (reason === 'Evicted') {
      return failed(
        reason,
        `Kubernetes evicted the sandbox: ${detail ?? 'the node ran short of resources'}. ` +
          `When the workspace outgrew its ${limits['ephemeral-storage'] ?? ''} of disk, raise ` +
          'sandbox.ephemeral_storage for this repository in airlock.yaml; otherwise start the run again.',
      );
    }
    return failed(
      reason,
      `The sandbox container stopped (${reason}${terminated?.exitCode !== undefined ? `, exit code ${terminated.exitCode}` : ''}${detail ? `: ${detail}` : ''}). ` +
        'Check that sandbox.image runs an idle shell as a non-root user.',
      true,
    );
  }
  const waiting = container?.state?.waiting;
  if (waiting?.reason && IMAGE_FAILURES.has(waiting.reason)) {
    const image = pod.spec?.containers?.[0]?.image ?? 'the sandbox image';
    return failed(
      waiting.reason,
      `The sandbox image ${image} could not be pulled (${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}). ` +
        'Check sandbox.image in airlock.yaml and that the cluster can pull it from its registry.',
    );
  }
  if (waiting?.reason && CONFIG_FAILURES.has(waiting.reason)) {
    return failed(
      waiting.reason,
      `Kubernetes could not start the sandbox container (${waiting.reason}: ${waiting.message ?? 'no detail'}). ` +
        'Check sandbox.image: it must run as a non-root user with a read-only root filesystem.',
      true,
    );
  }
  if (phase === 'Running' && container?.ready) return { kind: 'ready' };
  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
  if (scheduled?.status === 'False' && scheduled.reason === 'Unschedulable') {
    return { kind: 'starting', unschedulable: scheduled.message ?? 'no node fits the pod' };
  }
  return { kind: 'starting' };
}

/** The message when a pod stayed unschedulable past the wait for a node. */
export function unschedulableMessage(detail: string): string {
  return (
    `No node in the cluster can run the sandbox pod (${detail}). Lower sandbox.cpu or sandbox.memory ` +
    'for this repository in airlock.yaml, check sandbox.node_selector and tolerations, or add capacity.'
  );
}

/** showLog: the container's own output helps when the container itself stopped or could not start. */
function failed(reason: string, message: string, showLog = false): PodCondition {
  return { kind: 'failed', reason, message, showLog };
}
