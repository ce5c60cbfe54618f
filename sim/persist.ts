/**
 * The simulated world survives a "power cut" as physical reality does: where every coin, bill and
 * product is gets written to the journal's side table (`side_state`, key `sim_world`), so a
 * restarted simulator continues with the same coins in the tubes, cashbox, cup and wallet and the
 * same products in the spirals and the bin.
 *
 * Consistency with the journal: a world change that goes with a journalled event (a coin routed, a
 * bill stacked, a product delivered) happens in the same synchronous JS turn as the event, and the
 * world is written in the same SQLite transaction as the event's append (`onAppend`). A change with
 * no event of its own (a coin paid out of a tube, a product falling, the customer taking the cup)
 * is written at the end of its turn in a transaction of its own (`flushSoon`, or `flush`). So a cut
 * can fall between two coins of a payout and its `payoutDone` (the real "payout cut part-way"), but
 * never between a coin's routing and its journal entry.
 *
 * What a restart does to the physical world (`restoreWorld`), as a power cycle would:
 * - coins inside the acceptor fall to the return cup, bills inside the validator come back out;
 * - products in the air land in the bin; no motor is energised and the beam is clear;
 * - the simulator's injected faults are gone, and what they held is released as clearing them
 *   would: jammed coins to the cup, jammed bills to the customer, hidden tube coins and products
 *   back in place;
 * - the card reader forgets an approval it was never told the outcome of (not charged, reverted);
 * - a bill in escrow stays there: the controller's recovery asks the validator to hand it back.
 */
import { JournalError, type Journal } from '../src/journal/store.ts';
import type { Minor } from '../src/ports/index.ts';
import { VirtualClock } from './clock.ts';
import type { SimMachine } from './machine.ts';
import { addCount, countsValue, type BinItem, type MutableCounts, type WorldSnapshot } from './world.ts';

export const SIM_WORLD_KEY = 'sim_world';
export const PERSISTED_SIM_VERSION = 1;

export interface PersistedSim {
  readonly version: typeof PERSISTED_SIM_VERSION;
  /** Virtual time of the write. */
  readonly at: number;
  readonly world: WorldSnapshot;
  /** Named counts a driver keeps with the world (e.g. products refilled), persisted atomically with it. */
  readonly tallies: Readonly<Record<string, number>>;
}

export class PersistError extends Error {
  override readonly name = 'PersistError';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The saved world, or null when the journal holds none. Throws PersistError for a damaged one. */
export function loadSavedSim(journal: Journal): PersistedSim | null {
  const text = journal.getSide(SIM_WORLD_KEY);
  if (text === undefined) return null;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new PersistError(`${journal.path}: the saved simulated world (side state ${SIM_WORLD_KEY}) is not valid JSON: ${(e as Error).message}`);
  }
  if (!isRecord(v) || v.version !== PERSISTED_SIM_VERSION || typeof v.at !== 'number' || !isRecord(v.world) || !isRecord(v.tallies))
    throw new PersistError(`${journal.path}: the saved simulated world (side state ${SIM_WORLD_KEY}) is not a version ${PERSISTED_SIM_VERSION} world`);
  return v as unknown as PersistedSim;
}

function setCounts(target: MutableCounts, from: Readonly<Record<number, number>>): void {
  for (const key of Object.keys(target)) target[Number(key)] = 0;
  for (const [key, n] of Object.entries(from)) if (n > 0) target[Number(key)] = n;
}

export interface RestoreReport {
  /** Coins that were inside the acceptor or jammed in it: now in the return cup. */
  readonly coinsToCup: Minor;
  /** Bills that were inside the validator or jammed in it: back with the customer. */
  readonly billsToWallet: Minor;
  /** Products that were falling: now in the bin. */
  readonly landed: readonly BinItem[];
  /** A card approval with no outcome: reverted by the reader's reset. */
  readonly cardReverted: Minor;
  /** A bill still in escrow (the controller will ask for it to be returned). */
  readonly escrow: Minor | null;
}

/**
 * Puts the saved world into `sim` (fresh from createSimMachine with the same config), applying what
 * a power cycle does (see the module comment). Call before the controller starts.
 */
export function restoreWorld(sim: SimMachine, saved: PersistedSim): RestoreReport {
  const w = sim.world;
  const s = saved.world;
  if (s.money.initialFill !== w.initialFill)
    throw new PersistError(`the saved world was filled with ${s.money.initialFill} at first, this config fills ${w.initialFill}: not the same machine`);
  setCounts(w.tubes, s.tubes);
  setCounts(w.cashbox, s.cashbox);
  setCounts(w.stacker, s.stacker);
  setCounts(w.wallet.coins, s.wallet.coins);
  setCounts(w.wallet.bills, s.wallet.bills);
  setCounts(w.cup, s.cup);
  for (const c of [w.inFlight.coins, w.inFlight.bills, w.stuck.coins, w.stuck.bills, w.stuck.tubeCoins]) setCounts(c, {});
  w.escrow = s.escrow;
  w.pocketDraws = s.pocketDraws;
  w.serviceFill = s.money.serviceFill;
  w.serviceRemoved = s.money.serviceRemoved;
  w.inserted = s.money.inserted;
  w.paidOut = s.money.paidOut;
  w.card.present = s.card.present;
  w.card.balance = s.card.balance;
  w.card.approved = s.card.approved;
  w.card.charged = s.card.charged;
  w.card.reverted = s.card.reverted;
  for (const [code, spiral] of Object.entries(s.spirals)) {
    const live = w.spirals.get(code);
    if (!live) throw new PersistError(`the saved world has a spiral ${code} this config does not`);
    // Hidden products (spiral-empty) come back: the fault injection does not survive the restart.
    live.count = Math.min(live.capacity, spiral.count + spiral.hidden);
    live.hidden = 0;
  }
  w.motor.running = null;
  w.motor.away.clear();
  for (const c of s.motor.awayFromHome) w.motor.away.add(c);
  w.bin.splice(0, w.bin.length, ...s.bin.map((i) => ({ ...i })));
  const landed = s.falling.map((i) => ({ ...i }));
  w.bin.push(...landed);
  w.beam = false;

  // Power-cycle physics.
  let coinsToCup = 0;
  for (const from of [s.inFlight.coins, s.stuck.coins])
    for (const [key, n] of Object.entries(from)) {
      addCount(w.cup, Number(key), n);
      coinsToCup += Number(key) * n;
    }
  let billsToWallet = 0;
  for (const from of [s.inFlight.bills, s.stuck.bills])
    for (const [key, n] of Object.entries(from)) {
      addCount(w.wallet.bills, Number(key), n);
      billsToWallet += Number(key) * n;
    }
  for (const [key, n] of Object.entries(s.stuck.tubeCoins)) addCount(w.tubes, Number(key), n);
  const open = w.card.approved - w.card.charged - w.card.reverted;
  const cardReverted = open > 0 ? open : 0;
  w.card.reverted += cardReverted;

  // The door switch reports what the world says (the fake read it when it was built).
  if (w.door !== s.door) {
    if (s.door === 'open') sim.devices.door.open();
    else sim.devices.door.close();
  }
  return { coinsToCup, billsToWallet, landed, cardReverted, escrow: w.escrow };
}

/** The world and the tallies as one JSON-ready object. */
export function persistedSim(sim: SimMachine, at: number, tallies: Readonly<Record<string, number>>): PersistedSim {
  return { version: PERSISTED_SIM_VERSION, at, world: sim.world.snapshot(), tallies: { ...tallies } };
}

/**
 * Writes the simulated world into the journal: `onAppend` inside each append's transaction,
 * `flushSoon` / `flush` for changes that have no event.
 */
export class WorldPersistence {
  /** Driver-owned counts saved with the world (see PersistedSim.tallies). */
  readonly tallies: Record<string, number>;
  private last = '';
  private pending = false;
  private closed = false;

  constructor(
    private readonly journal: Journal,
    private readonly sim: SimMachine,
    private readonly clock: { now(): number },
    tallies: Readonly<Record<string, number>> = {},
  ) {
    this.tallies = { ...tallies };
  }

  /** For `openJournaledController({ onAppend })`: runs inside the append's transaction. */
  readonly onAppend = (): void => {
    this.write();
  };

  /** Adds to a tally (written with the next world write). */
  tally(name: string, n = 1): void {
    this.tallies[name] = (this.tallies[name] ?? 0) + n;
  }

  /**
   * Writes the world now if it changed since the last write (its own transaction). A write that
   * fails (full disk) is not fatal: the world is written again with the next event or flush, and
   * the journal's own storage health reports the disk; `lastError` keeps the cause.
   */
  flush(): void {
    if (this.closed) return;
    try {
      this.write();
      this.lastError = null;
    } catch (e) {
      if (!(e instanceof JournalError)) throw e;
      this.lastError = e;
    }
  }

  /** Why the last flush could not write the world, or null. */
  lastError: JournalError | null = null;

  /** Writes the world at the end of this JS turn, after every promise continuation of it has run. */
  flushSoon(): void {
    if (this.pending || this.closed) return;
    this.pending = true;
    setImmediate(() => {
      this.pending = false;
      this.flush();
    });
  }

  /** Flushes and stops writing (before the journal closes). */
  close(): void {
    this.flush();
    this.closed = true;
  }

  private write(): void {
    const world = this.sim.world.snapshot();
    // Virtual time is left out of the comparison: it alone is no reason to write.
    const body = JSON.stringify([world, this.tallies]);
    if (body === this.last) return;
    const saved: PersistedSim = { version: PERSISTED_SIM_VERSION, at: this.clock.now(), world, tallies: this.tallies };
    this.journal.putSide(SIM_WORLD_KEY, JSON.stringify(saved));
    this.last = body;
  }
}

/** A virtual clock that reports the end of every timer callback (to flush the world after it). */
export class FlushingClock extends VirtualClock {
  onTimer: (() => void) | null = null;

  override setTimeout(fn: () => void, ms: number): ReturnType<VirtualClock['setTimeout']> {
    return super.setTimeout(() => {
      fn();
      this.onTimer?.();
    }, ms);
  }
}

/** Money inside the machine by the world's own count (tubes, coins out of reach, cashbox, stacker). */
export function savedMachineCash(saved: PersistedSim): Minor {
  const w = saved.world;
  return countsValue(w.tubes) + countsValue(w.stuck.tubeCoins) + countsValue(w.cashbox) + countsValue(w.stacker);
}
