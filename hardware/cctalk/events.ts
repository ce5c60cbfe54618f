/**
 * Pure helpers for ccTalk event buffers (header 229 / 159, protocols.md §3.4): the event-counter
 * ring, the coin-acceptor error codes, and the coin id text.
 */

/** One result pair of a 229 reply: A ≠ 0 is a credit (coin position, sorter path), A = 0 an event. */
export interface EventResult {
  readonly a: number;
  readonly b: number;
}

export interface BufferedCredit {
  readonly counter: number;
  /** Newest first, exactly as on the wire (5 pairs). */
  readonly results: readonly EventResult[];
}

/** Parse the 11 data bytes of a 229 reply; null when the length is wrong. */
export function parseBufferedCredit(data: Uint8Array): BufferedCredit | null {
  if (data.length !== 11) return null;
  const results: EventResult[] = [];
  for (let i = 0; i < 5; i++) results.push({ a: data[1 + 2 * i] ?? 0, b: data[2 + 2 * i] ?? 0 });
  return { counter: data[0] ?? 0, results };
}

export type CounterStep =
  /** Same counter: nothing new (idempotent re-read). */
  | { readonly kind: 'none' }
  /** `count` new events (1..5); process results[count-1] down to results[0]. */
  | { readonly kind: 'new'; readonly count: number }
  /** More than 5 new events since the last read: only 5 are in the buffer, `lost` are gone. */
  | { readonly kind: 'overflow'; readonly count: number; readonly lost: number }
  /** Counter back to 0 after a non-zero value: the device was reset or lost power. */
  | { readonly kind: 'reset' };

/**
 * How far the counter moved (§3.4): it wraps 255 → 1 and is 0 only after power-up/reset, so the
 * distance is taken on the ring 1..255. Spec examples: 23/23 → 0; 104/102 → 2; 1/255 → 1;
 * 3/253 → 5; 54/48 → lost events; 0/67 → power fail.
 */
export function counterStep(last: number, current: number): CounterStep {
  if (current === last) return { kind: 'none' };
  if (current === 0) return { kind: 'reset' };
  const count = last === 0 ? current : current > last ? current - last : current + 255 - last;
  if (count > 5) return { kind: 'overflow', count, lost: count - 5 };
  return { kind: 'new', count };
}

/** The counter after `n` more events from `c` (ring 1..255). */
export function advanceCounter(c: number, n = 1): number {
  let x = c;
  for (let i = 0; i < n; i++) x = x >= 255 ? 1 : x + 1;
  return x;
}

export type CoinErrorClass =
  /** The coin was handed back to the customer: no money in the machine. */
  | 'rejected'
  /** The coin return lever / flight deck (254). */
  | 'returnLever'
  /** A jam-type sensor fault: a coin may be stuck. */
  | 'jam'
  /** Fraud attempt or security change. */
  | 'fraud'
  /** The coin went in but was not credited (36 swallowed coin): money in the machine, no credit. */
  | 'swallowed'
  /** Other mechanism faults. */
  | 'fault'
  /** Nothing to do (null event, data block request, reserved). */
  | 'ignore';

export interface CoinErrorInfo {
  readonly cls: CoinErrorClass;
  readonly name: string;
  /** For inhibited coin 128–159: the coin position (1–32). */
  readonly position?: number;
}

/** Names from the CCT2 table in protocols.md §3.4 (QTCCTALK `CcCoinAcceptorEventCode`). */
const CODES: Readonly<Record<number, readonly [CoinErrorClass, string]>> = {
  0: ['ignore', 'null event'],
  1: ['rejected', 'reject coin'],
  2: ['rejected', 'inhibited coin'],
  3: ['rejected', 'multiple window'],
  4: ['fault', 'wake-up timeout'],
  5: ['rejected', 'validation timeout'],
  6: ['fault', 'credit sensor timeout'],
  7: ['fault', 'sorter opto timeout'],
  8: ['rejected', '2nd close coin error'],
  9: ['fault', 'accept gate not ready'],
  10: ['fault', 'credit sensor not ready'],
  11: ['fault', 'sorter not ready'],
  12: ['fault', 'reject coin not cleared'],
  13: ['fault', 'validation sensor not ready'],
  14: ['jam', 'credit sensor blocked'],
  15: ['jam', 'sorter opto blocked'],
  16: ['fraud', 'credit sequence error'],
  17: ['fraud', 'coin going backwards'],
  18: ['rejected', 'coin too fast over credit sensor'],
  19: ['rejected', 'coin too slow over credit sensor'],
  20: ['fraud', 'coin on string'],
  21: ['fault', 'DCE opto timeout'],
  22: ['fault', 'DCE opto not seen'],
  23: ['fraud', 'credit sensor reached too early'],
  24: ['rejected', 'reject coin (repeated sequential trip)'],
  25: ['rejected', 'reject slug'],
  26: ['jam', 'reject sensor blocked'],
  27: ['fault', 'games overload'],
  28: ['fault', 'max. coin meter pulses exceeded'],
  29: ['jam', 'accept gate open not closed'],
  30: ['jam', 'accept gate closed not open'],
  31: ['fault', 'manifold error'],
  32: ['fault', 'manifold error'],
  33: ['fault', 'manifold error'],
  34: ['fraud', 'security status changed'],
  35: ['fault', 'motor exception'],
  36: ['swallowed', 'swallowed coin'],
  37: ['rejected', 'coin too fast over validation sensor'],
  38: ['rejected', 'coin too slow over validation sensor'],
  39: ['fault', 'coin incorrectly sorted'],
  40: ['fraud', 'external light attack'],
  253: ['ignore', 'data block request'],
  254: ['returnLever', 'coin return mechanism activated'],
  255: ['fault', 'unspecified alarm code'],
};

/** Classify result B of an A = 0 event (§3.4). Unknown codes are faults, never crashes. */
export function classifyCoinError(b: number): CoinErrorInfo {
  if (b >= 128 && b <= 159) return { cls: 'rejected', name: `inhibited coin (type ${b - 127})`, position: b - 127 };
  if (b >= 160 && b <= 191) return { cls: 'ignore', name: `credit cancelling (${b})` };
  const known = CODES[b];
  if (known) return { cls: known[0], name: known[1] };
  return { cls: 'fault', name: `unknown event code ${b}` };
}

export interface ParsedCoinId {
  readonly country: string;
  readonly value: number;
  readonly issue: string;
}

/**
 * Read a coin id such as "EU200A" (header 184): 2-letter country, 3 digits of value, 1 issue
 * letter. The naming rules are in CCT2 Part 3, which was not read (protocols.md §3.3,
 * unconfirmed): the digits are taken as the value in MINOR units ("EU005A" = 5 cent,
 * "EU200A" = 2 euro = 200), which fits the euro and sterling examples. Anything else (including
 * the "......" of an empty position or multiplier letters like "2K5") gives null; configure those
 * positions explicitly.
 */
export function parseCoinId(text: string): ParsedCoinId | null {
  const m = /^([A-Z]{2})(\d{3})([A-Z])$/.exec(text.trim());
  if (!m) return null;
  const [, country, digits, issue] = m;
  if (country === undefined || digits === undefined || issue === undefined) return null;
  const value = Number.parseInt(digits, 10);
  if (value <= 0) return null;
  return { country, value, issue };
}

/** ASCII bytes to text, with non-printable bytes shown as "?" (bad device data is reported, not fatal). */
export function asciiText(data: Uint8Array): string {
  let s = '';
  for (const b of data) s += b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '?';
  return s;
}

/** A 3-byte LSB-first serial number (242). */
export function parseSerial(data: Uint8Array): number | null {
  if (data.length !== 3) return null;
  return (data[0] ?? 0) | ((data[1] ?? 0) << 8) | ((data[2] ?? 0) << 16);
}

export function serialBytes(serial: number): [number, number, number] {
  return [serial & 0xff, (serial >> 8) & 0xff, (serial >> 16) & 0xff];
}

/** Test hopper (163) register 1 bits (protocols.md §3.3). */
export const HopperFlag = {
  MAX_CURRENT: 1 << 0,
  PAYOUT_TIMEOUT: 1 << 1,
  MOTOR_REVERSED: 1 << 2,
  OPTO_FRAUD_PATH_BLOCKED: 1 << 3,
  OPTO_FRAUD_SHORT: 1 << 4,
  OPTO_BLOCKED_DURING_PAYOUT: 1 << 5,
  POWER_UP: 1 << 6,
  PAYOUT_DISABLED: 1 << 7,
} as const;

export type HopperFaultCode = 'HOPPER_EMPTY' | 'HOPPER_JAM' | 'HOPPER_FRAUD';

/**
 * What stopped a payout, from register 1. A jam sign wins over a timeout, because a jammed
 * hopper also times out; a timeout alone is read as "empty" (no coin came out).
 */
export function hopperFault(flags: number): HopperFaultCode | null {
  if (flags & (HopperFlag.MAX_CURRENT | HopperFlag.MOTOR_REVERSED | HopperFlag.OPTO_BLOCKED_DURING_PAYOUT)) return 'HOPPER_JAM';
  if (flags & (HopperFlag.OPTO_FRAUD_PATH_BLOCKED | HopperFlag.OPTO_FRAUD_SHORT)) return 'HOPPER_FRAUD';
  if (flags & HopperFlag.PAYOUT_TIMEOUT) return 'HOPPER_EMPTY';
  return null;
}
