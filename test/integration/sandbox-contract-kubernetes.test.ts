import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { expect } from 'vitest';
import { parsePolicy } from '../../src/config/policy.js';
import { KubeApi } from '../../src/sandbox/kubernetes/kube-api.js';
import { KubernetesSandboxes } from '../../src/sandbox/kubernetes/kubernetes-sandboxes.js';
import { sandboxContract } from '../contract/sandbox-contract.js';
import { startFakeKubernetes } from '../fakes/kubernetes/index.js';

const NS = 'airlock-sandboxes';
const POLICY = parsePolicy('repos:\n  acme/widgets: {}\n');

/** The Kubernetes backend against the API stand-in, through the real @kubernetes/client-node. */
function kubernetesBackend(execProtocols?: string[]) {
  return async () => {
    const kube = await startFakeKubernetes({ execProtocols });
    const dir = mkdtempSync(join(tmpdir(), 'airlock-contract-k8s-'));
    kube.writeKubeconfig(join(dir, 'kubeconfig'));
    const open = () => {
      const kc = new KubeConfig();
      kc.loadFromFile(join(dir, 'kubeconfig'));
      return new KubernetesSandboxes(new KubeApi(kc, NS), POLICY, {
        logger: pino({ level: 'silent' }),
        isRunActive: () => true,
        startTimeoutMs: 10_000,
      });
    };
    return {
      provider: open(),
      reopen: open,
      close: async () => {
        try {
          // The stand-in answers 500 only when it crashed (no faults are injected here).
          expect(kube.requests.filter((r) => r.status >= 500)).toEqual([]);
        } finally {
          await kube.close();
          rmSync(dir, { recursive: true, force: true });
        }
      },
    };
  };
}

sandboxContract('kubernetes', kubernetesBackend(), {
  traits: { noNetwork: true, stdinEnds: true },
});

// Clusters without v5.channel.k8s.io exec over v4, which cannot close stdin without closing the
// whole stream (src/sandbox/kubernetes/pod-exec.ts): a command never sees the end of its input.
sandboxContract('kubernetes, exec over v4.channel.k8s.io', kubernetesBackend(['v4.channel.k8s.io']), {
  traits: { noNetwork: true, stdinEnds: false },
});
