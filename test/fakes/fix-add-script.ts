import type { ScriptStep } from './anthropic-server.js';

type Body = { messages: Array<{ role: string; content: unknown }> };

/** The text of the newest tool_result in the request, so a step can check what the tool said. */
export function lastToolResult(body: Body): string {
  const last = body.messages.at(-1);
  const blocks = Array.isArray(last?.content) ? (last.content as Array<Record<string, unknown>>) : [];
  const result = blocks.find((b) => b.type === 'tool_result');
  const content = result?.content;
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((c: { text?: string }) => c.text ?? '').join('');
  return '';
}

/**
 * A scripted model that fixes the fixture's add() the way Claude would: look, run the test,
 * edit, run the test again, summarise. Steps are functions so each can insist the previous
 * tool really ran (a fake model that ignores tool results would prove nothing).
 */
export function fixAddScript(opts: { extraCommand?: string } = {}): ScriptStep[] {
  return [
    {
      content: [
        // Adaptive thinking is on by default for current Claude models: the fake signs this block
        // and rejects the next request unless it comes back unchanged.
        { type: 'thinking', thinking: 'The test probably exercises add(); read it first.' },
        { type: 'text', text: 'Let me look at the code and run the test.' },
        { type: 'tool_use', name: 'bash', input: { command: 'cat src/add.js && sh test.sh' } },
      ],
    },
    (body) => {
      const seen = lastToolResult(body as Body);
      if (!seen.includes('return a - b') || !seen.includes('FAIL'))
        throw new Error(`unexpected tool result: ${seen}`);
      return {
        content: [FIX_EDIT],
      };
    },
    (body) => {
      const seen = lastToolResult(body as Body);
      if (!seen.includes('has been edited')) throw new Error(`edit did not succeed: ${seen}`);
      return {
        content: [
          {
            type: 'tool_use',
            name: 'bash',
            input: { command: opts.extraCommand ? `sh test.sh; ${opts.extraCommand}` : 'sh test.sh' },
          },
        ],
      };
    },
    (body) => {
      const seen = lastToolResult(body as Body);
      if (!seen.includes('ok: add(2, 3) = 5')) throw new Error(`test did not pass: ${seen}`);
      return {
        content: [{ type: 'text', text: 'Fixed add(): it subtracted instead of adding. ./test.sh passes.' }],
      };
    },
  ];
}

/** The one edit that fixes the fixture. */
const FIX_EDIT = {
  type: 'tool_use' as const,
  name: 'str_replace_based_edit_tool',
  input: { command: 'str_replace', path: 'src/add.js', old_str: 'return a - b;', new_str: 'return a + b;' },
};

/** A model that fixes add() in one edit, whatever run asks: stateless, so runs can interleave. */
export function fixInOneEdit(): ScriptStep {
  return (body) =>
    body.messages.length === 1
      ? { content: [FIX_EDIT] }
      : { content: [{ type: 'text', text: 'Fixed add().' }] };
}

/** The follow-up edit a reviewer asks for: a sub() after add(). */
export const ADD_SUB_EDIT = {
  type: 'tool_use' as const,
  name: 'str_replace_based_edit_tool',
  input: {
    command: 'insert',
    path: 'src/add.js',
    insert_line: 3,
    insert_text: 'export function sub(a, b) {\n  return a - b;\n}',
  },
};
