/**
 * The money journal: an append-only SQLite file of `MachineEvent`s (money-model.md "power cuts":
 * what the invariants need is written before the physical act it enables). Each append is one
 * committed transaction with WAL + synchronous=FULL, so it is on disk when `append` returns.
 *
 * Safety rules for the file, because it holds the only record of customers' money:
 * - it is identified by `PRAGMA application_id` (Vendomat's fixed id) and versioned by
 *   `PRAGMA user_version`, upgraded by the ordered MIGRATIONS, one transaction each;
 * - a file that is not SQLite, belongs to another application, or was written by a newer Vendomat
 *   is refused with a `JournalError` naming the file, and is never written, overwritten or deleted
 *   (it is inspected through a read-only connection first).
 */
import Database from 'better-sqlite3';
import { closeSync, existsSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Clock } from '../clock.ts';
import type { MachineEvent, MachineEventType } from '../controller/events.ts';

/** 'VEND' in ASCII: the `PRAGMA application_id` of every Vendomat journal. */
export const VENDOMAT_APPLICATION_ID = 0x56454e44;
export const DEFAULT_JOURNAL_FILE = 'journal.db';
/** Snapshots kept; older ones are pruned when a new one is saved. */
export const SNAPSHOTS_KEPT = 3;

export const JOURNAL_ERROR_CODES = [
  /** Not an SQLite file, or SQLite reports the file damaged. */
  'JOURNAL_CORRUPT',
  /** A valid SQLite file that belongs to another application. */
  'JOURNAL_FOREIGN',
  /** A Vendomat journal with a newer schema than this build knows. */
  'JOURNAL_TOO_NEW',
  /** The data directory or file could not be created or read. */
  'JOURNAL_IO',
  /** An event or snapshot that cannot be stored (not an event object, bad time, not JSON). */
  'JOURNAL_BAD_INPUT',
  'JOURNAL_CLOSED',
] as const;
export type JournalErrorCode = (typeof JOURNAL_ERROR_CODES)[number];

export class JournalError extends Error {
  override readonly name = 'JournalError';
  constructor(
    readonly code: JournalErrorCode,
    readonly file: string,
    message: string,
    readonly detail?: unknown,
  ) {
    super(`journal ${file}: ${message} [${code}]`);
  }
}

export function isJournalError(e: unknown): e is JournalError {
  return e instanceof JournalError;
}

type Db = Database.Database;

export interface Migration {
  /** The `user_version` after this migration; the list is ordered 1, 2, 3, … */
  readonly version: number;
  readonly description: string;
  /** Runs inside the migration's transaction. */
  up(db: Db): void;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'events and snapshots (the runner adds meta and the application id)',
    up(db) {
      db.exec(`
        -- AUTOINCREMENT: a sequence number is never reused, so "since seq" stays meaningful.
        CREATE TABLE events (
          seq  INTEGER PRIMARY KEY AUTOINCREMENT,
          at   INTEGER NOT NULL,
          type TEXT    NOT NULL,
          body TEXT    NOT NULL
        );
        CREATE TABLE snapshots (
          seq   INTEGER PRIMARY KEY,
          at    INTEGER NOT NULL,
          state TEXT    NOT NULL
        );
      `);
    },
  },
  {
    version: 2,
    description: 'index events by type (audit queries: doors, faults, power-ups)',
    up(db) {
      db.exec('CREATE INDEX events_by_type ON events (type, seq);');
    },
  },
  {
    version: 3,
    description: 'side state: named values written in the same transaction as the events (e.g. the simulated world)',
    up(db) {
      db.exec('CREATE TABLE side_state (key TEXT PRIMARY KEY, at INTEGER NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;');
    },
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export interface JournalEntry {
  readonly seq: number;
  /** Clock time of the append (ms, from the injected clock). */
  readonly at: number;
  readonly event: MachineEvent;
}

export interface JournalSnapshot {
  /** The last event sequence number the state includes. */
  readonly seq: number;
  readonly at: number;
  readonly state: unknown;
}

export interface JournalPragmas {
  readonly journalMode: string;
  /** 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA. */
  readonly synchronous: number;
  readonly applicationId: number;
  readonly userVersion: number;
}

export interface OpenJournalOptions {
  /** The data directory; created if missing. */
  readonly dir: string;
  /** File name (or path) inside `dir`; default `journal.db`. */
  readonly file?: string;
  readonly clock: Clock;
  /** Migrate only up to this version (tests and tools); default the newest. */
  readonly schemaVersion?: number;
  /** Replace the migration list (tests of the mechanism); default MIGRATIONS. */
  readonly migrations?: readonly Migration[];
}

export interface Journal {
  /** Absolute path of the database file. */
  readonly path: string;
  /** The schema version after opening (and migrating). */
  readonly schemaVersion: number;
  /** Appends one event; durable when it returns. Returns its sequence number. `at` defaults to clock.now(). */
  append(event: MachineEvent, at?: number): number;
  /** Appends several events in one transaction (all or none). Returns their sequence numbers. */
  appendMany(entries: readonly { readonly event: MachineEvent; readonly at?: number }[]): number[];
  /**
   * Runs `fn` (synchronous) in one transaction: every append and side write it makes commits
   * together, or none does when it throws. Calls nest (an inner one joins the outer transaction).
   */
  transaction<T>(fn: () => T): T;
  /**
   * Stores a named value beside the events (schema v3 `side_state`): state that must stay
   * consistent with the journal, such as the simulator's physical world. Inside `transaction` it
   * commits with the events.
   */
  putSide(key: string, value: string): void;
  /** The value stored under `key`, or undefined. */
  getSide(key: string): string | undefined;
  /** Every event in order. Do not append while iterating (the connection is busy). */
  readAll(): IterableIterator<JournalEntry>;
  /** The events after `seq` (exclusive), in order. */
  readSince(seq: number): IterableIterator<JournalEntry>;
  /** The events of the given types after `seq`, in order (uses the v2 index). */
  readTypes(types: readonly MachineEventType[], sinceSeq?: number): IterableIterator<JournalEntry>;
  /** The sequence number of the newest event (0 when empty). */
  lastSeq(): number;
  count(): number;
  /** Stores a state that includes every event up to `seq`. */
  saveSnapshot(seq: number, state: unknown): void;
  /** The newest readable snapshot, or null. */
  latestSnapshot(): JournalSnapshot | null;
  pragmas(): JournalPragmas;
  close(): void;
}

const SQLITE_MAGIC = 'SQLite format 3\u0000';

function sqliteCode(e: unknown): string | undefined {
  if (typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string') return e.code;
  return undefined;
}

function describe(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** SQLite's own words for a damaged or non-database file. */
function isCorruption(e: unknown): boolean {
  const code = sqliteCode(e) ?? '';
  return code.startsWith('SQLITE_CORRUPT') || code.startsWith('SQLITE_NOTADB');
}

function readHeader(path: string): Buffer {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(100);
    const n = readSync(fd, buf, 0, 100, 0);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

type Verdict = { kind: 'fresh' } | { kind: 'ours'; version: number };

/** Decides whether the file may be opened for writing, touching nothing. */
function inspect(path: string, latest: number): Verdict {
  if (!existsSync(path)) return { kind: 'fresh' };
  let size: number;
  let header: Buffer;
  try {
    size = statSync(path).size;
    if (size === 0) return { kind: 'fresh' };
    header = readHeader(path);
  } catch (e) {
    throw new JournalError('JOURNAL_IO', path, `cannot read the file: ${describe(e)}`, e);
  }
  if (header.length < 100 || header.subarray(0, 16).toString('latin1') !== SQLITE_MAGIC)
    throw new JournalError('JOURNAL_CORRUPT', path, 'not an SQLite database (bad header); the file was left untouched');

  let ro: Db | undefined;
  try {
    ro = new Database(path, { readonly: true, fileMustExist: true });
    const appId = Number(ro.pragma('application_id', { simple: true }));
    const version = Number(ro.pragma('user_version', { simple: true }));
    const objects = Number(ro.prepare('SELECT count(*) FROM sqlite_master').pluck().get());
    if (appId === VENDOMAT_APPLICATION_ID) {
      if (version > latest)
        throw new JournalError(
          'JOURNAL_TOO_NEW',
          path,
          `schema version ${version} is newer than this build knows (${latest}); upgrade Vendomat, the file was left untouched`,
        );
      return { kind: 'ours', version };
    }
    // An SQLite file with nothing in it (e.g. created and never written) carries no one's data.
    if (appId === 0 && version === 0 && objects === 0) return { kind: 'fresh' };
    throw new JournalError(
      'JOURNAL_FOREIGN',
      path,
      `an SQLite database of another application (application_id ${appId}, user_version ${version}, ${objects} schema objects); ` +
        'the file was left untouched: choose another data directory or file',
    );
  } catch (e) {
    if (isJournalError(e)) throw e;
    if (isCorruption(e)) throw new JournalError('JOURNAL_CORRUPT', path, `SQLite reports the file damaged: ${describe(e)}; the file was left untouched`, e);
    throw new JournalError('JOURNAL_IO', path, `cannot inspect the file: ${describe(e)}`, e);
  } finally {
    ro?.close();
  }
}

function checkMigrations(list: readonly Migration[]): void {
  list.forEach((m, i) => {
    if (m.version !== i + 1) throw new RangeError(`migration #${i} has version ${m.version}, expected ${i + 1} (the list must be ordered 1, 2, 3, …)`);
  });
}

function isEventObject(v: unknown): v is MachineEvent {
  return typeof v === 'object' && v !== null && 'type' in v && typeof v.type === 'string' && v.type !== '';
}

/**
 * Opens (creating if needed) the journal in `options.dir`, applying the durability pragmas and
 * any pending migrations. Throws `JournalError` for a corrupt, foreign or too-new file.
 */
export function openJournal(options: OpenJournalOptions): Journal {
  const migrations = options.migrations ?? MIGRATIONS;
  checkMigrations(migrations);
  const target = options.schemaVersion ?? migrations.length;
  if (!Number.isInteger(target) || target < 1 || target > migrations.length)
    throw new RangeError(`schemaVersion must be 1..${migrations.length}, got ${String(target)}`);
  const { clock } = options;
  const dir = resolve(options.dir);
  const path = resolve(dir, options.file ?? DEFAULT_JOURNAL_FILE);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new JournalError('JOURNAL_IO', path, `cannot create the data directory ${dir}: ${describe(e)}`, e);
  }

  const verdict = inspect(path, migrations.length);
  let db: Db;
  try {
    db = new Database(path);
  } catch (e) {
    throw new JournalError('JOURNAL_IO', path, `cannot open: ${describe(e)}`, e);
  }

  let version = verdict.kind === 'ours' ? verdict.version : 0;
  try {
    // WAL: an append is one sequential write; FULL: fsync the WAL at every commit, so an event is
    // on disk before the motor turns or the first coin drops.
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    for (const m of migrations) {
      if (m.version <= version || m.version > target) continue;
      db.transaction(() => {
        if (m.version === 1) {
          // The runner owns identity and bookkeeping, so every migration list gets them.
          db.exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID");
          db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('app', 'vendomat')").run();
          db.pragma(`application_id = ${VENDOMAT_APPLICATION_ID}`);
        }
        m.up(db);
        db.prepare('INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)').run(`migrated_v${m.version}_at`, String(clock.now()));
        db.pragma(`user_version = ${m.version}`);
      })();
      version = m.version;
    }
  } catch (e) {
    db.close();
    if (isCorruption(e)) throw new JournalError('JOURNAL_CORRUPT', path, `SQLite reports the file damaged: ${describe(e)}`, e);
    throw new JournalError('JOURNAL_IO', path, `cannot prepare the journal (schema v${version} → v${target}): ${describe(e)}`, e);
  }

  const insertEvent = db.prepare<[number, string, string]>('INSERT INTO events (at, type, body) VALUES (?, ?, ?)');
  const selectSince = db.prepare<[number], { seq: number; at: number; body: string }>('SELECT seq, at, body FROM events WHERE seq > ? ORDER BY seq');
  const selectLast = db.prepare<[], number>('SELECT coalesce(max(seq), 0) FROM events').pluck();
  const selectCount = db.prepare<[], number>('SELECT count(*) FROM events').pluck();
  const insertSnapshot = db.prepare<[number, number, string]>('INSERT OR REPLACE INTO snapshots (seq, at, state) VALUES (?, ?, ?)');
  const pruneSnapshots = db.prepare<[number]>('DELETE FROM snapshots WHERE seq NOT IN (SELECT seq FROM snapshots ORDER BY seq DESC LIMIT ?)');
  const selectSnapshots = db.prepare<[], { seq: number; at: number; state: string }>('SELECT seq, at, state FROM snapshots ORDER BY seq DESC');
  let closed = false;

  const live = (): void => {
    if (closed) throw new JournalError('JOURNAL_CLOSED', path, 'the journal is closed');
  };

  const wrap = <T>(what: string, fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      if (isJournalError(e)) throw e;
      if (isCorruption(e)) throw new JournalError('JOURNAL_CORRUPT', path, `${what}: SQLite reports the file damaged: ${describe(e)}`, e);
      throw new JournalError('JOURNAL_IO', path, `${what}: ${describe(e)}`, e);
    }
  };

  const encode = (event: MachineEvent, at: number | undefined): [number, string, string] => {
    if (!isEventObject(event)) throw new JournalError('JOURNAL_BAD_INPUT', path, `not a machine event: ${JSON.stringify(event) ?? String(event)}`);
    const time = at ?? clock.now();
    if (!Number.isSafeInteger(time)) throw new JournalError('JOURNAL_BAD_INPUT', path, `event time must be whole milliseconds, got ${String(time)}`);
    let body: string;
    try {
      body = JSON.stringify(event);
    } catch (e) {
      throw new JournalError('JOURNAL_BAD_INPUT', path, `${event.type} cannot be stored as JSON: ${describe(e)}`, e);
    }
    return [time, event.type, body];
  };

  // The side table exists from schema v3 on; a journal opened at an older version has none.
  const hasSide = version >= 3;
  const putSideStmt = hasSide ? db.prepare<[string, number, string]>('INSERT OR REPLACE INTO side_state (key, at, value) VALUES (?, ?, ?)') : null;
  const getSideStmt = hasSide ? db.prepare<[string], string>('SELECT value FROM side_state WHERE key = ?').pluck() : null;
  const noSide = (): JournalError => new JournalError('JOURNAL_BAD_INPUT', path, `side state needs schema v3, this journal is at v${version}`);

  const insertAll = db.transaction((rows: readonly [number, string, string][]) => rows.map((r) => Number(insertEvent.run(...r).lastInsertRowid)));

  function* decode(rows: IterableIterator<{ seq: number; at: number; body: string }>): IterableIterator<JournalEntry> {
    for (const row of rows) {
      let event: unknown;
      try {
        event = JSON.parse(row.body);
      } catch (e) {
        throw new JournalError('JOURNAL_CORRUPT', path, `event #${row.seq} is not valid JSON: ${describe(e)}`, e);
      }
      if (!isEventObject(event)) throw new JournalError('JOURNAL_CORRUPT', path, `event #${row.seq} is not an event object`);
      yield { seq: row.seq, at: row.at, event };
    }
  }

  function* guarded(what: string, rows: () => IterableIterator<{ seq: number; at: number; body: string }>): IterableIterator<JournalEntry> {
    live();
    const it = wrap(what, rows);
    // Errors while stepping the cursor (a damaged page deep in the file) get the same treatment.
    const stepped: IterableIterator<{ seq: number; at: number; body: string }> = {
      next: () => wrap(what, () => it.next()),
      return: (v?: unknown) => it.return?.(v) ?? { done: true, value: undefined },
      [Symbol.iterator]() {
        return this;
      },
    };
    yield* decode(stepped);
  }

  const checkSeq = (seq: number, what: string): void => {
    if (!Number.isSafeInteger(seq) || seq < 0) throw new JournalError('JOURNAL_BAD_INPUT', path, `${what}: sequence number must be a whole number ≥ 0, got ${String(seq)}`);
  };

  return {
    path,
    schemaVersion: version,
    append(event, at) {
      live();
      const row = encode(event, at);
      return wrap(`append ${event.type}`, () => Number(insertEvent.run(...row).lastInsertRowid));
    },
    appendMany(entries) {
      live();
      const rows = entries.map((e) => encode(e.event, e.at));
      return wrap(`append ${rows.length} events`, () => insertAll(rows));
    },
    transaction(fn) {
      live();
      try {
        return db.transaction(fn)();
      } catch (e) {
        // Only SQLite's own failures are the journal's; the caller's errors pass through as they are.
        if (isJournalError(e) || sqliteCode(e) === undefined) throw e;
        throw new JournalError(isCorruption(e) ? 'JOURNAL_CORRUPT' : 'JOURNAL_IO', path, `transaction: ${describe(e)}`, e);
      }
    },
    putSide(key, value) {
      live();
      if (putSideStmt === null) throw noSide();
      if (typeof key !== 'string' || key === '' || typeof value !== 'string')
        throw new JournalError('JOURNAL_BAD_INPUT', path, 'side state needs a non-empty key and a text value');
      wrap(`side ${key}`, () => putSideStmt.run(key, clock.now(), value));
    },
    getSide(key) {
      live();
      if (getSideStmt === null) throw noSide();
      return wrap(`side ${key}`, () => getSideStmt.get(key));
    },
    readAll() {
      return guarded('read', () => selectSince.iterate(0));
    },
    readSince(seq) {
      checkSeq(seq, 'readSince');
      return guarded(`read since #${seq}`, () => selectSince.iterate(seq));
    },
    readTypes(types, sinceSeq = 0) {
      checkSeq(sinceSeq, 'readTypes');
      const list = [...new Set(types)];
      if (list.length === 0) return guarded('read types', () => [][Symbol.iterator]());
      const stmt = db.prepare<unknown[], { seq: number; at: number; body: string }>(
        `SELECT seq, at, body FROM events WHERE type IN (${list.map(() => '?').join(', ')}) AND seq > ? ORDER BY seq`,
      );
      return guarded('read types', () => stmt.iterate(...list, sinceSeq));
    },
    lastSeq() {
      live();
      return wrap('last sequence number', () => Number(selectLast.get()));
    },
    count() {
      live();
      return wrap('count', () => Number(selectCount.get()));
    },
    saveSnapshot(seq, state) {
      live();
      checkSeq(seq, 'saveSnapshot');
      const last = wrap('last sequence number', () => Number(selectLast.get()));
      if (seq > last) throw new JournalError('JOURNAL_BAD_INPUT', path, `snapshot at #${seq} is past the last event #${last}`);
      let text: string | undefined;
      try {
        text = JSON.stringify(state);
      } catch (e) {
        throw new JournalError('JOURNAL_BAD_INPUT', path, `snapshot cannot be stored as JSON: ${describe(e)}`, e);
      }
      if (text === undefined) throw new JournalError('JOURNAL_BAD_INPUT', path, 'snapshot state is not JSON-serialisable');
      const body = text;
      wrap(
        'save snapshot',
        db.transaction(() => {
          insertSnapshot.run(seq, clock.now(), body);
          pruneSnapshots.run(SNAPSHOTS_KEPT);
        }),
      );
    },
    latestSnapshot() {
      live();
      const rows = wrap('read snapshots', () => selectSnapshots.all());
      // A damaged snapshot costs only time (an older one or a full replay), never the events.
      for (const row of rows) {
        try {
          return { seq: row.seq, at: row.at, state: JSON.parse(row.state) as unknown };
        } catch {
          continue;
        }
      }
      return null;
    },
    pragmas() {
      live();
      return {
        journalMode: String(db.pragma('journal_mode', { simple: true })),
        synchronous: Number(db.pragma('synchronous', { simple: true })),
        applicationId: Number(db.pragma('application_id', { simple: true })),
        userVersion: Number(db.pragma('user_version', { simple: true })),
      };
    },
    close() {
      if (closed) return;
      closed = true;
      db.close();
    },
  };
}
