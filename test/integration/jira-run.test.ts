import { afterEach, describe, expect, it } from 'vitest';
import { type FakeAnthropic, startFakeAnthropic } from '../fakes/anthropic-server.js';
import { fixAddScript, fixInOneEdit } from '../fakes/fix-add-script.js';
import { FIXTURE_FILES } from '../fakes/fixture-repo.js';
import { type FakeGitHub, startFakeGitHub } from '../fakes/github-server.js';
import { type FakeJira, startFakeJira } from '../fakes/jira/index.js';
import { eventually, type Harness, startHarness } from '../support/bot-harness.js';
import { runCli } from '../support/run-cli.js';
import { scratchConfig } from '../support/workspace.js';

const TOKEN = 'ghp_jiraRunToken0123456';
const KEY = 'sk-ant-jira-run-key-0000';
const JIRA_TOKEN = 'jira-api-token-secret-77';
const JIRA_PAT = 'jira-dc-pat-secret-88';

const TICKET = {
  key: 'WID-7',
  summary: 'add() returns the wrong result',
  description: 'Calling add(2, 3) gives -1.\n- expected: 5\n- see test.sh',
  comments: [{ author: 'Ana', body: 'Probably a sign error in src/add.js.' }],
};

describe('airlock run --jira', () => {
  let github: FakeGitHub | undefined;
  let model: FakeAnthropic | undefined;
  let jira: FakeJira | undefined;
  const cleanups: Array<() => void> = [];
  afterEach(async () => {
    await github?.close();
    await model?.close();
    await jira?.close();
    for (const c of cleanups.splice(0)) c();
  });

  for (const flavor of ['cloud', 'datacenter'] as const) {
    it(`turns ${flavor} ticket WID-7 into a PR that names it, comments the link and moves it to In Review`, async () => {
      github = await startFakeGitHub({
        token: TOKEN,
        repos: [{ owner: 'acme', name: 'widgets', files: FIXTURE_FILES }],
      });
      model = await startFakeAnthropic({ apiKey: KEY, script: fixAddScript() });
      jira =
        flavor === 'cloud'
          ? await startFakeJira({ flavor, email: 'bot@acme.io', apiToken: JIRA_TOKEN, issues: [TICKET] })
          : await startFakeJira({ flavor, pat: JIRA_PAT, issues: [TICKET] });
      const scratch = scratchConfig(
        'repos:\n  acme/widgets:\n    headless_push: true\njira:\n  projects: { WID: acme/widgets }\n  on_pr: { comment: true, transition: In Review }\n',
      );
      cleanups.push(scratch.cleanup);
      const env = {
        ANTHROPIC_API_KEY: KEY,
        ANTHROPIC_BASE_URL: model.url,
        GITHUB_TOKEN: TOKEN,
        GITHUB_API_URL: github.apiUrl,
        JIRA_BASE_URL: jira.url,
        ...(flavor === 'cloud' ? { JIRA_EMAIL: 'bot@acme.io', JIRA_API_TOKEN: JIRA_TOKEN } : { JIRA_PAT }),
        AIRLOCK_CONFIG: scratch.config,
        AIRLOCK_DATA_DIR: scratch.dataDir,
      };
      const r = await runCli(
        ['run', '--jira', 'https://acme.atlassian.net/browse/WID-7', '--push', '--yes', '--json'],
        env,
      );
      expect(r.stderr).not.toContain('airlock: ');
      expect(r.code).toBe(0);
      // The ticket's words reached the model.
      const first = JSON.stringify(model.requests[0]?.body.messages[0]);
      expect(first).toContain('add() returns the wrong result');
      expect(first).toContain('Calling add(2, 3) gives -1.');
      expect(first).toContain('Probably a sign error');
      // The PR names the ticket; the ticket links the PR and moved on.
      expect(github.pulls[0]?.title).toBe('WID-7: add() returns the wrong result');
      expect(github.pulls[0]?.body).toContain(`ticket [WID-7](${jira.url}/browse/WID-7)`);
      const issue = jira.issue('WID-7');
      expect(issue.status).toBe('In Review');
      expect(JSON.stringify(issue.comments.at(-1)?.body)).toContain(github.pulls[0]?.html_url as string);
      expect(r.stderr).toContain('jira: WID-7 comment done');
      expect(jira.problems).toEqual([]);
      const secrets = [JIRA_TOKEN, JIRA_PAT];
      for (const s of secrets)
        expect(r.stdout + r.stderr + JSON.stringify(model.requests.map((q) => q.rawBody))).not.toContain(s);
    });
  }

  it('a failing Jira transition never loses the PR: it is reported and audited', async () => {
    github = await startFakeGitHub({
      token: TOKEN,
      repos: [{ owner: 'acme', name: 'widgets', files: FIXTURE_FILES }],
    });
    model = await startFakeAnthropic({ apiKey: KEY, script: fixAddScript() });
    jira = await startFakeJira({
      flavor: 'cloud',
      email: 'bot@acme.io',
      apiToken: JIRA_TOKEN,
      issues: [TICKET],
    });
    const scratch = scratchConfig(
      'repos:\n  acme/widgets:\n    headless_push: true\njira:\n  projects: { WID: acme/widgets }\n  on_pr: { comment: true, transition: Shipped }\n',
    );
    cleanups.push(scratch.cleanup);
    const env = {
      ANTHROPIC_API_KEY: KEY,
      ANTHROPIC_BASE_URL: model.url,
      GITHUB_TOKEN: TOKEN,
      GITHUB_API_URL: github.apiUrl,
      JIRA_BASE_URL: jira.url,
      JIRA_EMAIL: 'bot@acme.io',
      JIRA_API_TOKEN: JIRA_TOKEN,
      AIRLOCK_CONFIG: scratch.config,
      AIRLOCK_DATA_DIR: scratch.dataDir,
    };
    const r = await runCli(['run', '--jira', 'WID-7', '--push', '--yes', '--json'], env);
    expect(r.code).toBe(0);
    expect(github.pulls).toHaveLength(1);
    expect(r.stderr).toContain('jira: transition to Shipped failed (the PR is open)');
    expect(JSON.parse(r.stdout)).toMatchObject({ state: 'done', outcome: 'pushed' });
  });

  it('without Jira configured, --jira says what to set and exits 2', async () => {
    const scratch = scratchConfig('repos:\n  acme/widgets: {}\n');
    cleanups.push(scratch.cleanup);
    const r = await runCli(['run', '--jira', 'WID-7'], {
      AIRLOCK_CONFIG: scratch.config,
      AIRLOCK_DATA_DIR: scratch.dataDir,
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Jira is not configured for airlock: set JIRA_BASE_URL');
  });
});

describe('a Jira ticket in Slack', () => {
  let h: Harness | undefined;
  let jira: FakeJira | undefined;
  afterEach(async () => {
    await h?.close();
    await jira?.close();
  });

  it('a mention with a ticket link works from the ticket, in the repository its project maps to', async () => {
    jira = await startFakeJira({
      flavor: 'cloud',
      email: 'bot@acme.io',
      apiToken: JIRA_TOKEN,
      issues: [TICKET],
    });
    h = await startHarness({
      policy:
        'repos:\n  acme/widgets:\n    approvers: [U0APPROVER]\n  acme/other: {}\njira:\n  projects: { WID: acme/widgets }\n',
      script: fixAddScript(),
      env: { JIRA_BASE_URL: jira.url, JIRA_EMAIL: 'bot@acme.io', JIRA_API_TOKEN: JIRA_TOKEN },
    });
    await h.slack.mention({
      user: 'U0REQUESTER',
      channel: 'C0ANY',
      text: `<@${h.slack.botUserId}> <https://acme.atlassian.net/browse/WID-7|WID-7> please`,
    });
    const run = await eventually(
      () => h?.app.store.listRuns({ states: ['awaiting_approval'] })[0],
      20_000,
      'the run',
    );
    expect(run).toMatchObject({ repo: 'acme/widgets', ticketKey: 'WID-7' });
    expect(run.task).toContain('Calling add(2, 3) gives -1.');
    expect(run.task).toContain('Also: please');
  });
});

describe('jira.watch', () => {
  let h: Harness | undefined;
  let jira: FakeJira | undefined;
  afterEach(async () => {
    await h?.close();
    await jira?.close();
  });

  it('starts one run per new matching ticket in the watch channel, never the same ticket twice', async () => {
    jira = await startFakeJira({
      flavor: 'cloud',
      email: 'bot@acme.io',
      apiToken: JIRA_TOKEN,
      issues: [TICKET],
    });
    const script = Array.from({ length: 4 }, fixInOneEdit);
    h = await startHarness({
      policy: [
        'repos:',
        '  acme/widgets:',
        '    approvers: [U0APPROVER]',
        '    requesters: [U0NOBODY]',
        'jira:',
        '  projects: { WID: acme/widgets }',
        '  watch: { jql: \'project = WID AND status = "To Do" ORDER BY created ASC\', channel: C0WATCH, every: 1s }',
        '',
      ].join('\n'),
      script,
      env: { JIRA_BASE_URL: jira.url, JIRA_EMAIL: 'bot@acme.io', JIRA_API_TOKEN: JIRA_TOKEN },
    });
    const first = await eventually(
      () => h?.app.store.listRuns({ states: ['awaiting_approval'] })[0],
      20_000,
      'WID-7 run',
    );
    expect(first).toMatchObject({ ticketKey: 'WID-7', source: 'jira', repo: 'acme/widgets' });
    const root = h.slack.channel('C0WATCH')[0];
    expect(root?.text).toContain('Picked up');
    await eventually(
      () =>
        h?.slack
          .thread('C0WATCH', root?.ts as string)
          .some((m) => JSON.stringify(m.blocks ?? []).includes('airlock_approve')),
      10_000,
      'the approval message in the watch thread',
    );

    jira.addIssue({ key: 'WID-8', summary: 'add() again', description: 'Same bug elsewhere.' });
    await eventually(
      () => h?.app.store.listRuns().find((r) => r.ticketKey === 'WID-8' && r.state === 'awaiting_approval'),
      20_000,
      'WID-8 run',
    );
    // Polls run one after another, so when Jira sees a poll's search, the one before it is done:
    // two more searches mean a whole poll ran after WID-8's run existed and started nothing new.
    const searches = () => jira?.requests.filter((r) => r.path.includes('/search')).length ?? 0;
    const anotherWholePoll = (seen = searches()) =>
      eventually(() => searches() >= seen + 2, 10_000, 'a whole further poll of Jira');
    await anotherWholePoll();
    await h.restart();
    await anotherWholePoll();
    expect(
      h.app.store
        .listRuns()
        .map((r) => r.ticketKey)
        .sort(),
    ).toEqual(['WID-7', 'WID-8']);
    expect(h.slack.channel('C0WATCH')).toHaveLength(2);
    expect(jira.problems).toEqual([]);
  });
});
