/**
 * Every number that enters the statechart is checked here first, at the controller's boundary:
 * money, coin counts and slug counts must be safe integers within sane limits. A device or a service
 * menu that sends anything else is refused with a message naming the event and the field, and the
 * chart never sees it (a guard or an action given 1e20 coins would otherwise throw or book nonsense).
 */
import type { CoinCounts } from '../ports/index.ts';
import type { VmcEvent } from './machine.ts';

/** The largest amount of money one event may carry, in minor units (far above any coin, bill or price). */
export const MAX_EVENT_MONEY = 100_000_000;
/** The most coins of one denomination an event may name (tube levels, payout plans). */
export const MAX_EVENT_COINS = 100_000;

function money(v: unknown, field: string, min = 0): string | undefined {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min || v > MAX_EVENT_MONEY)
    return `${field} must be a whole number of minor units from ${min} to ${MAX_EVENT_MONEY}, got ${String(v)}`;
  return undefined;
}

function counts(c: CoinCounts, field: string): string | undefined {
  for (const [k, n] of Object.entries(c)) {
    const d = Number(k);
    if (!Number.isSafeInteger(d) || d <= 0 || d > MAX_EVENT_MONEY) return `${field}: ${k} is not a coin value`;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0 || n > MAX_EVENT_COINS)
      return `${field}[${k}] must be a whole number of coins from 0 to ${MAX_EVENT_COINS}, got ${String(n)}`;
  }
  return undefined;
}

/** Why `event` cannot be taken (naming the event and its field), or undefined when it is in bounds. */
export function eventProblem(event: VmcEvent): string | undefined {
  const at = (p: string | undefined): string | undefined => (p === undefined ? undefined : `${event.type}: ${p}`);
  switch (event.type) {
    case 'COIN':
    case 'BILL_ESCROW':
    case 'BILL_STACKED':
    case 'BILL_RETURNED':
      return at(money(event.value, 'value', 1));
    case 'CARD_BEGIN':
      return event.funds === null ? undefined : at(money(event.funds, 'funds'));
    case 'CARD_APPROVED':
      return at(money(event.amount, 'amount'));
    case 'TUBES':
      return at(counts(event.levels, 'levels'));
    case 'PAYOUT_DONE':
      return at(counts(event.paid, 'paid'));
    case 'SERVICE_PAYOUT':
      return at(counts(event.plan, 'plan'));
    case 'SERVICE_SET_PRICE':
      return at(money(event.price, 'price', 1));
    case 'SLUG':
      return Number.isSafeInteger(event.count) && event.count >= 1 && event.count <= 1_000
        ? undefined
        : `SLUG: count must be a whole number from 1 to 1000, got ${String(event.count)}`;
    case 'RECOVERED':
      if (event.payout === undefined) return undefined;
      return at(money(event.payout.amount, 'payout.amount') ?? counts(event.payout.paid, 'payout.paid') ?? counts(event.payout.plan, 'payout.plan'));
    default:
      return undefined;
  }
}
