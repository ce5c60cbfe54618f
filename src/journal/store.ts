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
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readSync, renameSync, statSync, writeSync } from 'node:fs';
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
  /**
   * The journal existed (its head marker says so) but is missing, empty or shorter than the marker:
   * refused unless the operator says start fresh.
   */
  'JOURNAL_MISSING',
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

/** An event row as read (types unchecked: a damaged file can hold anything). */
interface EventRow {
  readonly seq: unknown;
  readonly at: unknown;
  readonly type: unknown;
  readonly body: unknown;
  readonly chain: unknown;
}

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
  {
    version: 4,
    description: 'integrity: a hash chain over the events from the migration point on, snapshots checked and bound to the chain',
    up(db) {
      db.exec(`
        ALTER TABLE events ADD COLUMN chain TEXT;
        ALTER TABLE snapshots ADD COLUMN chain TEXT;
        ALTER TABLE snapshots ADD COLUMN checksum TEXT;
      `);
      // Events up to here were written without a chain (an older build); the chain starts after them.
      const last = Number(db.prepare('SELECT coalesce(max(seq), 0) FROM events').pluck().get());
      db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('chain_from', ?)").run(String(last));
    },
  },
];

/** The chain value before the first chained event. */
export const CHAIN_GENESIS = '';

/** One link of the hash chain: SHA-256 over the previous link and the row as stored. */
export function chainLink(prev: string, seq: number, at: number, type: string, body: string): string {
  return createHash('sha256').update(`${prev}\n${seq}\n${at}\n${type}\n${body}`).digest('hex');
}

/** The check of a snapshot row: its sequence number, the chain head there and the state text. */
export function snapshotChecksum(seq: number, chain: string, state: string): string {
  return createHash('sha256').update(`snapshot\n${seq}\n${chain}\n${state}`).digest('hex');
}

/** Latest valid clock time an event may carry (the largest `Date`, 8.64e15 ms). */
export const MAX_EVENT_TIME = 8_640_000_000_000_000;

/** The head marker next to the journal (`journal.db.head`), rewritten with every snapshot. */
export interface JournalHead {
  readonly seq: number;
  readonly chain: string;
}

export function headMarkerPath(journalPath: string): string {
  return `${journalPath}.head`;
}

function readHeadMarker(path: string): JournalHead | 'unreadable' | null {
  const file = headMarkerPath(path);
  if (!existsSync(file)) return null;
  try {
    const v: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof v === 'object' && v !== null && 'seq' in v && 'chain' in v && Number.isSafeInteger(v.seq) && typeof v.chain === 'string')
      return { seq: Number(v.seq), chain: v.chain };
    return 'unreadable';
  } catch {
    return 'unreadable';
  }
}

/** Best effort (a marker that cannot be written only weakens the "it existed" check): temp, fsync, rename. */
function writeHeadMarker(path: string, head: JournalHead): void {
  const file = headMarkerPath(path);
  const tmp = `${file}.tmp`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, JSON.stringify({ ...head, note: 'written by Vendomat with each journal snapshot; do not delete' }));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch {
    // A full disk: the next snapshot tries again.
  }
}

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
  /** The chain head at `seq` the snapshot was taken on. */
  readonly chain: string;
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
  /**
   * The operator's word that the journal found is to be used as it is: a missing or empty journal
   * starts a new one, a journal shorter than its head marker is accepted (the marker is rewritten).
   * Without it both are refused (`JOURNAL_MISSING`).
   */
  readonly startFresh?: boolean;
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
  /**
   * The hash chain value at `seq` (the newest event at or before it; `CHAIN_GENESIS` before the
   * chain starts), or null for a journal below schema v4 (no chain).
   */
  chainAt(seq: number): string | null;
  /** The sequence number of the newest event (0 when empty). */
  lastSeq(): number;
  count(): number;
  /** Stores a state that includes every event up to `seq`. */
  saveSnapshot(seq: number, state: unknown): void;
  /**
   * The newest snapshot that passes its integrity check, or null. Why each newer one was skipped
   * is pushed to `problems`.
   */
  latestSnapshot(problems?: string[]): JournalSnapshot | null;
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

  const marker = readHeadMarker(path);
  const verdict = inspect(path, migrations.length);
  const startFresh = options.startFresh === true;
  if (verdict.kind === 'fresh' && marker !== null && !startFresh)
    throw new JournalError(
      'JOURNAL_MISSING',
      path,
      `the journal is missing or empty, but ${headMarkerPath(path)} shows one was written here` +
        (marker !== 'unreadable' ? ` (up to event #${marker.seq})` : '') +
        ': restore the file from a backup, or start fresh on purpose (`--start-fresh`; the credit and books it held are then lost)',
    );
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

  const corrupt = (message: string, e?: unknown): JournalError => new JournalError('JOURNAL_CORRUPT', path, message, e);
  // The chain exists from schema v4 on; a journal opened at an older version has none.
  const hasChain = version >= 4;
  let prepared;
  try {
    prepared = {
      insertEvent: db.prepare<[number, string, string]>('INSERT INTO events (at, type, body) VALUES (?, ?, ?)'),
      insertChained: hasChain ? db.prepare<[number, number, string, string, string]>('INSERT INTO events (seq, at, type, body, chain) VALUES (?, ?, ?, ?, ?)') : null,
      selectHead: hasChain ? db.prepare<[number], { seq: unknown; chain: unknown }>('SELECT seq, chain FROM events WHERE seq <= ? ORDER BY seq DESC LIMIT 1') : null,
      selectCounter: db.prepare<[], unknown>("SELECT seq FROM sqlite_sequence WHERE name = 'events'").pluck(),
      selectSince: db.prepare<[number], EventRow>(`SELECT seq, at, type, body, ${hasChain ? 'chain' : 'NULL AS chain'} FROM events WHERE seq > ? ORDER BY seq`),
      selectLast: db.prepare<[], number>('SELECT coalesce(max(seq), 0) FROM events').pluck(),
      selectCount: db.prepare<[], number>('SELECT count(*) FROM events').pluck(),
      insertSnapshot: db.prepare<[number, number, string]>('INSERT OR REPLACE INTO snapshots (seq, at, state) VALUES (?, ?, ?)'),
      insertCheckedSnapshot: hasChain
        ? db.prepare<[number, number, string, string, string]>('INSERT OR REPLACE INTO snapshots (seq, at, state, chain, checksum) VALUES (?, ?, ?, ?, ?)')
        : null,
      pruneSnapshots: db.prepare<[number]>('DELETE FROM snapshots WHERE seq NOT IN (SELECT seq FROM snapshots ORDER BY seq DESC LIMIT ?)'),
      selectSnapshots: db.prepare<[], { seq: unknown; at: unknown; state: unknown; chain: unknown; checksum: unknown }>(
        `SELECT seq, at, state, ${hasChain ? 'chain, checksum' : 'NULL AS chain, NULL AS checksum'} FROM snapshots ORDER BY seq DESC`,
      ),
    };
  } catch (e) {
    db.close();
    throw new JournalError(isCorruption(e) ? 'JOURNAL_CORRUPT' : 'JOURNAL_IO', path, `cannot read the journal's tables: ${describe(e)}`, e);
  }
  const { insertEvent, insertChained, selectHead, selectCounter, selectSince, selectLast, selectCount, insertSnapshot, insertCheckedSnapshot, pruneSnapshots, selectSnapshots } =
    prepared;
  let closed = false;

  /** Events up to this sequence number predate the chain (written before schema v4). */
  let chainFrom = 0;
  try {
    if (hasChain) {
      const text: unknown = db.prepare("SELECT value FROM meta WHERE key = 'chain_from'").pluck().get();
      const n = typeof text === 'string' && /^[0-9]{1,15}$/.test(text) ? Number(text) : NaN;
      if (!Number.isSafeInteger(n)) throw corrupt(`the chain start (meta chain_from) is missing or damaged: ${JSON.stringify(text) ?? 'none'}`);
      chainFrom = n;
    }
  } catch (e) {
    db.close();
    if (isJournalError(e)) throw e;
    throw new JournalError(isCorruption(e) ? 'JOURNAL_CORRUPT' : 'JOURNAL_IO', path, `cannot read the chain start: ${describe(e)}`, e);
  }

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
    // A time outside the range of dates (e.g. a clock pushed past 2^53 ms) would be stored rounded
    // or as a float: refuse it, naming it, rather than write a row that cannot be read back exactly.
    if (!Number.isSafeInteger(time) || Math.abs(time) > MAX_EVENT_TIME)
      throw new JournalError('JOURNAL_BAD_INPUT', path, `${event.type}: event time must be whole milliseconds within ±${MAX_EVENT_TIME}, got ${String(time)}`);
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

  /** The chain value at `seq`: that of the newest event at or before it. */
  const chainAtSeq = (seq: number): string | null => {
    if (selectHead === null) return null;
    const head = selectHead.get(seq);
    if (head === undefined || (typeof head.seq === 'number' && head.seq <= chainFrom)) return CHAIN_GENESIS;
    if (typeof head.seq !== 'number' || typeof head.chain !== 'string') throw corrupt(`event #${String(head.seq)} has no chain value (damaged row)`);
    return head.chain;
  };

  /** Inserts one row, linked to the chain when the schema has one. Call inside a transaction. */
  const insertRow = (row: readonly [number, string, string]): number => {
    if (insertChained === null) return Number(insertEvent.run(...row).lastInsertRowid);
    const last = Number(selectLast.get());
    const counter = Number(selectCounter.get() ?? 0);
    // AUTOINCREMENT's rule, made explicit because the link needs the number before the insert.
    const seq = Math.max(last, Number.isSafeInteger(counter) ? counter : 0) + 1;
    const prev = chainAtSeq(last) ?? CHAIN_GENESIS;
    const [at, type, body] = row;
    insertChained.run(seq, at, type, body, chainLink(prev, seq, at, type, body));
    return seq;
  };
  const insertOne = db.transaction((row: readonly [number, string, string]) => insertRow(row));
  const insertAll = db.transaction((rows: readonly (readonly [number, string, string])[]) => rows.map((r) => insertRow(r)));

  /** Decodes rows, checking each against the chain from `prev` on (null: no chain to check). */
  function* decode(rows: IterableIterator<EventRow>, start: string | null): IterableIterator<JournalEntry> {
    let prev = start;
    for (const row of rows) {
      const seq = row.seq;
      if (typeof seq !== 'number' || typeof row.at !== 'number' || typeof row.type !== 'string' || typeof row.body !== 'string')
        throw corrupt(`event #${String(seq)} is damaged (a column has the wrong type)`);
      if (prev !== null) {
        if (seq <= chainFrom) {
          if (row.chain !== null) throw corrupt(`event #${seq} carries a chain value before the chain starts (#${chainFrom}): damaged row or chain start`);
        } else {
          const expected = chainLink(prev, seq, row.at, row.type, row.body);
          if (row.chain !== expected) throw corrupt(`event #${seq} (${row.type.slice(0, 40)}) fails its integrity check: the row or an earlier one was altered or lost`);
          prev = expected;
        }
      }
      let event: unknown;
      try {
        event = JSON.parse(row.body);
      } catch (e) {
        throw corrupt(`event #${seq} is not valid JSON: ${describe(e)}`, e);
      }
      if (!isEventObject(event)) throw corrupt(`event #${seq} is not an event object`);
      if (event.type !== row.type) throw corrupt(`event #${seq} says ${event.type.slice(0, 40)} in its body and ${row.type.slice(0, 40)} in its type column`);
      yield { seq, at: row.at, event };
    }
  }

  function* guarded(what: string, rows: () => IterableIterator<EventRow>, since: number | null): IterableIterator<JournalEntry> {
    live();
    const start = since === null ? null : wrap(what, () => chainAtSeq(since));
    const it = wrap(what, rows);
    // Errors while stepping the cursor (a damaged page deep in the file) get the same treatment.
    const stepped: IterableIterator<EventRow> = {
      next: () => wrap(what, () => it.next()),
      return: (v?: unknown) => it.return?.(v) ?? { done: true, value: undefined },
      [Symbol.iterator]() {
        return this;
      },
    };
    yield* decode(stepped, start);
  }

  const checkSeq = (seq: number, what: string): void => {
    if (!Number.isSafeInteger(seq) || seq < 0) throw new JournalError('JOURNAL_BAD_INPUT', path, `${what}: sequence number must be a whole number ≥ 0, got ${String(seq)}`);
  };

  // The head marker: refuse a journal shorter than what was written here, write one for a new file.
  try {
    const last = Number(selectLast.get());
    if (marker !== null && marker !== 'unreadable' && !startFresh && verdict.kind === 'ours') {
      if (last < marker.seq)
        throw new JournalError(
          'JOURNAL_MISSING',
          path,
          `the journal ends at event #${last}, but ${headMarkerPath(path)} shows #${marker.seq} was written: the file was truncated or replaced by an older copy; ` +
            'restore the newest copy, or accept this one on purpose (`--start-fresh`)',
        );
      const there = chainAtSeq(marker.seq);
      if (there !== null && marker.chain !== '' && there !== marker.chain)
        throw corrupt(`event #${marker.seq} does not match ${headMarkerPath(path)}: the file was replaced or altered; restore the newest copy, or accept this one on purpose (\`--start-fresh\`)`);
    }
    if (marker === null || startFresh) writeHeadMarker(path, { seq: last, chain: chainAtSeq(last) ?? '' });
  } catch (e) {
    db.close();
    if (isJournalError(e)) throw e;
    throw new JournalError(isCorruption(e) ? 'JOURNAL_CORRUPT' : 'JOURNAL_IO', path, `cannot read the journal's head: ${describe(e)}`, e);
  }

  /** The head marker of a snapshot saved inside a transaction that has not committed yet. */
  let pendingMarker: JournalHead | null = null;
  const markCommitted = (): void => {
    if (pendingMarker === null) return;
    writeHeadMarker(path, pendingMarker);
    pendingMarker = null;
  };

  return {
    path,
    schemaVersion: version,
    append(event, at) {
      live();
      const row = encode(event, at);
      return wrap(`append ${event.type}`, () => insertOne(row));
    },
    appendMany(entries) {
      live();
      const rows = entries.map((e) => encode(e.event, e.at));
      return wrap(`append ${rows.length} events`, () => insertAll(rows));
    },
    transaction(fn) {
      live();
      try {
        const out = db.transaction(fn)();
        if (!db.inTransaction) markCommitted();
        return out;
      } catch (e) {
        if (!db.inTransaction) pendingMarker = null;
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
      return guarded('read', () => selectSince.iterate(0), 0);
    },
    readSince(seq) {
      checkSeq(seq, 'readSince');
      return guarded(`read since #${seq}`, () => selectSince.iterate(seq), seq);
    },
    readTypes(types, sinceSeq = 0) {
      checkSeq(sinceSeq, 'readTypes');
      const list = [...new Set(types)];
      if (list.length === 0) return guarded('read types', () => [][Symbol.iterator](), null);
      const stmt = db.prepare<unknown[], EventRow>(
        `SELECT seq, at, type, body, NULL AS chain FROM events WHERE type IN (${list.map(() => '?').join(', ')}) AND seq > ? ORDER BY seq`,
      );
      // Not contiguous, so not checked against the chain (recovery and full reads are).
      return guarded('read types', () => stmt.iterate(...list, sinceSeq), null);
    },
    chainAt(seq) {
      live();
      checkSeq(seq, 'chainAt');
      return wrap(`chain at #${seq}`, () => chainAtSeq(seq));
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
      const now = clock.now();
      const chain = wrap(
        'save snapshot',
        db.transaction(() => {
          const at = chainAtSeq(seq);
          if (insertCheckedSnapshot !== null && at !== null) insertCheckedSnapshot.run(seq, now, body, at, snapshotChecksum(seq, at, body));
          else insertSnapshot.run(seq, now, body);
          pruneSnapshots.run(SNAPSHOTS_KEPT);
          return at ?? '';
        }),
      );
      // Inside a caller's transaction the snapshot is not committed yet: the marker must never run
      // ahead of the file, so it is written once the outermost transaction commits.
      pendingMarker = { seq, chain };
      if (!db.inTransaction) markCommitted();
    },
    latestSnapshot(problems) {
      live();
      const rows = wrap('read snapshots', () => selectSnapshots.all());
      // A damaged snapshot costs only time (an older one or a full replay), never the events.
      for (const row of rows) {
        const name = `snapshot #${String(row.seq)}`;
        if (typeof row.seq !== 'number' || typeof row.state !== 'string' || typeof row.at !== 'number') {
          problems?.push(`${name}: damaged row`);
          continue;
        }
        let chain = '';
        if (hasChain) {
          if (typeof row.checksum !== 'string' || typeof row.chain !== 'string') {
            problems?.push(`${name}: written before schema v4, it carries no integrity check`);
            continue;
          }
          if (snapshotChecksum(row.seq, row.chain, row.state) !== row.checksum) {
            problems?.push(`${name}: fails its integrity check (altered or damaged)`);
            continue;
          }
          chain = row.chain;
        }
        try {
          return { seq: row.seq, at: row.at, state: JSON.parse(row.state) as unknown, chain };
        } catch {
          problems?.push(`${name}: not valid JSON`);
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
