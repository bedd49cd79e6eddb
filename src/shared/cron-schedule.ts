import { Cron } from 'croner';

/**
 * A cron expression as `schedules:` takes it: five fields, or six with seconds first (croner).
 * Returns why it is not one, or undefined.
 */
export function cronProblem(expression: string): string | undefined {
  const fields = expression.trim().split(/\s+/).length;
  if (fields !== 5 && fields !== 6)
    return `expected five cron fields (or six with seconds first), got ${fields}`;
  try {
    new Cron(expression, { paused: true });
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** When `expression` fires next after `from` (UTC), or undefined when it never does again. */
export function nextCronTime(expression: string, from: Date): Date | undefined {
  return new Cron(expression, { paused: true, timezone: 'UTC' }).nextRun(from) ?? undefined;
}
