import { ApiException, KubeConfig } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { KubeApi } from '../../src/sandbox/kubernetes/kube-api.js';

function api(): KubeApi {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://10.0.0.1:6443', skipTLSVerify: false }],
    users: [{ name: 'u', token: 'not-used' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return new KubeApi(kc, 'airlock-sandboxes');
}

const status = (code: number, message: string) =>
  new ApiException(code, 'Forbidden', JSON.stringify({ kind: 'Status', code, message }), {});

describe('Kubernetes failures, in words a person can act on', () => {
  it('a 403 from RBAC points at the Role and airlock doctor', () => {
    const e = api().failure(
      'create a sandbox pod',
      status(
        403,
        'pods is forbidden: User "system:serviceaccount:airlock:airlock" cannot create resource "pods"',
      ),
    );
    expect(e.message).toMatch(/refused to let airlock create a sandbox pod in namespace airlock-sandboxes/);
    expect(e.message).toMatch(/cannot create resource "pods".*airlock doctor/);
  });

  it('a 403 from an exhausted ResourceQuota says so instead of blaming the Role', () => {
    const e = api().failure(
      'create a sandbox pod',
      status(
        403,
        'pods "airlock-run-x" is forbidden: exceeded quota: sandboxes, requested: cpu=2, used: cpu=20, limited: cpu=20',
      ),
    );
    expect(e.message).toMatch(/at its ResourceQuota.*limits\.concurrent_runs or sandbox\.warm_pool/);
    expect(e.message).not.toMatch(/Role/);
  });

  it('a connection failure names the API server', () => {
    const refused = Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    expect(api().failure('list sandbox pods', refused).message).toBe(
      'Kubernetes API at https://10.0.0.1:6443 is unreachable (ECONNREFUSED); could not list sandbox pods.',
    );
  });
});
