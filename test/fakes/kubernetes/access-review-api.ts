// POST /apis/authorization.k8s.io/v1/selfsubjectaccessreviews: "may I?", answered by the same RBAC
// evaluation that guards every request.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SelfSubjectAccessReview } from 'kubernetes-models/authorization.k8s.io/v1';
import type { Cluster } from './context.js';
import { objectBody } from './http-util.js';
import { allowedBy, nonResourceAllowed } from './rbac.js';
import { invalid, methodNotAllowed, sendJson } from './status.js';
import type { GroupResource } from './types.js';
import { checkSchema } from './validation.js';

const SSAR: GroupResource = { group: 'authorization.k8s.io', resource: 'selfsubjectaccessreviews' };
const KIND = 'SelfSubjectAccessReview';

export async function accessReviewApi(c: Cluster, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'POST') throw methodNotAllowed();
  const review = await objectBody(req, 'authorization.k8s.io/v1', KIND);
  checkSchema(KIND, SSAR, '', review, () => new SelfSubjectAccessReview(review as never).validate());
  const spec = review.spec ?? {};
  const ra = spec.resourceAttributes;
  const nra = spec.nonResourceAttributes;
  if (!ra === !nra)
    throw invalid(KIND, SSAR, '', [
      {
        field: 'spec.resourceAttributes',
        type: 'Invalid',
        value: 'null',
        detail: 'exactly one of nonResourceAttributes or resourceAttributes must be specified',
      },
    ]);
  let reason: string | null = null;
  if (ra)
    reason = allowedBy(c.rules, {
      verb: ra.verb ?? '',
      group: ra.group ?? '',
      resource: ra.resource ?? '',
      subresource: ra.subresource ?? '',
      namespace: ra.namespace ?? '',
      name: ra.name ?? '',
    });
  else if (nonResourceAllowed(nra.verb ?? '', nra.path ?? ''))
    reason =
      'RBAC: allowed by ClusterRoleBinding "system:discovery" of ClusterRole "system:discovery" to Group "system:authenticated"';
  sendJson(res, 201, {
    kind: KIND,
    apiVersion: 'authorization.k8s.io/v1',
    metadata: { creationTimestamp: null },
    spec,
    status: reason ? { allowed: true, reason } : { allowed: false },
  });
}
