import { afterEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parsePolicy } from '../../src/config/policy.js';
import {
  sandboxPod,
  TEMPLATE_LABEL,
  templateFor,
  WARM_POD_DEADLINE_SECONDS,
  warmPod,
} from '../../src/sandbox/kubernetes/pod-spec.js';
import { restrictedViolations } from '../fakes/kubernetes/pod-security.js';
import { runCli } from '../support/run-cli.js';
import { scratchConfig } from '../support/workspace.js';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are checked field by field below
type Json = Record<string, any>;

const POLICY = parsePolicy(`
repos:
  acme/widgets: {}
  acme/deps:
    sandbox: { egress: [package-mirror] }
  acme/ml:
    sandbox: { image: ghcr.io/acme/ml:1, cpu: "8", memory: 32Gi, runtime_class: gvisor, node_selector: { pool: sandbox }, tolerations: [{ key: sandbox, operator: Exists, effect: NoSchedule }] }
limits: { max_minutes: 30 }
`);

describe('the sandbox pod', () => {
  it('meets the restricted Pod Security Standard', () => {
    expect(restrictedViolations(sandboxPod(POLICY, 'acme/widgets', 'r1'))).toEqual([]);
  });

  it('carries no credential: no service account token, no secret, no env from the controller', () => {
    const pod = sandboxPod(POLICY, 'acme/widgets', 'r1') as Json;
    expect(pod.spec.automountServiceAccountToken).toBe(false);
    expect(pod.spec.enableServiceLinks).toBe(false);
    const text = JSON.stringify(pod);
    expect(text).not.toMatch(/secret|envFrom|valueFrom|serviceAccountName/i);
    expect(pod.spec.containers[0].env.map((e: Json) => e.name)).toEqual([
      'HOME',
      'TMPDIR',
      'LANG',
      'CI',
      'GIT_TERMINAL_PROMPT',
    ]);
  });

  it('is bounded: CPU, memory and ephemeral storage requests and limits, a deadline, a read-only root', () => {
    const pod = sandboxPod(POLICY, 'acme/widgets', 'r1') as Json;
    const c = pod.spec.containers[0];
    for (const k of ['requests', 'limits'])
      expect(c.resources[k]).toEqual({ cpu: '2', memory: '4Gi', 'ephemeral-storage': '10Gi' });
    expect(pod.spec.activeDeadlineSeconds).toBe(30 * 60 + 900);
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(pod.metadata.labels).toMatchObject({
      'app.kubernetes.io/managed-by': 'airlock',
      'airlock.dev/run-id': 'r1',
    });
  });

  it('takes image, resources, runtime class, node selector and tolerations per repository', () => {
    const pod = sandboxPod(POLICY, 'acme/ml', 'r2') as Json;
    expect(pod.spec).toMatchObject({
      runtimeClassName: 'gvisor',
      nodeSelector: { pool: 'sandbox' },
      tolerations: [{ key: 'sandbox', operator: 'Exists', effect: 'NoSchedule' }],
    });
    expect(pod.spec.containers[0]).toMatchObject({
      image: 'ghcr.io/acme/ml:1',
      resources: { limits: { cpu: '8', memory: '32Gi' } },
    });
    expect(restrictedViolations(pod)).toEqual([]);
  });

  it('a restricted-check that cannot fail proves nothing: it catches a privileged container', () => {
    const pod = sandboxPod(POLICY, 'acme/widgets', 'r1') as Json;
    pod.spec.containers[0].securityContext = { privileged: true };
    expect(restrictedViolations(pod)).toEqual([
      'sandbox: privileged',
      'sandbox: allowPrivilegeEscalation must be false',
      'sandbox: must drop ALL capabilities',
    ]);
  });
});

describe('named egress', () => {
  it('labels the pods of a repository that lists it, for an operator-written NetworkPolicy to select', () => {
    const pod = sandboxPod(POLICY, 'acme/deps', 'r3') as Json;
    expect(pod.metadata.labels['egress.airlock.dev/package-mirror']).toBe('allow');
    expect(restrictedViolations(pod)).toEqual([]);
    const plain = sandboxPod(POLICY, 'acme/widgets', 'r4') as Json;
    expect(Object.keys(plain.metadata.labels).filter((k) => k.startsWith('egress.'))).toEqual([]);
    // Such a run never claims a generic warm pod, which has no such label.
    expect(templateFor(POLICY, 'acme/deps')).not.toBe(templateFor(POLICY, 'acme/widgets'));
  });

  it('refuses a name that cannot be a label key, naming the key', () => {
    expect(() => parsePolicy('repos:\n  a/b:\n    sandbox: { egress: [Package_Mirror] }\n')).toThrow(
      /repos\.a\/b\.sandbox\.egress\.0: expected a DNS label/,
    );
  });
});

describe('the warm pool pod', () => {
  it('is the default sandbox, restricted, not yet bound to a run or a repository', () => {
    const pod = warmPod(POLICY) as Json;
    expect(restrictedViolations(pod)).toEqual([]);
    expect(pod.metadata.generateName).toBe('airlock-warm-');
    expect(pod.metadata.labels).toMatchObject({ 'airlock.dev/pool': 'warm' });
    expect(pod.metadata.labels['airlock.dev/run-id']).toBeUndefined();
    expect(pod.metadata.annotations).toBeUndefined();
    expect(pod.spec.activeDeadlineSeconds).toBe(WARM_POD_DEADLINE_SECONDS);
  });

  it('matches by template only the repositories whose pod would be the same', () => {
    const warm = (warmPod(POLICY) as Json).metadata.labels[TEMPLATE_LABEL];
    expect(templateFor(POLICY, 'acme/widgets')).toBe(warm);
    expect((sandboxPod(POLICY, 'acme/widgets', 'r1') as Json).metadata.labels[TEMPLATE_LABEL]).toBe(warm);
    expect(templateFor(POLICY, 'acme/ml')).not.toBe(warm);
  });
});

describe('airlock sandbox pod-spec', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it('prints the pod as YAML without a cluster', async () => {
    const scratch = scratchConfig('repos:\n  acme/widgets:\n    sandbox: { runtime_class: gvisor }\n');
    cleanups.push(scratch.cleanup);
    const r = await runCli(['sandbox', 'pod-spec', '--repo', 'acme/widgets'], {
      AIRLOCK_CONFIG: scratch.config,
      AIRLOCK_DATA_DIR: scratch.dataDir,
    });
    expect(r.code).toBe(0);
    const pod = parse(r.stdout) as Json;
    expect(pod).toMatchObject({
      kind: 'Pod',
      metadata: { namespace: 'airlock-sandboxes' },
      spec: { runtimeClassName: 'gvisor' },
    });
    expect(restrictedViolations(pod)).toEqual([]);
  });
});
