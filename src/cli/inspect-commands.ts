import type { App } from '../composition-root.js';
import { repoPolicy } from '../config/policy.js';
import { AirlockError } from '../errors.js';
import { diffStat, formatDiffStat } from '../runs/diffstat.js';
import { describeOwner, ownerGone } from '../runs/owner-lease.js';
import type { RunRecord } from '../runs/ports/store.js';
import { isTerminal } from '../runs/run-state.js';
import { findSensitiveChanges } from '../runs/sensitive-changes.js';
import { formatChainPoint, GENESIS_HASH, parseChainPoint } from '../store/audit-chain.js';

type Out = { write(s: string): unknown };

/** `airlock runs`: the newest runs first. */
export function runsCommand(app: App, opts: { limit?: string; json?: boolean }, out: Out): number {
  const limit = opts.limit ? Number.parseInt(opts.limit, 10) : 20;
  if (!Number.isInteger(limit) || limit < 1)
    throw new AirlockError('usage', '--limit takes a positive whole number.');
  const runs = app.store.listRuns({ limit });
  if (opts.json) {
    out.write(`${JSON.stringify(runs)}\n`);
    return 0;
  }
  if (runs.length === 0) {
    out.write('No runs yet. Start one with: airlock run --repo <owner/name> --task "..."\n');
    return 0;
  }
  for (const r of runs) {
    const task = (r.task.split('\n')[0] ?? '').slice(0, 60);
    out.write(
      `${r.id}  ${r.createdAt.slice(0, 19).replace('T', ' ')}  ${r.state.padEnd(17)}  ${r.repo}  ${task}${ownerNote(app, r)}\n`,
    );
  }
  return 0;
}

/** Who moves an active run, so a run nobody moves shows as such (and why it will move again). */
function ownerNote(app: App, run: RunRecord): string {
  if (isTerminal(run.state)) return run.retryable ? '  (push failed: airlock retry)' : '';
  const owner = app.store.owners().find((o) => o.id === run.ownerId);
  if (!ownerGone(owner, app.owner.me, Date.now())) return `  [${describeOwner(owner)}]`;
  return run.source === 'cli'
    ? '  [owner gone: interrupted]'
    : '  [owner gone: resumes when airlock serve starts]';
}

/** `airlock show RUN`: events, commands with exit codes, model turns, the diff. */
export function showCommand(app: App, runId: string, opts: { json?: boolean }, out: Out): number {
  const run = app.store.getRun(runId);
  if (!run) throw new AirlockError('run_not_found', `No run ${runId}. List runs with \`airlock runs\`.`);
  const events = app.store.events(runId);
  const calls = app.store.toolCalls(runId);
  const turns = app.store.modelTurns(runId);
  const diff = run.diffSha256 ? app.store.diff(runId, run.diffSha256) : undefined;
  if (opts.json) {
    out.write(
      `${JSON.stringify({ run, events, tool_calls: calls, model_turns: turns, diff: diff?.toString('utf8') ?? null })}\n`,
    );
    return 0;
  }
  const totals = app.store.totals(runId);
  out.write(
    `run ${run.id} · ${run.repo}${run.mode === 'change' ? '' : ` · ${run.mode}`} · ${run.state}${run.outcome ? ` (${run.outcome})` : ''}\n`,
  );
  out.write(`requested by ${run.requester} via ${run.source} at ${run.createdAt}\n`);
  out.write(`base ${run.baseRef} @ ${run.baseSha ?? '(not fixed yet)'}\n`);
  out.write(
    `${totals.steps} model turns · ${totals.inputTokens + totals.outputTokens} tokens · $${totals.costUsd.toFixed(4)}\n`,
  );
  const loaded = events.find((e) => e.type === 'instructions.loaded')?.data as
    | { operator_chars: number; repository: { path: string; bytes: number; truncated: boolean } | null }
    | undefined;
  if (loaded) {
    const repo = loaded.repository;
    out.write(
      `instructions: ${loaded.operator_chars ? `the policy's (${loaded.operator_chars} characters)` : 'none from the policy'}; ${repo ? `the repository's ${repo.path} (${repo.bytes} bytes${repo.truncated ? ', cut' : ''})` : 'no AGENTS.md, CLAUDE.md or .github/copilot-instructions.md'}\n`,
    );
  }
  const egress = egressLine(events);
  if (egress) out.write(`${egress}\n`);
  if (run.branch) out.write(`branch ${run.branch}\n`);
  if (run.prUrl) out.write(`pull request ${run.prUrl}\n`);
  if (run.error) out.write(`error: ${run.error}\n`);
  if (!isTerminal(run.state)) out.write(`owner:${ownerNote(app, run) || ' this process'}\n`);
  out.write(`\ntask:\n${indent(run.task)}\n`);
  if (run.summary) out.write(`\nsummary:\n${indent(run.summary)}\n`);

  out.write('\nevents:\n');
  for (const e of events)
    out.write(`  ${String(e.seq).padStart(5)}  ${e.at}  ${e.type}${eventDetail(e.data)}\n`);

  out.write('\ncommands:\n');
  for (const c of calls) {
    const input = c.input as Record<string, unknown>;
    const what =
      c.name === 'bash' || c.name === 'setup'
        ? `$ ${String(input.command ?? '(restart)')}`
        : `${c.name} ${input.command} ${input.path}`;
    out.write(`  [step ${c.step}] ${what.split('\n')[0]} → ${c.exitCode ?? (c.isError ? 'error' : '-')}\n`);
  }

  out.write('\nmodel turns:\n');
  for (const t of turns) {
    const response = t.response as {
      content?: Array<{ type: string; text?: string; name?: string }>;
      stop_reason?: string;
    };
    const said = (response.content ?? [])
      .map((b) => (b.type === 'text' ? (b.text ?? '').split('\n')[0] : `[${b.name}]`))
      .join(' ')
      .slice(0, 100);
    out.write(
      `  [step ${t.step}] ${t.model} in=${t.usage.inputTokens} out=${t.usage.outputTokens} ${response.stop_reason ?? ''}: ${said}\n`,
    );
  }
  if (diff) {
    const findings = findSensitiveChanges(diff, repoPolicy(app.policy, run.repo));
    if (findings.length) {
      out.write('\ndeserves a second look:\n');
      for (const f of findings) out.write(`  ${f.path}: ${f.reason}\n`);
    }
    out.write(
      `\ndiff (sha256 ${run.diffSha256}):\n${formatDiffStat(diffStat(diff.toString('utf8')))}\n\n${diff.toString('utf8')}\n`,
    );
  }
  return 0;
}

/**
 * `airlock audit verify [--expect SEQ:HASH]...`: recompute the chain, check every run against
 * its events and each published checkpoint. Prints `head SEQ:HASH` when intact. Exit 0 intact,
 * 1 broken (or a checkpoint missing), 2 a malformed --expect or a keyed chain and no key set.
 */
export function auditVerifyCommand(app: App, opts: { expect?: string[] }, out: Out, err: Out): number {
  const expect = (opts.expect ?? []).map((text) => {
    const point = parseChainPoint(text);
    if (!point)
      throw new AirlockError(
        'usage',
        `--expect takes SEQ:HASH as an \`audit checkpoint\` log line prints it (a sequence number, a colon, 64 hex digits), not ${JSON.stringify(text)}.`,
      );
    return point;
  });
  const report = app.store.verifyAuditAgainst(expect);
  const head = formatChainPoint({ seq: report.headSeq ?? 0, hash: report.head ?? GENESIS_HASH });
  if (report.ok) {
    const scheme =
      report.keyedFrom === null
        ? `plain SHA-256${app.env.AIRLOCK_AUDIT_KEY ? '' : ' (no AIRLOCK_AUDIT_KEY)'}`
        : `keyed with AIRLOCK_AUDIT_KEY from event ${report.keyedFrom}`;
    const checkpoints = expect.length ? `, ${expect.length} checkpoint(s) present` : '';
    out.write(
      `audit chain intact: ${report.checked} events, ${report.runsChecked} runs agree with them, ${scheme}${checkpoints}\n`,
    );
    out.write(`head ${head}\n`);
    return 0;
  }
  const onlyKey = report.needsKey && report.problems.length === 1;
  err.write(
    onlyKey
      ? `audit chain NOT VERIFIED: it is keyed and AIRLOCK_AUDIT_KEY is not set (${report.checked} events, head ${head})\n`
      : `audit chain BROKEN: ${report.problems.length} problem(s) in ${report.checked} events (head ${head})\n`,
  );
  for (const p of report.problems) err.write(`  - ${p}\n`);
  return onlyKey ? 2 : 1;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}

function eventDetail(data: Record<string, unknown>): string {
  const keys = [
    'to',
    'by',
    'reason',
    'name',
    'exit_code',
    'base_sha',
    'sha256',
    'diff_sha256',
    'branch',
    'pr_url',
  ];
  const parts = keys
    .filter((k) => data[k] !== undefined && data[k] !== null)
    .map((k) => `${k}=${String(data[k])}`);
  return parts.length ? `  ${parts.join(' ')}` : '';
}

/** What went through the egress gateway: hosts reached and refused, by phase, and grants. */
function egressLine(events: Array<{ type: string; data: Record<string, unknown> }>): string | undefined {
  const hosts = (type: string) => [
    ...new Set(
      events.filter((e) => e.type === type).map((e) => `${e.data.host}:${e.data.port} (${e.data.phase})`),
    ),
  ];
  const allowed = hosts('egress.allowed');
  const refused = hosts('egress.refused');
  const granted = events
    .filter((e) => e.type === 'egress.granted')
    .map((e) => `${e.data.target} by ${e.data.by}`);
  if (!allowed.length && !refused.length && !granted.length) return undefined;
  const parts = [
    allowed.length ? `reached ${allowed.join(', ')}` : 'reached nothing',
    ...(refused.length ? [`refused ${refused.join(', ')}`] : []),
    ...(granted.length ? [`allowed for this run: ${granted.join(', ')}`] : []),
  ];
  return `egress: ${parts.join('; ')}`;
}
