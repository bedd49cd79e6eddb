// Errors as the API server renders them: a metav1.Status body with the HTTP code, reason and details.
import type { ServerResponse } from 'node:http';
import type { GroupResource } from './types.js';

export interface StatusCause {
  reason?: string;
  message: string;
  field?: string;
}
export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
}

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
  }

  status(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }
}

/** `networkpolicies.networking.k8s.io`, `pods`: how a group resource is spelled in messages. */
export const qualified = (gr: GroupResource): string =>
  gr.group ? `${gr.resource}.${gr.group}` : gr.resource;
const detailsOf = (gr: GroupResource, name?: string): StatusDetails => ({
  ...(name ? { name } : {}),
  ...(gr.group ? { group: gr.group } : {}),
  kind: gr.resource,
});

export const notFound = (gr: GroupResource, name: string) =>
  new ApiError(404, 'NotFound', `${qualified(gr)} "${name}" not found`, detailsOf(gr, name));
export const alreadyExists = (gr: GroupResource, name: string) =>
  new ApiError(409, 'AlreadyExists', `${qualified(gr)} "${name}" already exists`, detailsOf(gr, name));
export const conflict = (gr: GroupResource, name: string, why: string) =>
  new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(gr)} "${name}": ${why}`,
    detailsOf(gr, name),
  );
export const forbidden = (gr: GroupResource, name: string, why: string) =>
  new ApiError(
    403,
    'Forbidden',
    `${qualified(gr)}${name ? ` "${name}"` : ''} is forbidden: ${why}`,
    detailsOf(gr, name),
  );
export const badRequest = (message: string) => new ApiError(400, 'BadRequest', message);
export const unsupportedMediaType = (accepted: string[]) =>
  new ApiError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')}`,
  );
export const unauthorized = () => new ApiError(401, 'Unauthorized', 'Unauthorized');
export const methodNotAllowed = () =>
  new ApiError(405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource');
export const noSuchResource = () =>
  new ApiError(404, 'NotFound', 'the server could not find the requested resource', {});
export const expired = (message: string) => new ApiError(410, 'Expired', message);

/** One field error, rendered the way apimachinery's field.Error prints. */
export interface FieldError {
  field: string;
  type: 'Required' | 'Invalid' | 'Forbidden' | 'Duplicate' | 'NotFound' | 'NotSupported';
  value?: unknown;
  detail?: string;
}
const REASONS: Record<FieldError['type'], [string, string]> = {
  Required: ['FieldValueRequired', 'Required value'],
  Invalid: ['FieldValueInvalid', 'Invalid value'],
  Forbidden: ['FieldValueForbidden', 'Forbidden'],
  Duplicate: ['FieldValueDuplicate', 'Duplicate value'],
  NotFound: ['FieldValueNotFound', 'Not found'],
  NotSupported: ['FieldValueNotSupported', 'Unsupported value'],
};
function describe(e: FieldError): string {
  const label = REASONS[e.type][1];
  const shown = e.value === undefined ? '' : `: ${JSON.stringify(e.value)}`;
  if (e.type === 'Required' || e.type === 'Forbidden') return e.detail ? `${label}: ${e.detail}` : label;
  return `${label}${shown}${e.detail ? `: ${e.detail}` : ''}`;
}

/** 422 Invalid: `Pod "x" is invalid: spec.containers[0].image: Required value` (several are bracketed). */
export function invalid(kind: string, gr: GroupResource, name: string, errors: FieldError[]): ApiError {
  const messages = errors.map((e) => `${e.field}: ${describe(e)}`);
  const joined = messages.length === 1 ? messages[0] : `[${messages.join(', ')}]`;
  return new ApiError(
    422,
    'Invalid',
    `${kind}${gr.group ? `.${gr.group}` : ''} "${name}" is invalid: ${joined}`,
    {
      name,
      ...(gr.group ? { group: gr.group } : {}),
      kind,
      causes: errors.map((e) => ({ reason: REASONS[e.type][0], message: describe(e), field: e.field })),
    },
  );
}

export function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, err: ApiError): void {
  sendJson(res, err.code, err.status());
}
