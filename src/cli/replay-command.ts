import type { App } from '../composition-root.js';
import { type ReplayedCall, replayRun } from '../runs/run-replay.js';

const clip = (s: string) => (s.length > 80 ? `${s.slice(0, 77)}...` : s).replaceAll('\n', ' ');

function line(c: ReplayedCall): string {
  const exit =
    c.exitCode === c.recordedExitCode
      ? `exit ${c.exitCode}`
      : `exit ${c.exitCode} (recorded ${c.recordedExitCode})`;
  return `step ${c.step} ${c.name === 'bash' ? 'bash' : 'edit'} ${clip(c.what)} → ${exit}${c.outputMatches ? '' : ', output differs'}`;
}

/**
 * `airlock replay RUN`: the run's tool calls again in a fresh sandbox, no model; exit 0 when the
 * reproduced diff's SHA-256 is the run's, 1 otherwise (with the first divergence). Pushes nothing.
 */
export async function replayCommand(
  app: App,
  runId: string,
  opts: { json?: boolean },
  out: { write(s: string): unknown },
  err: { write(s: string): unknown },
): Promise<number> {
  await app.startEgress();
  const ports = {
    store: app.store,
    policy: app.policy,
    repos: app.repos,
    sandboxes: app.sandboxes,
    egress: app.gateway,
    redactor: app.redactor,
  };
  const report = await replayRun(ports, runId, { onCall: (c) => err.write(`${line(c)}\n`) });
  const first = report.firstDivergence;
  if (opts.json) {
    out.write(
      `${JSON.stringify({
        run_id: report.runId,
        diff_sha256: report.diffSha256,
        recorded_diff_sha256: report.recordedDiffSha256,
        matches: report.diffMatches,
        calls: report.replayedCalls,
        first_divergence: first ?? null,
      })}\n`,
    );
  } else {
    out.write(`${report.diffSha256 ?? 'no diff'}\n`);
    err.write(
      report.diffMatches
        ? `replayed ${report.replayedCalls} tool calls: the diff is the run's (${report.recordedDiffSha256 ?? 'no diff'}).\n`
        : `replayed ${report.replayedCalls} tool calls: the diff differs from the run's (${report.recordedDiffSha256 ?? 'no diff'}).\n`,
    );
    if (first) err.write(`first divergence: ${line(first)}\n`);
  }
  return report.diffMatches ? 0 : 1;
}
