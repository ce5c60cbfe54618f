/**
 * The money ledger as a pure fold over `MachineEvent`s (money-model.md "events as moves"): every
 * event that moves money is one move between named places, so the conservation invariants are a
 * few lines of arithmetic that tests (and recovery) can check after every step.
 *
 * The ledger mirrors what the controller says happened; it does not second-guess a move. A move
 * that cannot be right (credit or debt would go negative, a second bill in escrow, a card sale with
 * no approval) is still applied, so the arithmetic stays balanced, but it is recorded as an anomaly
 * that `checkConservation` reports for ever after: a transient error must not heal silently.
 *
 * What the ledger assumes of the event stream (the controller's side of the contract):
 * - a card `vendSucceeded`/`vendFailed` is the final outcome of the open approval, one per
 *   `cardVendApproved` (retries inside one approval are not separate outcomes);
 * - `debtRecorded.total` / `debtSettled.total` are the machine's total debt after the event;
 * - a debt is paid either by the machine (`payoutDone` reason debt) or by hand (`debtSettled` paid),
 *   never both for the same money.
 */
import type { MachineEvent } from '../controller/events.ts';
import type { Minor } from '../ports/index.ts';

/** A card approval that has not been settled yet (by `vendSucceeded` or `vendFailed` with card). */
export interface OpenCardApproval {
  readonly column: string;
  readonly amount: Minor;
}

/** All amounts in integer minor units. */
export interface Ledger {
  /** Cash that entered the machine: coins routed to tubes or cashbox plus bills stacked. */
  readonly inserted: Minor;
  readonly toTubes: Minor;
  readonly toCashbox: Minor;
  readonly billsStacked: Minor;
  /** Value of paid cash vends. */
  readonly cashSales: Minor;
  /** Value of card vends that succeeded (charged). */
  readonly cardSales: Minor;
  /** Value of card vends the reader approved. */
  readonly cardApproved: Minor;
  /** Value of approved card vends that failed and so were not charged. */
  readonly cardReverted: Minor;
  /** Everything that reached the customer's hand: change, refunds, debt payouts, debts paid by hand. */
  readonly paidOut: Minor;
  /** Cash credit the machine holds for the customer now. */
  readonly credit: Minor;
  /** Money owed to customers after short payouts, until settled. */
  readonly debt: Minor;
  /** Credit kept by policy (no change possible, credit expired). */
  readonly overpay: Minor;
  /** Debt written off in service (recorded, not paid). */
  readonly writtenOff: Minor;
  /** Coins taken out of the tubes in service (tube emptying): machine side only, not customer money. */
  readonly servicePaidOut: Minor;
  /** The bill held in the validator now (not credit), or null. */
  readonly escrow: Minor | null;
  /** The card approval awaiting its vend outcome, or null when no card vend is open. */
  readonly cardOpen: OpenCardApproval | null;
  /** Moves that cannot be right, in order (the first few; see `anomalyCount`). */
  readonly anomalies: readonly string[];
  readonly anomalyCount: number;
}

/** Anomaly texts kept in the ledger; the count keeps going, so a flood cannot grow the snapshot. */
export const MAX_ANOMALIES = 20;

export function emptyLedger(): Ledger {
  return {
    inserted: 0,
    toTubes: 0,
    toCashbox: 0,
    billsStacked: 0,
    cashSales: 0,
    cardSales: 0,
    cardApproved: 0,
    cardReverted: 0,
    paidOut: 0,
    credit: 0,
    debt: 0,
    overpay: 0,
    writtenOff: 0,
    servicePaidOut: 0,
    escrow: null,
    cardOpen: null,
    anomalies: [],
    anomalyCount: 0,
  };
}

function isAmount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** True while a card vend is approved but not yet settled (the card invariant is then pending). */
export function hasOpenCardVend(ledger: Ledger): boolean {
  return ledger.cardOpen !== null;
}

type Draft = { -readonly [K in keyof Ledger]: Ledger[K] };

function amount(problems: string[], type: string, name: string, v: unknown): number {
  if (isAmount(v)) return v;
  problems.push(`${type}: ${name} ${JSON.stringify(v)} is not a whole non-negative amount of minor units`);
  // A bad amount moves nothing rather than poisoning every total with NaN.
  return 0;
}

function takeCredit(n: Draft, problems: string[], v: number, why: string): void {
  if (v > n.credit) problems.push(`${why}: takes ${v} from credit ${n.credit} (credit would go negative)`);
  n.credit -= v;
}

function takeDebt(n: Draft, problems: string[], v: number, why: string): void {
  if (v > n.debt) problems.push(`${why}: takes ${v} from debt ${n.debt} (debt would go negative)`);
  n.debt -= v;
}

function closeCard(n: Draft, problems: string[], type: string, column: string, price: number): void {
  const open = n.cardOpen;
  if (open === null) problems.push(`${type} card ${column} ${price}: no card approval is open`);
  // An approval covers a price: the controller may deliver from another column of the same product.
  else if (open.amount !== price) problems.push(`${type} card ${column} ${price}: the open approval is ${open.column} ${open.amount}`);
  n.cardOpen = null;
}

/**
 * One event applied to the ledger. Pure: returns a new ledger (the same object when the event
 * moves no money) and never mutates its input.
 */
export function applyEvent(ledger: Ledger, event: MachineEvent): Ledger {
  switch (event.type) {
    case 'coinInserted':
    case 'billEscrowed':
    case 'billReturned':
    case 'billStacked':
    case 'cardVendApproved':
    case 'payoutDone':
    case 'debtRecorded':
    case 'debtSettled':
    case 'overpayKept':
      break;
    case 'vendSucceeded':
    case 'vendFailed':
      // Test and free vends, and failed cash vends, move no money (counters count them).
      if (event.payment === 'card' || (event.type === 'vendSucceeded' && event.payment === 'cash')) break;
      return ledger;
    default:
      // Rejections, sessions, vendStarted, marks, tubes, doors, faults, prices, stock and service
      // actions move no customer money.
      return ledger;
  }

  // One shallow copy per money event, then plain field updates, and no closures created per
  // event: keeps the fold fast enough to replay a year of events.
  const n: Draft = { ...ledger };
  const problems: string[] = [];
  switch (event.type) {
    case 'coinInserted': {
      const v = amount(problems, event.type, 'value', event.value);
      n.inserted += v;
      n.credit += v;
      if (event.routing === 'tube') n.toTubes += v;
      else n.toCashbox += v;
      break;
    }
    case 'billEscrowed': {
      const v = amount(problems, event.type, 'value', event.value);
      // money-model.md invariant 3: one bill at a time can be held.
      if (n.escrow !== null) problems.push(`billEscrowed ${v}: bill ${n.escrow} is still in escrow`);
      n.escrow = v;
      break;
    }
    case 'billReturned': {
      const v = amount(problems, event.type, 'value', event.value);
      if (n.escrow === null) problems.push(`billReturned ${v}: no bill in escrow`);
      else if (n.escrow !== v) problems.push(`billReturned ${v}: escrow holds ${n.escrow}`);
      n.escrow = null;
      break;
    }
    case 'billStacked': {
      const v = amount(problems, event.type, 'value', event.value);
      // A stack with an empty escrow is allowed (validators run without escrow); a different
      // bill in escrow is not: the held bill would vanish.
      if (n.escrow !== null && n.escrow !== v) problems.push(`billStacked ${v}: escrow holds ${n.escrow}`);
      n.escrow = null;
      n.inserted += v;
      n.credit += v;
      n.billsStacked += v;
      break;
    }
    case 'cardVendApproved': {
      const v = amount(problems, event.type, 'amount', event.amount);
      if (n.cardOpen !== null) problems.push(`cardVendApproved ${event.column} ${v}: approval ${n.cardOpen.column} ${n.cardOpen.amount} is still open`);
      n.cardApproved += v;
      n.cardOpen = { column: event.column, amount: v };
      break;
    }
    case 'vendSucceeded': {
      const price = amount(problems, event.type, 'price', event.price);
      if (event.payment === 'cash') {
        takeCredit(n, problems, price, `vendSucceeded cash ${event.column}`);
        n.cashSales += price;
      } else {
        closeCard(n, problems, event.type, event.column, price);
        n.cardSales += price;
      }
      break;
    }
    case 'vendFailed': {
      // Only card reaches here: a failed card vend is reverted (not charged).
      const price = amount(problems, event.type, 'price', event.price);
      closeCard(n, problems, event.type, event.column, price);
      n.cardReverted += price;
      break;
    }
    case 'payoutDone': {
      const v = amount(problems, event.type, 'paidValue', event.paidValue);
      if (event.reason === 'change' || event.reason === 'refund') {
        takeCredit(n, problems, v, `payoutDone ${event.reason}`);
        n.paidOut += v;
      } else if (event.reason === 'debt') {
        takeDebt(n, problems, v, 'payoutDone debt');
        n.paidOut += v;
      } else {
        // Tube emptying in service: the coins were the machine's, no customer money moves.
        n.servicePaidOut += v;
      }
      break;
    }
    case 'debtRecorded': {
      const v = amount(problems, event.type, 'amount', event.amount);
      takeCredit(n, problems, v, 'debtRecorded');
      n.debt += v;
      if (event.total !== n.debt) problems.push(`debtRecorded: total ${event.total} but the ledger's debt is ${n.debt}`);
      break;
    }
    case 'debtSettled': {
      const v = amount(problems, event.type, 'amount', event.amount);
      takeDebt(n, problems, v, `debtSettled ${event.how}`);
      if (event.how === 'paid') n.paidOut += v;
      else n.writtenOff += v;
      if (event.total !== n.debt) problems.push(`debtSettled: total ${event.total} but the ledger's debt is ${n.debt}`);
      break;
    }
    case 'overpayKept': {
      const v = amount(problems, event.type, 'amount', event.amount);
      takeCredit(n, problems, v, 'overpayKept');
      n.overpay += v;
      break;
    }
    default:
      break;
  }

  if (problems.length > 0) {
    const room = Math.max(0, MAX_ANOMALIES - n.anomalies.length);
    if (room > 0) n.anomalies = [...n.anomalies, ...problems.slice(0, room)];
    n.anomalyCount += problems.length;
  }
  return n;
}

/** Folds a whole sequence from `start` (default: an empty ledger). */
export function foldLedger(events: Iterable<MachineEvent>, start: Ledger = emptyLedger()): Ledger {
  let l = start;
  for (const e of events) l = applyEvent(l, e);
  return l;
}

const AMOUNT_FIELDS = [
  'inserted',
  'toTubes',
  'toCashbox',
  'billsStacked',
  'cashSales',
  'cardSales',
  'cardApproved',
  'cardReverted',
  'paidOut',
  'credit',
  'debt',
  'overpay',
  'writtenOff',
  'servicePaidOut',
] as const satisfies readonly (keyof Ledger)[];

/**
 * The invariants of money-model.md that the ledger alone can check, as readable text; an empty
 * list means all hold. Recorded anomalies are included, so a move that was wrong once stays visible.
 */
export function checkConservation(ledger: Ledger): string[] {
  const out: string[] = [];
  for (const f of AMOUNT_FIELDS) {
    const v = ledger[f];
    if (!Number.isSafeInteger(v)) out.push(`${f} = ${String(v)} is not a whole number of minor units`);
  }
  for (const f of ['credit', 'debt'] as const) if (ledger[f] < 0) out.push(`${f} is negative: ${ledger[f]}`);
  if (ledger.escrow !== null && !isAmount(ledger.escrow)) out.push(`escrow = ${String(ledger.escrow)} is not a valid amount`);

  // What went in is exactly what came in by route.
  const byRoute = ledger.toTubes + ledger.toCashbox + ledger.billsStacked;
  if (ledger.inserted !== byRoute)
    out.push(`inserted ${ledger.inserted} ≠ toTubes ${ledger.toTubes} + toCashbox ${ledger.toCashbox} + billsStacked ${ledger.billsStacked} = ${byRoute}`);

  // money-model.md invariant 1 (customer side), with written-off debt as its own place.
  const accounted = ledger.cashSales + ledger.paidOut + ledger.credit + ledger.debt + ledger.overpay + ledger.writtenOff;
  if (ledger.inserted !== accounted)
    out.push(
      `cash conservation: inserted ${ledger.inserted} ≠ cashSales ${ledger.cashSales} + paidOut ${ledger.paidOut} + credit ${ledger.credit}` +
        ` + debt ${ledger.debt} + overpay ${ledger.overpay} + writtenOff ${ledger.writtenOff} = ${accounted}`,
    );

  // Cashless: approved = charged + reverted, once the open approval (if any) is settled.
  const open = ledger.cardOpen?.amount ?? 0;
  const settled = ledger.cardSales + ledger.cardReverted + open;
  if (ledger.cardApproved !== settled)
    out.push(
      `card: approved ${ledger.cardApproved} ≠ sales ${ledger.cardSales} + reverted ${ledger.cardReverted}` +
        (open > 0 ? ` + open ${open}` : '') +
        ` = ${settled}`,
    );

  out.push(...ledger.anomalies);
  if (ledger.anomalyCount > ledger.anomalies.length) out.push(`… and ${ledger.anomalyCount - ledger.anomalies.length} more anomalies`);
  return out;
}
