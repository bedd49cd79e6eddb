/**
 * `npm run bench:pr-watch`: what following pull requests by polling costs. One repository with N
 * open pull requests airlock opened (default 50), each with a head airlock pushed, on the GitHub
 * stand-in (a real HTTP server; its ETags and 304s behave as GitHub's, and a 304 spends no rate
 * limit). The real adapter (src/forge/github/github-conversation.ts, Octokit) polls: once cold,
 * then `--polls` times with nothing new, then once after one new comment. Prints Markdown: GETs
 * per poll, how many were 304, rate limit spent, and the time per poll.
 *
 * Options: --prs N (50), --polls N (20).
 */
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { Octokit } from '@octokit/rest';
import { GitHubConversation } from '../src/forge/github/github-conversation.js';
import { PersonalToken } from '../src/forge/github/github-credentials.js';
import type { ConversationCursor, PullToWatch } from '../src/runs/ports/pull-requests.js';
import { FIXTURE_FILES } from '../test/fakes/fixture-repo.js';
import { startFakeGitHub } from '../test/fakes/github-server.js';

const { values } = parseArgs({
  options: { prs: { type: 'string', default: '50' }, polls: { type: 'string', default: '20' } },
});
const PRS = Number(values.prs);
const POLLS = Number(values.polls);
const TOKEN = 'ghp_benchPrWatchToken0001';

const github = await startFakeGitHub({
  token: TOKEN,
  repos: [{ owner: 'acme', name: 'widgets', files: FIXTURE_FILES }],
});
try {
  const octokit = new Octokit({
    auth: TOKEN,
    baseUrl: github.apiUrl,
    log: { debug() {}, info() {}, warn() {}, error() {} },
  });
  const pulls: PullToWatch[] = [];
  for (let i = 1; i <= PRS; i++) {
    const branch = `airlock/bench-${i}`;
    const sha = await github.pushOutside({
      owner: 'acme',
      repo: 'widgets',
      branch,
      from: 'main',
      files: { [`notes/${i}.md`]: `change ${i}\n` },
    });
    await octokit.pulls.create({
      owner: 'acme',
      repo: 'widgets',
      head: branch,
      base: 'main',
      title: `bench ${i}`,
    });
    pulls.push({ number: i, headSha: sha, checkHead: sha });
  }
  const conversation = new GitHubConversation(new PersonalToken(TOKEN), github.apiUrl);
  const remaining = async () => (await octokit.rateLimit.get()).data.rate.remaining;
  let cursor: ConversationCursor = {
    etags: {},
    since: `${new Date(Date.now() - 60_000).toISOString().slice(0, 19)}Z`,
  };

  const poll = async () => {
    const before = await remaining();
    const started = performance.now();
    const out = await conversation.observe('acme/widgets', pulls, cursor);
    const ms = performance.now() - started;
    cursor = out.cursor;
    // The rate_limit read itself costs nothing on GitHub (nor on the stand-in).
    const spent = before - (await remaining());
    return { ms, spent, ...out.observed.requests, comments: out.observed.comments.length };
  };

  const cold = await poll();
  const quiet: Array<Awaited<ReturnType<typeof poll>>> = [];
  for (let i = 0; i < POLLS; i++) quiet.push(await poll());
  github.addComment({ owner: 'acme', repo: 'widgets', number: 1, user: 'octocat', body: '@airlock hi' });
  const afterComment = await poll();
  github.takeProblems();

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const row = (name: string, r: { ms: number; spent: number; notModified: number; changed: number }) =>
    `| ${name} | ${r.notModified + r.changed} | ${r.notModified} | ${r.spent} | ${r.ms.toFixed(0)} |`;
  const q = quiet.reduce(
    (a, r) => ({
      ms: median(quiet.map((x) => x.ms)),
      spent: a.spent + r.spent,
      notModified: a.notModified + r.notModified,
      changed: a.changed + r.changed,
    }),
    { ms: 0, spent: 0, notModified: 0, changed: 0 },
  );
  const perPoll = {
    ...q,
    spent: q.spent / POLLS,
    notModified: q.notModified / POLLS,
    changed: q.changed / POLLS,
  };
  console.log(
    `pr_watch polling, ${PRS} open pull requests on one repository (GitHub stand-in), node ${process.version}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB\n`,
  );
  console.log('| poll | GETs | answered 304 | rate limit spent | ms |');
  console.log('| --- | ---: | ---: | ---: | ---: |');
  console.log(row('first (cold)', cold));
  console.log(row(`nothing new (median of ${POLLS}; GETs and spend per poll)`, perPoll));
  console.log(row('after one new comment', afterComment));
  console.log(`\nThe new comment was seen: ${afterComment.comments === 1 ? 'yes' : 'NO'}.`);
} finally {
  await github.close();
}
