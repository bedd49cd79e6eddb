import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { type ZodError, z } from 'zod';
import { AirlockError } from '../errors.js';

const repoName = z.string().regex(/^[\w.-]+\/[\w.-]+$/, 'expected owner/name');
const duration = z
  .string()
  .regex(/^\d+(s|m|h|d)$/, 'expected a duration such as 30m, 24h or 7d')
  .transform((v) => {
    const n = Number.parseInt(v, 10);
    const unit = { s: 1, m: 60, h: 3600, d: 86400 }[v.at(-1) as 's' | 'm' | 'h' | 'd'];
    return n * unit * 1000;
  });

const limitsSchema = z
  .object({
    concurrent_runs: z.number().int().positive().default(20),
    max_steps: z.number().int().positive().default(60),
    max_minutes: z.number().positive().default(30),
    max_cost_usd: z.number().positive().default(5),
    max_tokens: z.number().int().positive().default(5_000_000),
    command_timeout_seconds: z.number().int().positive().default(600),
  })
  .strict();

// No defaults here: a repository's limits override only the keys it names.
const limitsOverrideSchema = z
  .object({
    concurrent_runs: z.number().int().positive(),
    max_steps: z.number().int().positive(),
    max_minutes: z.number().positive(),
    max_cost_usd: z.number().positive(),
    max_tokens: z.number().int().positive(),
    command_timeout_seconds: z.number().int().positive(),
  })
  .partial()
  .strict();

const toleration = z
  .object({
    key: z.string(),
    operator: z.enum(['Exists', 'Equal']),
    value: z.string(),
    effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute']),
    tolerationSeconds: z.number().int(),
  })
  .partial()
  .strict();

/**
 * Named exceptions to the sandbox's no-network rule: each name becomes the pod label
 * `egress.airlock.dev/<name>: allow`, which a NetworkPolicy the cluster's operators write (an
 * internal package mirror, say) selects. airlock itself cannot open the network.
 */
const egressNames = z
  .array(
    z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'expected a DNS label, e.g. package-mirror'),
  )
  .max(16);

const sandboxSpecSchema = z
  .object({
    image: z.string().min(1).optional(),
    egress: egressNames.optional(),
    cpu: z.string().optional(),
    memory: z.string().optional(),
    ephemeral_storage: z.string().optional(),
    runtime_class: z.string().optional(),
    node_selector: z.record(z.string(), z.string()).optional(),
    tolerations: z.array(toleration).optional(),
  })
  .strict();

const repoSchema = z
  .object({
    url: z.string().min(1).optional(),
    forge: z.enum(['github', 'gitlab', 'git']).default('github'),
    base: z.string().min(1).default('main'),
    requesters: z.array(z.string()).optional(),
    approvers: z.array(z.string()).default([]),
    four_eyes: z.boolean().default(true),
    headless_push: z.boolean().default(false),
    approval_ttl: duration.default(24 * 3600 * 1000),
    setup: z.string().min(1).optional(),
    sandbox: sandboxSpecSchema.optional(),
    pr: z
      .object({ draft: z.boolean().default(false), labels: z.array(z.string()).default([]) })
      .strict()
      .optional(),
    limits: limitsOverrideSchema.optional(),
  })
  .strict();

const policySchema = z
  .object({
    repos: z
      .record(repoName, repoSchema)
      .refine((r) => Object.keys(r).length > 0, 'list at least one repository'),
    channels: z.record(z.string(), z.object({ repo: repoName }).strict()).default({}),
    jira: z
      .object({
        projects: z
          .record(z.string().regex(/^[A-Z][A-Z0-9_]+$/, 'expected a Jira project key'), repoName)
          .default({}),
        on_pr: z
          .object({ comment: z.boolean().default(true), transition: z.string().min(1).optional() })
          .strict()
          .default({ comment: true }),
        // Start runs from Jira alone: new tickets matching jql get a thread in channel.
        watch: z
          .object({
            jql: z.string().min(1),
            channel: z.string().regex(/^[CG][A-Z0-9]+$/, 'expected a Slack channel id (C…)'),
            every: duration.default(5 * 60_000),
          })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
    limits: limitsSchema.default(limitsSchema.parse({})),
    sandbox: z
      .object({
        image: z.string().default('ghcr.io/airlock-dev/sandbox:latest'),
        // Kubernetes: where sandbox pods run, and the defaults a repository's `sandbox` overrides.
        namespace: z
          .string()
          .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'expected a namespace name')
          .default('airlock-sandboxes'),
        cpu: z.string().default('2'),
        memory: z.string().default('4Gi'),
        ephemeral_storage: z.string().default('10Gi'),
        runtime_class: z.string().optional(),
        node_selector: z.record(z.string(), z.string()).optional(),
        tolerations: z.array(toleration).optional(),
        egress: egressNames.default([]),
        // Kubernetes: ready pods kept with the defaults above, so a run starts with a label patch.
        warm_pool: z.number().int().min(0).max(100).default(0),
        // Extra host paths hidden from local sandboxes (home directories and the data dir always are).
        local: z
          .object({
            // auto: bubblewrap when it works, else plain processes with a warning.
            isolation: z.enum(['auto', 'bubblewrap', 'none']).default('auto'),
            hide: z.array(z.string()).default([]),
          })
          .strict()
          .default({ isolation: 'auto', hide: [] }),
      })
      .strict()
      .default({
        image: 'ghcr.io/airlock-dev/sandbox:latest',
        namespace: 'airlock-sandboxes',
        cpu: '2',
        memory: '4Gi',
        ephemeral_storage: '10Gi',
        egress: [],
        warm_pool: 0,
        local: { isolation: 'auto', hide: [] },
      }),
    model: z
      .object({
        name: z.string().min(1).optional(),
        max_output_tokens: z.number().int().positive().default(8192),
        // A hung endpoint ends the run (DESIGN.md §3): the longest wait for the next byte, and one
        // deadline per model call, retries included. At most a day: timers overflow past ~24.8 days.
        idle_timeout_seconds: z.number().positive().max(86_400).default(120),
        request_timeout_seconds: z.number().positive().max(86_400).default(900),
        // USD per million tokens, for models whose price airlock does not know.
        price: z
          .object({ input: z.number().nonnegative(), output: z.number().nonnegative() })
          .strict()
          .optional(),
      })
      .strict()
      .default({ max_output_tokens: 8192, idle_timeout_seconds: 120, request_timeout_seconds: 900 }),
  })
  .strict()
  .superRefine((p, ctx) => {
    for (const [channel, { repo }] of Object.entries(p.channels)) {
      if (!(repo in p.repos))
        ctx.addIssue({
          code: 'custom',
          path: ['channels', channel, 'repo'],
          message: `${repo} is not under repos`,
        });
    }
    for (const [key, repo] of Object.entries(p.jira?.projects ?? {})) {
      if (!(repo in p.repos))
        ctx.addIssue({
          code: 'custom',
          path: ['jira', 'projects', key],
          message: `${repo} is not under repos`,
        });
    }
  });

export type Policy = z.infer<typeof policySchema>;
export type RepoPolicy = z.infer<typeof repoSchema>;
export type Limits = z.infer<typeof limitsSchema>;

function describe(error: ZodError, source: string): string {
  const lines = error.issues.map((issue) => {
    const key = issue.path.map(String).join('.') || '(top level)';
    let message = issue.message;
    if (issue.code === 'unrecognized_keys')
      message = `unknown key ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    return `  ${key}: ${message}`;
  });
  return `${source} is invalid:\n${lines.join('\n')}`;
}

export function parsePolicy(text: string, source = 'airlock.yaml'): Policy {
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    throw new AirlockError('config_invalid', `${source} is not valid YAML: ${(error as Error).message}`);
  }
  const parsed = policySchema.safeParse(raw ?? {});
  if (!parsed.success) throw new AirlockError('config_invalid', describe(parsed.error, source));
  return parsed.data;
}

export function loadPolicy(path: string): Policy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new AirlockError(
      'config_invalid',
      `Cannot read the policy file ${path}. Create it (see airlock.example.yaml) or set AIRLOCK_CONFIG.`,
    );
  }
  return parsePolicy(text, path);
}

export function repoPolicy(policy: Policy, repo: string): RepoPolicy {
  const found = policy.repos[repo];
  if (!found) {
    const known = Object.keys(policy.repos).join(', ');
    throw new AirlockError('repo_unknown', `Repository ${repo} is not configured. Configured: ${known}.`);
  }
  return found;
}

/** The limits that apply to a repository: its overrides on top of the global ones. */
export function limitsFor(policy: Policy, repo: string): Limits {
  return { ...policy.limits, ...repoPolicy(policy, repo).limits };
}
