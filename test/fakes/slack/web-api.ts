// The Web API front door, in Slack's order: rate limit (HTTP 429 + Retry-After) first, then method
// lookup, token checks (bot token everywhere except apps.connections.open, which takes only the app
// token), then the method. Every answer is HTTP 200 `{ok: …}` except rate limits.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CHAT_METHODS } from './api-chat.js';
import {
  type ApiContext,
  ApiError,
  type ApiHandler,
  type Args,
  type FakeState,
  readableArgs,
  reqString,
} from './api-common.js';
import { FILE_METHODS, handleUpload } from './api-files.js';
import { VIEW_METHODS } from './api-views.js';
import { boundaryOf, parseMultipart, readBody, sendJson, sendText } from './http-util.js';
import { handleResponseUrl } from './response-url.js';
import { USER_ID } from './workspace.js';

const authTest: ApiHandler = ({ state }) => {
  const { config } = state;
  return {
    url: `https://${config.teamDomain}.slack.com/`,
    team: 'Airlock Fake Workspace',
    user: 'airlock',
    team_id: config.teamId,
    user_id: config.botUserId,
    bot_id: config.botId,
    is_enterprise_install: false,
  };
};

const connectionsOpen: ApiHandler = ({ state }) => {
  const ticket = state.hub.issueTicket();
  const wsBase = state.baseUrl.replace(/^http/, 'ws');
  return { url: `${wsBase}/link/?ticket=${ticket}&app_id=${state.config.appId}` };
};

const usersInfo: ApiHandler = ({ state, args }) => {
  const user = reqString(args, 'user');
  if (!USER_ID.test(user)) throw new ApiError('user_not_found');
  const isBot = user === state.config.botUserId;
  const name = isBot ? 'airlock' : user.toLowerCase();
  return {
    user: {
      id: user,
      team_id: state.config.teamId,
      name,
      deleted: false,
      real_name: name,
      tz: 'Etc/UTC',
      tz_offset: 0,
      is_admin: false,
      is_owner: false,
      is_bot: isBot,
      is_app_user: false,
      updated: Math.floor(Date.now() / 1000),
      profile: { real_name: name, display_name: name, team: state.config.teamId },
    },
  };
};

/** users.lookupByEmail: only a confirmed email finds its person; case does not matter. */
const usersLookupByEmail: ApiHandler = (ctx) => {
  const email = reqString(ctx.args, 'email').toLowerCase();
  const found = Object.entries(ctx.state.config.emails).find(([e]) => e.toLowerCase() === email)?.[1];
  if (!found) throw new ApiError('users_not_found');
  const { user } = usersInfo({ ...ctx, args: { user: found } }) as { user: Record<string, unknown> };
  return { user: { ...user, profile: { ...(user.profile as object), email } } };
};

const usergroupUsers: ApiHandler = ({ state, args }) => {
  const group = reqString(args, 'usergroup');
  const users = state.config.userGroups[group];
  if (!users) throw new ApiError('no_such_subteam');
  return { users: [...users] };
};

export const METHODS: Record<string, ApiHandler> = {
  'auth.test': authTest,
  'apps.connections.open': connectionsOpen,
  'users.info': usersInfo,
  'users.lookupByEmail': usersLookupByEmail,
  'usergroups.users.list': usergroupUsers,
  ...CHAT_METHODS,
  ...VIEW_METHODS,
  ...FILE_METHODS,
};

/** Methods Slack has retired; WebClient still has wrappers for some of them. */
const RETIRED = new Set(['files.upload', 'channels.history', 'channels.replies', 'im.open', 'rtm.start']);

const SCOPES: Record<string, string> = {
  'chat.postMessage': 'chat:write',
  'chat.update': 'chat:write',
  'chat.postEphemeral': 'chat:write',
  'reactions.add': 'reactions:write',
  'reactions.remove': 'reactions:write',
  'conversations.replies': 'channels:history,groups:history,im:history,mpim:history',
  'usergroups.users.list': 'usergroups:read',
  'users.info': 'users:read',
  'users.lookupByEmail': 'users:read.email',
  'files.getUploadURLExternal': 'files:write',
  'files.completeUploadExternal': 'files:write',
  'apps.connections.open': 'connections:write',
};

interface Parsed {
  args: Args;
  /** Why Slack would refuse to read the body (invalid_json, json_not_object, invalid_form_data, …). */
  error?: string;
  /** JSON without `charset=utf-8`: Slack answers, with a `missing_charset` warning. */
  warning?: string;
}

/** Reads a request's arguments the way Slack does: query string, then the body by its content-type. */
function parseArgs(state: FakeState, req: IncomingMessage, body: Buffer, url: URL): Parsed {
  const args: Args = Object.fromEntries(url.searchParams);
  const type = String(req.headers['content-type'] ?? '').toLowerCase();
  const text = body.toString('utf8');
  if (body.length === 0) return { args };
  if (type.startsWith('application/x-www-form-urlencoded') || type === '')
    return { args: { ...args, ...Object.fromEntries(new URLSearchParams(text)) } };
  if (type.startsWith('application/json')) {
    const warning = /charset=utf-8/.test(type) ? undefined : 'missing_charset';
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      state.problems.push(`${url.pathname}: JSON body does not parse`);
      return { args, error: 'invalid_json' };
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
      return { args, error: 'json_not_object' };
    // Slack reads the token of a JSON request only from the Authorization header.
    const { token: _ignored, ...rest } = parsed as Args;
    return { args: { ...args, ...rest }, ...(warning ? { warning } : {}) };
  }
  if (type.startsWith('multipart/form-data')) {
    const boundary = boundaryOf(type);
    const parts = boundary ? parseMultipart(body, boundary) : undefined;
    if (!parts) return { args, error: 'invalid_form_data' };
    for (const p of parts) args[p.name] = p.data.toString('utf8');
    return { args };
  }
  state.problems.push(`${url.pathname}: unsupported content-type ${type}`);
  return { args, error: 'invalid_post_type' };
}

function bearer(req: IncomingMessage): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(String(req.headers.authorization ?? ''));
  return m?.[1];
}

async function handleApi(
  state: FakeState,
  method: string,
  url: URL,
  req: IncomingMessage,
  res: ServerResponse,
) {
  const { config, problems } = state;
  const at = Date.now();
  const body = await readBody(req);
  const parsed = parseArgs(state, req, body, url);
  const args = parsed.args;
  const headerToken = bearer(req);
  const bodyToken = typeof args.token === 'string' ? args.token : undefined;
  const token = headerToken ?? bodyToken;
  const record = (status: number, ok: boolean, error?: string) =>
    state.calls.push({
      method,
      ...(token !== undefined ? { token } : {}),
      args: readableArgs(args),
      ok,
      ...(error !== undefined ? { error } : {}),
      status,
      at,
    });
  const handler = METHODS[method];
  const channel = typeof args.channel === 'string' ? args.channel : undefined;
  const refusal = handler ? state.limiter.take(method, channel, token ?? '') : undefined;
  if (refusal) {
    state.rateLimited.push({ method, key: refusal.key, at });
    record(429, false, 'ratelimited');
    return sendJson(
      res,
      429,
      { ok: false, error: 'ratelimited' },
      { 'retry-after': String(refusal.retryAfterSeconds) },
    );
  }
  const answer = (reply: Record<string, unknown>) => {
    const result = parsed.warning
      ? {
          ...reply,
          warning: parsed.warning,
          response_metadata: { ...(reply.response_metadata ?? {}), warnings: [parsed.warning] },
        }
      : reply;
    const ok = result.ok === true;
    record(200, ok, ok ? undefined : String(result.error));
    const accepted = SCOPES[method];
    sendJson(res, 200, result, accepted ? { 'x-accepted-oauth-scopes': accepted } : {});
  };
  if (!handler) {
    if (RETIRED.has(method)) {
      problems.push(`retired Web API method ${method}`);
      return answer({ ok: false, error: 'method_deprecated' });
    }
    problems.push(`unknown or unimplemented Web API method ${method}`);
    return answer({ ok: false, error: 'unknown_method', req_method: method });
  }
  if (parsed.error) return answer({ ok: false, error: parsed.error });
  if (headerToken && bodyToken && headerToken !== bodyToken)
    problems.push(`${method}: Authorization header and token argument name different tokens`);
  if (!token) return answer({ ok: false, error: 'not_authed' });
  if (token !== config.botToken && token !== config.appToken)
    return answer({ ok: false, error: 'invalid_auth' });
  const wantsApp = method === 'apps.connections.open';
  if ((token === config.appToken) !== wantsApp) return answer({ ok: false, error: 'not_allowed_token_type' });
  try {
    const ctx: ApiContext = { state, args, token };
    answer({ ok: true, ...handler(ctx) });
  } catch (err) {
    if (err instanceof ApiError) return answer({ ok: false, error: err.code, ...err.extra });
    problems.push(`${method}: fake crashed: ${err instanceof Error ? err.stack : String(err)}`);
    answer({ ok: false, error: 'internal_error' });
  }
}

/** Routes /api/<method>, upload URLs and response URLs. */
export function createRequestHandler(state: FakeState) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = new URL(req.url ?? '/', state.baseUrl);
    const fail = (err: unknown) => {
      state.problems.push(`${url.pathname}: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) sendText(res, 500, 'internal_error');
    };
    const api = /^\/api\/([A-Za-z0-9_.]+)$/.exec(url.pathname);
    if (api?.[1]) return void handleApi(state, api[1], url, req, res).catch(fail);
    // Non-API posts are logged in `calls` too, as method 'upload_url' / 'response_url'.
    const track = (method: string, args: Record<string, unknown>) => {
      const at = Date.now();
      res.on('finish', () => {
        const ok = res.statusCode === 200;
        state.calls.push({ method, args, ok, status: res.statusCode, at });
      });
    };
    const upload = /^\/upload\/(F[A-Z0-9]+)$/.exec(url.pathname);
    if (upload?.[1]) {
      track('upload_url', { file_id: upload[1] });
      return void handleUpload(state, upload[1], req, res).catch(fail);
    }
    const action = /^\/actions\/[A-Z0-9]+\/\d+\/([a-f0-9]+)$/.exec(url.pathname);
    if (action?.[1]) {
      track('response_url', { path: url.pathname });
      return void handleResponseUrl(state, action[1], req, res).catch(fail);
    }
    state.problems.push(`request to unknown path ${req.method} ${url.pathname}`);
    sendText(res, 404, 'not_found');
  };
}
