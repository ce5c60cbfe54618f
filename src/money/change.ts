/**
 * Bounded change-making: pay an amount exactly with the fewest coins, using at most the coins in
 * the tubes ("least-coin payout", field-notes.md §3 C5; money-model.md "change paid").
 *
 * Greedy is wrong for some coin sets (1/3/4 paying 6) and for bounded tubes (an empty or short
 * tube forces a different mix), so this is an exact DP over the amount:
 *
 *   best_i(a) = min over 0 ≤ k ≤ c_i of best_{i-1}(a − k·d_i) + k
 *
 * For each denomination d the positions a ≡ r (mod d) form a chain a = r + j·d on which
 * best_{i-1}(r + j'·d) − j' only has to be minimised over the sliding window j − c ≤ j' ≤ j; a
 * monotone deque does that in O(1) amortised, so one call is O(#denominations × amount / g), where
 * g is the gcd of the usable denominations (EUR coins 5..200 share g = 5). The amount is also
 * capped by the value in the tubes, which bounds the scratch memory by what a changer can hold.
 *
 * Tie-break (deterministic): denominations are added smallest first, the window keeps the OLDEST
 * of equal minima (= the most coins of the current denomination), and the plan is read back from
 * the largest denomination down, so among the fewest-coin plans the one with the most coins of the
 * largest denomination wins, then of the next largest, and so on.
 */
import type { CoinCounts } from '../ports/index.ts';
import { countEntries } from './currency.ts';

/** Larger than any coin count the DP can produce; small enough that INF + k never overflows Int32. */
const INF = 0x3fffffff;

// Scratch buffers, grown on demand and reused: the statechart calls this on every coin insert.
let layerA: Int32Array = new Int32Array(0);
let layerB: Int32Array = new Int32Array(0);
let takeTable: Int32Array = new Int32Array(0);
let dequeIdx: Int32Array = new Int32Array(0);
let dequeKey: Int32Array = new Int32Array(0);

function grow(buf: Int32Array, size: number): Int32Array {
  if (buf.length >= size) return buf;
  let n = Math.max(64, buf.length);
  while (n < size) n *= 2;
  return new Int32Array(n);
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * Largest DP range (amount ÷ g) accepted: the take table is #denominations × this many Int32s, so
 * this bounds the scratch memory to a few tens of MB. A vending payout is thousands of units.
 */
export const MAX_CHANGE_UNITS = 1_000_000;

function checkRange(top: number, amount: number): void {
  if (top > MAX_CHANGE_UNITS) throw new RangeError(`change amount ${String(amount)} is too large to plan (over ${String(MAX_CHANGE_UNITS)} coin units)`);
}

function checkAmount(amount: number): void {
  if (!Number.isSafeInteger(amount) || amount < 0) {
    throw new RangeError(`change amount must be a non-negative integer of minor units, got ${String(amount)}`);
  }
}

interface Problem {
  /** Usable denominations ascending (count > 0 and d ≤ limit). */
  readonly denoms: number[];
  readonly counts: number[];
  readonly g: number;
  /** Σ d × count over the usable denominations. */
  readonly total: number;
}

function usable(limit: number, available: CoinCounts): Problem {
  const entries = countEntries(available)
    .filter(([d, c]) => c > 0 && d <= limit)
    .sort((x, y) => x[0] - y[0]);
  let g = 0;
  let total = 0;
  for (const [d, c] of entries) {
    g = gcd(d, g);
    total += d * c;
  }
  return { denoms: entries.map((e) => e[0]), counts: entries.map((e) => e[1]), g, total };
}

/**
 * Fill best_n over 0..top (in units of g) and the per-denomination take table. Returns the final
 * layer; take[i·(top+1) + a] is how many coins of denomination i the optimum for `a` uses.
 *
 * Only the part of each layer that can matter is computed: above reach_i (the value of the coins
 * added so far) everything is unreachable, and when only `top` itself is wanted (exactOnly),
 * positions below top − rest_i (rest_i: the value of the coins still to add) cannot lead to it.
 * Entries outside the computed range are INF or never read.
 */
function solve(p: Problem, top: number, exactOnly: boolean): Int32Array {
  const n = p.denoms.length;
  const width = top + 1;
  layerA = grow(layerA, width);
  layerB = grow(layerB, width);
  takeTable = grow(takeTable, n * width);
  let prev = layerA;
  let cur = layerB;
  const take = takeTable;
  prev.fill(INF, 0, width);
  prev[0] = 0;
  let rest = p.total / p.g;
  let reach = 0;
  for (let i = 0; i < n; i++) {
    const d = (p.denoms[i] ?? 1) / p.g;
    const c = Math.min(p.counts[i] ?? 0, Math.floor(top / d));
    // prev holds best_{i-1} on [lo, top]; cur gets best_i on [lo, hi] and INF above hi.
    const lo = exactOnly ? Math.max(0, top - rest) : 0;
    rest -= d * (p.counts[i] ?? 0);
    reach += d * c;
    const hi = Math.min(top, reach);
    const base = i * width;
    const chain = Math.floor((hi - lo) / d) + 1;
    dequeIdx = grow(dequeIdx, chain);
    dequeKey = grow(dequeKey, chain);
    const qi = dequeIdx;
    const qk = dequeKey;
    for (let start = lo; start < lo + d && start <= hi; start++) {
      let head = 0;
      let tail = 0;
      for (let j = 0, a = start; a <= hi; j++, a += d) {
        const v = prev[a] ?? INF;
        if (v < INF) {
          const key = v - j;
          // Strict ">" keeps older equal keys: the front is then the largest k among ties.
          while (tail > head && (qk[tail - 1] ?? 0) > key) tail--;
          qi[tail] = j;
          qk[tail] = key;
          tail++;
        }
        while (tail > head && (qi[head] ?? 0) < j - c) head++;
        if (tail > head) {
          const jf = qi[head] ?? 0;
          cur[a] = (qk[head] ?? 0) + j;
          take[base + a] = j - jf;
        } else {
          // No plan for a: its take entry is never read, since readPlan follows finite paths only.
          cur[a] = INF;
        }
      }
    }
    if (hi < top) cur.fill(INF, hi + 1, width);
    const t = prev;
    prev = cur;
    cur = t;
  }
  return prev;
}

/** Read the plan for `a` (units of g) back from the take table, largest denomination first. */
function readPlan(p: Problem, top: number, a: number): Record<number, number> {
  const plan: Record<number, number> = {};
  const width = top + 1;
  for (let i = p.denoms.length - 1; i >= 0 && a > 0; i--) {
    const d = p.denoms[i] ?? 1;
    const k = takeTable[i * width + a] ?? 0;
    if (k > 0) {
      plan[d] = k;
      a -= k * (d / p.g);
    }
  }
  if (a !== 0) throw new Error(`makeChange: internal error, ${String(a * p.g)} left unpaid`);
  return plan;
}

function allCoins(p: Problem): Record<number, number> {
  const plan: Record<number, number> = {};
  p.denoms.forEach((d, i) => {
    plan[d] = p.counts[i] ?? 0;
  });
  return plan;
}

/**
 * The fewest-coin plan paying `amount` exactly with at most `available[d]` coins of each d;
 * `{}` for 0; null when no exact plan exists (never a wrong plan). Throws a RangeError on a
 * negative or fractional amount or an invalid count record.
 */
export function makeChange(amount: number, available: CoinCounts): CoinCounts | null {
  checkAmount(amount);
  if (amount === 0) return {};
  const p = usable(amount, available);
  if (p.denoms.length === 0 || amount > p.total || amount % p.g !== 0) return null;
  // Paying out every coin is the only way to pay the whole tube value.
  if (amount === p.total) return allCoins(p);
  const top = amount / p.g;
  checkRange(top, amount);
  const best = solve(p, top, true);
  if ((best[top] ?? INF) >= INF) return null;
  return readPlan(p, top, top);
}

/**
 * True when `amount` can be paid exactly from `available`. Largest-first within the tube counts
 * is tried first: when it lands exactly, that is a plan (not always the fewest coins, which is not
 * asked here), and with stocked tubes it nearly always does. Only when it misses does the exact DP
 * decide. The acceptance policy asks this for every denomination after every coin.
 */
export function canPay(amount: number, available: CoinCounts): boolean {
  checkAmount(amount);
  if (amount === 0) return true;
  // Integer keys enumerate in ascending order, so walking them backwards is largest first.
  const keys = Object.keys(available);
  let left = amount;
  for (let i = keys.length - 1; i >= 0 && left > 0; i--) {
    const d = Number(keys[i]);
    const c = available[d];
    // Anything unusual goes to the DP, which also reports invalid counts.
    if (!Number.isSafeInteger(d) || d <= 0 || c === undefined || !Number.isSafeInteger(c) || c < 0) return makeChange(amount, available) !== null;
    left -= Math.min(c, Math.floor(left / d)) * d;
  }
  return left === 0 || makeChange(amount, available) !== null;
}

/**
 * The largest value ≤ amount that can be paid exactly, with its fewest-coin plan. Used when an
 * exact payout is impossible: pay this, record the rest as debt (money-model.md invariant 5).
 */
export function bestEffortChange(amount: number, available: CoinCounts): { plan: CoinCounts; value: number } {
  checkAmount(amount);
  if (amount === 0) return { plan: {}, value: 0 };
  const p = usable(amount, available);
  if (p.denoms.length === 0) return { plan: {}, value: 0 };
  if (amount >= p.total) return { plan: allCoins(p), value: p.total };
  const top = Math.floor(amount / p.g);
  checkRange(top, amount);
  const best = solve(p, top, false);
  let a = top;
  while (a > 0 && (best[a] ?? INF) >= INF) a--;
  return { plan: readPlan(p, top, a), value: a * p.g };
}
