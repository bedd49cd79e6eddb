// Writes to pods: create (admission, defaults, validation), patch and update (preconditions and
// the pod update rules), delete (graceful: deletionTimestamp, kill, then gone).
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { Pod } from 'kubernetes-models/v1';
import { mutatingAdmission, validatingAdmission } from './admission.js';
import type { Cluster } from './context.js';
import { bodyOf, intParam, isDryRun, mediaType, objectBody } from './http-util.js';
import { dns1123Subdomain, generateSuffix } from './names.js';
import { applyPatch, PATCH_TYPES } from './patch.js';
import { qosClass } from './pod-defaults.js';
import { ApiError, alreadyExists, badRequest, conflict, notFound } from './status.js';
import { canonical, deepCopy, type KubeObject, now, PODS } from './types.js';
import { checkSchema, metadataErrors, podSpecErrors, podUpdateErrors, rejectInvalid } from './validation.js';

/**
 * How long a real kubelet takes to confirm that a deleted pod's containers stopped (its PLEG relist
 * runs every second); until then the object stays, so its name is still taken.
 */
const KUBELET_CONFIRM_MS = 1000;

const MODIFIED =
  'the object has been modified; please apply your changes to the latest version and try again';

/** Decoding a body into a v1 Pod: wrong JSON types are a 400 before anything else runs. */
const decodePod = (pod: KubeObject) =>
  checkSchema('Pod', PODS, pod.metadata?.name ?? '', pod, () => new Pod(pod as never).validate(), true);

function validatePod(pod: KubeObject, extra: ReturnType<typeof podSpecErrors> = []): void {
  const name = pod.metadata.name ?? '';
  checkSchema('Pod', PODS, name, pod, () => new Pod(pod as never).validate());
  rejectInvalid('Pod', PODS, name, [
    ...metadataErrors(pod.metadata, dns1123Subdomain),
    ...podSpecErrors(pod.spec),
    ...extra,
  ]);
}

export async function createPod(
  c: Cluster,
  req: IncomingMessage,
  url: URL,
  ns: string,
): Promise<[number, KubeObject]> {
  const pod = await objectBody(req, 'v1', 'Pod');
  const meta = pod.metadata;
  if (meta.namespace !== undefined && meta.namespace !== ns)
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  const dryRun = isDryRun(url);
  if (!meta.name && meta.generateName) meta.name = `${meta.generateName}${generateSuffix()}`;
  for (const k of [
    'uid',
    'resourceVersion',
    'creationTimestamp',
    'deletionTimestamp',
    'deletionGracePeriodSeconds',
  ])
    delete meta[k];
  meta.namespace = ns;
  decodePod(pod);
  // A create's status is the server's to set (PrepareForCreate drops what the client sent).
  delete pod.status;
  pod.spec ??= {};
  mutatingAdmission(c, ns, pod);
  validatePod(pod);
  validatingAdmission(c, ns, pod);
  if (c.store.get('pods', ns, meta.name)) throw alreadyExists(PODS, meta.name);
  meta.uid = randomUUID();
  meta.creationTimestamp = now();
  pod.status = { phase: 'Pending', qosClass: qosClass(pod) };
  const { apiVersion: _a, kind: _k, ...rest } = pod;
  if (dryRun) return [201, rest];
  const stored = c.store.create('pods', rest);
  c.kubelet.created(stored);
  return [201, stored];
}

/** Checks and stores `next` as the new state of `old`; status and server-set metadata are kept. */
function commitUpdate(c: Cluster, old: KubeObject, next: KubeObject, dryRun: boolean): KubeObject {
  const { name, namespace } = old.metadata;
  const m = next.metadata ?? {};
  if (m.name !== name)
    throw badRequest(`the name of the object (${m.name}) does not match the name on the URL (${name})`);
  if (m.namespace !== undefined && m.namespace !== namespace)
    throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
  if (
    m.resourceVersion !== undefined &&
    m.resourceVersion !== null &&
    m.resourceVersion !== old.metadata.resourceVersion
  )
    throw conflict(PODS, name, MODIFIED);
  if (m.uid !== undefined && m.uid !== old.metadata.uid)
    throw conflict(
      PODS,
      name,
      `Precondition failed: UID in precondition: ${m.uid}, UID in object meta: ${old.metadata.uid}`,
    );
  decodePod(next);
  const { apiVersion: _a, kind: _k, ...pod } = next;
  pod.metadata = {
    ...m,
    namespace,
    uid: old.metadata.uid,
    creationTimestamp: old.metadata.creationTimestamp,
    resourceVersion: old.metadata.resourceVersion,
    ...(old.metadata.deletionTimestamp
      ? {
          deletionTimestamp: old.metadata.deletionTimestamp,
          deletionGracePeriodSeconds: old.metadata.deletionGracePeriodSeconds,
        }
      : {}),
  };
  pod.status = deepCopy(old.status);
  validatePod(pod, podUpdateErrors(old, pod));
  if (canonical(pod) === canonical(old) || dryRun) return pod;
  const stored = c.store.update('pods', pod);
  c.kubelet.specChanged(namespace, name);
  return stored;
}

function existing(c: Cluster, ns: string, name: string): KubeObject {
  const pod = c.store.get('pods', ns, name);
  if (!pod) throw notFound(PODS, name);
  return pod;
}

export async function patchPod(
  c: Cluster,
  req: IncomingMessage,
  url: URL,
  ns: string,
  name: string,
): Promise<KubeObject> {
  const raw = await bodyOf(req, PATCH_TYPES);
  const dryRun = isDryRun(url);
  const old = existing(c, ns, name);
  return commitUpdate(c, old, applyPatch(mediaType(req), deepCopy(old), raw), dryRun);
}

export async function replacePod(
  c: Cluster,
  req: IncomingMessage,
  url: URL,
  ns: string,
  name: string,
): Promise<KubeObject> {
  const next = await objectBody(req, 'v1', 'Pod');
  const dryRun = isDryRun(url);
  return commitUpdate(c, existing(c, ns, name), next, dryRun);
}

export async function deletePod(
  c: Cluster,
  req: IncomingMessage,
  url: URL,
  ns: string,
  name: string,
): Promise<KubeObject> {
  const raw = await bodyOf(req, ['application/json', '']);
  let opts: KubeObject = {};
  try {
    opts = raw.trim() ? JSON.parse(raw) : {};
  } catch {
    throw badRequest('error decoding DeleteOptions');
  }
  const dryRun = isDryRun(url);
  const pod = existing(c, ns, name);
  const pre = opts.preconditions ?? {};
  if (pre.uid && pre.uid !== pod.metadata.uid)
    throw conflict(
      PODS,
      name,
      `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${pod.metadata.uid}`,
    );
  if (pre.resourceVersion && pre.resourceVersion !== pod.metadata.resourceVersion)
    throw conflict(
      PODS,
      name,
      `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${pod.metadata.resourceVersion}`,
    );
  if (pod.metadata.deletionTimestamp) return pod;
  let grace =
    intParam(url, 'gracePeriodSeconds') ??
    opts.gracePeriodSeconds ??
    pod.spec.terminationGracePeriodSeconds ??
    30;
  // Unscheduled and finished pods have nothing for a kubelet to stop: they go at once.
  if (!pod.spec.nodeName || ['Succeeded', 'Failed'].includes(pod.status?.phase)) grace = 0;
  if (grace < 0) throw new ApiError(422, 'Invalid', 'gracePeriodSeconds: Invalid value: must be >= 0');
  const marked = deepCopy(pod);
  marked.metadata.deletionTimestamp = new Date(Date.now() + grace * 1000)
    .toISOString()
    .replace(/\.\d+Z$/, 'Z');
  marked.metadata.deletionGracePeriodSeconds = grace;
  if (dryRun) return marked;
  c.kubelet.deleting(ns, name);
  const remove = () => {
    c.store.delete('pods', ns, name);
    void c.kubelet.removed(ns, name);
  };
  if (grace === 0) {
    remove();
    return marked;
  }
  const stored = c.store.update('pods', marked);
  // The kubelet kills at once, but the object stays (deletionTimestamp set; a create of the same name
  // gets 409 AlreadyExists) until the kubelet confirms, and never past the grace period.
  const t = setTimeout(
    () => {
      c.timers.delete(t);
      remove();
    },
    Math.min(grace * 1000, KUBELET_CONFIRM_MS),
  );
  c.timers.add(t);
  return stored;
}
