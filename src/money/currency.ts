/**
 * Money text and coin-count arithmetic. Amounts are integer minor units (money-model.md); nothing
 * here ever does float arithmetic on money, so formatting and parsing go through integer division
 * and digit strings.
 */
import type { CoinCounts } from '../ports/index.ts';

export interface CurrencyFormat {
  readonly code: string;
  /** Digits after the decimal point (EUR 2, JPY 0, KWD 3). */
  readonly decimals: number;
  readonly symbol?: string;
}

function checkDecimals(currency: CurrencyFormat): number {
  const d = currency.decimals;
  if (!Number.isInteger(d) || d < 0 || d > 6) throw new RangeError(`currency ${currency.code}: decimals must be 0..6, got ${String(d)}`);
  return d;
}

/**
 * Minor units to display text: "€1.50" with a symbol, "1.50 EUR" without, a leading "-" when
 * negative. Throws a RangeError for a value that is not a safe integer (a float here is a bug).
 */
export function formatMoney(amount: number, currency: CurrencyFormat): string {
  if (!Number.isSafeInteger(amount)) throw new RangeError(`formatMoney: amount must be an integer number of minor units, got ${String(amount)}`);
  const decimals = checkDecimals(currency);
  const sign = amount < 0 ? '-' : '';
  const abs = Math.abs(amount);
  let digits: string;
  if (decimals === 0) {
    digits = String(abs);
  } else {
    const unit = 10 ** decimals;
    const minor = abs % unit;
    // (abs - minor) is an exact multiple of unit, so this division is exact even near 2^53.
    const major = (abs - minor) / unit;
    digits = `${String(major)}.${String(minor).padStart(decimals, '0')}`;
  }
  return currency.symbol !== undefined ? `${sign}${currency.symbol}${digits}` : `${sign}${digits} ${currency.code}`;
}

export interface ParseMoneyOptions {
  /** Accept a leading "-" (default false: amounts typed at the CLI are prices, fills, credits). */
  readonly allowNegative?: boolean;
}

/**
 * Text to minor units. "1.50" (with a decimal point) is major units → 150 for decimals 2; "150"
 * (a plain integer) is already minor units → 150. The currency symbol as a prefix ("€1.50") or the
 * code as a suffix ("1.50 EUR") is allowed, so `formatMoney` output parses back; but a decorated
 * plain integer ("€150") is refused when decimals > 0 because a person reads it as 150 euros.
 * Throws an Error naming the bad text otherwise.
 */
export function parseMoney(text: string, currency: CurrencyFormat, options: ParseMoneyOptions = {}): number {
  const decimals = checkDecimals(currency);
  const bad = (why: string): Error => new Error(`cannot read ${JSON.stringify(text)} as ${currency.code} money: ${why}`);
  let s = text.trim();
  let negative = false;
  if (s.startsWith('-')) {
    negative = true;
    s = s.slice(1).trimStart();
  }
  let decorated = false;
  if (currency.symbol !== undefined && currency.symbol !== '' && s.startsWith(currency.symbol)) {
    s = s.slice(currency.symbol.length).trimStart();
    decorated = true;
  }
  const code = currency.code.toUpperCase();
  if (s.toUpperCase().endsWith(code) && s.length > code.length) {
    s = s.slice(0, s.length - code.length).trimEnd();
    decorated = true;
  }
  if (negative && !options.allowNegative) throw bad('negative amounts are not allowed here');

  let digits: string;
  const integer = /^\d+$/.exec(s);
  const decimal = /^(\d*)\.(\d*)$/.exec(s);
  if (integer) {
    if (decorated && decimals > 0) {
      throw bad(`ambiguous: write "${s}.${'0'.repeat(decimals)}" for major units or "${s}" alone for minor units`);
    }
    digits = s;
  } else if (decimal) {
    const whole = decimal[1] ?? '';
    const frac = decimal[2] ?? '';
    if (whole === '' && frac === '') throw bad('no digits');
    if (frac.length > decimals) {
      throw bad(decimals === 0 ? `${currency.code} has no minor unit` : `more than ${String(decimals)} digits after the decimal point`);
    }
    digits = (whole === '' ? '0' : whole) + frac.padEnd(decimals, '0');
  } else if (s.includes(',')) {
    throw bad('use "." as the decimal point (e.g. "1.50"), or a plain integer of minor units');
  } else {
    throw bad('expected a decimal amount such as "1.50" or an integer of minor units such as "150"');
  }
  const value = Number(digits);
  if (!Number.isSafeInteger(value)) throw bad('too large');
  return negative && value !== 0 ? -value : value;
}

// ------------------------------------------------------------------------------- coin counts

/**
 * The entries of a count record as numbers, validated: a key must be a positive integer
 * denomination and a count a non-negative integer. Bad counts are a driver or config bug, so they
 * are reported loudly rather than treated as zero (a silent zero would hide lost money).
 */
export function countEntries(counts: CoinCounts): Array<[denomination: number, count: number]> {
  const out: Array<[number, number]> = [];
  for (const [key, count] of Object.entries(counts)) {
    const denomination = Number(key);
    if (!Number.isSafeInteger(denomination) || denomination <= 0) throw new RangeError(`invalid coin denomination ${JSON.stringify(key)}`);
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0) {
      throw new RangeError(`invalid coin count for denomination ${key}: ${String(count)}`);
    }
    out.push([denomination, count]);
  }
  return out;
}

/** Value of the counts in minor units: Σ denomination × count. */
export function sumCounts(counts: CoinCounts): number {
  let total = 0;
  for (const [d, c] of countEntries(counts)) total += d * c;
  return total;
}

/** Number of coins. */
export function countCoins(counts: CoinCounts): number {
  let total = 0;
  for (const [, c] of countEntries(counts)) total += c;
  return total;
}

/** a + b per denomination (denominations from both; zero entries kept). */
export function addCounts(a: CoinCounts, b: CoinCounts): CoinCounts {
  const out: Record<number, number> = {};
  for (const [d, c] of countEntries(a)) out[d] = c;
  for (const [d, c] of countEntries(b)) out[d] = (out[d] ?? 0) + c;
  return out;
}

/** a − b per denomination. Throws naming the denomination if any count would go negative. */
export function subtractCounts(a: CoinCounts, b: CoinCounts): CoinCounts {
  const out: Record<number, number> = {};
  for (const [d, c] of countEntries(a)) out[d] = c;
  for (const [d, c] of countEntries(b)) {
    const have = out[d] ?? 0;
    if (c > have) throw new RangeError(`cannot take ${String(c)} × ${String(d)}: only ${String(have)} there`);
    out[d] = have - c;
  }
  return out;
}

/** The same counts without zero entries. */
export function normalizeCounts(counts: CoinCounts): CoinCounts {
  const out: Record<number, number> = {};
  for (const [d, c] of countEntries(counts)) if (c > 0) out[d] = c;
  return out;
}
