import { createHash, randomBytes } from 'node:crypto';
import { limitsFor, networkFor, type Policy, repoPolicy } from '../config/policy.js';
import { AirlockError, messageOf } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { PreparedRecord, PreparedSandboxes } from './ports/prepared.js';
import type { RunRecord } from './ports/store.js';
import type { RunPorts } from './run-context.js';
import { type PreparedSandbox, prepareSandbox } from './sandbox-preparation.js';

type Ports = Pick<RunPorts, 'sandboxes' | 'repos' | 'store' | 'redactor' | 'egress'> & {
  policy: Policy;
  logger: Logger;
  prepared: PreparedSandboxes;
  /** This process's owner id, written on rows it builds. */
  ownerId: () => string;
  /** Owners still alive: a building row of any other owner is left over from a crash. */
  liveOwners: () => ReadonlySet<string>;
};

/** What one refresh of a repository found and did. */
export interface RefreshReport {
  repo: string;
  baseSha: string;
  wanted: number;
  ready: number;
  built: number;
  removed: number;
  failed: string[];
}

export interface PoolStats {
  hits: number;
  misses: number;
  /** Ready sandboxes per repository (any base), and how many the policy wants. */
  repos: Record<string, { ready: number; wanted: number }>;
}

/**
 * Prepared sandboxes (DESIGN.md §4): for repositories with `prepared: N`, N sandboxes holding
 * the snapshot of the base branch's head with setup already run. A run on that head claims one
 * and starts with no setup; one on another head starts cold. Stale ones (the base moved, or the
 * setup, image or network.setup changed) are destroyed. Prepared sandboxes hold no credentials,
 * like every sandbox; their setup reaches only network.setup, and nothing once it is done.
 */
export class PreparedPool {
  private readonly stats = { hits: 0, misses: 0 };
  /** Repositories being refreshed by this process, so two refreshes never build twice. */
  private readonly refreshing = new Map<string, Promise<RefreshReport>>();
  /** Called after a claim: `serve` replaces the claimed sandbox at once. */
  onClaimed?: (repo: string) => void;

  constructor(private readonly ports: Ports) {}

  wanted(repo: string): number {
    return repoPolicy(this.ports.policy, repo).prepared;
  }

  /** Everything besides the base commit that makes a prepared sandbox what it is. */
  fingerprint(repo: string): string {
    const { policy } = this.ports;
    const r = repoPolicy(policy, repo);
    const shape = {
      setup: r.setup ?? null,
      sandbox: r.sandbox ?? null,
      image: policy.sandbox.image,
      network: networkFor(policy, repo, 'setup'),
      backend: this.ports.sandboxes.kind,
    };
    return createHash('sha256').update(JSON.stringify(shape)).digest('hex').slice(0, 16);
  }

  /** A ready sandbox of the run's repository at `baseSha`, now the run's; undefined: start cold. */
  async claim(
    run: RunRecord,
    baseSha: string,
  ): Promise<(PreparedSandbox & { preparedId: string }) | undefined> {
    const { prepared, sandboxes } = this.ports;
    const record = prepared.claim(run.repo, baseSha, this.fingerprint(run.repo), run.id);
    if (!record) {
      if (this.wanted(run.repo) > 0) this.stats.misses++;
      return undefined;
    }
    prepared.remove(record.id);
    this.onClaimed?.(run.repo);
    const sandbox = await sandboxes.adopt?.(record.id, run.id).catch((error: unknown) => {
      this.ports.logger.warn(
        { prepared_id: record.id, err: messageOf(error) },
        'prepared sandbox not adopted',
      );
      return undefined;
    });
    if (!sandbox || !record.snapshotCommit) {
      this.stats.misses++;
      return undefined;
    }
    this.stats.hits++;
    return {
      sandbox,
      snapshotCommit: record.snapshotCommit,
      setup: record.setup ?? undefined,
      preparedId: record.id,
    };
  }

  /**
   * Brings the repository's prepared sandboxes to its base branch's current head: destroys stale
   * ones and builds what is missing, one at a time so a pool never floods the machine.
   */
  refresh(repo: string, opts: { atLeast?: number } = {}): Promise<RefreshReport> {
    const running = this.refreshing.get(repo);
    if (running) return running;
    const work = this.doRefresh(repo, opts.atLeast ?? 0).finally(() => this.refreshing.delete(repo));
    this.refreshing.set(repo, work);
    return work;
  }

  /**
   * For `serve`: refreshes every repository with `prepared` now and every `everyMs` (the base
   * moves: the mirror is fetched each time), and replaces a claimed sandbox at once. Returns stop.
   */
  keepFresh(everyMs: number): () => void {
    const repos = Object.entries(this.ports.policy.repos)
      .filter(([, r]) => r.prepared > 0)
      .map(([name]) => name);
    if (!repos.length) return () => {};
    let stopped = false;
    const refresh = (repo: string) =>
      this.refresh(repo).catch((error: unknown) => {
        if (!stopped)
          this.ports.logger.warn({ repo, err: messageOf(error) }, 'prepared sandboxes not refreshed');
      });
    const round = async () => {
      for (const repo of repos) if (!stopped) await refresh(repo);
    };
    this.onClaimed = (repo) => {
      if (!stopped) void refresh(repo);
    };
    void round();
    const timer = setInterval(() => void round(), everyMs);
    timer.unref();
    return () => {
      stopped = true;
      clearInterval(timer);
      this.onClaimed = undefined;
    };
  }

  list(repo: string): PreparedRecord[] {
    return this.ports.prepared.list(repo);
  }

  poolStats(): PoolStats {
    const repos: PoolStats['repos'] = {};
    for (const [repo, r] of Object.entries(this.ports.policy.repos)) {
      const ready = this.ports.prepared.list(repo).filter((p) => p.state === 'ready').length;
      if (r.prepared > 0 || ready > 0) repos[repo] = { ready, wanted: r.prepared };
    }
    return { ...this.stats, repos };
  }

  private async doRefresh(repo: string, atLeast: number): Promise<RefreshReport> {
    const { prepared, repos, policy } = this.ports;
    const wanted = Math.max(this.wanted(repo), atLeast);
    const baseSha = await repos.fetchBase(repo, repoPolicy(policy, repo).base);
    const fingerprint = this.fingerprint(repo);
    const live = this.ports.liveOwners();
    const report: RefreshReport = { repo, baseSha, wanted, ready: 0, built: 0, removed: 0, failed: [] };
    let current = 0;
    for (const row of prepared.list(repo)) {
      const fresh = row.baseSha === baseSha && row.fingerprint === fingerprint;
      const orphan = row.state === 'building' && !(row.ownerId && live.has(row.ownerId));
      // A ready one whose sandbox went (a pod's deadline, an eviction, a cleaned disk) is no use.
      const gone = row.state === 'ready' && fresh && !(await this.present(row.id));
      // A claimed row is the run's now (its adoption failed mid-way): only the row goes.
      if (row.state === 'claimed' || orphan || !fresh || gone) {
        await this.discard(row);
        report.removed++;
      } else current++;
    }
    while (current < wanted) {
      const built = await this.build(repo, baseSha, fingerprint);
      if ('error' in built) {
        report.failed.push(built.error);
        break;
      }
      report.built++;
      current++;
    }
    report.ready = prepared.list(repo).filter((p) => p.state === 'ready' && p.baseSha === baseSha).length;
    return report;
  }

  private async build(
    repo: string,
    baseSha: string,
    fingerprint: string,
  ): Promise<PreparedRecord | { error: string }> {
    const { prepared, egress, policy, logger } = this.ports;
    const id = `prep${randomBytes(6).toString('hex')}`;
    prepared.add({ id, repo, baseSha, fingerprint, ownerId: this.ports.ownerId() });
    const log = logger.child({ prepared_id: id, repo });
    const started = Date.now();
    egress?.enter(id, 'setup', networkFor(policy, repo, 'setup'));
    try {
      const made = await prepareSandbox(
        this.ports,
        { id, repo },
        {
          baseSha,
          setup: repoPolicy(policy, repo).setup,
          setupTimeoutMs: limitsFor(policy, repo).command_timeout_seconds * 1000,
        },
      );
      if (made.setup && made.setup.exitCode !== 0) {
        throw new AirlockError(
          'sandbox_failed',
          `setup exited ${made.setup.exitCode ?? 'by a signal'}: ${made.setup.output.slice(-500).trim()}`,
        );
      }
      prepared.ready(id, made.snapshotCommit, made.setup ?? null);
      log.info({ base_sha: baseSha, ms: Date.now() - started }, 'prepared sandbox ready');
      return prepared.list(repo).find((p) => p.id === id) as PreparedRecord;
    } catch (error) {
      const message = `${repo}: a prepared sandbox could not be built: ${messageOf(error)}`;
      log.warn({ err: messageOf(error) }, 'prepared sandbox failed');
      await this.discard({ id });
      return { error: message };
    } finally {
      // Setup's network ends with setup; a claimed sandbox is judged as its run from then on.
      egress?.forget(id);
    }
  }

  private async present(id: string): Promise<boolean> {
    try {
      return (await this.ports.sandboxes.attach(id)) !== undefined;
    } catch {
      return false;
    }
  }

  private async discard(row: Pick<PreparedRecord, 'id'>): Promise<void> {
    this.ports.prepared.remove(row.id);
    try {
      const sandbox = await this.ports.sandboxes.attach(row.id);
      await sandbox?.destroy();
    } catch (error) {
      this.ports.logger.warn(
        { prepared_id: row.id, err: messageOf(error) },
        'prepared sandbox not destroyed',
      );
    }
  }
}
