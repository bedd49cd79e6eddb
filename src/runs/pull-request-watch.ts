import { type Policy, repoPolicy } from '../config/policy.js';
import { messageOf } from '../errors.js';
import type { Logger } from '../log/logger.js';
import { type Approver, type Decision, mayApprove, mayRequest } from './approval-policy.js';
import type { Chat } from './ports/chat.js';
import {
  AIRLOCK_MARK,
  type ForgeCheck,
  type ForgeComment,
  type ForgeConversation,
  type ForgePullState,
  type ForgeReview,
  type PullRequestStore,
  type WatchedPullRequest,
} from './ports/pull-requests.js';
import type { RunRecord, Store } from './ports/store.js';
import type { Tickets } from './ports/tickets.js';
import { commentTask, fixTask, mentions, whoMayAsk, withoutHandle } from './pull-request-requests.js';
import type { PreparedReview } from './review-request.js';
import type { RunService } from './run-service.js';
import { isTerminal } from './run-state.js';

/** The end of a failed check's log shown in the thread and given to the agent. */
const LOG_TAIL_BYTES = 3000;

export interface PullRequestWatchDeps {
  store: Store;
  pullRequests: PullRequestStore;
  conversationFor: (repo: string) => ForgeConversation | undefined;
  runs: RunService;
  chat: Chat;
  tickets: Tickets;
  policy: Policy;
  logger: Logger;
  /** A Slack user with the groups of `candidates` they belong to (requesters, approvers). */
  person: (userId: string, candidates: string[]) => Promise<Approver>;
  /** The chat's user for a verified email, where the chat can look one up. */
  userByEmail?: (email: string) => Promise<string | undefined>;
  /** `@airlock review` on a pull request: it, fetched and diffed (review-request.ts). */
  prepareReview?: (repo: string, number: number) => Promise<PreparedReview>;
}

/**
 * pr_watch (DESIGN.md §6): follows the pull requests airlock opened by polling the forge, and
 * turns what happens there into the thread's news and into follow-up runs through the same gate
 * as Slack requests. Everything acted on is remembered per pull request, so a restart acts on
 * nothing twice; the forge cursor (ETags, `since`) is saved only after acting.
 */
/** What polling has cost since start, for /metrics. */
export interface PullRequestWatchStats {
  polls: { ok: number; failed: number };
  requests: { notModified: number; changed: number };
  open: number;
}

export class PullRequestWatch {
  private readonly counts: PullRequestWatchStats = {
    polls: { ok: 0, failed: 0 },
    requests: { notModified: 0, changed: 0 },
    open: 0,
  };

  constructor(private readonly deps: PullRequestWatchDeps) {}

  stats(): PullRequestWatchStats {
    return {
      polls: { ...this.counts.polls },
      requests: { ...this.counts.requests },
      open: this.deps.pullRequests.list({ state: 'open' }).length,
    };
  }

  /** One poll of every open pull request airlock follows. */
  async poll(): Promise<void> {
    const byRepo = new Map<string, WatchedPullRequest[]>();
    for (const pr of this.deps.pullRequests.list({ state: 'open' }))
      byRepo.set(pr.repo, [...(byRepo.get(pr.repo) ?? []), pr]);
    for (const [repo, prs] of byRepo) {
      try {
        await this.pollRepo(repo, prs);
        this.counts.polls.ok++;
      } catch (error) {
        this.counts.polls.failed++;
        this.deps.logger.warn({ repo, err: messageOf(error) }, 'pr watch: poll failed');
      }
    }
  }

  private async pollRepo(repo: string, prs: WatchedPullRequest[]): Promise<void> {
    const conversation = this.deps.conversationFor(repo);
    if (!conversation) return;
    // Forges keep whole seconds: a `since` with milliseconds would skip a comment made that second.
    const first = prs.map((p) => p.createdAt).sort()[0];
    const since = first ? `${first.slice(0, 19)}Z` : null;
    const cursor = this.deps.pullRequests.cursor(repo) ?? { etags: {}, since };
    const pulls = prs.map((p) => ({
      number: p.number,
      headSha: p.headSha,
      checkHead: p.pushedHeads.includes(p.headSha) ? p.headSha : null,
    }));
    const { observed, cursor: next } = await conversation.observe(repo, pulls, cursor);
    this.counts.requests.notModified += observed.requests.notModified;
    this.counts.requests.changed += observed.requests.changed;
    for (const state of observed.pulls) await this.onPullState(conversation, repo, state);
    for (const review of observed.reviews) this.onReview(repo, review);
    const comments = [...observed.comments].sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    for (const comment of comments) await this.onComment(conversation, repo, comment);
    for (const check of observed.checks) await this.onCheck(conversation, repo, check);
    this.deps.pullRequests.saveCursor(repo, next);
  }

  /** Marks `key` handled on the pull request; false when it already was. */
  private claim(repo: string, number: number, key: string): WatchedPullRequest | undefined {
    const pr = this.deps.pullRequests.get(repo, number);
    if (!pr || pr.handled.includes(key)) return undefined;
    return this.deps.pullRequests.update(repo, number, { handled: [...pr.handled, key] });
  }

  private origin(pr: WatchedPullRequest): RunRecord | undefined {
    return this.deps.store.getRun(pr.originRunId);
  }

  private say(pr: WatchedPullRequest, text: string): void {
    const run = this.origin(pr);
    if (run) this.deps.chat.notify({ kind: 'milestone', run, text });
  }

  private async onPullState(conversation: ForgeConversation, repo: string, s: ForgePullState): Promise<void> {
    const pr = this.deps.pullRequests.get(repo, s.number);
    if (pr?.state !== 'open') return;
    if (s.headSha && s.headSha !== pr.headSha) {
      const approved = pr.pushedHeads.includes(s.headSha);
      this.deps.pullRequests.update(repo, s.number, { headSha: s.headSha });
      if (!approved) await this.outsideHead(conversation, pr, s.headSha);
    }
    if (s.state === 'open') return;
    const merged = s.state === 'merged';
    this.deps.pullRequests.update(repo, s.number, { state: s.state });
    this.deps.store.appendEvent(pr.originRunId, {
      type: 'pr.closed',
      data: { number: pr.number, merged, by: s.by },
    });
    const run = this.origin(pr);
    if (run) this.deps.chat.notify({ kind: 'pr-closed', run, merged, by: s.by, url: pr.url });
    const transition = this.deps.policy.jira?.on_merge?.transition;
    if (merged && transition && run?.ticketKey) {
      try {
        await this.deps.tickets.transition(run.ticketKey, transition);
        this.deps.store.appendEvent(run.id, {
          type: 'ticket.updated',
          data: { ticket: run.ticketKey, action: `transition to ${transition}` },
        });
      } catch (error) {
        const reason = messageOf(error);
        this.deps.store.appendEvent(run.id, {
          type: 'ticket.failed',
          data: { ticket: run.ticketKey, action: `transition to ${transition}`, error: reason },
        });
        this.say(
          pr,
          `:warning: The pull request was merged, but Jira transition to ${transition} failed: ${reason}`,
        );
      }
    }
  }

  /** A head airlock did not push: marked `failure`, so a rule requiring `airlock/approved` blocks it. */
  private async outsideHead(conversation: ForgeConversation, pr: WatchedPullRequest, sha: string) {
    let error: string | undefined;
    try {
      await conversation.setStatus(pr.repo, sha, {
        state: 'failure',
        description: 'not approved in airlock',
      });
    } catch (e) {
      error = messageOf(e);
    }
    this.deps.store.appendEvent(pr.originRunId, {
      type: 'pr.status',
      data: { number: pr.number, sha, state: 'failure', ...(error ? { error } : {}) },
    });
    this.deps.store.appendEvent(pr.originRunId, {
      type: 'pr.head',
      data: { number: pr.number, sha, approved: false },
    });
    this.say(
      pr,
      `:warning: Someone else pushed \`${sha.slice(0, 12)}\` to \`${pr.branch}\`. It is marked *not approved* ` +
        `(\`airlock/approved\` = failure). A follow-up asked from now on shows these commits next to its own diff, so its approval covers them.` +
        (error ? ` Setting the status failed: ${error}` : ''),
    );
  }

  private onReview(repo: string, review: ForgeReview): void {
    const pr = this.claim(repo, review.number, review.id);
    if (!pr) return;
    this.deps.store.appendEvent(pr.originRunId, {
      type: 'pr.review',
      data: { number: pr.number, review_id: review.id, author: review.author, state: review.state },
    });
    const body = review.body.trim() ? `\n>${review.body.trim().slice(0, 1500).replaceAll('\n', '\n>')}` : '';
    if (review.state === 'approved')
      this.say(pr, `:white_check_mark: ${review.author} approved the pull request.${body}`);
    else if (review.state === 'changes_requested')
      this.say(pr, `:memo: ${review.author} requested changes on the pull request.${body}`);
  }

  /** The Slack user a forge login is: `people:`, else the verified email both show, else none. */
  private async slackUserOf(conversation: ForgeConversation, repo: string, login: string) {
    // Forge logins are case-insensitive.
    const mapped = Object.entries(this.deps.policy.people).find(
      ([name]) => name.toLowerCase() === login.toLowerCase(),
    )?.[1];
    if (mapped) return mapped;
    if (!this.deps.userByEmail) return undefined;
    const email = await conversation.emailOf(repo, login).catch(() => undefined);
    return email ? await this.deps.userByEmail(email).catch(() => undefined) : undefined;
  }

  private async onComment(conversation: ForgeConversation, repo: string, c: ForgeComment): Promise<void> {
    const handle = this.deps.policy.pr_watch.handle;
    if (c.body.includes(AIRLOCK_MARK) || !mentions(c.body, handle)) {
      this.claim(repo, c.number, c.id);
      return;
    }
    const pr = this.claim(repo, c.number, c.id);
    if (!pr) return;
    const policy = repoPolicy(this.deps.policy, repo);
    const record = (person: string | null, action: string) =>
      this.deps.store.appendEvent(pr.originRunId, {
        type: 'pr.comment',
        data: { number: pr.number, comment_id: c.id, author: c.author, person, action },
      });
    const userId = await this.slackUserOf(conversation, repo, c.author);
    const person = userId ? await this.deps.person(userId, policy.requesters ?? []) : undefined;
    const decision = person ? mayRequest(policy, person) : undefined;
    if (!person || !decision?.allowed) {
      record(userId ?? null, person ? 'refused' : 'unknown');
      await this.tellOnce(conversation, pr, c.author, whoMayAsk(c.author, handle, Boolean(person)));
      return;
    }
    if (this.deps.prepareReview && /^review\b/i.test(withoutHandle(c.body, handle))) {
      try {
        const prepared = await this.deps.prepareReview(repo, pr.number);
        const requested = this.deps.runs.submitReview(
          {
            repo,
            task: prepared.task,
            requester: person,
            source: 'forge',
            origin: this.deps.chat.originOf(pr.originRunId),
            intakeKey: `forge:${repo}#${pr.number}:${c.id}`,
          },
          prepared,
        );
        record(person.id, requested.allowed ? `review ${requested.run.id}` : 'refused');
      } catch (error) {
        record(person.id, 'refused');
        this.deps.logger.warn({ repo, pr: pr.number, err: messageOf(error) }, 'pr watch: review not started');
      }
      return;
    }
    const open = this.openFollowUp(pr);
    if (open) {
      const joined = this.deps.runs.followUp(open.id, person, c.body);
      record(person.id, joined?.allowed ? `instruction ${open.id}` : `busy ${open.id}`);
      if (!joined?.allowed)
        await this.tellOnce(
          conversation,
          pr,
          c.author,
          `@${c.author} a follow-up is already open on this pull request (run \`${open.id}\`); ` +
            'continue in its Slack thread, or ask again here when it has finished.',
        );
      return;
    }
    const started = this.startFollowUp(pr, person, commentTask(pr, c, handle, this.conversationSoFar(pr)), {
      intakeKey: `forge:${repo}#${pr.number}:${c.id}`,
    });
    record(person.id, started.allowed ? `follow-up ${started.runId}` : 'refused');
    if (started.allowed)
      this.say(
        pr,
        `:speech_balloon: ${c.author} asked on the pull request (${c.url}); a follow-up run started.`,
      );
  }

  /** The earlier requests of this pull request in brief: its first task and every follow-up's. */
  private conversationSoFar(pr: WatchedPullRequest): string[] {
    return this.deps.store
      .listRuns({ limit: 10_000 })
      .filter((r) => r.id === pr.originRunId || (r.repo === pr.repo && r.prNumber === pr.number))
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt))
      .map((r) => `${r.requester}: ${(r.task.split('\n')[0] ?? '').slice(0, 200)} (${r.state})`);
  }

  private openFollowUp(pr: WatchedPullRequest): RunRecord | undefined {
    return this.deps.store
      .listRuns({ limit: 10_000 })
      .find(
        (r) => r.repo === pr.repo && r.prNumber === pr.number && r.mode === 'change' && !isTerminal(r.state),
      );
  }

  private startFollowUp(
    pr: WatchedPullRequest,
    requester: Approver,
    task: string,
    opts: { intakeKey: string; trusted?: boolean },
  ): { allowed: true; runId: string } | { allowed: false; reason: string } {
    const requested = this.deps.runs.submit({
      repo: pr.repo,
      task,
      requester,
      source: 'forge',
      baseRef: pr.branch,
      prNumber: pr.number,
      intakeKey: opts.intakeKey,
      trusted: opts.trusted,
      origin: this.deps.chat.originOf(pr.originRunId),
    });
    return requested.allowed ? { allowed: true, runId: requested.run.id } : requested;
  }

  private async tellOnce(
    conversation: ForgeConversation,
    pr: WatchedPullRequest,
    login: string,
    text: string,
  ) {
    const now = this.deps.pullRequests.get(pr.repo, pr.number);
    if (!now || now.told.includes(login)) return;
    this.deps.pullRequests.update(pr.repo, pr.number, { told: [...now.told, login] });
    try {
      await conversation.reply(pr.repo, pr.number, `${AIRLOCK_MARK}\n${text}`);
      this.deps.store.appendEvent(pr.originRunId, {
        type: 'pr.replied',
        data: { number: pr.number, login },
      });
    } catch (error) {
      this.deps.store.appendEvent(pr.originRunId, {
        type: 'pr.replied',
        data: { number: pr.number, login, error: messageOf(error) },
      });
    }
  }

  private async onCheck(conversation: ForgeConversation, repo: string, check: ForgeCheck): Promise<void> {
    if (check.outcome !== 'failure') return;
    const key = `${check.id}@${check.sha}`;
    const pr = this.claim(repo, check.number, key);
    if (!pr?.pushedHeads.includes(check.sha)) return;
    const log = await conversation.checkLog(repo, check, LOG_TAIL_BYTES).catch(() => '');
    this.deps.store.appendEvent(pr.originRunId, {
      type: 'pr.check_failed',
      data: { number: pr.number, check_id: key, name: check.name, sha: check.sha, url: check.url, log },
    });
    const run = this.origin(pr);
    if (!run) return;
    const watch = this.deps.policy.pr_watch;
    const left = watch.max_fix_attempts - pr.fixAttempts;
    const who = [run.requester, ...repoPolicy(this.deps.policy, repo).approvers].filter(
      (id, i, all) => /^[UWS][A-Z0-9]+$/.test(id) && all.indexOf(id) === i,
    );
    if (watch.autofix && left > 0) {
      const fixed = this.fix(pr, key, { id: run.requester }, 'autofix', true);
      this.deps.chat.notify({ kind: 'check-failed', run, check: { ...check, log }, who: [] });
      if (fixed.allowed) this.say(pr, ':wrench: `pr_watch.autofix` started a follow-up to fix it.');
      return;
    }
    this.deps.chat.notify({
      kind: 'check-failed',
      run,
      check: { ...check, log },
      ...(left > 0 ? { fix: `${repo}#${pr.number} ${key}` } : {}),
      who,
    });
    if (left <= 0)
      this.say(
        pr,
        `No more Fix CI on this pull request: it had its ${watch.max_fix_attempts} (\`pr_watch.max_fix_attempts\`).`,
      );
  }

  /** Fix CI (a click, or autofix): a follow-up whose task is the failure, on the failing head. */
  /** The run that opened the pull request: its conversation is the pull request's. */
  originRunOf(repo: string, number: number): string | undefined {
    return this.deps.pullRequests.get(repo, number)?.originRunId;
  }

  /** `where` is the chat's check of the click's place (the pull request's own thread). */
  async fixCi(
    repo: string,
    number: number,
    checkKey: string,
    who: Approver,
    where?: (originRunId: string) => string | undefined,
  ): Promise<Decision> {
    const pr = this.deps.pullRequests.get(repo, number);
    const run = pr && this.origin(pr);
    if (!pr || !run) return { allowed: false, reason: 'airlock does not follow this pull request.' };
    const refuse = (reason: string): Decision => {
      this.deps.store.appendEvent(run.id, {
        type: 'action.refused',
        data: { by: who.id, action: 'fix ci', reason },
      });
      return { allowed: false, reason };
    };
    const misplaced = where?.(run.id);
    if (misplaced) return refuse(misplaced);
    const policy = repoPolicy(this.deps.policy, repo);
    const approver = mayApprove({ ...policy, four_eyes: false }, who, run.requester);
    if (who.id !== run.requester && !approver.allowed)
      return refuse('Only the requester and the approvers of this repository can start Fix CI.');
    return this.fix(pr, checkKey, who, who.id, false);
  }

  private fix(
    pr: WatchedPullRequest,
    checkKey: string,
    requester: Approver,
    by: string,
    trusted: boolean,
  ): Decision {
    const failure = this.deps.store
      .events(pr.originRunId)
      .find((e) => e.type === 'pr.check_failed' && e.data.check_id === checkKey)?.data as
      | { name: string; sha: string; url: string; log: string }
      | undefined;
    const now = this.deps.pullRequests.get(pr.repo, pr.number) ?? pr;
    const refuse = (reason: string): Decision => {
      this.deps.store.appendEvent(pr.originRunId, {
        type: 'action.refused',
        data: { by, action: 'fix ci', reason },
      });
      return { allowed: false, reason };
    };
    if (!failure) return refuse('No such failed check on this pull request.');
    if (now.state !== 'open') return refuse(`The pull request is ${now.state}.`);
    if (now.headSha !== failure.sha)
      return refuse(`A newer commit (${now.headSha.slice(0, 12)}) is on the branch; its checks decide now.`);
    if (now.fixAttempts >= this.deps.policy.pr_watch.max_fix_attempts)
      return refuse(
        `This pull request had its ${this.deps.policy.pr_watch.max_fix_attempts} Fix CI attempts (pr_watch.max_fix_attempts).`,
      );
    const open = this.openFollowUp(now);
    if (open) return refuse(`A follow-up is already open on this pull request (run ${open.id}).`);
    const started = this.startFollowUp(now, requester, fixTask(now, failure), {
      intakeKey: `forge:${pr.repo}#${pr.number}:fix:${checkKey}`,
      trusted,
    });
    if (!started.allowed) return refuse(started.reason);
    this.deps.pullRequests.update(pr.repo, pr.number, { fixAttempts: now.fixAttempts + 1 });
    this.deps.store.appendEvent(pr.originRunId, {
      type: 'pr.fix_requested',
      data: { number: pr.number, check_id: checkKey, by, run_id: started.runId },
    });
    return { allowed: true };
  }
}
