/**
 * Fault injection for the simulated machine. `Faults` only keeps the list of active faults and
 * announces changes on `changes$`; each fake device (sim/devices/) reads the list when it acts and
 * reacts to changes that have an immediate physical effect.
 *
 * Semantics (the devices implement them):
 * - `coin-jam`: the next inserted coin sticks in the acceptor (world `stuck.coins`, not credited)
 *   and the mech emits `{type:'fault', code:'COIN_JAM'}`; further coins stick too until the fault is
 *   cleared, which emits the fault with `cleared: true` and drops the stuck coins into the return cup.
 * - `tube-empty <coin>`: the tube's coins move out of the payout's reach (world `stuck.tubeCoins`,
 *   still inside the machine, so no money is lost) while the reported level stays unchanged. A
 *   payout of that coin stops with `TUBE_EMPTY`. Clearing puts the coins back in the tube.
 * - `tube-count-wrong <coin> <n>`: the reported level of the tube is off by n (signed) from the
 *   physical one.
 * - `payout-short <n>`: the next payout stops after n coins with `complete: false, faultCode:
 *   'PAYOUT_JAM'`. Unlike the others it is `once` by default (pass `once: false` to keep it).
 * - `motor-stall <col>`: the motor never leaves home; `stalled` after 3 × motorStartMs.
 * - `motor-no-home <col>`: the motor leaves home and sticks mid-turn: nothing falls, home is never
 *   reached. After clearing, the next run finishes the turn (half a revolution).
 * - `drop-blocked`: the beam stays broken. `drop-blind`: the beam never breaks (products still fall).
 * - `spiral-empty <col>`: the spiral is physically empty (products go to the spiral's `hidden`
 *   count); clearing puts them back.
 * - `bill-jam`: the next stack jams the bill (world `stuck.bills`): no `stacked`, a
 *   `{type:'fault', code:'BILL_JAM'}` event and `stack()` rejects with `BILL_JAM`; the slot refuses
 *   bills while jammed. Clearing emits the fault with `cleared: true`, then `returned` as the bill is
 *   handed back to the customer, so the escrow ends "returned" (money-model.md invariant 3).
 * - `card-declined`: vend requests are denied. `card-timeout`: vend requests are never answered.
 * - `offline <device>`: the device's link goes offline and its commands reject `DEVICE_OFFLINE`;
 *   clearing brings it back online.
 *
 * `once: true` makes a fault apply to its next use only (then it is consumed): meaningful for
 * payout-short, motor-stall, motor-no-home, drop-blind, card-declined, card-timeout. The jams and the
 * state faults (tube-empty, tube-count-wrong, drop-blocked, spiral-empty, offline) last until cleared.
 */
import { Subject, type Observable } from 'rxjs';
import type { Clock, TimerHandle } from '../src/clock.ts';
import { COLUMN_CODE } from '../src/config/schema.ts';
import type { Minor } from '../src/ports/index.ts';

export const FAULT_NAMES = [
  'coin-jam',
  'tube-empty',
  'tube-count-wrong',
  'payout-short',
  'motor-stall',
  'motor-no-home',
  'drop-blocked',
  'drop-blind',
  'spiral-empty',
  'bill-jam',
  'card-declined',
  'card-timeout',
  'offline',
] as const;
export type FaultName = (typeof FAULT_NAMES)[number];

export const SIM_DEVICE_NAMES = ['coin', 'bill', 'card', 'keypad', 'display', 'dispenser', 'drop', 'door'] as const;
export type SimDeviceName = (typeof SIM_DEVICE_NAMES)[number];

export type FaultSpec =
  | { readonly name: 'coin-jam' }
  | { readonly name: 'tube-empty'; readonly coin: Minor }
  | { readonly name: 'tube-count-wrong'; readonly coin: Minor; readonly delta: number }
  | { readonly name: 'payout-short'; readonly count: number }
  | { readonly name: 'motor-stall'; readonly column: string }
  | { readonly name: 'motor-no-home'; readonly column: string }
  | { readonly name: 'drop-blocked' }
  | { readonly name: 'drop-blind' }
  | { readonly name: 'spiral-empty'; readonly column: string }
  | { readonly name: 'bill-jam' }
  | { readonly name: 'card-declined' }
  | { readonly name: 'card-timeout' }
  | { readonly name: 'offline'; readonly device: SimDeviceName };

export type FaultOf<N extends FaultName> = Extract<FaultSpec, { readonly name: N }>;

export interface FaultOptions {
  /** Activate at this virtual time (ms on the injected clock) instead of now. */
  readonly at?: number;
  /** Apply to the next use only, then consume the fault. */
  readonly once?: boolean;
}

export interface ActiveFault {
  readonly spec: FaultSpec;
  readonly once: boolean;
  /** Clock time when it became active. */
  readonly since: number;
}

export interface ScheduledFault {
  readonly spec: FaultSpec;
  readonly once: boolean;
  readonly at: number;
}

/** `activated`: now in force; `cleared`: removed by `clear`; `consumed`: a once-fault was used up. */
export interface FaultChange {
  readonly kind: 'activated' | 'cleared' | 'consumed';
  readonly fault: FaultSpec;
}

/** What the machine has, to reject faults naming a coin or column that does not exist. */
export interface FaultContext {
  readonly coins: readonly Minor[];
  readonly columns: readonly string[];
}

export class FaultSpecError extends Error {
  override readonly name = 'FaultSpecError';
}

const NO_PARAMS = new Set<FaultName>(['coin-jam', 'drop-blocked', 'drop-blind', 'bill-jam', 'card-declined', 'card-timeout']);
const COLUMN_FAULTS = new Set<FaultName>(['motor-stall', 'motor-no-home', 'spiral-empty']);

export function isFaultName(s: string): s is FaultName {
  return (FAULT_NAMES as readonly string[]).includes(s);
}

function isDeviceName(s: string): s is SimDeviceName {
  return (SIM_DEVICE_NAMES as readonly string[]).includes(s);
}

function usage(name: FaultName): string {
  if (NO_PARAMS.has(name)) return name;
  if (COLUMN_FAULTS.has(name)) return `${name} <column, e.g. A1>`;
  switch (name) {
    case 'tube-empty':
      return 'tube-empty <coin value in minor units>';
    case 'tube-count-wrong':
      return 'tube-count-wrong <coin value> <signed difference, e.g. -3>';
    case 'payout-short':
      return 'payout-short <coins paid before the jam>';
    case 'offline':
      return `offline <${SIM_DEVICE_NAMES.join('|')}>`;
    default:
      return name;
  }
}

function parseWhole(text: string, what: string, name: FaultName, signed = false): number {
  const ok = signed ? /^[+-]?\d+$/.test(text) : /^\d+$/.test(text);
  if (!ok) throw new FaultSpecError(`${name}: '${text}' is not ${what} (usage: ${usage(name)})`);
  const n = Number(text);
  // Counts, coins and tube differences of a simulated machine: far below this.
  if (!Number.isSafeInteger(n) || Math.abs(n) > 1_000_000) throw new FaultSpecError(`${name}: '${text}' is out of range (at most 1000000 in size)`);
  return n;
}

function parseColumn(text: string, name: FaultName): string {
  const code = text.toUpperCase();
  if (!COLUMN_CODE.test(code)) throw new FaultSpecError(`${name}: '${text}' is not a column code like A1 (usage: ${usage(name)})`);
  return code;
}

/**
 * Parses CLI/scenario text such as `motor-stall A1`, `tube-empty 50`, `payout-short 2`,
 * `offline bill`, `card-declined`. Throws FaultSpecError saying what was wrong.
 */
export function parseFaultSpec(text: string): FaultSpec {
  const words = text.trim().split(/\s+/).filter((w) => w.length > 0);
  const [head, ...args] = words;
  if (head === undefined) throw new FaultSpecError(`empty fault; expected one of: ${FAULT_NAMES.join(', ')}`);
  const name = head.toLowerCase();
  if (!isFaultName(name)) throw new FaultSpecError(`unknown fault '${head}'; expected one of: ${FAULT_NAMES.join(', ')}`);
  const want = NO_PARAMS.has(name) ? 0 : name === 'tube-count-wrong' ? 2 : 1;
  if (args.length !== want)
    throw new FaultSpecError(
      `${name} takes ${want === 0 ? 'no parameters' : want === 1 ? '1 parameter' : `${want} parameters`}, got ${args.length} (usage: ${usage(name)})`,
    );
  const a0 = args[0] ?? '';
  const a1 = args[1] ?? '';
  switch (name) {
    case 'coin-jam':
    case 'drop-blocked':
    case 'drop-blind':
    case 'bill-jam':
    case 'card-declined':
    case 'card-timeout':
      return { name };
    case 'tube-empty':
      return { name, coin: positiveCoin(parseWhole(a0, 'a coin value in minor units', name), name) };
    case 'tube-count-wrong':
      return {
        name,
        coin: positiveCoin(parseWhole(a0, 'a coin value in minor units', name), name),
        delta: parseWhole(a1, 'a signed whole number', name, true),
      };
    case 'payout-short':
      return { name, count: parseWhole(a0, 'a whole number of coins', name) };
    case 'motor-stall':
    case 'motor-no-home':
    case 'spiral-empty':
      return { name, column: parseColumn(a0, name) };
    case 'offline': {
      const device = a0.toLowerCase();
      if (!isDeviceName(device)) throw new FaultSpecError(`offline: unknown device '${a0}' (usage: ${usage(name)})`);
      return { name, device };
    }
  }
}

function positiveCoin(n: number, name: FaultName): number {
  if (n <= 0) throw new FaultSpecError(`${name}: a coin value must be positive (usage: ${usage(name)})`);
  return n;
}

/** The text form, the inverse of parseFaultSpec. */
export function formatFaultSpec(spec: FaultSpec): string {
  switch (spec.name) {
    case 'tube-empty':
      return `${spec.name} ${spec.coin}`;
    case 'tube-count-wrong':
      return `${spec.name} ${spec.coin} ${spec.delta >= 0 ? '+' : ''}${spec.delta}`;
    case 'payout-short':
      return `${spec.name} ${spec.count}`;
    case 'motor-stall':
    case 'motor-no-home':
    case 'spiral-empty':
      return `${spec.name} ${spec.column}`;
    case 'offline':
      return `${spec.name} ${spec.device}`;
    default:
      return spec.name;
  }
}

export function sameFault(a: FaultSpec, b: FaultSpec): boolean {
  return formatFaultSpec(a) === formatFaultSpec(b);
}

/** Checks a spec built in code (the type system cannot see bad numbers or unknown columns). */
export function validateFaultSpec(spec: FaultSpec, context?: FaultContext): void {
  const where = formatFaultSpec(spec);
  if (!isFaultName(spec.name)) throw new FaultSpecError(`unknown fault '${String(spec.name)}'`);
  switch (spec.name) {
    case 'tube-empty':
    case 'tube-count-wrong':
      if (!Number.isInteger(spec.coin) || spec.coin <= 0) throw new FaultSpecError(`${where}: coin must be a positive whole number`);
      if (context && !context.coins.includes(spec.coin))
        throw new FaultSpecError(`${where}: ${spec.coin} is not a coin of this machine (${context.coins.join(', ')})`);
      if (spec.name === 'tube-count-wrong' && !Number.isInteger(spec.delta))
        throw new FaultSpecError(`${where}: the difference must be a whole number`);
      break;
    case 'payout-short':
      if (!Number.isInteger(spec.count) || spec.count < 0) throw new FaultSpecError(`${where}: count must be a whole number ≥ 0`);
      break;
    case 'motor-stall':
    case 'motor-no-home':
    case 'spiral-empty':
      if (!COLUMN_CODE.test(spec.column)) throw new FaultSpecError(`${where}: '${spec.column}' is not a column code like A1`);
      if (context && !context.columns.includes(spec.column)) throw new FaultSpecError(`${where}: this machine has no column ${spec.column}`);
      break;
    case 'offline':
      if (!isDeviceName(spec.device)) throw new FaultSpecError(`${where}: unknown device (${SIM_DEVICE_NAMES.join(', ')})`);
      break;
    default:
      break;
  }
}

interface Entry {
  spec: FaultSpec;
  once: boolean;
  since: number;
}

interface Pending {
  spec: FaultSpec;
  once: boolean;
  at: number;
  timer: TimerHandle;
}

export class Faults {
  private readonly changes = new Subject<FaultChange>();
  /** Every activation, clearing and consumption, in order. Not replayed. */
  readonly changes$: Observable<FaultChange> = this.changes.asObservable();
  private entries: Entry[] = [];
  private pending: Pending[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly context?: FaultContext,
  ) {}

  /** Activate a fault now or at `opts.at`. Text is parsed with parseFaultSpec. Throws FaultSpecError on bad input. */
  inject(spec: FaultSpec | string, opts: FaultOptions = {}): FaultSpec {
    const parsed = typeof spec === 'string' ? parseFaultSpec(spec) : spec;
    validateFaultSpec(parsed, this.context);
    const once = opts.once ?? parsed.name === 'payout-short';
    const at = opts.at;
    if (at !== undefined) {
      if (!Number.isFinite(at)) throw new FaultSpecError(`${formatFaultSpec(parsed)}: 'at' must be a virtual time in ms`);
      if (at > this.clock.now()) {
        const entry: Pending = { spec: parsed, once, at, timer: undefined };
        entry.timer = this.clock.setTimeout(() => {
          this.pending = this.pending.filter((p) => p !== entry);
          this.activate(parsed, once);
        }, at - this.clock.now());
        this.pending.push(entry);
        return parsed;
      }
    }
    this.activate(parsed, once);
    return parsed;
  }

  /**
   * Clear by full spec (`tube-empty 50`) or by name (`tube-empty`: every one of them), active or
   * scheduled. Returns how many were removed.
   */
  clear(what: FaultSpec | FaultName | string): number {
    const match = this.matcher(what);
    let removed = 0;
    for (const p of this.pending.filter((x) => match(x.spec))) {
      this.clock.clearTimeout(p.timer);
      removed += 1;
    }
    this.pending = this.pending.filter((x) => !match(x.spec));
    const gone = this.entries.filter((e) => match(e.spec));
    this.entries = this.entries.filter((e) => !match(e.spec));
    for (const e of gone) this.changes.next({ kind: 'cleared', fault: e.spec });
    return removed + gone.length;
  }

  clearAll(): number {
    let n = 0;
    for (const name of FAULT_NAMES) n += this.clear(name);
    return n;
  }

  active(): readonly ActiveFault[] {
    return this.entries.map((e) => ({ spec: e.spec, once: e.once, since: e.since }));
  }

  scheduled(): readonly ScheduledFault[] {
    return this.pending.map((p) => ({ spec: p.spec, once: p.once, at: p.at }));
  }

  /** Active faults of this name (optionally filtered), without consuming them. */
  find<N extends FaultName>(name: N, where?: (f: FaultOf<N>) => boolean): FaultOf<N>[] {
    const out: FaultOf<N>[] = [];
    for (const e of this.entries) if (isNamed(e.spec, name) && (!where || where(e.spec))) out.push(e.spec);
    return out;
  }

  has<N extends FaultName>(name: N, where?: (f: FaultOf<N>) => boolean): boolean {
    return this.find(name, where).length > 0;
  }

  /** The first matching active fault, for a device about to act; a once-fault is consumed. */
  take<N extends FaultName>(name: N, where?: (f: FaultOf<N>) => boolean): FaultOf<N> | undefined {
    const entry = this.entries.find((e) => isNamed(e.spec, name) && (!where || where(e.spec)));
    if (!entry || !isNamed(entry.spec, name)) return undefined;
    if (entry.once) {
      this.entries = this.entries.filter((e) => e !== entry);
      this.changes.next({ kind: 'consumed', fault: entry.spec });
    }
    return entry.spec;
  }

  private activate(spec: FaultSpec, once: boolean): void {
    const existing = this.entries.find((e) => sameFault(e.spec, spec));
    if (existing) {
      // Re-injecting an active fault only updates its options: one fault, one effect.
      existing.once = once;
      return;
    }
    this.entries.push({ spec, once, since: this.clock.now() });
    this.changes.next({ kind: 'activated', fault: spec });
  }

  private matcher(what: FaultSpec | FaultName | string): (s: FaultSpec) => boolean {
    if (typeof what === 'string') {
      const trimmed = what.trim().toLowerCase();
      if (isFaultName(trimmed)) return (s) => s.name === trimmed;
      const spec = parseFaultSpec(what);
      return (s) => sameFault(s, spec);
    }
    return (s) => sameFault(s, what);
  }
}

function isNamed<N extends FaultName>(spec: FaultSpec, name: N): spec is FaultOf<N> {
  return spec.name === name;
}
