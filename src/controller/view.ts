/**
 * What the machine shows and accepts, derived from a statechart snapshot by pure functions, so the
 * statechart never has to remember to update a display or an acceptance list.
 */
import type { SnapshotFrom } from 'xstate';
import type { VmcContext, vmcMachine } from './machine.ts';
import { deviceUsable, outOfServiceReason } from './machine.ts';
import { formatMoney } from '../money/currency.ts';
import { acceptedBills, acceptedCoins, exactChangeOnly } from '../money/policy.ts';
import { highestAvailablePrice } from '../catalog/catalog.ts';

export type VmcSnapshot = SnapshotFrom<typeof vmcMachine>;

export type SalesState =
  | 'idle'
  | 'session'
  | 'creditExpired'
  | 'authorising'
  | 'vending'
  | 'afterVend'
  | 'paying'
  | 'service'
  | 'outOfService';

export function salesState(s: VmcSnapshot): SalesState {
  const value = s.value as { sales: string | Record<string, unknown> };
  const sales = value.sales;
  return (typeof sales === 'string' ? sales : (Object.keys(sales)[0] ?? 'idle')) as SalesState;
}

/** Every active state as a dotted path, e.g. "sales.vending.turning", for logs, tests and the UI. */
export function activePaths(value: unknown, prefix = ''): string[] {
  if (typeof value === 'string') return [prefix ? `${prefix}.${value}` : value];
  if (value && typeof value === 'object') {
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => activePaths(v, prefix ? `${prefix}.${k}` : k));
  }
  return [];
}

function fit(line: string, cols: number): string {
  return line.length > cols ? line.slice(0, cols) : line;
}

function money(ctx: VmcContext, amount: number): string {
  return formatMoney(amount, ctx.settings.currency);
}

/** The display's lines for this snapshot, fitted to `rows` × `cols`. */
export function displayLines(s: VmcSnapshot, rows: number, cols: number): string[] {
  const ctx = s.context;
  const lines = baseLines(s, ctx);
  const out = lines.slice(0, rows).map((l) => fit(l, cols));
  while (out.length < rows) out.push('');
  return out;
}

function baseLines(s: VmcSnapshot, ctx: VmcContext): string[] {
  const state = salesState(s);
  if (ctx.notice && state !== 'service') return [...ctx.notice];
  const entry = ctx.entry ? `SELECT ${ctx.entry}_` : undefined;
  switch (state) {
    case 'service':
      // Locked behind the service PIN: the entry shows as stars, a wrong PIN as a notice.
      if (s.matches({ sales: { service: 'locked' } })) {
        if (ctx.notice) return [...ctx.notice];
        if (s.matches({ pinGuard: 'lockedOut' })) return ['SERVICE LOCKED', 'TRY LATER'];
        if (s.matches({ pinGuard: 'waiting' })) return ['SERVICE MODE', 'PLEASE WAIT'];
        return ['SERVICE MODE', ctx.pin.entry === '' ? 'ENTER PIN' : `PIN ${'*'.repeat(ctx.pin.entry.length)}`];
      }
      return ['SERVICE MODE', ctx.debt > 0 ? `DEBT ${money(ctx, ctx.debt)}` : 'DOOR OPEN'];
    case 'outOfService':
      return ['OUT OF SERVICE', ctx.credit > 0 ? `CREDIT ${money(ctx, ctx.credit)}` : (outOfServiceReason(ctx) ?? '')];
    case 'authorising':
      return ['AUTHORISING', 'PLEASE WAIT'];
    case 'vending':
    case 'afterVend': {
      const v = ctx.vend;
      return [v ? `VENDING ${v.column}` : 'VENDING', v ? (ctx.catalog[v.column]?.product ?? '') : ''];
    }
    case 'paying':
      return [ctx.payout?.reason === 'refund' ? 'REFUND' : 'YOUR CHANGE', money(ctx, ctx.payout?.amount ?? 0)];
    case 'session':
    case 'creditExpired':
      if (ctx.credit > 0) return [`CREDIT ${money(ctx, ctx.credit)}`, entry ?? 'MAKE SELECTION'];
      return [
        ctx.card?.funds != null ? `CARD ${money(ctx, ctx.card.funds)}` : 'CARD READY',
        entry ?? 'MAKE SELECTION',
      ];
    case 'idle':
      if (exactChangeOnly(ctx.tubes, ctx.settings.policy.lowTubeLevels)) return ['EXACT CHANGE', entry ?? 'ONLY'];
      return ['INSERT MONEY', entry ?? (ctx.links.card !== undefined && deviceUsable(ctx, 'card') ? 'OR TAP CARD' : 'THEN SELECT')];
  }
}

export interface Acceptance {
  readonly coins: readonly number[];
  readonly bills: readonly number[];
  readonly card: boolean;
}

const NONE: Acceptance = { coins: [], bills: [], card: false };

/**
 * The change-making checks behind acceptance depend only on credit, tubes and the catalog's top
 * price; snapshots change far more often than those, so the last answer is kept.
 */
let memo: { ctx: VmcContext; credit: number; tubes: VmcContext['tubes']; top: number; coins: number[]; bills: number[] } | null = null;

/** Which coins and bills the payment devices should take now, and whether the card reader is on. */
export function acceptance(s: VmcSnapshot): Acceptance {
  const ctx = s.context;
  const state = salesState(s);
  if (state === 'service' || state === 'outOfService') return NONE;
  // The journal cannot take more: no new money, by any means, until it can.
  if (ctx.storage.status !== 'ok') return NONE;
  const card = deviceUsable(ctx, 'card') && ctx.links.card !== undefined;
  if (state !== 'idle' && state !== 'session') return { coins: [], bills: [], card };
  const top = highestAvailablePrice(ctx.catalog);
  if (
    !memo ||
    memo.credit !== ctx.credit ||
    memo.tubes !== ctx.tubes ||
    memo.top !== top ||
    memo.ctx.settings.policy !== ctx.settings.policy ||
    memo.ctx.settings.coins !== ctx.settings.coins ||
    memo.ctx.settings.bills !== ctx.settings.bills
  ) {
    const input = {
      credit: ctx.credit,
      tubes: ctx.tubes,
      coins: ctx.settings.coins,
      bills: ctx.settings.bills,
      maxCredit: ctx.settings.policy.maxCredit,
      highestPrice: top,
      acceptOnlyIfChangeable: ctx.settings.policy.acceptOnlyIfChangeable,
    };
    memo = { ctx, credit: ctx.credit, tubes: ctx.tubes, top, coins: acceptedCoins(input), bills: acceptedBills(input) };
  }
  return {
    coins: deviceUsable(ctx, 'coin') ? memo.coins : [],
    bills: ctx.links.bill !== undefined && deviceUsable(ctx, 'bill') ? memo.bills : [],
    card,
  };
}

export function sameList(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
