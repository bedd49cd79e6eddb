import type { Logger } from '../log/logger.js';
import { ruleFor } from '../shared/host-rule.js';
import type { EgressRecord } from './ports/egress.js';
import type { RunRecord, Store } from './ports/store.js';

/** A host the agent was refused, as `host:port`, with the policy entry that would allow it. */
export interface EgressRefusal {
  target: string;
  rule: string;
}

/** A refusal of either phase, for a run's report. */
export interface PhaseRefusal extends EgressRefusal {
  phase: 'setup' | 'agent';
}

/**
 * Writes every gateway connection into the audit log (egress.allowed / egress.refused) and
 * tells whoever listens, once per run and target, that the agent was refused a host: the thread
 * offers approvers to allow it (DESIGN.md §4).
 */
export class EgressLedger {
  private readonly told = new Set<string>();
  onAgentRefused?: (run: RunRecord, refusal: EgressRefusal) => void;

  constructor(
    private readonly store: Store,
    private readonly logger: Logger,
  ) {}

  record(r: EgressRecord): void {
    const data = {
      host: r.host,
      port: r.port,
      phase: r.phase,
      method: r.method,
      ...(r.rule ? { rule: r.rule } : {}),
      ...(r.reason ? { reason: r.reason } : {}),
      bytes_sent: r.bytesSent,
      bytes_received: r.bytesReceived,
      duration_ms: r.durationMs,
      ...(r.error ? { error: r.error } : {}),
    };
    // A connection of no run — a prepared sandbox's setup, or no known sandbox at all — is recorded
    // under '-' with the sandbox named, so every run's events stay its own (audit verify).
    const run = r.key ? this.store.getRun(r.key) : undefined;
    const runId = run ? run.id : '-';
    this.store.appendEvent(runId, {
      type: r.allowed ? 'egress.allowed' : 'egress.refused',
      data: run ? data : { ...data, sandbox: r.key || null },
    });
    this.logger.info({ run_id: runId, egress: data, allowed: r.allowed }, 'egress');
    if (r.allowed || r.phase !== 'agent') return;
    const target = targetText(r.host, r.port);
    const seen = `${runId}\u0000${target}`;
    if (!run || this.told.has(seen)) return;
    this.told.add(seen);
    this.onAgentRefused?.(run, { target, rule: ruleFor(r.host, r.port) });
  }
}

/** host:port as a person reads it, IPv6 in brackets. */
function targetText(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** The hosts a run's sandbox was refused, by phase, from its audit events (summaries, --json). */
export function refusedTargets(store: Store, runId: string): PhaseRefusal[] {
  const found = new Map<string, PhaseRefusal>();
  for (const event of store.events(runId)) {
    const phase = event.data.phase;
    if (event.type !== 'egress.refused' || (phase !== 'agent' && phase !== 'setup')) continue;
    const host = String(event.data.host);
    const port = Number(event.data.port);
    const target = targetText(host, port);
    const key = `${phase} ${target}`;
    if (!found.has(key)) found.set(key, { phase, target, rule: ruleFor(host, port) });
  }
  return [...found.values()];
}

/** The policy lines that would allow what was refused: `repos.R.network.agent: [a, b]`. */
export function policyLinesFor(repo: string, refusals: readonly PhaseRefusal[]): string[] {
  return (['setup', 'agent'] as const).flatMap((phase) => {
    const rules = [...new Set(refusals.filter((r) => r.phase === phase).map((r) => r.rule))];
    return rules.length ? [`repos.${repo}.network.${phase}: [${rules.join(', ')}]`] : [];
  });
}

/** What approvers allowed during the run, to apply again when a run resumes after a restart. */
export function grantedTargets(store: Store, runId: string): string[] {
  return store
    .events(runId)
    .filter((e) => e.type === 'egress.granted')
    .map((e) => String(e.data.target));
}
