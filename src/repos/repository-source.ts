import type { Readable } from 'node:stream';
import type { Policy } from '../config/policy.js';
import type { Forge } from '../runs/ports/forge.js';
import type { RepositorySource } from '../runs/ports/repositories.js';
import { git } from './git.js';
import type { Mirrors } from './mirror.js';

export class MirroredRepositories implements RepositorySource {
  constructor(
    private readonly mirrors: Mirrors,
    private readonly forgeFor: (repo: string) => Forge,
    private readonly policy: Policy,
  ) {}

  async fetchBase(repo: string, base: string): Promise<string> {
    if (!this.policy.repos[repo]) throw new Error(`unknown repository ${repo}`);
    const forge = this.forgeFor(repo);
    return this.mirrors.fetchBase(
      repo,
      forge.remoteUrl(repo),
      base,
      await forge.gitAuthHeader(repo, 'fetch'),
    );
  }

  snapshot(repo: string, sha: string): Readable {
    return this.mirrors.snapshot(repo, sha);
  }

  readFile(repo: string, sha: string, path: string): Promise<Buffer | undefined> {
    return this.mirrors.readFile(repo, sha, path);
  }

  async changesBetween(repo: string, from: string, to: string): Promise<Buffer> {
    const { stdout } = await git(['diff', '--binary', '--no-color', '--no-ext-diff', from, to, '--'], {
      cwd: this.mirrors.pathFor(repo),
    });
    return stdout;
  }

  async reviewDiff(repo: string, base: string, head: string): Promise<Buffer> {
    const { stdout } = await git(['diff', '--no-color', '--no-ext-diff', `${base}...${head}`, '--'], {
      cwd: this.mirrors.pathFor(repo),
    });
    return stdout;
  }

  async isAncestor(repo: string, ancestor: string, of: string): Promise<boolean> {
    return git(['merge-base', '--is-ancestor', ancestor, of], { cwd: this.mirrors.pathFor(repo) }).then(
      () => true,
      () => false,
    );
  }
}
