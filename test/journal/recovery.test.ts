import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkConservation } from '../../src/audit/ledger.ts';
import type { MachineEvent } from '../../src/controller/events.ts';
import {
  MACHINE_STATE_VERSION,
  applyMachineEvent,
  foldMachineState,
  initialMachineState,
  recover,
  settleInterruptedPayout,
  snapshotProblem,
  takeSnapshot,
} from '../../src/journal/recovery.ts';
import type { InFlightPayout } from '../../src/journal/recovery.ts';
import { openJournal } from '../../src/journal/store.ts';
import type { Journal } from '../../src/journal/store.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { eventsArb } from '../audit/scenario.ts';

let dir: string;
let journals: Journal[] = [];
let fileNo = 0;

function fresh(): Journal {
  fileNo += 1;
  const j = openJournal({ dir, file: `j${fileNo}.db`, clock: new VirtualClock() });
  journals.push(j);
  return j;
}

function write(j: Journal, events: readonly MachineEvent[]): void {
  if (events.length > 0) j.appendMany(events.map((event, i) => ({ event, at: i })));
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'vendomat-recovery-'));
});

afterEach(() => {
  try {
    for (const j of journals) j.close();
  } finally {
    journals = [];
    rmSync(dir, { recursive: true, force: true });
  }
});

describe('recover: plain state', () => {
  it('an empty journal recovers to the initial state', () => {
    const r = recover(fresh());
    expect(r.lastSeq).toBe(0);
    expect(r.inFlight).toBeNull();
    expect(r.tubes).toBeNull();
    expect(r.violations).toEqual([]);
    expect(r.snapshotSeq).toBeNull();
    expect(r.state).toEqual(initialMachineState());
  });

  it('rebuilds credit, stock, prices, marks, tubes and open faults', () => {
    const j = fresh();
    write(j, [
      { type: 'tubesRead', levels: { 10: 5, 50: 2 } },
      { type: 'coinInserted', value: 50, routing: 'tube' },
      { type: 'coinInserted', value: 100, routing: 'cashbox' },
      { type: 'priceChanged', column: 'A1', price: 130 },
      { type: 'stockChanged', column: 'A1', stock: 9, why: 'refill' },
      { type: 'stockChanged', column: 'A1', stock: 8, why: 'vend' },
      { type: 'columnMarked', column: 'B2', mark: 'jammed' },
      { type: 'faultRaised', code: 'COIN_JAM', device: 'coin' },
      { type: 'faultRaised', code: 'COIN_JAM', device: 'coin' },
      { type: 'faultRaised', code: 'MOTOR_FAULT', device: 'motors' },
      { type: 'faultCleared', code: 'MOTOR_FAULT', device: 'motors' },
      { type: 'payoutDone', amount: 10, paid: { 10: 1 }, paidValue: 10, reason: 'refund' },
    ]);
    const r = recover(j);
    expect(r.ledger.credit).toBe(140);
    expect(r.stock).toEqual({ A1: 8 });
    expect(r.prices).toEqual({ A1: 130 });
    expect(r.columnMarks).toEqual({ B2: 'jammed' });
    expect(r.tubes).toEqual({ 10: 4, 50: 3 });
    expect(r.openFaults).toEqual([{ code: 'COIN_JAM', device: 'coin' }]);
    expect(r.counters.historical.faults).toEqual({ COIN_JAM: 2, MOTOR_FAULT: 1 });
    expect(r.lastSeq).toBe(12);
    expect(r.replayed).toBe(12);
    expect(r.inFlight).toBeNull();
    expect(r.violations).toEqual([]);
  });

  it('skips and counts event types this build does not know', () => {
    const j = fresh();
    j.append({ type: 'coinInserted', value: 10, routing: 'tube' }, 0);
    j.append({ type: 'hologramShown', colour: 'blue' } as unknown as MachineEvent, 1);
    const r = recover(j);
    expect(r.state.unknownEvents).toBe(1);
    expect(r.ledger.credit).toBe(10);
    expect(r.lastSeq).toBe(2);
  });

  it('reports conservation violations found in the journal', () => {
    const j = fresh();
    j.append({ type: 'vendSucceeded', column: 'A1', price: 100, payment: 'cash' }, 0);
    const r = recover(j);
    expect(r.violations.join('\n')).toMatch(/credit would go negative/);
  });
});

describe('recover: in-flight acts after a cut', () => {
  it('a started cash vend with no outcome: not delivered, credit stays, column flagged', () => {
    const j = fresh();
    write(j, [
      { type: 'coinInserted', value: 200, routing: 'tube' },
      { type: 'vendStarted', column: 'A1', price: 150, payment: 'cash', attempt: 1 },
    ]);
    const r = recover(j);
    expect(r.inFlight).toEqual({ vend: { column: 'A1', price: 150, payment: 'cash', attempt: 1 } });
    expect(r.columnsToCheck).toEqual(['A1']);
    expect(r.ledger.credit).toBe(200);
    expect(r.ledger.cashSales).toBe(0);
    expect(r.violations).toEqual([]);

    // The controller settles by journalling the outcome; the next recovery has nothing in flight.
    j.append({ type: 'vendFailed', column: 'A1', price: 150, payment: 'cash', reason: 'deviceError' }, 10);
    j.append({ type: 'columnMarked', column: 'A1', mark: 'failed' }, 10);
    const after = recover(j);
    expect(after.inFlight).toBeNull();
    expect(after.columnsToCheck).toEqual([]);
    expect(after.ledger.credit).toBe(200);
    expect(after.columnMarks).toEqual({ A1: 'failed' });
  });

  it('a card vend cut mid-way exposes the open approval; settling reverts it, not charged', () => {
    const j = fresh();
    write(j, [
      { type: 'cardSessionBegan', funds: null },
      { type: 'cardVendApproved', column: 'B1', amount: 180 },
      { type: 'vendStarted', column: 'B1', price: 180, payment: 'card', attempt: 1 },
    ]);
    const r = recover(j);
    expect(r.inFlight).toEqual({
      vend: { column: 'B1', price: 180, payment: 'card', attempt: 1 },
      card: { column: 'B1', amount: 180 },
    });
    expect(r.violations).toEqual([]);
    j.append({ type: 'vendFailed', column: 'B1', price: 180, payment: 'card', reason: 'deviceError' }, 5);
    const after = recover(j);
    expect(after.inFlight).toBeNull();
    expect(after.ledger).toMatchObject({ cardApproved: 180, cardSales: 0, cardReverted: 180 });
    expect(after.violations).toEqual([]);
  });

  it('a bill in escrow at the cut is exposed, not credited', () => {
    const j = fresh();
    j.append({ type: 'billEscrowed', value: 1000 }, 0);
    const r = recover(j);
    expect(r.inFlight).toEqual({ escrow: 1000 });
    expect(r.ledger.credit).toBe(0);
    // The validator says it was stacked after all: credited exactly once.
    j.append({ type: 'billStacked', value: 1000 }, 1);
    const after = recover(j);
    expect(after.inFlight).toBeNull();
    expect(after.ledger.credit).toBe(1000);
  });

  const payoutCut: MachineEvent[] = [
    { type: 'tubesRead', levels: { 10: 5, 20: 5, 50: 5 } },
    { type: 'coinInserted', value: 200, routing: 'tube' },
    { type: 'vendSucceeded', column: 'A1', price: 120, payment: 'cash' },
    { type: 'payoutPlanned', amount: 80, plan: { 50: 1, 20: 1, 10: 1 }, reason: 'change' },
  ];

  it('a planned payout with no outcome exposes the plan and the tube levels before it', () => {
    const j = fresh();
    write(j, payoutCut);
    const r = recover(j);
    expect(r.inFlight).toEqual({
      payout: { amount: 80, plan: { 50: 1, 20: 1, 10: 1 }, reason: 'change', tubesBefore: { 10: 5, 20: 5, 50: 5, 200: 1 } },
    });
    expect(r.ledger.credit).toBe(80);
    expect(r.violations).toEqual([]);
  });

  it('settling a half-paid payout from the tube difference: paid once, the rest owed, nothing lost', () => {
    const j = fresh();
    write(j, payoutCut);
    const payout = recover(j).inFlight?.payout;
    if (payout === undefined) throw new Error('expected a payout in flight');
    // The 50 and the 20 dropped before the cut; the 10 did not.
    const s = settleInterruptedPayout(payout, { 10: 5, 20: 4, 50: 4, 200: 1 });
    expect(s).toEqual({ paid: { 20: 1, 50: 1 }, paidValue: 70, unpaid: 10, certain: true, notes: [] });
    j.append({ type: 'payoutDone', amount: 80, paid: s.paid, paidValue: s.paidValue, reason: 'change' }, 10);
    j.append({ type: 'debtRecorded', amount: s.unpaid, total: s.unpaid }, 10);
    const after = recover(j);
    expect(after.inFlight).toBeNull();
    expect(after.ledger).toMatchObject({ credit: 0, paidOut: 70, debt: 10, cashSales: 120, inserted: 200 });
    expect(after.violations).toEqual([]);
    expect(after.tubes).toEqual({ 10: 5, 20: 4, 50: 4, 200: 1 });
  });

  it('settlement is uncertain when tubes were never read, or the difference is not explained by the plan', () => {
    const plan = { 50: 1, 20: 1 };
    const base: InFlightPayout = { amount: 70, plan, reason: 'refund', tubesBefore: null };
    const unknown = settleInterruptedPayout(base, { 50: 3 });
    expect(unknown).toMatchObject({ paidValue: 0, unpaid: 70, certain: false });
    expect(unknown.notes[0]).toMatch(/cannot tell/);

    const tooMany = settleInterruptedPayout({ ...base, tubesBefore: { 50: 5, 20: 5 } }, { 50: 2, 20: 5 });
    expect(tooMany).toMatchObject({ paid: { 50: 1 }, paidValue: 50, unpaid: 20, certain: false });
    expect(tooMany.notes.join()).toMatch(/tube 50: 3 coins gone, only 1 planned/);

    const more = settleInterruptedPayout({ ...base, tubesBefore: { 50: 5, 20: 5 } }, { 50: 5, 20: 5, 100: 1 });
    expect(more).toMatchObject({ paidValue: 0, unpaid: 70, certain: false });
    expect(more.notes.join()).toMatch(/tube 100: 1 more coins/);

    const none = settleInterruptedPayout({ ...base, tubesBefore: { 50: 5, 20: 5 } }, { 50: 5, 20: 5 });
    expect(none).toEqual({ paid: {}, paidValue: 0, unpaid: 70, certain: true, notes: [] });
  });

  it('property: a cut after any event of a valid run recovers with all invariants holding', () => {
    fc.assert(
      fc.property(eventsArb, fc.nat(), (events, cutAt) => {
        const cut = events.slice(0, events.length === 0 ? 0 : cutAt % (events.length + 1));
        const s = foldMachineState(cut);
        expect(checkConservation(s.ledger)).toEqual([]);
        // No money is created or lost by the cut: everything inserted is somewhere.
        const l = s.ledger;
        expect(l.cashSales + l.paidOut + l.credit + l.debt + l.overpay + l.writtenOff).toBe(l.inserted);
      }),
      { seed: 2024, numRuns: 300 },
    );
  });
});

describe('snapshots', () => {
  it('snapshot + replay equals full replay', () => {
    const j = fresh();
    const events: MachineEvent[] = [
      { type: 'coinInserted', value: 100, routing: 'tube' },
      { type: 'vendSucceeded', column: 'A1', price: 100, payment: 'cash' },
      { type: 'stockChanged', column: 'A1', stock: 4, why: 'vend' },
      { type: 'serviceAction', action: 'auditRead' },
      { type: 'coinInserted', value: 50, routing: 'cashbox' },
    ];
    write(j, events.slice(0, 3));
    expect(takeSnapshot(j)).toBe(3);
    write(j, events.slice(3));
    const fromSnap = recover(j);
    const full = recover(j, { fullReplay: true });
    expect(fromSnap.snapshotSeq).toBe(3);
    expect(fromSnap.replayed).toBe(2);
    expect(full.snapshotSeq).toBeNull();
    expect(full.replayed).toBe(5);
    expect(fromSnap.state).toEqual(full.state);
    expect(fromSnap.lastSeq).toBe(full.lastSeq);
  });

  it('property: snapshot at any point + replay equals full replay (through the file and JSON)', () => {
    fc.assert(
      fc.property(eventsArb, fc.nat(), (events, k) => {
        const j = fresh();
        const at = events.length === 0 ? 0 : k % (events.length + 1);
        write(j, events.slice(0, at));
        takeSnapshot(j);
        write(j, events.slice(at));
        const fromSnap = recover(j);
        const full = recover(j, { fullReplay: true });
        expect(fromSnap.state).toEqual(full.state);
        expect(fromSnap.inFlight).toEqual(full.inFlight);
        expect(fromSnap.replayed).toBe(events.length - at);
        j.close();
      }),
      { seed: 77, numRuns: 40 },
    );
  });

  it('the pure fold is resumable at any point (the basis of snapshots)', () => {
    fc.assert(
      fc.property(eventsArb, fc.nat(), (events, k) => {
        const at = events.length === 0 ? 0 : k % (events.length + 1);
        const mid = JSON.parse(JSON.stringify(foldMachineState(events.slice(0, at)))) as ReturnType<typeof foldMachineState>;
        expect(foldMachineState(events.slice(at), mid)).toEqual(foldMachineState(events));
      }),
      { seed: 5, numRuns: 200 },
    );
  });

  it('a snapshot of another format version is ignored: full replay, with the reason', () => {
    const j = fresh();
    write(j, [{ type: 'coinInserted', value: 100, routing: 'tube' }]);
    j.saveSnapshot(1, { ...initialMachineState(), version: MACHINE_STATE_VERSION + 1 });
    const r = recover(j);
    expect(r.snapshotSeq).toBeNull();
    expect(r.snapshotIgnored).toMatch(/version 2, this build reads 1/);
    expect(r.ledger.credit).toBe(100);
  });

  it('a malformed snapshot is ignored (never trusted over the events)', () => {
    const j = fresh();
    write(j, [{ type: 'coinInserted', value: 100, routing: 'tube' }]);
    j.saveSnapshot(1, { version: MACHINE_STATE_VERSION, ledger: { credit: 999 } });
    const r = recover(j);
    expect(r.snapshotIgnored).toMatch(/ledger\.inserted missing/);
    expect(r.ledger.credit).toBe(100);
  });

  it('snapshotProblem names what is missing', () => {
    const good = initialMachineState();
    expect(snapshotProblem(good)).toBeNull();
    expect(snapshotProblem(null)).toBe('not an object');
    expect(snapshotProblem({ ...good, counters: {} })).toBe('no counters');
    expect(snapshotProblem({ ...good, stock: [] })).toBe('stock missing');
    expect(snapshotProblem({ ...good, openFaults: {} })).toBe('openFaults missing');
    expect(snapshotProblem({ ...good, tubes: 5 })).toBe('tubes malformed');
  });

  it('recovery only reads: recovering twice gives the same result and appends nothing', () => {
    const j = fresh();
    write(j, [
      { type: 'coinInserted', value: 100, routing: 'tube' },
      { type: 'vendStarted', column: 'A1', price: 100, payment: 'cash', attempt: 1 },
    ]);
    const a = recover(j);
    const b = recover(j);
    expect(b).toEqual(a);
    expect(j.count()).toBe(2);
  });

  it('applyMachineEvent does not mutate the state it is given', () => {
    const s = initialMachineState();
    const copy = JSON.stringify(s);
    applyMachineEvent(s, { type: 'stockChanged', column: 'A1', stock: 3, why: 'refill' });
    applyMachineEvent(s, { type: 'faultRaised', code: 'X', device: 'd' });
    expect(JSON.stringify(s)).toBe(copy);
  });
});
