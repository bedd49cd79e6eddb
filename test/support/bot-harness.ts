import { type App, buildApp } from '../../src/composition-root.js';
import { type Bot, startBot } from '../../src/serve.js';
import { type FakeAnthropic, type ScriptStep, startFakeAnthropic } from '../fakes/anthropic-server.js';
import { FIXTURE_FILES } from '../fakes/fixture-repo.js';
import { type FakeGitHub, startFakeGitHub } from '../fakes/github-server.js';
import { type FakeGitLab, startFakeGitLab, type Tier } from '../fakes/gitlab-server.js';
import { type FakeSlack, type FakeSlackOptions, startFakeSlack } from '../fakes/slack/index.js';
import { scratchConfig, slackBotEnv } from './workspace.js';

export const SECRETS = {
  ANTHROPIC_API_KEY: 'sk-ant-bot-harness-key-81d2',
  GITHUB_TOKEN: 'ghp_botHarnessToken4f0a93',
};
/** The GitLab stand-in's token, when the harness has one (`gitlab:`). */
export const GITLAB_TOKEN = 'glpat-botHarnessToken7c1e';

export interface Harness {
  slack: FakeSlack;
  github: FakeGitHub;
  /** Only with `gitlab:`: a GitLab holding acme/widgets too, for a policy saying `forge: gitlab`. */
  gitlab?: FakeGitLab;
  model: FakeAnthropic;
  app: App;
  bot: Bot;
  env: Record<string, string>;
  /** Stops the bot (as SIGTERM would) and starts a new one on the same data directory. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The whole bot in this process, wired to stand-ins: Slack (Web API + Socket Mode), Anthropic,
 * GitHub with git over HTTP. Real Bolt, real WebClient, real SDKs, real git, real sandboxes.
 */
export async function startHarness(opts: {
  policy?: string;
  script?: ScriptStep[];
  slack?: FakeSlackOptions;
  rateScale?: number;
  expiryEveryMs?: number;
  env?: Record<string, string>;
  /** Also a GitLab stand-in with acme/widgets; GITLAB_URL and GITLAB_TOKEN point at it. */
  gitlab?: { tier?: Tier };
}): Promise<Harness> {
  const slack = await startFakeSlack({ ackTimeoutMs: 1000, rateScale: opts.rateScale ?? 60, ...opts.slack });
  const github = await startFakeGitHub({
    token: SECRETS.GITHUB_TOKEN,
    repos: [{ owner: 'acme', name: 'widgets', files: FIXTURE_FILES }],
  });
  const gitlab = opts.gitlab
    ? await startFakeGitLab({
        token: GITLAB_TOKEN,
        tier: opts.gitlab.tier,
        projects: [{ path: 'acme/widgets', files: FIXTURE_FILES }],
      })
    : undefined;
  const model = await startFakeAnthropic({ apiKey: SECRETS.ANTHROPIC_API_KEY, script: opts.script ?? [] });
  const scratch = scratchConfig(
    opts.policy ??
      [
        'repos:',
        '  acme/widgets:',
        '    approvers: [U0APPROVER, S0LEADS]',
        '    four_eyes: true',
        'channels:',
        '  C0DEV: { repo: acme/widgets }',
        '',
      ].join('\n'),
  );
  const env: Record<string, string> = {
    ...SECRETS,
    ANTHROPIC_BASE_URL: model.url,
    GITHUB_API_URL: github.apiUrl,
    ...(gitlab ? { GITLAB_URL: gitlab.url, GITLAB_TOKEN } : {}),
    ...slackBotEnv(slack, scratch),
    AIRLOCK_LOG_LEVEL: 'debug',
    ...opts.env,
  };
  const scale = opts.rateScale ?? 60;
  let app = buildApp(env);
  let bot = await startBot(app, { slackRateScale: scale, expiryEveryMs: opts.expiryEveryMs });
  await slack.waitForConnection(10_000);
  const harness: Harness = {
    slack,
    github,
    gitlab,
    model,
    env,
    get app() {
      return app;
    },
    get bot() {
      return bot;
    },
    async restart() {
      await bot.stop();
      app.close();
      app = buildApp(env);
      bot = await startBot(app, { slackRateScale: scale, expiryEveryMs: opts.expiryEveryMs });
      await slack.waitForConnection(10_000);
    },
    async close() {
      await bot.stop().catch(() => {});
      app.close();
      await slack.close();
      await github.close();
      await gitlab?.close();
      await model.close();
      scratch.cleanup();
    },
  } as Harness;
  return harness;
}

/** Polls until `check` returns a value (not undefined/false), or fails after `ms`. */
export async function eventually<T>(
  check: () => T | undefined | false,
  ms = 15_000,
  what = 'condition',
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
