import { AirlockError } from '../errors.js';
import type { Forge } from '../runs/ports/forge.js';

/** A repository reached by URL with git alone (a bare remote, a file path): push, no PR. */
export class PlainGitForge implements Forge {
  readonly kind = 'git' as const;

  constructor(private readonly urls: Record<string, string | undefined>) {}

  remoteUrl(repo: string): string {
    const url = this.urls[repo];
    if (!url) throw new AirlockError('config_invalid', `repos.${repo}.url is required when forge is git.`);
    return url;
  }

  async gitAuthHeader(): Promise<undefined> {
    return undefined;
  }

  async ensurePullRequest(): Promise<null> {
    return null;
  }
}
