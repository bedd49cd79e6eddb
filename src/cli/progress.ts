import type { AgentEvent } from '../agent/agent-events.js';

/**
 * Progress on stderr: one live line per step in a terminal, plain lines otherwise (CI logs).
 */
export class ProgressPrinter {
  private step = 0;
  private tokens = 0;
  private cost = 0;
  private last = '';
  private readonly started = Date.now();

  constructor(
    private readonly out: NodeJS.WriteStream | { write(s: string): unknown; isTTY?: boolean },
    private readonly maxSteps: number,
  ) {}

  private get live(): boolean {
    return !!this.out.isTTY;
  }

  line(text: string): void {
    if (this.live) this.out.write('\r\x1b[K');
    this.out.write(`${text}\n`);
  }

  handle(event: AgentEvent): void {
    switch (event.type) {
      case 'step-started':
        this.step = event.step;
        this.status('thinking');
        break;
      case 'turn-finished': {
        const u = event.response.usage;
        this.tokens += u.inputTokens + u.outputTokens + u.cacheReadTokens + u.cacheWriteTokens;
        this.cost += event.costUsd;
        break;
      }
      case 'tool-started':
        this.status(describe(event.name, event.input));
        break;
      case 'tool-finished': {
        const what = describe(event.name, event.input);
        const result =
          event.outcome.exitCode === null
            ? event.outcome.isError
              ? 'error'
              : 'done'
            : `exit ${event.outcome.exitCode}`;
        this.last = `${what} → ${result}`;
        if (event.name === 'setup') this.line(`setup: ${what} → ${result}`);
        else if (this.live) this.status(this.last);
        else this.line(`step ${this.step}/${this.maxSteps}: ${this.last}`);
        break;
      }
      default:
        break;
    }
  }

  done(): void {
    if (this.live) this.out.write('\r\x1b[K');
  }

  private status(what: string): void {
    if (!this.live) return;
    const elapsed = Math.round((Date.now() - this.started) / 1000);
    const text = `step ${this.step}/${this.maxSteps} · ${what} · ${elapsed}s · ${formatTokens(this.tokens)} tokens · $${this.cost.toFixed(2)}`;
    const width = (this.out as NodeJS.WriteStream).columns ?? 120;
    this.out.write(`\r\x1b[K${text.slice(0, width - 1)}`);
  }
}

function describe(name: string, input: Record<string, unknown>): string {
  if (name === 'bash' || name === 'setup') {
    const command = String(input.command ?? (input.restart ? '(restart)' : '')).split('\n')[0] ?? '';
    return `$ ${command.length > 60 ? `${command.slice(0, 57)}...` : command}`;
  }
  return `${String(input.command ?? 'edit')} ${String(input.path ?? '')}`.trim();
}

function formatTokens(n: number): string {
  return n >= 1000 ? `${(n / 1000).toFixed(1)}k` : String(n);
}
