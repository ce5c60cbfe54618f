/**
 * Operator counters as a pure fold over `MachineEvent`s: what a service menu or an EVA-DTS audit
 * shows (field-notes.md §3 C5: historical and resettable counters). Two sets are kept with the same
 * shape: `historical` is never reset; `interim` is reset when an audit is read ("auto MIS reset on
 * DEX read"), which the journal records as `{ type: 'serviceAction', action: 'auditRead' }` so
 * that a replay resets at the same point.
 *
 * Power outages: the controller journals `{ type: 'serviceAction', action: 'powerUp' }` at every
 * start. The very first start of a machine is not an outage, so the first power-up ever seen (in
 * `historical`) is not counted.
 */
import type { MachineEvent, VendFailReason } from '../controller/events.ts';
import type { Minor } from '../ports/index.ts';

/** A number of events and their value (minor units). */
export interface Tally {
  readonly count: number;
  readonly value: Minor;
}

export interface ColumnCounters {
  /** Paid vends (cash + card). */
  readonly paid: Tally;
  readonly cash: Tally;
  readonly card: Tally;
  readonly test: Tally;
  readonly free: Tally;
  readonly failed: number;
}

export interface CounterSet {
  /** Paid vends, cash and cashless together (EVA-DTS VA1). */
  readonly paidVends: Tally;
  readonly cashVends: Tally;
  readonly cardVends: Tally;
  readonly testVends: Tally;
  readonly freeVends: Tally;
  readonly failedVends: number;
  readonly failedByReason: Readonly<Partial<Record<VendFailReason, number>>>;
  readonly byColumn: Readonly<Record<string, ColumnCounters>>;
  /** Paid vends by price (key: the price in minor units as text). */
  readonly byPrice: Readonly<Record<string, Tally>>;
  /** Cash in: coins routed to tubes, coins routed to the cashbox, bills stacked. */
  readonly coinsToTubes: Tally;
  readonly coinsToCashbox: Tally;
  readonly bills: Tally;
  readonly coinsRejected: number;
  /** Coins the mechanism could not identify (slugs, MDB 4.2 §5.3): counted, never credited. */
  readonly slugs: number;
  readonly billsReturned: number;
  /** Payouts by reason (value is what was actually paid). */
  readonly changePaid: Tally;
  readonly refunds: Tally;
  readonly debtPayouts: Tally;
  /** Coins paid out by hand in service (tube emptying): "manually dispensed". */
  readonly servicePayouts: Tally;
  /** Coins put into the tubes (or cashbox) by the operator in service mode. */
  readonly serviceFills: Tally;
  /** Payouts that stopped short of their amount. */
  readonly shortPayouts: number;
  readonly overpay: Tally;
  readonly debtsRecorded: Tally;
  readonly debtsPaid: Tally;
  readonly debtsWrittenOff: Tally;
  readonly cardSessions: number;
  readonly cardApproved: Tally;
  readonly cardDenied: number;
  readonly cardReverted: Tally;
  readonly doorOpenings: number;
  readonly faults: Readonly<Record<string, number>>;
  readonly powerUps: number;
  readonly powerOutages: number;
  /** Times the interim set was reset by an audit read (kept in `historical`; 0 in a fresh interim). */
  readonly auditReads: number;
}

export interface Counters {
  readonly historical: CounterSet;
  readonly interim: CounterSet;
}

const ZERO: Tally = { count: 0, value: 0 };

function emptyColumn(): ColumnCounters {
  return { paid: ZERO, cash: ZERO, card: ZERO, test: ZERO, free: ZERO, failed: 0 };
}

export function emptyCounterSet(): CounterSet {
  return {
    paidVends: ZERO,
    cashVends: ZERO,
    cardVends: ZERO,
    testVends: ZERO,
    freeVends: ZERO,
    failedVends: 0,
    failedByReason: {},
    byColumn: {},
    byPrice: {},
    coinsToTubes: ZERO,
    coinsToCashbox: ZERO,
    bills: ZERO,
    coinsRejected: 0,
    slugs: 0,
    billsReturned: 0,
    changePaid: ZERO,
    refunds: ZERO,
    debtPayouts: ZERO,
    servicePayouts: ZERO,
    serviceFills: ZERO,
    shortPayouts: 0,
    overpay: ZERO,
    debtsRecorded: ZERO,
    debtsPaid: ZERO,
    debtsWrittenOff: ZERO,
    cardSessions: 0,
    cardApproved: ZERO,
    cardDenied: 0,
    cardReverted: ZERO,
    doorOpenings: 0,
    faults: {},
    powerUps: 0,
    powerOutages: 0,
    auditReads: 0,
  };
}

export function emptyCounters(): Counters {
  return { historical: emptyCounterSet(), interim: emptyCounterSet() };
}

/** The interim set back to zero; the historical set keeps everything and counts the read. */
export function resetInterim(counters: Counters): Counters {
  return {
    historical: { ...counters.historical, auditReads: counters.historical.auditReads + 1 },
    interim: emptyCounterSet(),
  };
}

/** Cash in (coins to tubes + cashbox + bills) of one set. */
export function cashIn(set: CounterSet): Minor {
  return set.coinsToTubes.value + set.coinsToCashbox.value + set.bills.value;
}

function add(t: Tally, value: number): Tally {
  // Counters mirror the stream; a malformed amount counts the event but adds no value.
  const v = Number.isSafeInteger(value) && value >= 0 ? value : 0;
  return { count: t.count + 1, value: t.value + v };
}

type Draft = { -readonly [K in keyof CounterSet]: CounterSet[K] };

function vend(n: Draft, column: string, price: number, kind: 'cash' | 'card' | 'test' | 'free'): void {
  const col = n.byColumn[column] ?? emptyColumn();
  let nextCol: ColumnCounters;
  if (kind === 'test') {
    n.testVends = add(n.testVends, price);
    nextCol = { ...col, test: add(col.test, price) };
  } else if (kind === 'free') {
    n.freeVends = add(n.freeVends, price);
    nextCol = { ...col, free: add(col.free, price) };
  } else {
    n.paidVends = add(n.paidVends, price);
    const key = String(price);
    n.byPrice = { ...n.byPrice, [key]: add(n.byPrice[key] ?? ZERO, price) };
    if (kind === 'cash') {
      n.cashVends = add(n.cashVends, price);
      nextCol = { ...col, paid: add(col.paid, price), cash: add(col.cash, price) };
    } else {
      n.cardVends = add(n.cardVends, price);
      nextCol = { ...col, paid: add(col.paid, price), card: add(col.card, price) };
    }
  }
  n.byColumn = { ...n.byColumn, [column]: nextCol };
}

const PAYOUT_FIELD = { change: 'changePaid', refund: 'refunds', debt: 'debtPayouts', service: 'servicePayouts' } as const;

/** Whether the event changes a counter set at all (so unrelated events cost no copy). */
function counts(event: MachineEvent): boolean {
  switch (event.type) {
    case 'coinInserted':
    case 'tubeFilled':
    case 'coinRejected':
    case 'slugs':
    case 'billStacked':
    case 'billReturned':
    case 'cardSessionBegan':
    case 'cardVendApproved':
    case 'cardVendDenied':
    case 'vendSucceeded':
    case 'vendFailed':
    case 'payoutDone':
    case 'overpayKept':
    case 'debtRecorded':
    case 'debtSettled':
    case 'faultRaised':
      return true;
    case 'door':
      return event.state === 'open';
    case 'serviceAction':
      return event.action === 'powerUp';
    default:
      return false;
  }
}

function applyToSet(set: CounterSet, event: MachineEvent, firstPowerUpEver: boolean): CounterSet {
  // One shallow copy per counted event, then field updates (fast enough for long replays).
  const n: Draft = { ...set };
  switch (event.type) {
    case 'coinInserted':
      if (event.routing === 'tube') n.coinsToTubes = add(n.coinsToTubes, event.value);
      else n.coinsToCashbox = add(n.coinsToCashbox, event.value);
      break;
    case 'tubeFilled':
      n.serviceFills = add(n.serviceFills, event.value);
      break;
    case 'coinRejected':
      n.coinsRejected += 1;
      break;
    case 'slugs':
      n.slugs += event.count;
      break;
    case 'billStacked':
      n.bills = add(n.bills, event.value);
      break;
    case 'billReturned':
      n.billsReturned += 1;
      break;
    case 'cardSessionBegan':
      n.cardSessions += 1;
      break;
    case 'cardVendApproved':
      n.cardApproved = add(n.cardApproved, event.amount);
      break;
    case 'cardVendDenied':
      n.cardDenied += 1;
      break;
    case 'vendSucceeded':
      vend(n, event.column, event.price, event.payment);
      break;
    case 'vendFailed': {
      const col = n.byColumn[event.column] ?? emptyColumn();
      n.failedVends += 1;
      n.failedByReason = { ...n.failedByReason, [event.reason]: (n.failedByReason[event.reason] ?? 0) + 1 };
      n.byColumn = { ...n.byColumn, [event.column]: { ...col, failed: col.failed + 1 } };
      if (event.payment === 'card') n.cardReverted = add(n.cardReverted, event.price);
      break;
    }
    case 'payoutDone': {
      const field = PAYOUT_FIELD[event.reason];
      n[field] = add(n[field], event.paidValue);
      if (event.paidValue < event.amount) n.shortPayouts += 1;
      break;
    }
    case 'overpayKept':
      n.overpay = add(n.overpay, event.amount);
      break;
    case 'debtRecorded':
      n.debtsRecorded = add(n.debtsRecorded, event.amount);
      break;
    case 'debtSettled':
      if (event.how === 'paid') n.debtsPaid = add(n.debtsPaid, event.amount);
      else n.debtsWrittenOff = add(n.debtsWrittenOff, event.amount);
      break;
    case 'door':
      n.doorOpenings += 1;
      break;
    case 'faultRaised':
      n.faults = { ...n.faults, [event.code]: (n.faults[event.code] ?? 0) + 1 };
      break;
    case 'serviceAction':
      n.powerUps += 1;
      if (!firstPowerUpEver) n.powerOutages += 1;
      break;
    default:
      break;
  }
  return n;
}

/** One event applied to both sets. Pure; an `auditRead` service action resets the interim set. */
export function applyCounterEvent(counters: Counters, event: MachineEvent): Counters {
  if (event.type === 'serviceAction' && event.action === 'auditRead') return resetInterim(counters);
  if (!counts(event)) return counters;
  const firstEver = counters.historical.powerUps === 0;
  return { historical: applyToSet(counters.historical, event, firstEver), interim: applyToSet(counters.interim, event, firstEver) };
}

export function foldCounters(events: Iterable<MachineEvent>, start: Counters = emptyCounters()): Counters {
  let c = start;
  for (const e of events) c = applyCounterEvent(c, e);
  return c;
}
