import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import type { PoolStats } from '../runs/prepared-pool.js';
import type { PullRequestWatchStats } from '../runs/pull-request-watch.js';

export interface HealthSources {
  slackConnected: () => boolean;
  databaseWritable: () => boolean;
  runsByState: () => Record<string, number>;
  load: () => { running: number; waiting: number };
  slackBacklog: () => number;
  slackRateLimited: () => number;
  sandboxStarts?: () => { warm: number; cold: number };
  prepared?: () => PoolStats;
  prWatch?: () => PullRequestWatchStats;
}

/**
 * /healthz (the process answers), /readyz (Slack socket connected and the database takes
 * writes) and /metrics (Prometheus) on AIRLOCK_HTTP_PORT. Nothing else is served.
 */
export async function startHealthServer(
  port: number,
  sources: HealthSources,
): Promise<{ server: Server; port: number }> {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'airlock_' });
  new Gauge({
    name: 'airlock_runs',
    help: 'Runs in the store by state',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [state, n] of Object.entries(sources.runsByState())) this.set({ state }, n);
    },
  });
  new Gauge({
    name: 'airlock_runs_running',
    help: 'Runs holding a sandbox slot now',
    registers: [registry],
    collect() {
      this.set(sources.load().running);
    },
  });
  new Gauge({
    name: 'airlock_runs_waiting',
    help: 'Runs waiting for a sandbox slot',
    registers: [registry],
    collect() {
      this.set(sources.load().waiting);
    },
  });
  new Gauge({
    name: 'airlock_slack_connected',
    help: '1 when the Socket Mode connection is up',
    registers: [registry],
    collect() {
      this.set(sources.slackConnected() ? 1 : 0);
    },
  });
  new Gauge({
    name: 'airlock_slack_backlog',
    help: 'Slack Web API calls waiting for their rate budget',
    registers: [registry],
    collect() {
      this.set(sources.slackBacklog());
    },
  });
  new Gauge({
    name: 'airlock_slack_rate_limited_total',
    help: 'Slack answers of 429 since start',
    registers: [registry],
    collect() {
      this.set(sources.slackRateLimited());
    },
  });
  new Gauge({
    name: 'airlock_sandbox_starts_total',
    help: 'Sandboxes started since start: claimed from the warm pool, or started cold',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      const starts = sources.sandboxStarts?.();
      if (!starts) return;
      this.set({ kind: 'warm' }, starts.warm);
      this.set({ kind: 'cold' }, starts.cold);
    },
  });

  new Gauge({
    name: 'airlock_prepared_claims_total',
    help: 'Runs since start that found a prepared sandbox at their base (hit) or started cold (miss)',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      const stats = sources.prepared?.();
      if (!stats) return;
      this.set({ result: 'hit' }, stats.hits);
      this.set({ result: 'miss' }, stats.misses);
    },
  });
  new Gauge({
    name: 'airlock_prepared_ready',
    help: "Prepared sandboxes ready per repository, and how many the policy wants (state='wanted')",
    labelNames: ['repo', 'state'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [repo, r] of Object.entries(sources.prepared?.().repos ?? {})) {
        this.set({ repo, state: 'ready' }, r.ready);
        this.set({ repo, state: 'wanted' }, r.wanted);
      }
    },
  });

  new Gauge({
    name: 'airlock_pr_watch_requests_total',
    help: "pr_watch's conditional GETs since start: answered 304 (not_modified, no rate limit spent) or with a body (changed)",
    labelNames: ['result'],
    registers: [registry],
    collect() {
      const stats = sources.prWatch?.();
      if (!stats) return;
      this.set({ result: 'not_modified' }, stats.requests.notModified);
      this.set({ result: 'changed' }, stats.requests.changed);
    },
  });
  new Gauge({
    name: 'airlock_pr_watch_polls_total',
    help: "pr_watch's polls of a repository since start, by outcome",
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      const stats = sources.prWatch?.();
      if (!stats) return;
      this.set({ outcome: 'ok' }, stats.polls.ok);
      this.set({ outcome: 'failed' }, stats.polls.failed);
    },
  });
  new Gauge({
    name: 'airlock_pr_watch_open',
    help: 'Open pull requests airlock follows',
    registers: [registry],
    collect() {
      const stats = sources.prWatch?.();
      if (stats) this.set(stats.open);
    },
  });

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405).end();
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const slack = sources.slackConnected();
      const db = sources.databaseWritable();
      res
        .writeHead(slack && db ? 200 : 503, { 'content-type': 'text/plain' })
        .end(
          `slack ${slack ? 'connected' : 'not connected'}\ndatabase ${db ? 'writable' : 'not writable'}\n`,
        );
    } else if (path === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        () => res.writeHead(500).end(),
      );
    } else res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, resolve);
  });
  return { server, port: (server.address() as AddressInfo).port };
}
