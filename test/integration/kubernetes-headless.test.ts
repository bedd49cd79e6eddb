import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type ScriptStep, startFakeAnthropic } from '../fakes/anthropic-server.js';
import { fixAddScript, lastToolResult } from '../fakes/fix-add-script.js';
import { createBareFixture } from '../fakes/fixture-repo.js';
import { startFakeKubernetes } from '../fakes/kubernetes/index.js';
import { runCli } from '../support/run-cli.js';
import { until } from '../support/until.js';
import { scratchConfig } from '../support/workspace.js';

const KEY = 'sk-ant-k8s-headless-0a1b2c';

/** A cluster, a model following `script`, a bare repository, and the CLI's environment for them. */
async function kubeSetup(cleanups: Array<() => unknown>, script: ScriptStep[], image?: string) {
  const kube = await startFakeKubernetes();
  const model = await startFakeAnthropic({ apiKey: KEY, script });
  const { bare, cleanup } = createBareFixture();
  const sandbox = image ? `    sandbox: { image: ${image} }\n` : '';
  const scratch = scratchConfig(`repos:\n  acme/widgets:\n    url: ${bare}\n    forge: git\n${sandbox}`);
  cleanups.push(
    () => kube.close(),
    () => model.close(),
    cleanup,
    scratch.cleanup,
  );
  const kubeconfig = join(scratch.dir, 'kubeconfig');
  kube.writeKubeconfig(kubeconfig);
  const env = {
    ANTHROPIC_API_KEY: KEY,
    ANTHROPIC_BASE_URL: model.url,
    AIRLOCK_CONFIG: scratch.config,
    AIRLOCK_DATA_DIR: scratch.dataDir,
    AIRLOCK_SANDBOX: 'kubernetes',
    KUBECONFIG: kubeconfig,
  };
  return { kube, model, scratch, env };
}

describe('airlock run (headless, as from CI) on the kubernetes backend', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  const setup = (image?: string) => kubeSetup(cleanups, image ? [] : fixAddScript(), image);

  it('works in a pod of its own and leaves no pod behind', async () => {
    const { kube, model, scratch, env } = await setup();
    const patch = join(scratch.dir, 'fix.diff');
    const result = await runCli(
      ['run', '--repo', 'acme/widgets', '--task', 'Fix add()', '--patch', patch, '--json'],
      env,
    );
    expect(result.stderr).not.toContain('airlock: ');
    expect(JSON.parse(result.stdout)).toMatchObject({ state: 'done', outcome: 'patch' });
    expect(readFileSync(patch, 'utf8')).toContain('+  return a + b;');
    expect(model.problems).toEqual([]);
    // Commands travel down a long-lived exec session, as lines on its stdin.
    expect(kube.execs.some((e) => e.stdin.includes('sh test.sh'))).toBe(true);
    expect(kube.podHistory().some((p) => p.metadata.name.startsWith('airlock-run-'))).toBe(true);
    // Deleted, and gone once the kubelet confirms the short grace period (as on a real cluster).
    await until(() => kube.pods('airlock-sandboxes').length === 0, 'the run pod to be gone');
  });

  it('exits 1 with what to change when the sandbox image cannot be pulled', async () => {
    const { kube, env } = await setup('registry.example/does-not-exist:1');
    const result = await runCli(['run', '--repo', 'acme/widgets', '--task', 'Fix add()'], env);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /The sandbox image registry\.example\/does-not-exist:1 could not be pulled \(ImagePullBackOff.*Check sandbox\.image/,
    );
    expect(result.stderr).not.toMatch(/\n\s+at /); // no stack trace
    await until(() => kube.pods('airlock-sandboxes').length === 0, 'the failed pod to be gone');
  });
});

describe('airlock ask on the kubernetes backend', () => {
  const cleanups: Array<() => unknown> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  it("the agent's commands run where the workspace is mounted read-only; airlock's own work in the loader", async () => {
    const seen: string[] = [];
    const { kube, env } = await kubeSetup(cleanups, [
      {
        content: [
          {
            type: 'tool_use',
            name: 'bash',
            input: { command: 'echo pwned >> src/add.js; cat src/add.js' },
          },
        ],
      },
      (body) => {
        seen.push(lastToolResult(body as never));
        return { content: [{ type: 'text', text: 'It subtracts: src/add.js:2.' }] };
      },
    ]);
    const result = await runCli(['ask', '--repo', 'acme/widgets', 'what does add do?'], env);
    expect(result.stderr).not.toContain('airlock: ');
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe('It subtracts: src/add.js:2.');
    expect(seen[0]).toContain('Read-only file system');
    expect(seen[0]).not.toContain('pwned');
    const pod = kube.podHistory().find((p) => p.metadata.name.startsWith('airlock-run-'));
    const containers = (pod?.spec.containers ?? []) as Array<{
      name: string;
      volumeMounts: Array<{ name: string; readOnly?: boolean }>;
    }>;
    expect(containers.map((c) => c.name)).toEqual(['sandbox', 'loader']);
    expect(containers[0]?.volumeMounts.find((m) => m.name === 'workspace')?.readOnly).toBe(true);
    expect(containers[1]?.volumeMounts.find((m) => m.name === 'workspace')?.readOnly).toBeUndefined();
    // The agent's command went to the read-only container, the snapshot to the loader.
    expect(kube.execs.some((e) => e.container === 'sandbox' && e.stdin.includes('echo pwned'))).toBe(true);
    expect(kube.execs.some((e) => e.container === 'loader' && e.stdin.includes('echo pwned'))).toBe(false);
    expect(kube.execs.some((e) => e.container === 'loader')).toBe(true);
    await until(() => kube.pods('airlock-sandboxes').length === 0, 'the pod to be gone');
  });
});
