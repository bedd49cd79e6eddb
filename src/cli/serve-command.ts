import type { App } from '../composition-root.js';
import { startBot } from '../serve.js';

/** `airlock serve`: runs until SIGTERM or SIGINT, then stops cleanly. */
export async function serveCommand(app: App, out: { write(s: string): unknown }): Promise<number> {
  if (app.sandboxes.warning) out.write(`${app.sandboxes.warning}\n`);
  const bot = await startBot(app);
  out.write(`airlock serve: connected to Slack; health on :${bot.port} (/healthz, /readyz, /metrics)\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      out.write('airlock serve: stopping (runs resume on next start)...\n');
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await bot.stop();
  return 0;
}
