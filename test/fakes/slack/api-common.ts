// Shared by the Web API method handlers: the fake's state, Slack's error shapes and argument readers
// that treat form strings and JSON values alike.
import type { RateLimiter } from './rate-limits.js';
import type { SocketHub } from './socket-mode.js';
import type { FakeConfig, Workspace } from './workspace.js';

// biome-ignore lint/suspicious/noExplicitAny: Slack arguments are arbitrary JSON
export type Json = any;
export type Args = Record<string, unknown>;

export interface CallRecord {
  method: string;
  token?: string;
  args: Record<string, unknown>;
  ok: boolean;
  error?: string;
  status: number;
  at: number;
}

export interface FakeState {
  config: FakeConfig;
  ws: Workspace;
  hub: SocketHub;
  limiter: RateLimiter;
  baseUrl: string;
  calls: CallRecord[];
  rateLimited: Array<{ method: string; key: string; at: number }>;
  problems: string[];
}

export interface ApiContext {
  state: FakeState;
  args: Args;
  token: string;
}

export type ApiHandler = (ctx: ApiContext) => Record<string, unknown>;

/** A Slack `{ok: false, error}` answer; `extra` adds fields such as `errors` or `response_metadata`. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(code);
  }
}

export function invalidArguments(...messages: string[]): ApiError {
  return new ApiError('invalid_arguments', {
    response_metadata: { messages: messages.map((m) => `[ERROR] ${m}`) },
  });
}

export function invalidBlocks(errors: string[]): ApiError {
  return new ApiError('invalid_blocks', {
    errors,
    response_metadata: { messages: errors.map((m) => `[ERROR] ${m}`) },
  });
}

export function optString(args: Args, name: string): string | undefined {
  const v = args[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw invalidArguments(`must be a string [json-pointer:/${name}]`);
}

export function reqString(args: Args, name: string): string {
  const v = optString(args, name);
  if (v === undefined || v === '') throw invalidArguments(`missing required field: ${name}`);
  return v;
}

export function optBool(args: Args, name: string): boolean | undefined {
  const v = args[name];
  if (v === undefined || v === null) return undefined;
  if (v === true || v === 'true' || v === '1' || v === 1) return true;
  if (v === false || v === 'false' || v === '0' || v === 0) return false;
  throw invalidArguments(`must be a boolean [json-pointer:/${name}]`);
}

/** A JSON argument: form bodies carry it as a JSON string, JSON bodies as a value. */
export function optJson(args: Args, name: string, formatError: ApiError): unknown {
  const v = args[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v);
  } catch {
    throw formatError;
  }
}

/** Decodes JSON-looking form values for the call log, leaving everything else as sent. */
export function readableArgs(args: Args): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(args)) {
    if (k === 'token') continue;
    if (typeof v === 'string' && /^[[{]/.test(v)) {
      try {
        out[k] = JSON.parse(v);
        continue;
      } catch {
        // keep the raw string
      }
    }
    out[k] = v;
  }
  return out;
}
