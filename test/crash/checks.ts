/**
 * What must hold after a power cut, as arithmetic over the journal's state and the simulated
 * world (money-model.md invariants 1, 2 and 4). Shared by the crash child (after its recovery) and
 * the parent (on the files a killed child left behind).
 */
import { checkConservation, type Ledger } from '../../src/audit/ledger.ts';
import type { CounterSet } from '../../src/audit/counters.ts';
import type { MachineConfig } from '../../src/config/schema.ts';
import type { MachineState } from '../../src/journal/recovery.ts';
import type { PersistedSim } from '../../sim/persist.ts';
import { countsValue, type WorldSnapshot } from '../../sim/world.ts';

/** Tallies the crash driver keeps with the world (sim/persist.ts `tallies`). */
export const REFILLED = 'refilled';

export interface MoneyFigures {
  readonly machineCash: number;
  readonly expectedMachineCash: number;
  /** expected − actual: coins that left the tubes for a payout the journal has not closed yet. */
  readonly unjournaledPaid: number;
}

/**
 * Invariant 2 with the journal's numbers: tubes + cashbox + stacker = initial fill + cash inserted
 * + tube fills through the acceptor − coins paid from the tubes + fills by hand − removed by hand.
 * Coins paid from the tubes are the ledger's paidOut without debts paid by hand (the operator's own
 * money), plus the service payouts.
 */
export function machineMoney(ledger: Ledger, h: CounterSet, world: WorldSnapshot): MoneyFigures {
  const fromTubes = ledger.paidOut - h.debtsPaid.value + ledger.servicePaidOut;
  const expected = world.money.initialFill + ledger.inserted + h.serviceFills.value - fromTubes + world.money.serviceFill - world.money.serviceRemoved;
  const actual = world.money.machineCash;
  return { machineCash: actual, expectedMachineCash: expected, unjournaledPaid: expected - actual };
}

export interface ProductFigures {
  /** Products that left the spirals (now in the bin, taken, or falling). */
  readonly out: number;
  /** Successful vends the counters hold (paid + test + free). */
  readonly successes: number;
  /** out − successes: products delivered by a vend the cut left without an outcome. */
  readonly exceptions: number;
}

export function products(config: MachineConfig, h: CounterSet, saved: PersistedSim): ProductFigures {
  let out = 0;
  for (const slot of config.catalog.slots) {
    const s = saved.world.spirals[slot.code];
    const refilled = saved.tallies[`${REFILLED}:${slot.code}`] ?? 0;
    out += slot.stock + refilled - (s?.count ?? 0) - (s?.hidden ?? 0);
  }
  const successes = h.paidVends.count + h.testVends.count + h.freeVends.count;
  return { out, successes, exceptions: out - successes };
}

export interface RecoveredChecks {
  readonly problems: string[];
  readonly money: MoneyFigures;
  readonly products: ProductFigures;
  readonly vendCuts: number;
}

/**
 * After the controller has recovered and settled: every invariant exact, except products delivered
 * by a vend that a cut left without an outcome (at most one per such cut; counted, reported).
 */
export function checkRecovered(opts: {
  readonly config: MachineConfig;
  readonly state: MachineState;
  readonly saved: PersistedSim;
  readonly controller: { readonly credit: number; readonly debt: number };
  /** Cuts that found a vend in flight (journalled `recovered` actions with a vend). */
  readonly vendCuts: number;
}): RecoveredChecks {
  const { state, saved, config } = opts;
  const h = state.counters.historical;
  const problems: string[] = [...checkConservation(state.ledger)];
  if (opts.controller.credit !== state.ledger.credit) problems.push(`controller credit ${opts.controller.credit} ≠ ledger credit ${state.ledger.credit}`);
  if (opts.controller.debt !== state.ledger.debt) problems.push(`controller debt ${opts.controller.debt} ≠ ledger debt ${state.ledger.debt}`);
  if (state.ledger.escrow !== null) problems.push(`a bill of ${state.ledger.escrow} is still in escrow after the recovery settled`);
  if (state.ledger.cardOpen !== null) problems.push('a card approval is still open after the recovery settled');
  const money = machineMoney(state.ledger, h, saved.world);
  if (money.unjournaledPaid !== 0) problems.push(`machine cash ${money.machineCash} ≠ expected ${money.expectedMachineCash}`);
  // The counters against what the world saw.
  const inserted = h.coinsToTubes.value + h.coinsToCashbox.value + h.bills.value + h.serviceFills.value;
  if (inserted !== saved.world.money.inserted) problems.push(`counters: cash in ${inserted} ≠ the world's ${saved.world.money.inserted}`);
  const paid = h.changePaid.value + h.refunds.value + h.debtPayouts.value + h.servicePayouts.value;
  if (paid !== saved.world.money.paidOut) problems.push(`counters: coins paid ${paid} ≠ the world's ${saved.world.money.paidOut}`);
  const p = products(config, h, saved);
  if (p.exceptions < 0) problems.push(`products: ${p.successes} successful vends but only ${p.out} products left the spirals`);
  if (p.exceptions > opts.vendCuts) problems.push(`products: ${p.exceptions} delivered without a successful vend, only ${opts.vendCuts} vends were cut`);
  if (saved.world.money.totalMoney !== saved.world.money.expectedTotalMoney)
    problems.push(`world: total money ${saved.world.money.totalMoney} ≠ expected ${saved.world.money.expectedTotalMoney}`);
  return { problems, money, products: p, vendCuts: opts.vendCuts };
}

/**
 * On the files a killed child left (before any recovery): the journal's ledger balances, and the
 * machine's cash differs from it only by coins of the payout in flight (paid, not yet journalled).
 */
export function checkOnDisk(state: MachineState, saved: PersistedSim | null): { problems: string[]; money: MoneyFigures | null } {
  const problems: string[] = [...checkConservation(state.ledger)];
  if (saved === null) return { problems, money: null };
  const money = machineMoney(state.ledger, state.counters.historical, saved.world);
  const inFlight = state.pendingPayout === null ? 0 : countsValue(state.pendingPayout.plan);
  if (money.unjournaledPaid < 0 || money.unjournaledPaid > inFlight)
    problems.push(
      `machine cash ${money.machineCash} vs journal ${money.expectedMachineCash}: ${money.unjournaledPaid} unexplained` +
        (inFlight > 0 ? ` (the payout in flight is ${inFlight})` : ' (no payout in flight)'),
    );
  if (saved.world.money.totalMoney !== saved.world.money.expectedTotalMoney)
    problems.push(`world: total money ${saved.world.money.totalMoney} ≠ expected ${saved.world.money.expectedTotalMoney}`);
  return { problems, money };
}
