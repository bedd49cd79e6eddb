import { Gitlab } from '@gitbeaker/rest';
import { AirlockError } from '../../errors.js';
import type { Forge, PullRequest, PullRequestDraft } from '../../runs/ports/forge.js';

/**
 * Self-managed GitLab (GITLAB_URL) with a project-scoped access token (GITLAB_TOKEN):
 * merge requests through @gitbeaker/rest, git over HTTPS with the token as Basic auth.
 */
export class GitLabForge implements Forge {
  readonly kind = 'gitlab' as const;
  private readonly api: InstanceType<typeof Gitlab>;

  constructor(
    private readonly opts: { url: string; token?: string; urls: Record<string, string | undefined> },
  ) {
    this.api = new Gitlab({ host: opts.url, token: opts.token ?? '' });
  }

  remoteUrl(repo: string): string {
    return this.opts.urls[repo] ?? `${this.opts.url.replace(/\/+$/, '')}/${repo}.git`;
  }

  async gitAuthHeader(_repo: string, purpose: 'fetch' | 'push'): Promise<string | undefined> {
    if (!this.opts.token) {
      if (purpose === 'push')
        throw new AirlockError('forge_failed', 'GitLab: no credential to push with. Set GITLAB_TOKEN.');
      return undefined;
    }
    return `Authorization: Basic ${Buffer.from(`oauth2:${this.opts.token}`).toString('base64')}`;
  }

  async ensurePullRequest(repo: string, draft: PullRequestDraft): Promise<PullRequest> {
    try {
      const open = await this.api.MergeRequests.all({
        projectId: repo,
        sourceBranch: draft.branch,
        state: 'opened',
      });
      const existing = open[0];
      if (existing) {
        await this.api.MergeRequests.edit(repo, existing.iid, {
          title: this.title(draft),
          description: draft.body,
        });
        return { number: existing.iid, url: String(existing.web_url), created: false };
      }
      const created = await this.api.MergeRequests.create(repo, draft.branch, draft.base, this.title(draft), {
        description: draft.body,
        ...(draft.labels?.length ? { labels: draft.labels.join(',') } : {}),
      });
      return { number: created.iid, url: String(created.web_url), created: true };
    } catch (error) {
      if (error instanceof AirlockError) throw error;
      const status = (error as { cause?: { response?: { status?: number } } }).cause?.response?.status;
      const hint =
        status === 401
          ? ' Check GITLAB_TOKEN.'
          : status === 403 || status === 404
            ? ' Check that the token can create merge requests on this project.'
            : '';
      throw new AirlockError(
        'forge_failed',
        `GitLab: could not open the merge request for ${repo}: ${(error as Error).message}.${hint}`,
        {
          cause: error,
        },
      );
    }
  }

  private title(draft: PullRequestDraft): string {
    return draft.draft ? `Draft: ${draft.title}` : draft.title;
  }
}
