export const CHANGES_MODAL = 'airlock_changes_modal';
export const FEEDBACK_BLOCK = 'feedback';
export const FEEDBACK_INPUT = 'text';

export interface ChangesModalMetadata {
  runId: string;
  sha: string;
}

/** The modal's metadata as airlock wrote it, or undefined for anything else. */
export function parseModalMetadata(text: string): ChangesModalMetadata | undefined {
  try {
    const meta = JSON.parse(text) as Partial<ChangesModalMetadata>;
    return typeof meta.runId === 'string' && /^[0-9a-f]{64}$/.test(meta.sha ?? '')
      ? { runId: meta.runId, sha: meta.sha as string }
      : undefined;
  } catch {
    return undefined;
  }
}

/** The modal behind Request changes: what should the agent do differently? */
export function requestChangesModal(meta: ChangesModalMetadata): unknown {
  return {
    type: 'modal',
    callback_id: CHANGES_MODAL,
    private_metadata: JSON.stringify(meta),
    title: { type: 'plain_text', text: 'Request changes' },
    submit: { type: 'plain_text', text: 'Send to agent' },
    close: { type: 'plain_text', text: 'Cancel' },
    blocks: [
      {
        type: 'input',
        block_id: FEEDBACK_BLOCK,
        label: { type: 'plain_text', text: 'What should change?' },
        element: {
          type: 'plain_text_input',
          action_id: FEEDBACK_INPUT,
          multiline: true,
          max_length: 3000,
          placeholder: {
            type: 'plain_text',
            text: 'e.g. keep the old function name; add a test for empty input',
          },
        },
      },
    ],
  };
}
