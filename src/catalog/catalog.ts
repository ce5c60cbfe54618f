/**
 * The catalog: columns addressed A1..J9 (row letter, column digit), each with a product, a price, a
 * capacity, a stock count and an enabled flag, plus the mark a vend attempt may leave on it.
 * Pure data and pure functions: the statechart keeps a `Catalog` in its context.
 */
import type { SlotConfig } from '../config/schema.ts';

/** `failed`: a vend saw no drop (likely empty); `jammed`: the motor did not turn. Both are sold out. */
export type ColumnMark = 'ok' | 'failed' | 'jammed';

export interface Column {
  readonly code: string;
  readonly product: string;
  readonly price: number;
  readonly capacity: number;
  readonly stock: number;
  readonly enabled: boolean;
  readonly mark: ColumnMark;
}

export type Catalog = Readonly<Record<string, Column>>;

export type Availability = 'available' | 'unknown' | 'disabled' | 'soldOut' | 'failed' | 'jammed';

export function catalogFromConfig(slots: readonly SlotConfig[]): Catalog {
  const out: Record<string, Column> = {};
  for (const s of slots) {
    out[s.code] = {
      code: s.code,
      product: s.product,
      price: s.price,
      capacity: s.capacity,
      stock: s.stock,
      enabled: s.enabled,
      mark: 'ok',
    };
  }
  return out;
}

export function availability(catalog: Catalog, code: string): Availability {
  const col = catalog[code];
  if (!col) return 'unknown';
  if (!col.enabled) return 'disabled';
  if (col.mark === 'jammed') return 'jammed';
  if (col.mark === 'failed') return 'failed';
  if (col.stock <= 0) return 'soldOut';
  return 'available';
}

export function isAvailable(catalog: Catalog, code: string): boolean {
  return availability(catalog, code) === 'available';
}

/** Another available column with the same product and price, not yet tried, in code order. */
export function alternativeColumn(catalog: Catalog, code: string, tried: readonly string[]): string | undefined {
  const col = catalog[code];
  if (!col) return undefined;
  return Object.keys(catalog)
    .sort()
    .find(
      (c) =>
        c !== code &&
        !tried.includes(c) &&
        isAvailable(catalog, c) &&
        catalog[c]?.product === col.product &&
        catalog[c]?.price === col.price,
    );
}

export function highestPrice(catalog: Catalog): number {
  let max = 0;
  for (const c of Object.values(catalog)) if (c.enabled && c.price > max) max = c.price;
  return max;
}

// Catalogs are immutable (every change makes a new object), so a summary per catalog object stays
// valid; the statechart asks after every step whether anything can be sold.
const summaries = new WeakMap<Catalog, { anyAvailable: boolean; highestPrice: number }>();

function summary(catalog: Catalog): { anyAvailable: boolean; highestPrice: number } {
  let s = summaries.get(catalog);
  if (!s) {
    let sellable = false;
    let highest = 0;
    for (const col of Object.values(catalog)) {
      if (availability(catalog, col.code) !== 'available') continue;
      sellable = true;
      if (col.price > highest) highest = col.price;
    }
    s = { anyAvailable: sellable, highestPrice: highest };
    summaries.set(catalog, s);
  }
  return s;
}

export function anyAvailable(catalog: Catalog): boolean {
  return summary(catalog).anyAvailable;
}

/** The highest price of any column that can be sold now; 0 when none can. */
export function highestAvailablePrice(catalog: Catalog): number {
  return summary(catalog).highestPrice;
}

export function updateColumn(catalog: Catalog, code: string, patch: Partial<Omit<Column, 'code'>>): Catalog {
  const col = catalog[code];
  if (!col) return catalog;
  return { ...catalog, [code]: { ...col, ...patch } };
}

/** Clear every failed mark (door closed after service); jammed columns need a fault clear. */
export function clearFailedMarks(catalog: Catalog): { catalog: Catalog; cleared: string[] } {
  const cleared = Object.values(catalog)
    .filter((c) => c.mark === 'failed')
    .map((c) => c.code);
  if (cleared.length === 0) return { catalog, cleared };
  const next: Record<string, Column> = { ...catalog };
  for (const code of cleared) {
    const col = next[code];
    if (col) next[code] = { ...col, mark: 'ok' };
  }
  return { catalog: next, cleared };
}
