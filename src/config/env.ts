import { z } from 'zod';
import { AirlockError } from '../errors.js';

/** An endpoint: http or https only (a file:, ftp: or javascript: URL is a mistake or an attack). */
const endpoint = () => z.url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' });

/** Environment variables of DESIGN.md §7: secrets and endpoints. Everything else is policy. */
const envSchema = z.object({
  AIRLOCK_CONFIG: z.string().min(1).default('./airlock.yaml'),
  AIRLOCK_DATA_DIR: z.string().min(1).default('./.airlock'),
  AIRLOCK_SANDBOX: z.enum(['local', 'kubernetes']).default('local'),
  // Outside a cluster: the kubeconfig for AIRLOCK_SANDBOX=kubernetes (in a pod, the service account).
  KUBECONFIG: z.string().min(1).optional(),
  AIRLOCK_HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  // Kubernetes: the egress gateway's port for sandbox pods, and the URL they reach it at (the
  // airlock pod's IP, so sandboxes need no DNS). Without the URL, pods have no way out at all.
  AIRLOCK_EGRESS_PORT: z.coerce.number().int().min(1).max(65535).default(3128),
  AIRLOCK_EGRESS_URL: endpoint().optional(),
  AIRLOCK_PROVIDER: z.enum(['anthropic', 'bedrock', 'vertex', 'openai']).default('anthropic'),
  AIRLOCK_MODEL: z.string().min(1).optional(),
  AIRLOCK_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ANTHROPIC_API_KEY: z.string().min(1).optional(),
  ANTHROPIC_BASE_URL: endpoint().optional(),
  OPENAI_API_KEY: z.string().min(1).optional(),
  OPENAI_BASE_URL: endpoint().optional(),
  AWS_REGION: z.string().optional(),
  CLOUD_ML_REGION: z.string().optional(),
  ANTHROPIC_VERTEX_PROJECT_ID: z.string().optional(),
  SLACK_BOT_TOKEN: z.string().min(1).optional(),
  SLACK_APP_TOKEN: z.string().min(1).optional(),
  SLACK_API_URL: endpoint().optional(),
  GITHUB_TOKEN: z.string().min(1).optional(),
  GITHUB_APP_ID: z.string().min(1).optional(),
  GITHUB_APP_PRIVATE_KEY: z.string().min(1).optional(),
  GITHUB_APP_INSTALLATION_ID: z.coerce.number().int().positive().optional(),
  GITHUB_API_URL: endpoint().default('https://api.github.com'),
  GITLAB_URL: endpoint().optional(),
  GITLAB_TOKEN: z.string().min(1).optional(),
  JIRA_BASE_URL: endpoint().optional(),
  JIRA_EMAIL: z.string().optional(),
  JIRA_API_TOKEN: z.string().optional(),
  JIRA_PAT: z.string().optional(),
  // HMAC key of the audit chain (from a Secret); without it the chain is plain SHA-256.
  AIRLOCK_AUDIT_KEY: z
    .string()
    .min(16, 'must be at least 16 characters: use a random secret, e.g. `openssl rand -hex 32`')
    .optional(),
});

export type AirlockEnv = z.infer<typeof envSchema>;

/** Names of variables whose values are secrets: redacted from logs and command output. */
export const SECRET_ENV_KEYS = [
  'ANTHROPIC_API_KEY',
  'OPENAI_API_KEY',
  'SLACK_BOT_TOKEN',
  'SLACK_APP_TOKEN',
  'GITHUB_TOKEN',
  'GITHUB_APP_PRIVATE_KEY',
  'GITLAB_TOKEN',
  'JIRA_API_TOKEN',
  'JIRA_PAT',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AIRLOCK_AUDIT_KEY',
] as const;

export function readEnv(env: NodeJS.ProcessEnv = process.env): AirlockEnv {
  // Empty strings count as unset, as shells and Kubernetes often produce them.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new AirlockError('config_invalid', `Environment is invalid — ${issues}`);
  }
  return parsed.data;
}

/** Every secret value present in the environment, longest first so redaction replaces whole tokens. */
export function secretValues(env: NodeJS.ProcessEnv = process.env): string[] {
  const values = SECRET_ENV_KEYS.map((k) => env[k]).filter((v): v is string => !!v && v.length >= 6);
  return [...new Set(values)].sort((a, b) => b.length - a.length);
}
