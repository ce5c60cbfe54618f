import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import {
  addCounts,
  countCoins,
  formatMoney,
  normalizeCounts,
  parseMoney,
  subtractCounts,
  sumCounts,
} from '../../src/money/currency.ts';

const EUR = { code: 'EUR', decimals: 2, symbol: '€' };
const EUR_NOSYM = { code: 'EUR', decimals: 2 };
const JPY = { code: 'JPY', decimals: 0, symbol: '¥' };
const JPY_NOSYM = { code: 'JPY', decimals: 0 };
const KWD = { code: 'KWD', decimals: 3 };

describe('formatMoney', () => {
  it('puts the symbol in front with the currency decimals', () => {
    expect(formatMoney(150, EUR)).toBe('€1.50');
    expect(formatMoney(5, EUR)).toBe('€0.05');
    expect(formatMoney(0, EUR)).toBe('€0.00');
    expect(formatMoney(123456, EUR)).toBe('€1234.56');
  });

  it('puts the code after the amount when there is no symbol', () => {
    expect(formatMoney(150, EUR_NOSYM)).toBe('1.50 EUR');
    expect(formatMoney(7, EUR_NOSYM)).toBe('0.07 EUR');
  });

  it('has no decimal point for a currency with decimals 0', () => {
    expect(formatMoney(150, JPY)).toBe('¥150');
    expect(formatMoney(150, JPY_NOSYM)).toBe('150 JPY');
    expect(formatMoney(0, JPY_NOSYM)).toBe('0 JPY');
  });

  it('shows three decimals for decimals 3', () => {
    expect(formatMoney(1234, KWD)).toBe('1.234 KWD');
    expect(formatMoney(5, KWD)).toBe('0.005 KWD');
    expect(formatMoney(1000, KWD)).toBe('1.000 KWD');
  });

  it('puts a leading "-" on negative values', () => {
    expect(formatMoney(-150, EUR)).toBe('-€1.50');
    expect(formatMoney(-5, EUR_NOSYM)).toBe('-0.05 EUR');
    expect(formatMoney(-150, JPY)).toBe('-¥150');
  });

  it('stays exact up to the largest safe integer (no float rounding)', () => {
    expect(formatMoney(Number.MAX_SAFE_INTEGER, EUR_NOSYM)).toBe('90071992547409.91 EUR');
    expect(formatMoney(-Number.MAX_SAFE_INTEGER, KWD)).toBe('-9007199254740.991 KWD');
  });

  it('refuses a float, NaN or an unsafe integer with a clear error', () => {
    expect(() => formatMoney(1.5, EUR)).toThrow(/integer number of minor units, got 1.5/);
    expect(() => formatMoney(Number.NaN, EUR)).toThrow(/got NaN/);
    expect(() => formatMoney(2 ** 60, EUR)).toThrow(RangeError);
  });

  it('refuses an impossible decimals setting', () => {
    expect(() => formatMoney(1, { code: 'XXX', decimals: -1 })).toThrow(/decimals/);
    expect(() => formatMoney(1, { code: 'XXX', decimals: 1.5 })).toThrow(/decimals/);
  });
});

describe('parseMoney', () => {
  it('reads text with a decimal point as major units', () => {
    expect(parseMoney('1.50', EUR)).toBe(150);
    expect(parseMoney('1.5', EUR)).toBe(150);
    expect(parseMoney('.5', EUR)).toBe(50);
    expect(parseMoney('2.', EUR)).toBe(200);
    expect(parseMoney('0.05', EUR)).toBe(5);
    expect(parseMoney('  1.50  ', EUR)).toBe(150);
  });

  it('reads a plain integer as minor units', () => {
    expect(parseMoney('150', EUR)).toBe(150);
    expect(parseMoney('0', EUR)).toBe(0);
    expect(parseMoney('007', EUR)).toBe(7);
  });

  it('accepts the symbol prefix and code suffix that formatMoney writes', () => {
    expect(parseMoney('€1.50', EUR)).toBe(150);
    expect(parseMoney('1.50 EUR', EUR)).toBe(150);
    expect(parseMoney('1.50eur', EUR)).toBe(150);
    expect(parseMoney('¥150', JPY)).toBe(150);
  });

  it('handles decimals 0', () => {
    expect(parseMoney('150', JPY_NOSYM)).toBe(150);
    expect(parseMoney('150.', JPY_NOSYM)).toBe(150);
    expect(parseMoney('150 JPY', JPY_NOSYM)).toBe(150);
    expect(() => parseMoney('1.5', JPY_NOSYM)).toThrow(/"1.5".*JPY has no minor unit/);
  });

  it('handles decimals 3', () => {
    expect(parseMoney('1.234', KWD)).toBe(1234);
    expect(parseMoney('1.2', KWD)).toBe(1200);
    expect(parseMoney('1234', KWD)).toBe(1234);
    expect(() => parseMoney('1.2345', KWD)).toThrow(/"1.2345".*more than 3 digits/);
  });

  it('refuses too many decimals for the currency', () => {
    expect(() => parseMoney('1.505', EUR)).toThrow(/"1.505".*more than 2 digits/);
  });

  it('refuses negative text unless asked to allow it', () => {
    expect(() => parseMoney('-1.50', EUR)).toThrow(/"-1.50".*negative/);
    expect(parseMoney('-1.50', EUR, { allowNegative: true })).toBe(-150);
    expect(parseMoney('-€1.50', EUR, { allowNegative: true })).toBe(-150);
    expect(parseMoney('-0', EUR, { allowNegative: true })).toBe(0);
  });

  it('refuses a decorated plain integer as ambiguous when the currency has decimals', () => {
    expect(() => parseMoney('€150', EUR)).toThrow(/"€150".*ambiguous.*"150.00"/);
    expect(() => parseMoney('150 EUR', EUR)).toThrow(/ambiguous/);
  });

  it('names the bad text in the error for garbage', () => {
    for (const bad of ['', '   ', 'abc', '1.2.3', '1e3', '0x10', '.', '€', 'EUR', '1 50', '+1.50', '$1.50', 'NaN', 'Infinity']) {
      expect(() => parseMoney(bad, EUR), bad).toThrow(new RegExp(`cannot read ${JSON.stringify(bad).replace(/[.$+]/g, '\\$&')} as EUR money`));
    }
  });

  it('tells the user to use "." when the text has a comma', () => {
    expect(() => parseMoney('1,50', EUR)).toThrow(/"1,50".*use "\." as the decimal point/);
  });

  it('refuses amounts beyond safe integers', () => {
    expect(() => parseMoney('99999999999999999999', EUR)).toThrow(/too large/);
    expect(() => parseMoney('999999999999999.99', EUR)).toThrow(/too large/);
  });

  it('reads back whatever formatMoney writes (property)', () => {
    const currencies = [EUR, EUR_NOSYM, JPY, JPY_NOSYM, KWD, { code: 'BHD', decimals: 3, symbol: 'BD' }];
    fc.assert(
      fc.property(fc.integer({ min: -1e12, max: 1e12 }), fc.constantFrom(...currencies), (amount, currency) => {
        expect(parseMoney(formatMoney(amount, currency), currency, { allowNegative: true })).toBe(amount);
      }),
      { seed: 42, numRuns: 300 },
    );
  });
});

describe('coin counts', () => {
  it('sums value and coins', () => {
    expect(sumCounts({ 5: 2, 50: 3, 200: 1 })).toBe(360);
    expect(countCoins({ 5: 2, 50: 3, 200: 1 })).toBe(6);
    expect(sumCounts({})).toBe(0);
    expect(countCoins({})).toBe(0);
  });

  it('adds per denomination, keeping denominations from both sides', () => {
    expect(addCounts({ 5: 2, 10: 1 }, { 10: 4, 50: 1 })).toEqual({ 5: 2, 10: 5, 50: 1 });
    expect(addCounts({}, { 20: 0 })).toEqual({ 20: 0 });
  });

  it('subtracts per denomination', () => {
    expect(subtractCounts({ 5: 2, 10: 5 }, { 10: 5 })).toEqual({ 5: 2, 10: 0 });
    expect(subtractCounts({ 5: 2 }, { 50: 0 })).toEqual({ 5: 2, 50: 0 });
  });

  it('refuses a subtraction that would go negative, naming the denomination', () => {
    expect(() => subtractCounts({ 5: 2, 50: 1 }, { 50: 2 })).toThrow(/2 × 50: only 1 there/);
    expect(() => subtractCounts({ 5: 2 }, { 100: 1 })).toThrow(/1 × 100: only 0 there/);
  });

  it('normalizes by dropping zero entries', () => {
    expect(normalizeCounts({ 5: 0, 10: 3, 20: 0 })).toEqual({ 10: 3 });
    expect(normalizeCounts({})).toEqual({});
  });

  it('does not change its inputs', () => {
    const a = { 5: 2, 10: 1 };
    const b = { 10: 1 };
    subtractCounts(a, b);
    addCounts(a, b);
    expect(a).toEqual({ 5: 2, 10: 1 });
    expect(b).toEqual({ 10: 1 });
  });

  it('reports an invalid count or denomination clearly', () => {
    expect(() => sumCounts({ 50: -1 })).toThrow(/invalid coin count for denomination 50: -1/);
    expect(() => countCoins({ 50: 1.5 })).toThrow(/invalid coin count for denomination 50: 1.5/);
    expect(() => sumCounts({ 0: 1 })).toThrow(/invalid coin denomination "0"/);
    expect(() => addCounts({ 5: 1 }, { 7.5: 1 })).toThrow(/invalid coin denomination "7.5"/);
    const garbage = JSON.parse('{"abc": 1}') as Record<number, number>;
    expect(() => normalizeCounts(garbage)).toThrow(/invalid coin denomination "abc"/);
  });

  it('add then subtract gives back the original counts (property)', () => {
    const counts = fc.dictionary(
      fc.integer({ min: 1, max: 500 }).map(String),
      fc.integer({ min: 0, max: 1000 }),
    ) as fc.Arbitrary<Record<number, number>>;
    fc.assert(
      fc.property(counts, counts, (a, b) => {
        const sum = addCounts(a, b);
        expect(sumCounts(sum)).toBe(sumCounts(a) + sumCounts(b));
        expect(countCoins(sum)).toBe(countCoins(a) + countCoins(b));
        expect(normalizeCounts(subtractCounts(sum, b))).toEqual(normalizeCounts(a));
      }),
      { seed: 42, numRuns: 300 },
    );
  });
});
