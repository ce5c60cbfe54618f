import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_ANOMALIES, applyEvent, checkConservation, emptyLedger, foldLedger, hasOpenCardVend } from '../../src/audit/ledger.ts';
import type { Ledger } from '../../src/audit/ledger.ts';
import type { MachineEvent } from '../../src/controller/events.ts';
import { eventsArb, eventsFor } from './scenario.ts';

const fold = (events: readonly MachineEvent[]): Ledger => foldLedger(events);

describe('ledger moves', () => {
  it('starts empty and balanced', () => {
    const l = emptyLedger();
    expect(l.inserted).toBe(0);
    expect(l.escrow).toBeNull();
    expect(checkConservation(l)).toEqual([]);
  });

  it('coins routed to tubes and cashbox are inserted and credited', () => {
    const l = fold([
      { type: 'coinInserted', value: 100, routing: 'tube' },
      { type: 'coinInserted', value: 50, routing: 'cashbox' },
    ]);
    expect(l).toMatchObject({ inserted: 150, credit: 150, toTubes: 100, toCashbox: 50 });
    expect(checkConservation(l)).toEqual([]);
  });

  it('a rejected coin moves nothing', () => {
    const start = emptyLedger();
    const l = applyEvent(start, { type: 'coinRejected', value: 200 });
    expect(l).toBe(start);
    expect(l).toMatchObject({ inserted: 0, credit: 0, paidOut: 0 });
  });

  it('a bill in escrow is not credit; stacked it is', () => {
    const escrowed = fold([{ type: 'billEscrowed', value: 500 }]);
    expect(escrowed).toMatchObject({ escrow: 500, credit: 0, inserted: 0 });
    const stacked = applyEvent(escrowed, { type: 'billStacked', value: 500 });
    expect(stacked).toMatchObject({ escrow: null, credit: 500, inserted: 500, billsStacked: 500 });
    expect(checkConservation(stacked)).toEqual([]);
  });

  it('a returned bill leaves escrow and never becomes credit', () => {
    const l = fold([
      { type: 'billEscrowed', value: 1000 },
      { type: 'billReturned', value: 1000 },
    ]);
    expect(l).toMatchObject({ escrow: null, credit: 0, inserted: 0 });
    expect(checkConservation(l)).toEqual([]);
  });

  it('a cash vend turns credit into cash sales; a failed cash vend moves nothing', () => {
    const l = fold([
      { type: 'coinInserted', value: 200, routing: 'tube' },
      { type: 'vendFailed', column: 'A1', price: 150, payment: 'cash', reason: 'noDrop' },
    ]);
    expect(l).toMatchObject({ credit: 200, cashSales: 0 });
    const sold = applyEvent(l, { type: 'vendSucceeded', column: 'A1', price: 150, payment: 'cash' });
    expect(sold).toMatchObject({ credit: 50, cashSales: 150 });
    expect(checkConservation(sold)).toEqual([]);
  });

  it('change and refund payouts move credit to paidOut', () => {
    const l = fold([
      { type: 'coinInserted', value: 200, routing: 'tube' },
      { type: 'vendSucceeded', column: 'A1', price: 120, payment: 'cash' },
      { type: 'payoutDone', amount: 80, paid: { 50: 1, 20: 1, 10: 1 }, paidValue: 80, reason: 'change' },
      { type: 'coinInserted', value: 100, routing: 'cashbox' },
      { type: 'payoutDone', amount: 100, paid: { 100: 1 }, paidValue: 100, reason: 'refund' },
    ]);
    expect(l).toMatchObject({ credit: 0, paidOut: 180, cashSales: 120, inserted: 300 });
    expect(checkConservation(l)).toEqual([]);
  });

  it('a short payout becomes debt; a debt payout and settlements shrink it', () => {
    const l = fold([
      { type: 'coinInserted', value: 200, routing: 'tube' },
      { type: 'payoutDone', amount: 200, paid: { 100: 1 }, paidValue: 100, reason: 'refund' },
      { type: 'debtRecorded', amount: 100, total: 100 },
    ]);
    expect(l).toMatchObject({ credit: 0, debt: 100, paidOut: 100 });
    expect(checkConservation(l)).toEqual([]);
    const paid = applyEvent(l, { type: 'payoutDone', amount: 50, paid: { 50: 1 }, paidValue: 50, reason: 'debt' });
    expect(paid).toMatchObject({ debt: 50, paidOut: 150 });
    const byHand = applyEvent(paid, { type: 'debtSettled', amount: 30, how: 'paid', total: 20 });
    expect(byHand).toMatchObject({ debt: 20, paidOut: 180 });
    const written = applyEvent(byHand, { type: 'debtSettled', amount: 20, how: 'writtenOff', total: 0 });
    expect(written).toMatchObject({ debt: 0, writtenOff: 20, paidOut: 180 });
    expect(checkConservation(written)).toEqual([]);
  });

  it('overpay kept moves credit to overpay', () => {
    const l = fold([
      { type: 'coinInserted', value: 200, routing: 'tube' },
      { type: 'vendSucceeded', column: 'A1', price: 190, payment: 'cash' },
      { type: 'overpayKept', amount: 10, why: 'noChange' },
    ]);
    expect(l).toMatchObject({ credit: 0, overpay: 10 });
    expect(checkConservation(l)).toEqual([]);
  });

  it('a service payout (tube emptying) touches no customer money', () => {
    const l = fold([{ type: 'payoutDone', amount: 500, paid: { 100: 5 }, paidValue: 500, reason: 'service' }]);
    expect(l).toMatchObject({ credit: 0, paidOut: 0, servicePaidOut: 500 });
    expect(checkConservation(l)).toEqual([]);
  });

  it('card: approved = sales + reverted, with an open approval flagged in between', () => {
    const approved = fold([{ type: 'cardVendApproved', column: 'B1', amount: 150 }]);
    expect(hasOpenCardVend(approved)).toBe(true);
    expect(approved.cardOpen).toEqual({ column: 'B1', amount: 150 });
    expect(checkConservation(approved)).toEqual([]);
    const sold = applyEvent(approved, { type: 'vendSucceeded', column: 'B1', price: 150, payment: 'card' });
    expect(hasOpenCardVend(sold)).toBe(false);
    expect(sold).toMatchObject({ cardApproved: 150, cardSales: 150, credit: 0, cashSales: 0 });
    const again = applyEvent(applyEvent(sold, { type: 'cardVendApproved', column: 'A2', amount: 200 }), {
      type: 'vendFailed',
      column: 'A2',
      price: 200,
      payment: 'card',
      reason: 'jam',
    });
    expect(again).toMatchObject({ cardApproved: 350, cardSales: 150, cardReverted: 200, cardOpen: null });
    expect(checkConservation(again)).toEqual([]);
  });

  it('test and free vends move no money', () => {
    const start = fold([{ type: 'coinInserted', value: 100, routing: 'tube' }]);
    const l = foldLedger(
      [
        { type: 'vendSucceeded', column: 'A1', price: 100, payment: 'test' },
        { type: 'vendSucceeded', column: 'A1', price: 100, payment: 'free' },
        { type: 'vendFailed', column: 'A1', price: 100, payment: 'free', reason: 'jam' },
      ],
      start,
    );
    expect(l).toEqual(start);
  });

  it('events that move no money return the same ledger object', () => {
    const l = emptyLedger();
    const events: MachineEvent[] = [
      { type: 'vendStarted', column: 'A1', price: 100, payment: 'cash', attempt: 1 },
      { type: 'door', state: 'open' },
      { type: 'tubesRead', levels: { 5: 3 } },
      { type: 'faultRaised', code: 'COIN_JAM', device: 'coin' },
      { type: 'serviceAction', action: 'powerUp' },
      { type: 'payoutPlanned', amount: 50, plan: { 50: 1 }, reason: 'change' },
    ];
    for (const e of events) expect(applyEvent(l, e)).toBe(l);
  });

  it('does not mutate its input', () => {
    const l = fold([{ type: 'coinInserted', value: 100, routing: 'tube' }]);
    const frozen = Object.freeze({ ...l, anomalies: Object.freeze([...l.anomalies]) });
    const before = JSON.stringify(frozen);
    applyEvent(frozen, { type: 'vendSucceeded', column: 'A1', price: 500, payment: 'cash' });
    applyEvent(frozen, { type: 'billEscrowed', value: 500 });
    expect(JSON.stringify(frozen)).toBe(before);
  });
});

describe('ledger anomalies and broken invariants', () => {
  it('a cash vend beyond the credit is caught and stays caught after more credit', () => {
    const l = fold([
      { type: 'coinInserted', value: 100, routing: 'tube' },
      { type: 'vendSucceeded', column: 'A1', price: 150, payment: 'cash' },
      { type: 'coinInserted', value: 100, routing: 'tube' },
    ]);
    expect(l.credit).toBe(50);
    const v = checkConservation(l);
    expect(v.join('\n')).toMatch(/credit would go negative/);
  });

  it('negative credit itself is reported', () => {
    const l = fold([{ type: 'payoutDone', amount: 50, paid: { 50: 1 }, paidValue: 50, reason: 'change' }]);
    expect(l.credit).toBe(-50);
    expect(checkConservation(l).join('\n')).toMatch(/credit is negative: -50/);
  });

  it('a debt payout larger than the debt is caught', () => {
    const l = fold([{ type: 'debtSettled', amount: 10, how: 'paid', total: 0 }]);
    expect(checkConservation(l).join('\n')).toMatch(/debt would go negative/);
  });

  it('a debt total that disagrees with the ledger is reported', () => {
    const l = fold([
      { type: 'coinInserted', value: 100, routing: 'tube' },
      { type: 'debtRecorded', amount: 40, total: 90 },
    ]);
    expect(checkConservation(l).join('\n')).toMatch(/total 90 but the ledger's debt is 40/);
  });

  it('a second bill in escrow, a return of nothing and a stack of a different bill are anomalies', () => {
    const twice = fold([
      { type: 'billEscrowed', value: 500 },
      { type: 'billEscrowed', value: 1000 },
    ]);
    expect(checkConservation(twice).join('\n')).toMatch(/bill 500 is still in escrow/);
    expect(checkConservation(fold([{ type: 'billReturned', value: 500 }])).join('\n')).toMatch(/no bill in escrow/);
    const swapped = fold([
      { type: 'billEscrowed', value: 500 },
      { type: 'billStacked', value: 2000 },
    ]);
    expect(checkConservation(swapped).join('\n')).toMatch(/escrow holds 500/);
  });

  it('a stack with no escrow (validator without escrow) is a normal move', () => {
    const l = fold([{ type: 'billStacked', value: 500 }]);
    expect(l).toMatchObject({ credit: 500, inserted: 500 });
    expect(checkConservation(l)).toEqual([]);
  });

  it('a card sale with no approval, or for another amount, breaks the card invariant', () => {
    const none = fold([{ type: 'vendSucceeded', column: 'A1', price: 100, payment: 'card' }]);
    const text = checkConservation(none).join('\n');
    expect(text).toMatch(/no card approval is open/);
    expect(text).toMatch(/card: approved 0 ≠ sales 100/);
    const other = fold([
      { type: 'cardVendApproved', column: 'A1', amount: 100 },
      { type: 'vendSucceeded', column: 'A1', price: 120, payment: 'card' },
    ]);
    expect(checkConservation(other).join('\n')).toMatch(/the open approval is A1 100/);
    const overlap = fold([
      { type: 'cardVendApproved', column: 'A1', amount: 100 },
      { type: 'cardVendApproved', column: 'A2', amount: 100 },
    ]);
    expect(checkConservation(overlap).join('\n')).toMatch(/still open/);
  });

  it('bad amounts are reported and move nothing', () => {
    const l = fold([
      { type: 'coinInserted', value: 1.5, routing: 'tube' },
      { type: 'coinInserted', value: -100, routing: 'tube' },
      { type: 'overpayKept', amount: Number.NaN, why: 'noChange' },
    ]);
    expect(l).toMatchObject({ inserted: 0, credit: 0, overpay: 0 });
    const v = checkConservation(l);
    expect(v.filter((x) => /not a whole non-negative amount/.test(x))).toHaveLength(3);
  });

  it('a hand-tampered ledger fails the equations', () => {
    const good = fold([{ type: 'coinInserted', value: 100, routing: 'tube' }]);
    expect(checkConservation({ ...good, credit: 90 }).join('\n')).toMatch(/cash conservation: inserted 100 ≠/);
    expect(checkConservation({ ...good, toTubes: 0 }).join('\n')).toMatch(/inserted 100 ≠ toTubes 0/);
    expect(checkConservation({ ...good, cardApproved: 5 }).join('\n')).toMatch(/card: approved 5/);
    expect(checkConservation({ ...good, credit: 0.5, inserted: 0.5, toTubes: 0.5 }).join('\n')).toMatch(/not a whole number/);
  });

  it('keeps at most MAX_ANOMALIES texts but counts them all', () => {
    const events: MachineEvent[] = Array.from({ length: MAX_ANOMALIES + 7 }, () => ({ type: 'billReturned', value: 500 }) as const);
    const l = fold(events);
    expect(l.anomalies).toHaveLength(MAX_ANOMALIES);
    expect(l.anomalyCount).toBe(MAX_ANOMALIES + 7);
    expect(checkConservation(l).at(-1)).toMatch(/and 7 more anomalies/);
  });
});

describe('ledger properties (fast-check)', () => {
  it('every valid sequence keeps conservation after every step', () => {
    fc.assert(
      fc.property(eventsArb, (events) => {
        let l = emptyLedger();
        for (const e of events) {
          l = applyEvent(l, e);
          expect(checkConservation(l)).toEqual([]);
          expect(l.credit).toBeGreaterThanOrEqual(0);
          expect(l.debt).toBeGreaterThanOrEqual(0);
        }
      }),
      { seed: 20240601, numRuns: 300 },
    );
  });

  it('folding is the same in one go or split at any point (pure, resumable)', () => {
    fc.assert(
      fc.property(eventsArb, fc.nat(), (events, cut) => {
        const at = events.length === 0 ? 0 : cut % (events.length + 1);
        const whole = foldLedger(events);
        const split = foldLedger(events.slice(at), foldLedger(events.slice(0, at)));
        expect(split).toEqual(whole);
      }),
      { seed: 7, numRuns: 200 },
    );
  });

  it('an extra money-taking event inserted anywhere in a valid sequence is caught', () => {
    const breakers: MachineEvent[] = [
      { type: 'vendSucceeded', column: 'A1', price: 1_000_000, payment: 'cash' },
      { type: 'payoutDone', amount: 1_000_000, paid: {}, paidValue: 1_000_000, reason: 'change' },
      { type: 'overpayKept', amount: 1_000_000, why: 'creditExpired' },
      { type: 'debtSettled', amount: 1_000_000, how: 'writtenOff', total: 0 },
      { type: 'vendSucceeded', column: 'A1', price: 100, payment: 'card' },
      { type: 'billReturned', value: 20_000 },
    ];
    fc.assert(
      fc.property(eventsArb, fc.nat(), fc.constantFrom(...breakers), (events, pos, bad) => {
        const at = pos % (events.length + 1);
        const broken = [...events.slice(0, at), bad, ...events.slice(at)];
        expect(checkConservation(foldLedger(broken)).length).toBeGreaterThan(0);
      }),
      { seed: 99, numRuns: 300 },
    );
  });

  it('dropping a vend outcome after an approval leaves the card vend open (never silently balanced)', () => {
    const events = eventsFor([{ k: 'vend', col: 0, price: 150, payment: 'card', ok: true }]);
    const cut = events.filter((e) => e.type !== 'vendSucceeded');
    const l = foldLedger(cut);
    expect(hasOpenCardVend(l)).toBe(true);
    expect(l.cardApproved - l.cardSales - l.cardReverted).toBe(150);
  });
});
