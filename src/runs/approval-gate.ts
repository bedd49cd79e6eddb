import type { RepoPolicy } from '../config/policy.js';
import type { Logger } from '../log/logger.js';
import { mayApprove } from './approval-policy.js';
import type { RunRecord, Store } from './ports/store.js';
import type { Actor } from './run-lifecycle.js';
import {
  findSensitiveChanges,
  mayAnyoneApprove,
  mayApproveSensitive,
  protectedEntries,
} from './sensitive-changes.js';

/**
 * Everything an approval is decided on (DESIGN.md §5), read inside the transaction that moves the
 * run to `pushing`: the click's place (the chat's own check), the person, the exact diff, the
 * approval TTL, the run's row against its own audit events, and what the diff itself forbids.
 * Returns the reason to refuse, or undefined.
 */
export function approvalRefusal(
  deps: { store: Store; logger: Logger },
  run: RunRecord,
  ask: {
    actor: Actor;
    diffSha256: string;
    policy: RepoPolicy;
    now: number;
    where?: (run: RunRecord) => string | undefined;
  },
): string | undefined {
  const { actor, policy } = ask;
  const where = ask.where?.(run);
  if (where) return where;
  if ('person' in actor) {
    const decision = mayApprove(policy, actor.person, run.requester);
    if (!decision.allowed) return decision.reason;
  }
  if (run.diffSha256 !== ask.diffSha256)
    return 'The diff changed since this approval was requested; review the newest diff.';
  const since = run.awaitingSince ? Date.parse(run.awaitingSince) : ask.now;
  if (since + policy.approval_ttl <= ask.now)
    return 'This approval request has expired; ask for the run again.';
  return chainRefusal(deps, run) ?? sensitiveRefusal(deps.store, run, actor, policy);
}

/** A run whose row was edited behind the audit log's back is never pushed. */
export function chainRefusal(deps: { store: Store; logger: Logger }, run: RunRecord): string | undefined {
  const disagreement = deps.store.runAgreesWithChain(run.id);
  if (!disagreement) return undefined;
  deps.logger.error({ run_id: run.id, err: disagreement }, 'run disagrees with the audit log');
  return `This run's record disagrees with the audit log (${disagreement}); nothing is pushed. Run \`airlock audit verify\`.`;
}

/**
 * What the diff itself forbids: `.git` paths never; CI definitions only where the repository
 * allows them; protected paths only by their approvers (never headless). Read from the stored
 * diff, against the policy as it is now.
 */
function sensitiveRefusal(
  store: Store,
  run: RunRecord,
  actor: Actor,
  policy: RepoPolicy,
): string | undefined {
  const diff = run.diffSha256 ? store.diff(run.id, run.diffSha256) : undefined;
  if (!diff) return 'The approved diff is missing from the store; nothing can be pushed.';
  const findings = findSensitiveChanges(diff, policy);
  if ('person' in actor) {
    const decision = mayApproveSensitive(findings, policy, actor.person, run.repo);
    return decision.allowed ? undefined : decision.reason;
  }
  const anyone = mayAnyoneApprove(findings, policy, run.repo);
  if (!anyone.allowed) return anyone.reason;
  const guarded = protectedEntries(findings);
  return guarded.length
    ? `This diff changes protected paths (${guarded.map((g) => g.pattern).join(', ')}), which need their approvers' click; it cannot be pushed headless.`
    : undefined;
}
