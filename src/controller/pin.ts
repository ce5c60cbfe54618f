/**
 * Who may take money out: the service PIN's back-off and lockout, as pure functions shared by the
 * statechart (live) and the journal's recovery (after a restart).
 *
 * Every wrong PIN is journalled (`serviceAction wrongPin`) and makes the keypad wait before the next
 * attempt (`backoffMs`, times `growth` for each further wrong PIN). After `attempts` wrong PINs in a
 * row the service menu locks out (`serviceAction pinLockout`) for `lockoutMs`, times `growth` for
 * each lockout since the last right PIN, at most `maxLockoutMs`; it ends by itself
 * (`serviceAction pinLockoutEnded`), and the right PIN (`serviceAction unlock`) resets the counts.
 * A restart does not end a lockout: recovery restores it, and it runs its full time again.
 */
import type { MachineEvent } from './events.ts';

export interface PinPolicy {
  /** Wrong PINs in a row before the lockout. */
  readonly attempts: number;
  /** Wait after the first wrong PIN before the keypad takes digits again. */
  readonly backoffMs: number;
  /** The first lockout's length. */
  readonly lockoutMs: number;
  /** Each further wrong PIN multiplies the wait, each further lockout the lockout, by this. */
  readonly growth: number;
  /** No lockout lasts longer than this. */
  readonly maxLockoutMs: number;
}

/** What the journal keeps about PIN attempts (restored after a restart). */
export interface PinRecord {
  /** Wrong PINs since the last lockout or right PIN. */
  readonly failures: number;
  /** Lockouts since the last right PIN. */
  readonly lockouts: number;
  /** A lockout is in force. */
  readonly lockedOut: boolean;
}

export const NO_PIN_RECORD: PinRecord = { failures: 0, lockouts: 0, lockedOut: false };

/** A restored record as the chart may use it: counts that are not small whole numbers read as 0. */
export function sanePinRecord(r: Partial<PinRecord> | undefined): PinRecord {
  const count = (n: unknown): number => (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 && n <= 1_000_000 ? n : 0);
  return { failures: count(r?.failures), lockouts: count(r?.lockouts), lockedOut: r?.lockedOut === true };
}

/** The longest timer delay Node takes (2^31 − 1 ms, about 24.8 days). */
const MAX_TIMER_MS = 2_147_483_647;

function grown(base: number, growth: number, steps: number, cap: number): number {
  let ms = base;
  for (let i = 0; i < steps && ms < cap; i++) ms *= growth;
  return Math.min(cap, MAX_TIMER_MS, Math.round(ms));
}

/** The wait after the `failures`-th wrong PIN in a row. */
export function backoffMs(policy: PinPolicy, failures: number): number {
  return grown(policy.backoffMs, policy.growth, Math.max(0, failures - 1), policy.maxLockoutMs);
}

/** The length of the `lockouts`-th lockout since the last right PIN. */
export function lockoutMs(policy: PinPolicy, lockouts: number): number {
  return grown(policy.lockoutMs, policy.growth, Math.max(0, lockouts - 1), policy.maxLockoutMs);
}

/** One journalled event applied to the PIN record. Pure; other events leave it as it is. */
export function applyPinEvent(r: PinRecord, event: MachineEvent): PinRecord {
  if (event.type !== 'serviceAction') return r;
  switch (event.action) {
    case 'wrongPin':
      return { ...r, failures: r.failures + 1 };
    case 'pinLockout':
      return { failures: 0, lockouts: r.lockouts + 1, lockedOut: true };
    case 'pinLockoutEnded':
      return { ...r, lockedOut: false };
    case 'unlock':
      return NO_PIN_RECORD;
    default:
      return r;
  }
}
