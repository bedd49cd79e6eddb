import type { Octokit } from '@octokit/rest';
import {
  APPROVED_CONTEXT,
  type ConversationCursor,
  type ForgeCheck,
  type ForgeComment,
  type ForgeConversation,
  type ForgePullState,
  type ForgeReview,
  type Observed,
  type PullRequestFacts,
  type PullToWatch,
} from '../../runs/ports/pull-requests.js';
import { gitHubClient, gitHubFailure } from './github-client.js';
import type { GitHubCredentials, TokenPurpose } from './github-credentials.js';

type Json = Record<string, unknown>;

/** Check-run conclusions that mean the check failed (neutral, skipped, cancelled do not). */
const FAILED = new Set(['failure', 'timed_out', 'action_required', 'startup_failure']);

/**
 * Follows airlock's pull requests on GitHub by polling. Every GET carries the ETag it got last
 * (If-None-Match): GitHub answers 304 for what did not change, and a 304 costs no rate limit.
 */
export class GitHubConversation implements ForgeConversation {
  constructor(
    private readonly credentials: GitHubCredentials,
    private readonly apiUrl: string,
  ) {}

  private async client(repo: string, purpose: TokenPurpose = 'watch'): Promise<Octokit> {
    return gitHubClient(await this.credentials.tokenFor(repo, purpose), this.apiUrl);
  }

  async observe(
    repo: string,
    pulls: PullToWatch[],
    cursor: ConversationCursor,
  ): Promise<{ observed: Observed; cursor: ConversationCursor }> {
    return this.wrap('poll', repo, async () => {
      const octokit = await this.client(repo);
      const etags: Record<string, string> = {};
      const [owner, name] = repo.split('/') as [string, string];
      const at = { owner, repo: name };
      const watched = new Set(pulls.map((p) => p.number));
      const observed: Observed = {
        pulls: [],
        comments: [],
        reviews: [],
        checks: [],
        requests: { notModified: 0, changed: 0 },
      };
      const get = async (route: string, params: Json) => {
        const data = await this.conditional(octokit, route, params, cursor, etags);
        if (data === undefined) observed.requests.notModified++;
        else observed.requests.changed++;
        return data;
      };
      let since = cursor.since;
      const listing = {
        ...at,
        since: cursor.since ?? undefined,
        sort: 'updated',
        direction: 'asc',
        per_page: 100,
      };

      for (const c of ((await get('GET /repos/{owner}/{repo}/issues/comments', listing)) ?? []) as Json[]) {
        since = later(since, c.updated_at as string);
        const number = numberAtEnd(c.issue_url as string, '/issues/');
        if (number !== undefined && watched.has(number)) observed.comments.push(issueComment(c, number));
      }
      for (const c of ((await get('GET /repos/{owner}/{repo}/pulls/comments', listing)) ?? []) as Json[]) {
        since = later(since, c.updated_at as string);
        const number = numberAtEnd(c.pull_request_url as string, '/pulls/');
        if (number !== undefined && watched.has(number)) observed.comments.push(reviewComment(c, number));
      }
      for (const pr of pulls) {
        const at1 = { ...at, pull_number: pr.number };
        const pull = (await get('GET /repos/{owner}/{repo}/pulls/{pull_number}', at1)) as Json | undefined;
        if (pull) observed.pulls.push(pullState(pull, pr.number));
        const reviews = (await get('GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews', {
          ...at1,
          per_page: 100,
        })) as Json[] | undefined;
        for (const r of reviews ?? []) observed.reviews.push(review(r, pr.number));
        if (!pr.checkHead) continue;
        const ref = { ...at, ref: pr.checkHead };
        const runs = (await get('GET /repos/{owner}/{repo}/commits/{ref}/check-runs', {
          ...ref,
          per_page: 100,
        })) as { check_runs?: Json[] } | undefined;
        for (const run of runs?.check_runs ?? [])
          observed.checks.push(checkRun(run, pr.number, pr.checkHead));
        const combined = (await get('GET /repos/{owner}/{repo}/commits/{ref}/status', ref)) as
          | { statuses?: Json[] }
          | undefined;
        for (const s of combined?.statuses ?? [])
          if (s.context !== APPROVED_CONTEXT) observed.checks.push(commitStatus(s, pr.number, pr.checkHead));
      }
      return { observed, cursor: { etags, since } };
    });
  }

  /**
   * A GET with the ETag from the last poll: undefined when GitHub answers 304. Keeps the new ETag
   * (or the old one on 304); a listing's further pages are read when its first page changed.
   */
  private async conditional(
    octokit: Octokit,
    route: string,
    params: Json,
    cursor: ConversationCursor,
    etags: Record<string, string>,
  ): Promise<unknown> {
    const key = octokit.request.endpoint(route, params).url;
    const known = cursor.etags[key];
    try {
      const response = await octokit.request(route, {
        ...params,
        headers: known ? { 'if-none-match': known } : {},
      });
      if (response.headers.etag) etags[key] = response.headers.etag;
      const data = response.data as unknown;
      if (!Array.isArray(data) || !/rel="next"/.test(response.headers.link ?? '')) return data;
      const rest = await octokit.paginate(route, { ...params, page: 2 } as never);
      return [...data, ...(rest as unknown[])];
    } catch (error) {
      if ((error as { status?: number }).status === 304 && known) {
        etags[key] = known;
        return undefined;
      }
      throw error;
    }
  }

  async reply(repo: string, number: number, body: string): Promise<void> {
    const [owner, name] = repo.split('/') as [string, string];
    await this.wrap('comment on', repo, async () => {
      const octokit = await this.client(repo, 'comment');
      await octokit.issues.createComment({ owner, repo: name, issue_number: number, body });
    });
  }

  async setStatus(
    repo: string,
    sha: string,
    status: { state: 'success' | 'failure'; description: string; targetUrl?: string },
  ): Promise<void> {
    const [owner, name] = repo.split('/') as [string, string];
    await this.wrap('set the commit status on', repo, async () => {
      const octokit = await this.client(repo, 'status');
      await octokit.repos.createCommitStatus({
        owner,
        repo: name,
        sha,
        state: status.state,
        context: APPROVED_CONTEXT,
        description: status.description.slice(0, 140),
        ...(status.targetUrl ? { target_url: status.targetUrl } : {}),
      });
    });
  }

  async checkLog(repo: string, check: ForgeCheck, bytes: number): Promise<string> {
    const [owner, name] = repo.split('/') as [string, string];
    if (check.logRef) {
      try {
        const octokit = await this.client(repo, 'logs');
        // GitHub answers with a redirect to a short-lived download URL, which fetch follows.
        const { data } = await octokit.actions.downloadJobLogsForWorkflowRun({
          owner,
          repo: name,
          job_id: Number(check.logRef),
        });
        const text = typeof data === 'string' ? data : Buffer.from(data as ArrayBuffer).toString('utf8');
        if (text.trim()) return tail(text, bytes);
      } catch {
        // Not an Actions job, or its logs are gone: the check's own summary is what there is.
      }
    }
    return tail(check.summary ?? '', bytes);
  }

  async requiresApproval(repo: string, branch: string): Promise<boolean | undefined> {
    const [owner, name] = repo.split('/') as [string, string];
    const octokit = await this.client(repo, 'fetch');
    let unknown = false;
    try {
      const { data } = await octokit.repos.getBranchRules({ owner, repo: name, branch, per_page: 100 });
      const required = data.some(
        (rule) =>
          rule.type === 'required_status_checks' &&
          (
            rule.parameters as { required_status_checks?: Array<{ context: string }> } | undefined
          )?.required_status_checks?.some((c) => c.context === APPROVED_CONTEXT),
      );
      if (required) return true;
    } catch {
      unknown = true;
    }
    try {
      // The branch's protection summary is readable with push access (the protection endpoint
      // itself needs admin).
      const { data } = await octokit.repos.getBranch({ owner, repo: name, branch });
      const checks = (data.protection?.required_status_checks ?? {}) as {
        contexts?: string[];
        checks?: Array<{ context: string }>;
      };
      const contexts = [...(checks.contexts ?? []), ...(checks.checks ?? []).map((c) => c.context)];
      if (contexts.includes(APPROVED_CONTEXT)) return true;
      return unknown ? undefined : false;
    } catch {
      return undefined;
    }
  }

  async emailOf(repo: string, login: string): Promise<string | undefined> {
    try {
      const octokit = await this.client(repo);
      const { data } = await octokit.users.getByUsername({ username: login });
      return data.email ?? undefined;
    } catch {
      return undefined;
    }
  }

  async pullRequestFacts(repo: string, number: number): Promise<PullRequestFacts> {
    const [owner, name] = repo.split('/') as [string, string];
    return this.wrap(`read pull request #${number} of`, repo, async () => {
      const octokit = await this.client(repo);
      const { data } = await octokit.pulls.get({ owner, repo: name, pull_number: number });
      return {
        number,
        url: data.html_url,
        title: data.title,
        body: data.body ?? '',
        headRef: `refs/pull/${number}/head`,
        headSha: data.head.sha,
        base: data.base.ref,
        state: data.merged ? 'merged' : data.state === 'closed' ? 'closed' : 'open',
      };
    });
  }

  async postReview(
    repo: string,
    number: number,
    review: {
      headSha: string;
      summary: string;
      comments: Array<{ path: string; line: number; body: string }>;
    },
  ): Promise<{ url: string | null }> {
    const [owner, name] = repo.split('/') as [string, string];
    return this.wrap(`post the review on #${number} of`, repo, async () => {
      const octokit = await this.client(repo, 'comment');
      const { data } = await octokit.pulls.createReview({
        owner,
        repo: name,
        pull_number: number,
        commit_id: review.headSha,
        // Only ever a comment: an approval that counts is a person's, in the thread.
        event: 'COMMENT',
        body: review.summary,
        comments: review.comments.map((c) => ({
          path: c.path,
          line: c.line,
          side: 'RIGHT' as const,
          body: c.body,
        })),
      });
      return { url: data.html_url ?? null };
    });
  }

  private async wrap<T>(what: string, repo: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw gitHubFailure(
        error,
        `${what} ${repo}`,
        'Check that the token may read pull requests, write issues and commit statuses, and read checks on this repository.',
      );
    }
  }
}

function later(a: string | null, b: string | undefined): string | null {
  if (!b) return a;
  return !a || b > a ? b : a;
}

function numberAtEnd(url: string | undefined, marker: string): number | undefined {
  const at = url?.lastIndexOf(marker) ?? -1;
  if (!url || at < 0) return undefined;
  const n = Number(url.slice(at + marker.length));
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

const login = (user: unknown) => String((user as { login?: string } | null)?.login ?? 'ghost');

function issueComment(c: Json, number: number): ForgeComment {
  return {
    id: `issue-comment:${c.id}`,
    number,
    author: login(c.user),
    body: String(c.body ?? ''),
    url: String(c.html_url ?? ''),
    createdAt: String(c.created_at ?? ''),
  };
}

function reviewComment(c: Json, number: number): ForgeComment {
  return {
    id: `review-comment:${c.id}`,
    number,
    author: login(c.user),
    body: String(c.body ?? ''),
    url: String(c.html_url ?? ''),
    createdAt: String(c.created_at ?? ''),
    path: typeof c.path === 'string' ? c.path : undefined,
    line:
      typeof c.line === 'number' ? c.line : typeof c.original_line === 'number' ? c.original_line : undefined,
    diffHunk: typeof c.diff_hunk === 'string' ? c.diff_hunk : undefined,
  };
}

function pullState(p: Json, number: number): ForgePullState {
  const merged = p.merged === true || Boolean(p.merged_at);
  return {
    number,
    state: merged ? 'merged' : p.state === 'closed' ? 'closed' : 'open',
    headSha: String((p.head as Json | undefined)?.sha ?? ''),
    by: merged ? login(p.merged_by) : null,
  };
}

function review(r: Json, number: number): ForgeReview {
  const state = String(r.state ?? '').toLowerCase();
  return {
    id: `review:${r.id}`,
    number,
    author: login(r.user),
    state: (['approved', 'changes_requested', 'dismissed'].includes(state)
      ? state
      : 'commented') as ForgeReview['state'],
    body: String(r.body ?? ''),
    url: String(r.html_url ?? ''),
  };
}

function checkRun(c: Json, number: number, sha: string): ForgeCheck {
  const done = c.status === 'completed';
  const conclusion = String(c.conclusion ?? '');
  const output = (c.output ?? {}) as Json;
  const isActions = (c.app as Json | undefined)?.slug === 'github-actions';
  return {
    id: `check-run:${c.id}`,
    number,
    sha,
    name: String(c.name ?? 'check'),
    outcome: !done ? 'pending' : FAILED.has(conclusion) ? 'failure' : 'success',
    url: String(c.html_url ?? c.details_url ?? ''),
    // An Actions check run's id is its job's id.
    ...(isActions ? { logRef: String(c.id) } : {}),
    summary: [output.title, output.summary, output.text].filter((t) => typeof t === 'string' && t).join('\n'),
  };
}

function commitStatus(s: Json, number: number, sha: string): ForgeCheck {
  const state = String(s.state ?? '');
  return {
    id: `status:${s.context}:${sha}`,
    number,
    sha,
    name: String(s.context ?? 'status'),
    outcome: state === 'success' ? 'success' : state === 'pending' ? 'pending' : 'failure',
    url: String(s.target_url ?? ''),
    summary: String(s.description ?? ''),
  };
}

function tail(text: string, bytes: number): string {
  const buf = Buffer.from(text, 'utf8');
  return buf.length <= bytes ? text : `…${buf.subarray(buf.length - bytes).toString('utf8')}`;
}
