import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import * as tar from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AirlockError } from '../../src/errors.js';
import type { Sandbox } from '../../src/runs/ports/sandbox.js';
import { LocalSandboxProvider } from '../../src/sandbox/local/local-sandbox.js';
import { SANDBOX_ID, sandboxIdentity } from '../../src/sandbox/local/sandbox-identity.js';
import { initSnapshotRepository } from '../support/snapshot-repository.js';

/**
 * Issue 10: a command in a local sandbox reaches only an allow-list of the host, as an
 * unprivileged uid. Secrets are planted where an operator's host keeps them — beside the policy
 * file, in the data directory, in /root, in a home directory, root-only under /etc, under /opt and
 * /var — and every way an agent could read them (cat, base64, rev, od, find, ls, /proc/1/root,
 * symlinks in the workspace, python) must print none of their bytes in any encoding.
 */

const IS_ROOT = process.getuid?.() === 0;
const EXPECTED_UID = IS_ROOT ? SANDBOX_ID : (process.getuid?.() ?? -1);
const EXPECTED_GID = IS_ROOT ? SANDBOX_ID : (process.getgid?.() ?? -1);
/** A marker in every planted name, so `find` and `ls` can be checked for the names as well. */
const MARK = `airlock-test-secret-${randomBytes(4).toString('hex')}`;

interface Planted {
  label: string;
  path: string;
  content: string;
}

/** The forms a secret can take on its way out: as is, base64, reversed, hex (as od prints it). */
function leakedForms(secret: string): string[] {
  const line = `${secret}\n`;
  const hex = Buffer.from(secret).toString('hex');
  return [
    secret,
    [...secret].reverse().join(''),
    Buffer.from(line).toString('base64'),
    Buffer.from(secret).toString('base64').replace(/=+$/, ''),
    hex,
    hex.match(/../g)?.join(' ') ?? hex,
  ];
}

describe('a local sandbox under bubblewrap reaches only its allow-list', () => {
  const base = mkdtempSync(join('/var/tmp', 'airlock-reach-'));
  const configDir = join(base, 'config');
  const dataDir = join(base, 'data');
  const planted: Planted[] = [];
  const cleanups: string[] = [];
  let sandbox: Sandbox;

  function plant(label: string, path: string, mode = 0o600): void {
    const content = `${MARK}-${label}-${randomBytes(12).toString('hex')}`;
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${content}\n`, { mode });
    chmodSync(path, mode);
    planted.push({ label, path, content });
  }

  beforeAll(async () => {
    mkdirSync(configDir, { recursive: true });
    writeFileSync(join(configDir, 'airlock.yaml'), 'repos: {}\n');
    plant('policy-folder-env', join(configDir, '.env'), 0o644);
    plant('data-dir', join(dataDir, 'airlock.db-secret'), 0o644);
    plant('var', join(base, `${MARK}-var`), 0o644);
    // Planting where only root may write; as another user, the folders above stand for them.
    if (!IS_ROOT) return openSandbox();
    plant('root-home', `/root/.${MARK}`);
    cleanups.push(`/root/.${MARK}`);
    plant('etc-shadow', `/etc/${MARK}-shadow`);
    cleanups.push(`/etc/${MARK}-shadow`);
    plant('opt', `/opt/${MARK}/token`, 0o644);
    cleanups.push(`/opt/${MARK}`);
    plant('home-dir', `/home/${MARK}/.ssh/id_ed25519`, 0o644);
    cleanups.push(`/home/${MARK}`);
    // /usr is bound, but /usr/local/etc, where a locally installed airlock's policy may live, is not.
    plant('usr-local-etc', `/usr/local/etc/${MARK}/.env`, 0o644);
    cleanups.push(`/usr/local/etc/${MARK}`);
    await openSandbox();
  });

  async function openSandbox(): Promise<void> {
    const provider = new LocalSandboxProvider(join(dataDir, 'workspaces'), { isolation: 'bubblewrap' });
    expect(provider.isolated).toBe(true);
    sandbox = await provider.create('reach-1');
  }

  afterAll(async () => {
    await sandbox?.destroy();
    for (const path of cleanups) rmSync(path, { recursive: true, force: true });
    rmSync(base, { recursive: true, force: true });
  });

  /**
   * Runs the command and fails the test if any planted secret shows in its output in any form;
   * with `names`, also if a planted file's name does (for commands that do not name it themselves).
   */
  async function expectNoLeak(command: string, names = false): Promise<string> {
    const result = await sandbox.exec(command, { timeoutMs: 30_000 });
    const out = `${result.stdout.toString('latin1')}\n${result.stderr.toString('latin1')}`;
    const squeezed = out.replace(/\s+/g, '');
    for (const secret of planted) {
      for (const form of leakedForms(secret.content)) {
        const seen = out.includes(form) || squeezed.includes(form.replace(/\s+/g, ''));
        expect(seen, `${secret.label} via ${command}`).toBe(false);
      }
    }
    if (names) expect(out.includes(MARK), `a planted name via ${command}`).toBe(false);
    return out;
  }

  it('runs commands as an unprivileged uid and gid, not as root', async () => {
    const result = await sandbox.exec(
      'id -u; id -g; id -G; whoami; grep -E "^Cap(Eff|Prm):" /proc/self/status',
    );
    expect(result.stdout.toString()).toBe(
      `${EXPECTED_UID}\n${EXPECTED_GID}\n${EXPECTED_GID}\nairlock\n` +
        'CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\n',
    );
    expect(EXPECTED_UID).not.toBe(0);
    if (IS_ROOT) {
      const bounding = await sandbox.exec('grep -E "^CapBnd:" /proc/self/status');
      expect(bounding.stdout.toString()).toBe('CapBnd:\t0000000000000000\n');
    }
  });

  it('prints none of the planted secrets through cat, base64, rev, od or python', async () => {
    for (const { path } of planted) {
      for (const read of [
        `cat '${path}'`,
        `base64 '${path}'`,
        `rev '${path}'`,
        `od -An -tx1 '${path}'`,
        `od -c '${path}'`,
        `python3 -c "print(open('${path}').read())"`,
        `cat '/proc/1/root${path}'`,
        `cat '/proc/self/root${path}'`,
        `cp '${path}' copied && cat copied`,
      ]) {
        await expectNoLeak(`${read} 2>&1`);
      }
    }
  });

  it('finds and lists none of them: find /, ls of the folders that hold them', async () => {
    await expectNoLeak(`find / -name '*${MARK}*' 2>/dev/null; true`, true);
    await expectNoLeak(`find / -path /proc -prune -o -print 2>/dev/null | grep -F '${MARK}'; true`, true);
    for (const folder of [
      base,
      configDir,
      dataDir,
      '/root',
      '/opt',
      '/var',
      '/home',
      '/etc',
      '/srv',
      '/mnt',
      '/media',
    ]) {
      await expectNoLeak(`ls -la '${folder}' 2>&1`, true);
    }
    for (const folder of [`/opt/${MARK}`, `/home/${MARK}/.ssh`])
      await expectNoLeak(`ls -la '${folder}' 2>&1`);
    const top = await sandbox.exec('ls -A /');
    const entries = top.stdout.toString().trim().split('\n');
    for (const never of ['root', 'opt', 'srv', 'mnt', 'media', 'run', 'sys', 'boot', 'data']) {
      expect(entries).not.toContain(never);
    }
    expect((await sandbox.exec('ls -A /home /var')).stdout.toString()).toBe(
      '/home:\nairlock\n\n/var:\ntmp\n',
    );
  });

  it('symlinks a command makes in the workspace lead nowhere, for it or for airlock', async () => {
    for (const [i, { path }] of planted.entries()) {
      await expectNoLeak(
        `ln -s '${path}' link-${i}; cat link-${i} 2>&1; base64 link-${i} 2>&1; rev link-${i} 2>&1`,
      );
      await expect(sandbox.readFile(`link-${i}`)).rejects.toThrow(/symbolic link/);
    }
    await expectNoLeak('ln -s / rootlink && ls -la rootlink/ rootlink/root rootlink/opt 2>&1', true);
  });

  it('no other process, and so no other environment, is visible through /proc', async () => {
    const out = await expectNoLeak(
      'ls /proc | grep -E "^[0-9]+$" | wc -l; cat /proc/*/environ 2>/dev/null | tr "\\0" "\\n" | cut -d= -f1 | sort -u',
    );
    // bwrap's init, bash, and the pipeline's own processes: a handful, not the host's.
    expect(Number(out.trim().split('\n')[0])).toBeLessThan(12);
    expect(out).not.toMatch(/ANTHROPIC|GITHUB|SLACK|AIRLOCK_/);
  });

  it('keeps the toolchain working: git, node, python3, sh, the workspace, $HOME and $TMPDIR', async () => {
    const result = await sandbox.exec(
      [
        'git --version >/dev/null && echo git',
        'node --version >/dev/null && echo node',
        "python3 -c 'print(1)'",
        "sh -c 'echo ok'",
        'echo ws > in-ws.txt && cat in-ws.txt',
        'echo home > "$HOME/in-home.txt" && cat "$HOME/in-home.txt"',
        'echo tmp > "$TMPDIR/in-tmp.txt" && cat "$TMPDIR/in-tmp.txt"',
        'echo vartmp > /var/tmp/x && cat /tmp/x',
        'test -w /usr/bin || echo usr-read-only',
        `python3 -c "import socket; print(socket.gethostbyname('localhost'))"`,
      ].join('\n'),
    );
    expect(result.stderr.toString()).toBe('');
    expect(result.stdout.toString()).toBe(
      'git\nnode\n1\nok\nws\nhome\ntmp\nvartmp\nusr-read-only\n127.0.0.1\n',
    );
    if (existsSync('/etc/ssl/certs/ca-certificates.crt')) {
      // The CA bundle is there for TLS through the egress gateway.
      const tls = await sandbox.exec(
        `python3 -c "import ssl; print(ssl.create_default_context().cert_store_stats()['x509_ca'] > 0)"`,
      );
      expect(tls.stdout.toString()).toBe('True\n');
    }
  });

  it('makes the snapshot repository and commits in the workspace as the sandbox user', async () => {
    const other = await new LocalSandboxProvider(join(dataDir, 'workspaces'), {
      isolation: 'bubblewrap',
    }).create('reach-git');
    try {
      const src = join(base, 'tree');
      mkdirSync(join(src, 'lib'), { recursive: true });
      writeFileSync(join(src, 'lib', 'a.txt'), 'a\n');
      await other.putTree(Readable.from(tar.c({ cwd: src, portable: true }, ['lib'])));
      const snapshot = await initSnapshotRepository(other, '0'.repeat(40));
      expect(snapshot).toMatch(/^[0-9a-f]{40}$/);
      await other.writeFile('lib/b/new.txt', 'from airlock\n');
      const committed = await other.exec(
        'echo more >> lib/b/new.txt && echo c > lib/b/c.txt && git add -A && ' +
          'git -c user.name=agent -c user.email=agent@x commit -q -m work && git log --format=%s -1',
      );
      expect(committed.stderr.toString()).toBe('');
      expect(committed.stdout.toString()).toBe('work\n');
      const host = join(dataDir, 'workspaces', 'reach-git', 'ws');
      for (const path of ['lib/b/new.txt', 'lib/b', 'lib/b/c.txt', '.git/HEAD']) {
        expect(statSync(join(host, path)).uid, path).toBe(EXPECTED_UID);
      }
      const diff = (await other.diff(snapshot)).toString();
      expect(diff).toContain('+from airlock\n+more\n');
      await other.writeFile('lib/a.txt', 'rewritten by airlock\n');
      expect((await other.readFile('lib/a.txt')).toString()).toBe('rewritten by airlock\n');
    } finally {
      await other.destroy();
    }
    expect(statSync(join(dataDir, 'workspaces')).isDirectory()).toBe(true);
  });

  it.runIf(IS_ROOT)(
    'a root-only file the policy binds in is still unreadable: the uid is the barrier, not only the binds',
    async () => {
      const shadow = planted.find((p) => p.label === 'etc-shadow');
      if (!shadow) throw new Error('no shadow planted');
      const provider = new LocalSandboxProvider(join(dataDir, 'workspaces'), {
        isolation: 'bubblewrap',
        bind: [shadow.path],
      });
      const bound = await provider.create('reach-bound');
      try {
        const result = await bound.exec(
          `ls -l '${shadow.path}' | cut -c1-10; cat '${shadow.path}'; echo "cat=$?"`,
        );
        expect(result.stdout.toString()).toBe('-rw-------\ncat=1\n');
        expect(result.stderr.toString()).toContain('Permission denied');
        expect(result.stdout.toString() + result.stderr.toString()).not.toContain(shadow.content);
      } finally {
        await bound.destroy();
      }
    },
  );
});

describe('the sandbox uid', () => {
  it('defaults to 65532 when airlock is root and to airlock itself otherwise', () => {
    expect(sandboxIdentity({}, { uid: 0, gid: 0 })).toEqual({ uid: 65532, gid: 65532, fromRoot: true });
    expect(sandboxIdentity({ uid: 70000, gid: 70001 }, { uid: 0, gid: 0 })).toEqual({
      uid: 70000,
      gid: 70001,
      fromRoot: true,
    });
    expect(sandboxIdentity({}, { uid: 1000, gid: 1000 })).toEqual({ uid: 1000, gid: 1000, fromRoot: false });
  });

  it('refuses root, and a uid a non-root airlock cannot switch to, saying what to change', () => {
    expect(() => sandboxIdentity({ uid: 0 }, { uid: 0, gid: 0 })).toThrow(/must not be 0/);
    expect(() => sandboxIdentity({ uid: 65532 }, { uid: 1000, gid: 1000 })).toThrow(
      /sandbox.local.uid is 65532, but airlock runs as uid 1000 and is not root/,
    );
    expect(() => sandboxIdentity({ gid: 5 }, { uid: 1000, gid: 1000 })).toThrow(AirlockError);
  });
});
