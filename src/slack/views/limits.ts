/** Block Kit limits (api.slack.com/reference/block-kit): what Slack rejects beyond. */
export const LIMITS = {
  blocksPerMessage: 50,
  sectionText: 3000,
  buttonText: 75,
  buttonValue: 2000,
  headerText: 150,
  contextElements: 10,
  modalTitle: 24,
  messageText: 40_000,
} as const;

/** Cuts text to fit, saying it was cut, so nothing is silently lost. */
export function fit(text: string, max: number, note = '… (cut; see the attached file)'): string {
  if (text.length <= max) return text;
  return `${text.slice(0, Math.max(0, max - note.length))}${note}`;
}

/** Slack mrkdwn needs &, < and > escaped in text that is not a link or mention. */
export function escapeMrkdwn(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

/** A code block that fits in one section, fence included. */
export function codeBlock(text: string, max: number = LIMITS.sectionText): string {
  const body = fit(escapeMrkdwn(text), max - 8, '\n… (cut)');
  return `\`\`\`${body}\`\`\``;
}
