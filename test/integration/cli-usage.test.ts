import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../support/run-cli.js';
import { scratchConfig } from '../support/workspace.js';

describe('the command line', () => {
  const cleanups: Array<() => void> = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });
  function env(yaml: string) {
    const s = scratchConfig(yaml);
    cleanups.push(s.cleanup);
    return { AIRLOCK_CONFIG: s.config, AIRLOCK_DATA_DIR: s.dataDir };
  }

  it('--help lists every command', async () => {
    const r = await runCli(['--help'], {});
    expect(r.code).toBe(0);
    for (const c of ['run', 'runs', 'show', 'audit', 'doctor'])
      expect(r.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
  });

  it('an unknown repository exits 2 and lists the configured ones', async () => {
    const r = await runCli(
      ['run', '--repo', 'acme/nope', '--task', 'x'],
      env('repos:\n  acme/widgets: {}\n  acme/gadgets: {}\n'),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'airlock: Repository acme/nope is not configured. Configured: acme/widgets, acme/gadgets.\n',
    );
  });

  it('a bad policy file exits 2 naming the key, with no stack trace', async () => {
    const r = await runCli(['runs'], env('repos:\n  acme/widgets:\n    headless_push: maybe\n'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('repos.acme/widgets.headless_push');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a missing policy file exits 2 and says how to fix it', async () => {
    const r = await runCli(['runs'], {
      AIRLOCK_CONFIG: '/nonexistent/airlock.yaml',
      AIRLOCK_DATA_DIR: '/tmp/airlock-nope',
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Cannot read the policy file /nonexistent/airlock.yaml');
  });

  it('an unknown option is bad usage (exit 2)', async () => {
    const r = await runCli(['run', '--frobnicate'], env('repos:\n  acme/widgets: {}\n'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown option '--frobnicate'");
  });

  it('--push without --yes needs a terminal', async () => {
    const r = await runCli(
      ['run', '--repo', 'acme/widgets', '--task', 'x', '--push'],
      env('repos:\n  acme/widgets: {}\n'),
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('needs a terminal');
  });

  it('`airlock runs` on a fresh data directory says how to start', async () => {
    const r = await runCli(['runs'], env('repos:\n  acme/widgets: {}\n'));
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('No runs yet');
  });

  it('`airlock show` of an unknown run is bad usage: exit 2 with a hint', async () => {
    const r = await runCli(['show', 'nope'], env('repos:\n  acme/widgets: {}\n'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('No run nope. List runs with `airlock runs`.');
  });
});
