import type { V1Pod } from '@kubernetes/client-node';
import { type EgressRoutes, proxyEnv } from '../../egress/egress-routes.js';
import { AirlockError } from '../../errors.js';
import { RUN_ID_LABEL } from './pod-spec.js';
import { podCondition } from './pod-status.js';

/** The egress gateway as the Kubernetes backend sees it: its routes, and the URL pods reach it at. */
export interface PodEgress {
  routes: EgressRoutes;
  /** The gateway's address as sandbox pods reach it (an IP, so pods need no DNS). */
  proxyUrl: string;
}

/** A run's pod's side of its route: the variables its commands get, and how the route ends. */
export interface PodNetwork {
  env: Record<string, string>;
  /** The pod goes with the run's sandbox: its addresses and the run's routes are released. */
  release(): Promise<void>;
  /** The pod is gone or failed: its addresses no longer speak for the run. */
  lost(): void;
}

interface Route {
  addresses: string[];
  /** When it was made, so a housekeeping pass that listed pods before it leaves it alone. */
  at: number;
}

/**
 * Which pod address belongs to which run, told to the egress gateway (DESIGN.md §4). The gateway
 * judges a pod's connection by its source address, so an address must stop naming a run as soon
 * as its pod is gone: the cluster gives a freed pod IP to the next pod it starts.
 */
export class PodRoutes {
  private readonly byRun = new Map<string, Route>();

  constructor(private readonly egress?: PodEgress) {}

  /** Connections from the pod's addresses belong to the run from now on. */
  route(runId: string, pod: V1Pod): PodNetwork | undefined {
    const egress = this.egress;
    if (!egress) return undefined;
    const addresses = addressesOf(pod);
    if (addresses.length === 0) {
      throw new AirlockError(
        'sandbox_failed',
        `The sandbox pod ${pod.metadata?.name} is ready but has no IP address, so it cannot reach ` +
          "airlock's egress gateway. Check the cluster's network plugin.",
      );
    }
    this.drop(runId);
    for (const address of addresses) egress.routes.routeAddress(address, runId);
    const route: Route = { addresses, at: Date.now() };
    this.byRun.set(runId, route);
    const mine = () => this.byRun.get(runId) === route;
    return {
      env: proxyEnv(egress.proxyUrl),
      release: async () => {
        if (mine()) this.drop(runId);
        await egress.routes.release(runId);
      },
      lost: () => {
        if (mine()) this.drop(runId);
      },
    };
  }

  /** The run's pod addresses no longer lead to it (its pods are deleted, or gone). */
  drop(runId: string): void {
    const route = this.byRun.get(runId);
    if (!route) return;
    this.byRun.delete(runId);
    for (const address of route.addresses) this.egress?.routes.unrouteAddress(address);
  }

  /**
   * Drops the routes whose pod is not among `pods` (a listing made at `listedAt`), or is deleted
   * or failed there: a pod that went without airlock deleting it (evicted, removed by hand).
   */
  prune(pods: V1Pod[], listedAt: number): void {
    for (const [runId, route] of this.byRun) {
      if (route.at >= listedAt) continue;
      const alive = pods.some(
        (pod) =>
          pod.metadata?.labels?.[RUN_ID_LABEL] === runId &&
          !pod.metadata?.deletionTimestamp &&
          podCondition(pod).kind !== 'failed' &&
          route.addresses.every((a) => addressesOf(pod).includes(a)),
      );
      if (!alive) this.drop(runId);
    }
  }
}

/** status.podIP and, on dual-stack clusters, the other family's address too. */
function addressesOf(pod: V1Pod): string[] {
  const all = [pod.status?.podIP, ...(pod.status?.podIPs ?? []).map((p) => p.ip)];
  return [...new Set(all.filter((a): a is string => !!a))];
}
