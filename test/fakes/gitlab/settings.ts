// Project settings a doctor check reads from the GitLab stand-in: protected branches (GitLab Free; any
// member with read_code may read them) and external status checks (Ultimate: EE answers 401 without the
// license, CE has no such route).
import type { WatchContext } from './context.js';
import type { Tier } from './conversation.js';
import type { GitLabRepo } from './git.js';
import { GitLabError, type Json, paginate } from './json.js';
import type { Handler } from './rest.js';

export interface ExternalStatusCheck {
  id: number;
  projectId: number;
  name: string;
  externalUrl: string;
  protectedBranches: string[];
  hmac: boolean;
}

export class ProjectSettings {
  readonly statusChecks: ExternalStatusCheck[] = [];

  constructor(
    private readonly ctx: WatchContext,
    private readonly tier: Tier,
  ) {}

  match(method: string, id: string, rest: string[]): Handler | undefined {
    if (method !== 'GET') return undefined;
    if (rest[0] === 'protected_branches' && rest.length <= 2)
      return async ({ params, url, headers, authenticated }) => {
        const r = this.ctx.project(id, authenticated);
        if (rest.length === 2) {
          const i = r.protectedBranches.indexOf(rest[1] ?? '');
          if (i < 0) throw new GitLabError(404, { message: '404 Not found' });
          return { status: 200, json: this.protectedBranch(r, i) };
        }
        this.ctx.flagUnknown(`GET ${url.pathname}`, params, ['search', 'page', 'per_page']);
        const search = typeof params.search === 'string' ? params.search : '';
        const found = r.protectedBranches
          .map((_, i) => i)
          .filter((i) => r.protectedBranches[i]?.includes(search));
        return { status: 200, json: paginate(found, url, headers).map((i) => this.protectedBranch(r, i)) };
      };
    if (rest[0] === 'external_status_checks' && rest.length === 1) {
      if (this.tier === 'ce')
        return async () => {
          throw new GitLabError(404, { error: '404 Not Found' }); // a FOSS install has no such route
        };
      return async ({ url, headers, authenticated }) => {
        if (!authenticated) throw new GitLabError(401, { message: '401 Unauthorized' });
        const r = this.ctx.project(id, true);
        if (this.tier !== 'ultimate') throw new GitLabError(401, { message: '401 Unauthorized' });
        const list = this.statusChecks.filter((c) => c.projectId === r.id);
        return { status: 200, json: paginate(list, url, headers).map((c) => this.statusCheck(r, c)) };
      };
    }
    return undefined;
  }

  addStatusCheck(r: GitLabRepo, spec: { name: string; externalUrl: string; protectedBranches?: string[] }) {
    for (const b of spec.protectedBranches ?? [])
      if (!r.protectedBranches.includes(b)) throw new Error(`${b} is not a protected branch of ${r.path}`);
    const check: ExternalStatusCheck = {
      id: this.ctx.nextId('status-check'),
      projectId: r.id,
      name: spec.name,
      externalUrl: spec.externalUrl,
      protectedBranches: spec.protectedBranches ?? [],
      hmac: false,
    };
    this.statusChecks.push(check);
    return check;
  }

  /** Entities::ProtectedBranch (EE): the fake's protections are GitLab's defaults, Maintainers only. */
  private protectedBranch(r: GitLabRepo, i: number): Json {
    const id = r.id * 1000 + i + 1;
    const level = (n: number, extra: Json = {}) => ({
      id: id * 10 + n,
      access_level: 40,
      access_level_description: 'Maintainers',
      ...extra,
      user_id: null,
      group_id: null,
    });
    return {
      id,
      name: r.protectedBranches[i],
      push_access_levels: [level(1, { deploy_key_id: null })],
      merge_access_levels: [level(2)],
      allow_force_push: false,
      unprotect_access_levels: [],
      code_owner_approval_required: false,
    };
  }

  private statusCheck(r: GitLabRepo, c: ExternalStatusCheck): Json {
    return {
      ...{ id: c.id, name: c.name, project_id: r.id, external_url: c.externalUrl, hmac: c.hmac },
      protected_branches: c.protectedBranches.map((name) => {
        const i = r.protectedBranches.indexOf(name);
        return {
          ...{ id: r.id * 1000 + i + 1, project_id: r.id, name, created_at: r.createdAt },
          ...{ updated_at: r.createdAt, code_owner_approval_required: false },
        };
      }),
    };
  }
}
