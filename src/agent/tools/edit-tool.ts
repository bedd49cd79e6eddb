import { posix } from 'node:path';
import type { Sandbox } from '../../runs/ports/sandbox.js';
import { shellQuote } from '../../shared/shell-quote.js';
import { headTail } from '../truncate.js';
import { type ToolOutcome, toolError } from './tool-result.js';

export interface EditInput {
  command?: string;
  path?: string;
  file_text?: string;
  old_str?: string;
  new_str?: string;
  insert_line?: number;
  insert_text?: string;
  view_range?: number[];
}

const SNIPPET_LINES = 4;

function ok(text: string, maxChars: number): ToolOutcome {
  return { content: headTail(text, maxChars), fullOutput: text, isError: false, exitCode: 0 };
}

function numbered(text: string, firstLine: number): string {
  return text
    .split('\n')
    .map((line, i) => `${String(i + firstLine).padStart(6)}\t${line}`)
    .join('\n');
}

/**
 * Anthropic's text editor tool (text_editor_20250728: view, create, str_replace, insert) over
 * the Sandbox port. Paths are absolute inside the workspace or relative to it; anything that
 * leaves the workspace is a tool error the model can read, never a crash.
 */
export class EditTool {
  constructor(
    private readonly sandbox: Sandbox,
    private readonly opts: { maxModelChars: number; readOnly?: boolean },
  ) {}

  async run(input: EditInput): Promise<ToolOutcome> {
    if (this.opts.readOnly && input.command !== 'view')
      return toolError(
        `Error: this run is read-only: the editor offers only \`view\`, and ${JSON.stringify(input.command)} would change the workspace. Answer from what you read.`,
      );
    const path = this.resolve(input.path);
    if (typeof path !== 'string') return path;
    try {
      switch (input.command) {
        case 'view':
          return await this.view(path, input.view_range);
        case 'create':
          return await this.create(path, input.file_text);
        case 'str_replace':
          return await this.replace(path, input.old_str, input.new_str ?? '');
        case 'insert':
          return await this.insert(path, input.insert_line, input.insert_text ?? input.new_str);
        default:
          return toolError(
            `Error: unknown command ${JSON.stringify(input.command)}. Allowed: view, create, str_replace, insert.`,
          );
      }
    } catch (error) {
      return toolError(`Error: ${(error as Error).message}`);
    }
  }

  private resolve(path: unknown): string | ToolOutcome {
    if (typeof path !== 'string' || !path) return toolError('Error: "path" is required.');
    const root = this.sandbox.workdir;
    const full = posix.isAbsolute(path) ? posix.normalize(path) : posix.join(root, path);
    if (full !== root && !full.startsWith(`${root}/`)) {
      return toolError(`Error: ${path} is outside the workspace. Use a path under ${root}.`);
    }
    return full;
  }

  private async isDirectory(path: string): Promise<boolean> {
    const r = await this.sandbox.exec(`test -d ${shellQuote(path)}`, { timeoutMs: 10_000 });
    return r.exitCode === 0;
  }

  private async readText(path: string): Promise<string> {
    const data = await this.sandbox.readFile(path).catch((e: NodeJS.ErrnoException) => {
      throw new Error(e.code === 'ENOENT' ? `${path} does not exist.` : e.message);
    });
    if (data.includes(0)) throw new Error(`${path} is a binary file; use bash to inspect it.`);
    return data.toString('utf8');
  }

  private async view(path: string, range?: number[]): Promise<ToolOutcome> {
    if (await this.isDirectory(path)) {
      const q = shellQuote(path);
      const r = await this.sandbox.exec(
        // Prune by name, not by a path pattern, so a workspace under a dot directory still lists.
        `find ${q} -maxdepth 2 \\( -name '.*' ! -path ${q} \\) -prune -o -path ${shellQuote(`${path}/node_modules/`)}'*' -prune -o -print | sort`,
        { timeoutMs: 30_000 },
      );
      return ok(
        `Files and directories up to 2 levels deep in ${path}:\n${r.stdout.toString()}`,
        this.opts.maxModelChars,
      );
    }
    const text = await this.readText(path);
    const lines = text.split('\n');
    if (!range) return ok(numbered(text, 1), this.opts.maxModelChars);
    const [start, end] = range;
    if (range.length !== 2 || !Number.isInteger(start) || !Number.isInteger(end)) {
      return toolError('Error: view_range must be two integers [start, end]; end may be -1.');
    }
    if ((start as number) < 1 || (start as number) > lines.length) {
      return toolError(`Error: view_range start ${start} is outside the file's lines 1–${lines.length}.`);
    }
    const last = end === -1 ? lines.length : (end as number);
    if (last < (start as number) || last > lines.length) {
      return toolError(`Error: view_range end ${end} must be -1 or between ${start} and ${lines.length}.`);
    }
    return ok(
      numbered(lines.slice((start as number) - 1, last).join('\n'), start as number),
      this.opts.maxModelChars,
    );
  }

  private async create(path: string, text: string | undefined): Promise<ToolOutcome> {
    if (typeof text !== 'string') return toolError('Error: "file_text" is required for create.');
    const exists = await this.sandbox.exec(`test -e ${shellQuote(path)}`, { timeoutMs: 10_000 });
    if (exists.exitCode === 0) {
      return toolError(`Error: ${path} already exists. Use str_replace or insert to change it.`);
    }
    await this.sandbox.writeFile(path, text);
    return ok(`File created successfully at: ${path}`, this.opts.maxModelChars);
  }

  private async replace(path: string, oldStr: string | undefined, newStr: string): Promise<ToolOutcome> {
    if (typeof oldStr !== 'string' || oldStr === '')
      return toolError('Error: "old_str" is required for str_replace.');
    const text = await this.readText(path);
    const first = text.indexOf(oldStr);
    if (first < 0)
      return toolError(`Error: no replacement was made; old_str did not appear verbatim in ${path}.`);
    if (text.indexOf(oldStr, first + 1) >= 0) {
      const lines: number[] = [];
      for (let at = first; at >= 0; at = text.indexOf(oldStr, at + 1))
        lines.push(text.slice(0, at).split('\n').length);
      return toolError(
        `Error: no replacement was made; old_str occurs ${lines.length} times (lines ${lines.join(', ')}). Make it unique.`,
      );
    }
    const updated = text.slice(0, first) + newStr + text.slice(first + oldStr.length);
    await this.sandbox.writeFile(path, updated);
    const startLine = text.slice(0, first).split('\n').length;
    return ok(this.snippet(path, updated, startLine, newStr.split('\n').length), this.opts.maxModelChars);
  }

  private async insert(
    path: string,
    line: number | undefined,
    text: string | undefined,
  ): Promise<ToolOutcome> {
    if (typeof text !== 'string') return toolError('Error: "insert_text" is required for insert.');
    const current = await this.readText(path);
    const lines = current.split('\n');
    // A final newline ends the last line; it does not start another one.
    const count = current.endsWith('\n') ? lines.length - 1 : lines.length;
    if (!Number.isInteger(line) || (line as number) < 0 || (line as number) > count) {
      return toolError(`Error: insert_line must be between 0 and ${count}.`);
    }
    lines.splice(line as number, 0, ...(text.endsWith('\n') ? text.slice(0, -1) : text).split('\n'));
    const updated = lines.join('\n');
    await this.sandbox.writeFile(path, updated);
    return ok(
      this.snippet(path, updated, (line as number) + 1, text.split('\n').length),
      this.opts.maxModelChars,
    );
  }

  private snippet(path: string, text: string, startLine: number, count: number): string {
    const lines = text.split('\n');
    const from = Math.max(1, startLine - SNIPPET_LINES);
    const to = Math.min(lines.length, startLine + count - 1 + SNIPPET_LINES);
    return `The file ${path} has been edited. Here is a snippet of it:\n${numbered(lines.slice(from - 1, to).join('\n'), from)}\nReview the changes and edit again if needed.`;
  }
}
