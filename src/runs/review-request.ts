import { AirlockError } from '../errors.js';
import type { ForgeConversation, PullRequestFacts } from './ports/pull-requests.js';
import type { RepositorySource } from './ports/repositories.js';
import { reviewTask } from './review-submission.js';

export interface PreparedReview {
  /** With the base branch's commit the diff was taken against (its rules are the reviewer's). */
  facts: PullRequestFacts & { baseSha: string };
  diff: Buffer;
  task: string;
}

/**
 * What every intake of a review (the command line, Slack, a pull request comment) needs: the pull
 * request as the forge describes it, its head and base fetched through the mirror (its PR ref,
 * never a fork's credentials), and the diff between them as the agent's task.
 */
export async function prepareReview(
  deps: { repos: RepositorySource; conversationFor: (repo: string) => ForgeConversation | undefined },
  repo: string,
  number: number,
): Promise<PreparedReview> {
  const conversation = deps.conversationFor(repo);
  if (!conversation)
    throw new AirlockError(
      'usage',
      `${repo} is not on a forge airlock can read pull requests from (forge: github with a token or App, or forge: gitlab with GITLAB_URL and GITLAB_TOKEN).`,
    );
  const facts = await conversation.pullRequestFacts(repo, number);
  const headSha = await deps.repos.fetchBase(repo, facts.headRef);
  const baseSha = await deps.repos.fetchBase(repo, facts.base);
  const diff = await deps.repos.reviewDiff(repo, baseSha, headSha);
  return { facts: { ...facts, headSha, baseSha }, diff, task: reviewTask(facts, diff.toString('utf8')) };
}
