import { afterEach, describe, expect, it } from 'vitest';
import { type FakeAnthropic, startFakeAnthropic } from '../fakes/anthropic-server.js';
import { FIXTURE_FILES } from '../fakes/fixture-repo.js';
import { type FakeGitHub, startFakeGitHub } from '../fakes/github-server.js';
import { startFakeKubernetes } from '../fakes/kubernetes/index.js';
import { type FakeSlack, startFakeSlack } from '../fakes/slack/index.js';
import { runCli } from '../support/run-cli.js';
import { scratchConfig } from '../support/workspace.js';

const TOKEN = 'ghp_doctorToken0123456789';
const KEY = 'sk-ant-doctor-key-0123456';

describe('airlock doctor', () => {
  let github: FakeGitHub | undefined;
  let model: FakeAnthropic | undefined;
  const cleanups: Array<() => void> = [];
  afterEach(async () => {
    await github?.close();
    await model?.close();
    for (const c of cleanups.splice(0)) c();
  });

  async function env(overrides: Record<string, string> = {}) {
    github = await startFakeGitHub({
      token: TOKEN,
      repos: [{ owner: 'acme', name: 'widgets', files: FIXTURE_FILES }],
    });
    model = await startFakeAnthropic({ apiKey: KEY });
    const scratch = scratchConfig('repos:\n  acme/widgets: {}\n');
    cleanups.push(scratch.cleanup);
    return {
      AIRLOCK_CONFIG: scratch.config,
      AIRLOCK_DATA_DIR: scratch.dataDir,
      GITHUB_TOKEN: TOKEN,
      GITHUB_API_URL: github.apiUrl,
      ANTHROPIC_API_KEY: KEY,
      ANTHROPIC_BASE_URL: model.url,
      ...overrides,
    };
  }

  it('checks on Kubernetes that airlock may do all it needs in the sandbox namespace (SelfSubjectAccessReview)', async () => {
    const kube = await startFakeKubernetes();
    cleanups.push(() => void kube.close());
    const base = await env({ AIRLOCK_SANDBOX: 'kubernetes' });
    const kubeconfig = `${base.AIRLOCK_DATA_DIR}.kubeconfig`;
    kube.writeKubeconfig(kubeconfig);
    const granted = await runCli(['doctor'], { ...base, KUBECONFIG: kubeconfig });
    expect(granted.stdout).toMatch(
      /ok {4}sandbox: kubernetes at http:\/\/127\.0\.0\.1:\d+, namespace airlock-sandboxes: every permission granted/,
    );
    expect(granted.code).toBe(0);
    const reviews = kube.requests.filter((r) => r.path.endsWith('/selfsubjectaccessreviews'));
    expect(reviews).toHaveLength(9);

    // The Role without exec: doctor names exactly what is missing.
    kube.setRules('airlock-sandboxes', [
      { apiGroups: [''], resources: ['pods'], verbs: ['create', 'get', 'list', 'watch', 'delete', 'patch'] },
      { apiGroups: [''], resources: ['pods/log'], verbs: ['get'] },
    ]);
    const missing = await runCli(['doctor'], { ...base, KUBECONFIG: kubeconfig });
    expect(missing.stdout).toContain(
      "FAIL  sandbox: airlock's service account may not create pods/exec, get pods/exec in namespace airlock-sandboxes.",
    );
    expect(missing.code).toBe(1);
  });

  it('passes when the model endpoint, the repository and the sandbox all answer', async () => {
    const r = await runCli(['doctor'], await env());
    expect(r.stdout).toContain('ok    model: anthropic: claude-sonnet-5-5 is available');
    expect(r.stdout).toMatch(
      /ok {4}repository acme\/widgets: http:\/\/127\.0\.0\.1:\d+\/acme\/widgets\.git is reachable/,
    );
    expect(r.stdout).toContain('ok    sandbox: local, isolated with bubblewrap');
    expect(r.stdout).toContain('all checks passed.');
    expect(r.code).toBe(0);
  });

  it('says whether merging needs airlock/approved: a warning until a ruleset or branch protection requires it', async () => {
    const vars = await env();
    const before = await runCli(['doctor'], vars);
    expect(before.stdout).toContain(
      'warn  approval rule acme/widgets: merging into main does not require airlock/approved',
    );
    expect(before.code).toBe(0);
    github?.addRuleset({
      owner: 'acme',
      repo: 'widgets',
      requiredStatusChecks: [{ context: 'airlock/approved' }],
    });
    const after = await runCli(['doctor'], vars);
    expect(after.stdout).toContain(
      'ok    approval rule acme/widgets: merging into main requires the airlock/approved status',
    );
  });

  it('names each failing check and what to do, without leaking the token', async () => {
    const r = await runCli(
      ['doctor'],
      await env({ GITHUB_TOKEN: 'ghp_wrongToken999999', ANTHROPIC_API_KEY: 'sk-ant-wrong-000000' }),
    );
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(
      'FAIL  model: Anthropic: the API key was refused (401). Check ANTHROPIC_API_KEY.',
    );
    expect(r.stdout).toContain(
      'FAIL  repository acme/widgets: git ls-remote failed: the remote refused the request: the credential is missing, wrong, or lacks access to this repository (check GITHUB_TOKEN).',
    );
    expect(r.stdout).toContain('2 check(s) failed.');
    expect(r.stdout + r.stderr).not.toContain('ghp_wrongToken999999');
    expect(model?.takeProblems()).toEqual([expect.stringContaining('-> 401 authentication_error')]);
  });

  describe('with Slack configured', () => {
    let slack: FakeSlack | undefined;
    afterEach(async () => {
      await slack?.close();
    });

    it('checks the bot token and that the app token opens Socket Mode', async () => {
      slack = await startFakeSlack({ rateScale: 60 });
      const base = await env({
        SLACK_BOT_TOKEN: slack.botToken,
        SLACK_APP_TOKEN: slack.appToken,
        SLACK_API_URL: slack.apiUrl,
      });
      const ok = await runCli(['doctor'], base);
      expect(ok.stdout).toMatch(/ok {4}slack: bot airlock in .+; Socket Mode available/);
      const bad = await runCli(['doctor'], { ...base, SLACK_BOT_TOKEN: 'xoxb-wrong-token-1234' });
      expect(bad.code).toBe(1);
      expect(bad.stdout).toContain(
        'FAIL  slack: Slack refused SLACK_BOT_TOKEN: An API error occurred: invalid_auth',
      );
      expect(bad.stdout).not.toContain('xoxb-wrong-token-1234');
    });
  });
});
