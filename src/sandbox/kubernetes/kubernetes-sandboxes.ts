import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Policy } from '../../config/policy.js';
import { AirlockError } from '../../errors.js';
import type { Sandbox, SandboxProvider, SandboxSpec } from '../../runs/ports/sandbox.js';
import type { ExecSession } from './exec-session.js';
import { type KubeApi, statusOf } from './kube-api.js';
import { KubernetesSandbox } from './kubernetes-sandbox.js';
import { type PodEgress, PodRoutes } from './pod-routes.js';
import {
  LOADER_CONTAINER,
  MANAGED_BY,
  MANAGED_BY_LABEL,
  POOL_LABEL,
  PREPARED_POD_DEADLINE_SECONDS,
  REPO_ANNOTATION,
  RUN_ID_LABEL,
  runDeadlineSeconds,
  runPodName,
  sandboxPod,
  TEMPLATE_LABEL,
} from './pod-spec.js';
import { podCondition, unschedulableMessage } from './pod-status.js';
import { ageOf, WarmPool } from './warm-pool.js';

export interface KubernetesSandboxesOptions {
  logger: Logger;
  /** True while the run may still use its sandbox; pods of other runs are reaped. */
  isRunActive: (runId: string) => boolean;
  /**
   * True for the id of a prepared sandbox still kept for a run (DESIGN.md §4, Prepared
   * sandboxes): its pod, labelled with that id until a run adopts it, is not reaped, and is built
   * cold (not from the warm pool) with a deadline long enough to wait for its run.
   */
  isPrepared?: (sandboxId: string) => boolean;
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
  /** Prepared ids being adopted by this process: their row is gone, their pod not yet the run's. */
  private readonly adopting = new Set<string>();
  /** The exec sessions its sandboxes hold open (exec-session.ts), closed with the provider. */
  private readonly sessions = new Set<ExecSession>();

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
    // A prepared sandbox is built ahead of time: the warm pool stays for runs waiting to start, and
    // its pod gets long enough to wait unclaimed and then still give its run the whole limit.
    const prepared = this.opts.isPrepared?.(runId) ?? false;
    // Warm pods are writable sandboxes; a read-only run's pod has a second container.
    const claimed = prepared || spec.readOnly ? undefined : await this.pool.claim(runId, spec.repo);
    if (claimed) {
      this.started.warm++;
      this.opts.logger.info({ run_id: runId, pod: claimed.metadata?.name }, 'claimed a warm sandbox pod');
      return this.sandboxOf(runId, claimed);
    }
    if (!prepared) this.started.cold++;
    // A deleted pod keeps its name while it terminates, and a create meanwhile is refused (409):
    // the run's earlier pod (deleted just above, by destroy or by the reaper) must be gone first.
    await this.untilGone(runPodName(runId));
    const deadline = prepared
      ? PREPARED_POD_DEADLINE_SECONDS + runDeadlineSeconds(this.policy, spec.repo)
      : undefined;
    const pod = await this.kube.createPod(
      sandboxPod(this.policy, spec.repo, runId, deadline, { readOnly: spec.readOnly }),
    );
    const name = pod.metadata?.name as string;
    try {
      return this.sandboxOf(runId, await this.untilReady(name));
    } catch (error) {
      await this.kube.deletePod(name).catch(() => undefined);
      throw error;
    }
  }

  /**
   * A prepared sandbox's pod (made by create(preparedId)) becomes the run's with one label patch
   * guarded by resourceVersion, so of two claimers one gets it and the other starts cold; its
   * deadline becomes the run's, counted from now, as a warm pod's claim does. The pod keeps its
   * name (a name cannot change); the run's pod is found by its label from then on. Undefined when
   * the pod is gone, not ready, failed, or too old to give the run its whole limit.
   */
  async adopt(preparedId: string, runId: string): Promise<Sandbox | undefined> {
    this.adopting.add(preparedId);
    try {
      const [pod] = await this.podsOf(preparedId);
      if (!pod || podCondition(pod).kind !== 'ready') return undefined;
      const name = pod.metadata?.name as string;
      const repo = pod.metadata?.annotations?.[REPO_ANNOTATION];
      if (!repo || !this.policy.repos[repo]) return undefined;
      const deadline = Math.ceil(ageOf(pod) / 1000) + runDeadlineSeconds(this.policy, repo);
      // A deadline can only shrink: a pod this old would end before the run's time is up.
      if (deadline > (pod.spec?.activeDeadlineSeconds ?? 0)) return undefined;
      // As create: a run that starts again starts over (its earlier pod has another name).
      this.routes.drop(runId);
      for (const old of await this.podsOf(runId)) await this.kube.deletePod(old.metadata?.name as string);
      let adopted: V1Pod;
      try {
        adopted = await this.kube.patchPod(name, {
          metadata: { resourceVersion: pod.metadata?.resourceVersion, labels: { [RUN_ID_LABEL]: runId } },
          spec: { activeDeadlineSeconds: deadline },
        });
      } catch (error) {
        const status = statusOf((error as Error).cause);
        if (status === 409 || status === 404) return undefined; // another claimer took it, or it went
        throw error;
      }
      // The pod's address speaks for the run from now on, and so do connections it holds open.
      this.routes.drop(preparedId);
      this.opts.egress?.routes.rekey(preparedId, runId);
      this.opts.logger.info(
        { run_id: runId, prepared_id: preparedId, pod: name },
        'adopted a prepared sandbox pod',
      );
      return this.sandboxOf(runId, adopted);
    } finally {
      this.adopting.delete(preparedId);
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
    const readOnlyPod = pod.spec?.containers.some((c) => c.name === LOADER_CONTAINER) ?? false;
    return new KubernetesSandbox(
      runId,
      pod.metadata?.name as string,
      this.kube,
      network,
      this.sessions,
      readOnlyPod,
    );
  }

  async start(): Promise<void> {
    await this.housekeeping();
    this.timer = setInterval(() => void this.housekeeping(), this.opts.housekeepingMs ?? 60_000);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    // Commands still running finish first, as a command's own exec would.
    for (const session of [...this.sessions]) session.retire();
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
   * Deletes pods whose run is over or unknown (prepared sandboxes still kept are not), warm pods
   * of an old template or that failed, then tops up the pool. Runs at start and every minute.
   */
  async housekeeping(): Promise<void> {
    try {
      const listedAt = Date.now();
      const pods = await this.kube.listPods(`${MANAGED_BY_LABEL}=${MANAGED_BY}`);
      this.routes.prune(pods, listedAt);
      for (const pod of pods) {
        if (!this.stale(pod) || pod.metadata?.deletionTimestamp) continue;
        const runId = pod.metadata?.labels?.[RUN_ID_LABEL];
        this.opts.logger.info({ pod: pod.metadata?.name, run_id: runId }, 'reaping a sandbox pod');
        if (runId) this.routes.drop(runId);
        // Only the pod as listed: one a run adopted since (a new run-id label) stays.
        await this.kube.deletePod(pod.metadata?.name as string, {
          resourceVersion: pod.metadata?.resourceVersion,
        });
      }
      await this.pool.refill();
    } catch (error) {
      this.opts.logger.warn({ err: error }, 'sandbox housekeeping failed; retrying later');
    }
  }

  /** Whether housekeeping deletes the pod. */
  private stale(pod: V1Pod): boolean {
    const labels = pod.metadata?.labels ?? {};
    const runId = labels[RUN_ID_LABEL];
    if (!runId) {
      return (
        labels[POOL_LABEL] === 'warm' &&
        (labels[TEMPLATE_LABEL] !== this.pool.template || podCondition(pod).kind === 'failed')
      );
    }
    if (this.opts.isRunActive(runId) || this.adopting.has(runId)) return false;
    // A prepared sandbox waits for its run; one whose pod failed (its deadline, an eviction) never serves one.
    return !(this.opts.isPrepared?.(runId) && podCondition(pod).kind !== 'failed');
  }

  /** The pods labelled with the run's id (a run's pod is found by label: an adopted one keeps its name). */
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
