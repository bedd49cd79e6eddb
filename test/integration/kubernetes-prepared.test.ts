import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { parsePolicy } from '../../src/config/policy.js';
import { EgressGateway } from '../../src/egress/egress-gateway.js';
import { PlainGitForge } from '../../src/forge/plain-git-forge.js';
import { Redactor } from '../../src/log/redactor.js';
import { Mirrors } from '../../src/repos/mirror.js';
import { MirroredRepositories } from '../../src/repos/repository-source.js';
import { OwnerLease } from '../../src/runs/owner-lease.js';
import type { EgressRecord } from '../../src/runs/ports/egress.js';
import type { RunRecord } from '../../src/runs/ports/store.js';
import { PreparedPool } from '../../src/runs/prepared-pool.js';
import { KubeApi } from '../../src/sandbox/kubernetes/kube-api.js';
import { KubernetesSandboxes } from '../../src/sandbox/kubernetes/kubernetes-sandboxes.js';
import {
  POOL_LABEL,
  PREPARED_POD_DEADLINE_SECONDS,
  RUN_ID_LABEL,
} from '../../src/sandbox/kubernetes/pod-spec.js';
import { openDatabase } from '../../src/store/database.js';
import { SqlitePreparedSandboxes } from '../../src/store/sqlite-prepared.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';
import { createBareFixture, FIXTURE_FILES } from '../fakes/fixture-repo.js';
import { type KubeObject, POD_PROXY_URL, startFakeKubernetes } from '../fakes/kubernetes/index.js';
import { closeServer } from '../fakes/server-util.js';
import { eventually } from '../support/bot-harness.js';

/**
 * Prepared sandboxes (DESIGN.md §4) on the Kubernetes backend, against the API stand-in and its
 * cluster network: the real PreparedPool builds a pod with setup done, a run adopts that very pod
 * with a guarded label patch, and housekeeping tells prepared pods from orphans.
 */

const NS = 'airlock-sandboxes';
const REPO = 'acme/widgets';
const logger = pino({ level: 'silent' });
/** limits.max_minutes 30: a run's pod deadline is 30 min + 15 min for setup and the diff. */
const RUN_DEADLINE_SECONDS = 30 * 60 + 900;

let cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** An HTTP server on 127.0.0.2 (outside NO_PROXY), the one host setup may fetch from. */
async function startUpstream() {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(req.url ?? '');
    res.end(`upstream saw ${req.url}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', resolve));
  cleanups.push(() => closeServer(server));
  const port = (server.address() as AddressInfo).port;
  return { seen, target: `127.0.0.2:${port}`, url: `http://127.0.0.2:${port}` };
}

async function setup(opts: { prepared?: number; warmPool?: number } = {}) {
  const upstream = await startUpstream();
  const records: EgressRecord[] = [];
  const gateway = new EgressGateway({ logger, onConnection: (r) => records.push(r) });
  const gatewayPort = await gateway.listenShared(0, '127.0.0.1');
  cleanups.push(() => gateway.close());
  const kube = await startFakeKubernetes({ gateway: { host: '127.0.0.1', port: gatewayPort } });
  const dir = mkdtempSync(join(tmpdir(), 'airlock-k8s-prepared-'));
  const fixture = createBareFixture(FIXTURE_FILES);
  cleanups.push(async () => {
    await kube.close();
    fixture.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });
  kube.writeKubeconfig(join(dir, 'kubeconfig'));
  // Setup counts its runs in the sandbox's home and fetches from the one host network.setup allows.
  const setupCommand = `echo ran >> "$HOME/setup-runs" && curl -sS -m 10 -o /tmp/fetched ${upstream.url}/setup`;
  const policy = parsePolicy(`
repos:
  ${REPO}:
    url: ${fixture.bare}
    forge: git
    prepared: ${opts.prepared ?? 1}
    setup: '${setupCommand}'
    network: { setup: ['${upstream.target}'] }
limits: { max_minutes: 30 }
sandbox: { warm_pool: ${opts.warmPool ?? 0} }
`);

  // As composition-root.ts builds them, once per airlock process over the same database file.
  const ended = new Set<string>();
  const processes: Array<ReturnType<typeof airlockProcess>> = [];
  function airlockProcess() {
    const index = processes.length;
    const db = openDatabase(join(dir, 'airlock.db'));
    cleanups.push(() => {
      db.close();
    });
    const store = new SqliteStore(db);
    const prepared = new SqlitePreparedSandboxes(db);
    const owner = new OwnerLease(store, { kind: 'test', logger });
    cleanups.push(() => owner.stop());
    const kc = new KubeConfig();
    kc.loadFromFile(join(dir, 'kubeconfig'));
    const api = new SlowListing(kc, NS);
    const sandboxes = new KubernetesSandboxes(api, policy, {
      logger,
      isRunActive: (id) => store.getRun(id) !== undefined && !ended.has(id),
      isPrepared: (id) => prepared.has(id),
      startTimeoutMs: 10_000,
      housekeepingMs: 100,
      egress: { routes: gateway, proxyUrl: POD_PROXY_URL },
    });
    cleanups.push(() => sandboxes.close());
    // Housekeeping passes, counted as they begin and end, so a test can wait for whole passes.
    const passes = { begun: 0, ended: [] as number[] };
    const pass = sandboxes.housekeeping.bind(sandboxes);
    sandboxes.housekeeping = async () => {
      const n = ++passes.begun;
      try {
        await pass();
      } finally {
        passes.ended.push(n);
      }
    };
    /** Until `count` housekeeping passes that began after this call have ended. */
    const passesEnded = (count = 2) => {
      const after = passes.begun;
      return eventually(
        () => passes.ended.filter((n) => n > after).length >= count,
        10_000,
        `${count} housekeeping passes`,
      );
    };
    const urls = { [REPO]: fixture.bare };
    const pool = new PreparedPool({
      sandboxes,
      repos: new MirroredRepositories(
        new Mirrors(join(dir, 'mirrors')),
        () => new PlainGitForge(urls),
        policy,
      ),
      store,
      redactor: new Redactor([]),
      egress: gateway,
      policy,
      logger,
      prepared,
      ownerId: () => owner.id(),
      liveOwners: () => owner.liveOwners(),
    });
    let runs = 0;
    /** A run of the repository, as intake creates it: active until `ended`. */
    const newRun = (): RunRecord =>
      store.createRun({
        id: `run${index}x${++runs}`,
        repo: REPO,
        task: 'fix add',
        requester: 'U1',
        source: 'cli',
        baseRef: 'main',
        ownerId: owner.id(),
      });
    return { store, prepared, sandboxes, pool, newRun, api, passesEnded };
  }
  const spawn = () => {
    const p = airlockProcess();
    processes.push(p);
    return p;
  };

  const podsLabelled = (id: string) =>
    kube.pods(NS).filter((p) => p.metadata.labels?.[RUN_ID_LABEL] === id && !p.metadata.deletionTimestamp);
  const onePod = (id: string): KubeObject => {
    const pods = podsLabelled(id);
    if (pods.length !== 1) throw new Error(`${pods.length} pods labelled ${id}`);
    return pods[0] as KubeObject;
  };
  /** The API as an operator's kubectl has it. */
  const kubectl = () => {
    const kc = new KubeConfig();
    kc.loadFromFile(join(dir, 'kubeconfig'));
    return new KubeApi(kc, NS);
  };
  return { kube, gateway, records, upstream, fixture, ended, spawn, podsLabelled, onePod, kubectl };
}

const lines = (text: string) => text.split('\n').filter(Boolean);

/** The API, with a step that runs once between a listing's answer and its caller seeing it. */
class SlowListing extends KubeApi {
  afterNextList?: () => Promise<void>;

  override async listPods(labelSelector: string) {
    const pods = await super.listPods(labelSelector);
    const step = this.afterNextList;
    this.afterNextList = undefined;
    await step?.();
    return pods;
  }
}

describe('prepared sandboxes on the kubernetes backend', () => {
  it('refresh builds a pod with setup done; a run adopts that pod, its files, its deadline and its address', async () => {
    const env = await setup({ warmPool: 1 });
    const { kube, gateway, records, upstream, fixture, onePod } = env;
    const airlock = env.spawn();
    await airlock.sandboxes.start();
    const warm = () =>
      kube.pods(NS).filter((p) => p.metadata.labels?.[POOL_LABEL] === 'warm' && p.status.phase === 'Running');
    await eventually(() => warm().length === 1, 10_000, 'a warm pod');
    const warmName = warm()[0]?.metadata.name;

    const report = await airlock.pool.refresh(REPO);
    expect(report).toMatchObject({ repo: REPO, baseSha: fixture.head, built: 1, ready: 1, failed: [] });
    const [row] = airlock.prepared.list(REPO);
    if (!row) throw new Error('no prepared row');
    expect(row).toMatchObject({ state: 'ready', setup: { exitCode: 0 } });
    // Its own pod, started cold with a deadline to wait for a run: the warm pool is left to runs.
    const prepPod = onePod(row.id);
    expect(prepPod.metadata.name).not.toBe(warmName);
    expect(prepPod.spec.activeDeadlineSeconds).toBe(PREPARED_POD_DEADLINE_SECONDS + RUN_DEADLINE_SECONDS);
    expect(warm().map((p) => p.metadata.name)).toEqual([warmName]);
    expect(airlock.sandboxes.starts()).toEqual({ warm: 0, cold: 0 });
    // Setup reached network.setup through the gateway, as the prepared sandbox.
    expect(upstream.seen).toEqual(['/setup']);
    await eventually(() => records.length === 1, 5000, 'the setup fetch recorded');
    expect(records[0]).toMatchObject({ key: row.id, allowed: true, phase: 'setup' });

    // Housekeeping passes (every 100 ms) leave the prepared pod alone.
    await airlock.passesEnded();
    expect(onePod(row.id).metadata.uid).toBe(prepPod.metadata.uid);

    const run = airlock.newRun();
    const claimed = await airlock.pool.claim(run, fixture.head);
    if (!claimed) throw new Error('the run did not claim the prepared sandbox');
    expect(claimed).toMatchObject({ preparedId: row.id, snapshotCommit: row.snapshotCommit });
    expect(claimed.setup).toMatchObject({ exitCode: 0 });
    expect(airlock.pool.poolStats()).toMatchObject({ hits: 1, misses: 0 });
    expect(airlock.prepared.has(row.id)).toBe(false);

    // The same pod (a name cannot change), now labelled with the run, its deadline the run's from now.
    const runPod = onePod(run.id);
    expect(runPod.metadata.uid).toBe(prepPod.metadata.uid);
    expect(runPod.metadata.name).toBe(prepPod.metadata.name);
    expect(env.podsLabelled(row.id)).toEqual([]);
    expect(runPod.spec.activeDeadlineSeconds).toBeGreaterThanOrEqual(RUN_DEADLINE_SECONDS);
    expect(runPod.spec.activeDeadlineSeconds).toBeLessThan(RUN_DEADLINE_SECONDS + 60);
    expect(warm().map((p) => p.metadata.name)).toEqual([warmName]);

    // airlock restarts: the run's sandbox is found by its label, with setup's work in it.
    const again = env.spawn();
    const sandbox = await again.sandboxes.attach(run.id);
    if (!sandbox) throw new Error('attach found no sandbox for the run');
    expect(await again.sandboxes.attach(row.id)).toBeUndefined();
    const home = await sandbox.exec(
      'cat "$HOME/setup-runs" /tmp/fetched; echo; git rev-parse HEAD; cat README.md',
    );
    expect(home.exitCode, home.stderr.toString()).toBe(0);
    expect(lines(home.stdout.toString())).toEqual([
      'ran',
      'upstream saw /setup',
      row.snapshotCommit,
      ...lines(FIXTURE_FILES['README.md'] as string),
    ]);
    expect(upstream.seen).toEqual(['/setup']); // setup did not run again

    // The pod's address is the run's at the gateway now: the run's allowance lets it through.
    gateway.enter(run.id, 'agent', [upstream.target]);
    const fetched = await sandbox.exec(`curl -sS -m 10 ${upstream.url}/agent`, { timeoutMs: 20_000 });
    expect(fetched.stdout.toString()).toBe('upstream saw /agent');
    await eventually(() => records.length === 2, 5000, 'the agent fetch recorded');
    expect(records[1]).toMatchObject({ key: run.id, allowed: true, phase: 'agent' });

    // destroy deletes the adopted pod, whatever its name.
    await sandbox.destroy();
    await eventually(
      () => !kube.pods(NS).some((p) => p.metadata.uid === prepPod.metadata.uid),
      5000,
      'pod gone',
    );
  });

  it('the reaper keeps prepared pods, reaps one whose row is gone, and an adopted pod once its run ends', async () => {
    const env = await setup({ prepared: 2 });
    const { kube, fixture, ended, onePod } = env;
    const airlock = env.spawn();
    expect(await airlock.pool.refresh(REPO)).toMatchObject({ built: 2, ready: 2 });
    const [kept, dropped] = airlock.prepared.list(REPO);
    if (!kept || !dropped) throw new Error('two prepared rows');
    const keptUid = onePod(kept.id).metadata.uid;
    // A row forgotten without its pod (a crash between the two): that pod is an orphan.
    airlock.prepared.remove(dropped.id);

    await airlock.sandboxes.start(); // housekeeping now and every 100 ms
    await eventually(() => env.podsLabelled(dropped.id).length === 0, 5000, 'the orphan reaped');
    await airlock.passesEnded();
    expect(onePod(kept.id).metadata.uid).toBe(keptUid);

    const run = airlock.newRun();
    const claimed = await airlock.pool.claim(run, fixture.head);
    expect(claimed?.preparedId).toBe(kept.id);
    // The run is active: its adopted pod stays through housekeeping passes.
    await airlock.passesEnded();
    expect(onePod(run.id).metadata.uid).toBe(keptUid);
    // The run ends: the next pass takes its pod, found by label though named after the prepared id.
    ended.add(run.id);
    await eventually(
      () => !kube.pods(NS).some((p) => p.metadata.uid === keptUid),
      5000,
      'adopted pod reaped',
    );
    expect(await airlock.sandboxes.attach(run.id)).toBeUndefined();
  });

  it('two runs claiming one prepared sandbox at once: one gets it, the other starts cold', async () => {
    const env = await setup();
    const { kube, fixture, onePod } = env;
    const first = env.spawn();
    const second = env.spawn(); // another airlock process on the same database
    await first.pool.refresh(REPO);
    const [row] = first.prepared.list(REPO);
    if (!row) throw new Error('no prepared row');
    const uid = onePod(row.id).metadata.uid;

    // Through the pool: its claim takes the row in one statement.
    const [runA, runB] = [first.newRun(), second.newRun()];
    const results = await Promise.all([
      first.pool.claim(runA, fixture.head),
      second.pool.claim(runB, fixture.head),
    ]);
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results[0] ? runA : runB;
    const loser = results[0] ? runB : runA;
    expect(onePod(winner.id).metadata.uid).toBe(uid);
    expect(env.podsLabelled(loser.id)).toEqual([]);

    // Through the backend itself: of two processes adopting the same pod, the guarded patch lets one win.
    await first.pool.refresh(REPO);
    const [next] = first.prepared.list(REPO).filter((p) => p.state === 'ready');
    if (!next) throw new Error('no second prepared row');
    const nextUid = onePod(next.id).metadata.uid;
    const [runC, runD] = [first.newRun(), second.newRun()];
    const adopted = await Promise.all([
      first.sandboxes.adopt(next.id, runC.id),
      second.sandboxes.adopt(next.id, runD.id),
    ]);
    expect(adopted.filter(Boolean)).toHaveLength(1);
    const got = adopted[0] ? runC : runD;
    const missed = adopted[0] ? runD : runC;
    expect(adopted.find(Boolean)?.runId).toBe(got.id);
    expect(onePod(got.id).metadata.uid).toBe(nextUid);
    expect(env.podsLabelled(missed.id)).toEqual([]);
    // The loser left the pod alone: it still serves the winner.
    const sandbox = await (adopted[0] ? first : second).sandboxes.attach(got.id);
    expect((await sandbox?.exec('cat "$HOME/setup-runs"'))?.stdout.toString()).toBe('ran\n');
    expect(kube.pods(NS).filter((p) => p.metadata.uid === nextUid)).toHaveLength(1);
  });

  it('a prepared pod that was deleted or failed is not adopted: the run starts cold', async () => {
    const env = await setup();
    const { kube, fixture, onePod } = env;
    const airlock = env.spawn();
    const prepare = async () => {
      await airlock.pool.refresh(REPO);
      const [row] = airlock.prepared.list(REPO);
      if (!row) throw new Error('no prepared row');
      return { row, name: onePod(row.id).metadata.name as string };
    };
    const gone = (name: string) => () => !kube.pods(NS).some((p) => p.metadata.name === name);
    const fail = async (name: string) => {
      kube.failPod(NS, name, 'Evicted');
      await eventually(
        () => kube.pods(NS).find((p) => p.metadata.name === name)?.status.phase === 'Failed',
        5000,
        'the pod failed',
      );
    };

    // Deleted behind airlock's back (kubectl delete, a node drain).
    const deleted = await prepare();
    await env.kubectl().deletePod(deleted.name);
    await eventually(gone(deleted.name), 5000, 'pod gone');
    const first = airlock.newRun();
    expect(await airlock.pool.claim(first, fixture.head)).toBeUndefined();
    expect(airlock.pool.poolStats()).toMatchObject({ hits: 0, misses: 1 });
    expect(airlock.prepared.list(REPO)).toEqual([]); // the row went with the claim
    expect(env.podsLabelled(first.id)).toEqual([]);

    // Failed (evicted, its deadline): not adopted; the pod, an orphan now, is left to housekeeping.
    const evicted = await prepare();
    await fail(evicted.name);
    const second = airlock.newRun();
    expect(await airlock.pool.claim(second, fixture.head)).toBeUndefined();
    expect(airlock.pool.poolStats()).toMatchObject({ hits: 0, misses: 2 });
    expect(env.podsLabelled(second.id)).toEqual([]);
    await airlock.sandboxes.housekeeping();
    await eventually(gone(evicted.name), 5000, 'the failed orphan reaped');

    // A failed prepared pod can never serve a run: housekeeping removes it though its row is kept.
    const dead = await prepare();
    await fail(dead.name);
    await airlock.sandboxes.housekeeping();
    await eventually(gone(dead.name), 5000, 'the failed prepared pod reaped');
    expect(airlock.prepared.has(dead.row.id)).toBe(true);
    expect(await airlock.pool.claim(airlock.newRun(), fixture.head)).toBeUndefined();
    expect(airlock.pool.poolStats()).toMatchObject({ hits: 0, misses: 3 });
  });

  it('housekeeping that listed a prepared pod just before a run adopted it leaves the run its pod', async () => {
    const env = await setup();
    const { kube, fixture, onePod } = env;
    const reaper = env.spawn();
    const claimer = env.spawn(); // another airlock process (an `airlock run` beside `serve`)
    await claimer.pool.refresh(REPO);
    const [row] = claimer.prepared.list(REPO);
    if (!row) throw new Error('no prepared row');
    const uid = onePod(row.id).metadata.uid;
    const run = claimer.newRun();
    // The reaper's listing shows the pod under the prepared id; by the time it decides, the row is
    // gone (claimed) and the pod is the run's: its delete, guarded by the listed version, misses.
    let claimed: unknown;
    reaper.api.afterNextList = async () => {
      claimed = await claimer.pool.claim(run, fixture.head);
    };
    await reaper.sandboxes.housekeeping();
    expect(claimed).toMatchObject({ preparedId: row.id });
    expect(onePod(run.id).metadata.uid).toBe(uid);
    // The pass is over, its delete (had it hit) with it: no other pass runs here.
    expect(kube.pods(NS).find((p) => p.metadata.uid === uid)?.metadata.deletionTimestamp).toBeUndefined();
    const sandbox = await reaper.sandboxes.attach(run.id);
    expect((await sandbox?.exec('cat "$HOME/setup-runs"'))?.stdout.toString()).toBe('ran\n');
  });
});
