import { afterEach, describe, expect, it } from 'vitest';
import { startFakeAnthropic } from '../fakes/anthropic-server.js';
import { fixAddScript, fixInOneEdit } from '../fakes/fix-add-script.js';
import { FIXTURE_FILES } from '../fakes/fixture-repo.js';
import { startForwardProxy } from '../fakes/forward-proxy.js';
import { startFakeGitHub } from '../fakes/github-server.js';
import { startHarness } from '../support/bot-harness.js';
import { runCli } from '../support/run-cli.js';
import { approvalMessage } from '../support/slack-thread.js';
import { scratchConfig } from '../support/workspace.js';

describe('egress through a proxy (the egress-proxy overlay)', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it('sends the model, GitHub API and git traffic through HTTPS_PROXY / HTTP_PROXY', async () => {
    const github = await startFakeGitHub({
      token: 'ghp_proxyTestToken0b1c',
      repos: [{ owner: 'acme', name: 'widgets', files: FIXTURE_FILES }],
    });
    const model = await startFakeAnthropic({ apiKey: 'sk-ant-proxy-test', script: fixAddScript() });
    const proxy = await startForwardProxy();
    const scratch = scratchConfig('repos:\n  acme/widgets:\n    headless_push: true\n');
    cleanups.push(
      () => github.close(),
      () => model.close(),
      () => proxy.close(),
      scratch.cleanup,
    );
    const result = await runCli(
      ['run', '--repo', 'acme/widgets', '--task', 'Fix add()', '--push', '--yes', '--json'],
      {
        ANTHROPIC_API_KEY: 'sk-ant-proxy-test',
        ANTHROPIC_BASE_URL: model.url,
        GITHUB_TOKEN: 'ghp_proxyTestToken0b1c',
        GITHUB_API_URL: github.apiUrl,
        AIRLOCK_CONFIG: scratch.config,
        AIRLOCK_DATA_DIR: scratch.dataDir,
        HTTPS_PROXY: proxy.url,
        HTTP_PROXY: proxy.url,
        http_proxy: proxy.url,
      },
    );
    expect(result.stderr).not.toContain('airlock: ');
    expect(JSON.parse(result.stdout)).toMatchObject({ state: 'done', outcome: 'pushed' });
    const hostOf = (url: string) => new URL(url).host;
    expect(proxy.seen).toContain(hostOf(model.url));
    expect(proxy.seen).toContain(hostOf(github.apiUrl));
    // git fetched and pushed through it too (libcurl sends plain-http requests in absolute form).
    expect(proxy.absolute.some((u) => u.includes('service=git-upload-pack'))).toBe(true);
    expect(proxy.absolute.some((u) => u.includes('git-receive-pack'))).toBe(true);
    expect(github.pulls).toHaveLength(1);
  });

  it('keeps the bot’s Socket Mode WebSocket and Web API calls on the proxy too', async () => {
    const proxy = await startForwardProxy();
    const h = await startHarness({
      script: [fixInOneEdit(), fixInOneEdit()],
      env: { HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url },
    });
    cleanups.push(
      () => proxy.close(),
      () => h.close(),
    );
    const mention = await h.slack.mention({
      user: 'U0REQUESTER',
      channel: 'C0DEV',
      text: `<@${h.slack.botUserId}> fix add()`,
    });
    await approvalMessage(h.slack, 'C0DEV', mention.ts);
    const slackHost = new URL(h.slack.apiUrl).host;
    // Socket Mode's WebSocket and the Web API both reached Slack through CONNECT tunnels.
    expect(proxy.websockets).toContain(slackHost);
    expect(proxy.seen.filter((host) => host === slackHost).length).toBeGreaterThanOrEqual(2);
    expect(proxy.seen).toContain(new URL(h.model.url).host);
  });
});
