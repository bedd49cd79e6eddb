import { accessSync, constants, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { WebClient } from '@slack/web-api';
import { pino } from 'pino';
import type { Dispatcher } from 'undici';
import { installEgressProxy } from './config/egress-proxy.js';
import { type AirlockEnv, readEnv, secretValues } from './config/env.js';
import { loadPolicy, type Policy } from './config/policy.js';
import { EgressGateway } from './egress/egress-gateway.js';
import { upstreamProxyFrom } from './egress/upstream.js';
import { AirlockError } from './errors.js';
import { GitPublisher } from './forge/git-publisher.js';
import { GitHubConversation } from './forge/github/github-conversation.js';
import {
  GitHubAppCredentials,
  type GitHubCredentials,
  PersonalToken,
} from './forge/github/github-credentials.js';
import { GitHubForge } from './forge/github/github-forge.js';
import { GitLabConversation } from './forge/gitlab/gitlab-conversation.js';
import { GitLabForge } from './forge/gitlab/gitlab-forge.js';
import { PlainGitForge } from './forge/plain-git-forge.js';
import { JiraTickets } from './jira/jira-tickets.js';
import { NotConfiguredTickets } from './jira/not-configured-tickets.js';
import { createLogger, type Logger } from './log/logger.js';
import { Redactor } from './log/redactor.js';
import { createModelClient } from './models/create-model-client.js';
import { Mirrors } from './repos/mirror.js';
import { MirroredRepositories } from './repos/repository-source.js';
import { EgressLedger } from './runs/egress-ledger.js';
import { OwnerLease } from './runs/owner-lease.js';
import type { Forge } from './runs/ports/forge.js';
import type { ModelClient } from './runs/ports/model.js';
import type { ForgeConversation } from './runs/ports/pull-requests.js';
import type { RepositorySource } from './runs/ports/repositories.js';
import type { SandboxProvider } from './runs/ports/sandbox.js';
import type { Tickets } from './runs/ports/tickets.js';
import { PreparedPool } from './runs/prepared-pool.js';
import { RequestResolver } from './runs/request-resolver.js';
import { RunLifecycle } from './runs/run-lifecycle.js';
import { REPLAY_SUFFIX } from './runs/run-replay.js';
import { isTerminal } from './runs/run-state.js';
import { KubeApi, loadKubeConfig } from './sandbox/kubernetes/kube-api.js';
import { KubernetesSandboxes } from './sandbox/kubernetes/kubernetes-sandboxes.js';
import { LocalSandboxProvider } from './sandbox/local/local-sandbox.js';
import { directSpawn, ProcessSpawner } from './shared/process-spawner.js';
import { createSlackApp, type SlackConnection } from './slack/slack-app.js';
import { AuditCheckpoints } from './store/audit-checkpoints.js';
import { openDatabase } from './store/database.js';
import { SqliteEnvelopeLog } from './store/sqlite-envelope-log.js';
import { SqlitePreparedSandboxes } from './store/sqlite-prepared.js';
import { SqlitePullRequests } from './store/sqlite-pull-requests.js';
import { SqliteRunThreads } from './store/sqlite-run-threads.js';
import { SqliteSchedules } from './store/sqlite-schedules.js';
import { SqliteStore } from './store/sqlite-store.js';

export interface App {
  env: AirlockEnv;
  policy: Policy;
  dataDir: string;
  store: SqliteStore;
  /** Audit checkpoints (`audit checkpoint SEQ:HASH`): written after every durable write; serve adds the timer. */
  auditCheckpoints: AuditCheckpoints;
  /** Slack's thread bookkeeping, in the same database. */
  threads: SqliteRunThreads;
  redactor: Redactor;
  logger: Logger;
  /** This process as an owner of runs (registered on first use). */
  owner: OwnerLease;
  lifecycle: RunLifecycle;
  resolver: RequestResolver;
  sandboxes: SandboxProvider;
  /** The repositories' mirrors: base commits, snapshots, files. */
  repos: RepositorySource;
  forgeFor: (repo: string) => Forge;
  /** The pull-request conversation of a repository's forge, where airlock can follow one. */
  conversationFor: (repo: string) => ForgeConversation | undefined;
  /** The pull requests airlock opened and follows. */
  pullRequests: SqlitePullRequests;
  /** Schedule ticks and the runs they started. */
  schedules: SqliteSchedules;
  model: () => ModelClient;
  tickets: Tickets;
  /** The Slack app (Bolt in Socket Mode), built on first use: only `serve` needs it. */
  slack: () => SlackConnection;
  /** Web API clients for the bot and app tokens, for `airlock doctor`; undefined when unset. */
  slackClients: () => { bot: WebClient; app: WebClient } | undefined;
  /** The proxying dispatcher when HTTPS_PROXY/HTTP_PROXY is set, for Socket Mode's WebSocket. */
  egress?: Dispatcher;
  /** The sandboxes' egress gateway, and the audit of what went through it. */
  gateway: EgressGateway;
  egressLedger: EgressLedger;
  /** Sandboxes kept ready at each repository's base head (`prepared: N`). */
  preparedPool: PreparedPool;
  /** Opens the gateway's shared port for sandbox pods (Kubernetes); before any sandbox starts. */
  startEgress(): Promise<void>;
  close(): void;
}

/**
 * The one place that builds every client and passes it down (STYLE.md: Atlantis' NewServer).
 * Nothing else constructs an SDK client or reads the environment.
 */
export function buildApp(
  processEnv: NodeJS.ProcessEnv,
  opts: { logTo?: 'file' | 'stderr'; ownerKind?: string } = {},
): App {
  const env = readEnv(processEnv);
  const egress = installEgressProxy(processEnv);
  const policy = loadPolicy(env.AIRLOCK_CONFIG);
  const dataDir = resolve(env.AIRLOCK_DATA_DIR);
  ensureDataDir(dataDir);
  const redactor = new Redactor(secretValues(processEnv));
  // Written asynchronously: a synchronous write per line is loop time a burst cannot spare
  // (issue 12). close() flushes what is still buffered.
  const destination =
    opts.logTo === 'stderr'
      ? pino.destination({ dest: 2, sync: false })
      : pino.destination({ dest: join(dataDir, 'airlock.log'), mkdir: true, sync: false });
  const logger = createLogger({ level: env.AIRLOCK_LOG_LEVEL, redactor, destination });
  const db = openDatabase(join(dataDir, 'airlock.db'));
  const auditCheckpoints = new AuditCheckpoints(logger);
  const store = new SqliteStore(db, undefined, {
    auditKey: env.AIRLOCK_AUDIT_KEY,
    onCheckpoint: auditCheckpoints.onDurableEvent,
  });
  auditCheckpoints.readFrom(() => store.auditHead());
  const threads = new SqliteRunThreads(db);
  const preparedStore = new SqlitePreparedSandboxes(db);
  const owner = new OwnerLease(store, { kind: opts.ownerKind ?? 'cli', logger });

  const urls = Object.fromEntries(Object.entries(policy.repos).map(([name, r]) => [name, r.url]));
  const credentials = githubCredentials(env, policy, redactor);
  const github = new GitHubForge(credentials, {
    apiUrl: env.GITHUB_API_URL,
    urls,
  });
  const githubConversation = new GitHubConversation(credentials, env.GITHUB_API_URL);
  const gitlabConversation =
    env.GITLAB_URL && env.GITLAB_TOKEN
      ? new GitLabConversation({ url: env.GITLAB_URL, token: env.GITLAB_TOKEN })
      : undefined;
  // The forge's side of a pull request airlock follows (pr_watch); none for plain git, or without a credential.
  const conversationFor = (repo: string): ForgeConversation | undefined => {
    const kind = policy.repos[repo]?.forge;
    if (kind === 'github' && credentials.mode !== 'none') return githubConversation;
    if (kind === 'gitlab') return gitlabConversation;
    return undefined;
  };
  const pullRequests = new SqlitePullRequests(db);
  const plain = new PlainGitForge(urls);
  let gitlab: GitLabForge | undefined;
  const forgeFor = (repo: string): Forge => {
    const kind = policy.repos[repo]?.forge;
    if (kind === 'git') return plain;
    if (kind === 'gitlab') {
      if (!env.GITLAB_URL)
        throw new AirlockError(
          'config_invalid',
          `${repo} is on GitLab (forge: gitlab): set GITLAB_URL and GITLAB_TOKEN.`,
        );
      gitlab ??= new GitLabForge({ url: env.GITLAB_URL, token: env.GITLAB_TOKEN, urls });
      return gitlab;
    }
    return github;
  };

  let egressListening = false;
  // The bot forks nothing from its own (large) process: spawns would stall its event loop under
  // load. Short-lived commands start their few processes directly.
  const spawner = opts.ownerKind === 'serve' ? new ProcessSpawner() : undefined;
  const spawn = spawner?.spawn ?? directSpawn;
  // Every sandbox's only way out (DESIGN.md §4); each connection lands in the audit log.
  const egressLedger = new EgressLedger(store, logger);
  const gateway = new EgressGateway({
    logger,
    onConnection: (record) => egressLedger.record(record),
    upstreamProxy: upstreamProxyFrom(processEnv),
  });
  const sandboxes: SandboxProvider =
    env.AIRLOCK_SANDBOX === 'kubernetes'
      ? new KubernetesSandboxes(
          new KubeApi(loadKubeConfig(env.KUBECONFIG), policy.sandbox.namespace),
          policy,
          {
            logger,
            isRunActive: (id) => {
              const run = store.getRun(id);
              if (run) return !isTerminal(run.state);
              // A replay's sandbox (run-replay.ts) lives while its replay has started and not ended.
              const replayed = id.endsWith(REPLAY_SUFFIX) ? id.slice(0, -REPLAY_SUFFIX.length) : undefined;
              const last = replayed
                ? store.events(replayed).findLast((e) => e.type.startsWith('replay.'))
                : undefined;
              return last?.type === 'replay.started';
            },
            isPrepared: (id) => preparedStore.has(id),
            egress: env.AIRLOCK_EGRESS_URL
              ? { routes: gateway, proxyUrl: env.AIRLOCK_EGRESS_URL }
              : undefined,
          },
        )
      : new LocalSandboxProvider(join(dataDir, 'workspaces'), {
          ...policy.sandbox.local,
          // The policy's folder (an operator's .env may sit beside it) stays out of reach even
          // when it lies under a path the policy binds.
          hide: [...policy.sandbox.local.hide, dirname(resolve(env.AIRLOCK_CONFIG))],
          egress: gateway,
          spawn,
        });
  if (sandboxes.warning) logger.warn(sandboxes.warning);

  const tickets: Tickets = env.JIRA_BASE_URL
    ? new JiraTickets({
        baseUrl: env.JIRA_BASE_URL,
        email: env.JIRA_EMAIL,
        apiToken: env.JIRA_API_TOKEN,
        pat: env.JIRA_PAT,
      })
    : new NotConfiguredTickets();
  const mirrors = new Mirrors(join(dataDir, 'mirrors'), undefined, undefined, spawn);
  let modelClient: ModelClient | undefined;
  const model = () => {
    modelClient ??= createModelClient(env, policy.model.name, {
      idleTimeoutMs: policy.model.idle_timeout_seconds * 1000,
      requestTimeoutMs: policy.model.request_timeout_seconds * 1000,
    });
    return modelClient;
  };
  const repos = new MirroredRepositories(mirrors, forgeFor, policy);
  const preparedPool = new PreparedPool({
    sandboxes,
    repos,
    store,
    redactor,
    egress: gateway,
    policy,
    logger,
    prepared: preparedStore,
    ownerId: () => owner.id(),
    liveOwners: () => owner.liveOwners(),
  });
  const lifecycle = new RunLifecycle({
    owner,
    store,
    policy,
    repos,
    sandboxes,
    egress: gateway,
    preparedPool,
    publisher: new GitPublisher(mirrors, forgeFor),
    pullRequests,
    conversationFor,
    tickets,
    model,
    logger,
    redactor,
  });
  let slack: SlackConnection | undefined;
  const slackConnection = (): SlackConnection => {
    if (!env.SLACK_BOT_TOKEN || !env.SLACK_APP_TOKEN) {
      throw new AirlockError(
        'config_invalid',
        'airlock serve needs SLACK_BOT_TOKEN (xoxb-…) and SLACK_APP_TOKEN (xapp-…, with connections:write). See README: Slack app.',
      );
    }
    slack ??= createSlackApp({
      envelopes: new SqliteEnvelopeLog(db),
      botToken: env.SLACK_BOT_TOKEN,
      appToken: env.SLACK_APP_TOKEN,
      apiUrl: env.SLACK_API_URL,
      logger,
      dispatcher: egress,
    });
    return slack;
  };
  const slackClients = () => {
    if (!env.SLACK_BOT_TOKEN || !env.SLACK_APP_TOKEN) return undefined;
    const options = { slackApiUrl: env.SLACK_API_URL, retryConfig: { retries: 0 } };
    return {
      bot: new WebClient(env.SLACK_BOT_TOKEN, options),
      app: new WebClient(env.SLACK_APP_TOKEN, options),
    };
  };
  return {
    env,
    policy,
    slack: slackConnection,
    slackClients,
    dataDir,
    store,
    auditCheckpoints,
    threads,
    redactor,
    logger,
    owner,
    lifecycle,
    resolver: new RequestResolver(policy, tickets),
    sandboxes,
    repos,
    forgeFor,
    conversationFor,
    pullRequests,
    schedules: new SqliteSchedules(db),
    model,
    tickets,
    egress,
    gateway,
    egressLedger,
    preparedPool,
    startEgress: async () => {
      // Pods reach the gateway on one port and are told apart by address; local sandboxes each
      // get their own socket when they are made, so there is nothing to start for them.
      if (env.AIRLOCK_SANDBOX !== 'kubernetes' || !env.AIRLOCK_EGRESS_URL || egressListening) return;
      egressListening = true;
      await gateway.listenShared(env.AIRLOCK_EGRESS_PORT).catch((error: Error) => {
        throw new AirlockError(
          'config_invalid',
          `The egress gateway cannot listen on port ${env.AIRLOCK_EGRESS_PORT} (AIRLOCK_EGRESS_PORT): ${error.message}`,
        );
      });
    },
    close: () => {
      void gateway.close();
      spawner?.close();
      owner.stop();
      store.close();
      try {
        destination.flushSync();
      } catch {
        // Not open yet (nothing was written), or already closed.
      }
    },
  };
}

/** The data directory, created if missing; a file or an unwritable folder there is said plainly. */
function ensureDataDir(dataDir: string): void {
  try {
    mkdirSync(dataDir, { recursive: true });
    accessSync(dataDir, constants.W_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === 'EEXIST' || code === 'ENOTDIR'
        ? 'is a file, not a directory'
        : code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
          ? 'is not writable by this user'
          : code === 'ENOSPC'
            ? 'cannot be created: the disk is full'
            : `cannot be used (${code ?? (error as Error).message})`;
    throw new AirlockError(
      'config_invalid',
      `AIRLOCK_DATA_DIR ${dataDir} ${why}. Point AIRLOCK_DATA_DIR at a writable directory.`,
    );
  }
}

/** A GitHub App when its variables are set (scoped, short-lived tokens), else GITHUB_TOKEN. */
function githubCredentials(env: AirlockEnv, policy: Policy, redactor: Redactor): GitHubCredentials {
  if (env.GITHUB_APP_ID || env.GITHUB_APP_PRIVATE_KEY) {
    if (!env.GITHUB_APP_ID || !env.GITHUB_APP_PRIVATE_KEY) {
      throw new AirlockError(
        'config_invalid',
        'Set both GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY for GitHub App auth.',
      );
    }
    return new GitHubAppCredentials({
      appId: env.GITHUB_APP_ID,
      privateKey: env.GITHUB_APP_PRIVATE_KEY,
      installationId: env.GITHUB_APP_INSTALLATION_ID,
      apiUrl: env.GITHUB_API_URL,
      issuesWrite: (repo) => (policy.repos[repo]?.pr?.labels.length ?? 0) > 0,
      onToken: (token) => redactor.add(token),
    });
  }
  return new PersonalToken(env.GITHUB_TOKEN);
}
