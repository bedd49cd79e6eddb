import { AirlockError } from '../errors.js';

/**
 * SQLite's failures as sentences a person can act on, naming the database file. Anything else
 * comes back undefined for the caller to handle.
 */
export function describeStoreError(error: unknown, path: string): AirlockError | undefined {
  const code = (error as { code?: unknown })?.code;
  if (typeof code !== 'string') return undefined;
  const why: Record<string, string> = {
    SQLITE_BUSY: `The database ${path} is locked by another process and stayed locked for 5 s. Wait for it (a long \`airlock audit verify\`?) and try again.`,
    SQLITE_LOCKED: `The database ${path} is locked. Try again in a moment.`,
    SQLITE_FULL: `The disk holding ${path} is full. Free space there (or move AIRLOCK_DATA_DIR) and try again; nothing was half-written.`,
    SQLITE_READONLY: `The database ${path} is read-only for this user. Make AIRLOCK_DATA_DIR writable for airlock.`,
    SQLITE_CANTOPEN: `Cannot open the database ${path}. Check that AIRLOCK_DATA_DIR is a writable directory.`,
    SQLITE_CORRUPT: `The database ${path} is damaged. Restore it from a backup; \`airlock audit verify\` checks a copy.`,
    SQLITE_NOTADB: `${path} is not an airlock database. Point AIRLOCK_DATA_DIR at airlock's data directory.`,
    SQLITE_IOERR: `Reading or writing ${path} failed (an I/O error: a full or failing disk?). Check the disk and try again.`,
    ENOSPC: `The disk holding ${path} is full. Free space there (or move AIRLOCK_DATA_DIR) and try again.`,
  };
  const family = code.startsWith('SQLITE_IOERR') ? 'SQLITE_IOERR' : code.replace(/_[A-Z]+$/, '');
  const message = why[code] ?? why[family];
  return message ? new AirlockError('store_failed', message, { cause: error }) : undefined;
}
