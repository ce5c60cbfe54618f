/**
 * Recovery trusts nothing it reads: event bodies and snapshots are checked (hash chain, snapshot
 * checksum bound to the chain), a journal that existed cannot come back empty or shorter, books that
 * do not balance never start sales, and every corrupt journal is refused with an error that names
 * the file and the cause.
 */
import Database from 'better-sqlite3';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkConservation } from '../../src/audit/ledger.ts';
import type { JournalError } from '../../src/journal/store.ts';
import type { MachineEvent } from '../../src/controller/events.ts';
import { salesState } from '../../src/controller/view.ts';
import { BOOKS_FAULT, recover, takeSnapshot, type MachineState } from '../../src/journal/recovery.ts';
import { DEFAULT_JOURNAL_FILE, headMarkerPath, isJournalError, openJournal, snapshotChecksum, type Journal } from '../../src/journal/store.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { createRandom } from '../../sim/random.ts';
import { boot, coins, cut, removeDir, settle, tempDir, type Rig } from './rig.ts';

const dirs: string[] = [];
const rigs: Rig[] = [];
function dir(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}
afterEach(async () => {
  for (const r of rigs.splice(0)) {
    r.sim.dispose();
    await r.jc.close().catch(() => undefined);
  }
  for (const d of dirs.splice(0)) removeDir(d);
});

const clock = new VirtualClock(1_000);
const coin = (value: number): MachineEvent => ({ type: 'coinInserted', value, routing: 'tube' });

function open(d: string, startFresh = false): Journal {
  return openJournal({ dir: d, clock, ...(startFresh ? { startFresh } : {}) });
}

function errorOf(fn: () => unknown): JournalError {
  try {
    fn();
  } catch (e) {
    if (isJournalError(e)) return e;
    throw new Error(`expected a JournalError, got ${String(e)}`);
  }
  throw new Error('expected a JournalError, nothing was thrown');
}

/** A journal with credit 250 (100 + 100 + 50) and a snapshot at its end. */
function creditJournal(d: string): void {
  const j = open(d);
  for (const v of [100, 100, 50]) j.append(coin(v));
  takeSnapshot(j);
  j.close();
}

function raw(d: string, sql: string): void {
  const db = new Database(join(d, DEFAULT_JOURNAL_FILE));
  db.exec(sql);
  db.close();
}

describe('integrity of events and snapshots', () => {
  it('a snapshot edited from credit 250 to 950 fails its check: recovery replays the events (credit 250)', () => {
    const d = dir();
    creditJournal(d);
    raw(d, `UPDATE snapshots SET state = replace(state, '"credit":250', '"credit":950')`);
    const j = open(d);
    const rec = recover(j);
    expect(rec.ledger.credit).toBe(250);
    expect(rec.snapshotSeq).toBeNull();
    expect(rec.snapshotIgnored).toMatch(/snapshot #3: fails its integrity check/);
    expect(rec.violations).toEqual([]);
    j.close();
  });

  it('an edited snapshot whose checksum was recomputed does not belong to the chain: full replay', () => {
    const d = dir();
    creditJournal(d);
    const db = new Database(join(d, DEFAULT_JOURNAL_FILE));
    const row = db.prepare('SELECT seq, state FROM snapshots').get() as { seq: number; state: string };
    const forged = row.state.replace('"credit":250', '"credit":950');
    const chain = 'f'.repeat(64);
    db.prepare('UPDATE snapshots SET state = ?, chain = ?, checksum = ?').run(forged, chain, snapshotChecksum(row.seq, chain, forged));
    db.close();
    const j = open(d);
    const rec = recover(j);
    expect(rec.ledger.credit).toBe(250);
    expect(rec.snapshotIgnored).toMatch(/chain mismatch/);
    j.close();
  });

  it('a snapshot of the wrong shape (checksum valid) falls back to full replay', () => {
    const d = dir();
    creditJournal(d);
    const db = new Database(join(d, DEFAULT_JOURNAL_FILE));
    const row = db.prepare('SELECT seq, chain FROM snapshots').get() as { seq: number; chain: string };
    const wrong = JSON.stringify({ version: 1, ledger: { credit: 950 } });
    db.prepare('UPDATE snapshots SET state = ?, checksum = ?').run(wrong, snapshotChecksum(row.seq, row.chain, wrong));
    db.close();
    const j = open(d);
    const rec = recover(j);
    expect(rec.ledger.credit).toBe(250);
    expect(rec.snapshotIgnored).toMatch(/snapshot #3: ledger\.inserted missing/);
    j.close();
  });

  it('an edited event body is refused with the file, the event and the cause', () => {
    const d = dir();
    const j = open(d);
    for (const v of [100, 100, 50]) j.append(coin(v));
    j.close();
    raw(d, `UPDATE events SET body = replace(body, '"value":50', '"value":500') WHERE seq = 3`);
    const again = open(d);
    const e = errorOf(() => recover(again));
    expect(e.code).toBe('JOURNAL_CORRUPT');
    expect(e.message).toContain(join(d, DEFAULT_JOURNAL_FILE));
    expect(e.message).toMatch(/event #3 \(coinInserted\) fails its integrity check/);
    again.close();
  });

  it('a deleted event in the middle breaks the chain after it', () => {
    const d = dir();
    const j = open(d);
    for (const v of [100, 100, 50]) j.append(coin(v));
    j.close();
    raw(d, 'DELETE FROM events WHERE seq = 2');
    const again = open(d);
    expect(errorOf(() => recover(again)).message).toMatch(/event #3 .*fails its integrity check/);
    again.close();
  });

  it('a v3 journal is migrated: its old events stay readable, the chain starts after them, its old snapshot is not trusted', () => {
    const d = dir();
    const old = openJournal({ dir: d, clock, schemaVersion: 3 });
    for (const v of [100, 100]) old.append(coin(v));
    old.saveSnapshot(2, { tampered: true });
    old.close();
    const j = open(d);
    expect(j.schemaVersion).toBe(4);
    j.append(coin(50));
    const rec = recover(j);
    expect(rec.ledger.credit).toBe(250);
    expect(rec.snapshotIgnored).toMatch(/written before schema v4/);
    expect(j.chainAt(2)).toBe('');
    expect(j.chainAt(3)).toMatch(/^[0-9a-f]{64}$/);
    j.close();
    // Events after the migration point are checked; the ones before are not (they have no chain).
    raw(d, `UPDATE events SET body = replace(body, '"value":50', '"value":20') WHERE seq = 3`);
    const again = open(d);
    expect(errorOf(() => recover(again)).message).toMatch(/event #3/);
    again.close();
  });

  it('event times are bounded: a time past the range of dates is refused by name, nothing is written', () => {
    const d = dir();
    const j = open(d);
    for (const at of [2 ** 53, 1e20, Number.NaN, 8.64e15 + 1]) {
      const e = errorOf(() => j.append(coin(100), at));
      expect(e.code).toBe('JOURNAL_BAD_INPUT');
      expect(e.message).toMatch(/coinInserted: event time must be whole milliseconds/);
    }
    expect(j.count()).toBe(0);
    j.close();
  });
});

describe('a journal that existed cannot come back empty', () => {
  for (const how of ['deleted', 'emptied'] as const) {
    it(`a ${how} journal.db is refused (JOURNAL_MISSING) unless the operator starts fresh`, () => {
      const d = dir();
      creditJournal(d);
      const file = join(d, DEFAULT_JOURNAL_FILE);
      if (how === 'deleted') rmSync(file);
      else writeFileSync(file, '');
      const e = errorOf(() => open(d));
      expect(e.code).toBe('JOURNAL_MISSING');
      expect(e.message).toContain(file);
      expect(e.message).toMatch(/up to event #3.*--start-fresh/);
      const fresh = open(d, true);
      expect(recover(fresh).ledger.credit).toBe(0);
      fresh.close();
      // Started fresh on purpose: the marker now describes the new journal.
      open(d).close();
    });
  }

  it('a journal replaced by an older copy (fewer events than the marker) is refused', () => {
    const d = dir();
    const j = open(d);
    j.append(coin(100));
    j.close();
    const backup = join(dir(), 'old.db');
    copyFileSync(join(d, DEFAULT_JOURNAL_FILE), backup);
    const k = open(d);
    k.append(coin(100));
    takeSnapshot(k);
    k.close();
    copyFileSync(backup, join(d, DEFAULT_JOURNAL_FILE));
    const e = errorOf(() => open(d));
    expect(e.code).toBe('JOURNAL_MISSING');
    expect(e.message).toMatch(/ends at event #1, but .*journal\.db\.head shows #2/);
    const accepted = open(d, true);
    expect(recover(accepted).ledger.credit).toBe(100);
    accepted.close();
  });

  it('the marker never runs ahead of the file: a snapshot inside a transaction marks only once it commits', () => {
    const d = dir();
    const j = open(d);
    const marker = headMarkerPath(j.path);
    j.append(coin(100));
    expect(() =>
      j.transaction(() => {
        j.append(coin(100));
        takeSnapshot(j);
        expect(JSON.parse(readFileSync(marker, 'utf8'))).toMatchObject({ seq: 0 });
        throw new Error('cut before the commit');
      }),
    ).toThrow('cut before the commit');
    expect(JSON.parse(readFileSync(marker, 'utf8'))).toMatchObject({ seq: 0 });
    j.close();
    // The rolled-back snapshot left no marker ahead of the file: it opens.
    const k = open(d);
    expect(k.lastSeq()).toBe(1);
    k.transaction(() => {
      k.append(coin(50));
      takeSnapshot(k);
    });
    expect(JSON.parse(readFileSync(marker, 'utf8'))).toMatchObject({ seq: 2 });
    k.close();
  });

  it('the marker is written when the journal is created and with each snapshot', () => {
    const d = dir();
    const j = open(d);
    const marker = headMarkerPath(j.path);
    expect(JSON.parse(readFileSync(marker, 'utf8'))).toMatchObject({ seq: 0, chain: '' });
    j.append(coin(100));
    takeSnapshot(j);
    expect(JSON.parse(readFileSync(marker, 'utf8'))).toMatchObject({ seq: 1, chain: j.chainAt(1) });
    j.close();
  });
});

describe('random bit flips', () => {
  it('of 500 journals with random bit flips, each opens with the correct books or is refused with a named JournalError', async () => {
    const base = dir();
    // A real journal: sales, change, a refund, with snapshots along the way, then a power cut, so
    // recovery starts from a snapshot and replays (and checks) the events after it.
    const rig = await boot(base, { snapshotEvery: 40 });
    for (let i = 0; i < 6; i++) {
      await coins(rig, 100, 50, 20);
      rig.sim.devices.keypad.type(i % 2 === 0 ? 'A1' : 'B2');
      await settle(rig);
    }
    await coins(rig, 200, 50);
    await settle(rig);
    cut(rig);
    const file = join(base, DEFAULT_JOURNAL_FILE);
    expect(existsSync(`${file}-wal`)).toBe(false);
    const ref = open(base);
    const expected = recover(ref);
    ref.close();
    expect(expected.ledger.credit).toBe(250);
    expect(expected.snapshotSeq).not.toBeNull();
    expect(expected.replayed).toBeGreaterThan(10);
    const bytes = readFileSync(file);
    const marker = readFileSync(headMarkerPath(file));
    // Where the live rows are (event bodies, snapshot states): half the flips aim there.
    const db = new Database(file, { readonly: true });
    const live = [
      ...(db.prepare('SELECT body FROM events').pluck().all() as string[]),
      ...(db.prepare('SELECT state FROM snapshots').pluck().all() as string[]),
    ];
    db.close();
    const textAt: { at: number; length: number }[] = [];
    for (const text of live) {
      const at = bytes.indexOf(Buffer.from(text));
      if (at >= 0) textAt.push({ at, length: text.length });
    }
    expect(textAt.length).toBeGreaterThan(50);

    const random = createRandom(0x9b17f11e);
    const outcome = { opened: 0, refused: 0, identical: 0 };
    const scratch = dir();
    for (let n = 0; n < 500; n++) {
      const copy = Buffer.from(bytes);
      const flips = random.int(1, 3);
      for (let k = 0; k < flips; k++) {
        const row = random.pick(textAt);
        const at = random.chance(0.5) ? row.at + random.int(0, row.length - 1) : random.int(0, copy.length - 1);
        copy[at] = (copy[at] ?? 0) ^ (1 << random.int(0, 7));
      }
      const d = join(scratch, String(n));
      mkdirSync(d);
      writeFileSync(join(d, DEFAULT_JOURNAL_FILE), copy);
      writeFileSync(headMarkerPath(join(d, DEFAULT_JOURNAL_FILE)), marker);
      let j: Journal | undefined;
      try {
        j = open(d);
        const rec = recover(j);
        // Opened: the books must be exactly the true ones.
        expect(rec.lastSeq, `journal ${n}`).toBe(expected.lastSeq);
        expect(rec.state, `journal ${n}`).toEqual(expected.state satisfies MachineState);
        expect(checkConservation(rec.ledger), `journal ${n}`).toEqual([]);
        outcome.opened += 1;
      } catch (e) {
        if (!isJournalError(e)) throw new Error(`journal ${n}: not a JournalError: ${String(e)}`, { cause: e });
        expect(e.message, `journal ${n}`).toContain(join(d, DEFAULT_JOURNAL_FILE));
        expect(e.code, `journal ${n}`).toMatch(/^JOURNAL_(CORRUPT|FOREIGN|TOO_NEW|IO|MISSING)$/);
        outcome.refused += 1;
      } finally {
        j?.close();
        rmSync(d, { recursive: true, force: true });
      }
    }
    expect(outcome.opened + outcome.refused).toBe(500);
    // Both outcomes occur (the generator reaches the data as well as the slack).
    expect(outcome.opened).toBeGreaterThan(0);
    expect(outcome.refused).toBeGreaterThan(0);
    console.log(`bit flips: of 500 journals ${outcome.opened} opened with the correct books, ${outcome.refused} refused with a named error`);
  }, 60_000);
});

describe('books that do not balance', () => {
  /** A journal whose books are off by 70: a payout of 70 that no credit or debt explains. */
  function unbalanced(d: string): void {
    const j = open(d);
    j.append(coin(100));
    j.append({ type: 'payoutPlanned', amount: 170, plan: { 100: 1, 50: 1, 20: 1 }, reason: 'change' });
    j.append({ type: 'payoutDone', amount: 170, paid: { 100: 1, 50: 1, 20: 1 }, paidValue: 170, reason: 'change' });
    j.close();
  }

  it('never start sales: out of service with JOURNAL_BOOKS naming the file and what to do, until the operator acknowledges', async () => {
    const d = dir();
    unbalanced(d);
    const check = open(d);
    const violations = recover(check).violations;
    check.close();
    expect(violations.length).toBeGreaterThan(0);

    const a = await boot(d);
    rigs.push(a);
    expect(a.jc.report.booksFault).toContain(join(d, DEFAULT_JOURNAL_FILE));
    expect(a.jc.report.booksFault).toMatch(/service clear-faults/);
    const ctx = a.jc.controller.snapshot.context;
    expect(ctx.faults[BOOKS_FAULT]?.detail).toContain(join(d, DEFAULT_JOURNAL_FILE));
    expect(salesState(a.jc.controller.snapshot)).toBe('outOfService');
    // No coin is taken: acceptance is off.
    await coins(a, 100);
    expect(a.jc.controller.snapshot.context.credit).toBe(0);
    expect(a.sim.world.cup[100]).toBe(1);

    // The operator checks and acknowledges: door open, clear faults, door close.
    a.sim.devices.door.open();
    await a.clock.advance(10);
    a.jc.controller.send({ type: 'SERVICE_CLEAR_FAULTS' });
    a.sim.devices.door.close();
    await a.clock.advance(10);
    expect(salesState(a.jc.controller.snapshot)).toBe('idle');
    a.sim.dispose();
    await a.jc.close();

    // The acknowledgement is journalled: the same imbalance does not stop the next start.
    const b = await boot(d, { from: a });
    rigs.push(b);
    expect(b.jc.report.booksFault).toBeNull();
    expect(b.jc.controller.snapshot.context.faults[BOOKS_FAULT]).toBeUndefined();
    await coins(b, 100);
    expect(b.jc.controller.snapshot.context.credit).toBe(100);
    expect(Object.keys(b.jc.controller.snapshot.context.faults)).toEqual([]);
  });
});
