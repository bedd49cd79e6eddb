// response_url of a block_actions payload: up to 5 uses within 30 minutes; replace_original /
// delete_original act on the source message, otherwise the reply is ephemeral (default) or in_channel.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FakeState, Json } from './api-common.js';
import { validateMessageBlocks } from './block-kit.js';
import { readBody, sendJson, sendText } from './http-util.js';
import { normalizeBlocks } from './workspace.js';

const MAX_USES = 5;
const TTL_MS = 30 * 60 * 1000;

export async function handleResponseUrl(
  state: FakeState,
  token: string,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const { ws, config, problems } = state;
  const rec = ws.responseUrls.get(token);
  if (req.method !== 'POST') return sendText(res, 405, 'method_not_allowed');
  if (!rec || Date.now() - rec.issuedAt > TTL_MS) return sendText(res, 404, 'expired_url');
  if (rec.uses >= MAX_USES) return sendText(res, 404, 'used_url');
  let body: Json;
  try {
    body = JSON.parse((await readBody(req)).toString('utf8'));
  } catch {
    problems.push('response_url: body is not JSON');
    return sendJson(res, 400, { ok: false, error: 'invalid_payload' });
  }
  if (!body || typeof body !== 'object') return sendJson(res, 400, { ok: false, error: 'invalid_payload' });
  if (body.blocks !== undefined) {
    const errors = Array.isArray(body.blocks)
      ? validateMessageBlocks(body.blocks)
      : ['must provide an array'];
    if (errors.length > 0)
      return sendJson(res, 400, {
        ok: false,
        error: 'invalid_blocks',
        errors,
        response_metadata: { messages: errors.map((e) => `[ERROR] ${e}`) },
      });
  }
  const source = ws.find(rec.channel, rec.messageTs);
  rec.uses += 1;
  if (body.delete_original === true || body.delete_original === 'true') {
    if (!source) return sendJson(res, 404, { ok: false, error: 'message_not_found' });
    source.deleted = true;
    return sendJson(res, 200, { ok: true });
  }
  const hasContent = (typeof body.text === 'string' && body.text !== '') || (body.blocks?.length ?? 0) > 0;
  if (!hasContent) return sendJson(res, 400, { ok: false, error: 'no_text' });
  if (body.replace_original === true || body.replace_original === 'true') {
    if (!source || source.botId !== config.botId)
      return sendJson(res, 404, { ok: false, error: 'message_not_found' });
    if (body.text !== undefined) source.text = body.text;
    source.blocks = body.blocks !== undefined ? normalizeBlocks(body.blocks) : undefined;
    source.edits += 1;
    source.editedTs = ws.nextTs();
    return sendJson(res, 200, { ok: true });
  }
  const sourceThread = source?.threadTs;
  const threadTs: string | undefined = typeof body.thread_ts === 'string' ? body.thread_ts : sourceThread;
  if (body.response_type === 'in_channel') {
    ws.post(rec.channel, {
      user: config.botUserId,
      botId: config.botId,
      text: body.text ?? '',
      ...(body.blocks ? { blocks: body.blocks } : {}),
      ...(threadTs ? { threadTs } : {}),
    });
  } else {
    ws.ephemerals.push({
      ts: ws.nextTs(),
      channel: rec.channel,
      user: rec.user,
      ...(body.text !== undefined ? { text: body.text } : {}),
      ...(body.blocks ? { blocks: normalizeBlocks(body.blocks) } : {}),
      ...(threadTs ? { threadTs } : {}),
    });
  }
  return sendJson(res, 200, { ok: true });
}
