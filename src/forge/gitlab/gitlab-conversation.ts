import { AirlockError } from '../../errors.js';
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

type Json = Record<string, unknown>;

/** Every request gives up after this long: one hung GitLab must not stall every repository's poll. */
const TIMEOUT_MS = 30_000;
/** A listing longer than this many pages is read no further. */
const MAX_PAGES = 50;

/** A reply other than 2xx (or the 304 a conditional GET asked for), with GitLab's own words. */
class GitLabHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'GitLabHttpError';
  }
}

/**
 * Follows airlock's merge requests on self-managed GitLab (GITLAB_URL, GITLAB_TOKEN) by polling.
 * Every polling GET carries the ETag it got last (If-None-Match): GitLab (Rack::ConditionalGet)
 * answers 304 for what did not change. Plain fetch, because @gitbeaker/rest neither sends
 * If-None-Match nor returns a 304. The token travels only in the PRIVATE-TOKEN header.
 */
export class GitLabConversation implements ForgeConversation {
  /** GITLAB_URL without a trailing slash, and its REST API. */
  private readonly web: string;
  private readonly base: string;
  private readonly token: string;
  /**
   * Bodies a poll needs even when GitLab answers 304 (a merge request's web URL, its pipelines,
   * whose jobs are asked on their own), by URL with the ETag they came with. In memory only: after
   * a restart the first such GET goes without If-None-Match.
   */
  private readonly kept = new Map<string, { etag: string; data: unknown }>();

  constructor(opts: { url: string; token: string }) {
    this.web = opts.url.replace(/\/+$/, '');
    this.base = `${this.web}/api/v4`;
    this.token = opts.token;
  }

  async observe(
    repo: string,
    pulls: PullToWatch[],
    cursor: ConversationCursor,
  ): Promise<{ observed: Observed; cursor: ConversationCursor }> {
    return this.wrap('poll', repo, async () => {
      const etags: Record<string, string> = {};
      const used = new Set<string>();

      const project = this.project(repo);
      const observed: Observed = {
        pulls: [],
        comments: [],
        reviews: [],
        checks: [],
        requests: { notModified: 0, changed: 0 },
      };
      const get = async (path: string, keep = false) => {
        const got = await this.conditional(path, cursor, etags, keep, used);
        if (got?.fresh) observed.requests.changed++;
        else observed.requests.notModified++;
        return got;
      };
      let since = cursor.since;

      for (const pr of pulls) {
        const mrPath = `${project}/merge_requests/${pr.number}`;
        const mr = await get(mrPath, true);
        if (mr?.fresh) observed.pulls.push(pullState(mr.data as Json, pr.number));
        const webUrl = String(
          (mr?.data as Json | undefined)?.web_url ?? `${this.web}/${repo}/-/merge_requests/${pr.number}`,
        );

        // Newest first: whatever changed (a new note, an edit) is on the first page, so its ETag moves.
        const notes = await get(`${mrPath}/notes?order_by=updated_at&sort=desc&per_page=100`);
        for (const n of (notes?.data ?? []) as Json[]) {
          since = later(since, n.updated_at as string | undefined);
          if (n.system !== true) observed.comments.push(note(n, pr.number, webUrl));
        }

        const approvals = await get(`${mrPath}/approvals`);
        // EE answers `approved: true` when there are no approval rules: who approved is what counts.
        for (const a of ((approvals?.data as Json | undefined)?.approved_by ?? []) as Json[])
          observed.reviews.push(approval(a, pr.number, webUrl));

        if (!pr.checkHead) continue;
        const sha = pr.checkHead;
        let pipelines: Json[] = [];
        try {
          const listed = await get(`${mrPath}/pipelines?per_page=100`, true);
          pipelines = (listed?.data ?? []) as Json[];
        } catch (error) {
          // CI/CD turned off for the project (or hidden from the token): no jobs, comments still flow.
          if (!(error instanceof GitLabHttpError && error.status === 403)) throw error;
        }
        // A pipeline's jobs change without the listing changing: each is asked on its own.
        for (const p of pipelines.filter((p) => p.sha === sha)) {
          const jobs = await get(`${project}/pipelines/${p.id}/jobs?per_page=100`);
          for (const j of (jobs?.data ?? []) as Json[]) observed.checks.push(job(j, pr.number, sha));
        }
        // Commit statuses of other tools (their stage is `external`; CI jobs are listed here too).
        const statuses = await get(
          `${project}/repository/commits/${sha}/statuses?stage=external&per_page=100`,
        );
        for (const s of (statuses?.data ?? []) as Json[])
          if (s.name !== APPROVED_CONTEXT) observed.checks.push(commitStatus(s, pr.number, sha));
      }
      // What this poll no longer asks about (merged, closed, older heads) is not kept.
      for (const url of this.kept.keys())
        if (url.startsWith(`${this.base}/${project}/`) && !used.has(url)) this.kept.delete(url);
      return { observed, cursor: { etags, since } };
    });
  }

  /**
   * A GET with the ETag from the last poll: undefined when GitLab answers 304, or (`keep`) the body
   * kept from last time marked not fresh. Keeps the new ETag (or the old one on 304); a listing's
   * further pages are read when its first page changed.
   */
  private async conditional(
    path: string,
    cursor: ConversationCursor,
    etags: Record<string, string>,
    keep: boolean,
    used: Set<string>,
  ): Promise<{ data: unknown; fresh: boolean } | undefined> {
    const url = `${this.base}/${path}`;
    used.add(url);
    const known = cursor.etags[url];
    const kept = keep ? this.kept.get(url) : undefined;
    // A kept resource is asked conditionally only while its body is at hand.
    const ask = keep ? (kept && kept.etag === known ? known : undefined) : known;
    const response = await this.send('GET', url, ask ? { 'if-none-match': ask } : {});
    if (response.status === 304 && ask) {
      etags[url] = ask;
      return kept ? { data: kept.data, fresh: false } : undefined;
    }
    const etag = response.headers.get('etag');
    if (etag) etags[url] = etag;
    let data = await this.body(response, url);
    if (Array.isArray(data)) data = [...data, ...(await this.restOf(url, response))];
    if (keep && etag) this.kept.set(url, { etag, data });
    else if (keep) this.kept.delete(url);
    return { data, fresh: true };
  }

  /** The pages after the first: `x-next-page` (offset pagination), else the Link header's next. */
  private async restOf(url: string, first: Response): Promise<unknown[]> {
    const out: unknown[] = [];
    let response = first;
    for (let page = 1; page < MAX_PAGES; page++) {
      const next = nextPage(url, response);
      if (!next) break;
      response = await this.send('GET', next);
      const data = await this.body(response, next);
      if (!Array.isArray(data)) break;
      out.push(...data);
    }
    return out;
  }

  async pullRequestFacts(repo: string, number: number): Promise<PullRequestFacts> {
    return this.wrap(`read merge request !${number} of`, repo, async () => {
      const mr = (await this.json('GET', `${this.project(repo)}/merge_requests/${number}`)) as Json;
      const state = String(mr.state ?? '');
      return {
        number,
        url: String(mr.web_url ?? ''),
        title: String(mr.title ?? ''),
        body: String(mr.description ?? ''),
        headRef: `refs/merge-requests/${number}/head`,
        headSha: String(mr.sha ?? ''),
        base: String(mr.target_branch ?? ''),
        state: state === 'merged' ? 'merged' : state === 'opened' ? 'open' : 'closed',
      };
    });
  }

  /** The summary as a note, then one discussion per line comment, positioned on the diff. */
  async postReview(
    repo: string,
    number: number,
    review: {
      headSha: string;
      summary: string;
      comments: Array<{ path: string; line: number; body: string }>;
    },
  ): Promise<{ url: string | null }> {
    return this.wrap(`post the review on !${number} of`, repo, async () => {
      const mrPath = `${this.project(repo)}/merge_requests/${number}`;
      const mr = (await this.json('GET', mrPath)) as Json;
      const refs = (mr.diff_refs ?? {}) as { base_sha?: string; start_sha?: string; head_sha?: string };
      const note = (await this.json('POST', `${mrPath}/notes`, { body: review.summary })) as Json;
      for (const c of review.comments) {
        // GitLab places a new_line alone only on an added line; on a context line it wants the old
        // line too, which the port does not carry: such a comment becomes a note naming the line.
        const placed = await this.json('POST', `${mrPath}/discussions`, {
          body: c.body,
          position: {
            position_type: 'text',
            base_sha: refs.base_sha,
            start_sha: refs.start_sha,
            head_sha: refs.head_sha ?? review.headSha,
            old_path: c.path,
            new_path: c.path,
            new_line: c.line,
          },
        }).then(
          () => true,
          (error: unknown) => {
            if (error instanceof GitLabHttpError && error.status === 400) return false;
            throw error;
          },
        );
        if (!placed)
          await this.json('POST', `${mrPath}/notes`, { body: `\`${c.path}:${c.line}\`: ${c.body}` });
      }
      return { url: note.id ? `${String(mr.web_url ?? '')}#note_${String(note.id)}` : null };
    });
  }

  async reply(repo: string, number: number, body: string): Promise<void> {
    await this.wrap('comment on', repo, async () => {
      await this.json('POST', `${this.project(repo)}/merge_requests/${number}/notes`, { body });
    });
  }

  async setStatus(
    repo: string,
    sha: string,
    status: { state: 'success' | 'failure'; description: string; targetUrl?: string },
  ): Promise<void> {
    await this.wrap('set the commit status on', repo, async () => {
      await this.json('POST', `${this.project(repo)}/statuses/${encodeURIComponent(sha)}`, {
        state: status.state === 'success' ? 'success' : 'failed',
        name: APPROVED_CONTEXT,
        description: status.description.slice(0, 255),
        ...(status.targetUrl ? { target_url: status.targetUrl } : {}),
      });
    });
  }

  async checkLog(repo: string, check: ForgeCheck, bytes: number): Promise<string> {
    if (check.logRef) {
      try {
        const url = `${this.base}/${this.project(repo)}/jobs/${encodeURIComponent(check.logRef)}/trace`;
        const response = await this.send('GET', url, { accept: 'text/plain' });
        if (!response.ok) throw await this.failure(response, url);
        // A job with no log yet is an empty 200.
        const text = plainLog(await response.text());
        if (text.trim()) return tail(text, bytes);
      } catch {
        // The log is gone (expired, erased) or unreadable: the job's own summary is what there is.
      }
    }
    return tail(check.summary ?? '', bytes);
  }

  /**
   * Does merging wait for `airlock/approved`? On GitLab a commit status joins the commit's
   * pipeline, and a `failed` one fails it: with "Pipelines must succeed" that blocks the merge.
   * (External status checks, Ultimate, are answered per merge request; airlock sets none.)
   */
  async requiresApproval(repo: string, _branch: string): Promise<boolean | undefined> {
    try {
      const project = (await this.json('GET', this.project(repo))) as Json;
      if (typeof project.only_allow_merge_if_pipeline_succeeds !== 'boolean') return undefined;
      return project.only_allow_merge_if_pipeline_succeeds;
    } catch {
      return undefined;
    }
  }

  async emailOf(_repo: string, login: string): Promise<string | undefined> {
    try {
      // GET /users shows a non-administrator no email; GET /users/:id shows the public one.
      const found = (await this.json('GET', `users?username=${encodeURIComponent(login)}`)) as Json[];
      const user = found.find((u) => String(u.username).toLowerCase() === login.toLowerCase());
      if (!user) return undefined;
      const full = (await this.json('GET', `users/${Number(user.id)}`)) as Json;
      return typeof full.public_email === 'string' && full.public_email ? full.public_email : undefined;
    } catch {
      return undefined;
    }
  }

  /** `:id` in a URL: the project's full path, URL-encoded. */
  private project(repo: string): string {
    return `projects/${encodeURIComponent(repo)}`;
  }

  private async json(method: 'GET' | 'POST', path: string, body?: Json): Promise<unknown> {
    const url = `${this.base}/${path}`;
    const response = await this.send(
      method,
      url,
      body ? { 'content-type': 'application/json' } : {},
      body ? JSON.stringify(body) : undefined,
    );
    return this.body(response, url);
  }

  private async send(
    method: string,
    url: string,
    headers: Record<string, string> = {},
    body?: string,
  ): Promise<Response> {
    const response = await fetch(url, {
      method,
      headers: { accept: 'application/json', 'private-token': this.token, ...headers },
      body,
      // A redirect would carry PRIVATE-TOKEN to wherever it points: it is an error instead.
      redirect: 'manual',
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
    return response;
  }

  /** The JSON of a 2xx reply; anything else is a GitLabHttpError with GitLab's message. */
  private async body(response: Response, url: string): Promise<unknown> {
    if (!response.ok) throw await this.failure(response, url);
    const text = await response.text();
    if (!text) return null;
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new GitLabHttpError(
        response.status,
        `${this.where(url)} answered ${response.status} with no JSON`,
      );
    }
  }

  private async failure(response: Response, url: string): Promise<GitLabHttpError> {
    const status = response.status;
    if ([301, 302, 303, 307, 308].includes(status))
      return new GitLabHttpError(
        status,
        `${this.where(url)} was redirected (${status}); set GITLAB_URL to the address GitLab answers at`,
      );
    const text = await response.text().catch(() => '');
    let detail = text.trim().slice(0, 300);
    try {
      const parsed = JSON.parse(text) as Json;
      const said = parsed.message ?? parsed.error;
      if (said !== undefined) detail = typeof said === 'string' ? said : JSON.stringify(said);
    } catch {
      // Not JSON (a proxy's page): its first words.
    }
    if (!detail) detail = response.statusText;
    const said = detail.startsWith(String(status)) ? detail : `${status} ${detail}`;
    return new GitLabHttpError(status, `${said} (${this.where(url)})`);
  }

  /** A URL as errors name it: the API path, never a token (none is ever in a URL). */
  private where(url: string): string {
    return url.startsWith(this.web) ? url.slice(this.web.length) : url;
  }

  private async wrap<T>(what: string, repo: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof AirlockError) throw error;
      const status = error instanceof GitLabHttpError ? error.status : undefined;
      const hint =
        status === 401
          ? ' Check GITLAB_TOKEN.'
          : status === 403 || status === 404
            ? ' Check that the token (api scope, Developer role) may read merge requests, notes and pipelines, and write notes and commit statuses on this project.'
            : '';
      const cause = (error as { cause?: { message?: string } }).cause?.message;
      const message = `${(error as Error).message}${cause ? ` (${cause})` : ''}`.replace(/\.$/, '');
      throw new AirlockError('forge_failed', `GitLab: could not ${what} ${repo}: ${message}.${hint}`, {
        cause: error,
      });
    }
  }
}

/** The next page's URL: `x-next-page` on `url`, else the query of the Link header's rel="next". */
function nextPage(url: string, response: Response): string | undefined {
  const next = response.headers.get('x-next-page');
  if (next !== null) {
    if (!/^\d+$/.test(next)) return undefined;
    const u = new URL(url);
    u.searchParams.set('page', next);
    return u.toString();
  }
  const link = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get('link') ?? '')?.[1];
  if (!link) return undefined;
  // GitLab builds the link from its external URL; the query is what matters, sent to GITLAB_URL.
  const u = new URL(url);
  u.search = new URL(link, url).search;
  return u.toString();
}

function later(a: string | null, b: string | undefined): string | null {
  const t = b ? Date.parse(b) : Number.NaN;
  if (Number.isNaN(t)) return a;
  return !a || t > Date.parse(a) ? new Date(t).toISOString() : a;
}

const username = (user: unknown) => String((user as { username?: string } | null)?.username ?? 'ghost');

function note(n: Json, number: number, webUrl: string): ForgeComment {
  const position = (n.type === 'DiffNote' ? n.position : undefined) as Json | undefined;
  const line = position?.new_line ?? position?.old_line;
  const path = position?.new_path ?? position?.old_path;
  return {
    id: `note:${n.id}`,
    number,
    author: username(n.author),
    body: String(n.body ?? ''),
    url: `${webUrl}#note_${n.id}`,
    createdAt: String(n.created_at ?? ''),
    ...(typeof path === 'string' ? { path } : {}),
    ...(typeof line === 'number' ? { line } : {}),
  };
}

function approval(a: Json, number: number, webUrl: string): ForgeReview {
  const who = username(a.user);
  return { id: `approval:${number}:${who}`, number, author: who, state: 'approved', body: '', url: webUrl };
}

function pullState(mr: Json, number: number): ForgePullState {
  const state = String(mr.state ?? '');
  const merged = state === 'merged';
  const by = merged ? (mr.merged_by ?? mr.merge_user) : state === 'closed' ? mr.closed_by : null;
  return {
    number,
    state: merged ? 'merged' : state === 'closed' || state === 'locked' ? 'closed' : 'open',
    headSha: String(mr.sha ?? ''),
    by: by ? username(by) : null,
  };
}

/** A CI status as a check's outcome: failed (unless allowed to fail) is a failure, unfinished is pending. */
function outcome(status: string, allowFailure: boolean): ForgeCheck['outcome'] {
  if (status === 'failed') return allowFailure ? 'success' : 'failure';
  return ['success', 'canceled', 'skipped'].includes(status) ? 'success' : 'pending';
}

function job(j: Json, number: number, sha: string): ForgeCheck {
  const reason = typeof j.failure_reason === 'string' ? j.failure_reason : '';
  return {
    id: `job:${j.id}`,
    number,
    sha,
    name: String(j.name ?? 'job'),
    outcome: outcome(String(j.status ?? ''), j.allow_failure === true),
    url: String(j.web_url ?? ''),
    logRef: String(j.id),
    summary: reason ? `The job failed: ${reason.replaceAll('_', ' ')}.` : '',
  };
}

function commitStatus(s: Json, number: number, sha: string): ForgeCheck {
  return {
    id: `status:${s.name}:${sha}`,
    number,
    sha,
    name: String(s.name ?? 'status'),
    outcome: outcome(String(s.status ?? ''), s.allow_failure === true),
    url: String(s.target_url ?? ''),
    summary: String(s.description ?? ''),
  };
}

/** ANSI escape sequences (colours, erase-line): ESC [ params letter. */
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*[A-Za-z]`, 'g');

/** A job log as text: without the ANSI colours and collapsible-section markers GitLab's runner writes. */
function plainLog(raw: string): string {
  return raw
    .replace(/section_(?:start|end):\d+:[^\r\n]*?\r/g, '')
    .replace(ANSI, '')
    .replace(/\r\n/g, '\n')
    .replace(/\r/g, '\n');
}

function tail(text: string, bytes: number): string {
  const buf = Buffer.from(text, 'utf8');
  return buf.length <= bytes ? text : `…${buf.subarray(buf.length - bytes).toString('utf8')}`;
}
