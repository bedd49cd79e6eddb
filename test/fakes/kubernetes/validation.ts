// Object validation: the published OpenAPI schema (via kubernetes-models) for shape, plus the
// semantic checks of pkg/apis/core/validation the schema cannot express.
import { annotationErrors, dns1123Label, dns1123Subdomain, labelErrors } from './names.js';
import { parseQuantity } from './scheduler.js';
import { ApiError, badRequest, type FieldError, invalid } from './status.js';
import { canonical, type GroupResource, type KubeObject } from './types.js';

interface SchemaIssue {
  instancePath: string;
  keyword: string;
  message?: string;
  params: { missingProperty?: string; allowedValues?: unknown[] };
}

const fieldPath = (instancePath: string) =>
  instancePath
    .split('/')
    .filter(Boolean)
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
    .reduce((acc, s) => (/^\d+$/.test(s) ? `${acc}[${s}]` : acc ? `${acc}.${s}` : s), '');
const valueAt = (obj: unknown, instancePath: string) =>
  instancePath
    .split('/')
    .filter(Boolean)
    .reduce<unknown>((cur, s) => (cur && typeof cur === 'object' ? (cur as KubeObject)[s] : undefined), obj);

/**
 * Runs a kubernetes-models validate(). Wrong JSON types and malformed quantities fail decoding on a
 * real server (400 BadRequest, before admission); missing required fields and unknown enum values
 * fail validation (422, after mutating admission). `decodeOnly` checks just the former.
 */
export function checkSchema(
  kind: string,
  gr: GroupResource,
  name: string,
  obj: unknown,
  validate: () => void,
  decodeOnly = false,
): void {
  let issues: SchemaIssue[];
  try {
    validate();
    return;
  } catch (err) {
    issues = (err as { errors?: SchemaIssue[] }).errors ?? [
      { instancePath: '', keyword: 'error', params: {}, message: String(err) },
    ];
  }
  const decoding = issues.filter((i) => ['type', 'format', 'oneOf'].includes(i.keyword));
  if (decoding.length) {
    const first = decoding[0] as SchemaIssue;
    const value = JSON.stringify(valueAt(obj, first.instancePath));
    throw badRequest(
      `${kind} in version "${gr.group ? `${gr.group}/` : ''}v1" cannot be handled as a ${kind}: ${fieldPath(first.instancePath)}: ${value} ${first.message}`,
    );
  }
  if (decodeOnly) return;
  throw invalid(
    kind,
    gr,
    name,
    issues.map((i): FieldError => {
      if (i.keyword === 'required')
        return { field: fieldPath(`${i.instancePath}/${i.params.missingProperty}`), type: 'Required' };
      const value = valueAt(obj, i.instancePath);
      if (i.keyword === 'enum')
        return {
          field: fieldPath(i.instancePath),
          type: 'NotSupported',
          value,
          detail: `supported values: ${(i.params.allowedValues ?? []).map((v) => JSON.stringify(v)).join(', ')}`,
        };
      return { field: fieldPath(i.instancePath), type: 'Invalid', value, detail: i.message ?? i.keyword };
    }),
  );
}

/** metadata checks shared by every kind: name syntax, labels, annotations. */
export function metadataErrors(
  meta: KubeObject,
  nameRule: (v: string) => string | undefined = dns1123Subdomain,
): FieldError[] {
  const out: FieldError[] = [];
  if (!meta.name)
    out.push({ field: 'metadata.name', type: 'Required', detail: 'name or generateName is required' });
  else {
    const bad = nameRule(meta.name);
    if (bad) out.push({ field: 'metadata.name', type: 'Invalid', value: meta.name, detail: bad });
  }
  out.push(
    ...labelErrors(meta.labels, 'metadata.labels'),
    ...annotationErrors(meta.annotations, 'metadata.annotations'),
  );
  return out;
}

function containerErrors(
  cs: KubeObject[],
  field: string,
  volumes: Set<string>,
  seen: Set<string>,
): FieldError[] {
  const out: FieldError[] = [];
  cs.forEach((c, i) => {
    const at = `${field}[${i}]`;
    if (!c.name) out.push({ field: `${at}.name`, type: 'Required' });
    else if (seen.has(c.name)) out.push({ field: `${at}.name`, type: 'Duplicate', value: c.name });
    else {
      const bad = dns1123Label(c.name);
      if (bad) out.push({ field: `${at}.name`, type: 'Invalid', value: c.name, detail: bad });
    }
    seen.add(c.name);
    if (!c.image) out.push({ field: `${at}.image`, type: 'Required' });
    const mounts = new Set<string>();
    (c.volumeMounts ?? []).forEach((m: KubeObject, j: number) => {
      const mf = `${at}.volumeMounts[${j}]`;
      if (!volumes.has(m.name)) out.push({ field: `${mf}.name`, type: 'NotFound', value: m.name });
      if (!m.mountPath) out.push({ field: `${mf}.mountPath`, type: 'Required' });
      else if (mounts.has(m.mountPath))
        out.push({ field: `${mf}.mountPath`, type: 'Invalid', value: m.mountPath, detail: 'must be unique' });
      mounts.add(m.mountPath);
    });
    (c.env ?? []).forEach((e: KubeObject, j: number) => {
      if (!e.name) out.push({ field: `${at}.env[${j}].name`, type: 'Required' });
    });
    for (const [r, req] of Object.entries(c.resources?.requests ?? {})) {
      const lim = c.resources?.limits?.[r];
      if (lim !== undefined && parseQuantity(req) > parseQuantity(lim))
        out.push({
          field: `${at}.resources.requests`,
          type: 'Invalid',
          value: req,
          detail: `must be less than or equal to ${r} limit of ${lim}`,
        });
    }
  });
  return out;
}

export function podSpecErrors(spec: KubeObject): FieldError[] {
  const out: FieldError[] = [];
  const volumes = new Set<string>();
  (spec.volumes ?? []).forEach((v: KubeObject, i: number) => {
    const bad = v.name ? dns1123Label(v.name) : undefined;
    if (!v.name) out.push({ field: `spec.volumes[${i}].name`, type: 'Required' });
    else if (volumes.has(v.name))
      out.push({ field: `spec.volumes[${i}].name`, type: 'Duplicate', value: v.name });
    else if (bad) out.push({ field: `spec.volumes[${i}].name`, type: 'Invalid', value: v.name, detail: bad });
    volumes.add(v.name);
    if (Object.keys(v).filter((k) => k !== 'name').length > 1)
      out.push({
        field: `spec.volumes[${i}]`,
        type: 'Forbidden',
        detail: 'may not specify more than 1 volume type',
      });
  });
  if (!spec.containers?.length) out.push({ field: 'spec.containers', type: 'Required' });
  const names = new Set<string>();
  out.push(...containerErrors(spec.containers ?? [], 'spec.containers', volumes, names));
  out.push(...containerErrors(spec.initContainers ?? [], 'spec.initContainers', volumes, names));
  const ads = spec.activeDeadlineSeconds;
  if (ads !== undefined && ads !== null && (ads < 1 || ads > 2147483647))
    out.push({
      field: 'spec.activeDeadlineSeconds',
      type: 'Invalid',
      value: ads,
      detail: 'must be between 1 and 2147483647, inclusive',
    });
  return out;
}

const ALLOWED_POD_UPDATES =
  'pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)';

/** ValidatePodUpdate: what may change in a pod's spec after creation. */
export function podUpdateErrors(old: KubeObject, next: KubeObject): FieldError[] {
  const out: FieldError[] = [];
  const [was, now] = [old.spec.activeDeadlineSeconds, next.spec.activeDeadlineSeconds];
  if (was !== undefined && (now === undefined || now === null))
    out.push({
      field: 'spec.activeDeadlineSeconds',
      type: 'Invalid',
      value: null,
      detail: 'must not update from a positive integer to nil value',
    });
  else if (was !== undefined && now > was)
    out.push({
      field: 'spec.activeDeadlineSeconds',
      type: 'Invalid',
      value: now,
      detail: 'must be less than or equal to previous value',
    });
  const oldTolerations = canonical(old.spec.tolerations ?? []);
  const kept = (old.spec.tolerations ?? []).every((t: KubeObject) =>
    (next.spec.tolerations ?? []).some((n: KubeObject) => canonical(n) === canonical(t)),
  );
  // Blank out what may change and compare the rest.
  const mask = (spec: KubeObject, tolerations: string): string =>
    canonical({
      ...spec,
      activeDeadlineSeconds: undefined,
      tolerations: kept ? tolerations : spec.tolerations,
      containers: (spec.containers ?? []).map((c: KubeObject) => ({ ...c, image: undefined })),
      initContainers: spec.initContainers?.map((c: KubeObject) => ({ ...c, image: undefined })),
    });
  if (mask(old.spec, oldTolerations) !== mask(next.spec, oldTolerations))
    out.push({ field: 'spec', type: 'Forbidden', detail: ALLOWED_POD_UPDATES });
  return out;
}

/** Throws 422 Invalid for the given errors, if any. */
export function rejectInvalid(kind: string, gr: GroupResource, name: string, errors: FieldError[]): void {
  if (errors.length) throw invalid(kind, gr, name, errors);
}

export const nameMismatch = (kind: string) =>
  new ApiError(400, 'BadRequest', `the name of the object does not match the name on the URL`, { kind });
