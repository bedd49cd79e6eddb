// The external upload flow: files.getUploadURLExternal -> POST bytes to upload_url ->
// files.completeUploadExternal, which shares the file into a channel or thread as a message.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  ApiError,
  type ApiHandler,
  type FakeState,
  invalidArguments,
  invalidBlocks,
  type Json,
  optJson,
  optString,
  reqString,
} from './api-common.js';
import { validateMessageBlocks } from './block-kit.js';
import { boundaryOf, parseMultipart, readBody, sendText, slackId } from './http-util.js';

const getUploadURLExternal: ApiHandler = ({ state, args }) => {
  const filename = reqString(args, 'filename');
  const lengthArg = reqString(args, 'length');
  const length = Number(lengthArg);
  if (!/^\d+$/.test(lengthArg) || length < 1)
    throw invalidArguments('must be a positive integer [json-pointer:/length]');
  const id = slackId('F');
  state.ws.uploads.set(id, { id, filename, length });
  return { upload_url: `${state.baseUrl}/upload/${id}`, file_id: id };
};

const completeUploadExternal: ApiHandler = ({ state, args }) => {
  const { ws, config } = state;
  const files = optJson(args, 'files', invalidArguments('invalid json [json-pointer:/files]'));
  if (files === undefined) throw invalidArguments('missing required field: files');
  if (!Array.isArray(files) || files.length === 0)
    throw invalidArguments('must provide an array [json-pointer:/files]');
  const entries = files.map((f: Json, i: number) => {
    if (!f || typeof f !== 'object' || typeof f.id !== 'string')
      throw invalidArguments(`missing required field: id [json-pointer:/files/${i}]`);
    const upload = ws.uploads.get(f.id);
    if (!upload || upload.content === undefined || upload.completed) throw new ApiError('file_not_found');
    return { upload, title: typeof f.title === 'string' ? f.title : undefined };
  });
  const channelArg = optString(args, 'channel_id') ?? optString(args, 'channels');
  if (channelArg?.includes(',')) throw invalidArguments('channels must be a single channel id');
  const channel = channelArg === undefined ? undefined : ws.resolveChannel(channelArg);
  if (channelArg !== undefined && !channel) throw new ApiError('channel_not_found');
  const threadTs = optString(args, 'thread_ts') || undefined;
  if (threadTs && !channel) throw invalidArguments('thread_ts requires channel_id');
  if (threadTs && channel && !ws.threadParent(channel, threadTs)) throw new ApiError('thread_not_found');
  const initialComment = optString(args, 'initial_comment');
  const blocks = optJson(args, 'blocks', new ApiError('invalid_blocks_format'));
  if (blocks !== undefined) {
    if (!Array.isArray(blocks)) throw new ApiError('invalid_blocks_format');
    const errors = validateMessageBlocks(blocks);
    if (errors.length > 0) throw invalidBlocks(errors);
  }
  for (const { upload, title } of entries) {
    upload.completed = true;
    const content = upload.content ?? Buffer.alloc(0);
    ws.files.push({
      id: upload.id,
      channel: channel ?? '',
      filename: upload.filename,
      content,
      ...(threadTs ? { threadTs } : {}),
      ...(title !== undefined ? { title } : {}),
    });
  }
  let shareTs: string | undefined;
  if (channel) {
    const m = ws.post(channel, {
      user: config.botUserId,
      botId: config.botId,
      text: initialComment ?? '',
      files: entries.map((e) => e.upload.id),
      ...(initialComment === undefined && Array.isArray(blocks) ? { blocks } : {}),
      ...(threadTs ? { threadTs } : {}),
    });
    shareTs = m.ts;
  }
  return {
    files: entries.map(({ upload }) => {
      const file = ws.fileObject(upload.id);
      if (channel && shareTs) {
        const kind = channel.startsWith('C') ? 'public' : 'private';
        file.shares = {
          [kind]: { [channel]: [{ ts: shareTs, ...(threadTs ? { thread_ts: threadTs } : {}) }] },
        };
      }
      return file;
    }),
  };
};

export const FILE_METHODS: Record<string, ApiHandler> = {
  'files.getUploadURLExternal': getUploadURLExternal,
  'files.completeUploadExternal': completeUploadExternal,
};

/** POST to an upload_url: raw bytes, or multipart/form-data with one file part (WebClient sends `body`). */
export async function handleUpload(state: FakeState, id: string, req: IncomingMessage, res: ServerResponse) {
  const upload = state.ws.uploads.get(id);
  if (req.method !== 'POST') return sendText(res, 405, 'method_not_allowed');
  if (!upload) return sendText(res, 404, 'file_not_found');
  if (upload.content !== undefined) return sendText(res, 400, 'upload_url_already_used');
  const body = await readBody(req);
  const contentType = String(req.headers['content-type'] ?? '');
  let content = body;
  if (contentType.startsWith('multipart/form-data')) {
    const boundary = boundaryOf(contentType);
    const parts = boundary ? parseMultipart(body, boundary) : undefined;
    const fileParts = parts?.filter((p) => p.filename !== undefined) ?? [];
    if (!parts || fileParts.length !== 1) {
      state.problems.push(`upload ${id}: malformed multipart body (expected exactly one file part)`);
      return sendText(res, 400, 'invalid_form_data');
    }
    content = fileParts[0]?.data ?? Buffer.alloc(0);
  }
  if (content.length !== upload.length)
    return sendText(res, 400, `length_mismatch: declared ${upload.length} bytes, received ${content.length}`);
  upload.content = Buffer.from(content);
  return sendText(res, 200, `OK - ${content.length}`);
}
