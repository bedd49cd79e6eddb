import type { RunRecord } from '../../runs/ports/store.js';
import { escapeMrkdwn, fit, LIMITS } from './limits.js';

export const FIX_CI_ACTION = 'airlock_fix_ci';

/** `<repo>#<number> <check key>`: what a Fix CI button carries (the server checks everything again). */
export function fixCiValue(repo: string, number: number, checkId: string): string {
  return `${repo}#${number} ${checkId}`;
}

export function parseFixCiValue(
  value: string | undefined,
): { repo: string; number: number; checkId: string } | undefined {
  const match = /^([\w.-]+\/[\w.-]+)#(\d{1,9}) (\S{1,300})$/.exec(value ?? '');
  return match
    ? { repo: match[1] as string, number: Number(match[2]), checkId: match[3] as string }
    : undefined;
}

/** A check failed on a head airlock pushed: which, where, the end of its log, and **Fix CI**. */
export function checkFailedMessage(
  run: RunRecord,
  check: { name: string; url: string; sha: string; log: string },
  fix: string | undefined,
  who: string[],
): { text: string; blocks: unknown[] } {
  const mention = who.map((id) => (id.startsWith('S') ? `<!subteam^${id}>` : `<@${id}>`)).join(' ');
  const name = escapeMrkdwn(check.name);
  const link = check.url ? `<${check.url}|${name}>` : `*${name}*`;
  const text = `:red_circle: Check ${check.name} failed on ${check.sha.slice(0, 12)}.`;
  const head = `:red_circle: ${link} failed on \`${check.sha.slice(0, 12)}\` of \`${escapeMrkdwn(run.branch ?? run.repo)}\`.${
    fix && mention
      ? `\n${mention}: *Fix CI* starts a follow-up whose task is this failure; its push is approved as usual.`
      : ''
  }`;
  const blocks: unknown[] = [
    { type: 'section', text: { type: 'mrkdwn', text: fit(head, LIMITS.sectionText, '…') } },
  ];
  const log = check.log.trim();
  if (log) {
    const shown = fit(log.replaceAll('```', "'''"), LIMITS.sectionText - 8, '…');
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `\`\`\`${shown}\`\`\`` } });
  }
  if (fix)
    blocks.push({
      type: 'actions',
      block_id: 'airlock_check_failed',
      elements: [
        {
          type: 'button',
          action_id: FIX_CI_ACTION,
          text: { type: 'plain_text', text: 'Fix CI' },
          style: 'primary',
          value: fix,
        },
      ],
    });
  return { text: fit(text, 3000, '…'), blocks };
}
