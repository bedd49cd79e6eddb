import { isIP } from 'node:net';

/**
 * Addresses a host *name* must not lead to, whatever the policy allows by name: airlock's own
 * host (loopback), cloud metadata and other link-local services, and the unspecified address.
 * A rule that names such an address itself (127.0.0.1:4873, say) still reaches it.
 */
export function forbiddenAddress(address: string): boolean {
  const kind = isIP(address);
  if (kind === 4) {
    const [a = 0, b = 0] = address.split('.').map(Number);
    return a === 127 || a === 0 || (a === 169 && b === 254);
  }
  if (kind === 6) {
    const lower = address.toLowerCase();
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(lower)?.[1];
    if (mapped) return forbiddenAddress(mapped);
    return lower === '::1' || lower === '::' || /^fe[89ab][0-9a-f]:/.test(lower);
  }
  return true;
}
