/**
 * The simulated physical world: where every coin, bill and product is right now. Plain state plus
 * small mutators that each move something from one place to another (money-model.md "events as
 * moves"); no timers and no events here, the fake devices (sim/devices/) own the timing.
 *
 * Money places (integer minor units):
 *   wallet (+ unlimited pocket) → inFlight (in a validator) → tubes / cashbox / escrow → stacker,
 *   tubes → returnCup → wallet (the customer collects), and `stuck` for money caught in a jammed
 *   mechanism. `totalMoney()` sums them all, minus what was drawn from the pocket, so it only
 *   changes by a service fill or removal. `machineCash()` and `expectedMachineCash()` make
 *   money-model.md invariant 2 (machine side) a one-line check.
 *
 * Model of `tube-empty` (sim/faults.ts): the tube's coins move to `stuck.tubeCoins`. They are still
 * inside the machine (so they count in `machineCash()` and invariant 2 keeps holding) but the payout
 * cannot reach them, while the tube sensor keeps reporting them. Clearing the fault puts them back.
 */
import type { MachineConfig } from '../src/config/schema.ts';
import type { CoinCounts, DoorState, Minor } from '../src/ports/index.ts';

export type MutableCounts = Record<number, number>;

export interface BinItem {
  readonly column: string;
  readonly product: string;
}

export interface Spiral {
  readonly product: string;
  readonly capacity: number;
  /** Products physically in the spiral (may disagree with the catalog's stock). */
  count: number;
  /** Products taken out by the `spiral-empty` fault, put back when it clears. */
  hidden: number;
}

export interface CardState {
  /** A card is on / in the reader. */
  present: boolean;
  balance: Minor;
  /** Totals over the run: approved = charged + reverted once every vend is settled. */
  approved: Minor;
  charged: Minor;
  reverted: Minor;
}

/** Sum of denomination × count. */
export function countsValue(counts: CoinCounts): Minor {
  let total = 0;
  for (const [key, n] of Object.entries(counts)) total += Number(key) * n;
  return total;
}

/** Adds n (may be negative) to counts[d]; refuses to go below zero, which would be a bug. */
export function addCount(counts: MutableCounts, d: number, n = 1): void {
  const next = (counts[d] ?? 0) + n;
  if (next < 0) throw new RangeError(`count of ${d} would go negative (${next})`);
  counts[d] = next;
}

/** A copy without zero entries (snapshots stay short and easy to compare). */
export function nonZero(counts: CoinCounts): Record<number, number> {
  const out: Record<number, number> = {};
  for (const [key, n] of Object.entries(counts)) if (n !== 0) out[Number(key)] = n;
  return out;
}

function take(counts: MutableCounts, d: number, where: string): void {
  if ((counts[d] ?? 0) <= 0) throw new RangeError(`no ${d} in ${where}`);
  addCount(counts, d, -1);
}

function moveAll(from: MutableCounts, to: MutableCounts): MutableCounts {
  const moved: MutableCounts = {};
  for (const [key, n] of Object.entries(from)) {
    if (n <= 0) continue;
    const d = Number(key);
    addCount(to, d, n);
    moved[d] = n;
    from[d] = 0;
  }
  return moved;
}

function requireCount(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${what} must be a whole number ≥ 0, got ${n}`);
}

export interface WorldSnapshot {
  readonly tubes: Record<number, number>;
  readonly tubeCapacity: number;
  readonly cashbox: Record<number, number>;
  readonly stacker: Record<number, number>;
  readonly escrow: Minor | null;
  readonly inFlight: { readonly coins: Record<number, number>; readonly bills: Record<number, number> };
  readonly stuck: {
    readonly coins: Record<number, number>;
    readonly tubeCoins: Record<number, number>;
    readonly bills: Record<number, number>;
  };
  readonly spirals: Record<string, { readonly product: string; readonly count: number; readonly hidden: number }>;
  readonly motor: { readonly running: string | null; readonly awayFromHome: readonly string[] };
  readonly falling: readonly BinItem[];
  readonly beam: boolean;
  readonly door: DoorState;
  readonly wallet: { readonly coins: Record<number, number>; readonly bills: Record<number, number> };
  readonly pocketDraws: Minor;
  readonly card: Readonly<CardState>;
  readonly bin: readonly BinItem[];
  readonly cup: Record<number, number>;
  readonly money: {
    readonly machineCash: Minor;
    readonly expectedMachineCash: Minor;
    readonly totalMoney: Minor;
    readonly expectedTotalMoney: Minor;
    readonly initialFill: Minor;
    readonly serviceFill: Minor;
    readonly serviceRemoved: Minor;
    readonly inserted: Minor;
    readonly paidOut: Minor;
  };
}

export class World {
  /** Currency coin and bill denominations; every coin has a change tube. */
  readonly coins: readonly Minor[];
  readonly bills: readonly Minor[];
  readonly tubeCapacity: number;

  /** Coins the payout can reach, per denomination. */
  readonly tubes: MutableCounts = {};
  readonly cashbox: MutableCounts = {};
  readonly stacker: MutableCounts = {};
  escrow: Minor | null = null;
  /** Inside a validator, not yet decided. */
  readonly inFlight: { readonly coins: MutableCounts; readonly bills: MutableCounts } = { coins: {}, bills: {} };
  /** Caught in a jammed mechanism: `coins` in the acceptor path, `tubeCoins` out of the payout's reach, `bills` on the way to the stacker. */
  readonly stuck: { readonly coins: MutableCounts; readonly tubeCoins: MutableCounts; readonly bills: MutableCounts } = {
    coins: {},
    tubeCoins: {},
    bills: {},
  };

  readonly spirals = new Map<string, Spiral>();
  /** `running`: the energised motor; `away`: columns whose home switch is open. */
  readonly motor: { running: string | null; readonly away: Set<string> } = { running: null, away: new Set() };
  /** Products that left a spiral and have not reached the bin yet. */
  readonly falling: BinItem[] = [];
  /** Physical drop-sensor beam: true while broken. */
  beam = false;
  door: DoorState = 'closed';

  readonly wallet: { readonly coins: MutableCounts; readonly bills: MutableCounts } = { coins: {}, bills: {} };
  /** Value taken from the customer's unlimited pocket when the wallet ran out of a denomination. */
  pocketDraws: Minor = 0;
  readonly card: CardState;
  readonly bin: BinItem[] = [];
  readonly cup: MutableCounts = {};
  /** Bills handed back to the customer so far (refused, rejected, returned from escrow, released from a jam). Not persisted. */
  readonly handedBack: MutableCounts = {};

  /** Invariant 2 bookkeeping. `inserted`/`paidOut` are the physical truth the controller's counters should match. */
  readonly initialFill: Minor;
  serviceFill: Minor = 0;
  serviceRemoved: Minor = 0;
  inserted: Minor = 0;
  paidOut: Minor = 0;
  private readonly initialTotal: Minor;

  constructor(config: MachineConfig) {
    this.coins = [...config.currency.coins];
    this.bills = [...config.currency.bills];
    this.tubeCapacity = config.sim.tubeCapacity;
    for (const d of this.coins) {
      const n = config.sim.tubes[String(d)] ?? 0;
      if (n > this.tubeCapacity) throw new RangeError(`sim.tubes.${d}: ${n} coins exceed the tube capacity ${this.tubeCapacity}`);
      this.tubes[d] = n;
    }
    for (const [key, n] of Object.entries(config.sim.wallet.coins)) this.wallet.coins[Number(key)] = n;
    for (const [key, n] of Object.entries(config.sim.wallet.bills)) this.wallet.bills[Number(key)] = n;
    for (const slot of config.catalog.slots)
      this.spirals.set(slot.code, { product: slot.product, capacity: slot.capacity, count: slot.stock, hidden: 0 });
    this.card = { present: false, balance: config.sim.cardBalance, approved: 0, charged: 0, reverted: 0 };
    this.initialFill = this.machineCash();
    this.initialTotal = this.totalMoney();
  }

  // ------------------------------------------------------------------ money sums

  /** Money inside the machine: tubes (including coins out of the payout's reach), cashbox, stacker. */
  machineCash(): Minor {
    return countsValue(this.tubes) + countsValue(this.stuck.tubeCoins) + countsValue(this.cashbox) + countsValue(this.stacker);
  }

  /**
   * Invariant 2's right-hand side: initialFill + inserted − paidOut + serviceFill − serviceRemoved.
   * Pass the controller's own `inserted`/`paidOut` to check it against the world.
   */
  expectedMachineCash(inserted: Minor = this.inserted, paidOut: Minor = this.paidOut): Minor {
    return this.initialFill + inserted - paidOut + this.serviceFill - this.serviceRemoved;
  }

  /** All the money there is, wherever it is, less what came out of the pocket. */
  totalMoney(): Minor {
    return (
      countsValue(this.wallet.coins) +
      countsValue(this.wallet.bills) -
      this.pocketDraws +
      countsValue(this.inFlight.coins) +
      countsValue(this.inFlight.bills) +
      (this.escrow ?? 0) +
      this.machineCash() +
      countsValue(this.cup) +
      countsValue(this.stuck.coins) +
      countsValue(this.stuck.bills)
    );
  }

  /** What `totalMoney()` must equal: only service moves money in or out of the world. */
  expectedTotalMoney(): Minor {
    return this.initialTotal + this.serviceFill - this.serviceRemoved;
  }

  tubeCount(d: Minor): number {
    return this.tubes[d] ?? 0;
  }

  isCoin(value: Minor): boolean {
    return this.coins.includes(value);
  }

  isBill(value: Minor): boolean {
    return this.bills.includes(value);
  }

  // ------------------------------------------------------------------ customer → validators

  /** The customer puts a coin or bill into a slot: wallet (or pocket) → inFlight. */
  customerInserts(kind: 'coin' | 'bill', value: Minor): 'wallet' | 'pocket' {
    if (!Number.isInteger(value) || value <= 0) throw new RangeError(`a ${kind} must be a positive whole number of minor units, got ${value}`);
    const purse = kind === 'coin' ? this.wallet.coins : this.wallet.bills;
    let source: 'wallet' | 'pocket' = 'wallet';
    if ((purse[value] ?? 0) > 0) addCount(purse, value, -1);
    else {
      this.pocketDraws += value;
      source = 'pocket';
    }
    addCount(kind === 'coin' ? this.inFlight.coins : this.inFlight.bills, value, 1);
    return source;
  }

  /** A validated coin goes to its tube or the cashbox: now it is money in the machine. */
  coinAccepted(value: Minor, routing: 'tube' | 'cashbox'): void {
    take(this.inFlight.coins, value, 'the coin validator');
    addCount(routing === 'tube' ? this.tubes : this.cashbox, value, 1);
    this.inserted += value;
  }

  /** A rejected coin (or one falling through an inhibited acceptor) drops into the return cup. */
  coinToCup(value: Minor): void {
    take(this.inFlight.coins, value, 'the coin validator');
    addCount(this.cup, value, 1);
  }

  /** The coin jams in the acceptor path: neither credited nor returned. */
  coinStuck(value: Minor): void {
    take(this.inFlight.coins, value, 'the coin validator');
    addCount(this.stuck.coins, value, 1);
  }

  /** Clearing a coin jam drops the stuck coins into the return cup. */
  releaseStuckCoins(): MutableCounts {
    return moveAll(this.stuck.coins, this.cup);
  }

  /** One coin of d from the tube into the return cup; false when the tube is physically empty. */
  payCoin(d: Minor): boolean {
    if (this.tubeCount(d) <= 0) return false;
    addCount(this.tubes, d, -1);
    addCount(this.cup, d, 1);
    this.paidOut += d;
    return true;
  }

  billToEscrow(value: Minor): void {
    if (this.escrow !== null) throw new RangeError(`escrow already holds ${this.escrow}`);
    take(this.inFlight.bills, value, 'the bill validator');
    this.escrow = value;
  }

  /** A refused or rejected bill goes back to the customer. */
  billBackToWallet(value: Minor): void {
    take(this.inFlight.bills, value, 'the bill validator');
    addCount(this.wallet.bills, value, 1);
    addCount(this.handedBack, value, 1);
  }

  stackEscrow(): Minor {
    const value = this.requireEscrow();
    this.escrow = null;
    addCount(this.stacker, value, 1);
    this.inserted += value;
    return value;
  }

  returnEscrow(): Minor {
    const value = this.requireEscrow();
    this.escrow = null;
    addCount(this.wallet.bills, value, 1);
    addCount(this.handedBack, value, 1);
    return value;
  }

  /** The bill jams between escrow and stacker: not credit, not returned. */
  jamEscrow(): Minor {
    const value = this.requireEscrow();
    this.escrow = null;
    addCount(this.stuck.bills, value, 1);
    return value;
  }

  /** Clearing a bill jam hands the bills back to the customer. */
  releaseStuckBills(): MutableCounts {
    const released = moveAll(this.stuck.bills, this.wallet.bills);
    for (const [d, n] of Object.entries(released)) addCount(this.handedBack, Number(d), n);
    return released;
  }

  private requireEscrow(): Minor {
    if (this.escrow === null) throw new RangeError('no bill in escrow');
    return this.escrow;
  }

  // ------------------------------------------------------------------ fault effects

  /** tube-empty: the tube's coins go out of the payout's reach (still in the machine). */
  hideTube(d: Minor): void {
    const n = this.tubeCount(d);
    if (n > 0) {
      addCount(this.tubes, d, -n);
      addCount(this.stuck.tubeCoins, d, n);
    }
  }

  restoreTube(d: Minor): void {
    const n = this.stuck.tubeCoins[d] ?? 0;
    if (n > 0) {
      addCount(this.stuck.tubeCoins, d, -n);
      addCount(this.tubes, d, n);
    }
  }

  /** spiral-empty: the spiral's products go to its `hidden` count. */
  hideSpiral(column: string): void {
    const s = this.requireSpiral(column);
    s.hidden += s.count;
    s.count = 0;
  }

  restoreSpiral(column: string): void {
    const s = this.requireSpiral(column);
    s.count = Math.min(s.capacity, s.count + s.hidden);
    s.hidden = 0;
  }

  // ------------------------------------------------------------------ products

  /** One product leaves the spiral (a revolution pushed it off); null when the spiral is empty. */
  productFalls(column: string): BinItem | null {
    const s = this.requireSpiral(column);
    if (s.count <= 0) return null;
    s.count -= 1;
    const item = { column, product: s.product };
    this.falling.push(item);
    return item;
  }

  productLands(item: BinItem): void {
    const i = this.falling.indexOf(item);
    if (i < 0) throw new RangeError(`${item.product} from ${item.column} is not falling`);
    this.falling.splice(i, 1);
    this.bin.push(item);
  }

  private requireSpiral(column: string): Spiral {
    const s = this.spirals.get(column);
    if (!s) throw new RangeError(`no spiral ${column}`);
    return s;
  }

  // ------------------------------------------------------------------ service and customer helpers

  /** Service puts n coins of d into its tube (money from outside the world). */
  fillTube(d: Minor, n: number): void {
    if (!this.isCoin(d)) throw new RangeError(`${d} is not a coin of this currency`);
    requireCount(n, 'fill count');
    if (this.tubeCount(d) + n > this.tubeCapacity)
      throw new RangeError(`tube ${d} holds ${this.tubeCount(d)}; adding ${n} exceeds its capacity ${this.tubeCapacity}`);
    addCount(this.tubes, d, n);
    this.serviceFill += d * n;
  }

  /** Service empties the coin cashbox; returns the value removed. */
  emptyCashbox(): Minor {
    const value = countsValue(this.cashbox);
    for (const key of Object.keys(this.cashbox)) this.cashbox[Number(key)] = 0;
    this.serviceRemoved += value;
    return value;
  }

  /** Service empties the bill stacker; returns the value removed. */
  emptyStacker(): Minor {
    const value = countsValue(this.stacker);
    for (const key of Object.keys(this.stacker)) this.stacker[Number(key)] = 0;
    this.serviceRemoved += value;
    return value;
  }

  /** Service adds n products to a spiral. */
  refillSpiral(column: string, n: number): void {
    const s = this.requireSpiral(column);
    requireCount(n, 'refill count');
    if (s.count + n > s.capacity) throw new RangeError(`spiral ${column} holds ${s.count}; adding ${n} exceeds its capacity ${s.capacity}`);
    s.count += n;
  }

  /** The customer collects the return cup (the coins go back into the wallet). */
  takeFromCup(): MutableCounts {
    return moveAll(this.cup, this.wallet.coins);
  }

  /** The customer collects the delivery bin. */
  takeFromBin(): BinItem[] {
    return this.bin.splice(0, this.bin.length);
  }

  // ------------------------------------------------------------------ snapshot

  snapshot(): WorldSnapshot {
    const spirals: Record<string, { product: string; count: number; hidden: number }> = {};
    for (const [code, s] of this.spirals) spirals[code] = { product: s.product, count: s.count, hidden: s.hidden };
    return {
      tubes: { ...this.tubes },
      tubeCapacity: this.tubeCapacity,
      cashbox: nonZero(this.cashbox),
      stacker: nonZero(this.stacker),
      escrow: this.escrow,
      inFlight: { coins: nonZero(this.inFlight.coins), bills: nonZero(this.inFlight.bills) },
      stuck: { coins: nonZero(this.stuck.coins), tubeCoins: nonZero(this.stuck.tubeCoins), bills: nonZero(this.stuck.bills) },
      spirals,
      motor: { running: this.motor.running, awayFromHome: [...this.motor.away].sort() },
      falling: this.falling.map((i) => ({ ...i })),
      beam: this.beam,
      door: this.door,
      wallet: { coins: nonZero(this.wallet.coins), bills: nonZero(this.wallet.bills) },
      pocketDraws: this.pocketDraws,
      card: { ...this.card },
      bin: this.bin.map((i) => ({ ...i })),
      cup: nonZero(this.cup),
      money: {
        machineCash: this.machineCash(),
        expectedMachineCash: this.expectedMachineCash(),
        totalMoney: this.totalMoney(),
        expectedTotalMoney: this.expectedTotalMoney(),
        initialFill: this.initialFill,
        serviceFill: this.serviceFill,
        serviceRemoved: this.serviceRemoved,
        inserted: this.inserted,
        paidOut: this.paidOut,
      },
    };
  }
}

export function createWorld(config: MachineConfig): World {
  return new World(config);
}
