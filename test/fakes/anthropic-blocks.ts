// Content-block and conversation validation for the fake Anthropic Messages API: block
// shapes per role, cache_control breakpoints, and the real API's tool_use/tool_result pairing.
import { HttpError, isRecord, type Json } from './http.js';

export const bad = (message: string) => new HttpError(400, 'invalid_request_error', message);

const ID_PATTERN = /^[a-zA-Z0-9_-]+$/;
const IMAGE_TYPES = ['image/jpeg', 'image/png', 'image/gif', 'image/webp'];
const BLOCKS_BY_ROLE: Record<string, string[]> = {
  user: ['text', 'image', 'document', 'tool_result'],
  assistant: ['text', 'tool_use', 'thinking', 'redacted_thinking'],
};

/** Collected while validating; breakpoints are recorded in request order. */
export interface Ctx {
  breakpoints: Array<{ path: string; ttl: string }>;
  toolBlocks: number;
}

export function tags(list: string[]): string {
  return list.map((t) => `'${t}'`).join(', ');
}

export function noExtra(obj: Record<string, unknown>, allowed: string[], path: string): void {
  for (const key of Object.keys(obj)) {
    if (!allowed.includes(key)) throw bad(`${path ? `${path}.` : ''}${key}: Extra inputs are not permitted`);
  }
}

export function requireString(obj: Record<string, unknown>, key: string, path: string): string {
  if (!(key in obj)) throw bad(`${path}.${key}: Field required`);
  const value = obj[key];
  if (typeof value !== 'string') throw bad(`${path}.${key}: Input should be a valid string`);
  return value;
}

export function cacheControl(block: Record<string, unknown>, path: string, ctx: Ctx): void {
  const cc = block.cache_control;
  if (cc === undefined || cc === null) return;
  const p = `${path}.cache_control`;
  if (!isRecord(cc)) throw bad(`${p}: Input should be a valid dictionary`);
  if (cc.type !== 'ephemeral') throw bad(`${p}.type: Input should be 'ephemeral'`);
  noExtra(cc, ['type', 'ttl'], p);
  if (cc.ttl !== undefined && cc.ttl !== '5m' && cc.ttl !== '1h')
    throw bad(`${p}.ttl: Input should be '5m' or '1h'`);
  ctx.breakpoints.push({ path, ttl: cc.ttl ?? '5m' });
}

export function textBlock(b: Record<string, unknown>, path: string, ctx: Ctx, where: string): void {
  noExtra(b, ['type', 'text', 'cache_control', 'citations'], path);
  const text = requireString(b, 'text', path);
  if (text.length === 0) throw bad(`${where}: text content blocks must be non-empty`);
  if (text.trim().length === 0) throw bad(`${where}: text content blocks must contain non-whitespace text`);
  cacheControl(b, path, ctx);
}

function imageBlock(b: Record<string, unknown>, path: string, ctx: Ctx): void {
  noExtra(b, ['type', 'source', 'cache_control'], path);
  const s = b.source;
  if (!isRecord(s)) throw bad(`${path}.source: Field required`);
  if (s.type === 'base64') {
    noExtra(s, ['type', 'media_type', 'data'], `${path}.source`);
    if (!IMAGE_TYPES.includes(s.media_type))
      throw bad(`${path}.source.base64.media_type: Input should be ${tags(IMAGE_TYPES)}`);
    if (typeof s.data !== 'string' || s.data.length === 0)
      throw bad(`${path}.source.base64.data: Field required`);
  } else if (s.type === 'url') {
    noExtra(s, ['type', 'url'], `${path}.source`);
    requireString(s, 'url', `${path}.source`);
  } else if (s.type === 'file') {
    noExtra(s, ['type', 'file_id'], `${path}.source`);
    requireString(s, 'file_id', `${path}.source`);
  } else {
    throw bad(
      `${path}.source: Input tag '${s.type}' found using 'type' does not match any of the expected tags: 'base64', 'url', 'file'`,
    );
  }
  cacheControl(b, path, ctx);
}

function block(b: unknown, path: string, role: string, ctx: Ctx): void {
  if (!isRecord(b)) throw bad(`${path}: Input should be a valid dictionary`);
  const allowed = BLOCKS_BY_ROLE[role] ?? [];
  const all = Object.values(BLOCKS_BY_ROLE).flat();
  if (typeof b.type !== 'string' || !all.includes(b.type))
    throw bad(
      `${path}: Input tag '${b.type}' found using 'type' does not match any of the expected tags: ${tags(all)}`,
    );
  if (!allowed.includes(b.type))
    throw bad(`${path}: \`${b.type}\` blocks are not permitted in \`${role}\` messages`);
  switch (b.type) {
    case 'text':
      textBlock(b, path, ctx, 'messages');
      return;
    case 'image':
      imageBlock(b, path, ctx);
      return;
    case 'document':
      noExtra(b, ['type', 'source', 'title', 'context', 'citations', 'cache_control'], path);
      if (!isRecord(b.source) || typeof b.source.type !== 'string')
        throw bad(`${path}.source: Field required`);
      break;
    case 'thinking':
      noExtra(b, ['type', 'thinking', 'signature'], path);
      requireString(b, 'thinking', path);
      requireString(b, 'signature', path);
      return;
    case 'redacted_thinking':
      noExtra(b, ['type', 'data'], path);
      requireString(b, 'data', path);
      return;
    case 'tool_use': {
      ctx.toolBlocks++;
      // `caller` / `toolset_name` appear on tool_use blocks returned by API version 2026-10-21 and may be echoed back.
      noExtra(b, ['type', 'id', 'name', 'input', 'cache_control', 'caller', 'toolset_name'], path);
      if (b.caller !== undefined && (!isRecord(b.caller) || typeof b.caller.type !== 'string'))
        throw bad(`${path}.caller: Input should be a valid dictionary`);
      if (!ID_PATTERN.test(requireString(b, 'id', path)))
        throw bad(`${path}.id: String should match pattern '^[a-zA-Z0-9_-]+$'`);
      if (requireString(b, 'name', path).length === 0)
        throw bad(`${path}.name: String should have at least 1 character`);
      if (!isRecord(b.input)) throw bad(`${path}.input: Input should be a valid dictionary`);
      break;
    }
    case 'tool_result': {
      ctx.toolBlocks++;
      noExtra(b, ['type', 'tool_use_id', 'content', 'is_error', 'cache_control'], path);
      if (!ID_PATTERN.test(requireString(b, 'tool_use_id', path)))
        throw bad(`${path}.tool_use_id: String should match pattern '^[a-zA-Z0-9_-]+$'`);
      if (b.is_error !== undefined && typeof b.is_error !== 'boolean')
        throw bad(`${path}.is_error: Input should be a valid boolean`);
      if (Array.isArray(b.content)) {
        b.content.forEach((inner: unknown, k: number) => {
          const p = `${path}.content.${k}`;
          if (!isRecord(inner) || (inner.type !== 'text' && inner.type !== 'image'))
            throw bad(
              `${p}: Input tag '${isRecord(inner) ? inner.type : inner}' found using 'type' does not match any of the expected tags: 'text', 'image'`,
            );
          if (inner.type === 'text') textBlock(inner, p, ctx, 'messages');
          else imageBlock(inner, p, ctx);
        });
      } else if (b.content !== undefined && typeof b.content !== 'string') {
        throw bad(`${path}.content: Input should be a valid string or a list of content blocks`);
      }
      break;
    }
  }
  cacheControl(b, path, ctx);
}

function toolUseIds(message: unknown): string[] {
  if (!isRecord(message) || message.role !== 'assistant' || !Array.isArray(message.content)) return [];
  return message.content.filter((b) => isRecord(b) && b.type === 'tool_use').map((b) => String(b.id));
}

export function validateConversation(list: unknown, ctx: Ctx): void {
  if (list === undefined) throw bad('messages: Field required');
  if (!Array.isArray(list)) throw bad('messages: Input should be a valid list');
  if (list.length === 0) throw bad('messages: at least one message is required');
  list.forEach((m: unknown, i: number) => {
    const path = `messages.${i}`;
    if (!isRecord(m)) throw bad(`${path}: Input should be a valid dictionary`);
    noExtra(m, ['role', 'content'], path);
    if (m.role !== 'user' && m.role !== 'assistant')
      throw bad(`${path}.role: Input should be 'user' or 'assistant'`);
    if (i === 0 && m.role !== 'user') throw bad('messages: first message must use the "user" role');
    if (i > 0 && (list[i - 1] as Record<string, unknown>).role === m.role)
      throw bad(
        `messages: roles must alternate between "user" and "assistant", but found multiple "${m.role}" roles in a row`,
      );
    const isFinalAssistant = i === list.length - 1 && m.role === 'assistant';
    if (!('content' in m)) throw bad(`${path}.content: Field required`);
    if (typeof m.content === 'string') {
      if (m.content.length === 0 && !isFinalAssistant)
        throw bad(
          `${path}: all messages must have non-empty content except for the optional final assistant message`,
        );
    } else if (Array.isArray(m.content)) {
      if (m.content.length === 0 && !isFinalAssistant)
        throw bad(
          `${path}: all messages must have non-empty content except for the optional final assistant message`,
        );
      m.content.forEach((b: unknown, j: number) => {
        block(b, `${path}.content.${j}`, m.role as string, ctx);
      });
    } else {
      throw bad(`${path}.content: Input should be a valid string or a list of content blocks`);
    }
    if (isFinalAssistant) {
      const last =
        typeof m.content === 'string'
          ? m.content
          : m.content.at(-1)?.type === 'text'
            ? m.content.at(-1).text
            : '';
      if (/\s$/.test(last))
        throw bad('messages: final assistant content cannot end with trailing whitespace');
    }
  });
  // Tool pairing, exactly as the real API: results first, in the very next user message.
  const seen = new Set<string>();
  list.forEach((m: Record<string, Json>, i: number) => {
    if (m.role === 'assistant') {
      const ids = toolUseIds(m);
      ids.forEach((id) => {
        if (seen.has(id))
          throw bad(`messages.${i}: \`tool_use\` ids must be unique. Found duplicate id: ${id}`);
        seen.add(id);
      });
      if (ids.length === 0) return;
      const next = list[i + 1] as Record<string, unknown> | undefined;
      const leading: string[] = [];
      for (const b of Array.isArray(next?.content) ? next.content : []) {
        if (b?.type !== 'tool_result') break;
        leading.push(b.tool_use_id);
      }
      const missing = ids.filter((id) => !leading.includes(id));
      if (missing.length > 0)
        throw bad(
          `messages.${i}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ${missing.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`,
        );
      return;
    }
    if (!Array.isArray(m.content)) return;
    const expected = new Set(toolUseIds(list[i - 1]));
    const answered = new Set<string>();
    m.content.forEach((b: Record<string, Json>, j: number) => {
      if (b.type !== 'tool_result') return;
      if (!expected.has(b.tool_use_id))
        throw bad(
          `messages.${i}.content.${j}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${b.tool_use_id}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`,
        );
      if (answered.has(b.tool_use_id))
        throw bad(
          `messages.${i}.content.${j}: each \`tool_use\` must have a single result. Found multiple \`tool_result\` blocks with id: ${b.tool_use_id}`,
        );
      answered.add(b.tool_use_id);
    });
  });
}
