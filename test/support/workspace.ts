import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A scratch directory with an airlock.yaml and a data directory, removed by cleanup(). */
export function scratchConfig(yaml: string): {
  dir: string;
  config: string;
  dataDir: string;
  cleanup: () => void;
} {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-test-'));
  const config = join(dir, 'airlock.yaml');
  writeFileSync(config, yaml);
  return {
    dir,
    config,
    dataDir: join(dir, 'data'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
