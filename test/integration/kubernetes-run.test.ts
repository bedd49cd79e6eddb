import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ScriptStep } from '../fakes/anthropic-server.js';
import { ADD_SUB_EDIT, fixAddScript, lastToolResult } from '../fakes/fix-add-script.js';
import { type ExecRecord, type FakeKubernetes, startFakeKubernetes } from '../fakes/kubernetes/index.js';
import { restrictedViolations } from '../fakes/kubernetes/pod-security.js';
import { eventually, type Harness, SECRETS, startHarness } from '../support/bot-harness.js';
import { approvalMessage, approve, requestChanges } from '../support/slack-thread.js';

const CHANNEL = 'C0DEV';
const REQUESTER = 'U0REQUESTER';
const APPROVER = 'U0APPROVER';
const NS = 'airlock-sandboxes';

/** Commands travel down a long-lived exec session, as lines on its stdin (exec-session.ts). */
const carried = (e: ExecRecord, command: string) => e.stdin.includes(command);

/** The exit statuses a session's supervisor reported, in order: `<nonce>s` … `<nonce>e<status>\n`. */
const statuses = (e: ExecRecord) =>
  [...e.stdout.matchAll(/([0-9a-f]{32})s[\s\S]*?\1e(\d+)\n/g)].map((m) => Number(m[2]));

/**
 * The agent as Claude would work, stateless so two runs can interleave: run the test (slowly, so
 * a restart can land mid-command), fix add(), run the test again, summarise. Each step checks the
 * previous tool really ran in the pod.
 */
const agent: ScriptStep = (body) => {
  const b = body as { messages: Array<{ role: string; content: unknown }> };
  const seen = lastToolResult(b);
  switch (b.messages.length) {
    case 1:
      return { content: [{ type: 'tool_use', name: 'bash', input: { command: 'sleep 2.25; sh test.sh' } }] };
    case 3:
      if (!/FAIL|restarted|cancelled/.test(seen)) throw new Error(`unexpected: ${seen}`);
      return {
        content: [
          {
            type: 'tool_use',
            name: 'str_replace_based_edit_tool',
            input: { command: 'str_replace', path: 'src/add.js', old_str: 'a - b', new_str: 'a + b' },
          },
        ],
      };
    case 5:
      if (!seen.includes('has been edited')) throw new Error(`edit failed: ${seen}`);
      return { content: [{ type: 'tool_use', name: 'bash', input: { command: 'sh test.sh && hostname' } }] };
    default:
      if (!seen.includes('ok: add(2, 3) = 5')) throw new Error(`test did not pass: ${seen}`);
      return { content: [{ type: 'text', text: 'Fixed add() in a Kubernetes sandbox.' }] };
  }
};

describe('a full run on the kubernetes backend (API stand-in)', () => {
  let h: Harness | undefined;
  let kube: FakeKubernetes | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    await h?.close();
    await kube?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    h = undefined;
    kube = undefined;
  });

  /** The bot on the kubernetes backend against the API stand-in; `lines` go into the policy. */
  async function startOnKubernetes(opts: {
    repoLines?: string[];
    policyLines?: string[];
    script?: ScriptStep[];
  }) {
    const fake = await startFakeKubernetes();
    kube = fake;
    dir = mkdtempSync(join(tmpdir(), 'airlock-k8s-run-'));
    const kubeconfig = join(dir, 'kubeconfig');
    fake.writeKubeconfig(kubeconfig);
    const policy = [
      'repos:',
      '  acme/widgets:',
      '    approvers: [U0APPROVER]',
      ...(opts.repoLines ?? []),
      'channels:',
      '  C0DEV: { repo: acme/widgets }',
      ...(opts.policyLines ?? []),
      '',
    ].join('\n');
    const harness = await startHarness({
      policy,
      script: opts.script,
      env: { AIRLOCK_SANDBOX: 'kubernetes', KUBECONFIG: kubeconfig },
    });
    h = harness;
    return { harness, fake };
  }

  it('intake → agent in a pod → approval → push, across a restart mid-run and a warm-pool claim race', async () => {
    const { harness, fake } = await startOnKubernetes({
      policyLines: ['sandbox: { warm_pool: 1 }'],
      // Two runs, four model turns each: the restart lands mid-command, so no turn is asked twice.
      script: Array.from({ length: 8 }, () => agent),
    });
    const warm = () => fake.pods(NS).filter((p) => p.metadata.labels['airlock.dev/pool'] === 'warm');
    await eventually(() => warm().some((p) => p.status.phase === 'Running'), 10_000, 'a warm pod');

    // Two mentions at once: both runs reach for the one warm pod.
    const mentions = await Promise.all(
      ['fix add()', 'fix add() please'].map((text) =>
        harness.slack.mention({
          user: REQUESTER,
          channel: CHANNEL,
          text: `<@${harness.slack.botUserId}> ${text}`,
        }),
      ),
    );
    await eventually(
      () => harness.app.store.listRuns({ states: ['working'] }).length === 2,
      15_000,
      'both working',
    );
    const runPods = () => fake.pods(NS).filter((p) => p.metadata.labels['airlock.dev/run-id']);
    await eventually(() => runPods().length === 2, 10_000, 'a pod per run');
    expect(new Set(runPods().map((p) => p.metadata.name)).size).toBe(2);
    expect(runPods().filter((p) => p.metadata.name.startsWith('airlock-warm-'))).toHaveLength(1);

    // Operators size the pool from this: one run got the warm pod, the other started cold.
    const metrics = await (await fetch(`http://127.0.0.1:${harness.bot.port}/metrics`)).text();
    expect(metrics).toContain('airlock_sandbox_starts_total{kind="warm"} 1');
    expect(metrics).toContain('airlock_sandbox_starts_total{kind="cold"} 1');

    // airlock restarts while the agents' first commands run in their pods.
    // (Seen on the stand-in's node: its pods' processes are host processes.)
    const sleeping = () =>
      execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
        .split('\n')
        .filter((l) => l.trim() === 'sleep 2.25');
    await eventually(() => sleeping().length === 2, 10_000, 'both first commands running');
    await harness.restart();

    const approvals = await Promise.all(mentions.map((m) => approvalMessage(harness.slack, CHANNEL, m.ts)));
    for (const approval of approvals) {
      await approve(harness.slack, { user: APPROVER, channel: CHANNEL, approval });
    }
    await eventually(() => harness.github.pulls.length === 2, 30_000, 'two pull requests');
    await eventually(
      () => harness.app.store.listRuns().every((r) => r.state === 'done' && r.outcome === 'pushed'),
      10_000,
      'both runs done',
    );

    // The shutdown stopped both first commands inside their pods, and both runs resumed after it;
    // the last command ran in each run's own pod (the hostname), one of them the claimed warm pod.
    const slept = fake.execs.filter((e) => carried(e, 'sleep 2.25; sh test.sh'));
    // (Killed from a second exec: that needs the stand-in's shared PID namespace, so root.)
    if (process.getuid?.() === 0) expect(slept.map((e) => statuses(e).at(-1))).toEqual([143, 143]);
    const outputs = harness.app.store
      .listRuns()
      .flatMap((r) => harness.app.store.toolCalls(r.id).map((t) => t.output));
    expect(outputs.filter((o) => o === '[command cancelled]')).toHaveLength(2);
    const hosts = outputs.filter((o) => o.startsWith('ok: add(2, 3) = 5')).map((o) => o.split('\n')[1]);
    expect(new Set(hosts).size).toBe(2);
    expect(hosts.filter((h) => h?.startsWith('airlock-warm-'))).toHaveLength(1);
    // Every command ran in the pods, none on the host; pods are gone once runs end; the pool refilled.
    expect(fake.execs.some((e) => carried(e, 'sh test.sh'))).toBe(true);
    await eventually(() => runPods().length === 0, 10_000, 'run pods deleted');
    await eventually(() => warm().length === 1, 10_000, 'the pool refilled');

    // No credential ever reached a pod's spec or a command.
    const seenByCluster = JSON.stringify([fake.podHistory(), fake.execs]);
    for (const secret of [
      SECRETS.ANTHROPIC_API_KEY,
      SECRETS.GITHUB_TOKEN,
      harness.env.SLACK_BOT_TOKEN,
      harness.env.SLACK_APP_TOKEN,
    ])
      expect(seenByCluster).not.toContain(secret);
    for (const pod of fake.podHistory()) expect(restrictedViolations(pod)).toEqual([]);
    expect(harness.app.store.verifyAudit().ok).toBe(true);
    expect(harness.model.problems).toEqual([]);
  });

  it('a follow-up after the pod ended while its diff waited for review goes on in a new pod from the reviewed diff', async () => {
    const followUp: ScriptStep[] = [
      (body) => {
        const b = body as { messages: Array<{ role: string; content: unknown }> };
        if (!JSON.stringify(b.messages.at(-1)).includes('also add sub')) throw new Error('feedback missing');
        return {
          content: [
            {
              type: 'tool_use',
              name: 'bash',
              input: { command: 'git diff --stat && grep -c "a + b" src/add.js' },
            },
          ],
        };
      },
      (body) => {
        // The reviewed change is there in the new pod before the agent touches anything.
        const seen = lastToolResult(body as never);
        if (!seen.includes('src/add.js') || !seen.startsWith(' src/add.js'))
          throw new Error(`no diff: ${seen}`);
        return {
          content: [ADD_SUB_EDIT],
        };
      },
      { content: [{ type: 'text', text: 'Added sub().' }] },
    ];
    const { harness, fake } = await startOnKubernetes({ script: [...fixAddScript(), ...followUp] });
    const mention = await harness.slack.mention({
      user: REQUESTER,
      channel: CHANNEL,
      text: `<@${harness.slack.botUserId}> fix add()`,
    });
    const approval = await approvalMessage(harness.slack, CHANNEL, mention.ts);
    const runId = harness.app.store.listRuns()[0]?.id as string;
    const first = fake.pods(NS).find((p) => p.metadata.labels['airlock.dev/run-id'] === runId);
    fake.failPod(NS, first?.metadata.name, 'DeadlineExceeded');

    await requestChanges(harness.slack, {
      user: REQUESTER,
      channel: CHANNEL,
      approval,
      feedback: 'please also add sub()',
    });
    // A stall here names where the run stopped (its events, with times) instead of only timing out.
    const second = await approvalMessage(harness.slack, CHANNEL, mention.ts, [approval.ts], 20_000).catch(
      (error: Error) => {
        const events = harness.app.store
          .events(runId)
          .map((e) => `${e.at} ${e.type} ${JSON.stringify(e.data)}`);
        const run = harness.app.store.getRun(runId);
        throw new Error(
          `${error.message}; run ${run?.state}:\n${events.join('\n')}\npods: ${JSON.stringify(
            fake.pods(NS).map((p) => [p.metadata.name, p.status.phase, p.metadata.deletionTimestamp]),
          )}`,
        );
      },
    );
    const shown = JSON.stringify(second.blocks);
    expect(shown).toContain('return a + b;');
    expect(shown).toContain('export function sub(a, b)');
    const rebuilt = harness.app.store.events(runId).find((e) => e.type === 'sandbox.rebuilt');
    expect(rebuilt?.data.reason).toMatch(/time limit/);
    const now = fake.pods(NS).find((p) => p.metadata.labels['airlock.dev/run-id'] === runId);
    expect(now?.metadata.uid).not.toBe(first?.metadata.uid);
    expect(now?.status.phase).toBe('Running');
    expect(harness.model.problems).toEqual([]);
  });

  it('a sandbox that cannot start ends the run with the reason in the thread', async () => {
    const { harness, fake } = await startOnKubernetes({
      repoLines: ['    sandbox: { image: registry.example/does-not-exist:1 }'],
    });
    const mention = await harness.slack.mention({
      user: REQUESTER,
      channel: CHANNEL,
      text: `<@${harness.slack.botUserId}> fix add()`,
    });
    const said = await eventually(
      () =>
        harness.slack
          .thread(CHANNEL, mention.ts)
          .map((m) => `${m.text ?? ''} ${JSON.stringify(m.blocks ?? [])}`)
          .find((t) => t.includes('could not be pulled')),
      20_000,
      'the reason in the thread',
    );
    expect(said).toContain('registry.example/does-not-exist:1');
    expect(said).toContain('sandbox.image');
    expect(harness.app.store.listRuns()[0]?.state).toBe('failed');
    await eventually(() => fake.pods(NS).length === 0, 5000, 'the failed pod deleted');
  });
});
