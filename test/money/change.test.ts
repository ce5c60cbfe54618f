import { describe, it, expect } from 'vitest';
import { bestEffortChange, canPay, makeChange } from '../../src/money/change.ts';
import { countCoins, sumCounts } from '../../src/money/currency.ts';

/** The demo machine's start tubes (sim/machines/demo.yaml). */
const DEMO = { 5: 40, 10: 40, 20: 40, 50: 30, 100: 20, 200: 10 };

describe('makeChange: exact, fewest coins', () => {
  it('pays 0 with no coins, even from empty tubes', () => {
    expect(makeChange(0, {})).toEqual({});
    expect(makeChange(0, DEMO)).toEqual({});
  });

  it('pays ordinary change from the demo tubes like a person would', () => {
    expect(makeChange(80, DEMO)).toEqual({ 50: 1, 20: 1, 10: 1 });
    expect(makeChange(385, DEMO)).toEqual({ 200: 1, 100: 1, 50: 1, 20: 1, 10: 1, 5: 1 });
  });

  it('beats greedy on the 1/3/4 coin set: 6 = 3 + 3', () => {
    expect(makeChange(6, { 1: 10, 3: 10, 4: 10 })).toEqual({ 3: 2 });
  });

  it('beats greedy where the largest coin leads astray: 15 = 10 + 5, not 12 + 1 + 1 + 1', () => {
    expect(makeChange(15, { 1: 10, 5: 10, 10: 10, 12: 10 })).toEqual({ 10: 1, 5: 1 });
  });

  it('finds 3 × 20 when greedy takes the only 50 and gets stuck (bounded counts)', () => {
    expect(makeChange(60, { 20: 3, 50: 1 })).toEqual({ 20: 3 });
  });

  it('works around an empty tube', () => {
    expect(makeChange(100, { 50: 0, 20: 5, 100: 0 })).toEqual({ 20: 5 });
    expect(makeChange(30, { 5: 10, 10: 0, 20: 1 })).toEqual({ 20: 1, 5: 2 });
    expect(makeChange(50, { 50: 0 })).toBeNull();
  });

  it('uses a smaller coin when a tube runs short: 6 = 4 + 1 + 1 with one 3 left', () => {
    expect(makeChange(6, { 1: 2, 3: 1, 4: 2 })).toEqual({ 4: 1, 1: 2 });
    // 3 + 3 would be two coins, but only one 3 is there: three coins is the best possible
    expect(countCoins(makeChange(6, { 1: 2, 3: 1, 4: 2 }) ?? {})).toBe(3);
  });

  it('breaks ties toward larger denominations', () => {
    // 60 in three coins: 50 + 5 + 5 or 20 + 20 + 20; the plan with the 50 wins
    expect(makeChange(60, { 5: 10, 10: 0, 20: 3, 50: 1 })).toEqual({ 50: 1, 5: 2 });
    // 6 in two coins: 5 + 1 or 3 + 3; the 5 wins
    expect(makeChange(6, { 1: 5, 2: 5, 3: 5, 5: 1 })).toEqual({ 5: 1, 1: 1 });
    // without 1s: 4 + 2 or 3 + 3; the 4 wins
    expect(makeChange(6, { 1: 0, 2: 5, 3: 5, 4: 1, 5: 1 })).toEqual({ 4: 1, 2: 1 });
  });

  it('is deterministic: the same input gives the same plan', () => {
    const a = makeChange(345, DEMO);
    const b = makeChange(345, { 200: 10, 100: 20, 50: 30, 20: 40, 10: 40, 5: 40 });
    expect(a).toEqual(b);
  });

  it('returns null, never a wrong plan, for amounts it cannot pay', () => {
    expect(makeChange(30, { 20: 5, 50: 5 })).toBeNull();
    expect(makeChange(3, DEMO)).toBeNull(); // below the smallest coin
    expect(makeChange(7, DEMO)).toBeNull(); // not a multiple of 5
    expect(makeChange(5, {})).toBeNull();
    expect(makeChange(5, { 5: 0, 10: 0 })).toBeNull();
  });

  it('returns null when the tubes hold less than the amount', () => {
    expect(makeChange(101, { 1: 100 })).toBeNull();
    expect(makeChange(sumCounts(DEMO) + 5, DEMO)).toBeNull();
  });

  it('pays the whole tube contents when asked for exactly that', () => {
    expect(makeChange(sumCounts(DEMO), DEMO)).toEqual(DEMO);
    expect(makeChange(70, { 20: 1, 50: 1, 100: 0 })).toEqual({ 20: 1, 50: 1 });
  });

  it('ignores coins larger than the amount', () => {
    expect(makeChange(3, { 1: 3, 500: 10 })).toEqual({ 1: 3 });
  });

  it('never plans more coins than a tube holds', () => {
    const plan = makeChange(95, { 5: 3, 10: 1, 20: 2, 50: 1 });
    expect(plan).toEqual({ 50: 1, 20: 2, 5: 1 });
    expect(makeChange(100, { 5: 3, 10: 1, 20: 2, 50: 1 })).toEqual({ 50: 1, 20: 2, 10: 1 });
    // 110 needs every coin but one 5
    expect(makeChange(110, { 5: 3, 10: 1, 20: 2, 50: 1 })).toEqual({ 50: 1, 20: 2, 10: 1, 5: 2 });
    expect(makeChange(120, { 5: 3, 10: 1, 20: 2, 50: 1 })).toBeNull();
  });

  it('reuses scratch buffers without leaking results between calls', () => {
    const big = { 1: 200, 2: 200, 5: 200, 10: 200, 20: 200, 50: 200 };
    const first = makeChange(7, { 1: 10, 3: 10, 4: 10 });
    expect(makeChange(9999, big)).toEqual({ 50: 199, 20: 2, 5: 1, 2: 2 });
    expect(makeChange(7, { 1: 10, 3: 10, 4: 10 })).toEqual(first);
    expect(makeChange(6, { 3: 2 })).toEqual({ 3: 2 });
    expect(makeChange(6, { 4: 1, 1: 1 })).toBeNull();
  });

  it('refuses a negative or fractional amount and garbage tube counts with a clear error', () => {
    expect(() => makeChange(-5, DEMO)).toThrow(/non-negative integer of minor units, got -5/);
    expect(() => makeChange(1.5, DEMO)).toThrow(/got 1.5/);
    expect(() => makeChange(Number.NaN, DEMO)).toThrow(RangeError);
    expect(() => makeChange(10, { 5: -1 })).toThrow(/invalid coin count for denomination 5/);
    expect(() => makeChange(10, { 5: Number.POSITIVE_INFINITY })).toThrow(/invalid coin count/);
  });

  it('refuses to plan absurdly large amounts instead of allocating huge buffers', () => {
    expect(() => makeChange(2_000_000, { 1: 3_000_000 })).toThrow(/2000000 is too large to plan/);
    expect(() => bestEffortChange(2_000_000, { 1: 3_000_000 })).toThrow(/too large to plan/);
    // more than the tubes hold is simply unpayable, whatever the size
    expect(makeChange(2_000_000, { 1: 5 })).toBeNull();
    // a common factor shrinks the range: 5,000,000 in 5s is 1,000,000 units
    expect(makeChange(5_000_000, { 5: 1_000_000, 10: 1 })).toEqual({ 10: 1, 5: 999_998 });
  });

  it('is fast: 6 denominations, amount ~5000, ~100 coins a tube, well under 1 ms a call', () => {
    const tubes = { 5: 100, 10: 100, 20: 100, 50: 100, 100: 100, 200: 100 };
    const worst = { 1: 200, 2: 200, 5: 200, 10: 200, 20: 200, 50: 200 };
    for (let i = 0; i < 50; i++) makeChange(5000 + 5 * (i % 10), tubes); // warm the JIT
    const n = 200;
    let t0 = performance.now();
    for (let i = 0; i < n; i++) expect(makeChange(4950 + 5 * (i % 21), tubes)).not.toBeNull();
    const perCall = (performance.now() - t0) / n;
    t0 = performance.now();
    for (let i = 0; i < n; i++) makeChange(9990 + (i % 11), worst);
    const worstPerCall = (performance.now() - t0) / n;
    // Measured ~0.05 ms and ~0.25 ms; the bounds leave room for a busy CI machine.
    expect(perCall).toBeLessThan(1);
    expect(worstPerCall).toBeLessThan(3);
  });
});

describe('canPay', () => {
  it('agrees with makeChange', () => {
    expect(canPay(0, {})).toBe(true);
    expect(canPay(60, { 20: 3, 50: 1 })).toBe(true);
    expect(canPay(30, { 20: 3, 50: 1 })).toBe(false);
    expect(canPay(80, DEMO)).toBe(true);
    expect(canPay(80, { 50: 1, 20: 1 })).toBe(false);
  });
});

describe('bestEffortChange', () => {
  it('pays the exact amount when it can', () => {
    expect(bestEffortChange(80, DEMO)).toEqual({ plan: { 50: 1, 20: 1, 10: 1 }, value: 80 });
  });

  it('pays the largest value it can below the amount, leaving the rest as debt', () => {
    expect(bestEffortChange(80, { 20: 3, 50: 1 })).toEqual({ plan: { 50: 1, 20: 1 }, value: 70 });
    expect(bestEffortChange(35, { 10: 5 })).toEqual({ plan: { 10: 3 }, value: 30 });
    expect(bestEffortChange(3, { 5: 10 })).toEqual({ plan: {}, value: 0 });
  });

  it('pays everything when the amount is at least the tube value', () => {
    expect(bestEffortChange(1000, { 20: 3, 50: 1, 100: 0 })).toEqual({ plan: { 20: 3, 50: 1 }, value: 110 });
  });

  it('pays nothing from empty tubes and nothing for 0', () => {
    expect(bestEffortChange(150, {})).toEqual({ plan: {}, value: 0 });
    expect(bestEffortChange(150, { 50: 0 })).toEqual({ plan: {}, value: 0 });
    expect(bestEffortChange(0, DEMO)).toEqual({ plan: {}, value: 0 });
  });

  it('uses the fewest coins for the value it pays', () => {
    // 46 is not payable with 5s and 20s; 45 is, best as 20 + 20 + 5
    expect(bestEffortChange(46, { 5: 9, 20: 2 })).toEqual({ plan: { 20: 2, 5: 1 }, value: 45 });
    expect(bestEffortChange(8, { 1: 10, 3: 10, 4: 1 })).toEqual({ plan: { 4: 1, 3: 1, 1: 1 }, value: 8 });
  });

  it('refuses a negative amount', () => {
    expect(() => bestEffortChange(-1, DEMO)).toThrow(RangeError);
  });
});
