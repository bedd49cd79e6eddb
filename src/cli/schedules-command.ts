import type { App } from '../composition-root.js';
import { nextTickAfter, scheduleRepos } from '../runs/schedule-runner.js';

/** `airlock schedules`: each schedule of the policy with its next and last runs. */
export function schedulesCommand(
  app: App,
  opts: { json?: boolean },
  out: { write(s: string): unknown },
): number {
  const now = new Date();
  const rows = app.policy.schedules.map((s) => {
    const last = app.schedules.lastFired(s.name);
    return {
      name: s.name,
      cron: s.cron,
      mode: s.mode,
      channel: s.channel,
      repos: scheduleRepos(app.policy, s),
      task: s.task,
      next: nextTickAfter(s, now)?.toISOString() ?? null,
      last: last?.at ?? null,
      last_runs: last ? app.schedules.runsOf(last.id).map((r) => ({ repo: r.repo, run_id: r.runId })) : [],
    };
  });
  if (opts.json) {
    out.write(`${JSON.stringify(rows)}\n`);
    return 0;
  }
  if (!rows.length) {
    out.write('No schedules. Add them under `schedules:` in the policy (README: Schedules).\n');
    return 0;
  }
  for (const r of rows) {
    out.write(`${r.name}  ${r.cron}  ${r.mode}  ${r.repos.join(',')}  → ${r.channel}\n`);
    out.write(`  next ${r.next ?? 'never'} · last ${r.last ?? 'never'}\n  ${r.task}\n`);
  }
  return 0;
}
