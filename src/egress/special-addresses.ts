import { BlockList, isIP } from 'node:net';

/**
 * Addresses a host *name* must not lead to, whatever the policy allows by name: airlock's own
 * host (loopback), cloud metadata and other link-local services, and the unspecified address.
 * A rule that names such an address itself (127.0.0.1:4873, say) still reaches it.
 */
const FORBIDDEN = new BlockList();
FORBIDDEN.addSubnet('127.0.0.0', 8, 'ipv4');
FORBIDDEN.addSubnet('0.0.0.0', 8, 'ipv4');
FORBIDDEN.addSubnet('169.254.0.0', 16, 'ipv4');
FORBIDDEN.addAddress('::1', 'ipv6');
FORBIDDEN.addAddress('::', 'ipv6');
FORBIDDEN.addSubnet('fe80::', 10, 'ipv6');

/**
 * True for those addresses however they are spelled (0:0:0:0:0:0:0:1, ::ffff:7f00:1 — an IPv4
 * address mapped into IPv6 is judged as the IPv4 one), and for anything that is not an address.
 */
export function forbiddenAddress(address: string): boolean {
  const kind = isIP(address);
  if (kind === 0) return true;
  return FORBIDDEN.check(address, kind === 4 ? 'ipv4' : 'ipv6');
}
