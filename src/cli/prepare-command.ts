import type { App } from '../composition-root.js';
import { repoPolicy } from '../config/policy.js';
import { AirlockError } from '../errors.js';

/**
 * `airlock prepare --repo R`: builds the repository's prepared sandboxes now, at its base
 * branch's current head (for CI caches and cron; `serve` keeps them fresh on its own). Stale ones
 * go. Exit 0 when as many are ready as the policy wants (at least one), 1 when a build failed.
 */
export async function prepareCommand(
  app: App,
  opts: { repo?: string; json?: boolean },
  out: { write(s: string): unknown },
  err: { write(s: string): unknown },
): Promise<number> {
  if (!opts.repo) throw new AirlockError('usage', 'Name the repository: airlock prepare --repo owner/name.');
  const wanted = repoPolicy(app.policy, opts.repo).prepared;
  if (wanted === 0) {
    err.write(
      `note: repos.${opts.repo}.prepared is 0, so airlock serve will not keep this one fresh; set it to keep some ready.\n`,
    );
  }
  await app.startEgress();
  const started = Date.now();
  const report = await app.preparedPool.refresh(opts.repo, { atLeast: 1 });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  for (const failure of report.failed) err.write(`${failure}\n`);
  const line =
    `${report.repo} at ${report.baseSha.slice(0, 12)}: ${report.ready} prepared sandbox(es) ready ` +
    `(${report.built} built, ${report.removed} stale removed, ${seconds} s)`;
  if (opts.json) out.write(`${JSON.stringify({ ...report, seconds: Number(seconds) })}\n`);
  else out.write(`${line}\n`);
  return report.failed.length || report.ready < Math.max(report.wanted, 1) ? 1 : 0;
}
