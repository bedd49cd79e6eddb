import type { RepoPolicy } from '../config/policy.js';

/** A policy answer: a refusal is a value with a reason a person can act on, not an exception. */
export type Decision = { allowed: true } | { allowed: false; reason: string };

const ALLOW: Decision = { allowed: true };

export interface Approver {
  /** A Slack user id, or `cli:<name>` for a person at a terminal. */
  id: string;
  /** Slack user-group ids the person belongs to. */
  groups?: string[];
}

/** May this person approve this run's diff? (DESIGN.md §5: approvers, four_eyes.) */
export function mayApprove(policy: RepoPolicy, approver: Approver, requester: string): Decision {
  if (policy.four_eyes && approver.id === requester) {
    return {
      allowed: false,
      reason: 'four_eyes is on for this repository: someone other than the requester must approve.',
    };
  }
  const listed =
    policy.approvers.includes(approver.id) ||
    (approver.groups ?? []).some((g) => policy.approvers.includes(g));
  if (!listed) {
    return {
      allowed: false,
      reason: policy.approvers.length
        ? 'You are not an approver for this repository. Ask one of its approvers.'
        : 'This repository has no approvers configured (repos.<repo>.approvers in airlock.yaml).',
    };
  }
  return ALLOW;
}

/** May `airlock run --push --yes` push without a person's click? */
export function mayPushHeadless(policy: RepoPolicy, repo: string): Decision {
  if (!policy.headless_push) {
    return {
      allowed: false,
      reason: `headless_push is off for ${repo}, so --push --yes may not push. Approve the run in Slack, or set repos.${repo}.headless_push: true in airlock.yaml.`,
    };
  }
  return ALLOW;
}

/** May this person start a run on this repository? */
export function mayRequest(policy: RepoPolicy, requester: Approver): Decision {
  if (!policy.requesters) return ALLOW;
  const listed =
    policy.requesters.includes(requester.id) ||
    (requester.groups ?? []).some((g) => policy.requesters?.includes(g));
  return listed
    ? ALLOW
    : {
        allowed: false,
        reason: 'You may not start runs on this repository. Ask one of its approvers for access.',
      };
}
