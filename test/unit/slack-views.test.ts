import { describe, expect, it } from 'vitest';
import { diffStat } from '../../src/runs/diffstat.js';
import type { RunRecord } from '../../src/runs/ports/store.js';
import { reviewSensitiveChanges, type SensitiveFinding } from '../../src/runs/sensitive-changes.js';
import { parseRequest } from '../../src/slack/intake.js';
import {
  APPROVE_ACTION,
  approvalMessage,
  decidedApprovalMessage,
  INLINE_DIFF_CHARS,
  parseApprovalValue,
} from '../../src/slack/views/approval-message.js';
import { codeBlock, fit } from '../../src/slack/views/limits.js';
import { repoPicker } from '../../src/slack/views/repo-picker.js';
import { requestChangesModal } from '../../src/slack/views/request-changes-modal.js';
import { CANCEL_ACTION, statusMessage } from '../../src/slack/views/status-message.js';

const SHA = 'a'.repeat(64);
const run: RunRecord = {
  id: '0mwyl2j1ntfzl',
  repo: 'acme/widgets',
  task: 'fix it',
  requester: 'U1',
  source: 'slack',
  state: 'awaiting_approval',
  baseRef: 'main',
  baseSha: 'b'.repeat(40),
  snapshotCommit: null,
  diffSha256: SHA,
  summary: 'Fixed add().',
  branch: null,
  prUrl: null,
  outcome: null,
  error: null,
  ticketKey: null,
  prNumber: null,
  mode: 'change',
  approvedBy: null,
  approvedAt: null,
  awaitingSince: null,
  pendingFeedback: null,
  sessionStartedAt: null,
  retryable: false,
  ownerId: null,
  createdAt: '2026-11-27T00:00:00.000Z',
  updatedAt: '2026-11-27T00:00:00.000Z',
};

type Block = { type: string; text?: { text: string }; elements?: Array<Record<string, unknown>> };
const texts = (blocks: unknown[]) =>
  (blocks as Block[])
    .map(
      (b) =>
        b.text?.text ?? (b.type === 'context' ? (b.elements ?? []).map((e) => String(e.text)).join(' ') : ''),
    )
    .filter(Boolean)
    .join('\n');

describe('the approval message', () => {
  const diff = 'diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n';

  it('carries the run and the exact diff hash on every button', () => {
    const m = approvalMessage(run, diff, diffStat(diff), ['U9', 'S01LEADS']);
    const actions = (m.blocks as Block[]).find((b) => b.type === 'actions');
    expect(actions?.elements?.map((e) => e.action_id)).toEqual([
      APPROVE_ACTION,
      'airlock_request_changes',
      'airlock_reject',
    ]);
    for (const e of actions?.elements ?? [])
      expect(parseApprovalValue(e.value as string)).toEqual({ runId: run.id, sha: SHA });
    expect(texts(m.blocks)).toContain('<@U9> <!subteam^S01LEADS>');
    expect(m.attachDiff).toBe(false);
    expect(texts(m.blocks)).toContain('+b');
  });

  it('attaches a long diff as a file instead of inlining it, and stays within Slack limits', () => {
    const long = `diff --git a/x b/x\n${'+line\n'.repeat(INLINE_DIFF_CHARS)}`;
    const m = approvalMessage({ ...run, summary: 's'.repeat(10_000) }, long, diffStat(long), []);
    expect(m.attachDiff).toBe(true);
    expect(m.blocks.length).toBeLessThanOrEqual(50);
    for (const b of m.blocks as Block[]) if (b.text) expect(b.text.text.length).toBeLessThanOrEqual(3000);
    expect(texts(m.blocks)).toContain('(cut)');
  });

  it('once decided, shows who decided instead of buttons', () => {
    const m = approvalMessage(run, diff, diffStat(diff), []);
    const decided = decidedApprovalMessage(m.blocks, 'Approved by <@U9>');
    expect((decided as Block[]).some((b) => b.type === 'actions')).toBe(false);
    expect(texts(decided)).toContain('Approved by <@U9>');
  });

  it('refuses button values that do not name a run and a full hash', () => {
    expect(parseApprovalValue('abc:1234')).toBeUndefined();
    expect(parseApprovalValue(undefined)).toBeUndefined();
  });
});

describe('the status message', () => {
  it('shows step, last command with exit code, tokens and cost, and a Cancel button while working', () => {
    const m = statusMessage(
      { ...run, state: 'working' },
      {
        progress: {
          step: 3,
          maxSteps: 60,
          lastAction: '$ npm test',
          lastExitCode: 1,
          startedAt: 0,
          tokens: 12_345,
          costUsd: 0.042,
        },
        now: 75_000,
      },
    );
    expect(texts(m.blocks)).toBe(
      '*:hammer_and_wrench: Working* on `acme/widgets` · step 3/60 · `$ npm test` → exit 1 · 1m 15s · 12.3k tokens · $0.04\nrun `0mwyl2j1ntfzl`',
    );
    const actions = (m.blocks as Block[]).find((b) => b.type === 'actions');
    expect(actions?.elements?.[0]).toMatchObject({ action_id: CANCEL_ACTION, value: run.id });
  });

  it('says the place in line when queued, and drops Cancel once the run is over', () => {
    expect(texts(statusMessage({ ...run, state: 'queued' }, { position: 4 }).blocks)).toContain(
      'place 4 in line',
    );
    const failed = statusMessage({ ...run, state: 'failed', error: 'The agent stopped: step limit' });
    expect((failed.blocks as Block[]).some((b) => b.type === 'actions')).toBe(false);
    expect(texts(failed.blocks)).toContain('step limit');
  });
});

describe('modal, picker and limits', () => {
  it('the request-changes modal keeps title and submit within 24 characters and carries the diff hash', () => {
    const v = requestChangesModal({ runId: run.id, sha: SHA }) as {
      title: { text: string };
      submit: { text: string };
      private_metadata: string;
    };
    expect(v.title.text.length).toBeLessThanOrEqual(24);
    expect(v.submit.text.length).toBeLessThanOrEqual(24);
    expect(JSON.parse(v.private_metadata)).toEqual({ runId: run.id, sha: SHA });
  });

  it('the repo picker offers at most 100 options', () => {
    const repos = Array.from({ length: 150 }, (_, i) => `acme/r${i}`);
    const p = repoPicker(repos, 'fix') as { blocks: Array<{ accessory: { options: unknown[] } }> };
    expect(p.blocks[0]?.accessory.options).toHaveLength(100);
  });

  it('fit and codeBlock never exceed their limit', () => {
    expect(fit('x'.repeat(5000), 3000)).toHaveLength(3000);
    expect(codeBlock('<'.repeat(4000)).length).toBeLessThanOrEqual(3000);
  });
});

describe('reading a mention', () => {
  it('drops the bot mention, takes repo:, and restores links and entities', () => {
    expect(
      parseRequest('<@UBOT> repo:acme/widgets fix <https://x.io/a|the bug> &amp; test &lt;3', 'UBOT'),
    ).toEqual({
      task: 'fix the bug (https://x.io/a) & test <3',
      repo: 'acme/widgets',
      tickets: [],
      mode: 'change',
    });
  });

  it('`ask` first makes a read-only question; `ask` alone, or later in the text, does not', () => {
    expect(parseRequest('<@UBOT> ask repo:acme/widgets where is add()?', 'UBOT')).toMatchObject({
      task: 'where is add()?',
      repo: 'acme/widgets',
      mode: 'ask',
    });
    expect(parseRequest('<@UBOT> Ask: why does it fail?', 'UBOT')).toMatchObject({
      task: 'why does it fail?',
      mode: 'ask',
    });
    expect(parseRequest('<@UBOT> ask', 'UBOT')).toMatchObject({ task: 'ask', mode: 'change' });
    expect(parseRequest('<@UBOT> asking for a fix of add()', 'UBOT').mode).toBe('change');
    expect(parseRequest('<@UBOT> fix it, then ask me', 'UBOT').mode).toBe('change');
  });

  it('finds Jira keys', () => {
    expect(parseRequest('<@UBOT> please do WID-7 and OPS-12', 'UBOT').tickets).toEqual(['WID-7', 'OPS-12']);
  });
});

describe('the approval message with sensitive changes', () => {
  const diff = 'diff --git a/x b/x\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-a\n+b\n';
  const buttonsOf = (blocks: unknown[]) =>
    (blocks as Block[]).find((b) => b.type === 'actions')?.elements?.map((e) => e.action_id);
  const symlink: SensitiveFinding = {
    kind: 'symlink',
    path: 'link',
    reason: 'symlink added → /etc/passwd: an absolute path outside the repository',
    target: '/etc/passwd',
    outside: true,
  };
  const deploy: SensitiveFinding = {
    kind: 'protected',
    path: 'deploy/prod.yaml',
    reason: 'protected by "deploy/**" (changed): needs an approval from S01PLATFORM, U0LEAD',
    pattern: 'deploy/**',
    approvers: ['S01PLATFORM', 'U0LEAD'],
  };

  it('names what deserves a second look, and keeps all three buttons when someone may approve', () => {
    const m = approvalMessage(run, diff, diffStat(diff), ['U9'], { findings: [symlink] });
    expect(texts(m.blocks)).toContain(
      '*Deserves a second look*\n• *Symlink* `link`: symlink added → /etc/passwd: an absolute path outside the repository',
    );
    expect(buttonsOf(m.blocks)).toEqual([APPROVE_ACTION, 'airlock_request_changes', 'airlock_reject']);
  });

  it('says why nobody may approve, and offers only Request changes and Reject', () => {
    const review = reviewSensitiveChanges(
      'diff --git a/.github/workflows/ci.yml b/.github/workflows/ci.yml\nnew file mode 100644\n',
      { protected_paths: [], allow_ci_changes: false },
      'acme/widgets',
    );
    const m = approvalMessage(run, diff, diffStat(diff), ['U9'], review);
    expect(texts(m.blocks)).toContain(
      ':no_entry: *This diff cannot be approved.* This diff changes CI definitions (.github/workflows/ci.yml), which acme/widgets does not allow.',
    );
    expect(texts(m.blocks)).toContain('*CI definition* `.github/workflows/ci.yml`');
    expect(buttonsOf(m.blocks)).toEqual(['airlock_request_changes', 'airlock_reject']);
  });

  it('names who must approve protected paths', () => {
    const m = approvalMessage(run, diff, diffStat(diff), ['U9'], { findings: [deploy] });
    expect(texts(m.blocks)).toContain(
      '*Protected paths changed.* Only these may approve:\n• `deploy/**` (1 file): <!subteam^S01PLATFORM> <@U0LEAD>',
    );
    expect(buttonsOf(m.blocks)).toContain(APPROVE_ACTION);
  });

  it('stays within Slack limits however many findings there are, saying how many were left out', () => {
    const many: SensitiveFinding[] = Array.from({ length: 2000 }, (_, i) => ({
      kind: 'protected',
      path: `deploy/${'d'.repeat(200)}/${i}.yaml`,
      reason: `protected by "deploy/**" <&> ${'r'.repeat(400)}`,
      pattern: `deploy/${i % 300}/**`,
      approvers: Array.from({ length: 30 }, (_, j) => `U${j}`),
    }));
    const m = approvalMessage(
      { ...run, summary: 's'.repeat(10_000) },
      'x'.repeat(10_000),
      diffStat(diff),
      ['U9'],
      { findings: many, refusal: 'r'.repeat(5000) },
    );
    expect(m.blocks.length).toBeLessThanOrEqual(50);
    for (const b of m.blocks as Block[]) if (b.text) expect(b.text.text.length).toBeLessThanOrEqual(3000);
    expect(texts(m.blocks)).toMatch(/…and \d+ more: read the diff/);
    expect(texts(m.blocks)).toContain('&lt;&amp;&gt;');
  });

  it('without findings, the message is what it was', () => {
    const before = approvalMessage(run, diff, diffStat(diff), ['U9']);
    expect(approvalMessage(run, diff, diffStat(diff), ['U9'], { findings: [] })).toEqual(before);
  });
});
