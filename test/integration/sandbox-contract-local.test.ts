import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalIsolation, LocalSandboxProvider } from '../../src/sandbox/local/local-sandbox.js';
import { sandboxContract } from '../contract/sandbox-contract.js';

/** The local backend over a fresh data directory; `isolation` as sandbox.local.isolation sets it. */
function localBackend(isolation: LocalIsolation) {
  return async () => {
    const base = mkdtempSync(join(tmpdir(), 'airlock-contract-local-'));
    const root = join(base, 'data', 'workspaces');
    const open = () => new LocalSandboxProvider(root, { isolation });
    return {
      provider: open(),
      reopen: open,
      close: async () => rmSync(base, { recursive: true, force: true }),
    };
  };
}

sandboxContract('local, bubblewrap', localBackend('bubblewrap'), {
  traits: { noNetwork: true, stdinEnds: true },
});

sandboxContract('local, no isolation', localBackend('none'), {
  // By design: plain processes share the host's network (the provider warns the operator).
  traits: { noNetwork: false, stdinEnds: true },
});
