import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyCounterEvent, cashIn, emptyCounters, foldCounters, resetInterim } from '../../src/audit/counters.ts';
import { foldLedger } from '../../src/audit/ledger.ts';
import type { MachineEvent } from '../../src/controller/events.ts';
import { eventsArb } from './scenario.ts';

const sale: MachineEvent[] = [
  { type: 'coinInserted', value: 100, routing: 'tube' },
  { type: 'coinInserted', value: 50, routing: 'cashbox' },
  { type: 'coinRejected', value: 2 },
  { type: 'vendStarted', column: 'A1', price: 120, payment: 'cash', attempt: 1 },
  { type: 'vendSucceeded', column: 'A1', price: 120, payment: 'cash' },
  { type: 'payoutDone', amount: 30, paid: { 20: 1, 10: 1 }, paidValue: 30, reason: 'change' },
];

describe('operator counters', () => {
  it('counts a cash sale per column, per price, cash in by route and change', () => {
    const c = foldCounters(sale);
    for (const s of [c.historical, c.interim]) {
      expect(s.paidVends).toEqual({ count: 1, value: 120 });
      expect(s.cashVends).toEqual({ count: 1, value: 120 });
      expect(s.cardVends).toEqual({ count: 0, value: 0 });
      expect(s.byColumn.A1?.paid).toEqual({ count: 1, value: 120 });
      expect(s.byColumn.A1?.cash).toEqual({ count: 1, value: 120 });
      expect(s.byPrice['120']).toEqual({ count: 1, value: 120 });
      expect(s.coinsToTubes).toEqual({ count: 1, value: 100 });
      expect(s.coinsToCashbox).toEqual({ count: 1, value: 50 });
      expect(s.coinsRejected).toBe(1);
      expect(s.changePaid).toEqual({ count: 1, value: 30 });
      expect(cashIn(s)).toBe(150);
    }
  });

  it('keeps cash and cashless apart, and counts card approvals, denials and reverts', () => {
    const c = foldCounters([
      { type: 'cardSessionBegan', funds: null },
      { type: 'cardVendApproved', column: 'B1', amount: 200 },
      { type: 'vendSucceeded', column: 'B1', price: 200, payment: 'card' },
      { type: 'cardVendApproved', column: 'B2', amount: 150 },
      { type: 'vendFailed', column: 'B2', price: 150, payment: 'card', reason: 'jam' },
      { type: 'cardVendDenied', column: 'B1', reason: 'timeout' },
    ]);
    const s = c.historical;
    expect(s.cardVends).toEqual({ count: 1, value: 200 });
    expect(s.cashVends).toEqual({ count: 0, value: 0 });
    expect(s.paidVends).toEqual({ count: 1, value: 200 });
    expect(s.byColumn.B1?.card).toEqual({ count: 1, value: 200 });
    expect(s.cardApproved).toEqual({ count: 2, value: 350 });
    expect(s.cardReverted).toEqual({ count: 1, value: 150 });
    expect(s.cardDenied).toBe(1);
    expect(s.cardSessions).toBe(1);
    expect(s.failedVends).toBe(1);
    expect(s.failedByReason).toEqual({ jam: 1 });
    expect(s.byColumn.B2?.failed).toBe(1);
  });

  it('counts test and free vends separately from paid vends', () => {
    const c = foldCounters([
      { type: 'vendSucceeded', column: 'C1', price: 90, payment: 'test' },
      { type: 'vendSucceeded', column: 'C1', price: 90, payment: 'free' },
      { type: 'vendSucceeded', column: 'C1', price: 90, payment: 'free' },
    ]);
    expect(c.historical.testVends).toEqual({ count: 1, value: 90 });
    expect(c.historical.freeVends).toEqual({ count: 2, value: 180 });
    expect(c.historical.paidVends.count).toBe(0);
    expect(c.historical.byPrice).toEqual({});
    expect(c.historical.byColumn.C1).toMatchObject({ test: { count: 1, value: 90 }, free: { count: 2, value: 180 }, paid: { count: 0, value: 0 } });
  });

  it('counts bills, refunds, debt payouts, service payouts, short payouts, overpay and debts', () => {
    const c = foldCounters([
      { type: 'billEscrowed', value: 500 },
      { type: 'billStacked', value: 500 },
      { type: 'billEscrowed', value: 1000 },
      { type: 'billReturned', value: 1000 },
      { type: 'payoutDone', amount: 500, paid: { 200: 2 }, paidValue: 400, reason: 'refund' },
      { type: 'debtRecorded', amount: 100, total: 100 },
      { type: 'payoutDone', amount: 50, paid: { 50: 1 }, paidValue: 50, reason: 'debt' },
      { type: 'debtSettled', amount: 30, how: 'paid', total: 20 },
      { type: 'debtSettled', amount: 20, how: 'writtenOff', total: 0 },
      { type: 'payoutDone', amount: 1000, paid: { 100: 10 }, paidValue: 1000, reason: 'service' },
      { type: 'overpayKept', amount: 10, why: 'noChange' },
    ]);
    const s = c.historical;
    expect(s.bills).toEqual({ count: 1, value: 500 });
    expect(s.billsReturned).toBe(1);
    expect(s.refunds).toEqual({ count: 1, value: 400 });
    expect(s.shortPayouts).toBe(1);
    expect(s.debtsRecorded).toEqual({ count: 1, value: 100 });
    expect(s.debtPayouts).toEqual({ count: 1, value: 50 });
    expect(s.debtsPaid).toEqual({ count: 1, value: 30 });
    expect(s.debtsWrittenOff).toEqual({ count: 1, value: 20 });
    expect(s.servicePayouts).toEqual({ count: 1, value: 1000 });
    expect(s.overpay).toEqual({ count: 1, value: 10 });
  });

  it('counts door openings (not closings) and faults by code', () => {
    const c = foldCounters([
      { type: 'door', state: 'open' },
      { type: 'door', state: 'closed' },
      { type: 'door', state: 'open' },
      { type: 'faultRaised', code: 'COIN_JAM', device: 'coin' },
      { type: 'faultCleared', code: 'COIN_JAM', device: 'coin' },
      { type: 'faultRaised', code: 'COIN_JAM', device: 'coin' },
      { type: 'faultRaised', code: 'MOTOR_FAULT', device: 'motors' },
    ]);
    expect(c.historical.doorOpenings).toBe(2);
    expect(c.historical.faults).toEqual({ COIN_JAM: 2, MOTOR_FAULT: 1 });
  });

  it('the first power-up ever is not an outage; each later one is', () => {
    const up: MachineEvent = { type: 'serviceAction', action: 'powerUp' };
    const c = foldCounters([up, up, up]);
    expect(c.historical.powerUps).toBe(3);
    expect(c.historical.powerOutages).toBe(2);
    const afterRead = foldCounters([up], resetInterim(c));
    expect(afterRead.interim.powerOutages).toBe(1);
    expect(afterRead.historical.powerOutages).toBe(3);
  });

  it('other service actions count nothing', () => {
    const c = emptyCounters();
    expect(applyCounterEvent(c, { type: 'serviceAction', action: 'tubeFill', detail: '5x20' })).toBe(c);
    expect(applyCounterEvent(c, { type: 'tubesRead', levels: {} })).toBe(c);
  });
});

describe('historical vs interim', () => {
  it('resetInterim zeroes the interim set, keeps the historical one and counts the read', () => {
    const c = foldCounters(sale);
    const r = resetInterim(c);
    expect(r.interim.paidVends).toEqual({ count: 0, value: 0 });
    expect(r.interim.byColumn).toEqual({});
    expect(r.historical.paidVends).toEqual({ count: 1, value: 120 });
    expect(r.historical.auditReads).toBe(1);
    // Pure: the input is unchanged.
    expect(c.interim.paidVends.count).toBe(1);
    const more = foldCounters(sale, r);
    expect(more.interim.paidVends).toEqual({ count: 1, value: 120 });
    expect(more.historical.paidVends).toEqual({ count: 2, value: 240 });
  });

  it('an auditRead service action in the stream resets the interim set at that point', () => {
    const c = foldCounters([...sale, { type: 'serviceAction', action: 'auditRead' }, ...sale, ...sale]);
    expect(c.interim.paidVends.count).toBe(2);
    expect(c.historical.paidVends.count).toBe(3);
    expect(c.historical.auditReads).toBe(1);
    expect(c.interim.auditReads).toBe(0);
  });

  it('property: with no audit read, interim equals historical (apart from the read count)', () => {
    fc.assert(
      fc.property(eventsArb, (events) => {
        const plain = events.filter((e) => !(e.type === 'serviceAction' && e.action === 'auditRead'));
        const c = foldCounters(plain);
        expect(c.interim).toEqual(c.historical);
      }),
      { seed: 3, numRuns: 150 },
    );
  });

  it('property: historical ≥ interim everywhere, and counters agree with the ledger', () => {
    fc.assert(
      fc.property(eventsArb, (events) => {
        const c = foldCounters(events);
        const l = foldLedger(events);
        const h = c.historical;
        expect(h.paidVends.count).toBeGreaterThanOrEqual(c.interim.paidVends.count);
        expect(h.cashVends.value).toBe(l.cashSales);
        expect(h.cardVends.value).toBe(l.cardSales);
        expect(h.cardReverted.value).toBe(l.cardReverted);
        expect(cashIn(h)).toBe(l.inserted);
        expect(h.coinsToTubes.value).toBe(l.toTubes);
        expect(h.overpay.value).toBe(l.overpay);
        expect(h.changePaid.value + h.refunds.value + h.debtPayouts.value + h.debtsPaid.value).toBe(l.paidOut);
        expect(h.debtsWrittenOff.value).toBe(l.writtenOff);
        const perColumn = Object.values(h.byColumn).reduce((s, col) => s + col.paid.value, 0);
        const perPrice = Object.values(h.byPrice).reduce((s, t) => s + t.value, 0);
        expect(perColumn).toBe(h.paidVends.value);
        expect(perPrice).toBe(h.paidVends.value);
      }),
      { seed: 11, numRuns: 150 },
    );
  });
});
