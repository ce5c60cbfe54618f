/**
 * Money conservation after every step of random customer sessions with random faults
 * (money-model.md invariants 1, 2, 4, 5): the controller's ledger (folded from its own events),
 * its context and the simulated world's physical contents must agree at every step. The property
 * itself lives in test/soak/port-conservation.ts, shared with `npm run soak` (which runs it at 10×
 * on several seeds).
 */
import { describe, expect, it } from 'vitest';
import { applyEvent, checkConservation, emptyLedger } from '../../src/audit/ledger.ts';
import { runPortProperty } from '../soak/port-conservation.ts';

describe('money conservation over random sessions with random faults', () => {
  it('holds after every step of 1,000 seeded sessions', async () => {
    const r = await runPortProperty(20261126, 1_000);
    expect(r.failure).toBeUndefined();
  });

  it('catches a broken book: a vend recorded without payment breaks conservation', () => {
    let ledger = emptyLedger();
    ledger = applyEvent(ledger, { type: 'coinInserted', value: 100, routing: 'tube' });
    ledger = applyEvent(ledger, { type: 'payoutDone', amount: 100, paid: { 100: 1 }, paidValue: 100, reason: 'refund' });
    // Deliberately wrong: a sale with no credit behind it.
    ledger = { ...ledger, cashSales: ledger.cashSales + 50 };
    expect(checkConservation(ledger).length).toBeGreaterThan(0);
  });
});
