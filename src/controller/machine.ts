/**
 * The vending statechart (XState v5). Pure: it never touches a device. Device commands are named
 * actions with params whose implementations the controller shell provides (`machine.provide`), and
 * device results come back as ordinary events. What the machine shows (display text, which coins
 * and bills are accepted) is derived from a snapshot by pure functions in `view.ts`.
 *
 * Shape (parallel regions):
 * - door: closed / open (open means service mode for sales).
 * - keypad: empty / letter typed (a digit then completes a selection).
 * - notice: none / showing (a timed message such as a price or SOLD OUT).
 * - beam: clear / broken / blocked (the drop sensor; a break that clears in time is a drop).
 * - pinGuard: ready / waiting / lockedOut (wrong service PINs back off and lock out).
 * - sales: idle → session (credit or a card) → authorising (card) → vending → paying → idle, plus
 *   service (door open) and outOfService (a required device or too many faults).
 *
 * Rule that keeps parallel regions sane: an event is handled either at one place in the sales
 * region (the `sales` node as a fallback, or overridden by a sales sub-state) or in another region,
 * never at the root, so no event is handled twice.
 */
import { not, setup, stateIn } from 'xstate';
import type { CoinCounts, Key, LinkState, Minor } from '../ports/index.ts';
import type { CurrencyConfig, MachineConfig, Policy } from '../config/schema.ts';
import type { MachineEvent, PaymentKind, PayoutReason, VendFailReason } from './events.ts';
import {
  alternativeColumn,
  anyAvailable,
  availability,
  catalogFromConfig,
  clearFailedMarks,
  updateColumn,
  type Catalog,
} from '../catalog/catalog.ts';
import { bestEffortChange, canPay, makeChange } from '../money/change.ts';
import { formatMoney, sumCounts } from '../money/currency.ts';
import { NO_PIN_RECORD, backoffMs, lockoutMs, sanePinRecord, type PinPolicy, type PinRecord } from './pin.ts';

// ------------------------------------------------------------------ context

export interface Vend {
  readonly column: string;
  readonly price: Minor;
  readonly payment: PaymentKind;
  /** Revolutions tried on this column so far (1 = first turn). */
  readonly attempt: number;
  /** Columns already tried for this purchase (for "try another column"). */
  readonly tried: readonly string[];
  /** The drop beam broke during this vend's drop window and never cleared: a product may have fallen. */
  readonly uncertain?: boolean;
}

export interface Payout {
  readonly amount: Minor;
  readonly plan: CoinCounts;
  readonly reason: PayoutReason;
}

export interface Fault {
  readonly code: string;
  readonly device: string;
  readonly detail?: string;
  /** The operator must see it (status, faults list, audit), but it neither stops sales nor counts toward `maxOpenFaults`. */
  readonly advisory?: boolean;
}

export type DeviceName = 'coin' | 'bill' | 'card' | 'keypad' | 'display' | 'dispenser' | 'drop' | 'door';

export interface CardSession {
  /** Funds the reader reported, or null when it does not tell. */
  readonly funds: Minor | null;
}

/** Fixed at start from the config; never assigned. */
export interface Settings {
  readonly policy: Policy;
  readonly currency: CurrencyConfig;
  readonly coins: readonly Minor[];
  readonly bills: readonly Minor[];
  readonly required: Readonly<Record<DeviceName, boolean>>;
  /** The service PIN (config `service.pin`), or null when service needs none. */
  readonly servicePin: string | null;
  /** Back-off and lockout for wrong PINs (config `service.lockout`). */
  readonly pinPolicy: PinPolicy;
}

/** What the drop sensor and the home switches have told the controller so far. */
export interface Sensing {
  /** Drops seen by the sensor since start; a vend compares against the count at its start. */
  readonly drops: number;
  readonly dropsAtVendStart: number;
  readonly beamBroken: boolean;
  /** Failed columns in a row with no drop at all (a blind sensor suspect). */
  readonly noDropStreak: number;
  /** Columns whose spiral stopped away from its home switch (a motor that never returned). */
  readonly awayFromHome: readonly string[];
}

/** Service PIN entry while the door is open, and the wrong-PIN record (kept across door openings). */
export interface PinEntry extends PinRecord {
  /** Digits typed towards the PIN since the door opened or the last CLEAR / wrong PIN. */
  readonly entry: string;
  /** The right PIN was typed since the door opened (kept across test vends and payouts). */
  readonly unlocked: boolean;
}

/**
 * Kept to a few top-level keys on purpose: XState copies the context with `Object.assign` on every
 * assign, and V8 turns an object built that way with 20 or more keys into a slow dictionary (a
 * 20-fold cost per assign). `test/controller/context-shape.test.ts` holds the line.
 */
export interface VmcContext {
  readonly settings: Settings;
  readonly catalog: Catalog;
  /** Cash credit held for the customer now. */
  readonly credit: Minor;
  /** Owed to customers after short payouts, until settled in service. */
  readonly debt: Minor;
  /** What the tubes hold, as far as the controller knows (adopts the changer's reports). */
  readonly tubes: CoinCounts;
  /** The changer reported its tubes since the current payout began (its report wins). */
  readonly tubesReported: boolean;
  /** A bill held in the validator (not credit). */
  readonly escrow: Minor | null;
  readonly card: CardSession | null;
  /** Something was bought with the current credit (for "must buy before refund"). */
  readonly purchased: boolean;
  readonly entry: string;
  readonly notice: readonly string[] | null;
  readonly vend: Vend | null;
  readonly payout: Payout | null;
  readonly sensing: Sensing;
  readonly links: Readonly<Record<string, LinkState['status']>>;
  readonly faults: Readonly<Record<string, Fault>>;
  readonly pin: PinEntry;
  /**
   * The journal's disk: `low` or `failed` stops new money (acceptance off) while the credit held is
   * still shown and honoured; idle, the machine is out of service with the reason shown.
   */
  readonly storage: StorageState;
}

export interface StorageState {
  readonly status: 'ok' | 'low' | 'failed';
  readonly detail?: string;
}

export interface VmcInput {
  readonly config: MachineConfig;
  /** Restored state (crash recovery); omitted on a fresh start. */
  readonly restore?: Partial<Pick<VmcContext, 'catalog' | 'credit' | 'debt' | 'tubes' | 'purchased' | 'faults'>> & { readonly pin?: PinRecord };
}

// ------------------------------------------------------------------ events

export type VmcEvent =
  | { type: 'COIN'; value: Minor; routing: 'tube' | 'cashbox' | 'rejected' }
  | { type: 'TUBES'; levels: CoinCounts }
  | { type: 'RETURN' }
  | { type: 'BILL_ESCROW'; value: Minor }
  | { type: 'BILL_STACKED'; value: Minor }
  | { type: 'BILL_RETURNED'; value: Minor }
  | { type: 'BILL_REJECTED' }
  | { type: 'CARD_BEGIN'; funds: Minor | null }
  | { type: 'CARD_APPROVED'; amount: Minor }
  | { type: 'CARD_DENIED' }
  | { type: 'CARD_CANCEL' }
  | { type: 'CARD_ENDED' }
  | { type: 'KEY'; key: Key }
  | { type: 'SELECT'; column: string }
  | { type: 'HOME_LEFT'; column: string }
  | { type: 'HOME_REACHED'; column: string }
  | { type: 'MOTOR_STALLED'; column: string }
  | { type: 'MOTOR_ERROR'; code: string }
  | { type: 'BEAM'; broken: boolean }
  | { type: 'DOOR'; open: boolean }
  | { type: 'LINK'; device: DeviceName; status: LinkState['status']; code?: string }
  | { type: 'FAULT'; device: DeviceName; code: string; cleared: boolean; detail?: string; advisory?: boolean }
  | { type: 'PAYOUT_DONE'; paid: CoinCounts; complete: boolean; faultCode?: string }
  | { type: 'NOTICE'; lines: readonly string[] }
  /** The journal's storage health (see StorageHealth in the ports). */
  | { type: 'STORAGE'; status: 'ok' | 'low' | 'failed'; detail?: string }
  /** Coins the mechanism could not identify: an audit count, never money, never a fault. */
  | { type: 'SLUG'; count: number }
  | { type: 'NOTICE_CLEAR' }
  /** Raised by the chart itself after a wrong PIN (the PIN guard region decides back-off or lockout). */
  | { type: 'PIN_FAILED' }
  | { type: 'SERVICE_CLEAR_FAULTS' }
  | { type: 'SERVICE_SETTLE_DEBT'; how: 'paid' | 'writtenOff' }
  /** Refill one column (or all) to capacity. */
  | { type: 'SERVICE_REFILL'; column?: string }
  | { type: 'SERVICE_SET_PRICE'; column: string; price: Minor }
  /** Turn a column once without payment (counted as a test vend). */
  | { type: 'SERVICE_TEST_VEND'; column: string }
  /** Pay coins out of the tubes into the operator's hand (emptying or counting tubes). */
  | { type: 'SERVICE_PAYOUT'; plan: CoinCounts }
  /**
   * After a restart: what the journal says was in flight at the cut. Columns whose vend had no
   * outcome are marked for a check; a payout cut part-way is settled with what the tubes say left.
   */
  | { type: 'RECOVERED'; checkColumns: readonly string[]; payout?: Payout & { paid: CoinCounts } };

// ------------------------------------------------------------------ pure helpers

const DIGITS = new Set(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);

function isLetter(k: Key): boolean {
  return k.length === 1 && !DIGITS.has(k);
}

/**
 * Faults that stop sales outright: a blocked or blind drop sensor (VS: no drop could be
 * confirmed), or a fault on a whole required device (a coin or payout jam would turn every sale
 * into a debt). A jammed column (HS/CJ + column) only takes that column out of sale.
 */
function blockingFault(ctx: VmcContext): Fault | undefined {
  return Object.values(ctx.faults).find(
    (f) => f.advisory !== true && (f.code === 'VS' || (ctx.settings.required[f.device as DeviceName] && !COLUMN_FAULT.test(f.code))),
  );
}

/** Faults that count toward `maxOpenFaults` (advisory ones do not). */
function countedFaults(ctx: VmcContext): number {
  let n = 0;
  for (const f of Object.values(ctx.faults)) if (f.advisory !== true) n += 1;
  return n;
}

const COLUMN_FAULT = /^(HS|CJ)[A-J][0-9]$/;

/** Why the machine cannot sell now, or undefined when it can. */
export function outOfServiceReason(ctx: VmcContext): string | undefined {
  for (const [device, status] of Object.entries(ctx.links)) {
    if (status !== 'online' && ctx.settings.required[device as DeviceName]) return `${device.toUpperCase()} ${status.toUpperCase()}`;
  }
  const f = blockingFault(ctx);
  if (f) return `FAULT ${f.code}`;
  // A customer with credit or a card keeps the session: what is held can still be spent or returned.
  if (ctx.storage.status !== 'ok' && !hasCustomer(ctx)) return ctx.storage.status === 'low' ? 'STORAGE FULL' : 'STORAGE FAILED';
  if (countedFaults(ctx) >= ctx.settings.policy.maxOpenFaults) return 'TOO MANY FAULTS';
  if (!anyAvailable(ctx.catalog)) return 'NO SALE';
  return undefined;
}

function hasCustomer(ctx: VmcContext): boolean {
  return ctx.credit > 0 || ctx.card !== null;
}

export function deviceUsable(ctx: VmcContext, device: DeviceName): boolean {
  return (ctx.links[device] ?? 'online') === 'online';
}

function tubesAfterPayout(tubes: CoinCounts, paid: CoinCounts): CoinCounts {
  // The changer's own report replaces this estimate when it comes; never let a count go negative.
  const out: Record<number, number> = { ...tubes };
  for (const [d, n] of Object.entries(paid)) out[Number(d)] = Math.max(0, (out[Number(d)] ?? 0) - n);
  return out;
}

/** The payout plan for `amount`: exact when possible, otherwise the most that can be paid. */
function planPayout(amount: Minor, tubes: CoinCounts): { plan: CoinCounts; value: Minor } {
  const exact = makeChange(amount, tubes);
  if (exact) return { plan: exact, value: amount };
  return bestEffortChange(amount, tubes);
}

// ------------------------------------------------------------------ the machine

/** The most slugs one report can carry that is still taken as a count (MDB: 5 bits, 31). */
const MAX_SLUGS_PER_REPORT = 1_000;

const FOREVER = 2_147_483_647; // the largest delay a timer takes; used with a guard that is false

const base = setup({
  types: {
    context: {} as VmcContext,
    events: {} as VmcEvent,
    input: {} as VmcInput,
    emitted: {} as MachineEvent,
  },
  actions: {
    // Device commands: implemented by the controller shell through `provide`.
    startMotor: (_, _params: { column: string }) => {},
    stopMotor: () => {},
    payout: (_, _params: Payout) => {},
    stackBill: () => {},
    returnBill: () => {},
    cardRequestVend: (_, _params: { price: Minor; item: number }) => {},
    cardVendSucceeded: (_, _params: { item: number }) => {},
    cardVendFailed: () => {},
    cardEndSession: () => {},
  },
  delays: {
    message: ({ context }) => context.settings.policy.messageMs,
    inactivity: ({ context }) => context.settings.policy.inactivityMs,
    saveCredit: ({ context }) => context.settings.policy.saveCreditMs ?? FOREVER,
    leaveHome: ({ context }) => context.settings.policy.vend.leaveHomeMs,
    returnHome: ({ context }) => context.settings.policy.vend.returnHomeMs,
    dropWindow: ({ context }) => context.settings.policy.vend.dropWindowMs,
    beamBlocked: ({ context }) => context.settings.policy.vend.beamBlockedMs,
    cardApproval: ({ context }) => context.settings.policy.cardApprovalTimeoutMs,
    pinBackoff: ({ context }) => backoffMs(context.settings.pinPolicy, context.pin.failures),
    pinLockout: ({ context }) => lockoutMs(context.settings.pinPolicy, context.pin.lockouts),
  },
});

/** Domain actions and guards, named so each transition in the shape below reads as domain language. */
const vmc = base.extend({
  guards: {
    doorOpen: stateIn('#vmc.door.open'),
    mustStop: ({ context }) => outOfServiceReason(context) !== undefined,
    hasCustomer: ({ context }) => hasCustomer(context),
    storageFailed: ({ context }) => context.storage.status === 'failed',
    saveCreditEnabled: ({ context }) => context.settings.policy.saveCreditMs !== null && context.credit > 0,
    dropSeen: ({ context }) => context.sensing.drops > context.sensing.dropsAtVendStart,
    canRetry: ({ context }) => (context.vend?.attempt ?? 0) <= context.settings.policy.vend.retries,
    canRefund: ({ context }) => context.credit > 0 && deviceUsable(context, 'coin'),
  
    selectionVendable: ({ context, event }) => {
      if (event.type !== 'SELECT') return false;
      const col = context.catalog[event.column];
      if (!col || availability(context.catalog, event.column) !== 'available') return false;
      if (context.credit < col.price) return false;
      if (context.settings.policy.multiVend || context.settings.policy.allowOverpay) return true;
      return canPay(context.credit - col.price, context.tubes);
    },
    selectionForCard: ({ context, event }) => {
      if (event.type !== 'SELECT' || context.card === null || !deviceUsable(context, 'card')) return false;
      const col = context.catalog[event.column];
      if (!col || availability(context.catalog, event.column) !== 'available') return false;
      return context.credit < col.price && (context.card.funds === null || context.card.funds >= col.price);
    },
    testVendable: ({ context, event }) =>
      event.type === 'SERVICE_TEST_VEND' && context.catalog[event.column]?.enabled === true && deviceUsable(context, 'dispenser'),
    // Checked coin by coin before summing: a guard must never throw (sumCounts throws on nonsense).
    servicePayable: ({ context, event }) =>
      event.type === 'SERVICE_PAYOUT' &&
      deviceUsable(context, 'coin') &&
      Object.entries(event.plan).every(([d, n]) => Number.isSafeInteger(n) && n >= 0 && n <= (context.tubes[Number(d)] ?? 0)) &&
      sumCounts(event.plan) > 0,
    hasCard: ({ context }) => context.card !== null,
    cardOnly: ({ context }) => context.card !== null && context.credit === 0,
    refundExpiredCredit: ({ context }) => context.settings.policy.saveCreditExpiry === 'refund' && deviceUsable(context, 'coin'),
    changeDue: ({ context }) => context.credit > 0 && !context.settings.policy.multiVend && context.purchased,
    letterKey: ({ event }) => event.type === 'KEY' && isLetter(event.key) && event.key !== 'CLEAR' && event.key !== 'RETURN',
    digitKey: ({ event }) => event.type === 'KEY' && DIGITS.has(event.key),
    clearKey: ({ event }) => event.type === 'KEY' && event.key === 'CLEAR',
    returnKey: ({ event }) => event.type === 'KEY' && event.key === 'RETURN',
    doorOpened: ({ event }) => event.type === 'DOOR' && event.open,
    doorClosed: ({ event }) => event.type === 'DOOR' && !event.open,
    spiralAwayFromHome: ({ context }) => context.vend !== null && context.sensing.awayFromHome.includes(context.vend.column),
    refundRefused: ({ context }) => context.settings.policy.mustBuyBeforeRefund && !context.purchased && context.credit > 0,
    beamBlocked: ({ context }) => context.sensing.beamBroken || context.vend?.uncertain === true,
    beamNowBroken: ({ event }) => event.type === 'BEAM' && event.broken,
    beamNowClear: ({ event }) => event.type === 'BEAM' && !event.broken,
    hasAlternative: ({ context }) =>
      context.vend !== null &&
      !context.sensing.beamBroken &&
      context.vend.uncertain !== true &&
      context.settings.policy.vend.tryOtherColumns &&
      alternativeColumn(context.catalog, context.vend.column, context.vend.tried) !== undefined,
    serviceOpen: ({ context }) => context.settings.servicePin === null || context.pin.unlocked,
    pinNotReady: not(stateIn('#vmc.pinGuard.ready')),
    pinLockedOut: ({ context }) => context.pin.lockedOut,
    lockoutDue: ({ context }) => context.pin.failures >= context.settings.pinPolicy.attempts,
    pinDigit: ({ event }) => event.type === 'KEY' && DIGITS.has(event.key),
    pinClear: ({ event }) => event.type === 'KEY' && event.key === 'CLEAR',
    pinRight: ({ context, event }) => event.type === 'KEY' && DIGITS.has(event.key) && `${context.pin.entry}${event.key}` === context.settings.servicePin,
    pinWrong: ({ context, event }) =>
      event.type === 'KEY' &&
      DIGITS.has(event.key) &&
      context.settings.servicePin !== null &&
      `${context.pin.entry}${event.key}`.length >= context.settings.servicePin.length,
    },
  actions: {
    creditCoin: base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'COIN') return;
      if (event.routing === 'rejected') {
        enqueue.emit({ type: 'coinRejected', value: event.value });
        return;
      }
      const tubes =
        event.routing === 'tube'
          ? { ...context.tubes, [event.value]: (context.tubes[event.value] ?? 0) + 1 }
          : context.tubes;
      enqueue.assign({ credit: context.credit + event.value, tubes });
      enqueue.emit({ type: 'coinInserted', value: event.value, routing: event.routing });
      // New credit should show at once, not after a price or a thank-you message.
      if (context.notice) enqueue.raise({ type: 'NOTICE_CLEAR' });
    }),
    storage: base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'STORAGE') return;
      if (context.storage.status === event.status && context.storage.detail === event.detail) return;
      enqueue.assign({ storage: event.detail === undefined ? { status: event.status } : { status: event.status, detail: event.detail } });
    }),
    countSlugs: base.enqueueActions(({ event, enqueue }) => {
      // MDB reports up to 31 slugs per POLL (5 bits); anything else is not a count.
      if (event.type !== 'SLUG' || !Number.isSafeInteger(event.count) || event.count < 1 || event.count > MAX_SLUGS_PER_REPORT) return;
      enqueue.emit({ type: 'slugs', count: event.count });
    }),
    serviceFillCoin: base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'COIN') return;
      if (event.routing === 'rejected') {
        enqueue.emit({ type: 'coinRejected', value: event.value });
        return;
      }
      if (event.routing === 'tube')
        enqueue.assign({ tubes: { ...context.tubes, [event.value]: (context.tubes[event.value] ?? 0) + 1 } });
      enqueue.emit({ type: 'tubeFilled', value: event.value, routing: event.routing });
    }),
    beginTestVend: base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SERVICE_TEST_VEND') return;
      const col = context.catalog[event.column];
      if (!col) return;
      enqueue.assign({ vend: { column: col.code, price: 0, payment: 'test', attempt: 1, tried: [col.code] } });
    }),
    beginServicePayout: base.enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'SERVICE_PAYOUT') return;
      enqueue.assign({ payout: { amount: sumCounts(event.plan), plan: event.plan, reason: 'service' } });
    }),
    creditBill: base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'BILL_STACKED') return;
      enqueue.assign({ credit: context.credit + event.value, escrow: null });
      enqueue.emit({ type: 'billStacked', value: event.value });
      if (context.notice) enqueue.raise({ type: 'NOTICE_CLEAR' });
    }),
    billReturned: base.enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'BILL_RETURNED') return;
      enqueue.assign({ escrow: null });
      enqueue.emit({ type: 'billReturned', value: event.value });
    }),
    decideEscrow: base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'BILL_ESCROW') return;
      enqueue.assign({ escrow: event.value });
      enqueue.emit({ type: 'billEscrowed', value: event.value });
      // The acceptance list was already applied at the validator; re-check here because the
      // credit may have changed while the bill was being validated.
      const ok = billAcceptable(context, event.value);
      enqueue(ok ? 'stackBill' : 'returnBill');
    }),
    refuseEscrow: base.enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'BILL_ESCROW') return;
      enqueue.assign({ escrow: event.value });
      enqueue.emit({ type: 'billEscrowed', value: event.value });
      enqueue('returnBill');
    }),
    cardBegin: base.enqueueActions(({ event, enqueue }) => {
      if (event.type !== 'CARD_BEGIN') return;
      enqueue.assign({ card: { funds: event.funds } });
      enqueue.emit({ type: 'cardSessionBegan', funds: event.funds });
    }),
    cardDrop: base.enqueueActions(({ context, enqueue }) => {
      if (context.card === null) return;
      enqueue.assign({ card: null });
      enqueue.emit({ type: 'cardSessionEnded' });
    }),
    cardEnd: base.enqueueActions(({ context, enqueue }) => {
      if (context.card === null) return;
      enqueue('cardEndSession');
      enqueue.assign({ card: null });
      enqueue.emit({ type: 'cardSessionEnded' });
    }),
    beamBreaks: base.enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ sensing: { ...context.sensing, beamBroken: true } });
    }),
    /** The beam broke and cleared within `beamBlockedMs`: a product fell through the light plane. */
    beamPassed: base.enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ sensing: { ...context.sensing, beamBroken: false, drops: context.sensing.drops + 1 } });
      if (context.faults.VS?.detail === 'blocked') {
        enqueue.assign({ faults: withoutFault(context.faults, 'VS') });
        enqueue.emit({ type: 'faultCleared', code: 'VS', device: 'drop' });
      }
    }),
    /** Broken for longer than a product takes to fall: something lies on the sensor (VS blocked). */
    beamStuck: base.enqueueActions(({ context, enqueue }) => {
      // During a vend, a product may have fallen into the shadow: that vend's outcome is unknown.
      if (context.vend) enqueue.assign({ vend: { ...context.vend, uncertain: true } });
      if (context.faults.VS) return;
      enqueue.assign({ faults: addFault(context.faults, 'VS', 'drop', 'blocked') });
      enqueue.emit({ type: 'faultRaised', code: 'VS', device: 'drop', detail: 'blocked' });
    }),
    /** A blocked beam clears: the sensor works again, but nothing was seen falling. */
    beamUnblocked: base.enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ sensing: { ...context.sensing, beamBroken: false } });
      if (context.faults.VS?.detail === 'blocked') {
        enqueue.assign({ faults: withoutFault(context.faults, 'VS') });
        enqueue.emit({ type: 'faultCleared', code: 'VS', device: 'drop' });
      }
    }),
    link: base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'LINK' || !(event.device in context.links)) return;
      if (context.links[event.device] === event.status) return;
      enqueue.assign({ links: { ...context.links, [event.device]: event.status } });
      const code = `${event.device.toUpperCase()}_${event.status === 'offline' ? 'OFFLINE' : 'ERROR'}`;
      if (event.status === 'online') {
        for (const c of [`${event.device.toUpperCase()}_OFFLINE`, `${event.device.toUpperCase()}_ERROR`])
          if (context.faults[c]) enqueue.emit({ type: 'faultCleared', code: c, device: event.device });
        const faults = withoutFault(withoutFault(context.faults, `${event.device.toUpperCase()}_OFFLINE`), `${event.device.toUpperCase()}_ERROR`);
        enqueue.assign({ faults });
      } else if (!context.faults[code]) {
        enqueue.assign({ faults: addFault(context.faults, code, event.device, event.code ?? event.status) });
        enqueue.emit({ type: 'faultRaised', code, device: event.device, detail: event.code });
      }
    }),
    fault: base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'FAULT') return;
      const code = deviceFaultCode(event.device, event.code);
      if (event.cleared) {
        if (!context.faults[code]) return;
        enqueue.assign({ faults: withoutFault(context.faults, code) });
        enqueue.emit({ type: 'faultCleared', code, device: event.device });
        return;
      }
      if (context.faults[code]) return;
      const advisory = event.advisory === true ? { advisory: true } : {};
      const detail = event.detail !== undefined ? { detail: event.detail } : {};
      enqueue.assign({ faults: { ...context.faults, [code]: { code, device: event.device, ...detail, ...advisory } } });
      enqueue.emit({ type: 'faultRaised', code, device: event.device, ...detail, ...advisory });
    }),
    noticeNotNow: base.enqueueActions(({ context, enqueue }) => {
      enqueue.raise({ type: 'NOTICE', lines: ['NOT AVAILABLE', outOfServiceReason(context) ?? 'PLEASE WAIT'] });
    }),
    // A vend or a payout whose record cannot be written is not started: the credit waits, shown.
    noticeStorageFailed: base.enqueueActions(({ enqueue }) => {
      enqueue.raise({ type: 'NOTICE', lines: ['PLEASE WAIT', 'STORAGE FAILED'] });
    }),
    noticeMustBuy: base.enqueueActions(({ enqueue }) => {
      enqueue.raise({ type: 'NOTICE', lines: ['PLEASE MAKE', 'A SELECTION'] });
    }),
    showPriceOrAvailability: base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SELECT') return;
      enqueue.raise({ type: 'NOTICE', lines: selectionNotice(context, event.column) });
    }),
    beginCashVend: base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SELECT') return;
      const col = context.catalog[event.column];
      if (!col) return;
      enqueue.assign({ vend: { column: col.code, price: col.price, payment: 'cash', attempt: 1, tried: [col.code] } });
    }),
    beginCardAuth: base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SELECT') return;
      const col = context.catalog[event.column];
      if (!col) return;
      enqueue.assign({ vend: { column: col.code, price: col.price, payment: 'card', attempt: 1, tried: [col.code] } });
      enqueue({ type: 'cardRequestVend', params: { price: col.price, item: itemNumber(col.code) } });
    }),
    cardApproved: base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'CARD_APPROVED' || !context.vend) return;
      enqueue.emit({ type: 'cardVendApproved', column: context.vend.column, amount: event.amount });
    }),
    cardDenied: base.enqueueActions(({ context, enqueue }) => {
      if (!context.vend) return;
      enqueue.emit({ type: 'cardVendDenied', column: context.vend.column, reason: 'denied' });
      enqueue.assign({ vend: null });
      enqueue.raise({ type: 'NOTICE', lines: ['CARD DECLINED', 'USE CASH'] });
    }),
    cardApprovalTimedOut: base.enqueueActions(({ context, enqueue }) => {
      if (!context.vend) return;
      enqueue.emit({ type: 'cardVendDenied', column: context.vend.column, reason: 'timeout' });
      enqueue.assign({ vend: null });
      // The reader never answered: cancel the request on its side so it cannot charge later.
      enqueue('cardVendFailed');
      enqueue.raise({ type: 'NOTICE', lines: ['CARD TIMEOUT', 'TRY AGAIN'] });
    }),
    motorOn: base.enqueueActions(({ context, enqueue }) => {
      const v = context.vend;
      if (!v) return;
      // Journalled before the motor turns (money-model.md, power cuts).
      enqueue.emit({ type: 'vendStarted', column: v.column, price: v.price, payment: v.payment, attempt: v.attempt });
      enqueue.assign({ sensing: { ...context.sensing, dropsAtVendStart: context.sensing.drops } });
      if (context.sensing.beamBroken) {
        // A blocked beam cannot confirm a drop: refuse to vend rather than charge blind.
        if (!context.faults.VS) {
          enqueue.assign({ faults: addFault(context.faults, 'VS', 'drop', 'blocked') });
          enqueue.emit({ type: 'faultRaised', code: 'VS', device: 'drop', detail: 'blocked' });
        }
        enqueue.raise({ type: 'MOTOR_ERROR', code: 'VS' });
        return;
      }
      enqueue({ type: 'startMotor', params: { column: v.column } });
    }),
    markUncertain: base.enqueueActions(({ context, enqueue }) => {
      if (context.vend) enqueue.assign({ vend: { ...context.vend, uncertain: true } });
    }),
    retryTurn: base.enqueueActions(({ context, enqueue }) => {
      const v = context.vend;
      if (!v) return;
      enqueue.assign({ vend: { ...v, attempt: v.attempt + 1 } });
    }),
    switchColumn: base.enqueueActions(({ context, enqueue }) => {
      const v = context.vend;
      if (!v) return;
      const next = alternativeColumn(context.catalog, v.column, v.tried);
      if (!next) return;
      enqueue.assign({ vend: { ...v, column: next, attempt: 1, tried: [...v.tried, next] } });
    }),
    faultNeverLeftHome: base.enqueueActions(({ context, enqueue }) => {
      const v = context.vend;
      if (v) enqueue.assign({ faults: addFault(context.faults, `HS${v.column}`, 'dispenser', 'motor never left home') });
      if (v) enqueue.emit({ type: 'faultRaised', code: `HS${v.column}`, device: 'dispenser', detail: 'motor never left home' });
    }),
    spiralHome: base.enqueueActions(({ context, enqueue }) => {
      const v = context.vend;
      if (v && context.sensing.awayFromHome.includes(v.column))
        enqueue.assign({ sensing: { ...context.sensing, awayFromHome: context.sensing.awayFromHome.filter((c) => c !== v.column) } });
    }),
    faultNeverReturned: base.enqueueActions(({ context, enqueue }) => {
      const v = context.vend;
      if (v && !context.sensing.awayFromHome.includes(v.column)) enqueue.assign({ sensing: { ...context.sensing, awayFromHome: [...context.sensing.awayFromHome, v.column] } });
      if (v) enqueue.assign({ faults: addFault(context.faults, `CJ${v.column}`, 'dispenser', 'motor never returned home') });
      if (v) enqueue.emit({ type: 'faultRaised', code: `CJ${v.column}`, device: 'dispenser', detail: 'motor never returned home' });
    }),
    faultMotorError: base.enqueueActions(({ context, event, enqueue }) => {
      const v = context.vend;
      if (!v || event.type !== 'MOTOR_ERROR' || event.code === 'VS') return;
      enqueue.assign({ faults: addFault(context.faults, `CJ${v.column}`, 'dispenser', event.code) });
      enqueue.emit({ type: 'faultRaised', code: `CJ${v.column}`, device: 'dispenser', detail: event.code });
    }),
    markJammed: base.enqueueActions(({ context, enqueue }) => {
      const v = context.vend;
      if (!v || context.faults.VS?.detail === 'blocked') return;
      enqueue.assign({ catalog: updateColumn(context.catalog, v.column, { mark: 'jammed' }) });
      enqueue.emit({ type: 'columnMarked', column: v.column, mark: 'jammed' });
    }),
    markFailed: base.enqueueActions(({ context, enqueue }) => {
      const v = context.vend;
      if (!v) return;
      const streak = context.sensing.noDropStreak + 1;
      enqueue.assign({ catalog: updateColumn(context.catalog, v.column, { mark: 'failed' }), sensing: { ...context.sensing, noDropStreak: streak } });
      enqueue.emit({ type: 'columnMarked', column: v.column, mark: 'failed' });
      if (streak >= context.settings.policy.vend.blindAfterFailures && !context.faults.VS) {
        enqueue.assign({ faults: addFault(context.faults, 'VS', 'drop', 'blind') });
        enqueue.emit({ type: 'faultRaised', code: 'VS', device: 'drop', detail: 'blind' });
      }
    }),
    vendFailed: base.enqueueActions(({ context, enqueue }) => {
      const v = context.vend;
      if (!v) return;
      const jammed = context.catalog[v.column]?.mark === 'jammed';
      const reason: VendFailReason = v.uncertain === true ? 'uncertain' : jammed ? 'jam' : context.faults.VS?.detail === 'blocked' ? 'deviceError' : 'noDrop';
      enqueue.emit({ type: 'vendFailed', column: v.column, price: v.price, payment: v.payment, reason });
      if (v.payment === 'card') enqueue('cardVendFailed');
      enqueue.assign({ vend: null });
      enqueue.raise({
        type: 'NOTICE',
        lines:
          v.payment === 'card'
            ? ['VEND FAILED', 'NOT CHARGED']
            : v.payment === 'test'
              ? ['TEST VEND', `${v.column} FAILED`]
              : ['VEND FAILED', 'CHOOSE AGAIN'],
      });
    }),
    vendDelivered: base.enqueueActions(({ context, enqueue }) => {
      const v = context.vend;
      if (!v) return;
      const col = context.catalog[v.column];
      const stock = Math.max(0, (col?.stock ?? 1) - 1);
      enqueue.assign({ catalog: updateColumn(context.catalog, v.column, { stock }), vend: null, sensing: { ...context.sensing, noDropStreak: 0 } });
      enqueue.emit({ type: 'vendSucceeded', column: v.column, price: v.price, payment: v.payment });
      enqueue.emit({ type: 'stockChanged', column: v.column, stock, why: 'vend' });
      if (v.payment === 'cash') {
        enqueue.assign({ credit: context.credit - v.price, purchased: true });
        const change = context.credit - v.price;
        if (change > 0 && !context.settings.policy.multiVend && !canPay(change, context.tubes)) {
          // allowOverpay: the part of the change that cannot be paid is kept, recorded as overpay.
          const { value } = planPayout(change, context.tubes);
          const kept = change - value;
          if (kept > 0) {
            enqueue.assign({ credit: value });
            enqueue.emit({ type: 'overpayKept', amount: kept, why: 'noChange' });
          }
        }
      } else if (v.payment === 'card') {
        // VEND SUCCESS first, then SESSION COMPLETE: the shell runs them in this order, each after
        // the last completed (MDB 4.2 §7.4).
        enqueue({ type: 'cardVendSucceeded', params: { item: itemNumber(v.column) } });
        enqueue('cardEndSession');
        enqueue.assign({ card: null });
        enqueue.emit({ type: 'cardSessionEnded' });
      }
      enqueue.raise({ type: 'NOTICE', lines: ['THANK YOU', 'TAKE PRODUCT'] });
    }),
    beginChange: base.enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ payout: { amount: context.credit, reason: 'change', plan: {} } });
    }),
    beginRefund: base.enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ payout: { amount: context.credit, reason: 'refund', plan: {} } });
    }),
    startPayout: base.enqueueActions(({ context, enqueue }) => {
      const p = context.payout;
      if (!p) return;
      // A service payout names its coins; change and refunds are planned from the tubes.
      const plan = p.reason === 'service' ? p.plan : planPayout(p.amount, context.tubes).plan;
      const payout: Payout = { ...p, plan };
      enqueue.assign({ payout, tubesReported: false });
      // Journalled before the first coin moves.
      enqueue.emit({ type: 'payoutPlanned', amount: p.amount, plan, reason: p.reason });
      enqueue({ type: 'payout', params: payout });
    }),
    recoverColumns: base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'RECOVERED') return;
      let catalog = context.catalog;
      for (const column of event.checkColumns) {
        if (!catalog[column]) continue;
        catalog = updateColumn(catalog, column, { mark: 'failed' });
        enqueue.emit({ type: 'columnMarked', column, mark: 'failed' });
      }
      enqueue.assign({ catalog });
    }),
    payoutDone: base.enqueueActions(({ context, event, enqueue }) => {
      const p = event.type === 'RECOVERED' ? event.payout : context.payout;
      const result = event.type === 'RECOVERED' ? event.payout : event.type === 'PAYOUT_DONE' ? event : undefined;
      if (!p || !result) return;
      const faultCode = event.type === 'PAYOUT_DONE' ? event.faultCode : undefined;
      const paidValue = sumCounts(result.paid);
      const owed = Math.max(0, p.amount - paidValue);
      enqueue.emit({ type: 'payoutDone', amount: p.amount, paid: result.paid, paidValue, reason: p.reason });
      // The changer's own report, when it came during the payout, already counts the coins paid.
      const tubes = context.tubesReported ? context.tubes : tubesAfterPayout(context.tubes, result.paid);
      if (p.reason === 'service') {
        // The operator's own coins: nothing is owed to a customer.
        enqueue.assign({ tubes, payout: null });
        return;
      }
      const credit = Math.max(0, context.credit - paidValue - owed);
      enqueue.assign({ tubes, credit, payout: null, purchased: false });
      if (owed > 0) {
        const debt = context.debt + owed;
        enqueue.assign({ debt });
        enqueue.emit({ type: 'debtRecorded', amount: owed, total: debt });
        enqueue.raise({ type: 'NOTICE', lines: [`OWED ${formatMoney(owed, context.settings.currency)}`, 'CALL SERVICE'] });
      }
      const code = faultCode === undefined ? undefined : deviceFaultCode('coin', faultCode);
      if (code && !context.faults[code]) {
        enqueue.assign({ faults: addFault(context.faults, code, 'coin', 'payout stopped short') });
        enqueue.emit({ type: 'faultRaised', code, device: 'coin', detail: 'payout stopped short' });
      }
    }),
    keepExpiredCredit: base.enqueueActions(({ context, enqueue }) => {
      if (context.credit <= 0) return;
      enqueue.emit({ type: 'overpayKept', amount: context.credit, why: 'creditExpired' });
      enqueue.assign({ credit: 0, purchased: false });
    }),
    clearFaults: base.enqueueActions(({ context, enqueue }) => {
      let catalog = context.catalog;
      for (const f of Object.values(context.faults)) {
        // A link fault of a device still away clears by itself when it comes back; keep it. One
        // whose device is back (raised by a failed command while the link stayed up) is cleared.
        if (linkStillDown(context, f)) continue;
        enqueue.emit({ type: 'faultCleared', code: f.code, device: f.device });
        const jammed = /^(HS|CJ)([A-J][0-9])$/.exec(f.code);
        if (jammed?.[2]) {
          catalog = updateColumn(catalog, jammed[2], { mark: 'ok' });
          enqueue.emit({ type: 'columnMarked', column: jammed[2], mark: 'ok' });
        }
      }
      const kept: Record<string, Fault> = {};
      for (const [k, f] of Object.entries(context.faults)) if (linkStillDown(context, f)) kept[k] = f;
      enqueue.assign({ faults: kept, catalog, sensing: { ...context.sensing, noDropStreak: 0 } });
      enqueue.emit({ type: 'serviceAction', action: 'clearFaults' });
    }),
    refill: base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SERVICE_REFILL') return;
      let catalog = context.catalog;
      for (const col of Object.values(context.catalog)) {
        if (event.column !== undefined && col.code !== event.column) continue;
        if (col.stock === col.capacity && col.mark === 'ok') continue;
        // A refilled column is checked by hand: its failed mark goes too.
        catalog = updateColumn(catalog, col.code, { stock: col.capacity, mark: col.mark === 'failed' ? 'ok' : col.mark });
        enqueue.emit({ type: 'stockChanged', column: col.code, stock: col.capacity, why: 'refill' });
      }
      enqueue.assign({ catalog });
    }),
    setPrice: base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SERVICE_SET_PRICE' || !context.catalog[event.column] || !Number.isSafeInteger(event.price) || event.price <= 0) return;
      enqueue.assign({ catalog: updateColumn(context.catalog, event.column, { price: event.price }) });
      enqueue.emit({ type: 'priceChanged', column: event.column, price: event.price });
    }),
    typePin: base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'KEY') enqueue.assign({ pin: { ...context.pin, entry: `${context.pin.entry}${event.key}` } });
      // Typing again takes a WRONG PIN message away.
      if (context.notice) enqueue.raise({ type: 'NOTICE_CLEAR' });
    }),
    clearPin: base.enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ pin: { ...context.pin, entry: '' } });
      if (context.notice) enqueue.raise({ type: 'NOTICE_CLEAR' });
    }),
    unlockService: base.enqueueActions(({ enqueue }) => {
      enqueue.assign({ pin: { ...NO_PIN_RECORD, entry: '', unlocked: true } });
      enqueue.emit({ type: 'serviceAction', action: 'unlock' });
    }),
    wrongPin: base.enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ pin: { ...context.pin, entry: '', failures: context.pin.failures + 1 } });
      enqueue.emit({ type: 'serviceAction', action: 'wrongPin' });
      enqueue.raise({ type: 'NOTICE', lines: ['WRONG PIN', 'PLEASE WAIT'] });
      enqueue.raise({ type: 'PIN_FAILED' });
    }),
    /** Keys typed while the PIN guard waits or is locked out are not PIN digits. */
    pinRefused: base.enqueueActions(({ context, enqueue }) => {
      if (context.pin.entry !== '') enqueue.assign({ pin: { ...context.pin, entry: '' } });
      enqueue.raise({ type: 'NOTICE', lines: context.pin.lockedOut ? ['SERVICE LOCKED', 'TRY LATER'] : ['WRONG PIN', 'PLEASE WAIT'] });
    }),
    startLockout: base.enqueueActions(({ context, enqueue }) => {
      const lockouts = context.pin.lockouts + 1;
      const ms = lockoutMs(context.settings.pinPolicy, lockouts);
      enqueue.assign({ pin: { ...context.pin, entry: '', failures: 0, lockouts, lockedOut: true } });
      enqueue.emit({ type: 'serviceAction', action: 'pinLockout', detail: `${context.pin.failures} wrong PINs; locked for ${ms} ms` });
    }),
    endLockout: base.enqueueActions(({ context, enqueue }) => {
      enqueue.assign({ pin: { ...context.pin, lockedOut: false } });
      enqueue.emit({ type: 'serviceAction', action: 'pinLockoutEnded' });
    }),
    settleDebt: base.enqueueActions(({ context, event, enqueue }) => {
      if (event.type !== 'SERVICE_SETTLE_DEBT' || context.debt <= 0) return;
      enqueue.emit({ type: 'debtSettled', amount: context.debt, how: event.how, total: 0 });
      enqueue.assign({ debt: 0 });
    }),
  },
});

export const vmcMachine = vmc.createMachine({
  id: 'vmc',
  type: 'parallel',
  context: ({ input }) => {
    const cfg = input.config;
    const required: Record<DeviceName, boolean> = {
      coin: true,
      keypad: true,
      display: true,
      dispenser: true,
      drop: true,
      door: true,
      bill: cfg.devices.bill.present && cfg.devices.bill.required,
      card: cfg.devices.card.present && cfg.devices.card.required,
    };
    const links: Record<string, LinkState['status']> = {};
    for (const d of Object.keys(required)) links[d] = 'online';
    if (!cfg.devices.bill.present) delete links.bill;
    if (!cfg.devices.card.present) delete links.card;
    return {
      settings: {
        policy: cfg.policy,
        currency: cfg.currency,
        coins: cfg.currency.coins,
        bills: cfg.devices.bill.present ? cfg.currency.bills : [],
        required,
        servicePin: cfg.service.pin ?? null,
        pinPolicy: cfg.service.lockout,
      },
      catalog: input.restore?.catalog ?? catalogFromConfig(cfg.catalog.slots),
      credit: input.restore?.credit ?? 0,
      debt: input.restore?.debt ?? 0,
      tubes: input.restore?.tubes ?? {},
      tubesReported: false,
      escrow: null,
      card: null,
      purchased: input.restore?.purchased ?? false,
      entry: '',
      notice: null,
      vend: null,
      payout: null,
      sensing: { drops: 0, dropsAtVendStart: 0, beamBroken: false, noDropStreak: 0, awayFromHome: [] },
      links,
      faults: input.restore?.faults ?? {},
      pin: { ...sanePinRecord(input.restore?.pin), entry: '', unlocked: false },
      storage: { status: 'ok' },
    };
  },
  states: {
    // ---------------------------------------------------------------- door
    door: {
      initial: 'closed',
      states: {
        closed: {
          on: {
            DOOR: {
              guard: 'doorOpened',
              target: 'open',
              actions: base.enqueueActions(({ context, enqueue }) => {
                enqueue.emit({ type: 'door', state: 'open' });
                // The operator's display starts clean (a customer message would hide ENTER PIN).
                if (context.notice) enqueue.raise({ type: 'NOTICE_CLEAR' });
              }),
            },
          },
        },
        open: {
          on: {
            DOOR: {
              guard: 'doorClosed',
              target: 'closed',
              actions: base.enqueueActions(({ context, enqueue }) => {
                enqueue.emit({ type: 'door', state: 'closed' });
                // Closing the door locks service again.
                if (context.pin.unlocked || context.pin.entry !== '') enqueue.assign({ pin: { ...context.pin, entry: '', unlocked: false } });
                if (!context.settings.policy.clearFailedOnDoorClose) return;
                const { catalog, cleared } = clearFailedMarks(context.catalog);
                if (cleared.length === 0) return;
                enqueue.assign({ catalog, sensing: { ...context.sensing, noDropStreak: 0 } });
                for (const column of cleared) enqueue.emit({ type: 'columnMarked', column, mark: 'ok' });
              }),
            },
          },
        },
      },
    },

    // ---------------------------------------------------------------- keypad
    keypad: {
      initial: 'empty',
      states: {
        empty: {
          entry: base.enqueueActions(({ context, enqueue }) => {
            if (context.entry !== '') enqueue.assign({ entry: '' });
          }),
          on: {
            KEY: [
              {
                guard: 'letterKey',
                target: 'letter',
                actions: base.enqueueActions(({ event, enqueue }) => {
                  if (event.type === 'KEY') enqueue.assign({ entry: event.key });
                }),
              },
              { guard: 'returnKey', actions: base.enqueueActions(({ enqueue }) => enqueue.raise({ type: 'RETURN' })) },
            ],
          },
        },
        letter: {
          after: { inactivity: 'empty' },
          on: {
            KEY: [
              { guard: 'clearKey', target: 'empty' },
              {
                guard: 'returnKey',
                target: 'empty',
                actions: base.enqueueActions(({ enqueue }) => enqueue.raise({ type: 'RETURN' })),
              },
              {
                guard: 'digitKey',
                target: 'empty',
                actions: base.enqueueActions(({ context, event, enqueue }) => {
                  if (event.type === 'KEY') enqueue.raise({ type: 'SELECT', column: `${context.entry}${event.key}` });
                }),
              },
              {
                target: 'letter',
                reenter: true,
                actions: base.enqueueActions(({ event, enqueue }) => {
                  if (event.type === 'KEY') enqueue.assign({ entry: event.key });
                }),
              },
            ],
          },
        },
      },
    },

    // ---------------------------------------------------------------- service PIN guard
    /**
     * Wrong PINs back off and lock out (pin.ts). Kept apart from the door so that closing and opening
     * the door does not reset it; a lockout restored after a restart starts here again.
     */
    pinGuard: {
      initial: 'ready',
      states: {
        ready: {
          always: { guard: 'pinLockedOut', target: 'lockedOut' },
          on: {
            PIN_FAILED: [{ guard: 'lockoutDue', target: 'lockedOut', actions: 'startLockout' }, { target: 'waiting' }],
          },
        },
        waiting: {
          after: { pinBackoff: 'ready' },
        },
        lockedOut: {
          after: { pinLockout: { target: 'ready', actions: 'endLockout' } },
        },
      },
    },

    // ---------------------------------------------------------------- drop beam
    /**
     * A drop is the beam breaking and clearing again within `beamBlockedMs` (a product falling
     * through the light plane shadows it for tens of ms). Broken for longer is something lying on
     * the sensor: VS blocked, and its clearing is not a drop.
     */
    beam: {
      initial: 'clear',
      states: {
        clear: {
          on: { BEAM: { guard: 'beamNowBroken', target: 'broken', actions: 'beamBreaks' } },
        },
        broken: {
          after: { beamBlocked: { target: 'blocked', actions: 'beamStuck' } },
          on: { BEAM: { guard: 'beamNowClear', target: 'clear', actions: 'beamPassed' } },
        },
        blocked: {
          on: { BEAM: { guard: 'beamNowClear', target: 'clear', actions: 'beamUnblocked' } },
        },
      },
    },

    // ---------------------------------------------------------------- notice (timed messages)
    notice: {
      initial: 'none',
      states: {
        none: {
          entry: base.enqueueActions(({ context, enqueue }) => {
            if (context.notice !== null) enqueue.assign({ notice: null });
          }),
          on: {
            NOTICE: {
              target: 'showing',
              actions: base.enqueueActions(({ event, enqueue }) => {
                if (event.type === 'NOTICE') enqueue.assign({ notice: event.lines });
              }),
            },
          },
        },
        showing: {
          after: { message: 'none' },
          on: {
            NOTICE_CLEAR: 'none',
            NOTICE: {
              target: 'showing',
              reenter: true,
              actions: base.enqueueActions(({ event, enqueue }) => {
                if (event.type === 'NOTICE') enqueue.assign({ notice: event.lines });
              }),
            },
          },
        },
      },
    },

    // ---------------------------------------------------------------- sales
    sales: {
      initial: 'idle',
      // Fallback handlers for every sub-state: money arriving at any time is never lost.
      on: {
        COIN: { actions: 'creditCoin' },
        TUBES: { actions: base.enqueueActions(({ event, enqueue }) => {
          if (event.type !== 'TUBES') return;
          enqueue.assign({ tubes: event.levels, tubesReported: true });
          enqueue.emit({ type: 'tubesRead', levels: event.levels });
        }) },
        BILL_ESCROW: { actions: 'refuseEscrow' },
        BILL_STACKED: { actions: 'creditBill' },
        BILL_RETURNED: { actions: 'billReturned' },
        CARD_BEGIN: { actions: 'cardBegin' },
        CARD_CANCEL: { actions: 'cardDrop' },
        CARD_ENDED: { actions: 'cardDrop' },
        LINK: { actions: 'link' },
        FAULT: { actions: 'fault' },
        SLUG: { actions: 'countSlugs' },
        STORAGE: { actions: 'storage' },
        RECOVERED: { actions: ['recoverColumns', 'payoutDone'] },
      },
      states: {
        idle: {
          always: [
            { guard: 'doorOpen', target: 'service' },
            { guard: 'mustStop', target: 'outOfService' },
            { guard: 'hasCustomer', target: 'session' },
          ],
          on: {
            BILL_ESCROW: { actions: 'decideEscrow' },
            SELECT: { actions: 'showPriceOrAvailability' },
          },
        },

        session: {
          initial: 'waiting',
          always: [
            { guard: 'doorOpen', target: 'service' },
            { guard: 'mustStop', target: 'outOfService' },
            { guard: not('hasCustomer'), target: 'idle' },
          ],
          on: {
            COIN: { target: '.waiting', actions: 'creditCoin' },
            BILL_STACKED: { target: '.waiting', actions: 'creditBill' },
            BILL_ESCROW: { target: '.waiting', actions: 'decideEscrow' },
            KEY: { target: '.waiting' },
            SELECT: [
              { guard: 'storageFailed', actions: 'noticeStorageFailed' },
              { guard: 'selectionVendable', target: 'vending', actions: 'beginCashVend' },
              { guard: 'selectionForCard', target: 'authorising', actions: 'beginCardAuth' },
              { actions: 'showPriceOrAvailability' },
            ],
            RETURN: [
              { guard: 'storageFailed', actions: 'noticeStorageFailed' },
              { guard: 'refundRefused', actions: 'noticeMustBuy' },
              { guard: 'canRefund', target: 'paying', actions: 'beginRefund' },
              { guard: 'hasCard', actions: 'cardEnd' },
            ],
            CARD_CANCEL: { actions: 'cardEnd' },
          },
          states: {
            waiting: {
              after: {
                saveCredit: { guard: 'saveCreditEnabled', target: '#vmc.sales.creditExpired' },
                inactivity: {
                  guard: 'cardOnly',
                  actions: 'cardEnd',
                },
              },
            },
          },
        },

        /** Save-credit time ran out: pay it back, or keep it, by policy. */
        creditExpired: {
          always: [
            {
              guard: 'refundExpiredCredit',
              target: 'paying',
              actions: 'beginRefund',
            },
            { target: 'idle', actions: 'keepExpiredCredit' },
          ],
        },

        authorising: {
          after: { cardApproval: { target: 'session', actions: ['cardApprovalTimedOut'] } },
          on: {
            CARD_APPROVED: { target: 'vending', actions: 'cardApproved' },
            CARD_DENIED: { target: 'session', actions: 'cardDenied' },
            CARD_CANCEL: { target: 'session', actions: ['cardDenied', 'cardEnd'] },
            SELECT: {},
            RETURN: {},
          },
        },

        vending: {
          initial: 'starting',
          on: { SELECT: {}, RETURN: {}, BILL_ESCROW: { actions: 'refuseEscrow' } },
          states: {
            starting: {
              entry: 'motorOn',
              // A spiral already away from home will not show leaving it: go straight to turning.
              always: { guard: 'spiralAwayFromHome', target: 'turning' },
              after: { leaveHome: { target: 'jammed', actions: 'faultNeverLeftHome' } },
              on: {
                HOME_LEFT: 'turning',
                // The spiral had stopped away from home (a cut or a cleared jam): this turn ends early.
                HOME_REACHED: { target: 'watching', actions: 'stopMotor' },
                MOTOR_STALLED: { target: 'jammed', actions: 'faultNeverLeftHome' },
                MOTOR_ERROR: { target: 'jammed', actions: 'faultMotorError' },
              },
            },
            turning: {
              after: { returnHome: { target: 'jammed', actions: 'faultNeverReturned' } },
              on: {
                HOME_REACHED: { target: 'watching', actions: ['stopMotor', 'spiralHome'] },
                MOTOR_STALLED: { target: 'jammed', actions: 'faultNeverReturned' },
                MOTOR_ERROR: { target: 'jammed', actions: 'faultMotorError' },
              },
            },
            watching: {
              always: { guard: 'dropSeen', target: 'delivered' },
              after: { dropWindow: 'noDrop' },
            },
            noDrop: {
              always: [
                // The beam is still broken, or was blocked during this vend: the sensor cannot tell
                // whether a product fell. No drop is confirmed (nothing charged, credit kept, column
                // marked), no retry and no other column (a second product could follow the first).
                { guard: 'beamBlocked', target: 'failed', actions: ['markUncertain', 'markFailed'] },
                { guard: 'canRetry', target: 'starting', actions: 'retryTurn' },
                { target: 'failed', actions: 'markFailed' },
              ],
            },
            jammed: {
              entry: ['stopMotor', 'markJammed'],
              always: { target: 'failed' },
            },
            failed: {
              always: [
                { guard: 'hasAlternative', target: 'starting', actions: 'switchColumn' },
                { target: '#vmc.sales.afterVend', actions: 'vendFailed' },
              ],
            },
            delivered: {
              always: { target: '#vmc.sales.afterVend', actions: 'vendDelivered' },
            },
          },
        },

        /** Decide what follows a vend: change, keep credit (multi-vend), or back to idle. */
        afterVend: {
          always: [
            {
              guard: 'changeDue',
              target: 'paying',
              actions: 'beginChange',
            },
            { target: 'idle' },
          ],
        },

        paying: {
          entry: 'startPayout',
          on: {
            PAYOUT_DONE: { target: 'idle', actions: 'payoutDone' },
            SELECT: {},
            RETURN: {},
            BILL_ESCROW: { actions: 'refuseEscrow' },
          },
        },

        /**
         * Door open. With a service PIN configured the menu starts `locked` until the PIN is typed
         * on the keypad (CLEAR restarts the entry, a wrong PIN shows WRONG PIN); without one it
         * opens at once. Coins put in are tube fills either way, and a customer's credit can still
         * be refunded.
         */
        service: {
          entry: 'cardEnd',
          initial: 'locked',
          always: { guard: not('doorOpen'), target: 'idle' },
          on: {
            SELECT: {},
            COIN: { actions: 'serviceFillCoin' },
            RETURN: [
              { guard: 'storageFailed', actions: 'noticeStorageFailed' },
              { guard: 'canRefund', target: 'paying', actions: 'beginRefund' },
            ],
          },
          states: {
            locked: {
              always: { guard: 'serviceOpen', target: 'unlocked' },
              on: {
                KEY: [
                  { guard: 'pinClear', actions: 'clearPin' },
                  { guard: 'pinNotReady', actions: 'pinRefused' },
                  { guard: 'pinRight', target: 'unlocked', actions: 'unlockService' },
                  { guard: 'pinWrong', actions: 'wrongPin' },
                  { guard: 'pinDigit', actions: 'typePin' },
                ],
              },
            },
            unlocked: {
              on: {
                SERVICE_TEST_VEND: { guard: 'testVendable', target: '#vmc.sales.vending', actions: 'beginTestVend' },
                SERVICE_PAYOUT: { guard: 'servicePayable', target: '#vmc.sales.paying', actions: 'beginServicePayout' },
                SERVICE_CLEAR_FAULTS: { actions: 'clearFaults' },
                SERVICE_SETTLE_DEBT: { actions: 'settleDebt' },
                SERVICE_REFILL: { actions: 'refill' },
                SERVICE_SET_PRICE: { actions: 'setPrice' },
              },
            },
          },
        },

        outOfService: {
          entry: 'cardEnd',
          always: [
            { guard: 'doorOpen', target: 'service' },
            { guard: not('mustStop'), target: 'idle' },
          ],
          on: {
            SELECT: { actions: 'noticeNotNow' },
            RETURN: [
              { guard: 'storageFailed', actions: 'noticeStorageFailed' },
              { guard: 'canRefund', target: 'paying', actions: 'beginRefund' },
            ],
          },
        },
      },
    },
  },
});

// ------------------------------------------------------------------ helpers used by the actions

function withoutFault(faults: Readonly<Record<string, Fault>>, code: string): Record<string, Fault> {
  const next: Record<string, Fault> = { ...faults };
  delete next[code];
  return next;
}

function addFault(faults: Readonly<Record<string, Fault>>, code: string, device: string, detail: string): Record<string, Fault> {
  return { ...faults, [code]: { code, device, detail } };
}

/**
 * One fault vocabulary: a device error code that says the link is gone (`DEVICE_OFFLINE`,
 * `DEVICE_TIMEOUT`) becomes the link fault of that device (`COIN_OFFLINE`, `COIN_ERROR`), which the
 * link coming back and the service menu both know how to clear. Any other code is kept as it is.
 */
export function deviceFaultCode(device: string, code: string): string {
  if (code === 'DEVICE_OFFLINE') return `${device.toUpperCase()}_OFFLINE`;
  if (code === 'DEVICE_TIMEOUT') return `${device.toUpperCase()}_ERROR`;
  return code;
}

/** A link fault (`COIN_OFFLINE`, `BILL_ERROR`, ...) whose device's link is still down now. */
function linkStillDown(ctx: VmcContext, f: Fault): boolean {
  if (f.code !== `${f.device.toUpperCase()}_OFFLINE` && f.code !== `${f.device.toUpperCase()}_ERROR`) return false;
  return (ctx.links[f.device] ?? 'online') !== 'online';
}

/** MDB cashless item numbers: the column's position in the grid (A1 → 11, F8 → 68). */
export function itemNumber(code: string): number {
  return (code.charCodeAt(0) - 64) * 10 + Number(code.slice(1));
}

function billAcceptable(ctx: VmcContext, value: Minor): boolean {
  // New money is only taken while the journal can record it.
  if (ctx.storage.status !== 'ok') return false;
  if (ctx.credit + value > ctx.settings.policy.maxCredit) return false;
  if (!ctx.settings.policy.acceptOnlyIfChangeable) return true;
  return canPay(ctx.credit + value, ctx.tubes);
}

/** The notice for a selection that cannot vend now: price, sold out, unknown, exact change. */
export function selectionNotice(ctx: VmcContext, column: string): readonly string[] {
  const col = ctx.catalog[column];
  switch (availability(ctx.catalog, column)) {
    case 'unknown':
      return ['INVALID', `SELECTION ${column}`];
    case 'disabled':
    case 'soldOut':
    case 'failed':
    case 'jammed':
      return [`${column} SOLD OUT`, 'CHOOSE ANOTHER'];
    case 'available':
      break;
  }
  if (!col) return ['INVALID', `SELECTION ${column}`];
  if (ctx.credit >= col.price) return ['USE EXACT', 'CHANGE'];
  return [`${column} PRICE`, formatMoney(col.price, ctx.settings.currency)];
}

export type VmcMachine = typeof vmcMachine;
