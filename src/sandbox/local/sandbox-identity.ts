import { lchown, lstat, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AirlockError } from '../../errors.js';
import { LOCAL_HOSTS, SANDBOX_HOME } from './bubblewrap.js';

/**
 * The uid and gid sandbox commands run as when airlock is root: high, owned by no distribution's
 * system account, and the id distroless images call "nonroot", so it is recognisable in `ps`.
 */
export const SANDBOX_ID = 65532;

/** The kernel's overflow id: what unmapped owners look like inside a user namespace. */
const NOBODY = 65534;

/** Who commands run as on the host, and whether airlock has to drop from root to get there. */
export interface SandboxIdentity {
  uid: number;
  gid: number;
  /** airlock is root: bwrap runs privileged and setpriv drops the command to uid/gid. */
  fromRoot: boolean;
}

/**
 * The policy's `sandbox.local.uid`/`gid`, or the defaults: 65532 when airlock is root, airlock's
 * own ids otherwise. A user other than root cannot switch to another uid, so asking for one is a
 * configuration error rather than something to fall back from.
 */
export function sandboxIdentity(
  wanted: { uid?: number; gid?: number },
  self: { uid: number; gid: number } = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 },
): SandboxIdentity {
  if (self.uid === 0) {
    const identity = { uid: wanted.uid ?? SANDBOX_ID, gid: wanted.gid ?? SANDBOX_ID, fromRoot: true };
    if (identity.uid === 0 || identity.gid === 0) {
      throw new AirlockError(
        'config_invalid',
        'sandbox.local.uid and gid must not be 0: commands never run as root.',
      );
    }
    return identity;
  }
  for (const [key, value, own] of [
    ['uid', wanted.uid, self.uid],
    ['gid', wanted.gid, self.gid],
  ] as const) {
    if (value !== undefined && value !== own) {
      throw new AirlockError(
        'config_invalid',
        `sandbox.local.${key} is ${value}, but airlock runs as ${key} ${own} and is not root, so it cannot ` +
          `start commands as another ${key}. Remove sandbox.local.${key} or run airlock as root.`,
      );
    }
  }
  return { uid: self.uid, gid: self.gid, fromRoot: false };
}

/**
 * A synthetic /etc/passwd and /etc/group naming only the sandbox user, root and nobody, so tools
 * that look the user up (git, ssh, python's getpass) work without the host's account list; and an
 * /etc/hosts that knows only localhost, which the host's may say more than.
 */
export async function writeEtcFiles(
  dir: string,
  id: SandboxIdentity,
): Promise<{ passwd: string; group: string; hosts: string }> {
  const passwd = [
    'root:x:0:0:root:/root:/usr/sbin/nologin',
    `airlock:x:${id.uid}:${id.gid}:airlock sandbox:${SANDBOX_HOME}:/bin/bash`,
    ...(id.uid === NOBODY ? [] : [`nobody:x:${NOBODY}:${NOBODY}:nobody:/nonexistent:/usr/sbin/nologin`]),
  ];
  const group = ['root:x:0:', `airlock:x:${id.gid}:`, ...(id.gid === NOBODY ? [] : [`nogroup:x:${NOBODY}:`])];
  const paths = { passwd: join(dir, 'passwd'), group: join(dir, 'group'), hosts: join(dir, 'hosts') };
  await writeFile(paths.passwd, `${passwd.join('\n')}\n`, { mode: 0o644 });
  await writeFile(paths.group, `${group.join('\n')}\n`, { mode: 0o644 });
  await writeFile(paths.hosts, LOCAL_HOSTS, { mode: 0o644 });
  return paths;
}

/**
 * Gives a tree to the sandbox user. lchown throughout and no following of symbolic links: a link a
 * command planted must never make airlock chown what it points at (say /etc/shadow).
 */
export async function adoptTree(path: string, id: SandboxIdentity): Promise<void> {
  const stat = await lstat(path);
  if (stat.uid !== id.uid || stat.gid !== id.gid) await lchown(path, id.uid, id.gid);
  if (!stat.isDirectory()) return;
  for (const entry of await readdir(path)) await adoptTree(join(path, entry), id);
}
