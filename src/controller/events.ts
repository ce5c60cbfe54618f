/**
 * Domain events the controller emits, in the past tense, one per money or product move
 * (money-model.md "events as moves"). The journal, the counters, the audit and the UI all consume
 * this one stream; nothing else is needed to rebuild what happened.
 */
import type { CoinCounts, Minor } from '../ports/index.ts';

export type PaymentKind = 'cash' | 'card' | 'test' | 'free';
export type PayoutReason = 'change' | 'refund' | 'debt' | 'service';
/**
 * `uncertain`: the drop beam broke during the vend and stayed broken (blocked), so the sensor cannot
 * tell whether a product fell; the customer is not charged (money-model.md: no drop confirmed) and
 * the audit counts the vend apart, as a product that may be missing from the stock.
 */
export type VendFailReason = 'jam' | 'noDrop' | 'stalled' | 'deviceError' | 'uncertain';

export type MachineEvent =
  | { readonly type: 'coinInserted'; readonly value: Minor; readonly routing: 'tube' | 'cashbox' }
  | { readonly type: 'coinRejected'; readonly value: Minor }
  /** Coins the mechanism could not identify (slugs): an audit count, never money, never a fault. */
  | { readonly type: 'slugs'; readonly count: number }
  | { readonly type: 'billEscrowed'; readonly value: Minor }
  | { readonly type: 'billStacked'; readonly value: Minor }
  | { readonly type: 'billReturned'; readonly value: Minor }
  | { readonly type: 'cardSessionBegan'; readonly funds: Minor | null }
  | { readonly type: 'cardVendApproved'; readonly column: string; readonly amount: Minor }
  | { readonly type: 'cardVendDenied'; readonly column: string; readonly reason: 'denied' | 'timeout' }
  | { readonly type: 'cardSessionEnded' }
  | {
      readonly type: 'vendStarted';
      readonly column: string;
      readonly price: Minor;
      readonly payment: PaymentKind;
      readonly attempt: number;
    }
  | { readonly type: 'vendSucceeded'; readonly column: string; readonly price: Minor; readonly payment: PaymentKind }
  | {
      readonly type: 'vendFailed';
      readonly column: string;
      readonly price: Minor;
      readonly payment: PaymentKind;
      readonly reason: VendFailReason;
    }
  | { readonly type: 'columnMarked'; readonly column: string; readonly mark: 'failed' | 'jammed' | 'soldOut' | 'ok' }
  | { readonly type: 'payoutPlanned'; readonly amount: Minor; readonly plan: CoinCounts; readonly reason: PayoutReason }
  | { readonly type: 'payoutDone'; readonly amount: Minor; readonly paid: CoinCounts; readonly paidValue: Minor; readonly reason: PayoutReason }
  | { readonly type: 'debtRecorded'; readonly amount: Minor; readonly total: Minor }
  | { readonly type: 'debtSettled'; readonly amount: Minor; readonly how: 'paid' | 'writtenOff'; readonly total: Minor }
  | { readonly type: 'overpayKept'; readonly amount: Minor; readonly why: 'noChange' | 'creditExpired' }
  | { readonly type: 'tubesRead'; readonly levels: CoinCounts }
  /** A coin put in during service (tube fill): machine money, never customer credit. */
  | { readonly type: 'tubeFilled'; readonly value: Minor; readonly routing: 'tube' | 'cashbox' }
  | { readonly type: 'door'; readonly state: 'open' | 'closed' }
  /** `advisory`: shown and audited, but it does not stop sales (see Fault in machine.ts). */
  | { readonly type: 'faultRaised'; readonly code: string; readonly device: string; readonly detail?: string; readonly advisory?: boolean }
  | { readonly type: 'faultCleared'; readonly code: string; readonly device: string }
  | { readonly type: 'priceChanged'; readonly column: string; readonly price: Minor }
  | { readonly type: 'stockChanged'; readonly column: string; readonly stock: number; readonly why: 'vend' | 'refill' | 'service' }
  | { readonly type: 'serviceAction'; readonly action: string; readonly detail?: string };

export type MachineEventType = MachineEvent['type'];
