/**
 * The contract between the controller and any hardware: real adapters (hardware/) and simulated
 * devices (sim/) implement these. Each port holds only what the controller needs, not a driver API.
 * Events are rxjs Observables; commands are async and reject with `DeviceError`.
 */
import type { Observable } from 'rxjs';
import type { Device } from './link.ts';

export * from './errors.ts';
export * from './link.ts';

/** Money in integer minor units (cents). Never a float. */
export type Minor = number;

/** Coin counts by denomination (minor units → count). */
export type CoinCounts = Readonly<Record<number, number>>;

// ---------------------------------------------------------------- coin mechanism (changer / acceptor)

export type CoinRouting = 'tube' | 'cashbox' | 'rejected';

export type CoinMechEvent =
  /** A coin was validated and routed: only `tube` and `cashbox` are money in the machine. */
  | { readonly type: 'coin'; readonly value: Minor; readonly routing: CoinRouting }
  /** Fresh tube levels (after a payout, a manual fill or a status read). */
  | { readonly type: 'tubes'; readonly levels: CoinCounts }
  /** The coin-return lever / escrow request on the mechanism was pressed. */
  | { readonly type: 'returnPressed' }
  /** Coins the mechanism could not identify (slugs, MDB 4.2 §5.3 POLL status): counted, never money. */
  | { readonly type: 'slug'; readonly count: number }
  /**
   * A status from the mechanism, e.g. COIN_JAM, TUBE_SENSOR; `cleared` ends it. `advisory` marks a
   * fault the operator must see (audit, status) that does not stop sales, e.g. an exchange whose
   * outcome could not be fully reconciled.
   */
  | { readonly type: 'fault'; readonly code: string; readonly cleared?: boolean; readonly detail?: string; readonly advisory?: boolean };

export interface PayoutResult {
  /** What actually left the tubes, coin by coin, as far as the device can tell. */
  readonly paid: CoinCounts;
  /** False when the payout stopped short (jam, empty tube, reset, timeout). */
  readonly complete: boolean;
  readonly faultCode?: string;
}

export interface CoinMechPort extends Device {
  readonly events$: Observable<CoinMechEvent>;
  /** Enable exactly these denominations; an empty list inhibits the acceptor. */
  setAcceptance(values: readonly Minor[]): Promise<void>;
  tubeLevels(): Promise<CoinCounts>;
  /** Pay out coins by denomination. Resolves with what was paid even when short. */
  dispense(plan: CoinCounts): Promise<PayoutResult>;
}

// ---------------------------------------------------------------- bill validator

export type BillEvent =
  /** A bill is held in escrow: not credit yet. */
  | { readonly type: 'escrow'; readonly value: Minor }
  /** The bill reached the stacker: now it is credit. */
  | { readonly type: 'stacked'; readonly value: Minor }
  /** An escrowed bill was handed back. */
  | { readonly type: 'returned'; readonly value: Minor }
  /** An unrecognised bill was refused at the slot (never money in the machine). */
  | { readonly type: 'rejected' }
  | { readonly type: 'fault'; readonly code: string; readonly cleared?: boolean; readonly detail?: string; readonly advisory?: boolean };

export interface BillValidatorPort extends Device {
  readonly events$: Observable<BillEvent>;
  setAcceptance(values: readonly Minor[]): Promise<void>;
  stack(): Promise<void>;
  returnBill(): Promise<void>;
}

// ---------------------------------------------------------------- cashless reader

export type CashlessEvent =
  /** A card was presented; `funds` is null when the reader does not tell the balance. */
  | { readonly type: 'sessionBegin'; readonly funds: Minor | null }
  | { readonly type: 'vendApproved'; readonly amount: Minor }
  | { readonly type: 'vendDenied' }
  /** The reader wants the session over (card removed, timeout on its side). */
  | { readonly type: 'sessionCancel' }
  | { readonly type: 'sessionEnded' }
  | { readonly type: 'fault'; readonly code: string; readonly cleared?: boolean; readonly detail?: string; readonly advisory?: boolean };

export interface CashlessPort extends Device {
  readonly events$: Observable<CashlessEvent>;
  enable(on: boolean): Promise<void>;
  /** Ask for approval; the answer arrives as `vendApproved` / `vendDenied`. */
  requestVend(price: Minor, item: number): Promise<void>;
  vendSucceeded(item: number): Promise<void>;
  /** The vend did not happen: the reader must not charge (refund / revert). */
  vendFailed(): Promise<void>;
  /** The controller is done with this session. */
  endSession(): Promise<void>;
}

// ---------------------------------------------------------------- keypad, display, door

export const LETTER_KEYS = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J'] as const;
export const DIGIT_KEYS = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'] as const;
export const KEYS = [...LETTER_KEYS, ...DIGIT_KEYS, 'CLEAR', 'RETURN'] as const;
export type Key = (typeof KEYS)[number];

export function isKey(s: string): s is Key {
  return (KEYS as readonly string[]).includes(s);
}

export interface KeypadPort extends Device {
  readonly keys$: Observable<Key>;
}

export interface DisplayPort extends Device {
  readonly rows: number;
  readonly cols: number;
  /** Lines already fitted to `cols`; at most `rows` of them. */
  show(lines: readonly string[]): Promise<void>;
}

export type DoorState = 'open' | 'closed';

export interface DoorPort extends Device {
  /** Current state first, then changes. */
  readonly door$: Observable<DoorState>;
}

// ---------------------------------------------------------------- dispenser (spiral motors) and drop sensor

export type DispenserEvent =
  /** The running motor's home switch opened: the spiral started turning. */
  | { readonly type: 'homeLeft'; readonly column: string }
  /** The home switch closed again: one full revolution. */
  | { readonly type: 'homeReached'; readonly column: string }
  /** The driver saw the motor stall (over-current or a stuck switch), where it can tell. */
  | { readonly type: 'stalled'; readonly column: string };

export interface DispenserPort extends Device {
  readonly events$: Observable<DispenserEvent>;
  /** Start one column's motor. Only one motor runs at a time. */
  motorOn(column: string): Promise<void>;
  /** Stop whatever motor is running (idempotent). */
  motorOff(): Promise<void>;
}

export interface DropSensorPort extends Device {
  /** `true` while the beam is broken. Current state first, then changes. */
  readonly beam$: Observable<boolean>;
}

/** Everything the controller drives. Optional devices may be absent. */
export interface MachinePorts {
  readonly coin: CoinMechPort;
  readonly bill?: BillValidatorPort;
  readonly card?: CashlessPort;
  readonly keypad: KeypadPort;
  readonly display: DisplayPort;
  readonly dispenser: DispenserPort;
  readonly drop: DropSensorPort;
  readonly door: DoorPort;
}

// ---------------------------------------------------------------- storage (the journal's disk)

/**
 * Whether the journal can still record what money needs. `low`: below the free-space reserve, so
 * no new money may be taken, but what is held can still be recorded and honoured. `failed`: a write
 * failed; nothing more can be trusted to disk.
 */
export type StorageHealth = { readonly status: 'ok' } | { readonly status: 'low' | 'failed'; readonly detail: string };
