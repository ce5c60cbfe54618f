/**
 * The journaled controller (src/journal/attach.ts) on the simulated machine: events are on disk
 * before the device acts, a restart restores what the journal knows, and what a cut interrupted is
 * settled by the documented policy (docs/journal.md) exactly once.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkConservation } from '../../src/audit/ledger.ts';
import type { MachineEvent } from '../../src/controller/events.ts';
import { salesState } from '../../src/controller/view.ts';
import { openJournaledController, restoredCatalog, type JournaledController } from '../../src/journal/attach.ts';
import { recover } from '../../src/journal/recovery.ts';
import { DEFAULT_JOURNAL_FILE, JournalError, openJournal } from '../../src/journal/store.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { createSimMachine } from '../../sim/machine.ts';
import { countsValue } from '../../sim/world.ts';
import { boot, coins, configWith, count, cut, demo, journalled, removeDir, settle, tempDir, types, type Rig } from './rig.ts';

const dirs: string[] = [];
const rigs: Rig[] = [];

function dir(): string {
  const d = tempDir();
  dirs.push(d);
  return d;
}

async function start(d: string, opts: Parameters<typeof boot>[1] = {}): Promise<Rig> {
  const r = await boot(d, opts);
  rigs.push(r);
  return r;
}

afterEach(async () => {
  for (const r of rigs.splice(0)) {
    try {
      await r.jc.close();
    } catch {
      // A rig that was cut off has its journal closed already.
    }
    r.sim.dispose();
  }
  for (const d of dirs.splice(0)) removeDir(d);
});

function sha(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

describe('journal first, device second', () => {
  it('each event is on disk before the device command it enables is invoked', async () => {
    const d = dir();
    const clock = new VirtualClock();
    const sim = createSimMachine(demo, clock);
    const ref: { jc?: JournaledController } = {};
    const onDisk = (type: MachineEvent['type']): boolean => {
      // A second connection sees only what was committed.
      const raw = new Database(join(d, DEFAULT_JOURNAL_FILE), { readonly: true });
      try {
        return raw.prepare('SELECT count(*) FROM events WHERE type = ?').pluck().get(type) !== 0;
      } finally {
        raw.close();
      }
    };
    const seenAt: Record<string, boolean> = {};
    const dev = sim.devices;
    const motorOn = dev.dispenser.motorOn.bind(dev.dispenser);
    dev.dispenser.motorOn = (column) => {
      seenAt.motorOn = onDisk('vendStarted');
      return motorOn(column);
    };
    const dispense = dev.coin.dispense.bind(dev.coin);
    dev.coin.dispense = (plan) => {
      seenAt.dispense = onDisk('payoutPlanned');
      return dispense(plan);
    };
    const bill = dev.bill;
    const card = dev.card;
    if (!bill || !card) throw new Error('the demo machine has a bill validator and a card reader');
    const stack = bill.stack.bind(bill);
    bill.stack = () => {
      seenAt.stack = onDisk('billEscrowed');
      return stack();
    };
    const charge = card.vendSucceeded.bind(card);
    card.vendSucceeded = (item) => {
      seenAt.charge = onDisk('vendSucceeded');
      return charge(item);
    };
    ref.jc = await openJournaledController({ config: demo, ports: sim.ports, clock, dataDir: d });
    const rig: Rig = { clock, sim, jc: ref.jc, dir: d };
    rigs.push(rig);
    await clock.advance(10);

    await coins(rig, 200);
    dev.keypad.type('A1');
    await settle(rig);
    void bill.insertBill(500);
    await settle(rig);
    dev.keypad.type('B1');
    await settle(rig);
    card.tapCard(1000);
    await clock.advance(10);
    dev.keypad.type('C1');
    await settle(rig);
    expect(types(journalled(rig))).toEqual(expect.arrayContaining(['billStacked', 'cardVendApproved', 'vendSucceeded']));
    expect(seenAt).toEqual({ motorOn: true, dispense: true, stack: true, charge: true });
  });

  it('a journal that cannot write refuses moving commands: the command its event enabled never runs', async () => {
    const d = dir();
    const clock = new VirtualClock();
    const sim = createSimMachine(demo, clock);
    let motorCalls = 0;
    const motorOn = sim.devices.dispenser.motorOn.bind(sim.devices.dispenser);
    sim.devices.dispenser.motorOn = (c) => {
      motorCalls += 1;
      return motorOn(c);
    };
    const jc = await openJournaledController({ config: demo, ports: sim.ports, clock, dataDir: d });
    const rig: Rig = { clock, sim, jc, dir: d };
    await clock.advance(10);
    await coins(rig, 200);
    jc.journal.close(); // the disk goes away
    sim.devices.keypad.type('A1');
    await clock.advance(5_000);
    expect(jc.failure).toBeInstanceOf(JournalError);
    expect(motorCalls).toBe(0);
    expect(sim.world.motor.running).toBeNull();
    // A service action is held behind the events that could not be written, never thrown or dropped.
    jc.recordServiceAction('countersRead');
    expect(jc.unwritten.at(-1)?.event).toEqual({ type: 'serviceAction', action: 'countersRead' });
    sim.dispose();
  });
});

describe('restart', () => {
  it('restores credit, debt, stock, prices, marks, open faults and counters', async () => {
    const d = dir();
    const a = await start(d);
    // A debt: the change of a vend stops after no coin.
    a.sim.faults.inject({ name: 'payout-short', count: 0 }, { once: true });
    await coins(a, 200);
    a.sim.devices.keypad.type('A1');
    await settle(a);
    // Service: the payout jam cleared, a new price.
    a.sim.devices.door.open();
    await a.clock.advance(10);
    a.jc.controller.send({ type: 'SERVICE_CLEAR_FAULTS' });
    a.jc.controller.send({ type: 'SERVICE_SET_PRICE', column: 'A2', price: 150 });
    a.sim.devices.door.close();
    await a.clock.advance(10);
    // A jammed column (a product no other column has) with its fault; the credit stays.
    a.sim.faults.inject({ name: 'motor-stall', column: 'A4' }, { once: true });
    await coins(a, 200);
    a.sim.devices.keypad.type('A4');
    await settle(a);
    const before = a.jc.controller.snapshot.context;
    expect(before.credit).toBe(200);
    expect(before.debt).toBe(80);
    const countersBefore = a.jc.state().counters.historical;
    cut(a);

    const b = await start(d, { from: a });
    const ctx = b.jc.controller.snapshot.context;
    expect(ctx.credit).toBe(before.credit);
    expect(ctx.debt).toBe(80);
    expect(ctx.catalog.A1?.stock).toBe(9);
    expect(ctx.catalog.A2?.price).toBe(150);
    expect(ctx.catalog.A4?.mark).toBe('jammed');
    expect(Object.keys(ctx.faults)).toEqual(['HSA4']);
    const h = b.jc.state().counters.historical;
    expect(h.paidVends).toEqual(countersBefore.paidVends);
    expect(h.debtsRecorded).toEqual(countersBefore.debtsRecorded);
    expect(h.faults).toEqual(countersBefore.faults);
    expect(h.powerUps).toBe(countersBefore.powerUps + 1);
    expect(h.powerOutages).toBe(countersBefore.powerOutages + 1);
    expect(checkConservation(b.jc.state().ledger)).toEqual([]);
    // The display tells the customer the credit survived.
    expect(b.sim.devices.display.lines[0]).toMatch(/CREDIT/);
  });

  it('restarting twice with nothing in between counts nothing twice', async () => {
    const d = dir();
    const a = await start(d);
    await coins(a, 200);
    a.sim.devices.keypad.type('A1');
    await settle(a);
    await a.jc.close();
    const b = await start(d, { from: a });
    const afterFirst = b.jc.state();
    await b.jc.close();
    const c = await start(d, { from: b });
    const afterSecond = c.jc.state();
    expect(afterSecond.ledger).toEqual(afterFirst.ledger);
    const { powerUps: p1, powerOutages: o1, ...rest1 } = afterFirst.counters.historical;
    const { powerUps: p2, powerOutages: o2, ...rest2 } = afterSecond.counters.historical;
    expect(rest2).toEqual(rest1);
    expect(p2).toBe(p1 + 1);
    expect(o2).toBe(o1 + 1);
    expect(count(journalled(c), (e) => e.type === 'serviceAction' && e.action === 'recovered')).toBe(0);
  });

  it('a clean stop saves a snapshot; the next start replays only the events after it', async () => {
    const d = dir();
    const a = await start(d);
    await coins(a, 200);
    a.sim.devices.keypad.type('A1');
    await settle(a);
    await a.jc.close();
    const b = await start(d, { from: a });
    expect(b.jc.report.recovery.snapshotSeq).toBe(b.jc.report.recovery.lastSeq);
    expect(b.jc.report.recovery.replayed).toBe(0);
  });

  it('saves a snapshot every N events, and recovery from it equals a full replay', async () => {
    const d = dir();
    const a = await start(d, { snapshotEvery: 5 });
    for (const col of ['A1', 'B1', 'C1']) {
      await coins(a, 200);
      a.sim.devices.keypad.type(col);
      await settle(a);
    }
    const snap = a.jc.journal.latestSnapshot();
    expect(snap).not.toBeNull();
    expect(a.jc.journal.lastSeq() - (snap?.seq ?? 0)).toBeLessThan(5);
    const fromSnapshot = recover(a.jc.journal);
    const full = recover(a.jc.journal, { fullReplay: true });
    expect(fromSnapshot.snapshotSeq).not.toBeNull();
    expect(fromSnapshot.state).toEqual(full.state);
    expect(a.jc.state()).toEqual(full.state);
  });
});

describe('what a cut interrupted', () => {
  it('a vend with no outcome: the credit stays, the column is flagged, the vend closed once', async () => {
    const d = dir();
    const a = await start(d);
    await coins(a, 200);
    a.sim.devices.keypad.type('A1');
    await a.clock.runUntil(() => types(journalled(a)).includes('vendStarted'), 10_000);
    await a.clock.advance(500); // the motor is turning
    expect(salesState(a.jc.controller.snapshot)).toBe('vending');
    cut(a);

    const b = await start(d, { from: a });
    expect(b.jc.report.vend).toMatchObject({ column: 'A1', payment: 'cash', price: 120 });
    const ctx = b.jc.controller.snapshot.context;
    expect(ctx.credit).toBe(200);
    expect(ctx.catalog.A1?.mark).toBe('failed');
    const after = journalled(b);
    expect(after).toContainEqual({ type: 'vendFailed', column: 'A1', price: 120, payment: 'cash', reason: 'deviceError' });
    expect(after).toContainEqual({ type: 'columnMarked', column: 'A1', mark: 'failed' });
    expect(checkConservation(b.jc.state().ledger)).toEqual([]);
    expect(b.jc.state().ledger.credit).toBe(200);
    // The customer can buy elsewhere with the same credit.
    b.sim.devices.keypad.type('A2');
    await settle(b);
    expect(b.jc.state().ledger.cashSales).toBe(120);

    // A second restart finds nothing in flight: no second failure, no second mark.
    await b.jc.close();
    const c = await start(d, { from: b });
    expect(c.jc.report.vend).toBeNull();
    const all = journalled(c);
    expect(count(all, (e) => e.type === 'vendFailed' && e.reason === 'deviceError')).toBe(1);
  });

  it('a payout cut part-way: what left the tubes is paid, the rest is a debt, nothing is paid twice', async () => {
    const d = dir();
    const a = await start(d);
    await coins(a, 200);
    a.sim.devices.keypad.type('A1'); // 1.20 from 2.00: change 0.80 = 50 + 20 + 10
    await a.clock.runUntil(() => a.sim.world.paidOut >= 50, 30_000);
    expect(types(journalled(a))).toContain('payoutPlanned');
    expect(types(journalled(a))).not.toContain('payoutDone');
    const paidBefore = a.sim.world.paidOut;
    expect(paidBefore).toBe(50);
    cut(a);

    const b = await start(d, { from: a });
    expect(b.jc.report.payout).toMatchObject({ paidValue: 50, unpaid: 30, certain: true, paid: { 50: 1 } });
    await settle(b);
    const ledger = b.jc.state().ledger;
    expect(ledger).toMatchObject({ credit: 0, debt: 30, paidOut: 50, cashSales: 120 });
    expect(checkConservation(ledger)).toEqual([]);
    expect(b.jc.controller.snapshot.context.debt).toBe(30);
    expect(b.jc.controller.snapshot.context.credit).toBe(0);
    // No coin left the machine after the restart.
    expect(b.sim.world.paidOut).toBe(paidBefore);
    expect(countsValue(b.sim.world.cup)).toBe(50);
    // The machine's cash is what the ledger says it is.
    expect(b.sim.world.machineCash()).toBe(b.sim.world.initialFill + ledger.inserted - ledger.paidOut);
    expect(b.sim.devices.display.lines[0]).toMatch(/OWED/);
  });

  it('a payout whose tube levels cannot be read: nothing counted as paid, the whole amount owed and flagged uncertain', async () => {
    const d = dir();
    const a = await start(d);
    await coins(a, 200);
    a.sim.devices.keypad.type('A1');
    await a.clock.runUntil(() => a.sim.world.paidOut >= 50, 30_000);
    cut(a);
    const clock = new VirtualClock(a.clock.now() + 1_000);
    const sim = createSimMachine(demo, clock);
    sim.faults.inject({ name: 'offline', device: 'coin' });
    const jc = await openJournaledController({ config: demo, ports: sim.ports, clock, dataDir: d });
    rigs.push({ clock, sim, jc, dir: d });
    expect(jc.report.payout).toMatchObject({ paidValue: 0, unpaid: 80, certain: false, tubesNow: null });
    expect(jc.state().ledger).toMatchObject({ debt: 80, credit: 0 });
    expect(checkConservation(jc.state().ledger)).toEqual([]);
  });

  it('a card approval with no outcome is reverted, not charged', async () => {
    const d = dir();
    const a = await start(d);
    const card = a.sim.devices.card;
    if (!card) throw new Error('no card reader');
    card.tapCard(1000);
    await a.clock.advance(10);
    a.sim.devices.keypad.type('C1');
    await a.clock.runUntil(() => types(journalled(a)).includes('vendStarted'), 10_000);
    cut(a);
    const b = await start(d, { from: a });
    expect(b.jc.report.vend).toMatchObject({ column: 'C1', payment: 'card' });
    const ledger = b.jc.state().ledger;
    expect(ledger.cardOpen).toBeNull();
    expect(ledger).toMatchObject({ cardApproved: 100, cardSales: 0, cardReverted: 100 });
    expect(checkConservation(ledger)).toEqual([]);
    // The reader forgot the session at its reset: nothing was charged.
    expect(b.sim.world.card.charged).toBe(0);
  });

  it('a bill held in escrow is handed back, never credited', async () => {
    const d = dir();
    const a = await start(d);
    const bill = a.sim.devices.bill;
    if (!bill) throw new Error('no bill validator');
    void bill.insertBill(500);
    await a.clock.runUntil(() => types(journalled(a)).includes('billEscrowed'), 10_000);
    expect(a.sim.world.escrow).toBe(500);
    cut(a);
    const b = await start(d, { from: a });
    expect(b.jc.report.escrow).toBe(500);
    await settle(b);
    expect(types(journalled(b))).toContain('billReturned');
    const ledger = b.jc.state().ledger;
    expect(ledger).toMatchObject({ escrow: null, credit: 0, inserted: 0 });
    expect(checkConservation(ledger)).toEqual([]);
    expect(b.sim.world.escrow).toBeNull();
    expect(b.sim.world.wallet.bills[500]).toBe((demo.sim.wallet.bills['500'] ?? 0));
  });

  it('link faults open at the cut are closed: each device reports afresh', async () => {
    const d = dir();
    const a = await start(d);
    a.sim.faults.inject({ name: 'offline', device: 'card' });
    await a.clock.advance(10);
    expect(a.jc.state().openFaults.map((f) => f.code)).toContain('CARD_OFFLINE');
    cut(a);
    const b = await start(d, { from: a });
    expect(b.jc.report.linkFaultsCleared).toEqual(['CARD_OFFLINE']);
    expect(b.jc.state().openFaults).toEqual([]);
    expect(b.jc.controller.snapshot.context.faults).toEqual({});
  });
});

describe('journals that cannot be used', () => {
  it('a corrupt file: the machine refuses to start with the clear message, the file is kept', async () => {
    const d = dir();
    const file = join(d, DEFAULT_JOURNAL_FILE);
    writeFileSync(file, 'definitely not SQLite\n'.repeat(40));
    const before = sha(file);
    const clock = new VirtualClock();
    const sim = createSimMachine(demo, clock);
    const err = await openJournaledController({ config: demo, ports: sim.ports, clock, dataDir: d }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JournalError);
    expect((err as JournalError).code).toBe('JOURNAL_CORRUPT');
    expect((err as JournalError).message).toContain(file);
    expect(sha(file)).toBe(before);
    // Nothing was started: the acceptor was never enabled, the display never written.
    expect(sim.devices.coin.accepted).toEqual([]);
    expect(sim.devices.display.lines.join('')).toBe('');
    sim.dispose();
  });

  it('a foreign SQLite database is refused and left intact', async () => {
    const d = dir();
    const file = join(d, DEFAULT_JOURNAL_FILE);
    const other = new Database(file);
    other.exec('CREATE TABLE recipes (name TEXT); INSERT INTO recipes VALUES (\'soup\');');
    other.close();
    const before = sha(file);
    const clock = new VirtualClock();
    const sim = createSimMachine(demo, clock);
    const err = await openJournaledController({ config: demo, ports: sim.ports, clock, dataDir: d }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JournalError);
    expect((err as JournalError).code).toBe('JOURNAL_FOREIGN');
    expect(sha(file)).toBe(before);
    sim.dispose();
  });
});

describe('service actions and outside writers', () => {
  it('service actions outside the statechart are journalled; an audit read resets the interim counters', async () => {
    const d = dir();
    const a = await start(d);
    await coins(a, 200);
    a.sim.devices.keypad.type('A1');
    await settle(a);
    expect(a.jc.state().counters.interim.paidVends.count).toBe(1);
    a.jc.recordServiceAction('countersRead');
    expect(a.jc.state().counters.interim.paidVends.count).toBe(1);
    a.jc.recordServiceAction('auditRead');
    expect(a.jc.state().counters.interim.paidVends.count).toBe(0);
    expect(a.jc.state().counters.historical.paidVends.count).toBe(1);
    expect(journalled(a).slice(-2)).toEqual([
      { type: 'serviceAction', action: 'countersRead' },
      { type: 'serviceAction', action: 'auditRead' },
    ]);
  });

  it('an append by another writer (an audit read from the CLI) is folded in at the next event', async () => {
    const d = dir();
    const a = await start(d, { snapshotEvery: 3 });
    await coins(a, 200);
    a.sim.devices.keypad.type('A1');
    await settle(a);
    const other = openJournal({ dir: d, clock: a.clock });
    other.append({ type: 'serviceAction', action: 'auditRead' });
    other.close();
    await coins(a, 100);
    expect(a.jc.state().counters.interim.paidVends.count).toBe(0);
    expect(a.jc.state()).toEqual(recover(a.jc.journal, { fullReplay: true }).state);
  });
});

describe('restore input', () => {
  it('the catalog takes journalled stock (within capacity), prices and marks over the config', () => {
    const config = configWith({});
    const catalog = restoredCatalog(config, {
      stock: { A1: 3, A2: 99, Z9: 1 },
      prices: { A1: 175, A3: -5 },
      columnMarks: { A1: 'jammed', A2: 'soldOut' },
    });
    expect(catalog.A1).toMatchObject({ stock: 3, price: 175, mark: 'jammed' });
    expect(catalog.A2).toMatchObject({ stock: 10, mark: 'ok' });
    expect(catalog.A3?.price).toBe(120);
    expect(catalog.Z9).toBeUndefined();
  });
});
