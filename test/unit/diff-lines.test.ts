import { describe, expect, it } from 'vitest';
import { newSideLines } from '../../src/runs/diff-lines.js';
import { parseRequest } from '../../src/slack/intake.js';

const DIFF = [
  'diff --git a/src/add.js b/src/add.js',
  'index 1111111..2222222 100644',
  '--- a/src/add.js',
  '+++ b/src/add.js',
  '@@ -1,3 +1,4 @@',
  ' export function add(a, b) {',
  '-  return a - b;',
  '+  return a + b;',
  '+  // fixed',
  ' }',
  'diff --git a/old.txt b/old.txt',
  'deleted file mode 100644',
  '--- a/old.txt',
  '+++ /dev/null',
  '@@ -1 +0,0 @@',
  '-gone',
  'diff --git a/src/new.js b/src/new.js',
  'new file mode 100644',
  '--- /dev/null',
  '+++ b/src/new.js',
  '@@ -0,0 +1,2 @@',
  '+one',
  '+two',
  '\\ No newline at end of file',
  '',
].join('\n');

describe("the lines a review may comment on: each file's new side in the diff", () => {
  it('added and context lines, numbered in the new file; deleted files have none', () => {
    const lines = newSideLines(DIFF);
    expect([...(lines.get('src/add.js') ?? [])]).toEqual([1, 2, 3, 4]);
    expect([...(lines.get('src/new.js') ?? [])]).toEqual([1, 2]);
    expect(lines.has('old.txt')).toBe(false);
  });
});

describe('reading `review` in a mention', () => {
  it('takes the pull request from a link (with its repository), #N or !N', () => {
    expect(
      parseRequest('<@UBOT> review <https://github.example/acme/widgets/pull/12>', 'UBOT'),
    ).toMatchObject({
      mode: 'review',
      pr: 12,
      repo: 'acme/widgets',
    });
    expect(
      parseRequest('<@UBOT> review <https://gitlab.example/acme/infra/-/merge_requests/7|!7>', 'UBOT'),
    ).toMatchObject({ mode: 'review', pr: 7, repo: 'acme/infra' });
    expect(parseRequest('<@UBOT> review #3 please', 'UBOT')).toMatchObject({ mode: 'review', pr: 3 });
    expect(parseRequest('<@UBOT> review the docs for typos', 'UBOT').mode).toBe('change');
  });
});
