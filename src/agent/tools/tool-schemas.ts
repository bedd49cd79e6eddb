import type { ToolName } from '../../runs/ports/model.js';

/**
 * The two tools as JSON-schema functions, for providers without Anthropic's client tools.
 * Same names and inputs, so the executors do not care which provider asked.
 */
export const TOOL_SCHEMAS: Record<ToolName, { description: string; parameters: Record<string, unknown> }> = {
  bash: {
    description:
      'Run a bash command in the repository workspace. The working directory persists between calls. ' +
      "The network is only what airlock's egress gateway allows. Set restart to true to reset the session.",
    parameters: {
      type: 'object',
      properties: {
        command: { type: 'string', description: 'The bash command to run.' },
        restart: {
          type: 'boolean',
          description: 'Reset the working directory instead of running a command.',
        },
      },
    },
  },
  submit_review: {
    description:
      'Submit your review of the pull request: a summary, and comments on lines the pull request adds or changes ' +
      '(path relative to the repository root, line number in the new version of the file). Call it once, when done.',
    parameters: {
      type: 'object',
      properties: {
        summary: { type: 'string', description: 'The review: what the change does and what you found.' },
        comments: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              path: { type: 'string' },
              line: { type: 'integer', description: 'A line of the new file that is in the diff.' },
              body: { type: 'string' },
            },
            required: ['path', 'line', 'body'],
          },
        },
      },
      required: ['summary'],
    },
  },
  str_replace_based_edit_tool: {
    description:
      'View, create and edit files. view shows a file with line numbers or lists a directory; create writes a new ' +
      'file; str_replace replaces one exact, unique occurrence of old_str; insert adds text after insert_line (0 = top).',
    parameters: {
      type: 'object',
      properties: {
        command: { type: 'string', enum: ['view', 'create', 'str_replace', 'insert'] },
        path: { type: 'string', description: 'Absolute path inside the workspace, or relative to it.' },
        file_text: { type: 'string' },
        old_str: { type: 'string' },
        new_str: { type: 'string' },
        insert_line: { type: 'integer' },
        insert_text: { type: 'string' },
        view_range: { type: 'array', items: { type: 'integer' }, minItems: 2, maxItems: 2 },
      },
      required: ['command', 'path'],
    },
  },
};
