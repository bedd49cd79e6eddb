// Users of the GitLab stand-in: the token's user (airlock-bot, a Developer of every project) and the
// people a test adds (reviewers, committers). GET /users answers a non-admin with Entities::UserBasic,
// which has no public_email; only GET /users/:id (Entities::User) shows it.

import { GitLabError, type Json, paginate, paramError } from './json.js';
import type { Handler } from './rest.js';

export interface GitLabUser {
  id: number;
  username: string;
  name: string;
  publicEmail: string | null;
  createdAt: string;
}

// GET /users parameters a non-admin may use; the admin-only ones GitLab drops silently for them.
const LIST_PARAMS = ['username', 'search', 'active', 'page', 'per_page'];
const ADMIN_ONLY = ['created_after', 'created_before', 'order_by', 'sort', 'two_factor', 'without_projects'];

export class GitLabUsers {
  private readonly all: GitLabUser[] = [];
  readonly bot: GitLabUser;

  constructor(
    private readonly base: string,
    private readonly problems: string[],
  ) {
    this.bot = this.add('airlock-bot', { name: 'Airlock Bot' });
  }

  add(username: string, opts: { publicEmail?: string; name?: string } = {}): GitLabUser {
    if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(username)) throw new Error(`bad GitLab username ${username}`);
    if (this.find(username)) throw new Error(`GitLab user ${username} already exists`);
    const user: GitLabUser = {
      id: this.all.length + 1,
      username,
      name: opts.name ?? username,
      publicEmail: opts.publicEmail ?? null,
      createdAt: new Date().toISOString(),
    };
    this.all.push(user);
    return user;
  }

  /** A test hook naming someone not added yet gets them made on the spot. */
  ensure(username: string): GitLabUser {
    return this.find(username) ?? this.add(username);
  }

  /** Usernames are unique regardless of case, as GitLab's. */
  find(username: string): GitLabUser | undefined {
    return this.all.find((u) => u.username.toLowerCase() === username.toLowerCase());
  }

  byId(id: number): GitLabUser {
    const u = this.all.find((x) => x.id === id);
    if (!u) throw new Error(`no fake GitLab user ${id}`);
    return u;
  }

  /** Entities::UserBasic. */
  basic(u: GitLabUser): Json {
    return {
      id: u.id,
      username: u.username,
      name: u.name,
      state: 'active',
      locked: false,
      avatar_url: null,
      web_url: `${this.base}/${u.username}`,
    };
  }

  /** Entities::User, what GET /users/:id shows another user. */
  full(u: GitLabUser): Json {
    return {
      ...this.basic(u),
      created_at: u.createdAt,
      ...{ bio: '', location: '', public_email: u.publicEmail, linkedin: '', twitter: '', discord: '' },
      ...{ website_url: '', github: '', organization: '', job_title: '', pronouns: null, bot: false },
      ...{ work_information: null, followers: 0, following: 0, is_followed: false, local_time: null },
    };
  }

  match(method: string, segs: string[]): Handler | undefined {
    if (method !== 'GET' || segs[0] !== 'users' || segs.length > 2) return undefined;
    if (segs.length === 1)
      return async ({ params, url, headers, authenticated }) => {
        for (const k of Object.keys(params)) {
          if (ADMIN_ONLY.includes(k))
            this.problems.push(`GET /users: GitLab drops "${k}" for a non-administrator`);
          else if (!LIST_PARAMS.includes(k)) this.problems.push(`GET /users: "${k}" is not modelled here`);
        }
        const username = typeof params.username === 'string' ? params.username : undefined;
        if (!authenticated && !username)
          throw new GitLabError(403, { message: '403 Forbidden - Not authorized to access /api/v4/users' });
        const search = typeof params.search === 'string' ? params.search.toLowerCase() : undefined;
        const users = this.all
          .filter((u) => username === undefined || u.username.toLowerCase() === username.toLowerCase())
          .filter((u) => !search || `${u.username}\n${u.name}`.toLowerCase().includes(search))
          .sort((a, b) => b.id - a.id);
        return { status: 200, json: paginate(users, url, headers).map((u) => this.basic(u)) };
      };
    return async ({ authenticated }) => {
      if (!authenticated) throw new GitLabError(403, { message: '403 Forbidden - Not authorized!' });
      if (!/^\d+$/.test(segs[1] ?? '')) throw paramError('id is invalid');
      const user = this.all.find((u) => u.id === Number(segs[1]));
      if (!user) throw new GitLabError(404, { message: '404 User Not Found' });
      return { status: 200, json: this.full(user) };
    };
  }
}
