import type { Octokit } from '@octokit/rest';
import { AirlockError } from '../../errors.js';
import type { Forge, PullRequest, PullRequestDraft } from '../../runs/ports/forge.js';
import { gitHubClient, gitHubFailure } from './github-client.js';
import type { GitHubCredentials } from './github-credentials.js';

/** github.com and GitHub Enterprise Server (GITHUB_API_URL), with a personal token or a GitHub App. */
export class GitHubForge implements Forge {
  readonly kind = 'github' as const;

  constructor(
    private readonly credentials: GitHubCredentials,
    private readonly opts: { apiUrl: string; urls: Record<string, string | undefined> },
  ) {}

  /** A client whose token may write pull requests on this one repository. */
  private async clientFor(repo: string): Promise<Octokit> {
    return gitHubClient(await this.credentials.tokenFor(repo, 'push'), this.opts.apiUrl);
  }

  remoteUrl(repo: string): string {
    return this.opts.urls[repo] ?? `${webBase(this.opts.apiUrl)}/${repo}.git`;
  }

  async gitAuthHeader(repo: string, purpose: 'fetch' | 'push'): Promise<string | undefined> {
    const token = await this.credentials.tokenFor(repo, purpose);
    if (!token) {
      if (purpose === 'push') {
        throw new AirlockError(
          'forge_failed',
          'GitHub: no credential to push with. Set GITHUB_TOKEN (or the GitHub App variables).',
        );
      }
      return undefined;
    }
    return `Authorization: Basic ${Buffer.from(`x-access-token:${token}`).toString('base64')}`;
  }

  async ensurePullRequest(repo: string, draft: PullRequestDraft): Promise<PullRequest> {
    const [owner, name] = repo.split('/') as [string, string];
    try {
      const octokit = await this.clientFor(repo);
      const existing = await this.findOpen(octokit, owner, name, draft.branch);
      if (existing) {
        // A retry (or a follow-up) brings the open PR's title and body up to date instead of a second PR.
        await octokit.pulls.update({
          owner,
          repo: name,
          pull_number: existing.number,
          title: draft.title,
          body: draft.body,
        });
        return existing;
      }
      try {
        const { data } = await octokit.pulls.create({
          owner,
          repo: name,
          head: draft.branch,
          base: draft.base,
          title: draft.title,
          body: draft.body,
          draft: draft.draft,
        });
        if (draft.labels?.length) {
          await octokit.issues.addLabels({
            owner,
            repo: name,
            issue_number: data.number,
            labels: draft.labels,
          });
        }
        return { number: data.number, url: data.html_url, created: true };
      } catch (error) {
        // Another attempt opened it between our look-up and create: use that one.
        const raced =
          (error as { status?: number }).status === 422
            ? await this.findOpen(octokit, owner, name, draft.branch)
            : undefined;
        if (raced) return raced;
        throw error;
      }
    } catch (error) {
      throw gitHubFailure(
        error,
        `open the pull request for ${repo}`,
        'Check that the token can write pull requests on this repository.',
      );
    }
  }

  private async findOpen(
    octokit: Octokit,
    owner: string,
    repo: string,
    branch: string,
  ): Promise<PullRequest | undefined> {
    const { data } = await octokit.pulls.list({
      owner,
      repo,
      head: `${owner}:${branch}`,
      state: 'open',
      per_page: 10,
    });
    const pr = data[0];
    return pr ? { number: pr.number, url: pr.html_url, created: false } : undefined;
  }
}

/** https://api.github.com → https://github.com; https://ghe.example.com/api/v3 → https://ghe.example.com */
export function webBase(apiUrl: string): string {
  const url = new URL(apiUrl);
  if (url.hostname === 'api.github.com') return 'https://github.com';
  const path = url.pathname.replace(/\/+$/, '').replace(/\/api\/v3$/, '');
  return `${url.origin}${path}`;
}
