/**
 * Test helper: turns arbitrary "intents" (what a customer, the machine or the operator tries to do)
 * into a VALID MachineEvent sequence, the way a correct controller would emit it. Property tests
 * feed it fast-check intents; invalid intents (vend without credit, payout with nothing to pay) are
 * skipped, so every generated sequence obeys money-model.md.
 */
import fc from 'fast-check';
import type { MachineEvent } from '../../src/controller/events.ts';

export const COINS = [5, 10, 20, 50, 100, 200] as const;
export const BILLS = [500, 1000, 2000] as const;
export const COLUMNS = ['A1', 'A2', 'B1', 'B2', 'C1'] as const;
const FAULTS = ['COIN_JAM', 'MOTOR_FAULT', 'BILL_JAM'] as const;

export type Intent =
  | { readonly k: 'coin'; readonly value: number; readonly tube: boolean }
  | { readonly k: 'reject'; readonly value: number }
  | { readonly k: 'bill'; readonly value: number; readonly stack: boolean }
  | { readonly k: 'vend'; readonly col: number; readonly price: number; readonly payment: 'cash' | 'card' | 'test' | 'free'; readonly ok: boolean }
  | { readonly k: 'cardDenied'; readonly col: number }
  | { readonly k: 'payout'; readonly reason: 'change' | 'refund'; readonly dropCoins: number }
  | { readonly k: 'debtPayout'; readonly fraction: number }
  | { readonly k: 'settle'; readonly how: 'paid' | 'writtenOff'; readonly fraction: number }
  | { readonly k: 'overpay'; readonly fraction: number }
  | { readonly k: 'servicePayout'; readonly coins: number }
  | { readonly k: 'tubes' }
  | { readonly k: 'door' }
  | { readonly k: 'fault'; readonly code: number; readonly clear: boolean }
  | { readonly k: 'stock'; readonly col: number; readonly stock: number }
  | { readonly k: 'price'; readonly col: number; readonly price: number }
  | { readonly k: 'powerUp' }
  | { readonly k: 'auditRead' };

const price = fc.integer({ min: 1, max: 30 }).map((n) => n * 10);
const col = fc.integer({ min: 0, max: COLUMNS.length - 1 });
const fraction = fc.integer({ min: 0, max: 100 });

export const intentArb: fc.Arbitrary<Intent> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ k: fc.constant('coin' as const), value: fc.constantFrom(...COINS), tube: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('reject' as const), value: fc.constantFrom(...COINS) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('bill' as const), value: fc.constantFrom(...BILLS), stack: fc.boolean() }) },
  {
    weight: 6,
    arbitrary: fc.record({
      k: fc.constant('vend' as const),
      col,
      price,
      payment: fc.constantFrom('cash' as const, 'cash' as const, 'card' as const, 'test' as const, 'free' as const),
      ok: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('cardDenied' as const), col }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('payout' as const), reason: fc.constantFrom('change' as const, 'refund' as const), dropCoins: fc.integer({ min: 0, max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('debtPayout' as const), fraction }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('settle' as const), how: fc.constantFrom('paid' as const, 'writtenOff' as const), fraction }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('overpay' as const), fraction }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('servicePayout' as const), coins: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('tubes' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('door' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('fault' as const), code: fc.integer({ min: 0, max: FAULTS.length - 1 }), clear: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('stock' as const), col, stock: fc.integer({ min: 0, max: 10 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('price' as const), col, price }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('powerUp' as const) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('auditRead' as const) }) },
);

/** Fewest coins for `amount` from unlimited coins (the amounts here are multiples of 5). */
export function greedyPlan(amount: number): Record<number, number> {
  const plan: Record<number, number> = {};
  let left = amount;
  for (const d of [...COINS].reverse()) {
    const n = Math.floor(left / d);
    if (n > 0) plan[d] = n;
    left -= n * d;
  }
  return plan;
}

/** The plan without its `drop` smallest coins (a jam stops the last coins). */
function withoutCoins(plan: Record<number, number>, drop: number): Record<number, number> {
  const out = { ...plan };
  let left = drop;
  for (const d of COINS) {
    while (left > 0 && (out[d] ?? 0) > 0) {
      out[d] = (out[d] ?? 0) - 1;
      left -= 1;
    }
  }
  return out;
}

function value(counts: Record<number, number>): number {
  return Object.entries(counts).reduce((s, [d, n]) => s + Number(d) * n, 0);
}

/** Intents → a valid event sequence. */
export function eventsFor(intents: readonly Intent[]): MachineEvent[] {
  const out: MachineEvent[] = [];
  let credit = 0;
  let debt = 0;
  let doorOpen = false;
  const stock: Record<string, number> = {};
  const tubes: Record<number, number> = { 5: 20, 10: 20, 20: 20, 50: 20, 100: 10, 200: 10 };
  const openFaults = new Set<string>();
  let attempt = 0;
  for (const it of intents) {
    switch (it.k) {
      case 'coin':
        out.push({ type: 'coinInserted', value: it.value, routing: it.tube ? 'tube' : 'cashbox' });
        credit += it.value;
        if (it.tube) tubes[it.value] = (tubes[it.value] ?? 0) + 1;
        break;
      case 'reject':
        out.push({ type: 'coinRejected', value: it.value });
        break;
      case 'bill':
        out.push({ type: 'billEscrowed', value: it.value });
        if (it.stack) {
          out.push({ type: 'billStacked', value: it.value });
          credit += it.value;
        } else out.push({ type: 'billReturned', value: it.value });
        break;
      case 'vend': {
        const column = COLUMNS[it.col] ?? 'A1';
        if (it.payment === 'cash' && credit < it.price) break;
        if (it.payment === 'card') {
          out.push({ type: 'cardSessionBegan', funds: null });
          out.push({ type: 'cardVendApproved', column, amount: it.price });
        }
        attempt += 1;
        out.push({ type: 'vendStarted', column, price: it.price, payment: it.payment, attempt });
        if (it.ok) {
          out.push({ type: 'vendSucceeded', column, price: it.price, payment: it.payment });
          if (it.payment === 'cash') credit -= it.price;
          const s = Math.max(0, (stock[column] ?? 10) - 1);
          stock[column] = s;
          out.push({ type: 'stockChanged', column, stock: s, why: 'vend' });
        } else {
          out.push({ type: 'vendFailed', column, price: it.price, payment: it.payment, reason: 'noDrop' });
          out.push({ type: 'columnMarked', column, mark: 'failed' });
        }
        if (it.payment === 'card') out.push({ type: 'cardSessionEnded' });
        break;
      }
      case 'cardDenied': {
        const column = COLUMNS[it.col] ?? 'A1';
        out.push({ type: 'cardSessionBegan', funds: 500 });
        out.push({ type: 'cardVendDenied', column, reason: 'denied' });
        out.push({ type: 'cardSessionEnded' });
        break;
      }
      case 'payout': {
        if (credit === 0) break;
        const plan = greedyPlan(credit);
        const paid = withoutCoins(plan, it.dropCoins);
        const paidValue = value(paid);
        out.push({ type: 'payoutPlanned', amount: credit, plan, reason: it.reason });
        out.push({ type: 'payoutDone', amount: credit, paid, paidValue, reason: it.reason });
        const short = credit - paidValue;
        credit = 0;
        if (short > 0) {
          debt += short;
          out.push({ type: 'debtRecorded', amount: short, total: debt });
        }
        break;
      }
      case 'debtPayout': {
        const amount = Math.floor((debt * it.fraction) / 100 / 5) * 5;
        if (amount === 0) break;
        const plan = greedyPlan(amount);
        out.push({ type: 'payoutPlanned', amount, plan, reason: 'debt' });
        out.push({ type: 'payoutDone', amount, paid: plan, paidValue: amount, reason: 'debt' });
        debt -= amount;
        break;
      }
      case 'settle': {
        const amount = Math.floor((debt * it.fraction) / 100);
        if (amount === 0) break;
        debt -= amount;
        out.push({ type: 'debtSettled', amount, how: it.how, total: debt });
        break;
      }
      case 'overpay': {
        const amount = Math.floor((credit * it.fraction) / 100);
        if (amount === 0) break;
        credit -= amount;
        out.push({ type: 'overpayKept', amount, why: 'noChange' });
        break;
      }
      case 'servicePayout': {
        const plan = { 5: it.coins };
        out.push({ type: 'payoutPlanned', amount: 5 * it.coins, plan, reason: 'service' });
        out.push({ type: 'payoutDone', amount: 5 * it.coins, paid: plan, paidValue: 5 * it.coins, reason: 'service' });
        break;
      }
      case 'tubes':
        out.push({ type: 'tubesRead', levels: { ...tubes } });
        break;
      case 'door':
        doorOpen = !doorOpen;
        out.push({ type: 'door', state: doorOpen ? 'open' : 'closed' });
        break;
      case 'fault': {
        const code = FAULTS[it.code] ?? 'COIN_JAM';
        const device = code === 'BILL_JAM' ? 'bill' : code === 'COIN_JAM' ? 'coin' : 'motors';
        if (it.clear && openFaults.has(code)) {
          openFaults.delete(code);
          out.push({ type: 'faultCleared', code, device });
        } else {
          openFaults.add(code);
          out.push({ type: 'faultRaised', code, device });
        }
        break;
      }
      case 'stock': {
        const column = COLUMNS[it.col] ?? 'A1';
        stock[column] = it.stock;
        out.push({ type: 'stockChanged', column, stock: it.stock, why: 'refill' });
        break;
      }
      case 'price':
        out.push({ type: 'priceChanged', column: COLUMNS[it.col] ?? 'A1', price: it.price });
        break;
      case 'powerUp':
        out.push({ type: 'serviceAction', action: 'powerUp' });
        break;
      case 'auditRead':
        out.push({ type: 'serviceAction', action: 'auditRead' });
        break;
    }
  }
  return out;
}

export const eventsArb: fc.Arbitrary<MachineEvent[]> = fc.array(intentArb, { maxLength: 80 }).map(eventsFor);
