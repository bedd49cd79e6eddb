import { afterEach, describe, expect, it } from 'vitest';
import { type FakeSlack, startFakeSlack } from '../fakes/slack/index.js';
import { runCli, startCli } from '../support/run-cli.js';
import { until } from '../support/until.js';
import { scratchConfig, slackBotEnv } from '../support/workspace.js';

/** One bot per store (DESIGN.md §2, Ownership): a second serve would run every run twice. */
describe('airlock serve owns its data directory', () => {
  let slack: FakeSlack | undefined;
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    await slack?.close();
  });

  it('a second serve on the same data directory exits 2 naming the one that owns it; after that one stops, a new one starts', async () => {
    slack = await startFakeSlack({ ackTimeoutMs: 1000, rateScale: 60 });
    const scratch = scratchConfig('repos:\n  acme/widgets: {}\n');
    cleanups.push(scratch.cleanup);
    const env = { ...slackBotEnv(slack, scratch), ANTHROPIC_API_KEY: 'sk-ant-unused' };

    const first = startCli(['serve'], env);
    cleanups.push(async () => {
      first.child.kill('SIGKILL');
      await first.result;
    });
    await until(
      () => first.output().stderr.includes('connected to Slack'),
      'the first serve to connect',
      20_000,
    );

    const second = await runCli(['serve'], env);
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(
      new RegExp(`Another airlock serve \\(pid ${first.child.pid} on .+\\) owns the data directory`),
    );
    expect(second.stderr).not.toMatch(/\n\s+at /);

    first.child.kill('SIGTERM');
    expect((await first.result).code).toBe(0);
    const third = startCli(['serve'], env);
    cleanups.push(async () => {
      third.child.kill('SIGKILL');
      await third.result;
    });
    await until(() => third.output().stderr.includes('connected to Slack'), 'a new serve to connect', 20_000);
  });

  it('a serve that was killed is not in the way of the next one', async () => {
    slack = await startFakeSlack({ ackTimeoutMs: 1000, rateScale: 60 });
    const scratch = scratchConfig('repos:\n  acme/widgets: {}\n');
    cleanups.push(scratch.cleanup);
    const env = { ...slackBotEnv(slack, scratch), ANTHROPIC_API_KEY: 'sk-ant-unused' };
    const killed = startCli(['serve'], env);
    await until(() => killed.output().stderr.includes('connected to Slack'), 'serve to connect', 20_000);
    killed.child.kill('SIGKILL');
    await killed.result;

    const next = startCli(['serve'], env);
    cleanups.push(async () => {
      next.child.kill('SIGKILL');
      await next.result;
    });
    await until(
      () => next.output().stderr.includes('connected to Slack'),
      'the next serve to connect',
      20_000,
    );
  });
});
