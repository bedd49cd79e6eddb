import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalIsolation, LocalSandboxProvider } from '../../src/sandbox/local/local-sandbox.js';
import { ProcessSpawner } from '../../src/shared/process-spawner.js';
import { sandboxContract } from '../contract/sandbox-contract.js';

/**
 * The local backend over a fresh data directory; `isolation` as sandbox.local.isolation sets it.
 * `spawner`: commands start through the process helper, as they do under `airlock serve`.
 */
function localBackend(isolation: LocalIsolation, opts: { spawner?: boolean } = {}) {
  return async () => {
    const base = mkdtempSync(join(tmpdir(), 'airlock-contract-local-'));
    const root = join(base, 'data', 'workspaces');
    const spawner = opts.spawner ? new ProcessSpawner() : undefined;
    const open = () => new LocalSandboxProvider(root, { isolation, spawn: spawner?.spawn });
    return {
      provider: open(),
      reopen: open,
      close: async () => {
        spawner?.close();
        rmSync(base, { recursive: true, force: true });
      },
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

sandboxContract(
  'local, bubblewrap, through the process helper',
  localBackend('bubblewrap', { spawner: true }),
  {
    traits: { noNetwork: true, stdinEnds: true },
  },
);
