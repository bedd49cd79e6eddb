import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeAnthropic, startFakeAnthropic } from '../fakes/anthropic-server.js';
import { fixAddScript, lastToolResult } from '../fakes/fix-add-script.js';
import { FIXTURE_FILES } from '../fakes/fixture-repo.js';
import { type FakeGitHub, startFakeGitHub } from '../fakes/github-server.js';
import { runCli } from '../support/run-cli.js';
import { scratchConfig } from '../support/workspace.js';

const SECRETS = {
  ANTHROPIC_API_KEY: 'sk-ant-secret-anthropic-5f2c9e',
  GITHUB_TOKEN: 'ghp_secretGitHubToken7d1a0b',
  SLACK_BOT_TOKEN: 'xoxb-secret-slack-bot-3c8e21',
  JIRA_API_TOKEN: 'jira-secret-token-9a4f6d',
};

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

describe('airlock run against GitHub', () => {
  let model: FakeAnthropic | undefined;
  let github: FakeGitHub | undefined;
  const cleanups: Array<() => void> = [];
  afterEach(async () => {
    await model?.close();
    await github?.close();
    for (const c of cleanups.splice(0)) c();
  });

  for (const isolation of ['auto', 'none'] as const) {
    it(`pushes a branch and opens one PR, and no secret leaks anywhere (isolation: ${isolation})`, async () => {
      github = await startFakeGitHub({
        token: SECRETS.GITHUB_TOKEN,
        repos: [{ owner: 'acme', name: 'widgets', files: FIXTURE_FILES }],
      });
      // The agent runs `env` and tries the parent's environment: neither may show a secret.
      const snoop = 'env; cat /proc/$PPID/environ 2>/dev/null | tr "\\0" "\\n"; echo "token=$GITHUB_TOKEN"';
      const script = fixAddScript({ extraCommand: snoop });
      model = await startFakeAnthropic({ apiKey: SECRETS.ANTHROPIC_API_KEY, script });
      const scratch = scratchConfig(
        [
          'repos:',
          '  acme/widgets:',
          '    headless_push: true',
          'sandbox:',
          `  local: { isolation: ${isolation} }`,
          '',
        ].join('\n'),
      );
      cleanups.push(scratch.cleanup);
      const env = {
        ...SECRETS,
        ANTHROPIC_BASE_URL: model.url,
        GITHUB_API_URL: github.apiUrl,
        AIRLOCK_CONFIG: scratch.config,
        AIRLOCK_DATA_DIR: scratch.dataDir,
        AIRLOCK_LOG_LEVEL: 'debug',
      };
      const patch = join(scratch.dir, 'fix.diff');
      const result = await runCli(
        [
          'run',
          '--repo',
          'acme/widgets',
          '--task',
          'Fix add() so ./test.sh passes',
          '--patch',
          patch,
          '--push',
          '--yes',
          '--json',
        ],
        env,
      );
      expect(result.stderr).not.toContain('airlock: ');
      expect(result.code).toBe(0);
      expect(model.problems).toEqual([]);
      expect(github.problems).toEqual([]);
      const out = JSON.parse(result.stdout);
      expect(out).toMatchObject({ state: 'done', outcome: 'pushed' });

      expect(github.pulls).toHaveLength(1);
      const pr = github.pulls[0];
      expect(pr).toMatchObject({
        head: out.branch,
        base: 'main',
        title: 'Fix add() so ./test.sh passes',
        state: 'open',
      });
      expect(out.pr_url).toBe(pr?.html_url);
      expect(pr?.body).toContain(out.run_id);
      expect(pr?.body).toContain('./test.sh');
      expect(github.refSha('acme', 'widgets', `refs/heads/${out.branch}`)).toBe(pr?.headSha);

      // The snoop really ran and saw the scrubbed environment.
      const snoopResult = model.requests
        .map((r) => (r.body?.messages ? lastToolResult(r.body) : ''))
        .find((t) => t.includes('token='));
      expect(snoopResult).toContain('PATH=');
      expect(snoopResult).toMatch(/^token=$/m);
      // Without bubblewrap the parent is airlock itself: its environment is readable, and the
      // redactor is what keeps the secrets out (defence in depth, asserted rather than assumed).
      if (isolation === 'none') expect(snoopResult).toContain('[REDACTED]');
      else expect(snoopResult).not.toContain('[REDACTED]');

      // No secret in any file of the data directory, the output, or any model request body.
      const haystacks: Array<[string, string]> = [
        ['stdout', result.stdout],
        ['stderr', result.stderr],
        ...filesUnder(scratch.dataDir).map((f): [string, string] => [f, readFileSync(f).toString('latin1')]),
        ...model.requests.map((r, i): [string, string] => [`model request ${i}`, r.rawBody]),
        ['patch', readFileSync(patch, 'utf8')],
      ];
      expect(haystacks.length).toBeGreaterThan(8);
      for (const [where, text] of haystacks) {
        for (const secret of Object.values(SECRETS)) {
          expect(text.includes(secret), `${secret} found in ${where}`).toBe(false);
        }
      }
      // Git carried the token only as a header, never in a URL.
      for (const r of github.requests) expect(r.path).not.toContain(SECRETS.GITHUB_TOKEN);
    });
  }

  it('reuses the open PR when the same branch is pushed again', async () => {
    github = await startFakeGitHub({
      token: SECRETS.GITHUB_TOKEN,
      repos: [{ owner: 'acme', name: 'widgets', files: FIXTURE_FILES }],
    });
    const { GitHubForge } = await import('../../src/forge/github/github-forge.js');
    const { PersonalToken } = await import('../../src/forge/github/github-credentials.js');
    const forge = new GitHubForge(new PersonalToken(SECRETS.GITHUB_TOKEN), {
      apiUrl: github.apiUrl,
      urls: {},
    });
    const { execFileSync } = await import('node:child_process');
    const bare = github.barePath('acme', 'widgets');
    const main = github.refSha('acme', 'widgets', 'refs/heads/main') as string;
    const tree = execFileSync('git', ['rev-parse', `${main}^{tree}`], { cwd: bare, encoding: 'utf8' }).trim();
    const commit = execFileSync('git', ['commit-tree', tree, '-p', main, '-m', 'x'], {
      cwd: bare,
      encoding: 'utf8',
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 'a',
        GIT_AUTHOR_EMAIL: 'a@a',
        GIT_COMMITTER_NAME: 'a',
        GIT_COMMITTER_EMAIL: 'a@a',
      },
    }).trim();
    execFileSync('git', ['update-ref', 'refs/heads/airlock/r1-x', commit], { cwd: bare });
    const draft = { branch: 'airlock/r1-x', base: 'main', title: 't', body: 'b', draft: false };
    const first = await forge.ensurePullRequest('acme/widgets', draft);
    const second = await forge.ensurePullRequest('acme/widgets', draft);
    expect(first).toMatchObject({ created: true });
    expect(second).toEqual({ ...first, created: false });
    expect(github.pulls).toHaveLength(1);
  });
});
