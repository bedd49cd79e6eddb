// Git side of the GitHub stand-in: bare repositories on disk, the hooks that make them behave like
// GitHub (protected branches, push log), and a CGI bridge to the real `git http-backend`.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import type { FakeRepoSpec } from './github-server.js';

export const GIT_PATH = /^\/([^/]+)\/([^/]+?)(?:\.git)?\/(info\/refs|git-upload-pack|git-receive-pack)$/;

export interface RefUpdate {
  ref: string;
  oldSha: string;
  newSha: string;
}

/** Environment for every server-side git process: no user/system config, no prompts, fixed identity. */
export function isolatedGitEnv(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: home,
    LANG: 'C',
    LC_ALL: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
  };
}

export function runGit(args: string[], opts: { cwd?: string; env: NodeJS.ProcessEnv }): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      args,
      { cwd: opts.cwd, env: opts.env, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`git ${args.join(' ')} failed: ${stderr || err.message}`));
        else resolve(stdout);
      },
    );
  });
}

const FIXTURE_IDENTITY = {
  GIT_AUTHOR_NAME: 'Fixture',
  GIT_AUTHOR_EMAIL: 'fixture@example.com',
  GIT_AUTHOR_DATE: '2024-01-01T00:00:00Z',
  GIT_COMMITTER_NAME: 'Fixture',
  GIT_COMMITTER_EMAIL: 'fixture@example.com',
  GIT_COMMITTER_DATE: '2024-01-01T00:00:00Z',
};

// proc-receive hook: receive-pack hands it the commands for refs matching receive.procReceiveRefs.
// Protected branches get `ng <ref> protected branch hook declined` (GitHub's exact per-ref reason);
// anything else that merely shares the prefix falls through to receive-pack's normal handling.
const PROC_RECEIVE = (protectedRefs: string[]) => `
'use strict';
const PROTECTED = new Set(${JSON.stringify(protectedRefs)});
let buf = Buffer.alloc(0);
let stage = 'version';
const cmds = [];
const pkt = (s) => { const b = Buffer.from(s); return Buffer.concat([Buffer.from((b.length + 4).toString(16).padStart(4, '0')), b]); };
function onPacket(line) {
  if (stage === 'version') {
    if (line === null) { process.stdout.write(Buffer.concat([pkt('version=1\\n'), Buffer.from('0000')])); stage = 'commands'; }
    return;
  }
  if (stage !== 'commands') return;
  if (line !== null) { cmds.push(line.replace(/\\n$/, '').split(' ')); return; }
  stage = 'done';
  const out = [];
  for (const [, , ref] of cmds) {
    if (PROTECTED.has(ref)) {
      process.stderr.write('error: GH006: Protected branch update failed for ' + ref + '.\\n');
      process.stderr.write('error: Changes must be made through a pull request.\\n');
      out.push(pkt('ng ' + ref + ' protected branch hook declined\\n'));
    } else {
      out.push(pkt('ok ' + ref + '\\n'), pkt('option fall-through\\n'));
    }
  }
  out.push(Buffer.from('0000'));
  process.stdout.write(Buffer.concat(out));
}
process.stdin.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  while (buf.length >= 4) {
    const len = parseInt(buf.subarray(0, 4).toString(), 16);
    if (len === 0) { buf = buf.subarray(4); onPacket(null); continue; }
    if (buf.length < len) break;
    onPacket(buf.subarray(4, len).toString().split('\\0')[0]);
    buf = buf.subarray(len);
  }
});
`;

// post-receive: append every successful update of this push to the per-request log named by the server.
const POST_RECEIVE = `#!/bin/sh
[ -n "$FAKE_GITHUB_PUSH_LOG" ] || exit 0
cat >> "$FAKE_GITHUB_PUSH_LOG"
`;

export async function createBareRepo(opts: {
  barePath: string;
  defaultBranch: string;
  files: Record<string, string>;
  protectedBranches: string[];
  env: NodeJS.ProcessEnv;
}): Promise<string> {
  const { barePath, defaultBranch, env } = opts;
  await mkdir(dirname(barePath), { recursive: true });
  await runGit(['init', '--quiet', '--bare', `--initial-branch=${defaultBranch}`, barePath], { env });
  const config: Array<[string, string]> = [
    ['http.receivepack', 'true'],
    ['http.uploadpack', 'true'],
    ['uploadpack.allowFilter', 'true'],
    ['uploadpack.allowReachableSHA1InWant', 'true'],
    ['receive.hideRefs', 'refs/pull'], // GitHub: "deny updating a hidden ref"
    ['receive.fsckObjects', 'true'],
    ['core.hooksPath', join(barePath, 'hooks')],
  ];
  for (const [k, v] of config) await runGit(['config', k, v], { cwd: barePath, env });
  const protectedRefs = opts.protectedBranches.map((b) => `refs/heads/${b}`);
  for (const ref of protectedRefs)
    await runGit(['config', '--add', 'receive.procReceiveRefs', ref], { cwd: barePath, env });
  const hooks = join(barePath, 'hooks');
  await mkdir(hooks, { recursive: true });
  await writeFile(join(hooks, 'proc-receive'), `#!${process.execPath}\n${PROC_RECEIVE(protectedRefs)}`);
  await writeFile(join(hooks, 'post-receive'), POST_RECEIVE);
  await chmod(join(hooks, 'proc-receive'), 0o755);
  await chmod(join(hooks, 'post-receive'), 0o755);

  // Seed one deterministic commit through a throwaway index + work tree.
  const work = await mkdtemp(join(dirname(barePath), '.seed-'));
  try {
    for (const [path, content] of Object.entries(opts.files)) {
      const clean = normalize(path);
      if (isAbsolute(clean) || clean.startsWith('..')) throw new Error(`fixture path escapes repo: ${path}`);
      await mkdir(dirname(join(work, clean)), { recursive: true });
      await writeFile(join(work, clean), content);
    }
    const seedEnv = {
      ...env,
      ...FIXTURE_IDENTITY,
      GIT_DIR: barePath,
      GIT_WORK_TREE: work,
      GIT_INDEX_FILE: `${work}.index`,
    };
    await runGit(['add', '--all', '--', '.'], { cwd: work, env: seedEnv });
    const tree = (await runGit(['write-tree'], { cwd: work, env: seedEnv })).trim();
    const commit = (
      await runGit(['commit-tree', tree, '-m', 'Initial commit'], { cwd: work, env: seedEnv })
    ).trim();
    await runGit(['update-ref', `refs/heads/${defaultBranch}`, commit, ''], { cwd: barePath, env });
    return commit;
  } finally {
    await rm(work, { recursive: true, force: true });
    await rm(`${work}.index`, { force: true });
  }
}

/** A request's HTTP Basic credentials, or undefined without them. */
export function basicCredentials(req: IncomingMessage): { user: string; password: string } | undefined {
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(req.headers.authorization ?? '');
  const decoded = basic?.[1] ? Buffer.from(basic[1], 'base64').toString('utf8') : '';
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** What `ref` points at in a bare repository, synchronously (for state accessors in tests). */
export function refShaAt(barePath: string, ref: string, env: NodeJS.ProcessEnv): string | undefined {
  try {
    const args = ['rev-parse', '--verify', '--quiet', `${ref}^{object}`];
    const out = execFileSync('git', args, { cwd: barePath, env, stdio: ['ignore', 'pipe', 'ignore'] });
    return out.toString().trim() || undefined;
  } catch {
    return undefined;
  }
}

export async function listRefs(barePath: string, env: NodeJS.ProcessEnv): Promise<Map<string, string>> {
  const out = await runGit(['for-each-ref', '--format=%(objectname) %(refname)'], { cwd: barePath, env });
  const refs = new Map<string, string>();
  for (const line of out.split('\n')) {
    const [sha, ref] = line.split(' ');
    if (sha && ref) refs.set(ref, sha);
  }
  return refs;
}

/** Reads and deletes the post-receive log of one receive-pack request. */
export async function takePushLog(path: string): Promise<RefUpdate[]> {
  let text = '';
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return [];
  }
  await rm(path, { force: true });
  return text
    .split('\n')
    .map((l) => l.trim().split(' '))
    .filter((p): p is [string, string, string] => p.length === 3)
    .map(([oldSha, newSha, ref]) => ({ ref, oldSha, newSha }));
}

/**
 * Runs `git http-backend` as a CGI script for one request, streaming the request body to it and its
 * response back. Resolves with the HTTP status sent.
 */
export function serveGitHttp(
  req: IncomingMessage,
  res: ServerResponse,
  opts: {
    projectRoot: string;
    pathInfo: string;
    query: string;
    remoteUser: string;
    env: NodeJS.ProcessEnv;
    /** Runs after the backend exits but before the response ends, so clients never observe stale state. */
    beforeEnd?: () => Promise<void>;
  },
): Promise<number> {
  const env: NodeJS.ProcessEnv = {
    ...opts.env,
    GIT_PROJECT_ROOT: opts.projectRoot,
    GIT_HTTP_EXPORT_ALL: '1',
    PATH_INFO: opts.pathInfo,
    REQUEST_METHOD: req.method ?? 'GET',
    QUERY_STRING: opts.query,
    REMOTE_USER: opts.remoteUser,
    REMOTE_ADDR: req.socket.remoteAddress ?? '127.0.0.1',
    SERVER_PROTOCOL: `HTTP/${req.httpVersion}`,
  };
  const h = req.headers;
  if (h['content-type']) env.CONTENT_TYPE = h['content-type'];
  if (h['content-length']) env.CONTENT_LENGTH = h['content-length'];
  if (h['content-encoding']) env.HTTP_CONTENT_ENCODING = h['content-encoding'];
  if (typeof h['git-protocol'] === 'string') env.GIT_PROTOCOL = h['git-protocol'];

  return new Promise((resolve) => {
    const child = spawn('git', ['http-backend'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    let head = Buffer.alloc(0);
    let status = 200;
    let headersSent = false;
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdin.on('error', () => {}); // backend may exit before reading the whole body
    req.pipe(child.stdin);
    res.on('close', () => {
      if (!res.writableFinished) child.kill(); // client went away mid-request
    });
    child.stdout.on('data', (chunk: Buffer) => {
      if (headersSent) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const sep = head.indexOf('\r\n\r\n');
      const alt = head.indexOf('\n\n');
      const [end, sepLen] = sep >= 0 && (alt < 0 || sep < alt) ? [sep, 4] : alt >= 0 ? [alt, 2] : [-1, 0];
      if (end < 0) return;
      for (const line of head.subarray(0, end).toString('latin1').split(/\r?\n/)) {
        const i = line.indexOf(':');
        if (i <= 0) continue;
        const name = line.slice(0, i).trim();
        const value = line.slice(i + 1).trim();
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10) || 500;
        else res.setHeader(name, value);
      }
      res.writeHead(status);
      headersSent = true;
      res.write(head.subarray(end + sepLen));
    });
    child.on('close', (code) => {
      if (!headersSent) {
        status = 500;
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.write(`git http-backend exited ${code}: ${stderr}`);
      }
      const finish = () => {
        res.end();
        resolve(status);
      };
      (opts.beforeEnd ?? (async () => {}))().then(finish, finish);
    });
  });
}

export interface GitRepo {
  id: number;
  owner: string;
  name: string;
  defaultBranch: string;
  barePath: string;
  protectedBranches: string[];
}
/** What a credential other than the server's token may do over git (e.g. a GitHub App installation token). */
export interface GitGrant {
  login: string;
  /** Repositories the credential can see at all; the others are "not found". */
  visible(repo: GitRepo): boolean;
  read(repo: GitRepo): boolean;
  write(repo: GitRepo): boolean;
}
export interface ServeOptions {
  token: string;
  problems: string[];
  onPush(repo: GitRepo, updates: RefUpdate[]): Promise<void>;
  /** Looks up a Basic password that is not `token`; undefined answers 401. */
  authorize?(password: string): GitGrant | undefined;
}

/** The bare repositories of one fake server, looked up case-insensitively like GitHub does. */
export class GitRepos {
  private readonly byKey = new Map<string, GitRepo>();
  private pushSeq = 0;
  readonly env: NodeJS.ProcessEnv;
  private constructor(readonly root: string) {
    this.env = isolatedGitEnv(root);
  }
  get reposRoot(): string {
    return join(this.root, 'repos');
  }

  static async create(root: string, specs: FakeRepoSpec[]): Promise<GitRepos> {
    const repos = new GitRepos(root);
    for (const spec of specs) {
      if (repos.find(spec.owner, spec.name))
        throw new Error(`duplicate fake repo ${spec.owner}/${spec.name}`);
      const defaultBranch = spec.defaultBranch ?? 'main';
      const protectedBranches = spec.protectedBranches ?? [defaultBranch];
      const barePath = join(repos.reposRoot, spec.owner, `${spec.name}.git`);
      await createBareRepo({
        barePath,
        defaultBranch,
        files: spec.files ?? {},
        protectedBranches,
        env: repos.env,
      });
      const repo = {
        id: 1000 + repos.byKey.size,
        owner: spec.owner,
        name: spec.name,
        defaultBranch,
        barePath,
        protectedBranches,
      };
      repos.byKey.set(`${spec.owner}/${spec.name}`.toLowerCase(), repo);
    }
    return repos;
  }

  find(owner: string, name: string): GitRepo | undefined {
    return this.byKey.get(`${owner}/${name}`.toLowerCase());
  }

  async branchSha(repo: GitRepo, branch: string): Promise<string | undefined> {
    return (await listRefs(repo.barePath, this.env)).get(`refs/heads/${branch}`);
  }

  /** Number of commits reachable from `head` but not from `base` (GitHub's "commits between"). */
  async ahead(repo: GitRepo, base: string, head: string): Promise<number> {
    const out = await runGit(['rev-list', '--count', `${base}..${head}`], {
      cwd: repo.barePath,
      env: this.env,
    });
    return Number(out.trim());
  }

  async setRef(repo: GitRepo, ref: string, sha: string): Promise<void> {
    await runGit(['update-ref', ref, sha], { cwd: repo.barePath, env: this.env });
  }

  refShaSync(repo: GitRepo, ref: string): string | undefined {
    return refShaAt(repo.barePath, ref, this.env);
  }

  /** Smart HTTP like GitHub's: Basic auth whose password is the token (any user name); no dumb HTTP. */
  async serve(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    match: RegExpExecArray,
    opts: ServeOptions,
  ) {
    const [, owner = '', name = '', action = ''] = match;
    const auth = req.headers.authorization ?? '';
    req.on('error', () => {});
    const credentials = basicCredentials(req);
    const password = credentials?.password;
    const grant =
      password === undefined ? undefined : password === opts.token ? undefined : opts.authorize?.(password);
    if (password === undefined || (password !== opts.token && !grant)) {
      req.resume();
      res.writeHead(401, { 'www-authenticate': 'Basic realm="GitHub"', 'content-type': 'text/plain' });
      res.end(
        auth
          ? 'Invalid username or token. Password authentication is not supported for Git operations.\n'
          : '',
      );
      return 401;
    }
    const repo = this.find(owner, name);
    const service = url.searchParams.get('service');
    const methodOk =
      action === 'info/refs'
        ? req.method === 'GET' && (service === 'git-upload-pack' || service === 'git-receive-pack')
        : req.method === 'POST';
    if (!repo || !methodOk || (grant && !grant.visible(repo))) {
      if (repo && !methodOk)
        opts.problems.push(`unsupported git request ${req.method} ${url.pathname}${url.search}`);
      req.resume();
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('Repository not found.\n');
      return 404;
    }
    const isPush = action === 'git-receive-pack';
    if (grant && !(isPush || service === 'git-receive-pack' ? grant.write(repo) : grant.read(repo))) {
      // GitHub's words for a credential that sees the repository but lacks the access (git shows it as remote:).
      req.resume();
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.end(`Permission to ${repo.owner}/${repo.name}.git denied to ${grant.login}.\n`);
      return 403;
    }
    const pushLog = join(this.root, `push-${++this.pushSeq}.log`);
    return serveGitHttp(req, res, {
      projectRoot: this.reposRoot,
      pathInfo: `/${repo.owner}/${repo.name}.git/${action}`,
      query: url.search.replace(/^\?/, ''),
      remoteUser: credentials?.user || 'x-access-token',
      env: isPush ? { ...this.env, FAKE_GITHUB_PUSH_LOG: pushLog } : this.env,
      beforeEnd: async () => {
        const updates = isPush ? await takePushLog(pushLog) : [];
        if (updates.length > 0) await opts.onPush(repo, updates);
      },
    });
  }
}
