import { limitsFor, type Policy, repoPolicy } from '../../config/policy.js';

export const MANAGED_BY = 'airlock';
export const RUN_ID_LABEL = 'airlock.dev/run-id';
export const SANDBOX_UID = 65532;

/**
 * The pod airlock creates for a run (DESIGN.md §4): Pod Security Standard "restricted" (non-root,
 * no privilege escalation, every capability dropped, seccomp RuntimeDefault, read-only root with
 * writable emptyDirs), no service account token, no secret, no environment from the controller,
 * bounded CPU, memory, ephemeral storage and lifetime. The same function feeds the Kubernetes
 * backend and `airlock sandbox pod-spec`, so what a security team reviews is what runs.
 */
export function sandboxPod(policy: Policy, repo: string, runId: string): Record<string, unknown> {
  const spec = { ...policy.sandbox, ...repoPolicy(policy, repo).sandbox };
  const limits = limitsFor(policy, repo);
  const resources = { cpu: spec.cpu, memory: spec.memory, 'ephemeral-storage': spec.ephemeral_storage };
  const emptyDir = (sizeLimit: string) => ({ emptyDir: { sizeLimit } });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: `airlock-run-${runId}`,
      namespace: policy.sandbox.namespace,
      labels: {
        'app.kubernetes.io/managed-by': MANAGED_BY,
        'app.kubernetes.io/name': 'airlock-sandbox',
        [RUN_ID_LABEL]: runId,
      },
      annotations: { 'airlock.dev/repo': repo },
    },
    spec: {
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      restartPolicy: 'Never',
      // The run's time limit plus room for setup and taking the diff; the pod ends itself after.
      activeDeadlineSeconds: Math.ceil(limits.max_minutes * 60) + 900,
      terminationGracePeriodSeconds: 5,
      ...(spec.runtime_class ? { runtimeClassName: spec.runtime_class } : {}),
      ...(spec.node_selector ? { nodeSelector: spec.node_selector } : {}),
      ...(spec.tolerations ? { tolerations: spec.tolerations } : {}),
      securityContext: {
        runAsNonRoot: true,
        runAsUser: SANDBOX_UID,
        runAsGroup: SANDBOX_UID,
        fsGroup: SANDBOX_UID,
        seccompProfile: { type: 'RuntimeDefault' },
      },
      containers: [
        {
          name: 'sandbox',
          image: spec.image,
          imagePullPolicy: 'IfNotPresent',
          // Idle until airlock execs commands into it.
          command: ['/bin/sh', '-c', 'trap "exit 0" TERM; while :; do sleep 3600 & wait $!; done'],
          workingDir: '/workspace',
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
            { name: 'workspace', mountPath: '/workspace' },
            { name: 'tmp', mountPath: '/tmp' },
            { name: 'home', mountPath: '/home/airlock' },
          ],
        },
      ],
      volumes: [
        { name: 'workspace', ...emptyDir(spec.ephemeral_storage) },
        { name: 'tmp', ...emptyDir('1Gi') },
        { name: 'home', ...emptyDir('1Gi') },
      ],
    },
  };
}
