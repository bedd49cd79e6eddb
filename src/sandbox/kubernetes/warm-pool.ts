import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Policy } from '../../config/policy.js';
import { type KubeApi, statusOf } from './kube-api.js';
import {
  MANAGED_BY,
  MANAGED_BY_LABEL,
  POOL_LABEL,
  REPO_ANNOTATION,
  RUN_ID_LABEL,
  runDeadlineSeconds,
  TEMPLATE_LABEL,
  templateFor,
  warmPod,
} from './pod-spec.js';
import { podCondition } from './pod-status.js';

export const WARM_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY},${POOL_LABEL}=warm`;

/**
 * `sandbox.warm_pool: N` ready pods built from the policy's default sandbox. A run takes one with
 * a label patch guarded by resourceVersion, so two runs never get the same pod; the pool is
 * refilled in the background.
 */
export class WarmPool {
  readonly template: string;
  private filling?: Promise<void>;
  private again = false;

  constructor(
    private readonly kube: KubeApi,
    private readonly policy: Policy,
    private readonly logger: Logger,
  ) {
    this.template = (warmPod(policy).metadata.labels as Record<string, string>)[TEMPLATE_LABEL] as string;
  }

  get size(): number {
    return this.policy.sandbox.warm_pool;
  }

  /** How many warm pods of the current template are ready to be claimed. */
  async ready(): Promise<number> {
    const pods = await this.kube.listPods(`${WARM_SELECTOR},${TEMPLATE_LABEL}=${this.template}`);
    return pods.filter((p) => podCondition(p).kind === 'ready').length;
  }

  /** A ready warm pod now bound to the run, or undefined when none fits (the run starts one cold). */
  async claim(runId: string, repo: string): Promise<V1Pod | undefined> {
    if (this.size === 0 || templateFor(this.policy, repo) !== this.template) return undefined;
    const candidates = (await this.kube.listPods(`${WARM_SELECTOR},${TEMPLATE_LABEL}=${this.template}`))
      .filter((p) => podCondition(p).kind === 'ready')
      .sort((a, b) => ageOf(b) - ageOf(a));
    try {
      for (const pod of candidates) {
        const name = pod.metadata?.name as string;
        // The pod's deadline counts from its start; the run gets its own limit from now on.
        const deadline = Math.ceil(ageOf(pod) / 1000) + runDeadlineSeconds(this.policy, repo);
        if (deadline > (pod.spec?.activeDeadlineSeconds ?? 0)) continue; // too old; the reaper replaces it
        try {
          return await this.kube.patchPod(name, {
            metadata: {
              resourceVersion: pod.metadata?.resourceVersion,
              labels: { [POOL_LABEL]: null, [RUN_ID_LABEL]: runId },
              annotations: { [REPO_ANNOTATION]: repo },
            },
            spec: { activeDeadlineSeconds: deadline },
          });
        } catch (error) {
          const status = statusOf((error as Error).cause);
          if (status === 409 || status === 404) continue; // another run took it first
          throw error;
        }
      }
      return undefined;
    } finally {
      this.refill();
    }
  }

  /**
   * Creates pods until N are warm (ready or starting). One fill at a time; a refill asked for
   * while one runs makes it count again afterwards, since claims may have landed meanwhile.
   */
  refill(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    if (this.filling) {
      this.again = true;
      return this.filling;
    }
    this.filling = (async () => {
      do {
        this.again = false;
        await this.fill();
      } while (this.again);
    })().finally(() => {
      this.filling = undefined;
    });
    return this.filling;
  }

  private async fill(): Promise<void> {
    try {
      const pods = await this.kube.listPods(`${WARM_SELECTOR},${TEMPLATE_LABEL}=${this.template}`);
      const alive = pods.filter((p) => podCondition(p).kind !== 'failed').length;
      for (let i = alive; i < this.size; i++) await this.kube.createPod(warmPod(this.policy));
    } catch (error) {
      this.logger.warn({ err: error }, 'could not refill the warm pool');
    }
  }
}

/** How long the pod has been running (its deadline counts from its start), in ms. */
export function ageOf(pod: V1Pod): number {
  const started = pod.status?.startTime ?? pod.metadata?.creationTimestamp;
  return started ? Date.now() - new Date(started).getTime() : 0;
}
