import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Policy } from '../../config/policy.js';
import { AirlockError } from '../../errors.js';
import type { Sandbox, SandboxProvider, SandboxSpec } from '../../runs/ports/sandbox.js';
import type { KubeApi } from './kube-api.js';
import { KubernetesSandbox } from './kubernetes-sandbox.js';
import { type PodEgress, PodRoutes } from './pod-routes.js';
import {
  MANAGED_BY,
  MANAGED_BY_LABEL,
  POOL_LABEL,
  RUN_ID_LABEL,
  runPodName,
  sandboxPod,
  TEMPLATE_LABEL,
} from './pod-spec.js';
import { podCondition, unschedulableMessage } from './pod-status.js';
import { WarmPool } from './warm-pool.js';

export interface KubernetesSandboxesOptions {
  logger: Logger;
  /** True while the run may still use its sandbox; pods of other runs are reaped. */
  isRunActive: (runId: string) => boolean;
  /** How long a new pod may take to pull its image and start. */
  startTimeoutMs?: number;
  /** How long an unschedulable pod waits for a node (an autoscaler) before the run fails. */
  scheduleTimeoutMs?: number;
  /** How often orphans are reaped and the warm pool topped up. */
  housekeepingMs?: number;
  /**
   * airlock's egress gateway (DESIGN.md §4): every command gets its proxy variables, and each
   * run's pod address is routed to the run, since the gateway tells pods apart by source address.
   */
  egress?: PodEgress;
}

/**
 * How long a deleted pod may take to go. The kubelet stops it within its grace period (1 s from
 * airlock, 5 s at most) and confirms on its next sync; a pod still there after this sits on a node
 * that no longer answers.
 */
const GONE_TIMEOUT_MS = 60_000;

/** What airlock does in the sandbox namespace, and nothing more (manifests/ grants exactly this). */
export const REQUIRED_PERMISSIONS: Record<string, string[]> = {
  pods: ['create', 'get', 'list', 'watch', 'delete', 'patch'],
  'pods/exec': ['create', 'get'],
  'pods/log': ['get'],
};

/** The `kubernetes` backend (DESIGN.md §4): one restricted pod per run in the sandbox namespace. */
export class KubernetesSandboxes implements SandboxProvider {
  readonly kind = 'kubernetes' as const;
  readonly pool: WarmPool;
  private timer?: NodeJS.Timeout;
  private readonly started = { warm: 0, cold: 0 };
  private readonly routes: PodRoutes;

  constructor(
    private readonly kube: KubeApi,
    private readonly policy: Policy,
    private readonly opts: KubernetesSandboxesOptions,
  ) {
    this.pool = new WarmPool(kube, policy, opts.logger);
    this.routes = new PodRoutes(opts.egress);
  }

  async create(runId: string, spec: SandboxSpec): Promise<Sandbox> {
    // A provision repeated after a restart starts over with a fresh pod.
    this.routes.drop(runId);
    for (const old of await this.podsOf(runId)) await this.kube.deletePod(old.metadata?.name as string);
    const claimed = await this.pool.claim(runId, spec.repo);
    if (claimed) {
      this.started.warm++;
      this.opts.logger.info({ run_id: runId, pod: claimed.metadata?.name }, 'claimed a warm sandbox pod');
      return this.sandboxOf(runId, claimed);
    }
    this.started.cold++;
    // A deleted pod keeps its name while it terminates, and a create meanwhile is refused (409):
    // the run's earlier pod (deleted just above, by destroy or by the reaper) must be gone first.
    await this.untilGone(runPodName(runId));
    const pod = await this.kube.createPod(sandboxPod(this.policy, spec.repo, runId));
    const name = pod.metadata?.name as string;
    try {
      return this.sandboxOf(runId, await this.untilReady(name));
    } catch (error) {
      await this.kube.deletePod(name).catch(() => undefined);
      throw error;
    }
  }

  starts(): { warm: number; cold: number } {
    return { ...this.started };
  }

  async attach(runId: string): Promise<Sandbox | undefined> {
    const [pod] = await this.podsOf(runId);
    if (!pod) return undefined;
    const name = pod.metadata?.name as string;
    const condition = podCondition(pod);
    if (condition.kind === 'failed') {
      this.routes.drop(runId);
      throw await this.kube.podFailure(name, condition);
    }
    return this.sandboxOf(runId, condition.kind === 'starting' ? await this.untilReady(name) : pod);
  }

  /** The run's sandbox on a ready pod, whose address the gateway now knows as the run's. */
  private sandboxOf(runId: string, pod: V1Pod): KubernetesSandbox {
    const network = this.routes.route(runId, pod);
    return new KubernetesSandbox(runId, pod.metadata?.name as string, this.kube, network);
  }

  async start(): Promise<void> {
    await this.housekeeping();
    this.timer = setInterval(() => void this.housekeeping(), this.opts.housekeepingMs ?? 60_000);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
  }

  /** Every permission airlock uses, asked of the API server with SelfSubjectAccessReview. */
  async check(): Promise<string> {
    const missing: string[] = [];
    for (const [resource, verbs] of Object.entries(REQUIRED_PERMISSIONS)) {
      const [base, sub] = resource.split('/') as [string, string | undefined];
      for (const verb of verbs)
        if (!(await this.kube.canI(verb, base, sub))) missing.push(`${verb} ${resource}`);
    }
    if (missing.length > 0) {
      throw new Error(
        `airlock's service account may not ${missing.join(', ')} in namespace ${this.kube.namespace}. ` +
          'Apply manifests/ (the Role airlock-sandboxes and its RoleBinding), or grant exactly these.',
      );
    }
    const warm =
      this.pool.size > 0 ? `; warm pool: ${await this.pool.ready()} of ${this.pool.size} ready` : '';
    return `kubernetes at ${this.kube.server}, namespace ${this.kube.namespace}: every permission granted${warm}`;
  }

  /**
   * Deletes pods whose run is over or unknown, warm pods of an old template or that failed,
   * then tops up the pool. Runs at start and every minute.
   */
  async housekeeping(): Promise<void> {
    try {
      const listedAt = Date.now();
      const pods = await this.kube.listPods(`${MANAGED_BY_LABEL}=${MANAGED_BY}`);
      this.routes.prune(pods, listedAt);
      for (const pod of pods) {
        const labels = pod.metadata?.labels ?? {};
        const runId = labels[RUN_ID_LABEL];
        const stale = runId
          ? !this.opts.isRunActive(runId)
          : labels[POOL_LABEL] === 'warm' &&
            (labels[TEMPLATE_LABEL] !== this.pool.template || podCondition(pod).kind === 'failed');
        if (!stale || pod.metadata?.deletionTimestamp) continue;
        this.opts.logger.info({ pod: pod.metadata?.name, run_id: runId }, 'reaping a sandbox pod');
        if (runId) this.routes.drop(runId);
        await this.kube.deletePod(pod.metadata?.name as string);
      }
      await this.pool.refill();
    } catch (error) {
      this.opts.logger.warn({ err: error }, 'sandbox housekeeping failed; retrying later');
    }
  }

  private podsOf(runId: string): Promise<V1Pod[]> {
    return this.kube
      .listPods(`${MANAGED_BY_LABEL}=${MANAGED_BY},${RUN_ID_LABEL}=${runId}`)
      .then((pods) => pods.filter((p) => !p.metadata?.deletionTimestamp));
  }

  /** Waits until no pod of that name exists, following its watch events. */
  private async untilGone(name: string): Promise<void> {
    await this.kube.waitForPod(
      name,
      (pod) => (pod ? undefined : true),
      GONE_TIMEOUT_MS,
      () =>
        new AirlockError(
          'sandbox_failed',
          `The run's previous sandbox pod ${name} is still terminating after ${GONE_TIMEOUT_MS / 1000} s, ` +
            `so its replacement cannot be created. Check its node (kubectl -n ${this.kube.namespace} ` +
            `describe pod ${name}); \`kubectl -n ${this.kube.namespace} delete pod ${name} --force\` removes it.`,
        ),
    );
  }

  /** Waits for the pod to run; a pod that cannot (image, scheduling, config) fails the run, saying why. */
  private async untilReady(name: string): Promise<V1Pod> {
    const startTimeout = this.opts.startTimeoutMs ?? 300_000;
    const scheduleTimeout = this.opts.scheduleTimeoutMs ?? 120_000;
    const began = Date.now();
    const outcome = await this.kube.waitForPod(
      name,
      (pod) => {
        if (!pod)
          throw new AirlockError('sandbox_failed', `The sandbox pod ${name} was deleted while starting.`);
        const condition = podCondition(pod);
        if (condition.kind === 'failed' || condition.kind === 'ready') return { condition, pod };
        if (condition.unschedulable && Date.now() - began >= scheduleTimeout)
          throw new AirlockError('sandbox_failed', unschedulableMessage(condition.unschedulable));
        return undefined;
      },
      startTimeout,
      (pod) => {
        const condition = pod ? podCondition(pod) : undefined;
        if (condition?.kind === 'starting' && condition.unschedulable)
          return new AirlockError('sandbox_failed', unschedulableMessage(condition.unschedulable));
        return new AirlockError(
          'sandbox_failed',
          `The sandbox pod ${name} did not start within ${Math.round(startTimeout / 1000)} s. ` +
            'Check the cluster (kubectl -n ' +
            `${this.kube.namespace} describe pod ${name}) and sandbox.image in airlock.yaml.`,
        );
      },
      Math.min(30_000, scheduleTimeout),
    );
    if (outcome.condition.kind === 'failed') throw await this.kube.podFailure(name, outcome.condition);
    return outcome.pod;
  }
}
