import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { canPay } from '../../src/money/change.ts';
import { acceptedBills, acceptedCoins, exactChangeOnly, payableNow } from '../../src/money/policy.ts';
import type { AcceptanceInput } from '../../src/money/policy.ts';

const COINS = [5, 10, 20, 50, 100, 200];
const BILLS = [500, 1000, 2000];
/** The demo machine's start tubes (sim/machines/demo.yaml): 6,900 in coins. */
const DEMO = { 5: 40, 10: 40, 20: 40, 50: 30, 100: 20, 200: 10 };

function input(over: Partial<AcceptanceInput> = {}): AcceptanceInput {
  return {
    credit: 0,
    tubes: DEMO,
    coins: COINS,
    bills: BILLS,
    maxCredit: 2000,
    highestPrice: 250,
    acceptOnlyIfChangeable: true,
    ...over,
  };
}

describe('acceptedCoins / acceptedBills', () => {
  it('accepts everything when the tubes are full and no credit is in', () => {
    expect(acceptedCoins(input())).toEqual(COINS);
    expect(acceptedBills(input())).toEqual(BILLS);
  });

  it('keeps the configured order', () => {
    expect(acceptedCoins(input({ coins: [200, 5, 50] }))).toEqual([200, 5, 50]);
  });

  it('refuses what would take the credit above maxCredit', () => {
    const i = input({ credit: 150, maxCredit: 200 });
    expect(acceptedCoins(i)).toEqual([5, 10, 20, 50]);
    expect(acceptedBills(i)).toEqual([]);
    // exactly reaching maxCredit is allowed
    expect(acceptedBills(input({ maxCredit: 1000, highestPrice: 3000 }))).toEqual([500, 1000]);
  });

  it('stops accepting once the credit covers the highest price', () => {
    expect(acceptedCoins(input({ credit: 250 }))).toEqual([]);
    expect(acceptedBills(input({ credit: 300 }))).toEqual([]);
    expect(acceptedCoins(input({ credit: 245 }))).toEqual(COINS);
  });

  it('accepts nothing when nothing is for sale (highest price 0)', () => {
    expect(acceptedCoins(input({ highestPrice: 0 }))).toEqual([]);
    expect(acceptedBills(input({ highestPrice: 0, acceptOnlyIfChangeable: false }))).toEqual([]);
  });

  it('with empty tubes still takes tube coins (the coin itself refunds) but refuses bills', () => {
    const i = input({ tubes: {} });
    expect(acceptedCoins(i)).toEqual(COINS);
    expect(acceptedBills(i)).toEqual([]);
  });

  it('with empty tubes refuses coins that go to the cashbox', () => {
    const i = input({ tubes: {}, tubeCoins: [5, 10, 20, 50] });
    expect(acceptedCoins(i)).toEqual([5, 10, 20, 50]);
  });

  it('accepts a cashbox coin when the tubes can refund it', () => {
    const i = input({ tubes: { 50: 2, 100: 0 }, tubeCoins: [5, 10, 20, 50] });
    expect(acceptedCoins(i)).toEqual([5, 10, 20, 50, 100]);
  });

  it('refuses bills the tubes cannot change, by value', () => {
    // 40 × (5 + 10 + 20) = 1400 in the tubes: 500 and 1000 can be paid back, 2000 cannot
    const i = input({ tubes: { 5: 40, 10: 40, 20: 40, 50: 0, 100: 0, 200: 0 } });
    expect(acceptedBills(i)).toEqual([500, 1000]);
  });

  it('refuses a bill when the tube value is enough but no exact mix exists', () => {
    // 5 × 200 = 1000 > 500, yet 500 cannot be paid with 200s alone
    expect(acceptedBills(input({ tubes: { 200: 5 } }))).toEqual([1000]);
  });

  it('counts the credit already in: credit + bill must be payable', () => {
    const tubes = { 50: 2, 100: 1, 200: 2 }; // 600
    expect(acceptedBills(input({ credit: 0, tubes }))).toEqual([500]);
    expect(acceptedBills(input({ credit: 200, tubes }))).toEqual([]);
    // a 5 credit can never be paid back from these tubes, so even 500 is refused
    expect(acceptedBills(input({ credit: 5, tubes }))).toEqual([]);
  });

  it('refuses coins when the credit could not be paid back with them', () => {
    // credit 30 with tubes {20:1}: +20 → 50 from {20:2} impossible; +10 → 40 from {20:1,10:1} impossible
    const i = input({ credit: 30, tubes: { 20: 1 }, coins: [10, 20, 50] });
    expect(acceptedCoins(i)).toEqual([]);
    const j = input({ credit: 30, tubes: { 20: 1, 10: 1 }, coins: [10, 20, 50] });
    expect(acceptedCoins(j)).toEqual([10, 20, 50]);
  });

  it('ignores changeability when acceptOnlyIfChangeable is off, but not the credit limits', () => {
    const i = input({ tubes: {}, acceptOnlyIfChangeable: false, tubeCoins: [] });
    expect(acceptedCoins(i)).toEqual(COINS);
    expect(acceptedBills(i)).toEqual(BILLS);
    expect(acceptedBills({ ...i, maxCredit: 1000 })).toEqual([500, 1000]);
    expect(acceptedBills({ ...i, credit: 250 })).toEqual([]);
  });

  it('every accepted denomination obeys the rule, and the changeable set is a subset (property)', () => {
    const tubes = fc
      .subarray(COINS)
      .chain((ds) => fc.tuple(...ds.map((d) => fc.integer({ min: 0, max: 6 }).map((c): [number, number] => [d, c]))))
      .map((e) => Object.fromEntries(e) as Record<number, number>);
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 60 }).map((n) => n * 5),
        tubes,
        fc.subarray(COINS),
        fc.integer({ min: 0, max: 400 }),
        fc.integer({ min: 100, max: 2500 }),
        (credit, t, tubeCoins, highestPrice, maxCredit) => {
          const i = input({ credit, tubes: t, tubeCoins, highestPrice, maxCredit });
          const coins = acceptedCoins(i);
          const bills = acceptedBills(i);
          const loose = input({ credit, tubes: t, tubeCoins, highestPrice, maxCredit, acceptOnlyIfChangeable: false });
          expect(acceptedCoins(loose)).toEqual(expect.arrayContaining(coins));
          expect(acceptedBills(loose)).toEqual(expect.arrayContaining(bills));
          for (const v of coins) {
            expect(credit).toBeLessThan(highestPrice);
            expect(credit + v).toBeLessThanOrEqual(maxCredit);
            const after = tubeCoins.includes(v) ? { ...t, [v]: (t[v] ?? 0) + 1 } : t;
            expect(canPay(credit + v, after)).toBe(true);
          }
          for (const v of bills) {
            expect(credit + v).toBeLessThanOrEqual(maxCredit);
            expect(canPay(credit + v, t)).toBe(true);
          }
          // and nothing changeable within the limits is refused
          for (const v of COINS.filter((c) => !coins.includes(c))) {
            const after = tubeCoins.includes(v) ? { ...t, [v]: (t[v] ?? 0) + 1 } : t;
            const ok = credit < highestPrice && credit + v <= maxCredit && canPay(credit + v, after);
            expect(ok).toBe(false);
          }
        },
      ),
      { seed: 42, numRuns: 300 },
    );
  });
});

describe('exactChangeOnly', () => {
  const levels = { '5': 4, '10': 4, '20': 4, '50': 3 };

  it('is off while every configured tube is above its level', () => {
    expect(exactChangeOnly(DEMO, levels)).toBe(false);
    expect(exactChangeOnly({ 5: 5, 10: 5, 20: 5, 50: 4 }, levels)).toBe(false);
  });

  it('is on when a tube is at its level', () => {
    expect(exactChangeOnly({ 5: 4, 10: 5, 20: 5, 50: 4 }, levels)).toBe(true);
    expect(exactChangeOnly({ 5: 5, 10: 5, 20: 5, 50: 3 }, levels)).toBe(true);
  });

  it('is on when a tube is below its level or empty', () => {
    expect(exactChangeOnly({ 5: 5, 10: 0, 20: 5, 50: 4 }, levels)).toBe(true);
  });

  it('treats a missing tube as empty', () => {
    expect(exactChangeOnly({ 5: 5, 10: 5, 20: 5 }, levels)).toBe(true);
  });

  it('ignores denominations without a configured level', () => {
    expect(exactChangeOnly({ 5: 5, 10: 5, 20: 5, 50: 4, 100: 0, 200: 0 }, levels)).toBe(false);
    expect(exactChangeOnly({}, {})).toBe(false);
  });

  it('a level of 0 lights only for an empty tube', () => {
    expect(exactChangeOnly({ 50: 1 }, { '50': 0 })).toBe(false);
    expect(exactChangeOnly({ 50: 0 }, { '50': 0 })).toBe(true);
  });
});

describe('payableNow', () => {
  it('tells whether the credit can be paid back exactly', () => {
    expect(payableNow(0, {})).toBe(true);
    expect(payableNow(80, DEMO)).toBe(true);
    expect(payableNow(80, { 50: 1, 20: 1 })).toBe(false);
    expect(payableNow(30, { 20: 3, 50: 1 })).toBe(false);
  });
});
