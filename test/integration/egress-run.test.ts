import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeAnthropic, startFakeAnthropic } from '../fakes/anthropic-server.js';
import { createBareFixture, FIXTURE_FILES } from '../fakes/fixture-repo.js';
import { runCli } from '../support/run-cli.js';
import { scratchConfig } from '../support/workspace.js';

const KEY = 'sk-ant-egress-run-key-7d21';

interface AuditRow {
  type: string;
  data: Record<string, unknown>;
}

/**
 * Network by phase through airlock's egress gateway (issue 11): setup reaches what network.setup
 * names, the agent is refused it unless network.agent allows it, and every connection is audited.
 */
describe('egress by phase in a headless run', () => {
  let fake: FakeAnthropic | undefined;
  let registry: Server | undefined;
  const cleanups: Array<() => void> = [];
  afterEach(async () => {
    await fake?.close();
    await new Promise((r) => registry?.close(r));
    for (const c of cleanups.splice(0)) c();
  });

  /** A "package registry" on 127.0.0.2 (NO_PROXY covers 127.0.0.1, so the proxy is used). */
  async function startRegistry(): Promise<number> {
    registry = createServer((req, res) => res.end(`package-from-${req.url}`));
    await new Promise<void>((r) => registry?.listen(0, '127.0.0.2', r));
    const address = registry.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  async function run(network: string, agentCommand: string) {
    const port = await startRegistry();
    const { bare, cleanup } = createBareFixture(FIXTURE_FILES);
    cleanups.push(cleanup);
    const setup = `curl -sS -f http://127.0.0.2:${port}/left-pad -o "$TMPDIR/pkg" && echo "setup got $(cat "$TMPDIR/pkg")"`;
    const scratch = scratchConfig(
      `repos:\n  acme/widgets:\n    url: ${bare}\n    forge: git\n    setup: '${setup}'\n${network.replaceAll('PORT', String(port))}`,
    );
    cleanups.push(scratch.cleanup);
    fake = await startFakeAnthropic({
      apiKey: KEY,
      script: [
        {
          content: [
            {
              type: 'tool_use',
              name: 'bash',
              input: { command: agentCommand.replaceAll('PORT', String(port)) },
            },
          ],
        },
        { content: [{ type: 'text', text: 'Tried the registry.' }] },
      ],
    });
    const env = {
      ANTHROPIC_API_KEY: KEY,
      ANTHROPIC_BASE_URL: fake.url,
      AIRLOCK_CONFIG: scratch.config,
      AIRLOCK_DATA_DIR: scratch.dataDir,
    };
    const r = await runCli(['run', '--repo', 'acme/widgets', '--task', 'Fetch a package', '--json'], env);
    const result = JSON.parse(r.stdout);
    const show = JSON.parse((await runCli(['show', result.run_id, '--json'], env)).stdout) as {
      events: AuditRow[];
      tool_calls: Array<{ name: string; output: string; exitCode: number | null }>;
    };
    return { r, result, show, port, env };
  }

  it('setup fetches through the gateway; the agent is refused the same host; both are audited', async () => {
    const { r, result, show, port, env } = await run(
      '    network:\n      setup: ["127.0.0.2:PORT"]\n',
      'curl -sS http://127.0.0.2:PORT/left-pad; echo " exit=$?"',
    );
    expect(r.code, r.stderr).toBe(0);
    const setup = show.tool_calls.find((c) => c.name === 'setup');
    expect(setup?.exitCode).toBe(0);
    expect(setup?.output).toContain('setup got package-from-/left-pad');
    const agentCall = show.tool_calls.find((c) => c.name === 'bash');
    expect(agentCall?.output).toContain(`airlock egress gateway refused 127.0.0.2:${port}`);
    expect(agentCall?.output).toContain('network.agent');
    expect(agentCall?.output).not.toContain('package-from');

    const egress = show.events.filter((e) => e.type.startsWith('egress.'));
    expect(egress).toEqual([
      expect.objectContaining({
        type: 'egress.allowed',
        data: expect.objectContaining({ host: '127.0.0.2', port, phase: 'setup', method: 'GET' }),
      }),
      expect.objectContaining({
        type: 'egress.refused',
        data: expect.objectContaining({ host: '127.0.0.2', port, phase: 'agent', bytes_sent: 0 }),
      }),
    ]);
    expect(Number(egress[0]?.data.bytes_received)).toBeGreaterThan(0);

    // A headless run names what it was refused, and the policy line that would allow it.
    expect(result.egress_refused).toEqual([
      { phase: 'agent', target: `127.0.0.2:${port}`, rule: `127.0.0.2:${port}` },
    ]);
    expect(result.egress_policy).toEqual([`repos.acme/widgets.network.agent: [127.0.0.2:${port}]`]);
    expect(r.stderr).toContain(`the egress gateway refused: 127.0.0.2:${port} (agent)`);
    const human = await runCli(['show', result.run_id], env);
    expect(human.stdout).toContain(
      `egress: reached 127.0.0.2:${port} (setup); refused 127.0.0.2:${port} (agent)`,
    );
  });

  it('network.agent lets the agent through; the top-level list applies where a repository sets none', async () => {
    const { r, result, show } = await run(
      'network:\n  setup: ["127.0.0.2:PORT"]\n  agent: ["127.0.0.2:PORT"]\n',
      'curl -sS -f http://127.0.0.2:PORT/is-odd',
    );
    expect(r.code, r.stderr).toBe(0);
    expect(show.tool_calls.find((c) => c.name === 'bash')?.output).toContain('package-from-/is-odd');
    expect(result.egress_refused).toEqual([]);
    const phases = show.events.filter((e) => e.type === 'egress.allowed').map((e) => e.data.phase);
    expect(phases).toEqual(['setup', 'agent']);
  });

  it('without network.setup, setup is refused and the run says which line would allow it', async () => {
    const { result, show, port } = await run('', 'true');
    const setup = show.tool_calls.find((c) => c.name === 'setup');
    expect(setup?.exitCode).not.toBe(0);
    expect(result.egress_refused).toEqual([
      { phase: 'setup', target: `127.0.0.2:${port}`, rule: `127.0.0.2:${port}` },
    ]);
    expect(result.egress_policy).toEqual([`repos.acme/widgets.network.setup: [127.0.0.2:${port}]`]);
  });
});
