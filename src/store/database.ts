import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { AirlockError } from '../errors.js';
import { MIGRATIONS } from './migrations.js';
import { describeStoreError } from './store-errors.js';

export type Db = Database.Database;

/** Opens (creating if needed) the database in WAL mode and runs pending migrations. */
export function openDatabase(path: string): Db {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  let db: Db;
  try {
    db = new Database(path);
    db.pragma('busy_timeout = 5000');
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    migrate(db);
    cacheStatements(db);
  } catch (error) {
    if (error instanceof AirlockError) throw error;
    throw (
      describeStoreError(error, path) ??
      new AirlockError('store_failed', `Cannot open the database at ${path}: ${(error as Error).message}`)
    );
  }
  return db;
}

/**
 * Each SQL text is compiled once: the store prepares its statements where it uses them, and
 * compiling them again on every call was a fifth of the event loop's busy time under a burst of
 * runs (issue 12). Statements here are only run, got or listed, never iterated, so one per text
 * can serve every caller.
 */
function cacheStatements(db: Db): void {
  const compile = db.prepare.bind(db);
  const cache = new Map<string, Database.Statement>();
  db.prepare = ((sql: string) => {
    let statement = cache.get(sql);
    if (!statement) {
      statement = compile(sql);
      cache.set(sql, statement);
    }
    return statement;
  }) as Db['prepare'];
}

function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new AirlockError(
      'store_failed',
      `The database is at schema ${current}, newer than this airlock (${MIGRATIONS.length}). Upgrade airlock.`,
    );
  }
  for (let i = current; i < MIGRATIONS.length; i++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[i] as string);
      db.pragma(`user_version = ${i + 1}`);
    })();
  }
}

/** Runs fn in a transaction committed with synchronous=FULL: for approvals and pushes. */
export function durably<T>(db: Db, fn: () => T): T {
  db.pragma('synchronous = FULL');
  try {
    return db.transaction(fn)();
  } finally {
    db.pragma('synchronous = NORMAL');
  }
}
