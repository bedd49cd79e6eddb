import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { type ZodError, z } from 'zod';
import { AirlockError } from '../errors.js';
import { cronProblem } from '../shared/cron-schedule.js';
import { parseHostRule } from '../shared/host-rule.js';

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
    // Sandboxes being made at once (snapshot checkout, setup): a burst of runs never becomes a
    // burst of checkouts and process spawns (issue 12). Applies to the bot.
    concurrent_provisioning: z.number().int().positive().default(8),
    max_steps: z.number().int().positive().default(60),
    // Ask mode's own step limit: a question needs reading, not a change.
    ask_max_steps: z.number().int().positive().default(20),
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
    ask_max_steps: z.number().int().positive(),
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

/**
 * A `protected_paths` pattern (runs/path-glob.ts): a path from the repository's root where `**`
 * spans directories, `*` and `?` stay within one. Anything a reader could take for more (classes,
 * braces, negation, escapes) is refused rather than silently matched literally.
 */
const pathPattern = z.string().superRefine((pattern, ctx) => {
  const problem = pathPatternProblem(pattern);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

function pathPatternProblem(pattern: string): string | undefined {
  if (pattern.trim() === '') return 'expected a non-empty path pattern such as deploy/**';
  if (pattern.startsWith('/'))
    return `"${pattern}": patterns are relative to the repository root; drop the leading /`;
  if (pattern.startsWith('!')) return `"${pattern}": negation (!) is not supported`;
  if (/[[\]{}\\]/.test(pattern))
    return `"${pattern}": only **, * and ? are special; [ ], { } and \\ are not supported`;
  const segments = pattern.replace(/\/$/, '').split('/');
  if (segments.some((s) => s === '')) return `"${pattern}": empty path segment (//)`;
  if (segments.some((s) => s === '.' || s === '..')) return `"${pattern}": . and .. segments are not allowed`;
  return undefined;
}

const protectedPathSchema = z
  .object({
    paths: z.array(pathPattern).min(1, 'list at least one path pattern'),
    approvers: z
      .array(z.string().min(1))
      .min(1, 'list at least one approver (a Slack user id or user-group id)'),
  })
  .strict();

/** A `network.setup` / `network.agent` entry (shared/host-rule.ts): host, *.domain or IP, optional :port. */
const hostRule = z.string().superRefine((text, ctx) => {
  const rule = parseHostRule(text);
  if (typeof rule === 'string') ctx.addIssue({ code: 'custom', message: rule });
});

/** Hosts the egress gateway lets a sandbox reach, by phase (DESIGN.md §4). */
const networkSchema = z
  .object({
    setup: z.array(hostRule).max(256).optional(),
    agent: z.array(hostRule).max(256).optional(),
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
    // Ask mode runs no setup unless this says so (reading the code rarely needs it installed).
    ask_setup: z.boolean().default(false),
    sandbox: sandboxSpecSchema.optional(),
    pr: z
      .object({ draft: z.boolean().default(false), labels: z.array(z.string()).default([]) })
      .strict()
      .optional(),
    limits: limitsOverrideSchema.optional(),
    // Paths with their own approvers: one person who approves must be in every entry touched.
    protected_paths: z.array(protectedPathSchema).default([]),
    // Server-side notes for the agent on this repository; they win over the repository's AGENTS.md.
    instructions: z
      .string()
      .max(32 * 1024, 'keep instructions under 32 KiB')
      .optional(),
    // CI definitions run with the repository's secrets: changes to them are refused unless true.
    allow_ci_changes: z.boolean().default(false),
    // Hosts reachable through the egress gateway; a phase given here replaces the top-level list.
    network: networkSchema.optional(),
    // Sandboxes kept ready at the base branch's head with setup done; a run on that head claims one.
    prepared: z.number().int().min(0).max(20).default(0),
  })
  .strict();

/** sandbox.local: an absolute host path, normalised, and never / itself. */
const hostPath = z
  .string()
  .regex(/^\/[^\0]*$/, 'expected an absolute path')
  .transform((p) => p.replace(/\/+/g, '/').replace(/\/$/, ''))
  .refine((p) => p !== '' && !p.split('/').some((part) => part === '..' || part === '.'), {
    message: 'expected an absolute path other than / with no . or .. parts',
  });
/** sandbox.local: a uid or gid that is not root. */
const sandboxId = z.number().int().min(1, 'commands never run as root (0)').max(4_294_967_294);

const scheduleSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'expected a short name: lowercase letters, digits, -'),
    cron: z.string().superRefine((expression, ctx) => {
      const problem = cronProblem(expression);
      if (problem) ctx.addIssue({ code: 'custom', message: `not a cron expression: ${problem}` });
    }),
    repos: z.union([z.literal('all'), z.array(repoName).min(1, 'list at least one repository')]),
    task: z.string().min(1),
    channel: z.string().regex(/^[CG][A-Z0-9]+$/, 'expected a Slack channel id (C…)'),
    mode: z.enum(['change', 'ask']).default('change'),
  })
  .strict();

const policySchema = z
  .object({
    repos: z
      .record(repoName, repoSchema)
      .refine((r) => Object.keys(r).length > 0, 'list at least one repository'),
    channels: z.record(z.string(), z.object({ repo: repoName }).strict()).default({}),
    // Where audit checkpoints are also posted, so the chain's head lives outside the database.
    audit: z
      .object({
        channel: z
          .string()
          .regex(/^[CG][A-Z0-9]+$/, 'expected a Slack channel id such as C01AUDIT')
          .optional(),
      })
      .strict()
      .optional(),
    jira: z
      .object({
        projects: z
          .record(z.string().regex(/^[A-Z][A-Z0-9_]+$/, 'expected a Jira project key'), repoName)
          .default({}),
        on_pr: z
          .object({ comment: z.boolean().default(true), transition: z.string().min(1).optional() })
          .strict()
          .default({ comment: true }),
        // Moves the ticket when the pull request airlock opened for it is merged.
        on_merge: z
          .object({ transition: z.string().min(1).optional() })
          .strict()
          .optional(),
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
    // People on the forge are people in the policy: a forge login → a Slack user id.
    people: z
      .record(
        z.string().regex(/^[A-Za-z0-9][\w.-]{0,99}$/, 'expected a forge login'),
        z.string().regex(/^[UW][A-Z0-9]+$/, 'expected a Slack user id such as U01ABCDEF'),
      )
      .default({}),
    // Following the pull requests airlock opened, by polling (outbound only).
    pr_watch: z
      .object({
        enabled: z.boolean().default(true),
        every: duration.default(60_000),
        handle: z
          .string()
          .regex(/^[A-Za-z0-9][\w.-]{0,38}$/, 'expected a name such as airlock (without @)')
          .default('airlock'),
        autofix: z.boolean().default(false),
        max_fix_attempts: z.number().int().min(0).max(20).default(2),
      })
      .strict()
      .default({ enabled: true, every: 60_000, handle: 'airlock', autofix: false, max_fix_attempts: 2 }),
    // Reviews asked in Slack: ask (the thread offers Post review to the requester), auto, or never.
    review: z
      .object({ post: z.enum(['ask', 'auto', 'never']).default('ask') })
      .strict()
      .default({ post: 'ask' }),
    // Sweeps on a timetable, run by `airlock serve`: one parent message, one run per repository.
    schedules: z.array(scheduleSchema).default([]),
    limits: limitsSchema.default(limitsSchema.parse({})),
    // Hosts every repository's sandboxes may reach through the egress gateway (default: none).
    network: networkSchema.default({}),
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
        // Local sandboxes see an allow-list of system directories (DESIGN.md §4), never the host.
        local: z
          .object({
            // auto: bubblewrap when it works, else plain processes with a warning.
            isolation: z.enum(['auto', 'bubblewrap', 'none']).default('auto'),
            // Extra host paths bound read-only at the same path (a toolchain under /opt, say).
            bind: z.array(hostPath).default([]),
            // Paths masked inside what is bound (a key file under a bound folder); the data dir always is.
            hide: z.array(hostPath).default([]),
            // The unprivileged uid/gid commands run as; default 65532 when airlock is root, else airlock's own.
            uid: sandboxId.optional(),
            gid: sandboxId.optional(),
          })
          .strict()
          .default({ isolation: 'auto', bind: [], hide: [] }),
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
        local: { isolation: 'auto', bind: [], hide: [] },
      }),
    model: z
      .object({
        name: z.string().min(1).optional(),
        max_output_tokens: z.number().int().positive().default(8192),
        // The model's context window; default: the model's documented window where airlock knows
        // the model, else 200,000. Requests stay under 80 % of it (old tool outputs are elided).
        context_tokens: z.number().int().min(4096).optional(),
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
    const names = new Set<string>();
    p.schedules.forEach((s, i) => {
      if (names.has(s.name))
        ctx.addIssue({ code: 'custom', path: ['schedules', i, 'name'], message: `${s.name} is used twice` });
      names.add(s.name);
      if (s.repos !== 'all')
        for (const repo of s.repos)
          if (!(repo in p.repos))
            ctx.addIssue({
              code: 'custom',
              path: ['schedules', i, 'repos'],
              message: `${repo} is not under repos`,
            });
    });
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
export type Schedule = z.infer<typeof scheduleSchema>;
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

/** What a repository's sandbox may reach in `phase`: its own list, else the top-level one. */
export function networkFor(policy: Policy, repo: string, phase: 'setup' | 'agent'): string[] {
  return repoPolicy(policy, repo).network?.[phase] ?? policy.network[phase] ?? [];
}
