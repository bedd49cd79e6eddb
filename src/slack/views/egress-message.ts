import type { RunRecord } from '../../runs/ports/store.js';
import { escapeMrkdwn, fit, LIMITS } from './limits.js';

export const ALLOW_EGRESS_ACTION = 'airlock_allow_egress';

/** `<run id> <host:port>`: what an Allow button carries (the server checks everything again). */
export function egressValue(runId: string, target: string): string {
  return `${runId} ${target}`;
}

export function parseEgressValue(value: string | undefined): { runId: string; target: string } | undefined {
  const match = /^([a-z0-9]{1,40}) ((?:[a-z0-9._-]{1,253}|\[[0-9a-f:.]{2,45}\]):\d{1,5})$/i.exec(value ?? '');
  return match ? { runId: match[1] as string, target: (match[2] as string).toLowerCase() } : undefined;
}

/**
 * The agent was refused a host: the thread names it, says how to allow it for every run, and
 * offers approvers **Allow `host` for this run** (DESIGN.md §4, egress by button).
 */
export function egressMessage(
  run: RunRecord,
  target: string,
  rule: string,
  approvers: string[],
): { text: string; blocks: unknown[] } {
  const who = approvers.length
    ? approvers.map((id) => (id.startsWith('S') ? `<!subteam^${id}>` : `<@${id}>`)).join(' ')
    : 'An approver';
  const text = `:no_entry_sign: The agent was refused ${target} by the egress gateway.`;
  const detail =
    `:no_entry_sign: The agent asked for \`${escapeMrkdwn(target)}\` and the egress gateway refused it: ` +
    `it is not in \`network.agent\` for ${escapeMrkdwn(run.repo)}.\n${who}: allow it for this run only, ` +
    `or add \`${escapeMrkdwn(rule)}\` under \`network.agent\` in the policy for every run.`;
  return {
    text: fit(text, 3000, '…'),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: fit(detail, LIMITS.sectionText, '…') } },
      {
        type: 'actions',
        block_id: 'airlock_egress',
        elements: [
          {
            type: 'button',
            action_id: ALLOW_EGRESS_ACTION,
            text: { type: 'plain_text', text: fit(`Allow ${target} for this run`, 75, '…') },
            value: egressValue(run.id, target),
          },
        ],
      },
    ],
  };
}
