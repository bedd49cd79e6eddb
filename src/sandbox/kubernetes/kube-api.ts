import {
  AuthorizationV1Api,
  CoreV1Api,
  Exec,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
  Watch,
} from '@kubernetes/client-node';
import pRetry, { AbortError } from 'p-retry';
import { AirlockError } from '../../errors.js';

/** What a busy, restarting or briefly unreachable API server answers; worth asking again. */
const TRANSIENT = new Set([429, 500, 502, 503, 504]);

/** Loads the cluster: the kubeconfig given, else in-cluster service account or ~/.kube/config. */
export function loadKubeConfig(kubeconfig?: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    const first = kubeconfig?.split(':').find(Boolean);
    if (first) kc.loadFromFile(first);
    else kc.loadFromDefault();
  } catch (error) {
    throw new AirlockError(
      'config_invalid',
      `AIRLOCK_SANDBOX=kubernetes but no cluster configuration could be loaded: ${(error as Error).message}. ` +
        'Run airlock in the cluster with its service account, or set KUBECONFIG.',
      { cause: error },
    );
  }
  if (!kc.getCurrentCluster()) {
    throw new AirlockError(
      'config_invalid',
      'AIRLOCK_SANDBOX=kubernetes but no cluster is configured: run airlock in the cluster, or set KUBECONFIG.',
    );
  }
  return kc;
}

/**
 * The pod operations airlock uses in its sandbox namespace, over `@kubernetes/client-node`,
 * with failures turned into messages that name the missing permission or the unreachable API.
 */
export class KubeApi {
  readonly exec: Exec;
  private readonly core: CoreV1Api;
  private readonly authz: AuthorizationV1Api;
  private readonly watcher: Watch;

  constructor(
    private readonly kc: KubeConfig,
    readonly namespace: string,
    /** How often a transient failure of a repeatable call is retried (about 15 s in all). */
    private readonly retries = 5,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
    this.authz = kc.makeApiClient(AuthorizationV1Api);
    this.exec = new Exec(kc);
    this.watcher = new Watch(kc);
  }

  get server(): string {
    return this.kc.getCurrentCluster()?.server ?? 'the Kubernetes API';
  }

  createPod(body: object): Promise<V1Pod> {
    return this.call('create a sandbox pod', () =>
      this.core.createNamespacedPod({ namespace: this.namespace, body: body as V1Pod }),
    );
  }

  async getPod(name: string): Promise<V1Pod | undefined> {
    try {
      return await this.retrying(() => this.core.readNamespacedPod({ name, namespace: this.namespace }));
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      throw this.failure(`read pod ${name}`, error);
    }
  }

  async listPods(labelSelector: string): Promise<V1Pod[]> {
    const list = await this.call('list sandbox pods', () =>
      this.retrying(() => this.core.listNamespacedPod({ namespace: this.namespace, labelSelector })),
    );
    return list.items;
  }

  /** A JSON merge patch; with metadata.resourceVersion set it fails with 409 if the pod changed. */
  patchPod(name: string, patch: object): Promise<V1Pod> {
    return this.call(`patch pod ${name}`, () =>
      this.core.patchNamespacedPod(
        { name, namespace: this.namespace, body: patch },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
    );
  }

  /**
   * Deletes the pod; true when this call deleted it (or it was already terminating). With
   * `resourceVersion` the API server deletes it only if it has not changed since: false, and the
   * pod stays, when it has (a claim relabelled it meanwhile). False when it is already gone.
   */
  async deletePod(name: string, opts: { resourceVersion?: string } = {}): Promise<boolean> {
    const preconditions = opts.resourceVersion ? { resourceVersion: opts.resourceVersion } : undefined;
    try {
      await this.retrying(() =>
        this.core.deleteNamespacedPod({
          name,
          namespace: this.namespace,
          gracePeriodSeconds: 1,
          ...(preconditions ? { body: { preconditions } } : {}),
        }),
      );
      return true;
    } catch (error) {
      const status = statusOf(error);
      if (status === 404 || (status === 409 && preconditions)) return false;
      throw this.failure(`delete pod ${name}`, error);
    }
  }

  /** A failed pod as the error the thread shows; with the container's last output when that helps. */
  async podFailure(name: string, failure: { message: string; showLog?: boolean }): Promise<AirlockError> {
    const tail = failure.showLog ? (await this.logTail(name, 20)).trim() : '';
    const output = tail ? ` Its last output:\n${tail.slice(-2000)}` : '';
    return new AirlockError('sandbox_failed', `${failure.message}${output}`);
  }

  async logTail(name: string, lines: number): Promise<string> {
    try {
      return await this.core.readNamespacedPodLog({ name, namespace: this.namespace, tailLines: lines });
    } catch {
      return ''; // Only ever an addition to a failure message.
    }
  }

  /**
   * Reads the pod and then follows its watch events until `decide` returns a value (or throws),
   * or until the timeout; `onTimeout` gives the error then. Without events it looks again every
   * `recheckMs`, for decisions that depend on time.
   */
  async waitForPod<T>(
    name: string,
    decide: (pod: V1Pod | undefined) => T | undefined,
    timeoutMs: number,
    onTimeout: (pod: V1Pod | undefined) => Error,
    recheckMs = 30_000,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let pod = await this.getPod(name);
    for (;;) {
      const decided = decide(pod);
      if (decided !== undefined) return decided;
      if (Date.now() >= deadline) throw onTimeout(pod);
      pod = await this.nextVersion(name, pod, Math.min(deadline - Date.now(), recheckMs));
    }
  }

  /** The pod after its next change, or as it is when nothing changed within `ms`. */
  private async nextVersion(name: string, pod: V1Pod | undefined, ms: number): Promise<V1Pod | undefined> {
    let latest = pod;
    let controller: AbortController | undefined;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      const finish = () => {
        clearTimeout(timer);
        resolve();
      };
      this.watcher
        .watch(
          `/api/v1/namespaces/${this.namespace}/pods`,
          {
            fieldSelector: `metadata.name=${name}`,
            resourceVersion: pod?.metadata?.resourceVersion,
            allowWatchBookmarks: false,
          },
          (type, obj: V1Pod) => {
            latest = type === 'DELETED' ? undefined : obj;
            finish();
          },
          () => finish(),
        )
        .then((c) => {
          controller = c;
        })
        .catch(() => finish());
    });
    controller?.abort();
    // A watch that ended early (expired resourceVersion, a dropped stream) is answered by reading again.
    return latest === pod ? await this.getPod(name) : latest;
  }

  /** SelfSubjectAccessReview: may airlock's identity do `verb` on `resource` in the sandbox namespace? */
  async canI(verb: string, resource: string, subresource?: string): Promise<boolean> {
    const review = await this.call('check permissions', () =>
      this.retrying(() =>
        this.authz.createSelfSubjectAccessReview({
          body: {
            apiVersion: 'authorization.k8s.io/v1',
            kind: 'SelfSubjectAccessReview',
            spec: {
              resourceAttributes: { namespace: this.namespace, verb, resource, subresource, group: '' },
            },
          },
        }),
      ),
    );
    return review.status?.allowed === true;
  }

  /**
   * Asks again, with backoff, when the API server is busy or briefly unreachable. Only for calls
   * that are safe to repeat (reads, deletes, access reviews): a repeated create or claim could
   * succeed twice.
   */
  private retrying<T>(fn: () => Promise<T>): Promise<T> {
    return pRetry(
      async () => {
        try {
          return await fn();
        } catch (error) {
          const status = statusOf(error);
          if (status !== undefined && !TRANSIENT.has(status)) throw new AbortError(error as Error);
          throw error;
        }
      },
      { retries: this.retries, minTimeout: 250, factor: 2, maxTimeout: 4000 },
    );
  }

  private async call<T>(action: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw this.failure(action, error);
    }
  }

  failure(action: string, error: unknown): AirlockError {
    const status = statusOf(error);
    const detail = detailOf(error);
    if (status === 403 && /exceeded quota/i.test(detail)) {
      return new AirlockError(
        'sandbox_failed',
        `The sandbox namespace ${this.namespace} is at its ResourceQuota (${detail}). Wait for running ` +
          'runs to finish, lower limits.concurrent_runs or sandbox.warm_pool, or raise the quota.',
        { cause: error },
      );
    }
    if (status === 403) {
      return new AirlockError(
        'sandbox_failed',
        `Kubernetes refused to let airlock ${action} in namespace ${this.namespace} (${detail}). ` +
          'Apply the Role in manifests/ and run `airlock doctor` to see which permission is missing.',
        { cause: error },
      );
    }
    if (status === undefined) {
      return new AirlockError(
        'sandbox_failed',
        `Kubernetes API at ${this.server} is unreachable (${detail}); could not ${action}.`,
        { cause: error },
      );
    }
    return new AirlockError('sandbox_failed', `Kubernetes: could not ${action}: ${detail}`, { cause: error });
  }
}

export function statusOf(error: unknown): number | undefined {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

/** The API server's Status message when there is one; the error's own message otherwise. */
function detailOf(error: unknown): string {
  const body = (error as { body?: unknown })?.body;
  const parsed = typeof body === 'string' ? safeJson(body) : body;
  const message = (parsed as { message?: unknown })?.message;
  if (typeof message === 'string') return message;
  const cause = (error as { cause?: { code?: string } })?.cause?.code;
  return cause ?? (error instanceof Error ? error.message.split('\n')[0] : String(error)) ?? 'unknown error';
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
