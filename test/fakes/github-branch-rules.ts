// What a branch requires before merging, on the GitHub stand-in: classic branch protection's required
// status checks (readable only with admin rights, or an App's administration permission) and the
// rules of repository rulesets (readable by anyone who can read the repository).
import type { GitRepo, GitRepos } from './git-http-backend.js';
import { DOCS, type Fail, type Json, onlyParams, page, type Reply, type RouteCtx } from './github-listing.js';

export interface RequiredChecksSpec {
  owner: string;
  repo: string;
  /** A branch the repository spec protects (FakeRepoSpec.protectedBranches). */
  branch: string;
  /** Status check contexts, any source (app_id null). */
  contexts?: string[];
  /** Checks expected from one app (app_id), as set with the "checks" form of the API. */
  checks?: Array<{ context: string; app_id?: number | null }>;
  /** "Require branches to be up to date before merging". */
  strict?: boolean;
}
export interface RulesetSpec {
  owner: string;
  repo: string;
  /** Ref name conditions: '~DEFAULT_BRANCH', '~ALL' or 'refs/heads/<fnmatch pattern>'; default ['~DEFAULT_BRANCH']. */
  include?: string[];
  exclude?: string[];
  enforcement?: 'active' | 'evaluate' | 'disabled';
  requiredStatusChecks: Array<{ context: string; integration_id?: number }>;
  strict?: boolean;
}

interface Ruleset {
  id: number;
  repoId: number;
  include: string[];
  exclude: string[];
  enforcement: string;
  checks: Array<{ context: string; integration_id?: number }>;
  strict: boolean;
}

const DOC_PROTECTION = `${DOCS}/branches/branch-protection#get-status-checks-protection`;
const DOC_RULES = `${DOCS}/repos/rules#get-rules-for-a-branch`;

/** fnmatch as rulesets use it: `*` within a path segment, `**` across them. */
function fnmatch(pattern: string, name: string): boolean {
  const re = pattern
    .split('**')
    .map((part) =>
      part
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '[^/]'),
    )
    .join('.*');
  return new RegExp(`^${re}$`).test(name);
}

export class BranchRules {
  private readonly required = new Map<
    string,
    { strict: boolean; checks: Array<{ context: string; app_id: number | null }> }
  >();
  private readonly rulesets: Ruleset[] = [];
  private nextRulesetId = 7001;

  constructor(
    private readonly deps: {
      fail: Fail;
      apiUrl: string;
      git: GitRepos;
      problems: string[];
      mustRepo(owner: string, name: string): GitRepo;
    },
  ) {}

  // ---- REST ---------------------------------------------------------------------------------------
  /** `installation`: the credential is an App installation token (else the server's non-admin bot). */
  async route(ctx: RouteCtx, installation: boolean): Promise<Reply | undefined> {
    const [what, ...rest] = ctx.segs;
    if (ctx.method !== 'GET') return undefined;
    const tail = rest.slice(-2).join('/');
    if (what === 'branches' && rest.length > 2 && tail === 'protection/required_status_checks')
      return this.requiredChecks(ctx, rest.slice(0, -2).join('/'), installation);
    if (what === 'rules' && rest[0] === 'branches' && rest.length > 1) {
      ctx.need('metadata', 'read', DOC_RULES);
      onlyParams(ctx.url, [], this.deps.problems);
      const rules = this.rulesFor(ctx.r, rest.slice(1).join('/'));
      return { status: 200, json: page(rules, ctx.url, ctx.headers) };
    }
    return undefined;
  }

  private async requiredChecks(ctx: RouteCtx, branch: string, installation: boolean): Promise<Reply> {
    const { fail } = this.deps;
    ctx.need('administration', 'read', DOC_PROTECTION);
    // Branch protection is for repository admins: to the server's bot (push, not admin, as
    // GET /repos/{owner}/{repo} says) GitHub answers as if there were nothing there.
    if (!installation) throw fail(404, 'Not Found', DOC_PROTECTION);
    onlyParams(ctx.url, [], this.deps.problems);
    const { r } = ctx;
    if (!(await this.deps.git.branchSha(r, branch))) throw fail(404, 'Branch not found', DOC_PROTECTION);
    if (!r.protectedBranches.includes(branch)) throw fail(404, 'Branch not protected', DOC_PROTECTION);
    const req = this.required.get(`${r.id}:${branch}`);
    if (!req) throw fail(404, 'Required status checks not enabled', DOC_PROTECTION);
    const url = `${this.deps.apiUrl}/repos/${r.owner}/${r.name}/branches/${branch}/protection/required_status_checks`;
    const json = {
      url,
      strict: req.strict,
      contexts: req.checks.map((c) => c.context),
      contexts_url: `${url}/contexts`,
      checks: req.checks,
    };
    return { status: 200, json };
  }

  /** The active rules of the repository's rulesets that apply to `branch` (which need not exist). */
  private rulesFor(r: GitRepo, branch: string): Json[] {
    const matches = (cond: string) =>
      cond === '~ALL' ||
      (cond === '~DEFAULT_BRANCH' && branch === r.defaultBranch) ||
      (cond.startsWith('refs/heads/') && fnmatch(cond.slice('refs/heads/'.length), branch));
    return this.rulesets
      .filter((s) => s.repoId === r.id && s.enforcement === 'active')
      .filter((s) => s.include.some(matches) && !s.exclude.some(matches))
      .map((s) => ({
        type: 'required_status_checks',
        ruleset_source_type: 'Repository',
        ruleset_source: `${r.owner}/${r.name}`,
        ruleset_id: s.id,
        parameters: {
          strict_required_status_checks_policy: s.strict,
          do_not_enforce_on_create: false,
          required_status_checks: s.checks,
        },
      }));
  }

  /** What GET /branches/{branch} shows of protection to anyone who can read the repository. */
  branchProtection(r: GitRepo, branch: string): Json {
    const req = this.required.get(`${r.id}:${branch}`);
    const enabled = r.protectedBranches.includes(branch);
    return {
      enabled,
      required_status_checks: {
        enforcement_level: req ? 'non_admins' : 'off',
        contexts: req?.checks.map((c) => c.context) ?? [],
        checks: req?.checks ?? [],
      },
    };
  }

  // ---- test hooks -----------------------------------------------------------------------------------
  /** An admin requires status checks on a protected branch. */
  requireStatusChecks(spec: RequiredChecksSpec): void {
    const r = this.deps.mustRepo(spec.owner, spec.repo);
    if (!r.protectedBranches.includes(spec.branch))
      throw new Error(
        `${spec.branch} is not protected: list it in FakeRepoSpec.protectedBranches (pushes to it are refused too)`,
      );
    const checks = [
      ...(spec.contexts ?? []).map((context) => ({ context, app_id: null })),
      ...(spec.checks ?? []).map((c) => ({ context: c.context, app_id: c.app_id ?? null })),
    ];
    if (checks.length === 0) throw new Error('GitHub: required status checks need at least one check');
    this.required.set(`${r.id}:${spec.branch}`, { strict: spec.strict ?? false, checks });
  }

  /** An admin adds a repository ruleset requiring status checks; returns its id. */
  addRuleset(spec: RulesetSpec): number {
    const r = this.deps.mustRepo(spec.owner, spec.repo);
    const conds = [...(spec.include ?? ['~DEFAULT_BRANCH']), ...(spec.exclude ?? [])];
    const bad = conds.find((c) => c !== '~ALL' && c !== '~DEFAULT_BRANCH' && !c.startsWith('refs/heads/'));
    if (bad)
      throw new Error(
        `GitHub: a branch ruleset condition is ~ALL, ~DEFAULT_BRANCH or refs/heads/…, not ${bad}`,
      );
    if (spec.requiredStatusChecks.length === 0)
      throw new Error('GitHub: the required_status_checks rule needs at least one check');
    const id = this.nextRulesetId++;
    this.rulesets.push({
      id,
      repoId: r.id,
      include: spec.include ?? ['~DEFAULT_BRANCH'],
      exclude: spec.exclude ?? [],
      enforcement: spec.enforcement ?? 'active',
      checks: spec.requiredStatusChecks,
      strict: spec.strict ?? false,
    });
    return id;
  }
}
