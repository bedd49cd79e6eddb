import { describe, expect, it } from 'vitest';
import { networkFor, parsePolicy } from '../../src/config/policy.js';
import { forbiddenAddress } from '../../src/egress/special-addresses.js';
import { AirlockError } from '../../src/errors.js';
import { type HostRule, hostRules, matchRule, parseHostRule, ruleFor } from '../../src/shared/host-rule.js';

/** The rule `text` parses to; fails the test with the parser's sentence if it does not parse. */
function rule(text: string): HostRule {
  const parsed = parseHostRule(text);
  if (typeof parsed === 'string') throw new Error(`expected ${text} to parse, got: ${parsed}`);
  return parsed;
}

/** The parser's sentence for `text`; fails the test if it parses. */
function problem(text: string): string {
  const parsed = parseHostRule(text);
  if (typeof parsed !== 'string')
    throw new Error(`expected ${text} to be refused, got ${JSON.stringify(parsed)}`);
  return parsed;
}

/** The text of the rule among `texts` that lets host:port through, or undefined. */
function allowedBy(texts: string[], host: string, port: number): string | undefined {
  return matchRule(hostRules(texts), host, port)?.text;
}

describe('parseHostRule', () => {
  it('reads a host, a wildcard domain and IP literals, each with an optional port', () => {
    expect(rule('registry.npmjs.org')).toEqual({
      text: 'registry.npmjs.org',
      host: 'registry.npmjs.org',
      wildcard: false,
      ip: false,
      port: undefined,
    });
    expect(rule('mirror.internal:8081')).toMatchObject({ host: 'mirror.internal', port: 8081, ip: false });
    expect(rule('*.pythonhosted.org')).toMatchObject({ host: 'pythonhosted.org', wildcard: true });
    expect(rule('*.corp.example:4873')).toMatchObject({ host: 'corp.example', wildcard: true, port: 4873 });
    expect(rule('10.1.2.3')).toMatchObject({ host: '10.1.2.3', ip: true, port: undefined });
    expect(rule('10.1.2.3:8080')).toMatchObject({ host: '10.1.2.3', ip: true, port: 8080 });
    expect(rule('2001:db8::7')).toMatchObject({ host: '2001:db8::7', ip: true, port: undefined });
    expect(rule('[2001:db8::7]')).toMatchObject({ host: '2001:db8::7', ip: true, port: undefined });
    expect(rule('[::1]:4873')).toMatchObject({ host: '::1', ip: true, port: 4873 });
  });

  it('lower-cases the host, drops a trailing dot, and keeps the text as written for messages', () => {
    expect(rule('  Registry.NPMJS.org. ')).toMatchObject({
      text: '  Registry.NPMJS.org. ',
      host: 'registry.npmjs.org',
    });
    expect(rule('*.Example.COM.')).toMatchObject({ host: 'example.com', wildcard: true });
    expect(rule('[2001:DB8::7]:443')).toMatchObject({ host: '2001:db8::7', port: 443 });
  });

  it('refuses each malformed entry with a sentence naming it and what is wrong', () => {
    expect(problem('')).toBe('expected a host such as registry.npmjs.org');
    expect(problem('   ')).toBe('expected a host such as registry.npmjs.org');
    expect(problem('https://registry.npmjs.org')).toBe(
      '"https://registry.npmjs.org": write the host only, without a scheme',
    );
    expect(problem('registry.npmjs.org/pkg')).toBe(
      '"registry.npmjs.org/pkg": write the host only, without a path',
    );
    expect(problem('mirror.internal:http')).toBe('"mirror.internal:http": the port must be a number');
    expect(problem('mirror.internal:')).toBe('"mirror.internal:": the port must be a number');
    expect(problem('mirror.internal:0')).toBe('"mirror.internal:0": port 0 is out of range');
    expect(problem('mirror.internal:65536')).toBe('"mirror.internal:65536": port 65536 is out of range');
    expect(problem('[::1]:70000')).toBe('"[::1]:70000": port 70000 is out of range');
    expect(problem('[not-v6]:443')).toBe('"[not-v6]:443": [not-v6] is not an IPv6 address');
    expect(problem('[10.0.0.1]:443')).toBe('"[10.0.0.1]:443": [10.0.0.1] is not an IPv6 address');
    for (const text of ['a.*.example.com', '*', '*.*.example.com', 'registry*.npmjs.org']) {
      expect(problem(text)).toBe(`"${text}": only a leading *. is allowed, as in *.example.com`);
    }
    for (const text of ['-bad.example.com', 'bad-.example.com', 'two..dots.com', 'spa ce.com', 'ü.example']) {
      expect(problem(text)).toBe(`"${text}": not a host name`);
    }
    expect(problem(`${'a'.repeat(64)}.example.com`)).toMatch(/: not a host name$/);
    expect(problem('*.com')).toBe('"*.com": *. needs a domain of two labels or more');
    expect(problem('*.com:8080')).toBe('"*.com:8080": *. needs a domain of two labels or more');
  });

  it('hostRules throws the same sentence for a rule the policy should have refused', () => {
    expect(() => hostRules(['ok.example.com', 'http://bad.example.com'])).toThrow(
      '"http://bad.example.com": write the host only, without a scheme',
    );
  });
});

describe('matchRule', () => {
  it('matches a host exactly, whatever the case and a trailing dot of the request', () => {
    const rules = ['registry.npmjs.org'];
    expect(allowedBy(rules, 'registry.npmjs.org', 443)).toBe('registry.npmjs.org');
    expect(allowedBy(rules, 'REGISTRY.npmjs.ORG', 443)).toBe('registry.npmjs.org');
    expect(allowedBy(rules, 'registry.npmjs.org.', 443)).toBe('registry.npmjs.org');
    expect(allowedBy(rules, 'evil-registry.npmjs.org', 443)).toBeUndefined();
    expect(allowedBy(rules, 'npmjs.org', 443)).toBeUndefined();
    expect(allowedBy(rules, 'x.registry.npmjs.org', 443)).toBeUndefined();
    expect(allowedBy(rules, 'registry.npmjs.org.evil.com', 443)).toBeUndefined();
  });

  it('lets a wildcard match subdomains at any depth but not the domain itself', () => {
    const rules = ['*.pythonhosted.org'];
    expect(allowedBy(rules, 'files.pythonhosted.org', 443)).toBe('*.pythonhosted.org');
    expect(allowedBy(rules, 'a.b.Pythonhosted.org.', 443)).toBe('*.pythonhosted.org');
    expect(allowedBy(rules, 'pythonhosted.org', 443)).toBeUndefined();
    expect(allowedBy(rules, 'evilpythonhosted.org', 443)).toBeUndefined();
    expect(allowedBy(rules, 'pythonhosted.org.evil.com', 443)).toBeUndefined();
  });

  it('allows only 443 and 80 without a port, and only the named port with one', () => {
    expect(allowedBy(['example.com'], 'example.com', 443)).toBe('example.com');
    expect(allowedBy(['example.com'], 'example.com', 80)).toBe('example.com');
    for (const port of [22, 8080, 8443, 4873])
      expect(allowedBy(['example.com'], 'example.com', port)).toBeUndefined();
    expect(allowedBy(['example.com:8080'], 'example.com', 8080)).toBe('example.com:8080');
    expect(allowedBy(['example.com:8080'], 'example.com', 443)).toBeUndefined();
    expect(allowedBy(['example.com:8080'], 'example.com', 80)).toBeUndefined();
    expect(allowedBy(['*.example.com:4873'], 'npm.example.com', 4873)).toBe('*.example.com:4873');
    expect(allowedBy(['*.example.com:4873'], 'npm.example.com', 443)).toBeUndefined();
  });

  it('matches IP literals by address, an IPv6 one however it is spelled', () => {
    expect(allowedBy(['10.1.2.3'], '10.1.2.3', 443)).toBe('10.1.2.3');
    expect(allowedBy(['10.1.2.3'], '10.1.2.4', 443)).toBeUndefined();
    expect(allowedBy(['10.1.2.3:8080'], '10.1.2.3', 8080)).toBe('10.1.2.3:8080');
    expect(allowedBy(['10.1.2.3:8080'], '10.1.2.3', 443)).toBeUndefined();
    expect(allowedBy(['[::1]:4873'], '::1', 4873)).toBe('[::1]:4873');
    expect(allowedBy(['[::1]:4873'], '[::1]', 4873)).toBe('[::1]:4873');
    expect(allowedBy(['[::1]:4873'], '0:0:0:0:0:0:0:1', 4873)).toBe('[::1]:4873');
    expect(allowedBy(['[0:0:0:0:0:0:0:1]:4873'], '::1', 4873)).toBe('[0:0:0:0:0:0:0:1]:4873');
    expect(allowedBy(['2001:db8::7'], '2001:0DB8:0:0:0:0:0:7', 443)).toBe('2001:db8::7');
    expect(allowedBy(['[::1]:4873'], '::2', 4873)).toBeUndefined();
    expect(allowedBy(['[::1]:4873'], '::1', 4874)).toBeUndefined();
  });

  it('never matches a name against an IP rule, nor an IP against a name rule', () => {
    expect(allowedBy(['127.0.0.1:4873'], 'localhost', 4873)).toBeUndefined();
    expect(allowedBy(['[::1]:4873'], 'localhost', 4873)).toBeUndefined();
    expect(allowedBy(['localhost:4873'], '127.0.0.1', 4873)).toBeUndefined();
    expect(allowedBy(['localhost:4873'], '::1', 4873)).toBeUndefined();
    expect(allowedBy(['*.example.com'], '93.184.216.34', 443)).toBeUndefined();
  });

  it('returns the first rule that allows the target, and nothing for no rules', () => {
    expect(allowedBy(['a.example.com', '*.example.com'], 'a.example.com', 443)).toBe('a.example.com');
    expect(allowedBy(['*.example.com', 'a.example.com'], 'a.example.com', 443)).toBe('*.example.com');
    expect(allowedBy([], 'a.example.com', 443)).toBeUndefined();
  });
});

describe('ruleFor', () => {
  it('writes the policy line that would allow a target, with the port only when it is not 443 or 80', () => {
    expect(ruleFor('registry.npmjs.org', 443)).toBe('registry.npmjs.org');
    expect(ruleFor('Registry.NPMJS.org.', 80)).toBe('registry.npmjs.org');
    expect(ruleFor('mirror.internal', 8081)).toBe('mirror.internal:8081');
    expect(ruleFor('10.1.2.3', 443)).toBe('10.1.2.3');
    expect(ruleFor('10.1.2.3', 8080)).toBe('10.1.2.3:8080');
    expect(ruleFor('::1', 443)).toBe('[::1]');
    expect(ruleFor('[::1]', 4873)).toBe('[::1]:4873');
  });

  it('writes a line that parses back to a rule allowing that very target', () => {
    for (const [host, port] of [
      ['registry.npmjs.org', 443],
      ['mirror.internal', 8081],
      ['10.1.2.3', 80],
      ['2001:db8::7', 8443],
    ] as const) {
      expect(allowedBy([ruleFor(host, port)], host, port)).toBe(ruleFor(host, port));
    }
  });
});

describe('forbiddenAddress', () => {
  it('forbids loopback, unspecified and link-local addresses (cloud metadata) in any spelling', () => {
    for (const address of [
      '127.0.0.1',
      '127.1.2.3',
      '0.0.0.0',
      '169.254.169.254',
      '::1',
      '0:0:0:0:0:0:0:1',
      '::',
      'fe80::1',
      'FEBF::abcd',
      '::ffff:127.0.0.1',
      '::ffff:7f00:1',
      '::ffff:169.254.169.254',
    ]) {
      expect(forbiddenAddress(address), address).toBe(true);
    }
  });

  it('lets ordinary and private addresses through, the policy decides on those', () => {
    for (const address of [
      '10.0.0.1',
      '192.168.1.10',
      '172.16.0.1',
      '93.184.216.34',
      '2001:db8::1',
      '::ffff:10.0.0.1',
      'fec0::1',
    ]) {
      expect(forbiddenAddress(address), address).toBe(false);
    }
  });

  it('forbids anything that is not an address at all', () => {
    expect(forbiddenAddress('localhost')).toBe(true);
    expect(forbiddenAddress('')).toBe(true);
  });
});

describe('the policy file: network', () => {
  const repos = 'repos:\n  acme/widgets: {}\n  acme/gadgets: {}\n';

  function policyError(text: string): string {
    try {
      parsePolicy(text);
    } catch (error) {
      if (error instanceof AirlockError) return error.message;
      throw error;
    }
    throw new Error('expected the policy to be refused');
  }

  it('refuses a bad entry, naming its key and what is wrong', () => {
    expect(policyError(`${repos}network:\n  setup: [registry.npmjs.org, "https://pypi.org/simple"]\n`)).toBe(
      'airlock.yaml is invalid:\n  network.setup.1: "https://pypi.org/simple": write the host only, without a scheme',
    );
    expect(policyError('repos:\n  acme/widgets:\n    network:\n      agent: ["*.com"]\n')).toBe(
      'airlock.yaml is invalid:\n  repos.acme/widgets.network.agent.0: "*.com": *. needs a domain of two labels or more',
    );
    expect(policyError(`${repos}network:\n  build: [example.com]\n`)).toBe(
      'airlock.yaml is invalid:\n  network: unknown key "build"',
    );
  });

  it('gives no host by default, and a repository list replaces the top-level one phase by phase', () => {
    expect(networkFor(parsePolicy(repos), 'acme/widgets', 'setup')).toEqual([]);
    expect(networkFor(parsePolicy(repos), 'acme/widgets', 'agent')).toEqual([]);
    const policy = parsePolicy(`
repos:
  acme/widgets:
    network:
      setup: [mirror.internal:8081]
      agent: []
  acme/gadgets: {}
network:
  setup: [registry.npmjs.org, "*.pythonhosted.org"]
  agent: [api.github.com]
`);
    expect(networkFor(policy, 'acme/widgets', 'setup')).toEqual(['mirror.internal:8081']);
    expect(networkFor(policy, 'acme/widgets', 'agent')).toEqual([]);
    expect(networkFor(policy, 'acme/gadgets', 'setup')).toEqual(['registry.npmjs.org', '*.pythonhosted.org']);
    expect(networkFor(policy, 'acme/gadgets', 'agent')).toEqual(['api.github.com']);
    const onlySetup = parsePolicy(`
repos:
  acme/widgets:
    network:
      setup: [mirror.internal:8081]
network:
  agent: [api.github.com]
`);
    expect(networkFor(onlySetup, 'acme/widgets', 'agent')).toEqual(['api.github.com']);
  });
});
