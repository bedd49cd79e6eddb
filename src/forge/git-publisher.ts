import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AirlockError } from '../errors.js';
import { git, gitText } from '../repos/git.js';
import type { Mirrors } from '../repos/mirror.js';
import type { Forge, Publisher, PublishRequest, PublishResult } from '../runs/ports/forge.js';

const IDENTITY = { name: 'airlock', email: 'airlock@users.noreply.local' };

/**
 * The only code that writes to a remote. It applies the approved diff (not anything from the
 * sandbox) on the base commit, commits it with a fixed identity and time so a retry builds the
 * same commit, and pushes a branch that must not exist yet or already hold that commit.
 */
export class GitPublisher implements Publisher {
  constructor(
    private readonly mirrors: Mirrors,
    private readonly forgeFor: (repo: string) => Forge,
  ) {}

  async publish(req: PublishRequest): Promise<PublishResult> {
    const prBase = req.pullRequestBase ?? req.baseRef;
    if (!req.branch.startsWith('airlock/') || req.branch === prBase) {
      throw new AirlockError(
        'forge_failed',
        `Refusing to push to ${req.branch}: airlock pushes only airlock/ branches.`,
      );
    }
    const forge = this.forgeFor(req.repo);
    const commitSha = await this.buildCommit(req);
    const header = await forge.gitAuthHeader(req.repo, 'push');
    // A follow-up retried after its push landed: the branch already holds this very commit.
    if (req.lease && (await this.remoteHead(req, forge, header)) === commitSha)
      return { commitSha, alreadyPushed: true, pullRequest: await this.pullRequest(req, forge, prBase) };
    req.beforePush?.(commitSha);
    const { stdout } = await git(
      [
        'push',
        '--porcelain',
        '--no-verify',
        // A new branch must not exist yet; a follow-up's must still be where its run started.
        `--force-with-lease=refs/heads/${req.branch}:${req.lease ?? ''}`,
        forge.remoteUrl(req.repo),
        `${commitSha}:refs/heads/${req.branch}`,
      ],
      { cwd: this.mirrors.pathFor(req.repo), extraHeader: header },
    ).catch((error: Error) => {
      const stale = /stale info|already exists|non-fast-forward|fetch first/.test(error.message);
      throw new AirlockError(
        'forge_failed',
        stale
          ? req.lease
            ? `Branch ${req.branch} moved on the remote since this follow-up started from ${req.lease.slice(0, 12)}; airlock pushes only on top of the head it worked on. Ask again on the pull request.`
            : `Branch ${req.branch} already exists on the remote with other commits; airlock will not overwrite it. Delete it and retry.`
          : `Push of ${req.branch} to ${req.repo} failed: ${error.message.replace(/^git push failed: /, '')}`,
      );
    });
    // Porcelain marks an unchanged ref with '='.
    const alreadyPushed = stdout
      .toString()
      .split('\n')
      .some((line) => line.startsWith('=\t'));
    return { commitSha, alreadyPushed, pullRequest: await this.pullRequest(req, forge, prBase) };
  }

  private pullRequest(req: PublishRequest, forge: Forge, base: string) {
    return forge.ensurePullRequest(req.repo, {
      branch: req.branch,
      base,
      title: req.pullRequest.title,
      body: req.pullRequest.body,
      draft: req.pullRequest.draft,
      labels: req.pullRequest.labels,
    });
  }

  private async remoteHead(req: PublishRequest, forge: Forge, header: string | undefined): Promise<string> {
    const out = await gitText(['ls-remote', forge.remoteUrl(req.repo), `refs/heads/${req.branch}`], {
      cwd: this.mirrors.pathFor(req.repo),
      extraHeader: header,
    }).catch(() => '');
    return out.split(/\s/)[0] ?? '';
  }

  private async buildCommit(req: PublishRequest): Promise<string> {
    const cwd = this.mirrors.pathFor(req.repo);
    const scratch = await mkdtemp(join(tmpdir(), 'airlock-index-'));
    const env = {
      GIT_INDEX_FILE: join(scratch, 'index'),
      GIT_AUTHOR_NAME: IDENTITY.name,
      GIT_AUTHOR_EMAIL: IDENTITY.email,
      GIT_COMMITTER_NAME: IDENTITY.name,
      GIT_COMMITTER_EMAIL: IDENTITY.email,
      GIT_AUTHOR_DATE: req.approvedAt,
      GIT_COMMITTER_DATE: req.approvedAt,
    };
    try {
      await git(['read-tree', req.baseSha], { cwd, env });
      await git(['apply', '--cached', '--binary', '--whitespace=nowarn', '-'], {
        cwd,
        env,
        input: req.diff,
      }).catch((error: Error) => {
        throw new AirlockError(
          'git_failed',
          `The approved diff does not apply on ${req.baseSha.slice(0, 12)}: ${error.message}`,
        );
      });
      const tree = await gitText(['write-tree'], { cwd, env });
      const message = `${req.commitTitle}\n\n${req.commitBody.trim()}\n\nAirlock-Run: ${req.runId}\n`;
      const commit = await gitText(['commit-tree', tree, '-p', req.baseSha, '-F', '-'], {
        cwd,
        env,
        input: message,
      });
      // Keeps the commit from garbage collection and records it next to the run.
      await git(['update-ref', `refs/airlock/runs/${req.runId}`, commit], { cwd });
      return commit;
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
}
