import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BashTool } from '../../src/agent/tools/bash-tool.js';
import { EditTool } from '../../src/agent/tools/edit-tool.js';
import { headTail } from '../../src/agent/truncate.js';
import type { Sandbox } from '../../src/runs/ports/sandbox.js';
import { LocalSandboxProvider } from '../../src/sandbox/local/local-sandbox.js';

const RUN = 'run-1';

/** The editor's numbering: line number right-aligned in six columns, a tab, the line. */
function numbered(lines: string[], first = 1): string {
  return lines.map((line, i) => `${String(first + i).padStart(6)}\t${line}`).join('\n');
}

describe.each(['bubblewrap', 'none'] as const)(
  'agent tools over a local sandbox with isolation %s',
  (isolation) => {
    let base: string;
    let root: string;
    let outside: string;
    let sandbox: Sandbox;
    let wd: string;

    beforeEach(async () => {
      base = mkdtempSync(join(tmpdir(), 'airlock-tools-'));
      root = join(base, 'data', 'workspaces');
      outside = join(base, 'outside');
      mkdirSync(outside);
      sandbox = await new LocalSandboxProvider(root, { isolation }).create(RUN);
      wd = sandbox.workdir;
    });

    afterEach(() => {
      rmSync(base, { recursive: true, force: true });
    });

    const hostWs = () => join(root, RUN, 'ws');
    const hostRead = (path: string) => readFileSync(join(hostWs(), path), 'utf8');

    describe('BashTool', () => {
      const bash = (opts: Partial<{ timeoutMs: number; maxModelChars: number }> = {}) =>
        new BashTool(sandbox, { timeoutMs: 5000, maxModelChars: 10_000, ...opts });

      it('keeps the working directory between calls', async () => {
        await sandbox.exec('mkdir -p src/deep');
        const tool = bash();
        expect(tool.workingDirectory).toBe(wd);
        const cd = await tool.run({ command: 'cd src' }, {});
        expect(cd).toEqual({
          content: '(no output)',
          fullOutput: '(no output)',
          isError: false,
          exitCode: 0,
        });
        expect(tool.workingDirectory).toBe(`${wd}/src`);
        expect((await tool.run({ command: 'pwd' }, {})).content).toBe(`${wd}/src`);
        expect((await tool.run({ command: 'cd deep && pwd' }, {})).content).toBe(`${wd}/src/deep`);
        expect((await tool.run({ command: 'pwd' }, {})).content).toBe(`${wd}/src/deep`);
      });

      it('restart resets the working directory to the workdir', async () => {
        await sandbox.exec('mkdir -p src');
        const tool = bash();
        await tool.run({ command: 'cd src' }, {});
        const restarted = await tool.run({ restart: true }, {});
        expect(restarted).toEqual({
          content: 'tool has been restarted.',
          fullOutput: 'tool has been restarted.',
          isError: false,
          exitCode: 0,
        });
        expect(tool.workingDirectory).toBe(wd);
        expect((await tool.run({ command: 'pwd' }, {})).content).toBe(wd);
      });

      it('falls back to the workdir when the working directory has vanished', async () => {
        await sandbox.exec('mkdir -p gone');
        const tool = bash();
        await tool.run({ command: 'cd gone' }, {});
        await tool.run({ command: `rmdir ${wd}/gone` }, {});
        const result = await tool.run({ command: 'pwd' }, {});
        expect(result.content).toBe(wd);
        expect(tool.workingDirectory).toBe(wd);
      });

      it('reports a non-zero exit as [exit code: N] after stdout and stderr', async () => {
        const tool = bash();
        const result = await tool.run({ command: 'echo out; echo err >&2; exit 3' }, {});
        expect(result).toEqual({
          content: 'out\nerr\n[exit code: 3]',
          fullOutput: 'out\nerr\n[exit code: 3]',
          isError: false,
          exitCode: 3,
        });
        const silent = await tool.run({ command: 'false' }, {});
        expect(silent.content).toBe('[exit code: 1]');
        expect(silent.exitCode).toBe(1);
      });

      it('an empty command is a tool error and runs nothing', async () => {
        const tool = bash();
        const message = 'Error: no command given. Pass {"command": "..."}.';
        for (const input of [{}, { command: '' }, { command: '  \n ' }]) {
          expect(await tool.run(input, {})).toEqual({
            content: message,
            fullOutput: message,
            isError: true,
            exitCode: null,
          });
        }
      });

      it('a command over the timeout is killed and says so, keeping what it printed', async () => {
        const tool = bash({ timeoutMs: 500 });
        const started = Date.now();
        const result = await tool.run({ command: 'echo started; sleep 30' }, {});
        expect(Date.now() - started).toBeLessThan(3000);
        expect(result.content).toBe('started\n[command timed out after 500 ms and was killed]');
        expect(result.isError).toBe(true);
        expect(result.exitCode).toBeNull();
      });

      it('the shorter of the tool timeout and the call timeout applies', async () => {
        const tool = bash({ timeoutMs: 20_000 });
        const started = Date.now();
        const result = await tool.run({ command: 'sleep 30' }, { timeoutMs: 400 });
        expect(Date.now() - started).toBeLessThan(3000);
        expect(result.content).toBe('[command timed out after 400 ms and was killed]');
        expect(result.isError).toBe(true);
      });

      it('a cancelled call says so', async () => {
        const tool = bash();
        const controller = new AbortController();
        setTimeout(() => controller.abort(), 200);
        const result = await tool.run({ command: 'sleep 30' }, { signal: controller.signal });
        expect(result).toMatchObject({ content: '[command cancelled]', isError: true, exitCode: null });
      });

      it('never shows the cwd marker to the model', async () => {
        await sandbox.exec('mkdir -p src');
        const tool = bash({ timeoutMs: 500 });
        const cases: Array<[string, string]> = [
          ['printf abc', 'abc'],
          ['echo hi', 'hi'],
          ['true', '(no output)'],
          ['cd src', '(no output)'],
          ['printf "no newline" >&2', 'no newline'],
          ['echo a; exit 4', 'a\n[exit code: 4]'],
          ['printf "x\\n\\n\\n"', 'x'],
        ];
        for (const [command, content] of cases) {
          const result = await tool.run({ command }, {});
          expect(result.content).toBe(content);
          expect(result.fullOutput).not.toContain('__AIRLOCK_CWD_');
        }
        const timedOut = await tool.run({ command: 'sleep 30' }, {});
        expect(timedOut.fullOutput).not.toContain('__AIRLOCK_CWD_');
      });

      it('a command that prints marker-like text gets it back and keeps its directory', async () => {
        const tool = bash();
        const fake = await tool.run({ command: 'echo __AIRLOCK_CWD_0123456789ab__/etc' }, {});
        expect(fake.content).toBe('__AIRLOCK_CWD_0123456789ab__/etc');
        expect(tool.workingDirectory).toBe(wd);

        // Even the real marker, read from the script itself, cannot steer the working directory.
        const real = await tool.run(
          { command: "grep -ao '__AIRLOCK_CWD_[0-9a-f]*__' /proc/$$/cmdline | head -n1 | sed 's#$#/etc#'" },
          {},
        );
        expect(real.content).toMatch(/^__AIRLOCK_CWD_[0-9a-f]{12}__\/etc$/);
        expect(tool.workingDirectory).toBe(wd);
        expect((await tool.run({ command: 'pwd' }, {})).content).toBe(wd);
      });

      // BUG: the command is pasted into the script above the marker lines, so a here-document the
      // command leaves open swallows them: the marker's printf line comes out as text and the cwd
      // is set to the tail of that line (`' "/workspace/src"`); the next call silently loses `cd`.
      it('a command with an unterminated here-document keeps the working directory', async () => {
        await sandbox.exec('mkdir -p src');
        const tool = bash();
        const result = await tool.run({ command: 'cd src\ncat <<EOF\nhello' }, {});
        expect(tool.workingDirectory).toBe(`${wd}/src`);
        expect(result.content).not.toContain('__airlock_status');
      });

      it('cuts long output to head and tail for the model and keeps all of it in fullOutput', async () => {
        const tool = bash({ maxModelChars: 200 });
        const result = await tool.run(
          { command: "head -c 3000 /dev/zero | tr '\\0' A; head -c 3000 /dev/zero | tr '\\0' B" },
          {},
        );
        const full = `${'A'.repeat(3000)}${'B'.repeat(3000)}`;
        expect(result.fullOutput).toBe(full);
        expect(result.content).toBe(
          `${'A'.repeat(100)}\n\n[... 5800 characters cut; the full output is in the run's record ...]\n\n${'B'.repeat(100)}`,
        );
        expect(result.content).toBe(headTail(full, 200));
        expect(result.exitCode).toBe(0);
      });
    });

    describe('EditTool', () => {
      const edit = (maxModelChars = 10_000) => new EditTool(sandbox, { maxModelChars });

      it('views a file with line numbers', async () => {
        await sandbox.writeFile('a.txt', 'alpha\nbravo\ncharlie');
        const result = await edit().run({ command: 'view', path: 'a.txt' });
        expect(result).toEqual({
          content: numbered(['alpha', 'bravo', 'charlie']),
          fullOutput: numbered(['alpha', 'bravo', 'charlie']),
          isError: false,
          exitCode: 0,
        });
        const absolute = await edit().run({ command: 'view', path: `${wd}/a.txt` });
        expect(absolute.content).toBe(numbered(['alpha', 'bravo', 'charlie']));
      });

      it('views a range of lines, with -1 meaning to the end', async () => {
        await sandbox.writeFile('a.txt', 'l1\nl2\nl3\nl4\nl5');
        const tool = edit();
        expect((await tool.run({ command: 'view', path: 'a.txt', view_range: [2, 3] })).content).toBe(
          numbered(['l2', 'l3'], 2),
        );
        expect((await tool.run({ command: 'view', path: 'a.txt', view_range: [4, -1] })).content).toBe(
          numbered(['l4', 'l5'], 4),
        );
        expect((await tool.run({ command: 'view', path: 'a.txt', view_range: [5, 5] })).content).toBe(
          numbered(['l5'], 5),
        );
      });

      it.each([
        [[0, 2], "Error: view_range start 0 is outside the file's lines 1–5."],
        [[6, -1], "Error: view_range start 6 is outside the file's lines 1–5."],
        [[3, 2], 'Error: view_range end 2 must be -1 or between 3 and 5.'],
        [[1, 9], 'Error: view_range end 9 must be -1 or between 1 and 5.'],
        [[1], 'Error: view_range must be two integers [start, end]; end may be -1.'],
        [[1, 2, 3], 'Error: view_range must be two integers [start, end]; end may be -1.'],
        [[1.5, 2], 'Error: view_range must be two integers [start, end]; end may be -1.'],
      ])('refuses the bad view_range %j', async (range, message) => {
        await sandbox.writeFile('a.txt', 'l1\nl2\nl3\nl4\nl5');
        expect(await edit().run({ command: 'view', path: 'a.txt', view_range: range })).toEqual({
          content: message,
          fullOutput: message,
          isError: true,
          exitCode: null,
        });
      });

      it('views a directory two levels deep without dot entries or node_modules contents', async () => {
        await sandbox.writeFile('README.md', '# r\n');
        await sandbox.writeFile('src/a.ts', 'a');
        await sandbox.writeFile('src/lib/b.ts', 'b');
        await sandbox.writeFile('.env', 'SECRET=1');
        await sandbox.writeFile('.git/config', '[core]');
        await sandbox.writeFile('src/.cache/c', 'c');
        await sandbox.writeFile('node_modules/pkg/index.js', 'x');
        const result = await edit().run({ command: 'view', path: wd });
        const listed = [
          wd,
          `${wd}/README.md`,
          `${wd}/node_modules`,
          `${wd}/src`,
          `${wd}/src/a.ts`,
          `${wd}/src/lib`,
        ];
        expect(result.content).toBe(
          `Files and directories up to 2 levels deep in ${wd}:\n${listed.join('\n')}\n`,
        );
        expect(result.isError).toBe(false);
        const sub = await edit().run({ command: 'view', path: 'src' });
        expect(sub.content).toBe(
          `Files and directories up to 2 levels deep in ${wd}/src:\n${wd}/src\n${wd}/src/a.ts\n${wd}/src/lib\n${wd}/src/lib/b.ts\n`,
        );
      });

      it('cuts a long view for the model and keeps it whole in fullOutput', async () => {
        const lines = Array.from({ length: 200 }, (_, i) => `line ${i + 1}`);
        await sandbox.writeFile('long.txt', lines.join('\n'));
        const result = await edit(100).run({ command: 'view', path: 'long.txt' });
        expect(result.fullOutput).toBe(numbered(lines));
        expect(result.content).toBe(headTail(numbered(lines), 100));
        expect(result.content.length).toBeLessThan(result.fullOutput.length);
      });

      it('a missing file or a binary file is an error to the model', async () => {
        const missing = await edit().run({ command: 'view', path: 'nope.txt' });
        expect(missing).toMatchObject({ content: `Error: ${wd}/nope.txt does not exist.`, isError: true });
        await sandbox.writeFile('blob.bin', Buffer.from([0x89, 0x50, 0x00, 0x01, 0xff]));
        const blob = await edit().run({ command: 'view', path: 'blob.bin' });
        expect(blob).toMatchObject({
          content: `Error: ${wd}/blob.bin is a binary file; use bash to inspect it.`,
          isError: true,
          exitCode: null,
        });
      });

      it('creates a file, directories included, but refuses to overwrite one', async () => {
        const tool = edit();
        const created = await tool.run({ command: 'create', path: 'pkg/new.txt', file_text: 'hello\n' });
        expect(created).toMatchObject({
          content: `File created successfully at: ${wd}/pkg/new.txt`,
          isError: false,
        });
        expect(hostRead('pkg/new.txt')).toBe('hello\n');

        const again = await tool.run({ command: 'create', path: 'pkg/new.txt', file_text: 'clobbered\n' });
        expect(again).toMatchObject({
          content: `Error: ${wd}/pkg/new.txt already exists. Use str_replace or insert to change it.`,
          isError: true,
        });
        expect(hostRead('pkg/new.txt')).toBe('hello\n');

        const noText = await tool.run({ command: 'create', path: 'other.txt' });
        expect(noText).toMatchObject({
          content: 'Error: "file_text" is required for create.',
          isError: true,
        });
        expect(existsSync(join(hostWs(), 'other.txt'))).toBe(false);
      });

      // BUG: create (and isDirectory/view) quote the path for bash with JSON.stringify, which leaves
      // `$`, backticks and `$(...)` live inside the double quotes. `test -e "/workspace/price$tag.txt"`
      // tests `/workspace/price.txt`, so an existing file whose name holds `$` is overwritten.
      it('refuses to overwrite an existing file whose name contains a dollar sign', async () => {
        await sandbox.writeFile('price$tag.txt', 'original\n');
        const result = await edit().run({
          command: 'create',
          path: 'price$tag.txt',
          file_text: 'clobbered\n',
        });
        expect(result.isError).toBe(true);
        expect(hostRead('price$tag.txt')).toBe('original\n');
      });

      it('str_replace replaces a unique match and returns a numbered snippet around it', async () => {
        const lines = [
          'alpha',
          'bravo',
          'charlie',
          'delta',
          'echo',
          'foxtrot',
          'golf',
          'hotel',
          'india',
          'juliet',
        ];
        await sandbox.writeFile('nato.txt', `${lines.join('\n')}\n`);
        const result = await edit().run({
          command: 'str_replace',
          path: 'nato.txt',
          old_str: 'echo',
          new_str: 'ECHO\nECHO2',
        });
        const updated = [
          'alpha',
          'bravo',
          'charlie',
          'delta',
          'ECHO',
          'ECHO2',
          'foxtrot',
          'golf',
          'hotel',
          'india',
        ];
        expect(result).toMatchObject({
          content: `The file ${wd}/nato.txt has been edited. Here is a snippet of it:\n${numbered(updated)}\nReview the changes and edit again if needed.`,
          isError: false,
          exitCode: 0,
        });
        expect(hostRead('nato.txt')).toBe(
          'alpha\nbravo\ncharlie\ndelta\nECHO\nECHO2\nfoxtrot\ngolf\nhotel\nindia\njuliet\n',
        );
      });

      it('str_replace without new_str deletes the match', async () => {
        await sandbox.writeFile('a.txt', 'keep this, drop that\n');
        const result = await edit().run({ command: 'str_replace', path: 'a.txt', old_str: ', drop that' });
        expect(result.isError).toBe(false);
        expect(hostRead('a.txt')).toBe('keep this\n');
      });

      it('str_replace with no match is an error and leaves the file alone', async () => {
        await sandbox.writeFile('a.txt', 'foo\nbar\n');
        const result = await edit().run({
          command: 'str_replace',
          path: 'a.txt',
          old_str: 'baz',
          new_str: 'x',
        });
        expect(result).toMatchObject({
          content: `Error: no replacement was made; old_str did not appear verbatim in ${wd}/a.txt.`,
          isError: true,
        });
        expect(hostRead('a.txt')).toBe('foo\nbar\n');
        const empty = await edit().run({ command: 'str_replace', path: 'a.txt', old_str: '', new_str: 'x' });
        expect(empty).toMatchObject({
          content: 'Error: "old_str" is required for str_replace.',
          isError: true,
        });
      });

      it('str_replace with several matches names their lines and leaves the file alone', async () => {
        await sandbox.writeFile('a.txt', 'foo\nbar\nfoo\nbaz\nfoo bar foo\n');
        const result = await edit().run({
          command: 'str_replace',
          path: 'a.txt',
          old_str: 'foo',
          new_str: 'x',
        });
        expect(result).toMatchObject({
          content:
            'Error: no replacement was made; old_str occurs 4 times (lines 1, 3, 5, 5). Make it unique.',
          isError: true,
        });
        expect(hostRead('a.txt')).toBe('foo\nbar\nfoo\nbaz\nfoo bar foo\n');
      });

      it('inserts at the top and at the end, taking insert_text or else new_str', async () => {
        await sandbox.writeFile('a.txt', 'a\nb\n');
        const tool = edit();
        const top = await tool.run({ command: 'insert', path: 'a.txt', insert_line: 0, insert_text: 'X' });
        expect(top.isError).toBe(false);
        expect(top.content).toContain(`The file ${wd}/a.txt has been edited.`);
        expect(top.content).toContain(numbered(['X', 'a', 'b'], 1));
        expect(hostRead('a.txt')).toBe('X\na\nb\n');

        const end = await tool.run({ command: 'insert', path: 'a.txt', insert_line: 3, insert_text: 'Y\nZ' });
        expect(end.isError).toBe(false);
        expect(hostRead('a.txt')).toBe('X\na\nb\nY\nZ\n');

        const fallback = await tool.run({ command: 'insert', path: 'a.txt', insert_line: 1, new_str: 'N' });
        expect(fallback.isError).toBe(false);
        expect(hostRead('a.txt')).toBe('X\nN\na\nb\nY\nZ\n');
      });

      it('insert refuses a line outside the file or a missing text', async () => {
        await sandbox.writeFile('a.txt', 'a\nb');
        const tool = edit();
        for (const insert_line of [-1, 3, 1.5]) {
          const result = await tool.run({ command: 'insert', path: 'a.txt', insert_line, insert_text: 'X' });
          expect(result).toMatchObject({
            content: 'Error: insert_line must be between 0 and 2.',
            isError: true,
          });
        }
        const noText = await tool.run({ command: 'insert', path: 'a.txt', insert_line: 0 });
        expect(noText).toMatchObject({
          content: 'Error: "insert_text" is required for insert.',
          isError: true,
        });
        expect(hostRead('a.txt')).toBe('a\nb');
      });

      it('an unknown command or a missing path is an error', async () => {
        await sandbox.writeFile('a.txt', 'a');
        expect(await edit().run({ command: 'delete', path: 'a.txt' })).toMatchObject({
          content: 'Error: unknown command "delete". Allowed: view, create, str_replace, insert.',
          isError: true,
        });
        expect(await edit().run({ command: 'undo_edit', path: 'a.txt' })).toMatchObject({ isError: true });
        expect(await edit().run({ command: 'view' })).toMatchObject({
          content: 'Error: "path" is required.',
          isError: true,
        });
        expect(hostRead('a.txt')).toBe('a');
      });

      it('a path outside the workspace is an error outcome, never a throw, and nothing is written', async () => {
        const tool = edit();
        await expect(tool.run({ command: 'view', path: '/etc/passwd' })).resolves.toEqual({
          content: `Error: /etc/passwd is outside the workspace. Use a path under ${wd}.`,
          fullOutput: `Error: /etc/passwd is outside the workspace. Use a path under ${wd}.`,
          isError: true,
          exitCode: null,
        });
        await expect(tool.run({ command: 'create', path: '../../x', file_text: 'x' })).resolves.toMatchObject(
          {
            content: `Error: ../../x is outside the workspace. Use a path under ${wd}.`,
            isError: true,
          },
        );
        expect(existsSync(resolve(hostWs(), '../../x'))).toBe(false);
        await expect(
          tool.run({ command: 'create', path: `${wd}/../escape.txt`, file_text: 'x' }),
        ).resolves.toMatchObject({ isError: true });
        expect(existsSync(join(root, RUN, 'escape.txt'))).toBe(false);
        await expect(
          tool.run({ command: 'str_replace', path: `${wd}-evil/x`, old_str: 'a', new_str: 'b' }),
        ).resolves.toMatchObject({
          isError: true,
          content: expect.stringContaining('outside the workspace'),
        });
      });

      it('a symlink out of the workspace is an error outcome, never a throw, and nothing is written', async () => {
        await sandbox.exec(`ln -s /etc etc && ln -s ${outside} out`);
        const tool = edit();
        const message = 'Error: that path leads outside the workspace through a symbolic link';
        await expect(tool.run({ command: 'view', path: 'etc/passwd' })).resolves.toMatchObject({
          content: message,
          isError: true,
        });
        await expect(
          tool.run({ command: 'str_replace', path: 'etc/hostname', old_str: 'a', new_str: 'b' }),
        ).resolves.toMatchObject({ content: message, isError: true });
        await expect(
          tool.run({ command: 'create', path: 'out/new.txt', file_text: 'x' }),
        ).resolves.toMatchObject({
          content: message,
          isError: true,
        });
        expect(readdirSync(outside)).toEqual([]);
      });
    });
  },
);

describe('EditTool without isolation under a dot directory', () => {
  let base: string;
  afterEach(() => rmSync(base, { recursive: true, force: true }));

  // BUG: view of a directory runs `find <path> -not -path '*/.*'`, which matches every path when
  // the workspace itself lies under a dot directory. Without bubblewrap the workdir is the host
  // path, and the default data dir is ./.airlock, so the listing is always empty.
  it('lists the workspace when the data directory is the default ./.airlock', async () => {
    base = mkdtempSync(join(tmpdir(), 'airlock-tools-'));
    const sandbox = await new LocalSandboxProvider(join(base, '.airlock', 'workspaces'), {
      isolation: 'none',
    }).create(RUN);
    await sandbox.writeFile('a.txt', 'a');
    const result = await new EditTool(sandbox, { maxModelChars: 10_000 }).run({
      command: 'view',
      path: sandbox.workdir,
    });
    expect(result.content).toBe(
      `Files and directories up to 2 levels deep in ${sandbox.workdir}:\n${sandbox.workdir}\n${sandbox.workdir}/a.txt\n`,
    );
  });
});
