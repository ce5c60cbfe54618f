/**
 * A small seeded PRNG (mulberry32): the simulator never calls Math.random, so a seed reproduces a
 * whole run. 32-bit state is plenty for picking customers and faults; it is not for cryptography.
 */

export interface Random {
  /** The seed this generator started from (for logs and replay). */
  readonly seed: number;
  /** A float in [0, 1). */
  next(): number;
  /** A whole number in [lo, hi], both ends included. */
  int(lo: number, hi: number): number;
  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
  /** True with probability p (p ≤ 0 never, p ≥ 1 always). */
  chance(p: number): boolean;
}

export function createRandom(seed: number): Random {
  if (!Number.isFinite(seed)) throw new RangeError(`random seed must be a finite number, got ${String(seed)}`);
  // Fold the seed to 32 bits so any integer (or float) seed is usable and stable.
  let state = Math.trunc(seed) >>> 0;

  const next = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };

  const int = (lo: number, hi: number): number => {
    if (!Number.isInteger(lo) || !Number.isInteger(hi))
      throw new RangeError(`int(lo, hi) needs whole numbers, got ${lo}, ${hi}`);
    if (lo > hi) throw new RangeError(`int(lo, hi) needs lo ≤ hi, got ${lo} > ${hi}`);
    return lo + Math.floor(next() * (hi - lo + 1));
  };

  const pick = <T>(items: readonly T[]): T => {
    if (items.length === 0) throw new RangeError('pick() needs a non-empty array');
    // The index is always in range; the cast only answers noUncheckedIndexedAccess.
    return items[int(0, items.length - 1)] as T;
  };

  const chance = (p: number): boolean => next() < p;

  return { seed, next, int, pick, chance };
}
