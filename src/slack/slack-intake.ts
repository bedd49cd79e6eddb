import type { Policy } from '../config/policy.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Approver } from '../runs/approval-policy.js';
import type { RunRecord, Store } from '../runs/ports/store.js';
import type { PullRequestWatch } from '../runs/pull-request-watch.js';
import type { RequestResolver } from '../runs/request-resolver.js';
import type { PreparedReview } from '../runs/review-request.js';
import type { RunService } from '../runs/run-service.js';
import { type Click, clickPlaceRefusal, MAX_VALUE_CHARS, parseRunValue } from './click.js';
import { HELP_TEXT, parseRequest } from './intake.js';
import type { RunThreads } from './run-threads.js';
import { Priority, type SlackOutbox } from './slack-outbox.js';
import { threadOrigin } from './thread-origin.js';
import type { UserGroups } from './user-groups.js';
import { parseApprovalValue } from './views/approval-message.js';
import { parseFixCiValue } from './views/check-failed-message.js';
import { parseEgressValue } from './views/egress-message.js';
import { repoPicker } from './views/repo-picker.js';
import { parseModalMetadata, requestChangesModal } from './views/request-changes-modal.js';

export interface IncomingMessage {
  eventId: string;
  user: string;
  channel: string;
  text: string;
  ts: string;
  threadTs?: string;
}

/**
 * What Slack listeners hand over: a mention, a reply, a click. It parses, resolves who the person
 * is (user groups), asks RunService, and answers in the thread. No run logic lives here.
 */
export class SlackIntake {
  constructor(
    private readonly deps: {
      runs: RunService;
      store: Store;
      threads: RunThreads;
      resolver: RequestResolver;
      policy: Policy;
      outbox: SlackOutbox;
      /** A review's pull request, fetched and diffed (review-request.ts). */
      prepareReview?: (repo: string, number: number) => Promise<PreparedReview>;
      /** Fix CI clicks go to pr_watch; without it the button is refused. */
      prWatch?: PullRequestWatch;
      groups: UserGroups;
      logger: Logger;
      botUserId: () => string;
      /** The workspace the bot is installed in (auth.test); clicks from elsewhere are refused. */
      teamId: () => string | undefined;
    },
  ) {}

  /** A mention or a direct message: a new request. */
  async request(msg: IncomingMessage): Promise<void> {
    const threadTs = msg.threadTs ?? msg.ts;
    const parsed = parseRequest(msg.text, this.deps.botUserId());
    if (!parsed.task) return this.say(msg.channel, threadTs, HELP_TEXT);
    if (parsed.mode === 'review' && parsed.pr) return this.review(msg, threadTs, parsed.pr, parsed.repo);
    await this.resolveAndStart(msg, threadTs, parsed.task, parsed.repo, {
      pickerOnMissingRepo: true,
      mode: parsed.mode === 'ask' ? 'ask' : 'change',
    });
  }

  /** `@airlock review <link, #N or !N>`: the pull request reviewed read-only, in this thread. */
  private async review(msg: IncomingMessage, threadTs: string, pr: number, named: string | undefined) {
    const resolved = await this.deps.resolver.resolve({
      text: `review #${pr}`,
      repo: named,
      channel: msg.channel,
    });
    if (!resolved.ok) return this.say(msg.channel, threadTs, resolved.reason);
    const repo = resolved.request.repo;
    if (!this.deps.prepareReview) return this.say(msg.channel, threadTs, 'Reviews are not available here.');
    let prepared: PreparedReview;
    try {
      prepared = await this.deps.prepareReview(repo, pr);
    } catch (error) {
      return this.say(msg.channel, threadTs, `<@${msg.user}> ${messageOf(error)}`);
    }
    const requester = await this.person(msg.user, this.deps.policy.repos[repo]?.requesters ?? []);
    const decision = this.deps.runs.submitReview(
      {
        repo,
        task: prepared.task,
        requester,
        source: 'slack',
        origin: threadOrigin(msg.channel, threadTs),
        intakeKey: msg.eventId,
      },
      prepared,
    );
    if (!decision.allowed) await this.say(msg.channel, threadTs, `<@${msg.user}> ${decision.reason}`);
  }

  /** Post review: the requester posts the review the thread shows. */
  async postReview(click: Click): Promise<void> {
    const target = await this.target(click, 'post review', parseRunValue);
    if (!target) return;
    await this.deps.runs.postReview(target.run.id, { id: click.user });
  }

  /** Resolves what was asked (the one resolver every intake uses), then starts the run or says why not. */
  private async resolveAndStart(
    msg: IncomingMessage,
    threadTs: string,
    text: string,
    repo: string | undefined,
    opts: { pickerOnMissingRepo: boolean; mode?: 'change' | 'ask' },
  ): Promise<void> {
    const resolved = await this.deps.resolver.resolve({ text, repo, channel: msg.channel });
    if (!resolved.ok && resolved.kind === 'repo' && opts.pickerOnMissingRepo) {
      const picker = repoPicker(Object.keys(this.deps.policy.repos), resolved.task ?? text);
      await this.deps.outbox.call(
        'chat.postMessage',
        { channel: msg.channel, thread_ts: threadTs, text: picker.text, blocks: picker.blocks },
        Priority.urgent,
      );
      return;
    }
    if (!resolved.ok) return this.say(msg.channel, threadTs, resolved.reason);
    for (const note of resolved.notes) await this.say(msg.channel, threadTs, note);
    const request = resolved.request;
    await this.start(msg, request.repo, request.task, threadTs, request.ticketKey, opts.mode);
  }

  /** The repository picked from the select in the thread: the task is the thread's first message. */
  async repoPicked(user: string, channel: string, threadTs: string, repo: string): Promise<void> {
    if (!this.deps.policy.repos[repo]) return;
    const res = await this.deps.outbox.call<{
      messages?: Array<{ user?: string; text?: string; ts: string }>;
    }>('conversations.replies', { channel, ts: threadTs, limit: 1 }, Priority.urgent);
    const first = res.messages?.[0];
    if (!first?.text || first.user !== user) {
      await this.ephemeral(channel, user, threadTs, 'Only the person who asked can pick the repository.');
      return;
    }
    const parsed = parseRequest(first.text, this.deps.botUserId());
    await this.resolveAndStart(
      { eventId: `pick:${channel}:${threadTs}`, user, channel, text: first.text, ts: threadTs },
      threadTs,
      parsed.task,
      repo,
      { pickerOnMissingRepo: false, mode: parsed.mode === 'ask' ? 'ask' : 'change' },
    );
  }

  /** A reply in a thread: a follow-up instruction when it comes from the requester. */
  async reply(msg: IncomingMessage & { threadTs: string }): Promise<void> {
    const runId = this.deps.threads.runIn(msg.channel, msg.threadTs);
    if (!runId) return;
    const person = await this.person(msg.user, []);
    const decision = this.deps.runs.followUp(runId, person, msg.text);
    if (decision && !decision.allowed)
      await this.ephemeral(msg.channel, msg.user, msg.threadTs, decision.reason);
  }

  async approve(click: Click): Promise<void> {
    const target = await this.target(click, 'approve', parseApprovalValue);
    if (!target) return;
    const { run, sha } = target;
    // Group membership decides an approval, so it is read fresh, never from the cache.
    const person = await this.person(click.user, this.deps.policy.repos[run.repo]?.approvers ?? [], true);
    await this.deps.runs.approve(run.id, person, sha, () => this.placeRefusal(click, run.id));
  }

  async reject(click: Click): Promise<void> {
    const target = await this.target(click, 'reject', parseApprovalValue);
    if (!target) return;
    const { run } = target;
    this.deps.runs.reject(
      run.id,
      await this.person(click.user, this.deps.policy.repos[run.repo]?.approvers ?? []),
    );
  }

  async retryPush(click: Click): Promise<void> {
    const target = await this.target(click, 'retry push', parseRunValue);
    if (!target) return;
    const { run } = target;
    const person = await this.person(click.user, this.deps.policy.repos[run.repo]?.approvers ?? [], true);
    await this.deps.runs.retryPush(run.id, person, () => this.placeRefusal(click, run.id));
  }

  /** Allow `host` for this run: an approver lets the agent through the egress gateway. */
  async allowEgress(click: Click): Promise<void> {
    const target = await this.target(click, 'allow egress', parseEgressValue);
    if (!target) return;
    const { run } = target;
    const person = await this.person(click.user, this.deps.policy.repos[run.repo]?.approvers ?? [], true);
    this.deps.runs.allowEgress(run.id, person, target.target, () => this.placeRefusal(click, run.id));
  }

  /** Fix CI on a failed check of a pull request airlock follows; pr_watch decides, and says why not. */
  async fixCi(click: Click): Promise<void> {
    const target = parseFixCiValue(click.value);
    const pr = target;
    if (!pr || !this.deps.prWatch) {
      const reason = 'That button is not one airlock made; nothing was started.';
      this.deps.runs.refuseAction(undefined, click.user, 'fix ci', reason);
      if (click.channel)
        await this.ephemeral(click.channel, click.user, click.threadTs, `:no_entry: ${reason}`);
      return;
    }
    const repo = this.deps.policy.repos[pr.repo];
    if (!repo) return;
    const person = await this.person(click.user, [...repo.approvers], true);
    const decision = await this.deps.prWatch.fixCi(pr.repo, pr.number, pr.checkId, person, (runId) =>
      this.placeRefusal(click, runId),
    );
    if (decision.allowed) return;
    // Answered in the pull request's own thread: the click's may be forged.
    const origin = this.deps.prWatch.originRunOf(pr.repo, pr.number);
    const thread = origin ? this.deps.threads.get(origin) : undefined;
    const channel = thread?.channel ?? click.channel;
    if (channel) await this.ephemeral(channel, click.user, thread?.threadTs, `:no_entry: ${decision.reason}`);
  }

  async cancel(click: Click): Promise<void> {
    const target = await this.target(click, 'cancel', parseRunValue);
    if (!target) return;
    const { run } = target;
    this.deps.runs.cancel(
      run.id,
      await this.person(click.user, this.deps.policy.repos[run.repo]?.approvers ?? []),
    );
  }

  /** Request changes: opens the modal (the trigger is good for 3 s, so this goes first). */
  async openChangesModal(click: Click): Promise<void> {
    const target = await this.target(click, 'request changes', parseApprovalValue);
    if (!target || !click.triggerId) return;
    await this.deps.outbox.call(
      'views.open',
      { trigger_id: click.triggerId, view: requestChangesModal({ runId: target.run.id, sha: target.sha }) },
      Priority.urgent,
    );
  }

  async changesSubmitted(user: string, metadata: string, feedback: string): Promise<void> {
    const meta = parseModalMetadata(metadata);
    const run = meta && this.deps.store.getRun(meta.runId);
    if (!meta || !run) {
      this.deps.runs.refuseAction(undefined, user, 'request changes', 'The form did not come from airlock.');
      return;
    }
    const person = await this.person(user, this.deps.policy.repos[run.repo]?.approvers ?? []);
    this.deps.runs.requestChanges(run.id, person, meta.sha, feedback);
  }

  /**
   * The run a click is about, or undefined after the click was answered and audited: a value
   * airlock did not make (malformed, oversized), a run it does not know, or a click from another
   * workspace, channel or thread than the run's.
   */
  private async target<T extends { runId: string }>(
    click: Click,
    action: string,
    parse: (value: string | undefined) => T | undefined,
  ): Promise<(T & { run: RunRecord }) | undefined> {
    let reason: string;
    let known: string | undefined;
    const parsed = (click.value?.length ?? 0) > MAX_VALUE_CHARS ? undefined : parse(click.value);
    const run = parsed && this.deps.store.getRun(parsed.runId);
    if (!parsed) reason = 'That button is not one airlock made, so nothing was done.';
    else if (!run) reason = `There is no run ${parsed.runId} here, so nothing was done.`;
    else {
      known = run.id;
      const where = this.placeRefusal(click, run.id);
      if (!where) return { ...parsed, run };
      reason = where;
    }
    this.deps.logger.warn({ user: click.user, action, run_id: known, reason }, 'click refused');
    this.deps.runs.refuseAction(known, click.user, action, reason);
    // Answered where the run's buttons really are; a payload's own channel may be made up.
    const thread = known ? this.deps.threads.get(known) : undefined;
    const channel = thread?.channel ?? click.channel;
    if (channel)
      await this.ephemeral(channel, click.user, thread?.threadTs ?? click.threadTs, `:no_entry: ${reason}`);
    return undefined;
  }

  private placeRefusal(click: Click, runId: string): string | undefined {
    return clickPlaceRefusal(click, this.deps.threads.get(runId), this.deps.teamId());
  }

  private async start(
    msg: IncomingMessage,
    repo: string,
    task: string,
    threadTs: string,
    ticketKey?: string,
    mode?: 'change' | 'ask',
  ): Promise<void> {
    const policy = this.deps.policy.repos[repo];
    const requester = await this.person(msg.user, policy?.requesters ?? []);
    const decision = this.deps.runs.submit({
      repo,
      task,
      requester,
      source: 'slack',
      origin: threadOrigin(msg.channel, threadTs),
      intakeKey: msg.eventId,
      ticketKey,
      mode,
    });
    if (!decision.allowed) {
      const approvers = (policy?.approvers ?? []).map((id) =>
        id.startsWith('S') ? `<!subteam^${id}>` : `<@${id}>`,
      );
      const ask = approvers.length ? ` Approvers: ${approvers.join(' ')}.` : '';
      await this.say(msg.channel, threadTs, `<@${msg.user}> ${decision.reason}${ask}`);
    }
  }

  private async person(user: string, candidates: string[], fresh = false): Promise<Approver> {
    try {
      return { id: user, groups: await this.deps.groups.groupsOf(user, candidates, { fresh }) };
    } catch (error) {
      this.deps.logger.warn({ err: (error as Error).message }, 'could not resolve user groups');
      return { id: user, groups: [] };
    }
  }

  private async say(channel: string, threadTs: string, text: string): Promise<void> {
    await this.deps.outbox.call('chat.postMessage', { channel, thread_ts: threadTs, text }, Priority.urgent);
  }

  private async ephemeral(
    channel: string,
    user: string,
    threadTs: string | undefined,
    text: string,
  ): Promise<void> {
    await this.deps.outbox.call(
      'chat.postEphemeral',
      { channel, user, thread_ts: threadTs, text },
      Priority.urgent,
    );
  }
}
