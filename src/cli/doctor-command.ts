import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import type { App } from '../composition-root.js';
import { git } from '../repos/git.js';
import { checkSlack } from '../slack/check-slack.js';

type Out = { write(s: string): unknown };

/** A check that passes with a warning: worth fixing, but nothing is broken. */
class DoctorWarning extends Error {}

interface Check {
  name: string;
  run: () => Promise<string>;
}

/** `airlock doctor`: checks what a run needs, each with what to do when it fails. */
export async function doctorCommand(app: App, out: Out): Promise<number> {
  const checks: Check[] = [
    {
      name: 'policy file',
      run: async () => `${app.env.AIRLOCK_CONFIG}: ${Object.keys(app.policy.repos).length} repositories`,
    },
    {
      name: 'data directory',
      run: async () => {
        accessSync(app.dataDir, constants.W_OK);
        return `${app.dataDir} is writable`;
      },
    },
    {
      name: 'audit chain',
      run: async () => {
        const report = app.store.verifyAudit();
        if (!report.ok) throw new Error(`${report.problems.length} problem(s); run \`airlock audit verify\``);
        return `${report.checked} events intact`;
      },
    },
    {
      name: 'audit key',
      run: async () => {
        if (!app.env.AIRLOCK_AUDIT_KEY)
          throw new DoctorWarning(
            'AIRLOCK_AUDIT_KEY is not set: the audit chain is plain SHA-256, so anyone who can write the database can rewrite it undetected. Set it from a Secret (e.g. `openssl rand -hex 32`).',
          );
        return 'the audit chain is keyed (HMAC-SHA-256)';
      },
    },
    {
      name: 'git',
      run: async () => {
        const v = spawnSync('git', ['--version'], { encoding: 'utf8' });
        if (v.status !== 0) throw new Error('git is not installed');
        return v.stdout.trim();
      },
    },
    {
      name: 'sandbox',
      run: async () => {
        if (app.sandboxes.check) return app.sandboxes.check();
        if (app.sandboxes.warning) throw new Error(app.sandboxes.warning);
        return `${app.sandboxes.kind}, isolated with bubblewrap (network only through the egress gateway)`;
      },
    },
    ...preparedChecks(app),
    { name: 'slack', run: () => checkSlack(app.env, app.slackClients()) },
    { name: 'jira', run: () => app.tickets.check() },
    {
      name: 'model',
      run: async () => {
        const model = app.model();
        return `${model.provider}: ${await model.check()}`;
      },
    },
    ...Object.keys(app.policy.repos).map((repo) => ({
      name: `repository ${repo}`,
      run: async () => {
        const forge = app.forgeFor(repo);
        const url = forge.remoteUrl(repo);
        await git(['ls-remote', '--heads', url, app.policy.repos[repo]?.base ?? 'main'], {
          cwd: app.dataDir,
          extraHeader: await forge.gitAuthHeader(repo, 'fetch'),
        });
        return `${url} is reachable`;
      },
    })),
    ...approvalRuleChecks(app),
  ];
  let failed = 0;
  for (const check of checks) {
    try {
      out.write(`ok    ${check.name}: ${await check.run()}\n`);
    } catch (error) {
      const message = app.redactor.redact((error as Error).message);
      if (error instanceof DoctorWarning) {
        out.write(`warn  ${check.name}: ${message}\n`);
        continue;
      }
      failed++;
      out.write(`FAIL  ${check.name}: ${message}\n`);
    }
  }
  out.write(failed ? `\n${failed} check(s) failed.\n` : '\nall checks passed.\n');
  return failed ? 1 : 0;
}

/** Prepared sandboxes per repository that wants them: readiness, and hits and misses since start. */
function preparedChecks(app: App): Check[] {
  const stats = app.preparedPool.poolStats();
  return Object.entries(stats.repos).map(([repo, { ready, wanted }]) => ({
    name: `prepared ${repo}`,
    run: async () => {
      const rows = app.preparedPool.list(repo).filter((p) => p.state === 'ready');
      const bases = [...new Set(rows.map((p) => p.baseSha.slice(0, 12)))].join(', ') || 'none';
      const line = `${ready} of ${wanted} ready (base ${bases}); ${stats.hits} hits, ${stats.misses} misses since start`;
      if (ready < wanted)
        throw new DoctorWarning(
          `${line}. Run \`airlock prepare --repo ${repo}\`, or let airlock serve build them.`,
        );
      return line;
    },
  }));
}

/** Does the base branch require `airlock/approved`? Only then is the thread's approval a merge rule. */
function approvalRuleChecks(app: App): Check[] {
  const rule = 'see docs/deploy.md: "Make the approval a merge rule"';
  return Object.entries(app.policy.repos).flatMap(([repo, r]) => {
    const conversation = app.conversationFor(repo);
    if (!conversation) return [];
    const gitlab = r.forge === 'gitlab';
    return [
      {
        name: `approval rule ${repo}`,
        run: async () => {
          const required = await conversation.requiresApproval(repo, r.base);
          if (required)
            return gitlab
              ? `merge requests wait for their pipeline ("Pipelines must succeed"), which a failed airlock/approved fails`
              : `merging into ${r.base} requires the airlock/approved status`;
          if (required === false)
            throw new DoctorWarning(
              gitlab
                ? `"Pipelines must succeed" is off: a commit nobody approved in airlock can be merged. Turn it on (Settings → Merge requests); ${rule}.`
                : `merging into ${r.base} does not require airlock/approved: a commit nobody approved in airlock can be merged. Make it a required status check; ${rule}.`,
            );
          throw new DoctorWarning(
            gitlab
              ? `could not read the project's merge settings; ${rule}.`
              : `could not read the rules of ${r.base} (the token may not read them); ${rule}.`,
          );
        },
      },
    ];
  });
}
