/**
 * The ModelClient port: one provider-neutral conversation shape (close to Anthropic's, which
 * the other providers are translated from). agent/ depends on this, never on an SDK.
 */
export type ContentBlock =
  | { type: 'text'; text: string }
  // Claude's thinking, kept verbatim (signature included) because the API requires it back.
  | { type: 'thinking'; thinking: string; signature: string }
  | { type: 'redacted_thinking'; data: string }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown> }
  | { type: 'tool_result'; tool_use_id: string; content: string; is_error?: boolean };

export interface Message {
  role: 'user' | 'assistant';
  content: ContentBlock[];
}

export type ToolName = 'bash' | 'str_replace_based_edit_tool' | 'submit_review';

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
}

export interface ModelRequest {
  system: string;
  messages: Message[];
  tools: ToolName[];
  maxOutputTokens: number;
  signal?: AbortSignal;
  /** Text as it streams, for live progress; the response still carries all of it. */
  onText?: (delta: string) => void;
}

export interface ModelResponse {
  content: ContentBlock[];
  stopReason: 'end_turn' | 'tool_use' | 'max_tokens' | 'other';
  usage: Usage;
  model: string;
}

export interface ModelClient {
  readonly provider: string;
  readonly model: string;
  complete(request: ModelRequest): Promise<ModelResponse>;
  /** Confirms the endpoint answers, the credentials work and the model exists; spends no tokens. */
  check(): Promise<string>;
}
