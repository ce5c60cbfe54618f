/**
 * makeChange and bestEffortChange against oracles that share no code with them:
 *  - brute force: every bounded combination of a small coin set (≤ 4 denominations, ≤ 4 coins each);
 *  - for bigger sets, a plain 0/1 knapsack over the individual coins (slow but obviously right).
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { bestEffortChange, canPay, makeChange } from '../../src/money/change.ts';
import { countCoins, normalizeCounts, sumCounts } from '../../src/money/currency.ts';
import type { CoinCounts } from '../../src/ports/index.ts';

const RUNS = { seed: 42, numRuns: 300 };

interface Best {
  coins: number;
  /** Counts ordered from the largest denomination down, for the larger-first tie-break. */
  key: number[];
  plan: Record<number, number>;
}

function lexGreater(a: readonly number[], b: readonly number[]): boolean {
  const k = a.findIndex((x, i) => x !== b[i]);
  return k >= 0 && (a[k] ?? 0) > (b[k] ?? 0);
}

/** value → the fewest-coin plan, ties to the most coins of the largest denomination, and so on. */
function bruteForce(tubes: Record<number, number>): Map<number, Best> {
  const denoms = Object.keys(tubes).map(Number).sort((a, b) => b - a);
  const best = new Map<number, Best>();
  const counts: number[] = denoms.map(() => 0);
  const visit = (i: number): void => {
    if (i === denoms.length) {
      let value = 0;
      let coins = 0;
      const plan: Record<number, number> = {};
      denoms.forEach((d, k) => {
        const c = counts[k] ?? 0;
        value += d * c;
        coins += c;
        if (c > 0) plan[d] = c;
      });
      const key = [...counts];
      const old = best.get(value);
      const better = old === undefined || coins < old.coins || (coins === old.coins && lexGreater(key, old.key));
      if (better) best.set(value, { coins, key, plan });
      return;
    }
    const d = denoms[i] ?? 0;
    for (let c = 0; c <= (tubes[d] ?? 0); c++) {
      counts[i] = c;
      visit(i + 1);
    }
    counts[i] = 0;
  };
  visit(0);
  return best;
}

/** Fewest coins for each value 0..limit, 0/1 knapsack over single coins; Infinity if impossible. */
function knapsack(tubes: Record<number, number>, limit: number): number[] {
  const best: number[] = Array.from({ length: limit + 1 }, () => Number.POSITIVE_INFINITY);
  best[0] = 0;
  for (const [key, count] of Object.entries(tubes)) {
    const d = Number(key);
    for (let n = 0; n < count; n++) {
      for (let a = limit; a >= d; a--) {
        const via = (best[a - d] ?? Number.POSITIVE_INFINITY) + 1;
        if (via < (best[a] ?? Number.POSITIVE_INFINITY)) best[a] = via;
      }
    }
  }
  return best;
}

function expectValidPlan(plan: CoinCounts, amount: number, tubes: Record<number, number>): void {
  expect(sumCounts(plan)).toBe(amount);
  for (const [key, count] of Object.entries(plan)) {
    expect(count).toBeGreaterThan(0);
    expect(count).toBeLessThanOrEqual(tubes[Number(key)] ?? 0);
  }
}

const denomination = fc.integer({ min: 1, max: 30 });
const smallTubes = fc
  .uniqueArray(denomination, { minLength: 1, maxLength: 4 })
  .chain((ds) => fc.tuple(...ds.map((d) => fc.integer({ min: 0, max: 4 }).map((c): [number, number] => [d, c]))))
  .map((entries) => Object.fromEntries(entries) as Record<number, number>);

describe('makeChange against a brute-force oracle', () => {
  it('finds the minimal plan (tie to larger coins) exactly when one exists, else null', () => {
    fc.assert(
      fc.property(smallTubes, fc.nat({ max: 130 }), (tubes, amount) => {
        const oracle = bruteForce(tubes).get(amount);
        const plan = makeChange(amount, tubes);
        if (oracle === undefined) {
          expect(plan).toBeNull();
          expect(canPay(amount, tubes)).toBe(false);
        } else {
          expect(plan).not.toBeNull();
          if (plan === null) return;
          expectValidPlan(plan, amount, tubes);
          expect(countCoins(plan)).toBe(oracle.coins);
          expect(plan).toEqual(oracle.plan);
          expect(canPay(amount, tubes)).toBe(true);
        }
      }),
      RUNS,
    );
  });

  it('agrees for every amount the tubes could hold (one tube set, all amounts)', () => {
    fc.assert(
      fc.property(smallTubes, (tubes) => {
        const oracle = bruteForce(tubes);
        const total = sumCounts(tubes);
        for (let amount = 0; amount <= total + 1; amount++) {
          const plan = makeChange(amount, tubes);
          expect(plan === null ? undefined : normalizeCounts(plan)).toEqual(oracle.get(amount)?.plan);
        }
      }),
      { seed: 42, numRuns: 100 },
    );
  });
});

describe('bestEffortChange against a brute-force oracle', () => {
  it('pays the largest payable value ≤ amount with its fewest-coin plan', () => {
    fc.assert(
      fc.property(smallTubes, fc.nat({ max: 130 }), (tubes, amount) => {
        const oracle = bruteForce(tubes);
        let value = amount;
        while (!oracle.has(value)) value--;
        const result = bestEffortChange(amount, tubes);
        expect(result.value).toBe(value);
        expectValidPlan(result.plan, value, tubes);
        expect(result.plan).toEqual(oracle.get(value)?.plan);
      }),
      RUNS,
    );
  });
});

describe('makeChange against a 0/1 knapsack on bigger changers', () => {
  // Six denominations with a common factor (like euro coins) or without, tubes up to 25 coins.
  const bigTubes = fc
    .tuple(
      fc.constantFrom(1, 5),
      fc.uniqueArray(fc.integer({ min: 1, max: 60 }), { minLength: 1, maxLength: 6 }),
    )
    .chain(([unit, ds]) =>
      fc.tuple(...ds.map((d) => fc.integer({ min: 0, max: 25 }).map((c): [number, number] => [d * unit, c]))),
    )
    .map((entries) => Object.fromEntries(entries) as Record<number, number>);

  it('has the same minimal coin count, sums exactly and respects the tubes', () => {
    fc.assert(
      fc.property(bigTubes, fc.nat({ max: 1500 }), (tubes, amount) => {
        const best = knapsack(tubes, amount)[amount] ?? Number.POSITIVE_INFINITY;
        const plan = makeChange(amount, tubes);
        if (best === Number.POSITIVE_INFINITY) {
          expect(plan).toBeNull();
        } else {
          expect(plan).not.toBeNull();
          if (plan === null) return;
          expectValidPlan(plan, amount, tubes);
          expect(countCoins(plan)).toBe(best);
        }
      }),
      RUNS,
    );
  });

  it('bestEffortChange pays the largest payable value with the fewest coins', () => {
    fc.assert(
      fc.property(bigTubes, fc.nat({ max: 1500 }), (tubes, amount) => {
        const best = knapsack(tubes, amount);
        let value = amount;
        while ((best[value] ?? Number.POSITIVE_INFINITY) === Number.POSITIVE_INFINITY) value--;
        const result = bestEffortChange(amount, tubes);
        expect(result.value).toBe(value);
        expectValidPlan(result.plan, value, tubes);
        expect(countCoins(result.plan)).toBe(best[value]);
      }),
      RUNS,
    );
  });
});
