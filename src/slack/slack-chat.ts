import type { Logger } from '../log/logger.js';
import { diffStat } from '../runs/diffstat.js';
import type { Chat, ChatOrigin, RunNotice, RunProgress } from '../runs/ports/chat.js';
import type { RunRecord, Store } from '../runs/ports/store.js';
import { reviewedPullRequest, submittedReview } from '../runs/review-submission.js';
import type { SensitiveReview } from '../runs/sensitive-changes.js';
import type { RunThreads } from './run-threads.js';
import { Priority, type SlackOutbox } from './slack-outbox.js';
import { parseThreadOrigin, threadOrigin } from './thread-origin.js';
import { answerMessage } from './views/answer-message.js';
import { approvalMessage, decidedApprovalMessage } from './views/approval-message.js';
import { checkFailedMessage } from './views/check-failed-message.js';
import { egressMessage } from './views/egress-message.js';
import { escapeMrkdwn, fit } from './views/limits.js';
import { retryPushMessage } from './views/retry-push-message.js';
import { reviewMessage } from './views/review-message.js';
import { statusMessage } from './views/status-message.js';

/**
 * The Chat port over Slack: turns what runs/ says into thread messages. A reaction and one
 * status message per run (edited, coalesced), milestone replies, the approval message, and
 * ephemeral refusals. All calls go through the outbox, so they are paced and prioritised.
 */
export class SlackChat implements Chat {
  private readonly statusReady = new Map<string, Promise<string | undefined>>();
  private readonly latest = new Map<string, { run: RunRecord; progress?: RunProgress; position?: number }>();

  constructor(
    private readonly outbox: SlackOutbox,
    private readonly store: Store,
    private readonly threads: RunThreads,
    private readonly logger: Logger,
    private readonly opts: {
      botUserId: string;
      approvers: (run: RunRecord) => string[];
      /** What in the diff deserves a second look, and whether policy lets anyone approve it. */
      review: (run: RunRecord, diff: string) => SensitiveReview;
      /** A file at the run's base commit on the forge, for an answer's path:line references. */
      fileLink?: (run: RunRecord, path: string, line: number) => string | undefined;
      /** review.post: `ask` offers Post review to the requester. */
      reviewPost?: 'ask' | 'auto' | 'never';
    },
  ) {}

  async open(channel: string, text: string): Promise<ChatOrigin> {
    const posted = await this.outbox.call<{ ts: string; channel: string }>(
      'chat.postMessage',
      { channel, text, unfurl_links: false },
      Priority.urgent,
    );
    return threadOrigin(posted.channel ?? channel, posted.ts);
  }

  update(origin: ChatOrigin, text: string): void {
    const thread = parseThreadOrigin(origin);
    if (!thread) return;
    this.outbox.coalesce(
      `opened:${origin}`,
      'chat.update',
      () => ({ channel: thread.channel, ts: thread.threadTs, text }),
      Priority.milestone,
    );
  }

  originOf(runId: string): ChatOrigin | undefined {
    const thread = this.threads.get(runId);
    return thread ? threadOrigin(thread.channel, thread.threadTs) : undefined;
  }

  bind(runId: string, origin: ChatOrigin): void {
    const thread = parseThreadOrigin(origin);
    if (thread) this.threads.bind(runId, thread);
  }

  notify(notice: RunNotice): void {
    void this.handle(notice).catch((error: Error) =>
      this.logger.warn(
        { run_id: notice.run.id, notice: notice.kind, err: error.message },
        'slack notice failed',
      ),
    );
  }

  private async handle(notice: RunNotice): Promise<void> {
    const thread = this.threads.get(notice.run.id);
    if (!thread) return;
    const { channel, threadTs } = thread;
    switch (notice.kind) {
      case 'accepted': {
        this.latest.set(notice.run.id, { run: notice.run, position: notice.position });
        void this.outbox
          .call('reactions.add', { channel, timestamp: threadTs, name: 'eyes' }, Priority.milestone)
          .catch(() => {});
        this.ensureStatus(notice.run.id, channel, threadTs);
        return;
      }
      case 'progress':
        this.latest.set(notice.run.id, { run: notice.run, progress: notice.progress });
        return this.updateStatus(notice.run.id, channel, threadTs, Priority.progress);
      case 'milestone':
        await this.post(channel, threadTs, notice.text, Priority.milestone);
        return;
      case 'awaiting-approval': {
        this.latest.set(notice.run.id, { run: notice.run });
        await this.updateStatus(notice.run.id, channel, threadTs, Priority.decision);
        const diff = notice.diff.toString('utf8');
        const unapproved = notice.unapproved;
        const message = approvalMessage(
          notice.run,
          diff,
          notice.stat,
          notice.approvers,
          this.opts.review(notice.run, diff),
          unapproved && { ...unapproved, stat: diffStat(unapproved.diff.toString('utf8')) },
        );
        const posted = await this.outbox.call<{ ts: string }>(
          'chat.postMessage',
          { channel, thread_ts: threadTs, text: message.text, blocks: message.blocks, unfurl_links: false },
          Priority.decision,
        );
        this.threads.update(notice.run.id, { approvalTs: posted.ts });
        if (message.attachDiff) await this.uploadDiff(channel, threadTs, notice.run, notice.diff);
        if (unapproved)
          await this.uploadDiff(
            channel,
            threadTs,
            notice.run,
            unapproved.diff,
            `unapproved-${unapproved.to.slice(0, 12)}`,
          );
        return;
      }
      case 'approved':
        await this.markDecided(
          notice.run,
          channel,
          `:white_check_mark: Approved by <@${notice.by}>. Pushing…`,
        );
        return;
      case 'changes-requested':
        // The old diff's buttons stay (a stale client may still show them); the server refuses them.
        await this.markSuperseded(notice.run, channel, notice.by);
        await this.post(
          channel,
          threadTs,
          `<@${notice.by}> asked for changes; the agent is on it.`,
          Priority.milestone,
        );
        this.latest.set(notice.run.id, { run: notice.run });
        return this.updateStatus(notice.run.id, channel, threadTs, Priority.decision);
      case 'refused':
        await this.outbox.call(
          'chat.postEphemeral',
          { channel, user: notice.user, thread_ts: threadTs, text: `:no_entry: ${notice.reason}` },
          Priority.urgent,
        );
        return;
      case 'egress-refused': {
        const message = egressMessage(
          notice.run,
          notice.target,
          notice.rule,
          this.opts.approvers(notice.run),
        );
        await this.outbox.call(
          'chat.postMessage',
          { channel, thread_ts: threadTs, text: message.text, blocks: message.blocks, unfurl_links: false },
          Priority.decision,
        );
        return;
      }
      case 'finished':
        return this.finish(notice.run, channel, threadTs);
      case 'check-failed': {
        const message = checkFailedMessage(notice.run, notice.check, notice.fix, notice.who);
        await this.outbox.call(
          'chat.postMessage',
          { channel, thread_ts: threadTs, text: message.text, blocks: message.blocks, unfurl_links: false },
          Priority.decision,
        );
        return;
      }
      case 'pr-closed': {
        const statusTs = this.threads.get(notice.run.id)?.statusTs;
        const pullRequest = notice.merged ? 'merged' : 'closed';
        if (statusTs) {
          const message = statusMessage(notice.run, { pullRequest });
          this.outbox.coalesce(
            `status:${notice.run.id}`,
            'chat.update',
            () => ({ channel, ts: statusTs, text: message.text, blocks: message.blocks }),
            Priority.milestone,
          );
        }
        const by = notice.by ? ` by ${escapeMrkdwn(notice.by)}` : '';
        const line = notice.merged
          ? `:tada: The pull request was merged${by}: ${notice.url}`
          : `:wastebasket: The pull request was closed${by} without merging: ${notice.url}`;
        await this.post(channel, threadTs, line, Priority.milestone);
        return;
      }
    }
  }

  private async finish(run: RunRecord, channel: string, threadTs: string): Promise<void> {
    this.latest.set(run.id, { run });
    await this.updateStatus(run.id, channel, threadTs, Priority.decision);
    const thread = this.threads.get(run.id);
    if (thread?.approvalTs && run.state !== 'done') {
      await this.markDecided(
        run,
        channel,
        `*${run.state.replace('_', ' ')}*${run.error ? `: ${escapeMrkdwn(run.error)}` : ''}`,
      );
    }
    let text: string | undefined;
    if (run.state === 'done' && run.outcome === 'reviewed') {
      const review = submittedReview({ store: this.store }, run.id) ?? {
        summary: run.summary ?? '',
        comments: [],
      };
      const url = reviewedPullRequest({ store: this.store }, run)?.url;
      const message = reviewMessage(run, review, {
        // Asked on the pull request, or review.post: auto — it is posted without a click.
        offerPost: (this.opts.reviewPost ?? 'ask') === 'ask' && run.source !== 'forge',
        pullRequestUrl: url,
      });
      await this.outbox.call(
        'chat.postMessage',
        { channel, thread_ts: threadTs, text: message.text, blocks: message.blocks, unfurl_links: false },
        Priority.decision,
      );
    } else if (run.state === 'done' && run.outcome === 'answered') {
      const message = answerMessage(run, (path, line) => this.opts.fileLink?.(run, path, line));
      await this.outbox.call(
        'chat.postMessage',
        { channel, thread_ts: threadTs, text: message.text, blocks: message.blocks, unfurl_links: false },
        Priority.decision,
      );
    } else if (run.state === 'done' && run.outcome === 'pushed') {
      if (thread?.approvalTs) {
        await this.markDecided(
          run,
          channel,
          `:white_check_mark: Approved by <@${String(run.approvedBy)}> and pushed \`${run.branch}\`.`,
        );
      }
      text = run.prNumber
        ? `:rocket: Pushed one more commit to \`${run.branch}\`; the pull request is updated: ${run.prUrl ?? ''}`
        : run.prUrl
          ? `:rocket: Pull request opened: ${run.prUrl}`
          : `:rocket: Pushed branch \`${run.branch}\`.`;
    } else if (run.state === 'done' && run.outcome === 'no_changes') {
      text = `Finished with no changes.${run.summary ? `\n>${escapeMrkdwn(fit(run.summary, 2500, '…'))}` : ''}`;
    } else if (run.state === 'failed' && run.retryable) {
      const message = retryPushMessage(run);
      await this.outbox.call(
        'chat.postMessage',
        { channel, thread_ts: threadTs, text: message.text, blocks: message.blocks, unfurl_links: false },
        Priority.decision,
      );
    } else if (run.state === 'failed')
      text = `:x: The run failed: ${escapeMrkdwn(run.error ?? 'unknown error')}`;
    if (text) await this.post(channel, threadTs, text, Priority.decision);
    this.latest.delete(run.id);
    this.statusReady.delete(run.id);
  }

  private ensureStatus(runId: string, channel: string, threadTs: string): Promise<string | undefined> {
    let ready = this.statusReady.get(runId);
    if (ready) return ready;
    const existing = this.threads.get(runId)?.statusTs;
    ready = existing
      ? Promise.resolve(existing)
      : (async () => {
          const state = this.latest.get(runId);
          const run = state?.run ?? this.store.getRun(runId);
          if (!run) return undefined;
          const message = statusMessage(run, { position: state?.position });
          const posted = await this.outbox.call<{ ts: string }>(
            'chat.postMessage',
            { channel, thread_ts: threadTs, text: message.text, blocks: message.blocks },
            Priority.urgent,
          );
          this.threads.update(runId, { statusTs: posted.ts });
          return posted.ts;
        })();
    this.statusReady.set(runId, ready);
    return ready;
  }

  private async updateStatus(
    runId: string,
    channel: string,
    threadTs: string,
    priority: number,
  ): Promise<void> {
    const ts = await this.ensureStatus(runId, channel, threadTs);
    if (!ts) return;
    this.outbox.coalesce(
      `status:${runId}`,
      'chat.update',
      () => {
        const state = this.latest.get(runId);
        const run = this.store.getRun(runId) ?? state?.run;
        if (!run) return undefined;
        const message = statusMessage(run, { progress: state?.progress, position: state?.position });
        return { channel, ts, text: message.text, blocks: message.blocks };
      },
      priority,
    );
  }

  /** The approval message as it was posted for the run's current diff, and where it is. */
  private shownApproval(
    run: RunRecord,
  ): { ts: string; original: ReturnType<typeof approvalMessage> } | undefined {
    const ts = this.threads.get(run.id)?.approvalTs;
    const diff = run.diffSha256 ? this.store.diff(run.id, run.diffSha256) : undefined;
    if (!ts || !diff) return undefined;
    const text = diff.toString('utf8');
    const original = approvalMessage(
      run,
      text,
      diffStat(text),
      this.opts.approvers(run),
      this.opts.review(run, text),
    );
    return { ts, original };
  }

  private async markDecided(run: RunRecord, channel: string, line: string): Promise<void> {
    const shown = this.shownApproval(run);
    if (!shown) return;
    const { ts, original } = shown;
    this.outbox.coalesce(
      `approval:${run.id}`,
      'chat.update',
      () => ({ channel, ts, text: original.text, blocks: decidedApprovalMessage(original.blocks, line) }),
      Priority.urgent,
    );
  }

  private async markSuperseded(run: RunRecord, channel: string, by: string): Promise<void> {
    // The run still holds the diff that was shown: the next one is taken when the agent stops.
    const shown = this.shownApproval(run);
    if (!shown) return;
    const { ts, original } = shown;
    const note = {
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: `:arrows_counterclockwise: Superseded: <@${by}> asked for changes. A new diff will follow.`,
        },
      ],
    };
    this.outbox.coalesce(
      `approval:${run.id}`,
      'chat.update',
      () => ({ channel, ts, text: original.text, blocks: [note, ...original.blocks] }),
      Priority.urgent,
    );
  }

  private async post(channel: string, threadTs: string, text: string, priority: number): Promise<void> {
    await this.outbox.call(
      'chat.postMessage',
      { channel, thread_ts: threadTs, text: fit(text, 3000, '…'), unfurl_links: false },
      priority,
    );
  }

  private async uploadDiff(
    channel: string,
    threadTs: string,
    run: RunRecord,
    diff: Buffer,
    label?: string,
  ): Promise<void> {
    const name = label ? `airlock-${run.id}-${label}.diff` : `airlock-${run.id}.diff`;
    const upload = await this.outbox.call<{ upload_url: string; file_id: string }>(
      'files.getUploadURLExternal',
      { filename: name, length: diff.length },
      Priority.decision,
    );
    const res = await fetch(upload.upload_url, { method: 'POST', body: new Uint8Array(diff) });
    if (!res.ok) throw new Error(`Slack file upload failed with HTTP ${res.status}`);
    await this.outbox.call(
      'files.completeUploadExternal',
      {
        files: JSON.stringify([{ id: upload.file_id, title: name }]),
        channel_id: channel,
        thread_ts: threadTs,
      },
      Priority.decision,
    );
  }
}
