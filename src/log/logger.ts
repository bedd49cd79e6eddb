import { type DestinationStream, type Logger, pino } from 'pino';
import type { Redactor } from './redactor.js';

export type { Logger } from 'pino';

/** Field paths that hold secrets wherever they appear in a log object. */
const REDACT_PATHS = [
  '*.apiKey',
  '*.token',
  '*.authorization',
  '*.Authorization',
  '*.privateKey',
  'headers.authorization',
  'headers["x-api-key"]',
  'env.ANTHROPIC_API_KEY',
  'env.OPENAI_API_KEY',
  'env.GITHUB_TOKEN',
  'env.GITHUB_APP_PRIVATE_KEY',
  'env.SLACK_BOT_TOKEN',
  'env.SLACK_APP_TOKEN',
  'env.JIRA_API_TOKEN',
  'env.JIRA_PAT',
];

export function createLogger(opts: {
  level: string;
  redactor: Redactor;
  destination?: DestinationStream;
}): Logger {
  const { redactor } = opts;
  return pino(
    {
      level: opts.level,
      base: { service: 'airlock' },
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      formatters: { log: (obj) => redactor.redactValue(obj) },
      hooks: {
        logMethod(args, method) {
          const clean = args.map((a) => (typeof a === 'string' ? redactor.redact(a) : a)) as Parameters<
            typeof method
          >;
          method.apply(this, clean);
        },
      },
      serializers: { err: pino.stdSerializers.err },
    },
    opts.destination ?? pino.destination(2),
  );
}

/** One child logger per run (STYLE.md): every line of a run carries its id and repository. */
export function runLogger(logger: Logger, runId: string, repo: string): Logger {
  return logger.child({ run_id: runId, repo });
}
