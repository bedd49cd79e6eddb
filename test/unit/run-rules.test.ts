import { describe, expect, it } from 'vitest';
import { parsePolicy, repoPolicy } from '../../src/config/policy.js';
import { mayApprove, mayPushHeadless, mayRequest } from '../../src/runs/approval-policy.js';
import { branchName, newRunId } from '../../src/runs/branch-name.js';
import { diffStat, formatDiffStat } from '../../src/runs/diffstat.js';
import { canTransition, RUN_STATES, type RunState, TERMINAL_STATES } from '../../src/runs/run-state.js';

const policy = parsePolicy(`
repos:
  acme/widgets:
    approvers: [U01APPROVER, S01LEADS]
    requesters: [S01ENG]
  acme/solo:
    approvers: [U01ME]
    four_eyes: false
    headless_push: true
`);

describe('who may approve', () => {
  const widgets = repoPolicy(policy, 'acme/widgets');

  it('a listed approver may approve someone else’s run', () => {
    expect(mayApprove(widgets, { id: 'U01APPROVER' }, 'U02REQ')).toEqual({ allowed: true });
  });

  it('a member of an approver user group may approve', () => {
    expect(mayApprove(widgets, { id: 'U03LEAD', groups: ['S01LEADS'] }, 'U02REQ')).toEqual({ allowed: true });
  });

  it('a requester cannot approve their own run when four_eyes is on', () => {
    const d = mayApprove(widgets, { id: 'U01APPROVER' }, 'U01APPROVER');
    expect(d).toEqual({ allowed: false, reason: expect.stringContaining('four_eyes') });
  });

  it('with four_eyes off, an approver may approve their own run', () => {
    expect(mayApprove(repoPolicy(policy, 'acme/solo'), { id: 'U01ME' }, 'U01ME')).toEqual({ allowed: true });
  });

  it('anyone else is refused with a reason, not an exception', () => {
    const d = mayApprove(widgets, { id: 'U09RANDOM', groups: ['S09OTHER'] }, 'U02REQ');
    expect(d).toEqual({ allowed: false, reason: expect.stringContaining('not an approver') });
  });

  it('only listed requesters may start runs where requesters are set', () => {
    expect(mayRequest(widgets, { id: 'U1', groups: ['S01ENG'] }).allowed).toBe(true);
    expect(mayRequest(widgets, { id: 'U1' }).allowed).toBe(false);
    expect(mayRequest(repoPolicy(policy, 'acme/solo'), { id: 'U1' }).allowed).toBe(true);
  });

  it('headless push needs headless_push: true and says how to enable it', () => {
    expect(mayPushHeadless(repoPolicy(policy, 'acme/solo'), 'acme/solo').allowed).toBe(true);
    const d = mayPushHeadless(widgets, 'acme/widgets');
    expect(d).toEqual({
      allowed: false,
      reason: expect.stringContaining('repos.acme/widgets.headless_push: true'),
    });
  });
});

describe('run states', () => {
  it('terminal states lead nowhere, but a failed push can be retried (failed → pushing)', () => {
    for (const s of TERMINAL_STATES)
      for (const t of RUN_STATES) expect(canTransition(s, t)).toBe(s === 'failed' && t === 'pushing');
  });

  it('follows the documented path and the follow-up loop', () => {
    const path = [
      'requested',
      'queued',
      'provisioning',
      'working',
      'awaiting_approval',
      'pushing',
      'done',
    ] as const;
    for (const [i, to] of path.slice(1).entries()) expect(canTransition(path[i] as RunState, to)).toBe(true);
    expect(canTransition('awaiting_approval', 'changes_requested')).toBe(true);
    expect(canTransition('changes_requested', 'working')).toBe(true);
    expect(canTransition('working', 'pushing')).toBe(false);
    expect(canTransition('queued', 'awaiting_approval')).toBe(false);
  });
});

describe('branch names and run ids', () => {
  it('is airlock/<run-id>-<slug>, safe for git', () => {
    expect(branchName('abc123', 'Fix the login bug! (urgent)')).toBe(
      'airlock/abc123-fix-the-login-bug-urgent',
    );
    expect(branchName('abc123', '???')).toBe('airlock/abc123');
    expect(branchName('r', 'x'.repeat(100))).toHaveLength('airlock/r-'.length + 40);
  });

  it('run ids sort by time', () => {
    expect(newRunId(1000, () => 0.5) < newRunId(2_000_000_000_000, () => 0.5)).toBe(true);
    expect(newRunId()).toMatch(/^[a-z0-9]+$/);
  });
});

describe('diffstat', () => {
  const diff = [
    'diff --git a/src/add.js b/src/add.js',
    'index 1111111..2222222 100644',
    '--- a/src/add.js',
    '+++ b/src/add.js',
    '@@ -1,3 +1,3 @@',
    ' export function add(a, b) {',
    '-  return a - b;',
    '+  return a + b;',
    ' }',
    'diff --git a/new.txt b/new.txt',
    'new file mode 100644',
    '--- /dev/null',
    '+++ b/new.txt',
    '@@ -0,0 +1,2 @@',
    '+one',
    '+two',
    'diff --git a/logo.png b/logo.png',
    'new file mode 100644',
    'GIT binary patch',
    'literal 3',
    'KcmZQz00961',
    '',
  ].join('\n');

  it('counts lines per file and marks binaries', () => {
    const stat = diffStat(diff);
    expect(stat.files).toEqual([
      { path: 'src/add.js', added: 1, removed: 1, binary: false },
      { path: 'new.txt', added: 2, removed: 0, binary: false },
      { path: 'logo.png', added: 0, removed: 0, binary: true },
    ]);
    expect(formatDiffStat(stat)).toContain('3 files changed, 3 insertion(s)(+), 1 deletion(s)(-)');
  });

  it('does not count the ---/+++ headers as changes', () => {
    expect(diffStat(diff).removed).toBe(1);
  });

  it('reports an empty diff as no changes', () => {
    expect(formatDiffStat(diffStat(''))).toBe('no changes');
  });
});
