import { describe, expect, it } from 'vitest';
import type { WatchedPullRequest } from '../../src/runs/ports/pull-requests.js';
import { commentTask, fixTask, mentions, whoMayAsk } from '../../src/runs/pull-request-requests.js';
import { approvedDescription } from '../../src/runs/pull-request-text.js';

const PR: WatchedPullRequest = {
  repo: 'acme/widgets',
  number: 7,
  url: 'https://github.example/acme/widgets/pull/7',
  branch: 'airlock/fix-add-0abc',
  base: 'main',
  originRunId: 'run1',
  state: 'open',
  headSha: 'a'.repeat(40),
  pushedHeads: ['a'.repeat(40)],
  handled: [],
  told: [],
  fixAttempts: 0,
  createdAt: '2026-11-30T10:00:00.000Z',
};

describe('what a pull request comment asks', () => {
  it('a mention is @handle as a word of its own, in any case; not an email, a longer name or a path', () => {
    expect(mentions('@airlock please add sub()', 'airlock')).toBe(true);
    expect(mentions('Thanks! @Airlock, rename it', 'airlock')).toBe(true);
    expect(mentions('(@airlock) fix the test', 'airlock')).toBe(true);
    expect(mentions('ping bot@airlock.dev about it', 'airlock')).toBe(false);
    expect(mentions('@airlock-bot did this', 'airlock')).toBe(false);
    expect(mentions('@airlocked is not it', 'airlock')).toBe(false);
    expect(mentions('see docs/@airlock/readme', 'airlock')).toBe(false);
    expect(mentions('@ai.lock with a dot handle', 'ai.lock')).toBe(true);
    expect(mentions('@aiXlock is not a dot', 'ai.lock')).toBe(false);
  });

  it('the task carries the comment without the mention, where it is, and the conversation so far', () => {
    const task = commentTask(
      PR,
      {
        id: 'review-comment:1',
        number: 7,
        author: 'octocat',
        body: '@airlock, use a constant here',
        url: `${PR.url}#discussion_r1`,
        createdAt: '2026-11-30T10:05:00Z',
        path: 'src/add.js',
        line: 3,
        diffHunk: '@@ -1,3 +1,3 @@\n-  return a - b;\n+  return a + b;',
      },
      'airlock',
      ['U0REQ: fix add() (done)'],
    );
    expect(task).toContain('Follow-up on pull request #7');
    expect(task).toContain('asked by octocat');
    expect(task).toContain('\nuse a constant here\n');
    expect(task).not.toContain('@airlock');
    expect(task).toContain('The comment is on src/add.js line 3.');
    expect(task).toContain('+  return a + b;');
    expect(task).toContain('- U0REQ: fix add() (done)');
  });

  it('Fix CI’s task names the check, the commit and the end of its log', () => {
    const task = fixTask(PR, { name: 'unit tests', sha: PR.headSha, url: 'https://ci/1', log: 'FAIL add\n' });
    expect(task).toContain('the check "unit tests" failed on aaaaaaaaaaaa');
    expect(task).toContain('```\nFAIL add\n```');
    expect(task).not.toMatch(/\n\n\n/);
    expect(fixTask(PR, { name: 'lint', sha: PR.headSha, url: '', log: '' })).toContain('left no log');
  });

  it('a person who may not ask hears why, by login', () => {
    expect(whoMayAsk('stranger', 'airlock', false)).toMatch(/^@stranger airlock does not know you/);
    expect(whoMayAsk('outsider', 'airlock', true)).toMatch(/^@outsider you are not among the requesters/);
  });

  it('the approval status says who approved which diff, within GitHub’s 140 characters', () => {
    expect(approvedDescription('U0APPROVER', 'f'.repeat(64))).toBe(
      'approved by U0APPROVER · diff ffffffffffff',
    );
    expect(approvedDescription('x'.repeat(200), 'f'.repeat(64))).toHaveLength(140);
  });
});
