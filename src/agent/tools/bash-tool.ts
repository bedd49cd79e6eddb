import { randomBytes } from 'node:crypto';
import type { Sandbox } from '../../runs/ports/sandbox.js';
import { shellQuote } from '../../shared/shell-quote.js';
import { headTail } from '../truncate.js';
import { type ToolOutcome, toolError } from './tool-result.js';

export interface BashInput {
  command?: string;
  restart?: boolean;
}

/**
 * Anthropic's bash tool over the Sandbox port. Each call is a fresh `bash -c`, but the working
 * directory carries over between calls (as in a session) and `restart` resets it.
 */
export class BashTool {
  private cwd: string;
  private readonly marker = `__AIRLOCK_CWD_${randomBytes(6).toString('hex')}__`;

  constructor(
    private readonly sandbox: Sandbox,
    private readonly opts: { timeoutMs: number; maxModelChars: number; readOnly?: boolean },
  ) {
    this.cwd = sandbox.workdir;
  }

  get workingDirectory(): string {
    return this.cwd;
  }

  async run(input: BashInput, ctx: { signal?: AbortSignal; timeoutMs?: number }): Promise<ToolOutcome> {
    if (input.restart) {
      this.cwd = this.sandbox.workdir;
      return {
        content: 'tool has been restarted.',
        fullOutput: 'tool has been restarted.',
        isError: false,
        exitCode: 0,
      };
    }
    const command = typeof input.command === 'string' ? input.command : '';
    if (!command.trim()) return toolError('Error: no command given. Pass {"command": "..."}.');

    // The command runs through eval, so nothing in it (an unclosed here-document, a trailing
    // backslash) can swallow the lines around it; the EXIT trap reports the directory even
    // when the command calls exit.
    const script = [
      `cd -- ${shellQuote(this.cwd)} 2>/dev/null || cd -- ${shellQuote(this.sandbox.workdir)}`,
      // The marker is [A-Z0-9_] only, so it needs no quoting inside the trap string.
      `trap 'printf "\\n%s%s\\n" ${this.marker} "$PWD"' EXIT`,
      `eval ${shellQuote(command)}`,
    ].join('\n');
    const timeoutMs = Math.min(this.opts.timeoutMs, ctx.timeoutMs ?? Number.POSITIVE_INFINITY);
    const result = await this.sandbox.exec(script, {
      timeoutMs,
      signal: ctx.signal,
      readOnly: this.opts.readOnly,
    });

    let stdout = result.stdout.toString('utf8');
    const at = stdout.lastIndexOf(this.marker);
    if (at >= 0) {
      const end = stdout.indexOf('\n', at);
      this.cwd = stdout.slice(at + this.marker.length, end < 0 ? undefined : end) || this.cwd;
      stdout = stdout.slice(0, Math.max(0, at - 1)) + (end < 0 ? '' : stdout.slice(end + 1));
    }
    const stderr = result.stderr.toString('utf8');
    const parts = [stdout.trimEnd(), stderr.trimEnd()].filter(Boolean);
    if (result.timedOut) parts.push(`[command timed out after ${formatDuration(timeoutMs)} and was killed]`);
    else if (result.cancelled) parts.push('[command cancelled]');
    else if (result.exitCode === null) parts.push('[command interrupted]');
    else if (result.exitCode !== 0) parts.push(`[exit code: ${result.exitCode}]`);
    const full = parts.join('\n') || '(no output)';
    return {
      content: headTail(full, this.opts.maxModelChars),
      fullOutput: full,
      isError: result.timedOut || result.cancelled,
      exitCode: result.exitCode,
    };
  }
}

function formatDuration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)}s`;
}
