// GitHub App side of the GitHub stand-in: RS256 JWTs for the app endpoints, installation access tokens
// scoped to repositories and permissions, and enforcement of that scope on REST and on git over HTTP.
import {
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  randomInt,
  verify,
} from 'node:crypto';
import type { GitGrant, GitRepo, GitRepos } from './git-http-backend.js';
import { page } from './github-listing.js';

export type AppPermissionLevel = 'read' | 'write';
export interface FakeGitHubAppSpec {
  appId: number;
  /** The app's private key; the fake verifies JWTs with the public half. */
  privateKeyPem: string;
  installations: Array<{ id: number; account: string; repos: string[] /* 'owner/name' */ }>;
  /** What the app was granted; default: what airlock's App is set up with (DEFAULT_PERMISSIONS). */
  permissions?: Record<string, AppPermissionLevel>;
  slug?: string;
}
export interface AppTokenRequest {
  installationId: number;
  repositories?: string[];
  repositoryIds?: number[];
  permissions?: Record<string, string>;
  status: number;
}
export interface InstallationToken {
  token: string;
  installationId: number;
  repoIds: Set<number>;
  permissions: Record<string, AppPermissionLevel>;
  expiresAt: number;
  expired: boolean;
}
type Json = Record<string, unknown>;
type Reply = { status: number; json: unknown };
type Fail = (status: number, message: string, doc?: string) => unknown;

export function generateAppKeyPair(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

const DOCS = 'https://docs.github.com/rest';
const DOC_APPS = `${DOCS}/apps/apps`;
const DOC_TOKEN = `${DOC_APPS}#create-an-installation-access-token-for-an-app`;
// What the airlock App is set up with (README: GitHub App).
const DEFAULT_PERMISSIONS: Record<string, AppPermissionLevel> = {
  contents: 'write',
  pull_requests: 'write',
  issues: 'write',
  statuses: 'write',
  checks: 'read',
  actions: 'read',
  metadata: 'read',
};
const RANK: Record<string, number> = { read: 1, write: 2 };
const rank = (level: string | undefined) => RANK[level ?? ''] ?? 0;
const NOT_DECODED = 'A JSON web token could not be decoded';
const BAD_IAT =
  "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued";
const BAD_EXP =
  "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires";
const FAR_EXP = "'Expiration time' claim ('exp') is too far in the future";
const BASE62 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const isoSeconds = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
const APP_ROUTE =
  /^\/(?:app(?:\/.*)?|repos\/[^/]+\/[^/]+\/installation|orgs\/[^/]+\/installation|users\/[^/]+\/installation)$/;

function decodePart(part: string | undefined): Json | undefined {
  if (!part || !/^[A-Za-z0-9_-]+$/.test(part)) return undefined;
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
  } catch {
    return undefined;
  }
}

/** The app, its installations and the installation tokens it minted, for one fake GitHub server. */
export class FakeGitHubApp {
  readonly tokenRequests: AppTokenRequest[] = [];
  readonly slug: string;
  readonly permissions: Record<string, AppPermissionLevel>;
  readonly bot: Json;
  private readonly publicKey: KeyObject;
  private readonly tokens = new Map<string, InstallationToken>();
  private readonly installations: Array<{ id: number; account: string; repos: GitRepo[]; createdAt: string }>;
  private readonly createdAt = isoSeconds(Date.now());

  constructor(
    readonly spec: FakeGitHubAppSpec,
    private readonly deps: {
      git: GitRepos;
      fail: Fail;
      repoJson(r: GitRepo): Json;
      apiUrl: string;
      webUrl: string;
    },
  ) {
    this.publicKey = createPublicKey(spec.privateKeyPem);
    this.slug = spec.slug ?? 'airlock-app';
    this.permissions = { ...(spec.permissions ?? DEFAULT_PERMISSIONS), metadata: 'read' };
    const id = 41000000 + spec.appId;
    this.bot = { login: `${this.slug}[bot]`, id, node_id: `BOT_${id}`, type: 'Bot', site_admin: false };
    const accounts = new Set<string>();
    this.installations = spec.installations.map((inst) => {
      if (accounts.has(inst.account.toLowerCase())) throw new Error(`app installed twice on ${inst.account}`);
      accounts.add(inst.account.toLowerCase());
      const repos = inst.repos.map((full) => {
        const [owner = '', name = ''] = full.split('/');
        const repo = deps.git.find(owner, name);
        if (!repo) throw new Error(`installation ${inst.id}: no fake repo ${full}`);
        if (owner.toLowerCase() !== inst.account.toLowerCase())
          throw new Error(`installation ${inst.id} on ${inst.account} cannot hold ${full}`);
        return repo;
      });
      return { id: inst.id, account: inst.account, repos, createdAt: this.createdAt };
    });
  }

  /** Endpoints that only a JWT may call (auth-app sends the JWT to exactly these). */
  isAppRoute(apiPath: string): boolean {
    return APP_ROUTE.test(apiPath);
  }

  /** Verifies `Bearer <JWT>` as GitHub does; throws 401 with GitHub's messages. */
  verifyJwt(cred: string | undefined): void {
    const { fail } = this.deps;
    const [h, p, s, ...extra] = (cred ?? '').split('.');
    const header = decodePart(h);
    const claims = decodePart(p);
    if (!header || !claims || !s || extra.length > 0 || header.alg !== 'RS256') throw fail(401, NOT_DECODED);
    const iss = claims.iss;
    if (String(iss) !== String(this.spec.appId) || (typeof iss !== 'number' && typeof iss !== 'string'))
      throw fail(401, NOT_DECODED);
    const signed = verify('sha256', Buffer.from(`${h}.${p}`), this.publicKey, Buffer.from(s, 'base64url'));
    if (!signed) throw fail(401, NOT_DECODED);
    const now = Math.floor(Date.now() / 1000);
    const { iat, exp } = claims;
    if (typeof iat !== 'number' || !Number.isInteger(iat) || iat > now + 60) throw fail(401, BAD_IAT);
    if (typeof exp !== 'number' || exp <= now) throw fail(401, BAD_EXP);
    if (exp - iat > 600 || exp > now + 600) throw fail(401, FAR_EXP);
  }

  /** The live installation token `cred`, or undefined (unknown or expired: "Bad credentials"). */
  installationToken(cred: string | undefined): InstallationToken | undefined {
    const t = cred === undefined ? undefined : this.tokens.get(cred);
    if (!t || t.expired || Date.now() >= t.expiresAt) return undefined;
    return t;
  }

  /** REST access of an installation token to a repository: hidden (404) or missing permission (403). */
  authorize(
    t: InstallationToken,
    repo: GitRepo,
    need: { permission: string; level: AppPermissionLevel; doc: string },
    headers: Record<string, string>,
  ): void {
    if (!t.repoIds.has(repo.id))
      throw this.deps.fail(404, 'Not Found', `${DOCS}/repos/repos#get-a-repository`);
    if (rank(t.permissions[need.permission]) < rank(need.level)) {
      headers['x-accepted-github-permissions'] = `${need.permission}=${need.level}`;
      throw this.deps.fail(403, 'Resource not accessible by integration', need.doc);
    }
  }

  /** What an installation token may do over git: see/fetch/push only its repositories, per `contents`. */
  gitGrant(password: string): GitGrant | undefined {
    const t = this.installationToken(password);
    if (!t) return undefined;
    const contents = rank(t.permissions.contents);
    return {
      login: `${this.slug}[bot]`,
      visible: (r) => t.repoIds.has(r.id),
      read: () => contents >= 1,
      write: () => contents >= 2,
    };
  }

  /** Test hook: every token minted so far now answers 401. */
  expireTokens(): void {
    for (const t of this.tokens.values()) t.expired = true;
  }

  // ---- JSON renderings ------------------------------------------------------------------------------
  private accountJson(login: string): Json {
    const id = 7000 + [...login].reduce((n, c) => (n * 31 + c.charCodeAt(0)) % 100000, 0);
    return {
      login,
      id,
      node_id: `O_${login}`,
      type: 'Organization',
      site_admin: false,
      url: `${this.deps.apiUrl}/users/${login}`,
      html_url: `${this.deps.webUrl}/${login}`,
    };
  }

  private installationJson(inst: FakeGitHubApp['installations'][number]): Json {
    const account = this.accountJson(inst.account);
    return {
      id: inst.id,
      client_id: `Iv1.${this.spec.appId.toString(16).padStart(16, '0')}`,
      account,
      repository_selection: 'selected',
      access_tokens_url: `${this.deps.apiUrl}/app/installations/${inst.id}/access_tokens`,
      repositories_url: `${this.deps.apiUrl}/installation/repositories`,
      html_url: `${this.deps.webUrl}/organizations/${inst.account}/settings/installations/${inst.id}`,
      app_id: this.spec.appId,
      app_slug: this.slug,
      target_id: account.id,
      target_type: 'Organization',
      permissions: this.permissions,
      events: ['pull_request', 'push'],
      ...{ created_at: inst.createdAt, updated_at: inst.createdAt, single_file_name: null },
      ...{ has_multiple_single_files: false, single_file_paths: [], suspended_by: null, suspended_at: null },
    };
  }

  private appJson(): Json {
    return {
      id: this.spec.appId,
      slug: this.slug,
      client_id: `Iv1.${this.spec.appId.toString(16).padStart(16, '0')}`,
      node_id: `A_${this.spec.appId}`,
      owner: this.accountJson(this.installations[0]?.account ?? 'airlock'),
      name: this.slug,
      description: '',
      external_url: `${this.deps.webUrl}/apps/${this.slug}`,
      html_url: `${this.deps.webUrl}/apps/${this.slug}`,
      ...{ created_at: this.createdAt, updated_at: this.createdAt },
      permissions: this.permissions,
      events: ['pull_request', 'push'],
      installations_count: this.installations.length,
    };
  }

  // ---- routes (called after verifyJwt) ---------------------------------------------------------------
  async route(method: string, segs: string[], body: Json, url: URL, headers: Record<string, string>) {
    const { fail } = this.deps;
    const [top, a, b, c, d] = segs;
    const findInst = (id: string | undefined) =>
      /^\d+$/.test(id ?? '') ? this.installations.find((i) => i.id === Number(id)) : undefined;
    if (top === 'app' && method === 'GET' && segs.length === 1) return { status: 200, json: this.appJson() };
    if (top === 'app' && a === 'installations' && method === 'GET' && segs.length === 2)
      return this.listInstallations(url, headers);
    if (top === 'app' && a === 'installations' && method === 'GET' && segs.length === 3) {
      const inst = findInst(b);
      if (!inst) throw fail(404, 'Not Found', `${DOC_APPS}#get-an-installation-for-the-authenticated-app`);
      return { status: 200, json: this.installationJson(inst) };
    }
    if (top === 'app' && a === 'installations' && c === 'access_tokens' && segs.length === 4) {
      if (method !== 'POST') return undefined;
      return this.createToken(findInst(b), Number(b), body);
    }
    if (top !== 'app' && method === 'GET' && segs.at(-1) === 'installation') {
      const doc = `${DOC_APPS}#get-a-${top === 'repos' ? 'repository' : top === 'orgs' ? 'organization' : 'user'}-installation-for-the-authenticated-app`;
      const repo = top === 'repos' ? this.deps.git.find(a ?? '', b ?? '') : undefined;
      const inst = this.installations.find((i) =>
        top === 'repos'
          ? repo !== undefined && i.repos.includes(repo)
          : i.account.toLowerCase() === (a ?? '').toLowerCase() && d === undefined,
      );
      if (!inst) throw fail(404, 'Not Found', doc);
      return { status: 200, json: this.installationJson(inst) };
    }
    return undefined;
  }

  private listInstallations(url: URL, headers: Record<string, string>): Reply {
    return { status: 200, json: page(this.installations, url, headers).map((i) => this.installationJson(i)) };
  }

  /** GET /installation/repositories with an installation token: the repositories that token reaches. */
  tokenRepositories(t: InstallationToken, url: URL, headers: Record<string, string>): Reply {
    const repos = this.installations.flatMap((i) => i.repos).filter((r) => t.repoIds.has(r.id));
    const repositories = page(repos, url, headers).map((r) => this.deps.repoJson(r));
    return {
      status: 200,
      json: { total_count: repos.length, repository_selection: 'selected', repositories },
    };
  }

  private createToken(inst: FakeGitHubApp['installations'][number] | undefined, id: number, body: Json) {
    const { repositories, repository_ids: ids, permissions } = body;
    const record: AppTokenRequest = { installationId: id, status: 0 };
    if (Array.isArray(repositories)) record.repositories = repositories as string[];
    if (Array.isArray(ids)) record.repositoryIds = ids as number[];
    if (permissions && typeof permissions === 'object')
      record.permissions = permissions as Record<string, string>;
    this.tokenRequests.push(record);
    try {
      const reply = this.mint(inst, body);
      record.status = reply.status;
      return reply;
    } catch (err) {
      record.status = (err as { status?: number }).status ?? 500;
      throw err;
    }
  }

  private mint(inst: FakeGitHubApp['installations'][number] | undefined, body: Json): Reply {
    const { fail } = this.deps;
    if (!inst) throw fail(404, 'Not Found', DOC_TOKEN);
    const { repositories, repository_ids: ids, permissions } = body;
    const badType =
      (repositories !== undefined &&
        (!Array.isArray(repositories) || repositories.some((r) => typeof r !== 'string'))) ||
      (ids !== undefined && (!Array.isArray(ids) || ids.some((r) => !Number.isInteger(r)))) ||
      (permissions !== undefined &&
        (typeof permissions !== 'object' ||
          permissions === null ||
          Array.isArray(permissions) ||
          Object.values(permissions).some((v) => typeof v !== 'string')));
    if (badType) throw fail(400, 'Problems parsing JSON', DOC_TOKEN);
    const wanted = [
      ...((repositories as string[] | undefined) ?? []).map(
        (n) => (r: GitRepo) => r.name.toLowerCase() === n.toLowerCase(),
      ),
      ...((ids as number[] | undefined) ?? []).map((n) => (r: GitRepo) => r.id === n),
    ];
    const chosen = new Set<GitRepo>();
    for (const matches of wanted) {
      const r = inst.repos.find(matches);
      if (!r)
        throw fail(
          422,
          'There is at least one repository that does not exist or is not accessible to the parent installation.',
          DOC_TOKEN,
        );
      chosen.add(r);
    }
    const asked = (permissions as Record<string, string> | undefined) ?? {};
    for (const [name, level] of Object.entries(asked)) {
      const granted = rank(this.permissions[name]);
      if (!rank(level) || (name === 'metadata' && level !== 'read') || rank(level) > granted)
        throw fail(422, 'The permissions requested are not granted to this installation.', DOC_TOKEN);
    }
    const scoped = Object.keys(asked).length > 0;
    const perms: Record<string, AppPermissionLevel> = scoped
      ? { ...(asked as Record<string, AppPermissionLevel>), metadata: 'read' }
      : { ...this.permissions };
    const restricted = chosen.size > 0;
    const repos = restricted ? [...chosen] : inst.repos;
    let token = 'ghs_';
    for (let i = 0; i < 36; i++) token += BASE62[randomInt(BASE62.length)];
    if (this.tokens.has(token)) token = `ghs_${randomBytes(18).toString('hex')}`;
    const expiresAt = Math.floor((Date.now() + 3600_000) / 1000) * 1000;
    this.tokens.set(token, {
      token,
      installationId: inst.id,
      repoIds: new Set(repos.map((r) => r.id)),
      permissions: perms,
      expiresAt,
      expired: false,
    });
    const json: Json = {
      token,
      expires_at: isoSeconds(expiresAt),
      permissions: perms,
      repository_selection: 'selected',
    };
    if (restricted) json.repositories = repos.map((r) => this.deps.repoJson(r));
    return { status: 201, json };
  }
}
