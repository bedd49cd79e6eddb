import type {
  ConversationCursor,
  PullRequestStore,
  WatchedFields,
  WatchedPullRequest,
} from '../runs/ports/pull-requests.js';
import type { Db } from './database.js';

type Row = Record<string, unknown>;

/** The pull requests airlock follows and the polling cursors, in the runs' database. */
export class SqlitePullRequests implements PullRequestStore {
  constructor(
    private readonly db: Db,
    private readonly now: () => number = Date.now,
  ) {}

  recordPush(
    pr: Pick<WatchedPullRequest, 'repo' | 'number' | 'url' | 'branch' | 'base' | 'originRunId'>,
    head: string,
  ): WatchedPullRequest {
    return this.db.transaction(() => {
      const known = this.get(pr.repo, pr.number);
      const at = this.iso();
      if (!known) {
        this.db
          .prepare(
            `INSERT INTO pull_requests (repo, number, url, branch, base, origin_run_id, head_sha, pushed_heads, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(
            pr.repo,
            pr.number,
            pr.url,
            pr.branch,
            pr.base,
            pr.originRunId,
            head,
            JSON.stringify([head]),
            at,
            at,
          );
      } else {
        const heads = known.pushedHeads.includes(head) ? known.pushedHeads : [...known.pushedHeads, head];
        this.db
          .prepare(
            `UPDATE pull_requests SET head_sha = ?, pushed_heads = ?, state = 'open', updated_at = ? WHERE repo = ? AND number = ?`,
          )
          .run(head, JSON.stringify(heads), at, pr.repo, pr.number);
      }
      return this.must(pr.repo, pr.number);
    })();
  }

  get(repo: string, number: number): WatchedPullRequest | undefined {
    const row = this.db
      .prepare('SELECT * FROM pull_requests WHERE repo = ? AND number = ?')
      .get(repo, number);
    return row ? toWatched(row as Row) : undefined;
  }

  list(opts: { state?: WatchedPullRequest['state'] } = {}): WatchedPullRequest[] {
    const rows = opts.state
      ? this.db.prepare('SELECT * FROM pull_requests WHERE state = ? ORDER BY repo, number').all(opts.state)
      : this.db.prepare('SELECT * FROM pull_requests ORDER BY repo, number').all();
    return (rows as Row[]).map(toWatched);
  }

  update(repo: string, number: number, fields: WatchedFields): WatchedPullRequest {
    const sets: string[] = [];
    const values: unknown[] = [];
    const put = (column: string, value: unknown) => {
      sets.push(`${column} = ?`);
      values.push(value);
    };
    if (fields.state !== undefined) put('state', fields.state);
    if (fields.headSha !== undefined) put('head_sha', fields.headSha);
    if (fields.handled !== undefined) put('handled', JSON.stringify(fields.handled));
    if (fields.told !== undefined) put('told', JSON.stringify(fields.told));
    if (fields.fixAttempts !== undefined) put('fix_attempts', fields.fixAttempts);
    put('updated_at', this.iso());
    this.db
      .prepare(`UPDATE pull_requests SET ${sets.join(', ')} WHERE repo = ? AND number = ?`)
      .run(...values, repo, number);
    return this.must(repo, number);
  }

  cursor(repo: string): ConversationCursor | undefined {
    const row = this.db.prepare('SELECT data FROM forge_cursors WHERE repo = ?').get(repo) as Row | undefined;
    return row ? (JSON.parse(row.data as string) as ConversationCursor) : undefined;
  }

  saveCursor(repo: string, cursor: ConversationCursor): void {
    this.db
      .prepare(
        'INSERT INTO forge_cursors (repo, data) VALUES (?, ?) ON CONFLICT(repo) DO UPDATE SET data = excluded.data',
      )
      .run(repo, JSON.stringify(cursor));
  }

  private must(repo: string, number: number): WatchedPullRequest {
    const found = this.get(repo, number);
    if (!found) throw new Error(`pull request ${repo}#${number} is not recorded`);
    return found;
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }
}

function toWatched(row: Row): WatchedPullRequest {
  return {
    repo: row.repo as string,
    number: row.number as number,
    url: row.url as string,
    branch: row.branch as string,
    base: row.base as string,
    originRunId: row.origin_run_id as string,
    state: row.state as WatchedPullRequest['state'],
    headSha: row.head_sha as string,
    pushedHeads: JSON.parse(row.pushed_heads as string) as string[],
    handled: JSON.parse(row.handled as string) as string[],
    told: JSON.parse(row.told as string) as string[],
    fixAttempts: row.fix_attempts as number,
    createdAt: row.created_at as string,
  };
}
