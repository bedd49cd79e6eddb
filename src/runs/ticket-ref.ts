/**
 * Jira ticket keys in every form people paste: `WID-7`, `https://x.atlassian.net/browse/WID-7`,
 * `…/jira/software/projects/WID/boards/1?selectedIssue=WID-7`, and Slack's `<url|label>` links.
 */
const KEY = /\b([A-Z][A-Z0-9_]+-[1-9]\d*)\b/g;
const IN_URL = /(?:\/browse\/|[?&]selectedIssue=)([A-Z][A-Z0-9_]+-[1-9]\d*)/g;

export function ticketKeys(text: string): string[] {
  const keys = [...text.matchAll(IN_URL)].map((m) => m[1] as string);
  // Bare keys outside URLs (a URL's own path segments are not tickets).
  const withoutUrls = text.replace(/https?:\/\/\S+/g, ' ');
  keys.push(...[...withoutUrls.matchAll(KEY)].map((m) => m[1] as string));
  return [...new Set(keys)];
}

export function projectOf(key: string): string {
  return key.slice(0, key.lastIndexOf('-'));
}
