import { escapeMrkdwn, fit } from './limits.js';

export const PICK_REPO_ACTION = 'airlock_pick_repo';

/** Asks which repository when neither the text nor the channel says. */
export function repoPicker(repos: string[], task: string): { text: string; blocks: unknown[] } {
  return {
    text: 'Which repository should I work on?',
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: fit(`Which repository should I work on for:\n>${escapeMrkdwn(task)}`, 3000, '…'),
        },
        accessory: {
          type: 'static_select',
          action_id: PICK_REPO_ACTION,
          placeholder: { type: 'plain_text', text: 'Pick a repository' },
          options: repos
            .slice(0, 100)
            .map((r) => ({ text: { type: 'plain_text', text: fit(r, 75, '…') }, value: r })),
        },
      },
    ],
  };
}
