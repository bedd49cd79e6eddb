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

/** The environment of a bot wired to the Slack stand-in, with its config and data in `scratch`. */
export function slackBotEnv(
  slack: { botToken: string; appToken: string; apiUrl: string },
  scratch: { config: string; dataDir: string },
): Record<string, string> {
  return {
    SLACK_BOT_TOKEN: slack.botToken,
    SLACK_APP_TOKEN: slack.appToken,
    SLACK_API_URL: slack.apiUrl,
    AIRLOCK_CONFIG: scratch.config,
    AIRLOCK_DATA_DIR: scratch.dataDir,
    AIRLOCK_HTTP_PORT: '0',
  };
}
