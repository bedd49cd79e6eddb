import { execFileSync } from 'node:child_process';
import type { ScriptStep } from '../fakes/anthropic-server.js';
import { ADD_SUB_EDIT, fixAddScript, lastToolResult } from '../fakes/fix-add-script.js';
import type { FakeSlackOptions } from '../fakes/slack/index.js';
import { eventually, type Harness, startHarness } from './bot-harness.js';
import { approvalMessage, approve } from './slack-thread.js';

export const CHANNEL = 'C0DEV';
export const REQUESTER = 'U0REQUESTER';
export const APPROVER = 'U0APPROVER';

/** A policy where octocat is the requester and lead the approver on the forge; polls every second. */
export function prWatchPolicy(extra: string[] = [], repoLines: string[] = []): string {
  return [
    'repos:',
    '  acme/widgets:',
    ...repoLines,
    '    approvers: [U0APPROVER]',
    '    requesters: [U0REQUESTER, U0APPROVER]',
    '    four_eyes: true',
    'channels:',
    '  C0DEV: { repo: acme/widgets }',
    'people:',
    '  octocat: U0REQUESTER',
    '  lead: U0APPROVER',
    '  outsider: U0OUTSIDER',
    ...extra,
    '',
  ].join('\n');
}

/**
 * A run asked in Slack, fixed by the scripted agent and approved by the approver: the pull
 * request it opens (#1) is followed. `script` continues the model's script after the first run.
 */
export async function openedPullRequest(
  script: ScriptStep[],
  opts: { policy?: string; env?: Record<string, string>; task?: string; slack?: FakeSlackOptions } = {},
) {
  const harness: Harness = await startHarness({
    policy: opts.policy ?? prWatchPolicy(['pr_watch: { every: 1s }']),
    script: [...fixAddScript(), ...script],
    env: opts.env,
    slack: opts.slack,
  });
  try {
    const mention = await harness.slack.mention({
      user: REQUESTER,
      channel: CHANNEL,
      text: `<@${harness.slack.botUserId}> ${opts.task ?? 'fix add()'}`,
    });
    const first = await approvalMessage(harness.slack, CHANNEL, mention.ts);
    await approve(harness.slack, { user: APPROVER, channel: CHANNEL, approval: first });
    const pull = await eventually(() => harness.github.pulls[0], 20_000, 'the pull request');
    await eventually(() => harness.app.pullRequests.get('acme/widgets', 1), 10_000, 'the PR followed');
    return { harness, mention, first, pull, head: pull.headSha };
  } catch (error) {
    await harness.close();
    throw error;
  }
}

/** The follow-up as Claude would do it: the earlier fix is in the workspace; add sub(). */
export function addSubScript(said: string): ScriptStep[] {
  return [
    (body) => {
      const b = body as { messages: Array<{ role: string; content: unknown }> };
      const task = JSON.stringify(b.messages[0]);
      if (!task.includes('please also add sub()') || !task.includes('Follow-up on pull request #1'))
        throw new Error(`not the comment's task: ${task.slice(0, 400)}`);
      return {
        content: [{ type: 'tool_use', name: 'bash', input: { command: 'grep -c "a + b" src/add.js' } }],
      };
    },
    (body) => {
      if (!lastToolResult(body as never).startsWith('1'))
        throw new Error('the earlier fix is not in the workspace');
      return { content: [ADD_SUB_EDIT] };
    },
    { content: [{ type: 'text', text: said }] },
  ];
}

/** git against a bare repository of a stand-in. */
export const bareGit = (bare: string, ...args: string[]) =>
  execFileSync('git', ['--git-dir', bare, ...args], { encoding: 'utf8' }).trim();
