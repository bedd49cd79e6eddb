/**
 * Replaces known secret values wherever they appear: in command output before it is stored or
 * shown to the model, in log lines, in error messages. Defence in depth behind the sandbox's
 * scrubbed environment (a command could still find a secret on disk or in another process).
 */
export class Redactor {
  private readonly secrets: string[];

  constructor(secrets: Iterable<string>) {
    this.secrets = [...new Set([...secrets].filter((s) => s.length >= 6))].sort(
      (a, b) => b.length - a.length,
    );
    // Base64 forms, as they appear in Basic auth headers.
    for (const s of [...this.secrets]) {
      this.secrets.push(Buffer.from(`x-access-token:${s}`).toString('base64'));
    }
  }

  /** A secret learned at run time (a short-lived installation token). */
  add(secret: string): void {
    if (secret.length < 6 || this.secrets.includes(secret)) return;
    this.secrets.push(secret, Buffer.from(`x-access-token:${secret}`).toString('base64'));
    this.secrets.sort((a, b) => b.length - a.length);
  }

  get active(): boolean {
    return this.secrets.length > 0;
  }

  redact(text: string): string {
    let out = text;
    for (const secret of this.secrets) {
      if (out.includes(secret)) out = out.split(secret).join('[REDACTED]');
    }
    return out;
  }

  /** Deep copy of a JSON-like value with every string redacted. */
  redactValue<T>(value: T): T {
    if (!this.active) return value;
    if (typeof value === 'string') return this.redact(value) as T;
    if (Array.isArray(value)) return value.map((v) => this.redactValue(v)) as T;
    if (value && typeof value === 'object' && !Buffer.isBuffer(value)) {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.redactValue(v)])) as T;
    }
    return value;
  }
}
