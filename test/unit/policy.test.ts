import { describe, expect, it } from 'vitest';
import { readEnv } from '../../src/config/env.js';
import { limitsFor, parsePolicy, repoPolicy } from '../../src/config/policy.js';
import { AirlockError } from '../../src/errors.js';

function error(fn: () => unknown): AirlockError {
  try {
    fn();
  } catch (e) {
    if (e instanceof AirlockError) return e;
    throw e;
  }
  throw new Error('expected an AirlockError');
}

describe('the policy file', () => {
  it('fills every budget with a default when only repos are given', () => {
    const policy = parsePolicy('repos:\n  acme/widgets: {}\n');
    expect(policy.limits).toEqual({
      concurrent_runs: 20,
      concurrent_provisioning: 8,
      max_steps: 60,
      ask_max_steps: 20,
      max_minutes: 30,
      max_cost_usd: 5,
      max_tokens: 5_000_000,
      command_timeout_seconds: 600,
    });
    expect(repoPolicy(policy, 'acme/widgets')).toMatchObject({
      base: 'main',
      four_eyes: true,
      headless_push: false,
      approvers: [],
    });
  });

  it('accepts the shape DESIGN.md §7 documents', () => {
    const policy = parsePolicy(`
repos:
  acme/widgets:
    url: https://github.example.com/acme/widgets.git
    base: main
    requesters: [S01ENGINEERS]
    approvers: [U01ABCDEF, S01GROUPID]
    four_eyes: true
    headless_push: false
    setup: npm ci
    sandbox: { image: ghcr.io/acme/dev:latest, cpu: "2", memory: 4Gi }
channels:
  C01CHANNEL: { repo: acme/widgets }
jira:
  projects: { WID: acme/widgets }
  on_pr: { comment: true, transition: In Review }
limits: { concurrent_runs: 20, max_steps: 60, max_minutes: 30, max_cost_usd: 5 }
`);
    expect(policy.channels.C01CHANNEL?.repo).toBe('acme/widgets');
    expect(policy.jira?.on_pr.transition).toBe('In Review');
    expect(repoPolicy(policy, 'acme/widgets').approval_ttl).toBe(24 * 3600 * 1000);
  });

  it('names the bad key and the allowed values', () => {
    const e = error(() =>
      parsePolicy('repos:\n  acme/widgets:\n    four_eyes: "sometimes"\n', 'airlock.yaml'),
    );
    expect(e.code).toBe('config_invalid');
    expect(e.message).toContain('repos.acme/widgets.four_eyes');
    expect(e.message).toMatch(/boolean/);

    const forge = error(() => parsePolicy('repos:\n  acme/widgets:\n    forge: bitbucket\n'));
    expect(forge.message).toContain('repos.acme/widgets.forge');
    expect(forge.message).toMatch(/"github"\|"git"|github.*git/);
  });

  it('names unknown keys instead of ignoring a typo', () => {
    const e = error(() => parsePolicy('repos:\n  acme/widgets:\n    aprovers: [U1]\n'));
    expect(e.message).toContain('repos.acme/widgets');
    expect(e.message).toContain('"aprovers"');
  });

  it('refuses a channel or Jira project that points at an unlisted repository', () => {
    const e = error(() =>
      parsePolicy('repos:\n  acme/widgets: {}\nchannels:\n  C1: { repo: acme/gadgets }\n'),
    );
    expect(e.message).toContain('channels.C1.repo');
    expect(e.message).toContain('acme/gadgets is not under repos');
  });

  it('says where broken YAML is', () => {
    const e = error(() => parsePolicy('repos: [unclosed\n', 'x.yaml'));
    expect(e.message).toMatch(/^x\.yaml is not valid YAML/);
  });

  it('lists the configured repositories when asked for an unknown one', () => {
    const policy = parsePolicy('repos:\n  acme/widgets: {}\n  acme/gadgets: {}\n');
    const e = error(() => repoPolicy(policy, 'acme/nope'));
    expect(e.code).toBe('repo_unknown');
    expect(e.message).toContain('acme/widgets, acme/gadgets');
  });

  it('lets a repository tighten a limit while keeping the rest', () => {
    const policy = parsePolicy(
      'repos:\n  acme/widgets:\n    limits: { max_steps: 5 }\nlimits: { max_cost_usd: 2 }\n',
    );
    expect(limitsFor(policy, 'acme/widgets')).toMatchObject({
      max_steps: 5,
      max_cost_usd: 2,
      max_minutes: 30,
    });
  });

  it('parses durations such as approval_ttl: 2h and rejects nonsense', () => {
    expect(repoPolicy(parsePolicy('repos:\n  a/b: { approval_ttl: 2h }\n'), 'a/b').approval_ttl).toBe(
      7_200_000,
    );
    expect(error(() => parsePolicy('repos:\n  a/b: { approval_ttl: soon }\n')).message).toContain(
      'approval_ttl',
    );
  });
});

describe('the environment', () => {
  it('applies the documented defaults', () => {
    const env = readEnv({});
    expect(env).toMatchObject({
      AIRLOCK_CONFIG: './airlock.yaml',
      AIRLOCK_DATA_DIR: './.airlock',
      AIRLOCK_SANDBOX: 'local',
      AIRLOCK_HTTP_PORT: 8080,
      AIRLOCK_PROVIDER: 'anthropic',
      GITHUB_API_URL: 'https://api.github.com',
    });
  });

  it('names the variable that is wrong', () => {
    const e = error(() => readEnv({ AIRLOCK_SANDBOX: 'docker' }));
    expect(e.code).toBe('config_invalid');
    expect(e.message).toContain('AIRLOCK_SANDBOX');
    expect(error(() => readEnv({ AIRLOCK_HTTP_PORT: 'eighty' })).message).toContain('AIRLOCK_HTTP_PORT');
  });

  it('treats empty variables as unset', () => {
    expect(readEnv({ AIRLOCK_PROVIDER: '' }).AIRLOCK_PROVIDER).toBe('anthropic');
  });
});

describe('the model timeouts', () => {
  it('default to 120 s without a byte and 900 s per model call, also when model names only a model', () => {
    const defaults = { idle_timeout_seconds: 120, request_timeout_seconds: 900 };
    expect(parsePolicy('repos:\n  a/b: {}\n').model).toMatchObject(defaults);
    expect(parsePolicy('repos:\n  a/b: {}\nmodel: { name: claude-opus-5-5 }\n').model).toMatchObject(
      defaults,
    );
  });

  it('take the values DESIGN.md §7 shows, fractions included', () => {
    const policy = parsePolicy(
      'repos:\n  a/b: {}\nmodel: { idle_timeout_seconds: 0.5, request_timeout_seconds: 600 }\n',
    );
    expect(policy.model).toMatchObject({ idle_timeout_seconds: 0.5, request_timeout_seconds: 600 });
  });

  it('refuse a timeout that is not positive or longer than a day, naming the key', () => {
    for (const [key, value] of [
      ['idle_timeout_seconds', '0'],
      ['idle_timeout_seconds', '-5'],
      ['request_timeout_seconds', '"15m"'],
      ['request_timeout_seconds', '9999999'],
    ]) {
      const e = error(() => parsePolicy(`repos:\n  a/b: {}\nmodel: { ${key}: ${value} }\n`));
      expect(e.code).toBe('config_invalid');
      expect(e.message).toContain(`model.${key}`);
    }
  });
});
