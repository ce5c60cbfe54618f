/**
 * A full disk never swallows money: the journal stops new money before it cannot record it (a
 * free-space floor read only when appends may have used the margin, and a reserve file released
 * when a write fails anyway), and an event whose write fails is held in memory and retried, never
 * dropped, while the machine keeps its credit. Injected failures everywhere, and a real tiny tmpfs
 * where this machine can mount one.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkConservation } from '../../src/audit/ledger.ts';
import type { Logger } from '../../src/controller/controller.ts';
import { recover } from '../../src/journal/recovery.ts';
import { RESERVE_FILE, UNRECORDED_BYTES, UNRECORDED_FILE } from '../../src/journal/storage.ts';
import { JournalError, openJournal, type Journal } from '../../src/journal/store.ts';
import type { StorageHealth } from '../../src/ports/index.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { countsValue } from '../../sim/world.ts';
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

/** The journal with appends that fail (as SQLite does on a full disk) while `full()` says so. */
function flaky(j: Journal, full: () => boolean): Journal {
  const refuse = (type: string): JournalError => new JournalError('JOURNAL_IO', j.path, `append ${type}: database or disk is full`);
  return {
    ...j,
    path: j.path,
    schemaVersion: j.schemaVersion,
    append: (event, at) => {
      if (full()) throw refuse(event.type);
      return j.append(event, at);
    },
  };
}

function healths(r: Rig): StorageHealth[] {
  const seen: StorageHealth[] = [];
  r.jc.storage$.subscribe((h) => seen.push(h));
  return seen;
}

/** Money the machine holds by the world's count (tubes and cash box). */
function machineCash(r: Rig): number {
  return countsValue(r.sim.world.tubes) + countsValue(r.sim.world.cashbox);
}

const captured = (): { logger: Logger; errors: string[] } => {
  const errors: string[] = [];
  const logger: Logger = { info() {}, debug() {}, warn() {}, error: (_o, msg) => errors.push(msg ?? '') };
  return { logger, errors };
};

describe('a write that fails', () => {
  it('holds the coin in flight in memory, keeps it as credit, retries it, and it survives a restart', async () => {
    const d = dir();
    let full = false;
    const journal = flaky(openJournal({ dir: d, clock: new VirtualClock() }), () => full);
    const { logger, errors } = captured();
    const a = await boot(d, { journal, logger, storage: { lowBytes: 0, reserveBytes: 0 } });
    rigs.push(a);
    const seen = healths(a);
    const cashBefore = machineCash(a);
    await coins(a, 200);
    full = true;
    await coins(a, 100);
    // The coin is in the machine and shown as credit; its event waits in memory, not lost.
    expect(a.jc.controller.snapshot.context.credit).toBe(300);
    expect(machineCash(a) - cashBefore).toBe(300);
    expect(a.jc.unwritten.map((u) => u.event)).toEqual([{ type: 'coinInserted', value: 100, routing: 'tube' }]);
    expect(a.jc.failure).toBeInstanceOf(JournalError);
    expect(a.jc.storage.status).toBe('failed');
    expect(seen.at(-1)).toMatchObject({ status: 'failed', detail: expect.stringMatching(/journal\.db: cannot record .*disk is full.*1 event/) });
    expect(errors.some((m) => /events held in memory/.test(m))).toBe(true);
    // No new money while it cannot be recorded: acceptance is off, the next coin goes to the cup.
    await coins(a, 50);
    expect(a.sim.world.cup[50]).toBe(1);
    expect(a.jc.controller.snapshot.context.credit).toBe(300);

    // Space comes back: the retry timer writes the held event, acceptance comes back.
    full = false;
    await a.clock.advance(5_000);
    expect(a.jc.unwritten).toEqual([]);
    expect(a.jc.failure).toBeNull();
    expect(a.jc.storage.status).toBe('ok');
    const rec = recover(a.jc.journal);
    expect(rec.ledger.credit).toBe(300);
    expect(checkConservation(rec.ledger)).toEqual([]);

    cut(a);
    rigs.splice(rigs.indexOf(a), 1);
    const b = await boot(d, { from: a });
    rigs.push(b);
    expect(b.jc.controller.snapshot.context.credit).toBe(300);
    expect(Object.keys(b.jc.controller.snapshot.context.faults)).toEqual([]);
  });

  it('refuses moving commands while events are held: no payout, no motor, until they are written', async () => {
    const d = dir();
    let full = false;
    const journal = flaky(openJournal({ dir: d, clock: new VirtualClock() }), () => full);
    const a = await boot(d, { journal, storage: { lowBytes: 0, reserveBytes: 0 } });
    rigs.push(a);
    await coins(a, 200);
    const tubes = countsValue(a.sim.world.tubes);
    full = true;
    a.sim.devices.keypad.type('A1');
    await a.clock.advance(3_000);
    expect(a.sim.world.motor.running).toBeNull();
    expect(a.sim.world.bin).toEqual([]);
    expect(countsValue(a.sim.world.tubes)).toBe(tubes + 0);
    expect(a.jc.unwritten.length).toBeGreaterThan(0);
    // The credit is still the customer's: nothing was sold, nothing paid.
    full = false;
    a.jc.retry();
    await settle(a);
    const rec = recover(a.jc.journal);
    expect(checkConservation(rec.ledger)).toEqual([]);
    expect(rec.ledger.cashSales + rec.ledger.credit + rec.ledger.paidOut + rec.ledger.debt).toBe(200);
    expect(a.sim.world.bin.length).toBe(rec.ledger.cashSales > 0 ? 1 : 0);
  });

  it('closing with events that cannot be written keeps them in the preallocated unrecorded file: the next start journals them', async () => {
    const d = dir();
    let full = false;
    const journal = flaky(openJournal({ dir: d, clock: new VirtualClock() }), () => full);
    const { logger, errors } = captured();
    const a = await boot(d, { journal, logger, storage: { lowBytes: 0, reserveBytes: 0 } });
    expect(statSync(join(d, UNRECORDED_FILE)).size).toBe(UNRECORDED_BYTES);
    await coins(a, 200);
    full = true;
    await coins(a, 100);
    a.sim.dispose();
    await a.jc.close();
    expect(errors.some((m) => /kept in the unrecorded file/.test(m))).toBe(true);
    // Overwritten in place: the file did not grow (a full disk could not have given it more).
    expect(statSync(join(d, UNRECORDED_FILE)).size).toBe(UNRECORDED_BYTES);
    const b = await boot(d, { from: a });
    rigs.push(b);
    expect(b.jc.report.imported).toBe(1);
    expect(b.jc.controller.snapshot.context.credit).toBe(300);
    expect(checkConservation(recover(b.jc.journal).ledger)).toEqual([]);
    // Imported once: the file is blank again.
    const c = b.jc;
    b.sim.dispose();
    await c.close();
    rigs.splice(rigs.indexOf(b), 1);
    const e = await boot(d, { from: b });
    rigs.push(e);
    expect(e.jc.report.imported).toBe(0);
    expect(e.jc.controller.snapshot.context.credit).toBe(300);
  });

  it('a power cut while events are held loses none: they are in the unrecorded file as soon as they are held', async () => {
    const d = dir();
    let full = false;
    const journal = flaky(openJournal({ dir: d, clock: new VirtualClock() }), () => full);
    const a = await boot(d, { journal, storage: { lowBytes: 0, reserveBytes: 0 } });
    await coins(a, 200);
    full = true;
    await coins(a, 100);
    expect(a.jc.unwritten.map((u) => u.event.type)).toEqual(['coinInserted']);
    // SIGKILL: no close, no last flush.
    cut(a);
    const b = await boot(d, { from: a });
    rigs.push(b);
    expect(b.jc.report.imported).toBe(1);
    expect(b.jc.controller.snapshot.context.credit).toBe(300);
    expect(checkConservation(recover(b.jc.journal).ledger)).toEqual([]);
    expect(b.jc.controller.snapshot.context.faults).toEqual({});
  });

  it('a cut after the held events were written but before the unrecorded file was blanked journals nothing twice', async () => {
    const d = dir();
    let full = false;
    const journal = flaky(openJournal({ dir: d, clock: new VirtualClock() }), () => full);
    const a = await boot(d, { journal, storage: { lowBytes: 0, reserveBytes: 0 } });
    full = true;
    await coins(a, 100, 50);
    const held = a.jc.unwritten;
    expect(held).toHaveLength(2);
    const kept = readFileSync(join(d, UNRECORDED_FILE));
    const credit = a.jc.controller.snapshot.context.credit;
    expect(credit).toBeGreaterThan(0);
    full = false;
    expect(a.jc.retry()).toBe(true);
    // Put back the file as it was before it was blanked: the cut came between the two.
    writeFileSync(join(d, UNRECORDED_FILE), kept);
    cut(a);
    const b = await boot(d, { from: a });
    rigs.push(b);
    expect(b.jc.report.imported).toBe(0);
    expect(b.jc.controller.snapshot.context.credit).toBe(credit);
    expect(checkConservation(recover(b.jc.journal).ledger)).toEqual([]);
    expect(b.jc.controller.snapshot.context.faults).toEqual({});
  });

  it('a snapshot that fails with its event rolls the event back: held and written once, never twice', async () => {
    const d = dir();
    let full = false;
    const inner = openJournal({ dir: d, clock: new VirtualClock() });
    const journal: Journal = {
      ...inner,
      path: inner.path,
      schemaVersion: inner.schemaVersion,
      saveSnapshot: (seq, state) => {
        if (full) throw new JournalError('JOURNAL_IO', inner.path, 'save snapshot: database or disk is full');
        inner.saveSnapshot(seq, state);
      },
    };
    const a = await boot(d, { journal, snapshotEvery: 1, storage: { lowBytes: 0, reserveBytes: 0 } });
    rigs.push(a);
    full = true;
    await coins(a, 100);
    expect(a.jc.unwritten.map((u) => u.event.type)).toEqual(['coinInserted']);
    full = false;
    expect(a.jc.retry()).toBe(true);
    const coinsIn = [...a.jc.journal.readAll()].filter((e) => e.event.type === 'coinInserted');
    expect(coinsIn).toHaveLength(1);
    expect(recover(a.jc.journal).ledger.credit).toBe(100);
    expect(a.jc.state().ledger.credit).toBe(100);
  });

  it('side state that fails with its event (the simulated world) rolls it back; kept at the stop, it follows the journal', async () => {
    const d = dir();
    let full = false;
    const onAppend = (): void => {
      if (full) throw new JournalError('JOURNAL_IO', join(d, 'journal.db'), 'side sim_world: database or disk is full');
    };
    const a = await boot(d, { onAppend, storage: { lowBytes: 0, reserveBytes: 0 } });
    await coins(a, 200);
    full = true;
    await coins(a, 100);
    expect(a.jc.unwritten).toHaveLength(1);
    a.sim.dispose();
    await a.jc.close();
    full = false;
    const b = await boot(d, { from: a });
    rigs.push(b);
    expect(b.jc.report.imported).toBe(1);
    expect(b.jc.controller.snapshot.context.credit).toBe(300);
  });

  it('an unrecorded file that does not follow the journal is refused by name (the operator decides)', async () => {
    const d = dir();
    let full = false;
    const journal = flaky(openJournal({ dir: d, clock: new VirtualClock() }), () => full);
    const a = await boot(d, { journal, storage: { lowBytes: 0, reserveBytes: 0 } });
    full = true;
    await coins(a, 100);
    a.sim.dispose();
    await a.jc.close();
    // Someone wrote to the journal since (it moved on): the kept events no longer follow it.
    const j = openJournal({ dir: d, clock: new VirtualClock() });
    j.append({ type: 'serviceAction', action: 'countersRead' });
    j.close();
    await expect(boot(d, { from: a })).rejects.toThrow(/journal\.unrecorded holds 1 event\(s\) .* after event #\d+, but the journal ends at #\d+.*move journal\.unrecorded away/);
  });

  it('closing with events that cannot be written anywhere fails loudly, listing them (never a silent loss)', async () => {
    const d = dir();
    let full = false;
    const journal = flaky(openJournal({ dir: d, clock: new VirtualClock() }), () => full);
    const { logger, errors } = captured();
    const a = await boot(d, { journal, logger, storage: { lowBytes: 0, reserveBytes: 0 } });
    full = true;
    await coins(a, 100);
    a.sim.dispose();
    rmSync(join(d, UNRECORDED_FILE));
    await expect(a.jc.close()).rejects.toThrow(/closed with 1 event\(s\) that could not be recorded.*coinInserted/);
    expect(errors).toContain('closing with events that could not be recorded');
  });

  it('a write that fails for space frees the reserve and succeeds: the event is on disk, no new money is taken', async () => {
    const d = dir();
    const reserve = join(d, RESERVE_FILE);
    let fill = false;
    // The disk is full while the reserve file occupies it.
    const journal = flaky(openJournal({ dir: d, clock: new VirtualClock() }), () => fill && existsSync(reserve));
    const a = await boot(d, { journal, storage: { lowBytes: 0, reserveBytes: 4096 } });
    rigs.push(a);
    expect(existsSync(reserve)).toBe(true);
    fill = true;
    await coins(a, 100);
    expect(existsSync(reserve)).toBe(false);
    expect(a.jc.unwritten).toEqual([]);
    expect(a.jc.failure).toBeNull();
    expect(a.jc.storage).toMatchObject({ status: 'low', detail: expect.stringMatching(/reserve .*was used/) });
    expect(recover(a.jc.journal).ledger.credit).toBe(100);
    await coins(a, 50);
    expect(a.sim.world.cup[50]).toBe(1);
    // The credit held is honoured: a sale still records (the reserve is there for it).
    a.sim.devices.keypad.type('A1');
    await settle(a);
    const rec = recover(a.jc.journal);
    expect(checkConservation(rec.ledger)).toEqual([]);
    expect(rec.ledger.credit + rec.ledger.cashSales + rec.ledger.paidOut).toBe(100);
  });
});

describe('the free-space floor', () => {
  it('turns acceptance off below the floor, reads free space only when the appends may have used the margin', async () => {
    const d = dir();
    let free = 100 * 1024 * 1024;
    let reads = 0;
    const freeBytes = (): number => {
      reads += 1;
      return free;
    };
    const a = await boot(d, { storage: { lowBytes: 10 * 1024 * 1024, reserveBytes: 0, freeBytes } });
    rigs.push(a);
    const seen = healths(a);
    // 40 coins on a roomy disk: no read after the one at start (the margin is far from used).
    expect(reads).toBe(1);
    for (let i = 0; i < 20; i++) await coins(a, 100, 100);
    expect(seen).toEqual([{ status: 'ok' }]);
    expect(reads).toBe(1);
    // The disk fills up from elsewhere: the next read (after enough appends) sees it.
    free = 10 * 1024 * 1024 - 1;
    await coins(a, 100);
    let appends = 0;
    for (; appends < 400 && a.jc.storage.status === 'ok'; appends++) a.jc.recordServiceAction('countersRead');
    // Read again only once the appends could have used a share of the margin (not at every append).
    expect(reads).toBe(2);
    expect(appends).toBeGreaterThan(100);
    expect(a.jc.storage).toMatchObject({ status: 'low', detail: expect.stringMatching(/disk nearly full: 10485759 bytes free/) });
    // No new money; the credit held is kept and still spent.
    const credit = a.jc.controller.snapshot.context.credit;
    await coins(a, 50);
    expect(a.sim.world.cup[50]).toBe(1);
    expect(a.jc.controller.snapshot.context.credit).toBe(credit);
    a.sim.devices.keypad.press('RETURN');
    await settle(a);
    // The refund was recorded and paid: the credit left as coins in the cup.
    expect(a.jc.controller.snapshot.context.credit).toBe(0);
    const rec = recover(a.jc.journal);
    expect(checkConservation(rec.ledger)).toEqual([]);
    // Space again: acceptance comes back at the next read.
    free = 100 * 1024 * 1024;
    for (let i = 0; i < 300 && a.jc.storage.status !== 'ok'; i++) a.jc.recordServiceAction('countersRead');
    expect(a.jc.storage.status).toBe('ok');
  });
});

describe('a clock pushed past 2^53 ms', () => {
  it('does not cost the coin: the event is recorded at the last good time, and it survives a restart', async () => {
    const d = dir();
    const { logger, errors } = captured();
    const a = await boot(d, { logger });
    rigs.push(a);
    await coins(a, 200);
    const now = a.clock.now.bind(a.clock);
    // The controller stamps events with the clock it was given: the coin's event gets a time past 2^53.
    a.clock.now = () => 1e20;
    await coins(a, 100);
    expect(a.jc.unwritten).toEqual([]);
    expect(errors).toContain('clock time out of range: event recorded at the last good time');
    const entries = [...a.jc.journal.readAll()];
    const last = entries.at(-1);
    expect(last?.event).toMatchObject({ type: 'coinInserted', value: 100 });
    expect(Number.isSafeInteger(last?.at)).toBe(true);
    expect(recover(a.jc.journal).ledger.credit).toBe(300);
    // A restart on that clock (the world was saved at it): the start's own records are bounded too.
    cut(a);
    rigs.splice(rigs.indexOf(a), 1);
    const b = await boot(d, { from: a, logger });
    rigs.push(b);
    a.clock.now = now;
    expect(b.clock.now()).toBeGreaterThan(2 ** 53);
    expect(b.jc.controller.snapshot.context.credit).toBe(300);
    expect(b.jc.unwritten).toEqual([]);
    expect(checkConservation(recover(b.jc.journal).ledger)).toEqual([]);
  });
});

// A real full disk, where this machine lets the test mount a tiny tmpfs (root); skipped visibly otherwise.
function mountTmpfs(): { root: string; error: string | null; unmount: () => void } {
  const parent = tempDir();
  const root = join(parent, 'tmpfs');
  mkdirSync(root);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6m', 'tmpfs', root], { stdio: 'pipe' });
  } catch (e) {
    rmSync(parent, { recursive: true, force: true });
    return { root, error: e instanceof Error ? (e.message.split('\n')[0] ?? '') : String(e), unmount: () => undefined };
  }
  return {
    root,
    error: null,
    unmount: () => {
      execFileSync('umount', [root]);
      rmSync(parent, { recursive: true, force: true });
    },
  };
}

describe('a real tiny disk (tmpfs)', () => {
  it('filled between two coins: no coin is swallowed, the credit survives a restart', async (ctx) => {
    const disk = mountTmpfs();
    if (disk.error !== null) {
      console.warn(`SKIPPED: cannot mount a tmpfs here (${disk.error}); the injected-failure tests cover the mechanism`);
      ctx.skip();
    }
    try {
      await fillBetweenCoins(disk.root);
    } finally {
      disk.unmount();
    }
  });
});

/** Fills the tiny disk between two coins and checks that every coin is credit or in the cup, across a restart. */
async function fillBetweenCoins(tmpfsRoot: string): Promise<void> {
  const d = join(tmpfsRoot, 'data');
  const a = await boot(d, { storage: { lowBytes: 256 * 1024, reserveBytes: 128 * 1024 } });
  await coins(a, 200);
  // Fill the disk from outside, leaving less than the floor.
  const filler = join(tmpfsRoot, 'filler');
  try {
    writeFileSync(filler, Buffer.alloc(8 * 1024 * 1024));
  } catch {
    // ENOSPC: the filler took what there was.
  }
  let inserted = 200;
  for (let i = 0; i < 40; i++) {
    await coins(a, 100);
    inserted += 100;
  }
  const world = a.sim.world;
  const credit = a.jc.controller.snapshot.context.credit;
  // Every coin is either credit (recorded or held) or back in the cup.
  expect(credit + countsValue(world.cup)).toBe(inserted);
  expect(a.jc.storage.status).not.toBe('ok');
  a.sim.dispose();
  await a.jc.close().catch(() => undefined);
  rmSync(filler, { force: true });
  const b = await boot(d, { from: a });
  expect(b.jc.controller.snapshot.context.credit).toBe(credit);
  expect(checkConservation(recover(b.jc.journal).ledger)).toEqual([]);
  b.sim.dispose();
  await b.jc.close();
}
