import { describe, expect, it } from 'vitest';
import { parsePolicy, repoPolicy } from '../../src/config/policy.js';
import { AirlockError } from '../../src/errors.js';
import { globCovers, matchesGlob } from '../../src/runs/path-glob.js';

describe('path patterns', () => {
  it('a literal pattern matches only that path', () => {
    expect(matchesGlob('Jenkinsfile', 'Jenkinsfile')).toBe(true);
    expect(matchesGlob('Jenkinsfile', 'ci/Jenkinsfile')).toBe(false);
    expect(matchesGlob('a.yml', 'a-yml')).toBe(false);
    expect(matchesGlob('src/(x)+.ts', 'src/(x)+.ts')).toBe(true);
  });

  it('* and ? stay within one path segment, dot files included', () => {
    expect(matchesGlob('*.yml', 'ci.yml')).toBe(true);
    expect(matchesGlob('*.yml', '.hidden.yml')).toBe(true);
    expect(matchesGlob('*.yml', 'dir/ci.yml')).toBe(false);
    expect(matchesGlob('requirements*.txt', 'requirements-dev.txt')).toBe(true);
    expect(matchesGlob('requirements*.txt', 'requirements.txt')).toBe(true);
    expect(matchesGlob('v?.txt', 'v1.txt')).toBe(true);
    expect(matchesGlob('v?.txt', 'v10.txt')).toBe(false);
    expect(matchesGlob('a?b', 'a/b')).toBe(false);
  });

  it('** spans any number of directories, none included', () => {
    expect(matchesGlob('.github/workflows/**', '.github/workflows/ci.yml')).toBe(true);
    expect(matchesGlob('.github/workflows/**', '.github/workflows/a/b/c.yml')).toBe(true);
    expect(matchesGlob('.github/workflows/**', '.github/workflowsx/ci.yml')).toBe(false);
    expect(matchesGlob('**/Jenkinsfile', 'Jenkinsfile')).toBe(true);
    expect(matchesGlob('**/Jenkinsfile', 'a/b/Jenkinsfile')).toBe(true);
    expect(matchesGlob('a/**/z', 'a/z')).toBe(true);
    expect(matchesGlob('a/**/z', 'a/b/c/z')).toBe(true);
    expect(matchesGlob('a/**/z', 'b/a/z')).toBe(false);
    expect(matchesGlob('**', 'anything/at/all')).toBe(true);
  });

  it('stays fast on patterns that would backtrack badly', () => {
    const path = `${'a/'.repeat(200)}b`;
    const started = performance.now();
    expect(matchesGlob('**/a/**/a/**/a/**/a/**/c', path)).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('a pattern that names a directory covers what is under it', () => {
    expect(globCovers('deploy', 'deploy/prod/values.yaml')).toBe(true);
    expect(globCovers('deploy/', 'deploy/prod/values.yaml')).toBe(true);
    expect(globCovers('deploy/**', 'deploy/prod/values.yaml')).toBe(true);
    expect(globCovers('deploy', 'deployment/x')).toBe(false);
    expect(globCovers('*/secrets', 'svc/secrets/key.pem')).toBe(true);
    expect(globCovers('*.tf', 'main.tf')).toBe(true);
    expect(globCovers('*.tf', 'infra/main.tf')).toBe(false);
    expect(globCovers('**/*.tf', 'infra/main.tf')).toBe(true);
  });
});

function configError(yaml: string): string {
  try {
    parsePolicy(yaml);
  } catch (e) {
    if (e instanceof AirlockError) return e.message;
    throw e;
  }
  throw new Error('expected the policy to be refused');
}

describe('protected_paths and allow_ci_changes in the policy file', () => {
  it('default to no protected paths and CI changes refused', () => {
    const repo = repoPolicy(parsePolicy('repos:\n  acme/widgets: {}\n'), 'acme/widgets');
    expect(repo.protected_paths).toEqual([]);
    expect(repo.allow_ci_changes).toBe(false);
  });

  it('accept the shape DESIGN.md §7 documents', () => {
    const repo = repoPolicy(
      parsePolicy(`
repos:
  acme/widgets:
    protected_paths: [{ paths: [".github/**", "deploy/**"], approvers: [S01PLATFORM] }]
    allow_ci_changes: true
`),
      'acme/widgets',
    );
    expect(repo.protected_paths).toEqual([
      { paths: ['.github/**', 'deploy/**'], approvers: ['S01PLATFORM'] },
    ]);
    expect(repo.allow_ci_changes).toBe(true);
  });

  it.each([
    ['""', 'protected_paths.0.paths.0: expected a non-empty path pattern'],
    ['"/etc/**"', 'protected_paths.0.paths.0: "/etc/**": patterns are relative to the repository root'],
    ['"../x"', 'protected_paths.0.paths.0: "../x": . and .. segments are not allowed'],
    ['"a//b"', 'protected_paths.0.paths.0: "a//b": empty path segment'],
    ['"!deploy"', 'protected_paths.0.paths.0: "!deploy": negation (!) is not supported'],
    ['"src/[ab].ts"', 'protected_paths.0.paths.0: "src/[ab].ts": only **, * and ? are special'],
    ['"{a,b}/**"', 'protected_paths.0.paths.0: "{a,b}/**": only **, * and ? are special'],
  ])('refuse the pattern %s, naming the key', (pattern, message) => {
    const error = configError(
      `repos:\n  acme/widgets:\n    protected_paths: [{ paths: [${pattern}], approvers: [S01] }]\n`,
    );
    expect(error).toContain(`repos.acme/widgets.${message}`);
  });

  it('refuse an entry without paths or approvers, and a non-boolean allow_ci_changes', () => {
    expect(
      configError('repos:\n  acme/widgets:\n    protected_paths: [{ paths: [], approvers: [S01] }]\n'),
    ).toContain('repos.acme/widgets.protected_paths.0.paths: list at least one path pattern');
    expect(configError('repos:\n  acme/widgets:\n    protected_paths: [{ paths: [x] }]\n')).toContain(
      'repos.acme/widgets.protected_paths.0.approvers',
    );
    expect(
      configError('repos:\n  acme/widgets:\n    protected_paths: [{ paths: [x], approvers: [] }]\n'),
    ).toContain('repos.acme/widgets.protected_paths.0.approvers: list at least one approver');
    expect(
      configError(
        'repos:\n  acme/widgets:\n    protected_paths: [{ paths: [x], approvers: [S1], who: me }]\n',
      ),
    ).toContain('repos.acme/widgets.protected_paths.0: unknown key "who"');
    expect(configError('repos:\n  acme/widgets:\n    allow_ci_changes: "yes"\n')).toContain(
      'repos.acme/widgets.allow_ci_changes',
    );
  });
});
