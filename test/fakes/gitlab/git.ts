// Git side of the GitLab stand-in: bare repositories addressed by full project path (nested groups
// allowed), GitLab's pre-receive refusal of protected branches, and smart HTTP through the real
// `git http-backend` behind GitLab's Basic auth (any user name, the token as password).
import { chmod, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import {
  basicCredentials,
  createBareRepo,
  isolatedGitEnv,
  listRefs,
  type RefUpdate,
  refShaAt,
  runGit,
  serveGitHttp,
  takePushLog,
} from '../git-http-backend.js';

export const GITLAB_GIT_PATH = /^\/(.+?)(?:\.git)?\/(info\/refs|git-upload-pack|git-receive-pack)$/;

export interface GitLabProjectSpec {
  path: string;
  defaultBranch?: string;
  files?: Record<string, string>;
  /** Branch names or GitLab wildcards such as `release/*`; default: the default branch. */
  protectedBranches?: string[];
  /** Settings → Merge requests → "Pipelines must succeed" (only_allow_merge_if_pipeline_succeeds). */
  pipelinesMustSucceed?: boolean;
}
export interface GitLabRepo {
  id: number;
  path: string;
  name: string;
  namespace: string;
  defaultBranch: string;
  barePath: string;
  protectedBranches: string[];
  pipelinesMustSucceed: boolean;
  createdAt: string;
}
export interface CommitInfo {
  id: string;
  parentIds: string[];
  title: string;
  message: string;
  authorName: string;
  authorEmail: string;
  authoredDate: string;
  committerName: string;
  committerEmail: string;
  committedDate: string;
}

/** GitLab's protected-branch wildcard: `*` matches any run of characters, including `/`. */
const globSource = (p: string) =>
  `^${p
    .split('*')
    .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*')}$`;
export function isProtected(repo: GitLabRepo, branch: string): boolean {
  return repo.protectedBranches.some((p) => new RegExp(globSource(p)).test(branch));
}

// GitLab checks pushes in its pre-receive hook (/internal/allowed): one refused ref refuses the push.
const PRE_RECEIVE = (patterns: string[]) => `
'use strict';
const PATTERNS = ${JSON.stringify(patterns.map(globSource))}.map((s) => new RegExp(s));
let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  for (const line of input.split('\\n')) {
    const [, newSha, ref] = line.trim().split(' ');
    if (!ref || !ref.startsWith('refs/heads/') || !PATTERNS.some((re) => re.test(ref.slice(11)))) continue;
    process.stderr.write(/^0+$/.test(newSha)
      ? 'GitLab: You can only delete protected branches using the web interface.\\n'
      : 'GitLab: You are not allowed to push code to protected branches on this project.\\n');
    process.exit(1);
  }
});
`;

export class GitLabRepos {
  private readonly byPath = new Map<string, GitLabRepo>();
  private pushSeq = 0;
  readonly env: NodeJS.ProcessEnv;
  private constructor(readonly root: string) {
    this.env = isolatedGitEnv(root);
  }
  get reposRoot(): string {
    return join(this.root, 'repos');
  }
  get all(): GitLabRepo[] {
    return [...this.byPath.values()];
  }

  static async create(root: string, specs: GitLabProjectSpec[]): Promise<GitLabRepos> {
    const repos = new GitLabRepos(root);
    for (const spec of specs) {
      const segs = spec.path.split('/');
      if (segs.length < 2 || segs.some((s) => !/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(s) || s.endsWith('.git')))
        throw new Error(`bad GitLab project path ${spec.path}`);
      if (repos.find(spec.path)) throw new Error(`duplicate fake project ${spec.path}`);
      const defaultBranch = spec.defaultBranch ?? 'main';
      const protectedBranches = spec.protectedBranches ?? [defaultBranch];
      const barePath = join(repos.reposRoot, `${spec.path}.git`);
      const env = repos.env;
      await createBareRepo({ barePath, defaultBranch, files: spec.files ?? {}, protectedBranches: [], env });
      // GitLab hides its own refs from pushes ("deny updating a hidden ref"), not GitHub's refs/pull.
      await runGit(['config', '--unset-all', 'receive.hideRefs'], { cwd: barePath, env });
      for (const ref of ['refs/merge-requests', 'refs/pipelines', 'refs/environments', 'refs/keep-around'])
        await runGit(['config', '--add', 'receive.hideRefs', ref], { cwd: barePath, env });
      const hook = join(barePath, 'hooks', 'pre-receive');
      await writeFile(hook, `#!${process.execPath}\n${PRE_RECEIVE(protectedBranches)}`);
      await chmod(hook, 0o755);
      const repo: GitLabRepo = {
        id: repos.byPath.size + 1,
        path: spec.path,
        name: segs.at(-1) ?? spec.path,
        namespace: segs.slice(0, -1).join('/'),
        defaultBranch,
        barePath,
        protectedBranches,
        pipelinesMustSucceed: spec.pipelinesMustSucceed ?? false,
        createdAt: new Date().toISOString(),
      };
      repos.byPath.set(spec.path.toLowerCase(), repo);
    }
    return repos;
  }

  find(path: string): GitLabRepo | undefined {
    return this.byPath.get(path.toLowerCase());
  }

  async branchSha(repo: GitLabRepo, branch: string): Promise<string | undefined> {
    return (await listRefs(repo.barePath, this.env)).get(`refs/heads/${branch}`);
  }

  async setRef(repo: GitLabRepo, ref: string, sha: string): Promise<void> {
    await runGit(['update-ref', ref, sha], { cwd: repo.barePath, env: this.env });
  }

  async mergeBase(repo: GitLabRepo, a: string, b: string): Promise<string | undefined> {
    return runGit(['merge-base', a, b], { cwd: repo.barePath, env: this.env }).then(
      (out) => out.trim() || undefined,
      () => undefined,
    );
  }

  async changedFiles(repo: GitLabRepo, base: string, head: string): Promise<number> {
    const out = await runGit(['diff', '--name-only', base, head], { cwd: repo.barePath, env: this.env });
    return out.split('\n').filter(Boolean).length;
  }

  async commit(repo: GitLabRepo, sha: string): Promise<CommitInfo> {
    const format = ['%H', '%P', '%an', '%ae', '%aI', '%cn', '%ce', '%cI', '%B'].join('%x00');
    const out = await runGit(['show', '-s', `--format=${format}`, sha], {
      cwd: repo.barePath,
      env: this.env,
    });
    const [id = '', parents = '', an = '', ae = '', ad = '', cn = '', ce = '', cd = '', message = ''] =
      out.split('\0');
    return {
      id,
      parentIds: parents.split(' ').filter(Boolean),
      title: message.split('\n')[0] ?? '',
      message,
      ...{ authorName: an, authorEmail: ae, authoredDate: ad },
      ...{ committerName: cn, committerEmail: ce, committedDate: cd },
    };
  }

  refShaSync(repo: GitLabRepo, ref: string): string | undefined {
    return refShaAt(repo.barePath, ref, this.env);
  }

  /** Smart HTTP like GitLab's: Basic auth, any user name, the token as password. */
  async serve(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    match: RegExpExecArray,
    opts: {
      token: string;
      baseUrl: string;
      problems: string[];
      onPush(repo: GitLabRepo, updates: RefUpdate[]): Promise<void>;
    },
  ): Promise<number> {
    const [, path = '', action = ''] = match;
    const auth = req.headers.authorization ?? '';
    req.on('error', () => {});
    const reply = (status: number, body: string, headers: Record<string, string> = {}) => {
      req.resume();
      res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
      res.end(body);
      return status;
    };
    const credentials = basicCredentials(req);
    if (credentials?.password !== opts.token) {
      const help = `${opts.baseUrl}/help/topics/git/troubleshooting_git.md#error-on-git-fetch-http-basic-access-denied`;
      return reply(
        401,
        auth
          ? 'HTTP Basic: Access denied. If a password was provided for Git authentication, the password was ' +
              "incorrect or you're required to use a token instead of a password. If a token was provided, it " +
              `was either incorrect, expired, or improperly scoped. See ${help}\n`
          : '',
        { 'www-authenticate': 'Basic realm="GitLab"' },
      );
    }
    const repo = this.find(decodeURIComponent(path));
    const service = url.searchParams.get('service');
    const methodOk =
      action === 'info/refs'
        ? req.method === 'GET' && (service === 'git-upload-pack' || service === 'git-receive-pack')
        : req.method === 'POST';
    if (!repo || !methodOk) {
      if (repo) opts.problems.push(`unsupported git request ${req.method} ${url.pathname}${url.search}`);
      return reply(
        404,
        "The project you were looking for could not be found or you don't have permission to view it.\n",
      );
    }
    const isPush = action === 'git-receive-pack';
    const pushLog = join(this.root, `push-${++this.pushSeq}.log`);
    return serveGitHttp(req, res, {
      projectRoot: this.reposRoot,
      pathInfo: `/${repo.path}.git/${action}`,
      query: url.search.replace(/^\?/, ''),
      remoteUser: credentials.user || 'oauth2',
      env: isPush ? { ...this.env, FAKE_GITHUB_PUSH_LOG: pushLog } : this.env,
      beforeEnd: async () => {
        const updates = isPush ? await takePushLog(pushLog) : [];
        if (updates.length > 0) await opts.onPush(repo, updates);
      },
    });
  }
}
