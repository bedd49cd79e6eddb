import type { App } from '../composition-root.js';
import { startBot } from '../serve.js';

type StopSignal = 'SIGINT' | 'SIGTERM';

/** A second signal exits at once, with the shell's code for death by that signal (128 + n). */
const EXIT_AT_ONCE: Record<StopSignal, number> = { SIGINT: 130, SIGTERM: 143 };
/** The graceful stop's own waits add up to under 10 s; past this something hangs, and serve exits 1. */
const STOP_DEADLINE_MS = 12_000;

/**
 * `airlock serve`: runs until SIGTERM or SIGINT, then stops: intake first, acks and replies in
 * flight finish, runs are left to resume on the next start, and the process exits by itself (0).
 * A second SIGTERM or SIGINT exits at once (143 or 130); a stop still unfinished after 12 s exits 1,
 * saying what was still open.
 */
export async function serveCommand(app: App, out: { write(s: string): unknown }): Promise<number> {
  if (app.sandboxes.warning) out.write(`${app.sandboxes.warning}\n`);
  let phase = 'starting';
  let signalled = false;
  let requestStop = () => {};
  const stopRequested = new Promise<void>((resolve) => {
    requestStop = resolve;
  });
  const onSignal = (signal: StopSignal) => {
    if (signalled) {
      out.write(`airlock serve: ${signal} again, exiting now (runs resume on next start)\n`);
      process.exit(EXIT_AT_ONCE[signal]);
    }
    signalled = true;
    out.write('airlock serve: stopping (runs resume on next start; signal again to exit at once)...\n');
    safetyNet(out, () => phase);
    requestStop();
  };
  // Listening from the start, so a signal that comes while connecting is not lost.
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const bot = await startBot(app).catch((error: unknown) => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    throw error;
  });
  out.write(`airlock serve: connected to Slack; health on :${bot.port} (/healthz, /readyz, /metrics)\n`);
  phase = 'serving';
  await stopRequested;
  phase = 'stopping';
  await bot.stop();
  phase = 'stopped';
  return 0;
}

/** Exits 1 if the process is still alive STOP_DEADLINE_MS after the first signal. */
function safetyNet(out: { write(s: string): unknown }, phase: () => string): void {
  setTimeout(() => {
    const open = new Map<string, number>();
    for (const kind of process.getActiveResourcesInfo()) open.set(kind, (open.get(kind) ?? 0) + 1);
    const listed = [...open].map(([kind, n]) => `${kind} ×${n}`).join(', ');
    out.write(
      `airlock serve: still ${phase()} ${STOP_DEADLINE_MS / 1000} s after the signal (open: ${listed || 'nothing'}); exiting\n`,
    );
    process.exit(1);
  }, STOP_DEADLINE_MS).unref();
}
