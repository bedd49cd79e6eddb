import type { RunRecord } from '../../runs/ports/store.js';
import { fit, LIMITS } from './limits.js';

/** A file reference as the agent writes it (path:line, a path with an extension). */
const FILE_REF = /(?<![\w/.<|-])((?:[\w.-]+\/)*[\w.-]+\.[A-Za-z0-9]{1,8}):(\d{1,7})(?![\w])/g;

/**
 * An ask run's answer for the thread: Markdown made Slack mrkdwn, and every `path:line` linked to
 * the file at the run's base commit on the forge. No buttons: there is nothing to approve.
 */
export function answerMessage(
  run: RunRecord,
  link: (path: string, line: number) => string | undefined,
): { text: string; blocks: unknown[] } {
  const answer = toMrkdwn(run.summary?.trim() || '(no answer)').replace(
    FILE_REF,
    (whole, path: string, line: string) => {
      const url = link(path, Number(line));
      return url ? `<${url}|${whole}>` : whole;
    },
  );
  const text = fit(answer, 3000, '…');
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: fit(answer, LIMITS.sectionText, '… (cut)') } },
      {
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: `read-only answer from \`${run.repo}\` at \`${(run.baseSha ?? '').slice(0, 12)}\` · run \`${run.id}\``,
          },
        ],
      },
    ],
  };
}

/** The Markdown a model writes, as Slack shows it: bold, headings, links. Code stays as it is. */
function toMrkdwn(markdown: string): string {
  return markdown
    .split(/(```[\s\S]*?```|`[^`\n]*`)/)
    .map((part, i) =>
      i % 2 === 1
        ? part
        : part
            .replace(/\*\*([^*\n]+)\*\*/g, '*$1*')
            .replace(/^#{1,6}\s+(.+)$/gm, '*$1*')
            .replace(/\[([^\]\n]+)\]\((https?:\/\/[^)\s]+)\)/g, '<$2|$1>'),
    )
    .join('');
}
