import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import type { MessagesRequestBody, ScriptStep } from '../fakes/anthropic-server.js';
import { lastToolResult } from '../fakes/fix-add-script.js';
import type { SlackMessage } from '../fakes/slack/workspace.js';
import { eventually, type Harness, startHarness } from '../support/bot-harness.js';
import { approvalMessage, buttonsOf } from '../support/slack-thread.js';

const CHANNEL = 'C0DEV';
const REQUESTER = 'U0REQUESTER';
const APPROVER = 'U0APPROVER';
/** Becomes an approver through S0LEADS only after its first click (group membership is read fresh). */
const LEAD = 'U0LEAD';
const ALLOW = 'airlock_allow_egress';

/** The requester is listed as an approver too, so only four_eyes can refuse their click. */
const POLICY = [
  'repos:',
  '  acme/widgets:',
  `    approvers: [${APPROVER}, ${REQUESTER}, S0LEADS]`,
  '    four_eyes: true',
  'channels:',
  `  ${CHANNEL}: { repo: acme/widgets }`,
  '',
].join('\n');

type Body = { messages: Array<{ role: string; content: unknown }> };
type Tamper = (payload: Record<string, unknown>) => Record<string, unknown>;

const withValue =
  (value: string): Tamper =>
  (p) => ({ ...p, actions: [{ ...(p.actions as Array<Record<string, unknown>>)[0], value }] });

/**
 * Egress by button (DESIGN.md §4): the agent is refused a host in the agent phase, the thread
 * names it with Allow for approvers, the click is decided like an approval (approvers, four_eyes,
 * the click's place) and audited, and a granted host lets the agent through for the rest of the run.
 */
describe('egress by button in the Slack thread', () => {
  let h: Harness | undefined;
  let registry: Server | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
    await new Promise((r) => (registry ? registry.close(r) : r(undefined)));
    registry = undefined;
  });

  /** A "package registry" on 127.0.0.2 (NO_PROXY covers 127.0.0.1, so the gateway is used). */
  async function startRegistry(hits: string[]): Promise<number> {
    const server = createServer((req, res) => {
      hits.push(`${req.method} ${req.url}`);
      res.end(`package-from-${req.url}`);
    });
    registry = server;
    await new Promise<void>((r) => server.listen(0, '127.0.0.2', r));
    const address = server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  it('refuses the requester, non-approvers, forged and malformed clicks; an approver’s click lets the agent through', async () => {
    const hits: string[] = [];
    const port = await startRegistry(hits);
    const target = `127.0.0.2:${port}`;
    const url = `http://${target}/pkg`;
    const told = `An approver allowed ${target}`;
    const script: ScriptStep[] = [
      // Refused three times for one host: the thread hears about it once.
      {
        content: [
          {
            type: 'tool_use',
            name: 'bash',
            input: { command: `for i in 1 2 3; do curl -sS ${url}; echo " exit=$?"; done` },
          },
        ],
      },
      // Waits for the approver: succeeds only once the grant is applied (~30 s at most).
      (body) => {
        const seen = lastToolResult(body as Body);
        if (!seen.includes(`airlock egress gateway refused ${target}`))
          throw new Error(`step 1 was not refused: ${seen}`);
        return {
          content: [
            {
              type: 'tool_use',
              name: 'bash',
              input: {
                command: `for i in $(seq 1 150); do curl -sS -f ${url} && exit 0; sleep 0.2; done; exit 1`,
              },
            },
          ],
        };
      },
      (body) => {
        const seen = lastToolResult(body as Body);
        if (!seen.includes('package-from-/pkg')) throw new Error(`the poll did not get through: ${seen}`);
        if (!JSON.stringify(body.messages.at(-1)).includes(told))
          throw new Error('the agent was not told of the grant');
        return {
          content: [
            {
              type: 'tool_use',
              name: 'str_replace_based_edit_tool',
              input: {
                command: 'str_replace',
                path: 'src/add.js',
                old_str: 'return a - b;',
                new_str: 'return a + b;',
              },
            },
          ],
        };
      },
      (body) => {
        if (!lastToolResult(body as Body).includes('has been edited')) throw new Error('the edit failed');
        return { content: [{ type: 'text', text: 'Fetched the package and fixed add().' }] };
      },
    ];
    h = await startHarness({ script, policy: POLICY, slack: { userGroups: { S0LEADS: [] } } });
    const harness = h;
    const { store } = harness.app;
    const mention = await harness.slack.mention({
      user: REQUESTER,
      channel: CHANNEL,
      text: `<@${harness.slack.botUserId}> fetch the package and fix add()`,
    });
    const thread = () => harness.slack.thread(CHANNEL, mention.ts);
    const egressMessages = () => thread().filter((m) => buttonsOf(m).some((b) => b.action_id === ALLOW));
    const agentRefusals = (runId: string) =>
      store
        .events(runId)
        .filter(
          (e) =>
            e.type === 'egress.refused' &&
            e.data.phase === 'agent' &&
            e.data.host === '127.0.0.2' &&
            e.data.port === port,
        );

    // 1. The thread names the host and network.agent, with Allow for this run.
    const message = await eventually(() => egressMessages()[0], 15_000, 'the egress message');
    const run = store.listRuns()[0];
    if (!run) throw new Error('no run');
    const shown = JSON.stringify(message.blocks);
    expect(message.text).toContain(target);
    expect(shown).toContain(`\`${target}\``);
    expect(shown).toContain('network.agent');
    expect(shown).toContain('<!subteam^S0LEADS>');
    const [button, ...others] = buttonsOf(message) as Array<{
      action_id?: string;
      value?: string;
      text?: { text?: string };
    }>;
    expect(others).toEqual([]);
    expect(button).toMatchObject({
      action_id: ALLOW,
      value: `${run.id} ${target}`,
      text: { text: `Allow ${target} for this run` },
    });
    expect(store.getRun(run.id)?.state).toBe('working');

    // The agent's second step (the poll) is under way before anyone clicks.
    await eventually(() => harness.model.requests.length >= 2, 15_000, 'the second model turn');

    // 2 and 4. Refused clicks: the requester (four_eyes), a non-approver, forged places, bad values.
    const click = (user: string) =>
      harness.slack.clickButton({
        user,
        channel: CHANNEL,
        messageTs: message.ts,
        actionId: ALLOW,
        value: button?.value,
      });
    const forge = (user: string, tamper: Tamper) =>
      harness.slack.forgeClick({ user, channel: CHANNEL, messageTs: message.ts, actionId: ALLOW }, tamper);
    const ephemeralsBefore = harness.slack.ephemerals.length;
    const strayBefore = store.events('-').length;
    await click(REQUESTER);
    await click(LEAD);
    await forge(APPROVER, (p) => ({ ...p, channel: { id: 'C0ELSEWHERE', name: 'elsewhere' } }));
    await forge(APPROVER, (p) => ({
      ...p,
      message: { ...(p.message as Record<string, unknown>), thread_ts: '1700000000.000100' },
    }));
    await forge(APPROVER, withValue(`${run.id} ${target}; rm -rf /`));
    await forge(APPROVER, withValue(`${run.id} 127.0.0.2:99999`));
    const refusals = await eventually(
      () => {
        const got = harness.slack.ephemerals.slice(ephemeralsBefore);
        return got.length >= 6 ? got : undefined;
      },
      10_000,
      'six refusals',
    );
    // Every refusal is answered in the run's own thread, to the person who clicked.
    for (const r of refusals) expect(r).toMatchObject({ channel: CHANNEL, threadTs: mention.ts });
    const textsTo = (user: string) => refusals.filter((r) => r.user === user).map((r) => r.text);
    expect(textsTo(REQUESTER)).toEqual([expect.stringContaining('four_eyes')]);
    expect(textsTo(LEAD)).toEqual([expect.stringContaining('not an approver')]);
    expect(textsTo(APPROVER)).toEqual(
      expect.arrayContaining([
        expect.stringContaining('another conversation'),
        expect.stringContaining('another conversation'),
        expect.stringContaining('not one airlock made'),
        expect.stringContaining('127.0.0.2:99999 is not a host:port'),
      ]),
    );
    expect(textsTo(APPROVER)).toHaveLength(4);

    const refusedActions = store.events(run.id).filter((e) => e.type === 'action.refused');
    expect(refusedActions.map((e) => e.data.by).sort()).toEqual(
      [REQUESTER, LEAD, APPROVER, APPROVER, APPROVER].sort(),
    );
    expect(refusedActions.find((e) => e.data.by === REQUESTER)?.data).toMatchObject({
      action: `allow egress to ${target}`,
      reason: expect.stringContaining('four_eyes'),
    });
    expect(refusedActions.find((e) => e.data.by === LEAD)?.data).toMatchObject({
      action: `allow egress to ${target}`,
      reason: expect.stringContaining('not an approver'),
    });
    expect(
      refusedActions.filter(
        (e) => e.data.action === 'allow egress' && String(e.data.reason).includes('another conversation'),
      ),
    ).toHaveLength(2);
    // The malformed value names no run it could be trusted for: audited outside any run.
    const stray = store.events('-').slice(strayBefore);
    expect(stray).toEqual([
      expect.objectContaining({
        type: 'action.refused',
        data: expect.objectContaining({ by: APPROVER, action: 'allow egress' }),
      }),
    ]);

    // The host stays refused: the poll is refused after every one of those clicks was decided.
    const lastDecided = Math.max(...refusedActions.map((e) => e.seq), ...stray.map((e) => e.seq));
    await eventually(
      () => agentRefusals(run.id).some((e) => e.seq > lastDecided),
      10_000,
      'a refusal after the refused clicks',
    );
    expect(store.events(run.id).filter((e) => e.type === 'egress.granted')).toEqual([]);
    expect(store.events(run.id).filter((e) => e.type === 'egress.allowed')).toEqual([]);
    expect(hits).toEqual([]);
    expect(thread().filter((m) => m.text?.includes('for this run; the agent was told'))).toEqual([]);

    // 3. An approver (through a group joined since the last lookup) allows it.
    harness.slack.setUserGroup('S0LEADS', [LEAD]);
    await click(LEAD);
    const granted = await eventually(
      () => store.events(run.id).find((e) => e.type === 'egress.granted'),
      10_000,
      'egress.granted',
    );
    expect(granted.data).toEqual({ target, by: LEAD });
    await eventually(
      () =>
        thread().find((m: SlackMessage) => m.text?.includes(`<@${LEAD}> allowed \`${target}\` for this run`)),
      10_000,
      'the milestone in the thread',
    );

    // The poll gets through the gateway, and the run goes on to ask for approval as usual.
    const approval = await approvalMessage(harness.slack, CHANNEL, mention.ts);
    expect(JSON.stringify(approval.blocks)).toContain('+  return a + b;');
    expect(store.getRun(run.id)).toMatchObject({ state: 'awaiting_approval' });
    expect(hits).toEqual(['GET /pkg']);
    const allowed = store.events(run.id).filter((e) => e.type === 'egress.allowed');
    expect(allowed).toEqual([
      expect.objectContaining({
        data: expect.objectContaining({ host: '127.0.0.2', port, phase: 'agent', method: 'GET' }),
      }),
    ]);
    expect(Number(allowed[0]?.data.bytes_received)).toBeGreaterThan(0);
    expect(allowed[0]?.seq).toBeGreaterThan(granted.seq);
    const poll = store.toolCalls(run.id).filter((c) => c.name === 'bash')[1];
    expect(poll?.exitCode).toBe(0);
    expect(poll?.output).toContain('package-from-/pkg');

    // The agent heard of the grant with the poll's result, in its next request, not before.
    const lastMessages = harness.model.requests.map((r) =>
      JSON.stringify((r.body as MessagesRequestBody).messages.at(-1)),
    );
    expect(lastMessages).toHaveLength(4);
    expect(lastMessages[1]).not.toContain(told);
    expect(lastMessages[2]).toContain(told);
    expect(lastMessages[3]).not.toContain(told);

    // Once the agent is done, the button allows nothing more.
    const beforeLate = harness.slack.ephemerals.length;
    await click(APPROVER);
    const late = await eventually(() => harness.slack.ephemerals[beforeLate], 10_000, 'the late refusal');
    expect(late).toMatchObject({ user: APPROVER, threadTs: mention.ts });
    expect(late.text).toContain('only be allowed while the agent works');
    expect(store.events(run.id).filter((e) => e.type === 'egress.granted')).toHaveLength(1);
    expect(
      store
        .events(run.id)
        .filter((e) => e.type === 'action.refused')
        .at(-1),
    ).toMatchObject({
      data: { by: APPROVER, action: `allow egress to ${target}` },
    });

    // Refused many times over, the host was named in the thread once.
    expect(agentRefusals(run.id).length).toBeGreaterThan(3);
    expect(egressMessages()).toHaveLength(1);
    expect(store.verifyAudit()).toMatchObject({ ok: true });
    expect(harness.model.problems).toEqual([]);
    expect(harness.slack.problems).toEqual([]);
  }, 90_000);
});
