/**
 * Exact-change policy as operators know it (field-notes.md §3 C5 "ESDI 110100-A", §7 point 3):
 * which coins and bills to enable now, and when to light "EXACT CHANGE ONLY". Pure functions of
 * the credit, the tube levels and the config.
 */
import type { CoinCounts } from '../ports/index.ts';
import { canPay } from './change.ts';

export interface AcceptanceInput {
  /** Cash credit held now (minor units). */
  readonly credit: number;
  /** Tube levels now (denomination → coins). */
  readonly tubes: CoinCounts;
  /** Coin denominations the acceptor knows. */
  readonly coins: readonly number[];
  /** Bill denominations the validator knows. */
  readonly bills: readonly number[];
  readonly maxCredit: number;
  /** Highest price of anything sellable now; 0 means nothing to sell. */
  readonly highestPrice: number;
  readonly acceptOnlyIfChangeable: boolean;
  /** Denominations routed to the tubes when inserted; default: all coins. Others go to the cashbox. */
  readonly tubeCoins?: readonly number[];
}

/**
 * The acceptance rule, per denomination v (a coin or a bill):
 *  1. credit < highestPrice: stop taking money once the credit buys anything (ESDI: "credit
 *     acceptance is disabled once credit ≥ highest price"); highestPrice 0 (all sold out) → none.
 *  2. credit + v ≤ maxCredit.
 *  3. when acceptOnlyIfChangeable: refund safety. After taking v the machine must still be able to
 *     pay the whole credit back exactly: canPay(credit + v, tubesAfter), where tubesAfter is the
 *     tubes plus one coin v if v is routed to a tube (bills and cashbox coins add nothing). This is
 *     the exact form of ESDI's value test ("coinage in the tubes greater than the coin or bill to be
 *     accepted plus the credit"), which a value sum alone would pass for unpayable mixes.
 *     Note: it guards the refund, not the change after a particular vend.
 */
function accepted(input: AcceptanceInput, values: readonly number[], isCoin: boolean): number[] {
  const { credit, tubes, maxCredit, highestPrice } = input;
  if (highestPrice <= 0 || credit >= highestPrice) return [];
  const tubeCoins = input.tubeCoins ?? input.coins;
  return values.filter((v) => {
    if (credit + v > maxCredit) return false;
    if (!input.acceptOnlyIfChangeable) return true;
    const toTube = isCoin && tubeCoins.includes(v);
    const tubesAfter: CoinCounts = toTube ? { ...tubes, [v]: (tubes[v] ?? 0) + 1 } : tubes;
    return canPay(credit + v, tubesAfter);
  });
}

/** Coin denominations to enable now (input order kept). See `accepted` for the rule. */
export function acceptedCoins(input: AcceptanceInput): number[] {
  return accepted(input, input.coins, true);
}

/** Bill denominations to enable now (input order kept). Bills never add to the tubes. */
export function acceptedBills(input: AcceptanceInput): number[] {
  return accepted(input, input.bills, false);
}

/**
 * "Use correct change": true when any denomination configured in lowTubeLevels (keys are decimal
 * denomination strings, as in the config) has a tube count at or below its level. A missing tube
 * counts as empty.
 */
export function exactChangeOnly(tubes: CoinCounts, lowTubeLevels: Readonly<Record<string, number>>): boolean {
  for (const [key, level] of Object.entries(lowTubeLevels)) {
    const count = tubes[Number(key)] ?? 0;
    if (count <= level) return true;
  }
  return false;
}

/** Can the whole credit be paid back exactly from the tubes right now? */
export function payableNow(credit: number, tubes: CoinCounts): boolean {
  return canPay(credit, tubes);
}
