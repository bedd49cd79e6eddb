import { createAppAuth } from '@octokit/auth-app';
import { Octokit } from '@octokit/rest';
import { AirlockError } from '../../errors.js';
import { QUIET } from './github-client.js';

/**
 * What a token is for. Each asks a GitHub App for only what it needs: push and fetch for git and
 * the pull request; watch to read pull requests, checks and statuses; status to mark a commit;
 * comment to answer on a pull request; logs to read an Actions job's log.
 */
export type TokenPurpose = 'fetch' | 'push' | 'watch' | 'status' | 'comment' | 'logs';

const PERMISSIONS: Record<Exclude<TokenPurpose, 'push'>, Record<string, 'read' | 'write'>> = {
  fetch: { contents: 'read' },
  watch: { pull_requests: 'read', checks: 'read', statuses: 'read' },
  status: { statuses: 'write' },
  comment: { pull_requests: 'write' },
  logs: { actions: 'read' },
};

/** Where a GitHub token for one repository comes from: a personal token, or a GitHub App. */
export interface GitHubCredentials {
  readonly mode: 'token' | 'app' | 'none';
  /** A token allowed to push to and open pull requests on `repo` (owner/name), or undefined. */
  tokenFor(repo: string, purpose: TokenPurpose): Promise<string | undefined>;
}

export class PersonalToken implements GitHubCredentials {
  readonly mode: 'token' | 'none';
  constructor(private readonly token: string | undefined) {
    this.mode = token ? 'token' : 'none';
  }
  async tokenFor(): Promise<string | undefined> {
    return this.token;
  }
}

/**
 * GitHub App auth: for each repository, the installation that covers it, and an installation
 * token limited to that one repository and to contents + pull requests (issues too when labels
 * are configured). @octokit/auth-app keeps tokens in memory until shortly before they expire;
 * nothing is written anywhere.
 */
export class GitHubAppCredentials implements GitHubCredentials {
  readonly mode = 'app' as const;
  private readonly auth: ReturnType<typeof createAppAuth>;
  private readonly installations = new Map<string, number>();

  constructor(
    private readonly opts: {
      appId: string;
      privateKey: string;
      installationId?: number;
      apiUrl: string;
      issuesWrite?: (repo: string) => boolean;
      /** Each token issued, so logs and stored output can redact it too. */
      onToken?: (token: string) => void;
    },
  ) {
    this.auth = createAppAuth({
      appId: opts.appId,
      // Kubernetes secrets and .env files often carry the PEM with literal \n.
      privateKey: opts.privateKey.includes('\\n') ? opts.privateKey.replaceAll('\\n', '\n') : opts.privateKey,
      request: new Octokit({ baseUrl: opts.apiUrl, log: QUIET }).request,
    });
  }

  async tokenFor(repo: string, purpose: TokenPurpose): Promise<string> {
    const [owner, name] = repo.split('/') as [string, string];
    try {
      const installationId = this.opts.installationId ?? (await this.installationFor(owner, name));
      const permissions: Record<string, 'read' | 'write'> =
        purpose === 'push' ? { contents: 'write', pull_requests: 'write' } : { ...PERMISSIONS[purpose] };
      if (purpose === 'push' && this.opts.issuesWrite?.(repo)) permissions.issues = 'write';
      const { token } = await this.auth({
        type: 'installation',
        installationId,
        repositoryNames: [name],
        permissions,
      });
      this.opts.onToken?.(token);
      return token;
    } catch (error) {
      if (error instanceof AirlockError) throw error;
      const status = (error as { status?: number }).status;
      const hint =
        status === 404
          ? ` Install the GitHub App on ${repo}.`
          : status === 401
            ? ' Check GITHUB_APP_ID and GITHUB_APP_PRIVATE_KEY.'
            : status === 422
              ? ` The App lacks a permission airlock asks for (${Object.entries(
                  purpose === 'push' ? { contents: 'write', pull_requests: 'write' } : PERMISSIONS[purpose],
                )
                  .map(([k, v]) => `${k}: ${v}`)
                  .join(', ')}).`
              : '';
      throw new AirlockError(
        'forge_failed',
        `GitHub App: no token for ${repo}: ${(error as Error).message}.${hint}`,
        { cause: error },
      );
    }
  }

  private async installationFor(owner: string, repo: string): Promise<number> {
    const key = `${owner}/${repo}`;
    const known = this.installations.get(key);
    if (known) return known;
    const { token } = await this.auth({ type: 'app' });
    const octokit = new Octokit({ auth: token, baseUrl: this.opts.apiUrl, log: QUIET });
    const { data } = await octokit.apps.getRepoInstallation({ owner, repo });
    this.installations.set(key, data.id);
    return data.id;
  }
}
