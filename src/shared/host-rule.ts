import { isIP } from 'node:net';

/**
 * One entry of `network.setup` / `network.agent`: `host`, `*.domain`, an IP literal (IPv6 in
 * brackets when it has a port), each with an optional `:port`. Without a port a rule allows the
 * web's ports, 443 and 80: a registry on another port names it (`mirror.internal:8081`).
 */
export interface HostRule {
  /** As written in the policy, for messages and the audit log. */
  text: string;
  /** Lower-case host, or the domain after `*.` when `wildcard`. */
  host: string;
  wildcard: boolean;
  /** An IP literal: matches only a request that names that address. */
  ip: boolean;
  port?: number;
}

export const DEFAULT_PORTS: readonly number[] = [443, 80];

const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;

/** The rule, or a sentence saying what is wrong with it (for the policy's error message). */
export function parseHostRule(text: string): HostRule | string {
  const raw = text.trim().toLowerCase();
  if (raw === '') return 'expected a host such as registry.npmjs.org';
  if (/^[a-z][a-z0-9+.-]*:\/\//.test(raw)) return `"${text}": write the host only, without a scheme`;
  if (raw.includes('/')) return `"${text}": write the host only, without a path`;
  let host = raw;
  let port: number | undefined;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(raw);
  if (bracketed) {
    host = bracketed[1] ?? '';
    if (isIP(host) !== 6) return `"${text}": [${host}] is not an IPv6 address`;
    if (bracketed[2] !== undefined) port = Number(bracketed[2]);
  } else if (isIP(raw) === 6) {
    host = raw;
  } else {
    const at = raw.lastIndexOf(':');
    if (at >= 0) {
      const digits = raw.slice(at + 1);
      if (!/^\d+$/.test(digits)) return `"${text}": the port must be a number`;
      host = raw.slice(0, at);
      port = Number(digits);
    }
  }
  if (port !== undefined && (port < 1 || port > 65535)) return `"${text}": port ${port} is out of range`;
  if (isIP(host)) return { text, host, wildcard: false, ip: true, port };
  const wildcard = host.startsWith('*.');
  const name = (wildcard ? host.slice(2) : host).replace(/\.$/, '');
  if (name.includes('*')) return `"${text}": only a leading *. is allowed, as in *.example.com`;
  const labels = name.split('.');
  if (labels.some((label) => !LABEL.test(label))) return `"${text}": not a host name`;
  if (wildcard && labels.length < 2) return `"${text}": *. needs a domain of two labels or more`;
  return { text, host: name, wildcard, ip: false, port };
}

/** Parses rules the policy has already validated. */
export function hostRules(texts: readonly string[]): HostRule[] {
  return texts.map((text) => {
    const rule = parseHostRule(text);
    if (typeof rule === 'string') throw new Error(rule);
    return rule;
  });
}

/** `host` as a request names it (lower-case, no brackets, no trailing dot). */
export function normaliseHost(host: string): string {
  return host
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1')
    .replace(/\.$/, '');
}

/** The first rule that lets `host:port` through, if any. */
export function matchRule(rules: readonly HostRule[], host: string, port: number): HostRule | undefined {
  const name = normaliseHost(host);
  const literal = isIP(name) !== 0;
  return rules.find((rule) => {
    if (rule.port !== undefined ? rule.port !== port : !DEFAULT_PORTS.includes(port)) return false;
    if (rule.ip || literal) return rule.ip && literal && sameAddress(rule.host, name);
    return rule.wildcard ? name.endsWith(`.${rule.host}`) : name === rule.host;
  });
}

function sameAddress(a: string, b: string): boolean {
  return a === b || (isIP(a) === 6 && isIP(b) === 6 && expand6(a) === expand6(b));
}

/** A canonical spelling of an IPv6 address, so ::1 and 0:0:0:0:0:0:0:1 compare equal. */
function expand6(address: string): string {
  const [head = '', tail = ''] = address.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const zeros = address.includes('::') ? 8 - left.length - right.length : 0;
  return [...left, ...Array(zeros).fill('0'), ...right].map((g) => g.padStart(4, '0')).join(':');
}

/** How a refused target would be allowed, as a policy line an operator can paste. */
export function ruleFor(host: string, port: number): string {
  const name = normaliseHost(host);
  const shown = isIP(name) === 6 ? `[${name}]` : name;
  return DEFAULT_PORTS.includes(port) ? shown : `${shown}:${port}`;
}
