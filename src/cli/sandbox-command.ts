import { stringify } from 'yaml';
import type { App } from '../composition-root.js';
import { AirlockError } from '../errors.js';
import { sandboxPod } from '../sandbox/kubernetes/pod-spec.js';

/** `airlock sandbox pod-spec --repo R`: the pod airlock would create, as YAML, with no cluster. */
export function podSpecCommand(
  app: App,
  opts: { repo?: string },
  out: { write(s: string): unknown },
): number {
  if (!opts.repo)
    throw new AirlockError(
      'usage',
      `--repo is required. Configured: ${Object.keys(app.policy.repos).join(', ')}.`,
    );
  out.write(stringify(sandboxPod(app.policy, opts.repo, 'example')));
  return 0;
}
