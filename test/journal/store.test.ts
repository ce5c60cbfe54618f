import Database from 'better-sqlite3';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { MachineEvent } from '../../src/controller/events.ts';
import {
  DEFAULT_JOURNAL_FILE,
  JournalError,
  MIGRATIONS,
  SCHEMA_VERSION,
  SNAPSHOTS_KEPT,
  VENDOMAT_APPLICATION_ID,
  openJournal,
} from '../../src/journal/store.ts';
import type { Journal, Migration } from '../../src/journal/store.ts';
import { defaultDataDir } from '../../src/journal/paths.ts';
import { VirtualClock } from '../../sim/clock.ts';

let dir: string;
const open: Journal[] = [];
const clock = new VirtualClock();

function openAt(options: Partial<Parameters<typeof openJournal>[0]> = {}): Journal {
  const j = openJournal({ dir, clock, ...options });
  open.push(j);
  return j;
}

function sha(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The JournalError thrown by `fn` (fails the test when nothing or something else is thrown). */
function journalErrorOf(fn: () => unknown): JournalError {
  try {
    fn();
  } catch (e) {
    if (e instanceof JournalError) return e;
    throw e;
  }
  throw new Error('expected a JournalError, nothing was thrown');
}

const coin: MachineEvent = { type: 'coinInserted', value: 100, routing: 'tube' };
const vend: MachineEvent = { type: 'vendSucceeded', column: 'A1', price: 100, payment: 'cash' };

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vendomat-journal-'));
});

afterEach(() => {
  try {
    for (const j of open.splice(0)) j.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('openJournal on a new directory', () => {
  it('creates the data directory and file with the Vendomat identity and newest schema', () => {
    const nested = join(dir, 'a', 'b');
    const j = openAt({ dir: nested });
    expect(j.path).toBe(join(nested, DEFAULT_JOURNAL_FILE));
    expect(existsSync(j.path)).toBe(true);
    expect(j.schemaVersion).toBe(SCHEMA_VERSION);
    const p = j.pragmas();
    expect(p.applicationId).toBe(VENDOMAT_APPLICATION_ID);
    expect(p.userVersion).toBe(SCHEMA_VERSION);
  });

  it('applies WAL and synchronous=FULL (read back from SQLite)', () => {
    const p = openAt().pragmas();
    expect(p.journalMode).toBe('wal');
    expect(p.synchronous).toBe(2);
  });

  it('treats a zero-byte file as new', () => {
    writeFileSync(join(dir, DEFAULT_JOURNAL_FILE), '');
    expect(openAt().pragmas().userVersion).toBe(SCHEMA_VERSION);
  });

  it('takes a custom file name inside the directory', () => {
    const j = openAt({ file: 'other.sqlite' });
    expect(j.path).toBe(join(dir, 'other.sqlite'));
  });

  it('adopts an empty SQLite file (no schema, no id) as a new journal', () => {
    const path = join(dir, DEFAULT_JOURNAL_FILE);
    const empty = new Database(path);
    empty.exec('CREATE TABLE scratch (x); DROP TABLE scratch;');
    empty.close();
    expect(readFileSync(path).length).toBeGreaterThan(0);
    const j = openAt();
    expect(j.pragmas().applicationId).toBe(VENDOMAT_APPLICATION_ID);
  });

  it('rejects a data directory that cannot be created', () => {
    writeFileSync(join(dir, 'file'), 'x');
    const e = journalErrorOf(() => openAt({ dir: join(dir, 'file', 'sub') }));
    expect(e.code).toBe('JOURNAL_IO');
  });
});

describe('append and read', () => {
  it('appends with increasing sequence numbers and reads back type, time and body', () => {
    const j = openAt();
    expect(j.lastSeq()).toBe(0);
    expect(j.append(coin, 1000)).toBe(1);
    expect(j.append(vend, 2000)).toBe(2);
    expect([...j.readAll()]).toEqual([
      { seq: 1, at: 1000, event: coin },
      { seq: 2, at: 2000, event: vend },
    ]);
    expect(j.lastSeq()).toBe(2);
    expect(j.count()).toBe(2);
  });

  it('defaults the time to the injected clock', async () => {
    const c = new VirtualClock();
    await c.advance(12_345);
    const j = openAt({ clock: c });
    j.append(coin);
    expect([...j.readAll()][0]?.at).toBe(c.now());
  });

  it('readSince is exclusive, and readTypes filters by type', () => {
    const j = openAt();
    j.appendMany([{ event: coin, at: 1 }, { event: vend, at: 2 }, { event: coin, at: 3 }, { event: { type: 'door', state: 'open' }, at: 4 }]);
    expect([...j.readSince(2)].map((e) => e.seq)).toEqual([3, 4]);
    expect([...j.readSince(4)]).toEqual([]);
    expect([...j.readTypes(['coinInserted', 'door'])].map((e) => e.seq)).toEqual([1, 3, 4]);
    expect([...j.readTypes(['coinInserted'], 1)].map((e) => e.seq)).toEqual([3]);
    expect([...j.readTypes([])]).toEqual([]);
  });

  it('appendMany is one transaction: one bad entry stores none', () => {
    const j = openAt();
    j.append(coin, 1);
    const e = journalErrorOf(() => j.appendMany([{ event: coin, at: 2 }, { event: vend, at: 2.5 }]));
    expect(e.code).toBe('JOURNAL_BAD_INPUT');
    expect(j.count()).toBe(1);
    expect(j.appendMany([{ event: coin, at: 3 }, { event: vend, at: 4 }])).toEqual([2, 3]);
  });

  it('rejects things that are not events, bad times and unserialisable values', () => {
    const j = openAt();
    const notEvent = { value: 1 } as unknown as MachineEvent;
    expect(journalErrorOf(() => j.append(notEvent, 1)).code).toBe('JOURNAL_BAD_INPUT');
    expect(journalErrorOf(() => j.append(coin, Number.NaN)).message).toMatch(/whole milliseconds/);
    const big = { type: 'serviceAction', action: 'x', detail: 10n } as unknown as MachineEvent;
    expect(journalErrorOf(() => j.append(big, 1)).message).toMatch(/cannot be stored as JSON/);
    expect(journalErrorOf(() => [...j.readSince(-1)]).code).toBe('JOURNAL_BAD_INPUT');
    expect(j.count()).toBe(0);
  });

  it('survives close and reopen (the data is in the file)', () => {
    const j = openAt();
    j.append(coin, 1);
    j.close();
    const again = openAt();
    expect([...again.readAll()].map((e) => e.event)).toEqual([coin]);
    expect(again.append(vend, 2)).toBe(2);
  });

  it('a closed journal refuses work with JOURNAL_CLOSED, and close is idempotent', () => {
    const j = openAt();
    j.close();
    j.close();
    expect(journalErrorOf(() => j.append(coin, 1)).code).toBe('JOURNAL_CLOSED');
    expect(journalErrorOf(() => [...j.readAll()]).code).toBe('JOURNAL_CLOSED');
  });

  it('a damaged event row is reported as JOURNAL_CORRUPT with its sequence number', () => {
    const j = openAt();
    j.append(coin, 1);
    j.close();
    const raw = new Database(join(dir, DEFAULT_JOURNAL_FILE));
    raw.prepare("INSERT INTO events (at, type, body) VALUES (2, 'coinInserted', '{not json')").run();
    raw.prepare("INSERT INTO events (at, type, body) VALUES (3, 'x', '[1,2]')").run();
    raw.close();
    const again = openAt();
    const e = journalErrorOf(() => [...again.readAll()]);
    expect(e.code).toBe('JOURNAL_CORRUPT');
    // Rows written behind the journal's back carry no chain value: the integrity check names them.
    expect(e.message).toMatch(/event #2 \(coinInserted\) fails its integrity check/);
    expect(e.message).toContain(join(dir, DEFAULT_JOURNAL_FILE));
    expect(journalErrorOf(() => [...again.readSince(2)]).message).toMatch(/event #2 has no chain value/);
  });
});

describe('durability', () => {
  it('every event acknowledged before a hard kill (SIGKILL mid-run) is there after reopening', () => {
    const storePath = fileURLToPath(new URL('../../src/journal/store.ts', import.meta.url));
    const repo = fileURLToPath(new URL('../../', import.meta.url));
    const script = join(dir, 'writer.mts');
    writeFileSync(
      script,
      [
        `import { writeSync } from 'node:fs';`,
        `import { openJournal } from ${JSON.stringify(storePath)};`,
        `const j = openJournal({ dir: ${JSON.stringify(dir)}, clock: { now: () => 0, setTimeout: () => 0, clearTimeout: () => undefined } });`,
        `for (let i = 1; i <= 500; i++) {`,
        `  const seq = j.append({ type: 'coinInserted', value: 5, routing: 'tube' }, i);`,
        `  writeSync(1, seq + '\\n');`,
        `  if (i === 150) process.kill(process.pid, 'SIGKILL');`,
        `}`,
      ].join('\n'),
    );
    const run = spawnSync(process.execPath, ['--import', 'tsx', script], { cwd: repo, encoding: 'utf8', timeout: 30_000 });
    expect(run.stderr).toBe('');
    expect(run.signal).toBe('SIGKILL');
    const acked = run.stdout.trim().split('\n').map(Number);
    expect(acked).toHaveLength(150);
    const j = openAt();
    const seqs = [...j.readAll()].map((e) => e.seq);
    expect(seqs.slice(0, 150)).toEqual(acked);
    expect(seqs.length).toBeGreaterThanOrEqual(150);
  });

  it('stopping a read early frees the connection for the next append', () => {
    const j = openAt();
    j.appendMany([{ event: coin, at: 1 }, { event: coin, at: 2 }, { event: coin, at: 3 }]);
    for (const e of j.readAll()) if (e.seq === 1) break;
    expect(j.append(vend, 4)).toBe(4);
  });
});

describe('snapshots', () => {
  it('saves and returns the newest snapshot, pruning old ones', () => {
    const j = openAt();
    for (let i = 1; i <= 6; i++) j.append(coin, i);
    expect(j.latestSnapshot()).toBeNull();
    for (let s = 1; s <= 5; s++) j.saveSnapshot(s, { upTo: s });
    expect(j.latestSnapshot()).toMatchObject({ seq: 5, state: { upTo: 5 } });
    const raw = new Database(j.path, { readonly: true });
    expect(raw.prepare('SELECT seq FROM snapshots ORDER BY seq').pluck().all()).toEqual([3, 4, 5].slice(-SNAPSHOTS_KEPT));
    raw.close();
  });

  it('refuses a snapshot past the last event or of a non-JSON state', () => {
    const j = openAt();
    j.append(coin, 1);
    expect(journalErrorOf(() => j.saveSnapshot(2, {})).message).toMatch(/past the last event #1/);
    expect(journalErrorOf(() => j.saveSnapshot(1, undefined)).code).toBe('JOURNAL_BAD_INPUT');
    expect(journalErrorOf(() => j.saveSnapshot(1, { n: 1n })).code).toBe('JOURNAL_BAD_INPUT');
  });

  it('skips a damaged snapshot and returns the one before it', () => {
    const j = openAt();
    j.append(coin, 1);
    j.append(coin, 2);
    j.saveSnapshot(1, { ok: true });
    j.close();
    const raw = new Database(join(dir, DEFAULT_JOURNAL_FILE));
    raw.prepare("INSERT INTO snapshots (seq, at, state) VALUES (2, 0, '{broken')").run();
    raw.close();
    expect(openAt().latestSnapshot()).toMatchObject({ seq: 1, state: { ok: true } });
  });
});

describe('migrations', () => {
  it('upgrades an existing v1 file to v2, keeping the events', () => {
    const v1 = openAt({ schemaVersion: 1 });
    expect(v1.schemaVersion).toBe(1);
    v1.append(coin, 1);
    v1.close();
    let raw = new Database(join(dir, DEFAULT_JOURNAL_FILE), { readonly: true });
    expect(raw.pragma('user_version', { simple: true })).toBe(1);
    expect(raw.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'events_by_type'").get()).toBeUndefined();
    raw.close();

    const v2 = openAt({ schemaVersion: 2 });
    expect(v2.schemaVersion).toBe(2);
    expect(v2.pragmas().userVersion).toBe(2);
    expect([...v2.readAll()].map((e) => e.event)).toEqual([coin]);
    v2.close();
    raw = new Database(join(dir, DEFAULT_JOURNAL_FILE), { readonly: true });
    expect(raw.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'events_by_type'").get()).toEqual({ name: 'events_by_type' });
    expect(raw.prepare("SELECT key FROM meta WHERE key LIKE 'migrated_%' ORDER BY key").pluck().all()).toEqual(['migrated_v1_at', 'migrated_v2_at']);
    raw.close();
  });

  it('a failing migration rolls back and leaves the file at the old version', () => {
    const v1 = openAt({ schemaVersion: 1 });
    v1.append(coin, 1);
    v1.close();
    const broken: Migration[] = [
      ...MIGRATIONS.slice(0, 2),
      {
        version: 3,
        description: 'fails half-way',
        up(db) {
          db.exec('CREATE TABLE half (x)');
          throw new Error('boom');
        },
      },
    ];
    const e = journalErrorOf(() => openAt({ migrations: broken }));
    expect(e.code).toBe('JOURNAL_IO');
    expect(e.message).toMatch(/boom/);
    // v2 committed, v3 did not (its table is gone with it).
    const raw = new Database(join(dir, DEFAULT_JOURNAL_FILE), { readonly: true });
    expect(raw.pragma('user_version', { simple: true })).toBe(2);
    expect(raw.prepare("SELECT name FROM sqlite_master WHERE name = 'half'").get()).toBeUndefined();
    expect(raw.prepare('SELECT count(*) FROM events').pluck().get()).toBe(1);
    raw.close();
  });

  it('rejects an unordered migration list and an out-of-range target', () => {
    const first = MIGRATIONS[0];
    if (first === undefined) throw new Error('no migrations');
    expect(() => openAt({ migrations: [{ ...first, version: 2 }] })).toThrow(/must be ordered/);
    expect(() => openAt({ schemaVersion: 0 })).toThrow(RangeError);
    expect(() => openAt({ schemaVersion: SCHEMA_VERSION + 1 })).toThrow(RangeError);
  });
});

describe('files that are not ours are refused and left intact', () => {
  const target = (): string => join(dir, DEFAULT_JOURNAL_FILE);

  it('garbage bytes → JOURNAL_CORRUPT naming the file', () => {
    writeFileSync(target(), Buffer.from('this is not a database, just some text\n'.repeat(50)));
    const before = sha(target());
    const e = journalErrorOf(() => openAt());
    expect(e.code).toBe('JOURNAL_CORRUPT');
    expect(e.file).toBe(target());
    expect(e.message).toContain(target());
    expect(sha(target())).toBe(before);
  });

  it('a file too short for an SQLite header → JOURNAL_CORRUPT', () => {
    writeFileSync(target(), 'SQLite');
    const e = journalErrorOf(() => openAt());
    expect(e.code).toBe('JOURNAL_CORRUPT');
    expect(readFileSync(target(), 'utf8')).toBe('SQLite');
  });

  it('an SQLite header followed by garbage → JOURNAL_CORRUPT', () => {
    const junk = Buffer.alloc(8192, 0xa5);
    Buffer.from('SQLite format 3\u0000', 'latin1').copy(junk, 0);
    writeFileSync(target(), junk);
    const before = sha(target());
    const e = journalErrorOf(() => openAt());
    expect(e.code).toBe('JOURNAL_CORRUPT');
    expect(sha(target())).toBe(before);
  });

  it("another application's SQLite (no application id) → JOURNAL_FOREIGN", () => {
    const other = new Database(target());
    other.exec("CREATE TABLE customers (name TEXT); INSERT INTO customers VALUES ('Ada');");
    other.close();
    const before = sha(target());
    const e = journalErrorOf(() => openAt());
    expect(e.code).toBe('JOURNAL_FOREIGN');
    expect(e.message).toMatch(/another application/);
    expect(sha(target())).toBe(before);
    const check = new Database(target(), { readonly: true });
    expect(check.prepare('SELECT name FROM customers').pluck().all()).toEqual(['Ada']);
    check.close();
  });

  it("another application's SQLite in WAL mode with its own application id → JOURNAL_FOREIGN", () => {
    const other = new Database(target());
    other.pragma('journal_mode = WAL');
    other.pragma('application_id = 1234');
    other.exec('CREATE TABLE t (x)');
    other.close();
    const before = sha(target());
    const e = journalErrorOf(() => openAt());
    expect(e.code).toBe('JOURNAL_FOREIGN');
    expect(e.message).toMatch(/application_id 1234/);
    expect(sha(target())).toBe(before);
  });

  it('a journal from a newer Vendomat → JOURNAL_TOO_NEW, untouched', () => {
    const j = openAt();
    j.append(coin, 1);
    j.close();
    const raw = new Database(target());
    raw.pragma('journal_mode = DELETE');
    raw.pragma(`user_version = ${SCHEMA_VERSION + 5}`);
    raw.close();
    const before = sha(target());
    const e = journalErrorOf(() => openAt());
    expect(e.code).toBe('JOURNAL_TOO_NEW');
    expect(e.message).toMatch(new RegExp(`schema version ${SCHEMA_VERSION + 5}`));
    expect(sha(target())).toBe(before);
  });
});

describe('defaultDataDir', () => {
  it('uses $VENDOMAT_DATA when set, else ~/.local/share/vendomat', () => {
    expect(defaultDataDir({ VENDOMAT_DATA: '/srv/vm' }, '/home/x')).toBe('/srv/vm');
    expect(defaultDataDir({}, '/home/x')).toBe('/home/x/.local/share/vendomat');
    expect(defaultDataDir({ VENDOMAT_DATA: '  ' }, '/home/x')).toBe('/home/x/.local/share/vendomat');
    expect(defaultDataDir({ VENDOMAT_DATA: 'rel/dir' }, '/home/x')).toMatch(/\/rel\/dir$/);
  });
});
