/**
 * Rebuilding the machine's state after a restart by folding the journal from its latest snapshot
 * (money-model.md "power cuts"). The fold is pure (`applyMachineEvent`), so recovery from a
 * snapshot and a full replay give the same state, and tests can check both.
 *
 * In-flight policy (what a cut in the middle of a physical act means; the controller settles these
 * before it sells again, by journalling the outcome as ordinary events):
 *
 * - Vend: a `vendStarted` with no `vendSucceeded`/`vendFailed` after it is treated as NOT
 *   delivered. No money moved (a cash vend only takes credit on `vendSucceeded`), so the credit
 *   stays; the column is listed in `columnsToCheck` because the spiral may have turned and the
 *   product may be in the bin or stuck. The controller journals `vendFailed` (cash: nothing moves;
 *   card: the approval is reverted, not charged) and marks the column for a check.
 * - Card approval with no outcome (`inFlight.card`): the reader approved, nothing was delivered as
 *   far as the journal knows, so the controller reports a failed vend to the reader and journals
 *   `vendFailed` with payment card.
 * - Payout: a `payoutPlanned` with no `payoutDone` may have paid any part of the plan. The
 *   controller re-reads the tube levels and compares them with `inFlight.payout.tubesBefore` (the
 *   levels the journal implies at the moment of the plan) via `settleInterruptedPayout`, then
 *   journals `payoutDone` with what evidently left the tubes. When the evidence is clear, the rest
 *   may be paid again; when it is not, the unpaid rest is journalled as `debtRecorded` (owed and
 *   visible to service) rather than paid twice.
 * - Escrow: a bill held at the cut (`inFlight.escrow`) is not credit; the validator's status tells
 *   whether it was stacked or returned, and the controller journals that.
 *
 * Because credit moves only on journalled outcomes, and each outcome is journalled once, a cut can
 * neither make money vanish nor credit it twice.
 */
import { applyCounterEvent, emptyCounters } from '../audit/counters.ts';
import type { Counters } from '../audit/counters.ts';
import { applyEvent, checkConservation, emptyLedger } from '../audit/ledger.ts';
import type { Ledger, OpenCardApproval } from '../audit/ledger.ts';
import type { MachineEvent, PaymentKind, PayoutReason } from '../controller/events.ts';
import type { CoinCounts, Minor } from '../ports/index.ts';
import { JournalError, isJournalError, type Journal } from './store.ts';
import { applyPinEvent, NO_PIN_RECORD, type PinRecord } from '../controller/pin.ts';

export type ColumnMark = 'failed' | 'jammed' | 'soldOut' | 'ok';

export interface InFlightVend {
  readonly column: string;
  readonly price: Minor;
  readonly payment: PaymentKind;
  readonly attempt: number;
}

export interface InFlightPayout {
  readonly amount: Minor;
  readonly plan: CoinCounts;
  readonly reason: PayoutReason;
  /** Tube levels the journal implies just before the plan (null if never read). */
  readonly tubesBefore: CoinCounts | null;
  /**
   * The changer reported its tube levels after the plan (it does so at the end of a payout): those
   * levels already count the coins paid, so `payoutDone` must not take them off again.
   */
  readonly tubesReported?: boolean;
}

export interface InFlight {
  readonly vend?: InFlightVend;
  readonly payout?: InFlightPayout;
  readonly card?: OpenCardApproval;
  readonly escrow?: Minor;
}

export interface OpenFault {
  readonly code: string;
  readonly device: string;
  /** Shown but not stopping sales (restored as such). */
  readonly advisory?: boolean;
  readonly detail?: string;
}

/** The fault that keeps a machine whose books do not balance out of service until acknowledged. */
export const BOOKS_FAULT = 'JOURNAL_BOOKS';

/**
 * What makes the books unbalanced, as one comparable text: the gaps of each conservation check and
 * the anomaly count. Clearing `JOURNAL_BOOKS` acknowledges this signature; a different imbalance
 * later (a new gap or anomaly) stops sales again.
 */
export function booksSignature(ledger: Ledger): string {
  const route = ledger.inserted - (ledger.toTubes + ledger.toCashbox + ledger.billsStacked);
  const cash = ledger.inserted - (ledger.cashSales + ledger.paidOut + ledger.credit + ledger.debt + ledger.overpay + ledger.writtenOff);
  const card = ledger.cardApproved - (ledger.cardSales + ledger.cardReverted + (ledger.cardOpen?.amount ?? 0));
  return `route ${route}, cash ${cash}, card ${card}, anomalies ${ledger.anomalyCount}, negative ${ledger.credit < 0 || ledger.debt < 0}`;
}

/** Version of the snapshot format below; a snapshot of another version is ignored (full replay). */
export const MACHINE_STATE_VERSION = 1;

/** Everything the journal can rebuild. Stored as the snapshot state. */
export interface MachineState {
  readonly version: typeof MACHINE_STATE_VERSION;
  readonly ledger: Ledger;
  readonly counters: Counters;
  /** Stock by column, as last journalled (columns never journalled are absent: use the config). */
  readonly stock: Readonly<Record<string, number>>;
  /** Prices by column, as last changed (absent: use the config). */
  readonly prices: Readonly<Record<string, Minor>>;
  readonly columnMarks: Readonly<Record<string, ColumnMark>>;
  /** Last tube read, advanced by coins routed to tubes and coins paid out since (null: never read). */
  readonly tubes: CoinCounts | null;
  readonly openFaults: readonly OpenFault[];
  /** Wrong service PINs and lockouts (a lockout survives a restart); absent in older snapshots. */
  readonly pin?: PinRecord;
  readonly pendingVend: InFlightVend | null;
  readonly pendingPayout: InFlightPayout | null;
  /** Events of types this build does not know (journalled by a newer build); skipped. */
  readonly unknownEvents: number;
  /** The imbalance (`booksSignature`) the operator acknowledged by clearing `JOURNAL_BOOKS`. */
  readonly booksAcknowledged?: string | null;
}

export function initialMachineState(): MachineState {
  return {
    version: MACHINE_STATE_VERSION,
    ledger: emptyLedger(),
    counters: emptyCounters(),
    stock: {},
    prices: {},
    columnMarks: {},
    tubes: null,
    openFaults: [],
    pendingVend: null,
    pendingPayout: null,
    unknownEvents: 0,
  };
}

const KNOWN_TYPES: ReadonlySet<string> = new Set<MachineEvent['type']>([
  'coinInserted',
  'coinRejected',
  'slugs',
  'billEscrowed',
  'billStacked',
  'billReturned',
  'cardSessionBegan',
  'cardVendApproved',
  'cardVendDenied',
  'cardSessionEnded',
  'vendStarted',
  'vendSucceeded',
  'vendFailed',
  'columnMarked',
  'payoutPlanned',
  'payoutDone',
  'debtRecorded',
  'debtSettled',
  'overpayKept',
  'tubesRead',
  'tubeFilled',
  'door',
  'faultRaised',
  'faultCleared',
  'priceChanged',
  'stockChanged',
  'serviceAction',
]);

function adjustTubes(tubes: CoinCounts | null, denomination: number, delta: number): CoinCounts | null {
  if (tubes === null) return null;
  const have = tubes[denomination] ?? 0;
  return { ...tubes, [denomination]: Math.max(0, have + delta) };
}

function removePaid(tubes: CoinCounts | null, paid: CoinCounts): CoinCounts | null {
  if (tubes === null) return null;
  let out: CoinCounts = tubes;
  for (const [key, count] of Object.entries(paid)) {
    const d = Number(key);
    if (Number.isSafeInteger(d) && d > 0 && Number.isSafeInteger(count) && count > 0) out = adjustTubes(out, d, -count) ?? out;
  }
  return out;
}

/** One event applied to the whole machine state. Pure. */
export function applyMachineEvent(state: MachineState, event: MachineEvent): MachineState {
  if (!KNOWN_TYPES.has(event.type)) return { ...state, unknownEvents: state.unknownEvents + 1 };
  // One shallow copy per event, then field updates (the fold has to replay long journals).
  const n: { -readonly [K in keyof MachineState]: MachineState[K] } = { ...state };
  n.ledger = applyEvent(state.ledger, event);
  n.counters = applyCounterEvent(state.counters, event);
  switch (event.type) {
    case 'vendStarted':
      n.pendingVend = { column: event.column, price: event.price, payment: event.payment, attempt: event.attempt };
      break;
    case 'vendSucceeded':
    case 'vendFailed':
      n.pendingVend = null;
      break;
    case 'payoutPlanned':
      n.pendingPayout = { amount: event.amount, plan: event.plan, reason: event.reason, tubesBefore: n.tubes };
      break;
    case 'payoutDone':
      // A tube report during the payout already counts the coins paid (as the statechart does).
      if (state.pendingPayout?.tubesReported !== true) n.tubes = removePaid(n.tubes, event.paid);
      n.pendingPayout = null;
      break;
    case 'coinInserted':
    case 'tubeFilled':
      if (event.routing === 'tube') n.tubes = adjustTubes(n.tubes, event.value, 1);
      break;
    case 'tubesRead':
      n.tubes = { ...event.levels };
      if (n.pendingPayout !== null && n.pendingPayout.tubesReported !== true) n.pendingPayout = { ...n.pendingPayout, tubesReported: true };
      break;
    case 'stockChanged':
      n.stock = { ...n.stock, [event.column]: event.stock };
      break;
    case 'priceChanged':
      n.prices = { ...n.prices, [event.column]: event.price };
      break;
    case 'columnMarked':
      n.columnMarks = { ...n.columnMarks, [event.column]: event.mark };
      break;
    case 'faultRaised':
      if (!n.openFaults.some((f) => f.code === event.code && f.device === event.device))
        n.openFaults = [
          ...n.openFaults,
          { code: event.code, device: event.device, ...(event.detail !== undefined ? { detail: event.detail } : {}), ...(event.advisory === true ? { advisory: true } : {}) },
        ];
      break;
    case 'faultCleared':
      n.openFaults = n.openFaults.filter((f) => !(f.code === event.code && f.device === event.device));
      if (event.code === BOOKS_FAULT) n.booksAcknowledged = booksSignature(n.ledger);
      break;
    case 'serviceAction':
      n.pin = applyPinEvent(state.pin ?? NO_PIN_RECORD, event);
      break;
    default:
      break;
  }
  return n;
}

export function foldMachineState(events: Iterable<MachineEvent>, start: MachineState = initialMachineState()): MachineState {
  let s = start;
  for (const e of events) s = applyMachineEvent(s, e);
  return s;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Why a stored snapshot cannot be used, or null when it looks like a `MachineState`. */
export function snapshotProblem(v: unknown): string | null {
  if (!isRecord(v)) return 'not an object';
  if (v.version !== MACHINE_STATE_VERSION) return `version ${JSON.stringify(v.version)}, this build reads ${MACHINE_STATE_VERSION}`;
  const ledger = v.ledger;
  if (!isRecord(ledger)) return 'no ledger';
  for (const f of ['inserted', 'credit', 'debt', 'cashSales', 'paidOut', 'overpay', 'writtenOff', 'cardApproved'])
    if (typeof ledger[f] !== 'number') return `ledger.${f} missing`;
  if (!Array.isArray(ledger.anomalies)) return 'ledger.anomalies missing';
  const counters = v.counters;
  if (!isRecord(counters) || !isRecord(counters.historical) || !isRecord(counters.interim)) return 'no counters';
  for (const f of ['stock', 'prices', 'columnMarks']) if (!isRecord(v[f])) return `${f} missing`;
  if (!Array.isArray(v.openFaults)) return 'openFaults missing';
  if (v.tubes !== null && !isRecord(v.tubes)) return 'tubes malformed';
  return null;
}

function isMachineState(v: unknown): v is MachineState {
  return snapshotProblem(v) === null;
}

export interface RecoveryResult
  extends Pick<MachineState, 'ledger' | 'counters' | 'stock' | 'prices' | 'columnMarks' | 'tubes' | 'openFaults'> {
  /** Acts a cut interrupted, to be settled by the controller (see the policy above); null when none. */
  readonly inFlight: InFlight | null;
  /** Columns to check before selling from them (a vend was under way at the cut). */
  readonly columnsToCheck: readonly string[];
  /** The newest event folded in (0 for an empty journal). */
  readonly lastSeq: number;
  /** The snapshot recovery started from, or null for a full replay. */
  readonly snapshotSeq: number | null;
  /** Why the newest snapshot was not used, when it was not. */
  readonly snapshotIgnored?: string;
  /** Events folded after the snapshot. */
  readonly replayed: number;
  /** `checkConservation` of the recovered ledger: empty when the invariants hold. */
  readonly violations: readonly string[];
  /** The full state, to keep folding or to save as the next snapshot. */
  readonly state: MachineState;
}

export function inFlightOf(state: MachineState): InFlight | null {
  const inFlight: { -readonly [K in keyof InFlight]: InFlight[K] } = {};
  if (state.pendingVend !== null) inFlight.vend = state.pendingVend;
  if (state.pendingPayout !== null) inFlight.payout = state.pendingPayout;
  if (state.ledger.cardOpen !== null) inFlight.card = state.ledger.cardOpen;
  if (state.ledger.escrow !== null) inFlight.escrow = state.ledger.escrow;
  return Object.keys(inFlight).length === 0 ? null : inFlight;
}

export function resultOf(state: MachineState, lastSeq: number, snapshotSeq: number | null, replayed: number, snapshotIgnored?: string): RecoveryResult {
  return {
    ledger: state.ledger,
    counters: state.counters,
    stock: state.stock,
    prices: state.prices,
    columnMarks: state.columnMarks,
    tubes: state.tubes,
    openFaults: state.openFaults,
    inFlight: inFlightOf(state),
    columnsToCheck: state.pendingVend !== null ? [state.pendingVend.column] : [],
    lastSeq,
    snapshotSeq,
    ...(snapshotIgnored !== undefined ? { snapshotIgnored } : {}),
    replayed,
    violations: checkConservation(state.ledger),
    state,
  };
}

export interface RecoverOptions {
  /** Ignore snapshots and replay every event (a check, or when a snapshot is suspect). */
  readonly fullReplay?: boolean;
}

/**
 * Folds the journal from its newest usable snapshot (or from the start). Reads only.
 *
 * Nothing read is trusted blindly: a snapshot must pass its check, be bound to the event chain at
 * its sequence number and have the shape of a `MachineState`, else it is ignored (full replay);
 * every event folded is checked against the chain by the store. Anything that still cannot be
 * folded is a `JournalError` (`JOURNAL_CORRUPT`) naming the file and the event, never a bare error.
 */
export function recover(journal: Journal, options: RecoverOptions = {}): RecoveryResult {
  let state = initialMachineState();
  let from = 0;
  let snapshotSeq: number | null = null;
  const problems: string[] = [];
  if (options.fullReplay !== true) {
    const snap = journal.latestSnapshot(problems);
    if (snap !== null) {
      const problem = snapshotProblem(snap.state);
      const last = journal.lastSeq();
      if (problem !== null) problems.push(`snapshot #${snap.seq}: ${problem}`);
      else if (snap.seq > last) problems.push(`snapshot #${snap.seq} is past the last event #${last}`);
      else if (journal.chainAt(snap.seq) !== null && journal.chainAt(snap.seq) !== snap.chain)
        problems.push(`snapshot #${snap.seq} does not belong to this journal's events (chain mismatch)`);
      else if (isMachineState(snap.state)) {
        state = snap.state;
        from = snap.seq;
        snapshotSeq = snap.seq;
      }
    }
  }
  let lastSeq = from;
  let replayed = 0;
  try {
    for (const entry of journal.readSince(from)) {
      lastSeq = entry.seq;
      state = applyMachineEvent(state, entry.event);
      replayed += 1;
    }
  } catch (e) {
    if (isJournalError(e)) throw e;
    // An event that passed the store's checks but cannot be folded (written before the chain).
    throw new JournalError('JOURNAL_CORRUPT', journal.path, `event #${lastSeq} cannot be folded: ${e instanceof Error ? e.message : String(e)}`, e);
  }
  const ignored = problems.length > 0 ? problems.join('; ') : undefined;
  return resultOf(state, lastSeq, snapshotSeq, replayed, ignored);
}

/** Saves `state` (default: a fresh recovery) as a snapshot at its last sequence number. */
export function takeSnapshot(journal: Journal, at?: { state: MachineState; lastSeq: number }): number {
  const { state, lastSeq } = at ?? recover(journal);
  journal.saveSnapshot(lastSeq, state);
  return lastSeq;
}

export interface PayoutSettlement {
  /** Coins that evidently left the tubes (never more than planned per denomination). */
  readonly paid: CoinCounts;
  readonly paidValue: Minor;
  /** amount − paidValue: still owed to the customer. */
  readonly unpaid: Minor;
  /**
   * True when the tube difference is fully explained by the plan (each denomination dropped by 0
   * to its planned count, nothing else changed). When false, do not pay the rest again: record it
   * as debt for service to check.
   */
  readonly certain: boolean;
  readonly notes: readonly string[];
}

/**
 * What an interrupted payout paid, from the tube levels before the plan and now. Pure; tube counts
 * from a changer are sensor-based, so `certain` is false whenever the numbers do not add up.
 */
export function settleInterruptedPayout(payout: InFlightPayout, tubesNow: CoinCounts): PayoutSettlement {
  const notes: string[] = [];
  const before = payout.tubesBefore;
  if (before === null) {
    return { paid: {}, paidValue: 0, unpaid: payout.amount, certain: false, notes: ['no tube levels before the plan: cannot tell what was paid'] };
  }
  const paid: Record<number, number> = {};
  let paidValue = 0;
  let certain = true;
  const denominations = new Set<number>([...Object.keys(before), ...Object.keys(tubesNow), ...Object.keys(payout.plan)].map(Number));
  for (const d of [...denominations].sort((a, b) => a - b)) {
    if (!Number.isSafeInteger(d) || d <= 0) continue;
    const planned = payout.plan[d] ?? 0;
    const drop = (before[d] ?? 0) - (tubesNow[d] ?? 0);
    if (drop < 0) {
      certain = false;
      notes.push(`tube ${d}: ${-drop} more coins than before the plan`);
    } else if (drop > planned) {
      certain = false;
      notes.push(`tube ${d}: ${drop} coins gone, only ${planned} planned`);
    }
    const n = Math.min(Math.max(drop, 0), planned);
    if (n > 0) {
      paid[d] = n;
      paidValue += n * d;
    }
  }
  return { paid, paidValue, unpaid: Math.max(0, payout.amount - paidValue), certain, notes };
}
