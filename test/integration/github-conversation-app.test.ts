// The GitHub adapter of pr_watch with GitHub App credentials: each purpose asks for its own
// installation token, limited to the one repository and to what that purpose needs.
import { Octokit } from '@octokit/rest';
import { afterEach, describe, expect, it } from 'vitest';
import { GitHubConversation } from '../../src/forge/github/github-conversation.js';
import { GitHubAppCredentials } from '../../src/forge/github/github-credentials.js';
import { FIXTURE_FILES } from '../fakes/fixture-repo.js';
import { type FakeGitHub, generateAppKeyPair, startFakeGitHub } from '../fakes/github-server.js';

const KEYS = generateAppKeyPair();
const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

describe('GitHubConversation with a GitHub App', () => {
  let github: FakeGitHub | undefined;
  afterEach(async () => {
    await github?.close();
    github = undefined;
  });

  async function setUp(permissions?: Record<string, 'read' | 'write'>) {
    github = await startFakeGitHub({
      token: 'ghp_serverOwnToken000001',
      repos: [
        { owner: 'acme', name: 'widgets', files: FIXTURE_FILES },
        { owner: 'acme', name: 'secrets', files: { 'README.md': 'x\n' } },
      ],
      app: {
        appId: 4242,
        privateKeyPem: KEYS.privateKeyPem,
        installations: [{ id: 77, account: 'acme', repos: ['acme/widgets', 'acme/secrets'] }],
        permissions,
      },
    });
    const sha = await github.pushOutside({
      owner: 'acme',
      repo: 'widgets',
      branch: 'airlock/x',
      from: 'main',
      files: { 'a.txt': 'a\n' },
    });
    await new Octokit({ auth: github.token, baseUrl: github.apiUrl, log: quiet }).pulls.create({
      owner: 'acme',
      repo: 'widgets',
      head: 'airlock/x',
      base: 'main',
      title: 'x',
    });
    const credentials = new GitHubAppCredentials({
      appId: '4242',
      privateKey: KEYS.privateKeyPem,
      apiUrl: github.apiUrl,
    });
    return { sha, conversation: new GitHubConversation(credentials, github.apiUrl) };
  }

  it('polls, sets the status and replies, each with a token for one repository and only what it needs', async () => {
    const { sha, conversation } = await setUp();
    const fake = github as FakeGitHub;
    github?.addComment({ owner: 'acme', repo: 'widgets', number: 1, user: 'octocat', body: '@airlock hi' });
    const first = await conversation.observe('acme/widgets', [{ number: 1, headSha: sha, checkHead: sha }], {
      etags: {},
      since: null,
    });
    expect(first.observed.comments.map((c) => c.body)).toEqual(['@airlock hi']);
    const watched = [{ number: 1, headSha: sha, checkHead: sha }];
    // The comment listings now ask `since` the newest comment (a new URL, so answered in full once).
    const second = await conversation.observe('acme/widgets', watched, first.cursor);
    expect(second.observed.comments.map((c) => c.id)).toEqual(first.observed.comments.map((c) => c.id));
    const quiet = await conversation.observe('acme/widgets', watched, second.cursor);
    expect(quiet.observed.requests).toEqual({ notModified: 6, changed: 0 });
    await conversation.setStatus('acme/widgets', sha, {
      state: 'success',
      description: 'approved by U1 · diff 0123',
    });
    await conversation.reply('acme/widgets', 1, 'done');
    expect(fake.statuses('acme', 'widgets', sha)).toHaveLength(1);
    expect(fake.comments('acme', 'widgets', 1).map((c) => c.body)).toContain('done');
    const asked = fake.tokenRequests.map((t) => ({
      repositories: t.repositories,
      permissions: t.permissions,
      status: t.status,
    }));
    expect(asked).toEqual(
      expect.arrayContaining([
        {
          repositories: ['widgets'],
          permissions: { pull_requests: 'read', checks: 'read', statuses: 'read' },
          status: 201,
        },
        { repositories: ['widgets'], permissions: { statuses: 'write' }, status: 201 },
        { repositories: ['widgets'], permissions: { pull_requests: 'write' }, status: 201 },
      ]),
    );
    expect(asked.every((t) => JSON.stringify(t.repositories) === '["widgets"]')).toBe(true);
    expect(fake.problems).toEqual([]);
  });

  it('an App without statuses: write gets a refusal that names the permission to grant', async () => {
    const { sha, conversation } = await setUp({
      contents: 'write',
      pull_requests: 'write',
      issues: 'write',
      checks: 'read',
      actions: 'read',
    });
    const refused = await conversation
      .setStatus('acme/widgets', sha, { state: 'success', description: 'x' })
      .then(
        () => 'set',
        (e: Error) => e.message,
      );
    expect(refused).toContain('statuses: write');
    github?.takeProblems();
  });
});
