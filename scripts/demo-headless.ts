/**
 * `npm run demo`: a whole headless run on embedded defaults, with no accounts and no network.
 * A bundled sample repository is served by the GitHub stand-in (REST + git over HTTP behind a
 * token), the agent works in a local sandbox, and airlock pushes a branch and opens a PR.
 * With ANTHROPIC_API_KEY set the real model does the work; otherwise a scripted one does.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type FakeAnthropic, startFakeAnthropic } from '../test/fakes/anthropic-server.js';
import { fixAddScript } from '../test/fakes/fix-add-script.js';
import { FIXTURE_FILES } from '../test/fakes/fixture-repo.js';
import { startFakeGitHub } from '../test/fakes/github-server.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TOKEN = 'ghp_demoTokenForTheLocalStandIn';

function airlock(args: string[], env: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli.ts'), ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env },
      stdio: 'inherit',
    });
    child.on('close', (code) => resolve(code ?? 1));
  });
}

const realModel = !!process.env.ANTHROPIC_API_KEY;
const dir = mkdtempSync(join(tmpdir(), 'airlock-demo-'));
const github = await startFakeGitHub({
  token: TOKEN,
  repos: [{ owner: 'acme', name: 'widgets', files: FIXTURE_FILES }],
});
let model: FakeAnthropic | undefined;
if (!realModel) model = await startFakeAnthropic({ apiKey: 'sk-ant-demo-scripted', script: fixAddScript() });

writeFileSync(
  join(dir, 'airlock.yaml'),
  [
    'repos:',
    '  acme/widgets:',
    '    base: main',
    '    headless_push: true   # lets `airlock run --push --yes` push without a click',
    'limits: { max_steps: 20, max_minutes: 10, max_cost_usd: 1 }',
    '',
  ].join('\n'),
);
const env: Record<string, string> = {
  AIRLOCK_CONFIG: join(dir, 'airlock.yaml'),
  AIRLOCK_DATA_DIR: join(dir, 'data'),
  GITHUB_TOKEN: TOKEN,
  GITHUB_API_URL: github.apiUrl,
  ANTHROPIC_API_KEY: process.env.ANTHROPIC_API_KEY ?? 'sk-ant-demo-scripted',
  ...(model ? { ANTHROPIC_BASE_URL: model.url } : {}),
  ...(process.env.AIRLOCK_MODEL ? { AIRLOCK_MODEL: process.env.AIRLOCK_MODEL } : {}),
};

process.stderr.write(
  `\n== airlock demo ==\n${
    realModel
      ? 'Using the real Anthropic API (ANTHROPIC_API_KEY is set).'
      : 'Using a scripted model (set ANTHROPIC_API_KEY to use Claude).'
  }\nSample repository acme/widgets on a local GitHub stand-in at ${github.webUrl}\nPolicy and data in ${dir}\n\n`,
);

let code = 1;
try {
  const task = 'add() in src/add.js returns the wrong result; fix it so `sh test.sh` passes.';
  code = await airlock(
    ['run', '--repo', 'acme/widgets', '--task', task, '--patch', join(dir, 'fix.diff'), '--push', '--yes'],
    env,
  );
  if (code === 0) {
    const pr = github.pulls[0];
    process.stderr.write(
      `\n== result ==\nbranch ${pr?.head} pushed with the approved diff; pull request #${pr?.number} "${pr?.title}" is open.\n`,
    );
    process.stderr.write('\n== the audit log ==\n');
    await airlock(['audit', 'verify'], env);
    process.stderr.write(
      `\nInspect the run: AIRLOCK_CONFIG=${env.AIRLOCK_CONFIG} AIRLOCK_DATA_DIR=${env.AIRLOCK_DATA_DIR} npx airlock runs\n`,
    );
  }
} finally {
  await model?.close();
  await github.close();
}
process.exitCode = code;
