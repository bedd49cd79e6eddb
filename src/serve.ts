import type { Server } from 'node:http';
import { WebClientEvent } from '@slack/web-api';
import type { App } from './composition-root.js';
import { repoPolicy } from './config/policy.js';
import { AirlockError } from './errors.js';
import { JiraWatch } from './runs/jira-watch.js';
import { PullRequestWatch } from './runs/pull-request-watch.js';
import { prepareReview } from './runs/review-request.js';
import { RunService } from './runs/run-service.js';
import { ScheduleRunner } from './runs/schedule-runner.js';
import { reviewSensitiveChanges } from './runs/sensitive-changes.js';
import { startHealthServer } from './server/health-server.js';
import { registerListeners } from './slack/listeners/register.js';
import { SlackChat } from './slack/slack-chat.js';
import { SlackIntake } from './slack/slack-intake.js';
import { Priority, SlackOutbox } from './slack/slack-outbox.js';
import { UserGroups } from './slack/user-groups.js';

export interface Bot {
  port: number;
  runs: RunService;
  outbox: SlackOutbox;
  /** Stops intake, lets in-flight Slack calls finish, leaves every run resumable. */
  stop(): Promise<void>;
}

/** How often serve fetches each base branch to keep prepared sandboxes at its head. */
const PREPARE_EVERY_MS = 60_000;

/**
 * `airlock serve`: the Slack bot over the same engine as `airlock run`. Builds the Slack side,
 * recovers runs left moving by a previous process, then connects.
 */
export async function startBot(
  app: App,
  opts: {
    slackRateScale?: number;
    expiryEveryMs?: number;
    prepareEveryMs?: number;
    scheduleEveryMs?: number;
  } = {},
): Promise<Bot> {
  const { env, store, policy, logger, lifecycle } = app;
  // One bot per store: a second serve would run every run twice.
  const registered = app.owner.register({ exclusive: true, kind: 'serve' });
  if (!registered.ok) {
    const { holder } = registered;
    throw new AirlockError(
      'usage',
      `Another airlock serve (pid ${holder.pid} on ${holder.host}, started ${holder.startedAt}) owns the data directory ${app.dataDir}. Stop it first, or give this one its own AIRLOCK_DATA_DIR.`,
    );
  }
  const slack = app.slack();
  let rateLimited = 0;
  slack.app.client.on(WebClientEvent.RATE_LIMITED, () => {
    rateLimited++;
  });
  const auth = await slack.app.client.auth.test().catch((error: Error) => {
    throw new AirlockError('config_invalid', `Slack refused SLACK_BOT_TOKEN: ${error.message}`);
  });
  const botUserId = String(auth.user_id);
  const teamId = auth.team_id ? String(auth.team_id) : undefined;

  const outbox = new SlackOutbox(slack.app.client, { scale: opts.slackRateScale, logger });
  const chat = new SlackChat(outbox, store, app.threads, logger, {
    botUserId,
    approvers: (run) => policy.repos[run.repo]?.approvers ?? [],
    review: (run, diff) => reviewSensitiveChanges(diff, repoPolicy(policy, run.repo), run.repo),
    reviewPost: policy.review.post,
    fileLink: (run, path, line) => {
      if (!run.baseSha) return undefined;
      const forge = app.forgeFor(run.repo);
      if (forge.kind === 'git') return undefined;
      const web = forge.remoteUrl(run.repo).replace(/\.git$/, '');
      const blob = forge.kind === 'gitlab' ? '-/blob' : 'blob';
      return `${web}/${blob}/${run.baseSha}/${path.split('/').map(encodeURIComponent).join('/')}#L${line}`;
    },
  });
  const runs = new RunService({ lifecycle, store, policy, chat, logger });
  // Egress by button: a host the agent is refused is named in the thread with Allow for approvers.
  app.egressLedger.onAgentRefused = (run, refusal) =>
    chat.notify({ kind: 'egress-refused', run, ...refusal });
  const groups = new UserGroups(outbox);
  // pr_watch: the pull requests airlock opened, followed by polling the forge (outbound only).
  const prWatch = new PullRequestWatch({
    store,
    pullRequests: app.pullRequests,
    conversationFor: app.conversationFor,
    runs,
    chat,
    tickets: app.tickets,
    policy,
    logger,
    person: async (user, candidates) => ({
      id: user,
      groups: await groups.groupsOf(user, candidates).catch(() => []),
    }),
    prepareReview: (repo, number) => prepareReview(app, repo, number),
    // A commenter without a people: entry, by the email both the forge and Slack confirm.
    userByEmail: async (email) => {
      try {
        const found = await outbox.call<{ user?: { id?: string } }>(
          'users.lookupByEmail',
          { email },
          Priority.milestone,
        );
        return found.user?.id;
      } catch {
        return undefined; // users_not_found, or the app lacks users:read.email
      }
    },
  });
  const intake = new SlackIntake({
    runs,
    store,
    threads: app.threads,
    resolver: app.resolver,
    policy,
    outbox,
    prWatch,
    prepareReview: (repo, number) => prepareReview(app, repo, number),
    groups,
    logger,
    botUserId: () => botUserId,
    teamId: () => teamId,
  });
  registerListeners(
    slack.app,
    intake,
    () => botUserId,
    (error) => logger.error({ err: error.message }, 'slack handler failed'),
  );

  const health = await startHealthServer(env.AIRLOCK_HTTP_PORT, {
    slackConnected: slack.connected,
    databaseWritable: () => store.writable(),
    runsByState: () => store.countByState(),
    load: () => runs.load,
    slackBacklog: () => outbox.backlog,
    slackRateLimited: () => rateLimited,
    sandboxStarts: app.sandboxes.starts ? () => app.sandboxes.starts?.() ?? { warm: 0, cold: 0 } : undefined,
    prepared: () => app.preparedPool.poolStats(),
    prWatch: () => prWatch.stats(),
  });

  runs.expireApprovals();
  await runs.recover();
  // Reaps orphaned sandbox pods and fills the warm pool; failures are logged and retried.
  await app.startEgress();
  await app.sandboxes.start?.();
  // Prepared sandboxes follow each base branch's head (DESIGN.md §4); a claimed one is replaced.
  const stopPreparing = app.preparedPool.keepFresh(opts.prepareEveryMs ?? PREPARE_EVERY_MS);
  await slack.start();
  let reconciling: Promise<unknown> = Promise.resolve();
  // The chain's head outside the database: a log line every 10 minutes and at every approval and
  // push, also posted to audit.channel when the policy names one.
  const stopCheckpoints = app.auditCheckpoints.every();
  const auditChannel = policy.audit?.channel;
  const removeSink = auditChannel
    ? app.auditCheckpoints.addSink(async ({ seq, hash, reason }) => {
        await outbox.call(
          'chat.postMessage',
          { channel: auditChannel, text: `audit checkpoint ${seq}:${hash} (${reason})` },
          Priority.decision,
        );
      })
    : () => {};
  const expiry = setInterval(() => {
    runs.expireApprovals();
    // Runs of an owner elsewhere whose lease lapsed, and failures this process could not record.
    reconciling = runs
      .recover()
      .catch((error: Error) => logger.warn({ err: error.message }, 'reconcile failed'));
  }, opts.expiryEveryMs ?? 60_000);
  expiry.unref();
  const watch = new JiraWatch({
    tickets: app.tickets,
    resolver: app.resolver,
    runs,
    chat,
    store,
    policy,
    logger,
  });
  const watchEvery = policy.jira?.watch?.every;
  let watching: Promise<unknown> = Promise.resolve();
  const watcher = watchEvery
    ? setInterval(() => {
        watching = watching.then(() => watch.poll());
      }, watchEvery)
    : undefined;
  if (watchEvery) watching = watch.poll();
  // schedules: checked every second (a six-field cron may name seconds); a missed tick fires now.
  const scheduler = new ScheduleRunner({
    policy,
    schedules: app.schedules,
    store,
    runs,
    resolver: app.resolver,
    chat,
    logger,
  });
  let scheduling: Promise<unknown> = Promise.resolve();
  const scheduleTimer = policy.schedules.length
    ? setInterval(() => {
        scheduling = scheduling.then(() => scheduler.tick());
      }, opts.scheduleEveryMs ?? 1000)
    : undefined;
  if (policy.schedules.length) scheduling = scheduler.tick();
  const prEvery = policy.pr_watch.enabled ? policy.pr_watch.every : undefined;
  let prPolling: Promise<unknown> = Promise.resolve();
  const prPoller = prEvery
    ? setInterval(() => {
        prPolling = prPolling.then(() => prWatch.poll());
      }, prEvery)
    : undefined;
  logger.info({ port: health.port, bot_user: botUserId }, 'airlock serve is up');

  let stopping: Promise<void> | undefined;
  return {
    port: health.port,
    runs,
    outbox,
    stop: () => {
      stopping ??= (async () => {
        // Bounded waits (well inside Kubernetes' 30 s grace): runs stop at their next step, and
        // Slack calls already handed over get a moment to go out. Idle, every wait ends at once.
        const RUNS_WITHIN_MS = 3_000;
        const SLACK_CALLS_WITHIN_MS = 2_000;
        clearInterval(expiry);
        clearInterval(watcher);
        clearInterval(prPoller);
        clearInterval(scheduleTimer);
        stopCheckpoints();
        app.auditCheckpoints.checkpoint('shutdown');
        removeSink();
        // Intake first: envelopes arriving now stay unacked and reach the next start; the ones
        // already taken are acked. Then the socket closes without reconnecting.
        const { unacked } = await slack.stop();
        if (unacked > 0)
          logger.warn({ unacked }, 'stop: Slack envelopes left unacked; Slack sends them again');
        // Runs stop where they are and stay resumable; a reconcile or Jira poll under way ends.
        let late: NodeJS.Timeout | undefined;
        const runsStopped = await Promise.race([
          Promise.allSettled([runs.shutdown(), reconciling, watching, prPolling, scheduling]).then(
            () => true,
          ),
          new Promise<false>((resolve) => {
            late = setTimeout(() => resolve(false), RUNS_WITHIN_MS);
          }),
        ]);
        clearTimeout(late);
        if (!runsStopped)
          logger.warn({ ms: RUNS_WITHIN_MS }, 'stop: runs still stopping; they resume on the next start');
        // Replies and decisions in flight go out; waiting progress edits are dropped (the next
        // start re-renders every status message). Then no Slack call or pacing timer is left.
        const cut = await outbox.drain(SLACK_CALLS_WITHIN_MS);
        if (cut > 0) logger.warn({ cut }, 'stop: Slack calls not sent in time were dropped');
        slack.abortCalls();
        stopPreparing();
        await app.sandboxes.close?.();
        await closeServer(health.server);
        // Runs left moving are taken over by the next serve at once (the owner row is gone).
        app.owner.stop();
      })();
      return stopping;
    },
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
