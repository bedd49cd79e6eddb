import { createHash } from 'node:crypto';
import { limitsFor, type Policy, repoPolicy } from '../../config/policy.js';

export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'airlock';
export const RUN_ID_LABEL = 'airlock.dev/run-id';
/** On pods of the warm pool until a run claims one. */
export const POOL_LABEL = 'airlock.dev/pool';
/** A hash of the pod template, so a run only claims a warm pod built the way its own would be. */
export const TEMPLATE_LABEL = 'airlock.dev/template';
export const REPO_ANNOTATION = 'airlock.dev/repo';
/** `egress.airlock.dev/<name>: allow` for each of the policy's `sandbox.egress` names. */
export const EGRESS_LABEL_PREFIX = 'egress.airlock.dev/';
export const SANDBOX_CONTAINER = 'sandbox';
/**
 * A read-only run's second container (ask, review): the only one that mounts the workspace
 * writable, for airlock's own work (the snapshot, setup, reading the diff). The agent's commands
 * run in SANDBOX_CONTAINER, where the workspace is mounted read-only.
 */
export const LOADER_CONTAINER = 'loader';
export const SANDBOX_WORKDIR = '/workspace';
export const SANDBOX_UID = 65532;
/** A warm pod that waits this long unclaimed ends itself; the pool replaces it. */
export const WARM_POD_DEADLINE_SECONDS = 24 * 3600;
/**
 * A prepared sandbox's pod (DESIGN.md §4, Prepared sandboxes) lives this long unclaimed; a run that
 * adopts it shortens the deadline to its own. One older than this has ended and starts its run cold.
 */
export const PREPARED_POD_DEADLINE_SECONDS = 24 * 3600;

type Pod = Record<string, unknown> & { metadata: Record<string, unknown>; spec: Record<string, unknown> };
type SandboxSettings = Policy['sandbox'];

/** The run's time limit plus room for setup and taking the diff; the pod ends itself after. */
export function runDeadlineSeconds(policy: Policy, repo: string): number {
  return Math.ceil(limitsFor(policy, repo).max_minutes * 60) + 900;
}

/**
 * The name of the pod a run starts itself (a claimed warm pod keeps its own). One name per run, so
 * the API server never holds two such pods for it; a run is found by its label, not by this name.
 */
export function runPodName(runId: string): string {
  return `airlock-run-${runId}`;
}

/**
 * The pod airlock creates for a run (DESIGN.md §4), or for a prepared sandbox (then with a longer
 * deadline, which the run that adopts it shortens): Pod Security Standard "restricted" (non-root,
 * no privilege escalation, every capability dropped, seccomp RuntimeDefault, read-only root with
 * writable emptyDirs), no service account token, no secret, no environment from the controller,
 * bounded CPU, memory, ephemeral storage and lifetime. The same function feeds the Kubernetes
 * backend and `airlock sandbox pod-spec`, so what a security team reviews is what runs.
 */
export function sandboxPod(
  policy: Policy,
  repo: string,
  runId: string,
  deadlineSeconds = runDeadlineSeconds(policy, repo),
  opts: { readOnly?: boolean } = {},
): Pod {
  const settings = { ...policy.sandbox, ...repoPolicy(policy, repo).sandbox };
  const spec = podSpec(settings, deadlineSeconds, opts.readOnly === true);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: runPodName(runId),
      namespace: policy.sandbox.namespace,
      labels: { ...commonLabels(spec, settings), [RUN_ID_LABEL]: runId },
      annotations: { [REPO_ANNOTATION]: repo },
    },
    spec,
  };
}

/** A generic pod of the warm pool: the policy's default sandbox, not yet bound to a run. */
export function warmPod(policy: Policy): Pod {
  const spec = podSpec(policy.sandbox, WARM_POD_DEADLINE_SECONDS);
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'airlock-warm-',
      namespace: policy.sandbox.namespace,
      labels: { ...commonLabels(spec, policy.sandbox), [POOL_LABEL]: 'warm' },
    },
    spec,
  };
}

/** The template hash a run of `repo` needs from a warm pod. */
export function templateFor(policy: Policy, repo: string): string {
  const settings = { ...policy.sandbox, ...repoPolicy(policy, repo).sandbox };
  return templateHash(podSpec(settings, 0), egressOf(settings));
}

function egressOf(settings: { egress?: string[] }): string[] {
  return [...new Set(settings.egress ?? [])].sort();
}

function commonLabels(
  spec: Record<string, unknown>,
  settings: { egress?: string[] },
): Record<string, string> {
  const egress = egressOf(settings);
  return {
    [MANAGED_BY_LABEL]: MANAGED_BY,
    'app.kubernetes.io/name': 'airlock-sandbox',
    [TEMPLATE_LABEL]: templateHash(spec, egress),
    ...Object.fromEntries(egress.map((name) => [`${EGRESS_LABEL_PREFIX}${name}`, 'allow'])),
  };
}

/** Everything that shapes the pod (its network included) except its deadline, which a claim shortens. */
function templateHash(spec: Record<string, unknown>, egress: string[]): string {
  const { activeDeadlineSeconds: _ignored, ...rest } = spec;
  return createHash('sha256')
    .update(JSON.stringify({ ...rest, egress }))
    .digest('hex')
    .slice(0, 16);
}

function podSpec(
  settings: SandboxSettings,
  deadlineSeconds: number,
  readOnly = false,
): Record<string, unknown> {
  const resources = {
    cpu: settings.cpu,
    memory: settings.memory,
    'ephemeral-storage': settings.ephemeral_storage,
  };
  const emptyDir = (sizeLimit: string) => ({ emptyDir: { sizeLimit } });
  const sandbox = {
    name: SANDBOX_CONTAINER,
    image: settings.image,
    imagePullPolicy: 'IfNotPresent',
    // Idle until airlock execs commands into it.
    command: ['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 3600 & wait $!; done'],
    workingDir: SANDBOX_WORKDIR,
    env: [
      { name: 'HOME', value: '/home/airlock' },
      { name: 'TMPDIR', value: '/tmp' },
      { name: 'LANG', value: 'C.UTF-8' },
      { name: 'CI', value: '1' },
      { name: 'GIT_TERMINAL_PROMPT', value: '0' },
    ],
    resources: { requests: resources, limits: resources },
    securityContext: {
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      runAsUser: SANDBOX_UID,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: 'workspace', mountPath: SANDBOX_WORKDIR },
      { name: 'tmp', mountPath: '/tmp' },
      { name: 'home', mountPath: '/home/airlock' },
    ],
  };
  return {
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    restartPolicy: 'Never',
    activeDeadlineSeconds: deadlineSeconds,
    terminationGracePeriodSeconds: 5,
    ...(settings.runtime_class ? { runtimeClassName: settings.runtime_class } : {}),
    ...(settings.node_selector ? { nodeSelector: settings.node_selector } : {}),
    ...(settings.tolerations ? { tolerations: settings.tolerations } : {}),
    securityContext: {
      runAsNonRoot: true,
      runAsUser: SANDBOX_UID,
      runAsGroup: SANDBOX_UID,
      fsGroup: SANDBOX_UID,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    containers: readOnly ? readOnlyContainers(sandbox) : [sandbox],
    volumes: [
      { name: 'workspace', ...emptyDir(settings.ephemeral_storage) },
      { name: 'tmp', ...emptyDir('1Gi') },
      { name: 'home', ...emptyDir('1Gi') },
    ],
  };
}

/**
 * A read-only run's containers: the agent's, with the workspace mounted read-only, and the loader,
 * the same image idle with the workspace writable, for airlock's own execs. The loader asks for
 * little (it unpacks and diffs); both may use up to the run's limits.
 */
function readOnlyContainers(sandbox: Record<string, unknown>): Array<Record<string, unknown>> {
  const mounts = sandbox.volumeMounts as Array<Record<string, unknown>>;
  const resources = sandbox.resources as { limits: Record<string, string> };
  return [
    { ...sandbox, volumeMounts: mounts.map((m) => (m.name === 'workspace' ? { ...m, readOnly: true } : m)) },
    {
      ...sandbox,
      name: LOADER_CONTAINER,
      resources: { requests: { cpu: '100m', memory: '256Mi' }, limits: resources.limits },
    },
  ];
}
