/** `airlock/<run-id>-<slug>`: deterministic per run, so a retried push targets the same branch. */
export function branchName(runId: string, task: string): string {
  const slug = task
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .replace(/-+$/, '');
  return `airlock/${runId}${slug ? `-${slug}` : ''}`;
}

/** A short, time-ordered, URL- and ref-safe id. */
export function newRunId(now = Date.now(), random = Math.random): string {
  // Fixed width, so ids sort by time as strings (9 base-36 digits last past the year 5000).
  const time = now.toString(36).padStart(9, '0');
  // Eight random digits: a burst of thousands of requests in one millisecond still gets distinct ids.
  const tail = Math.floor(random() * 36 ** 8)
    .toString(36)
    .padStart(8, '0');
  return `${time}${tail}`;
}
