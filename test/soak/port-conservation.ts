/**
 * The port-level money-conservation property, one definition for both users: the suite
 * (test/controller/conservation.property.test.ts, 1,000 runs) and the soak (any count and seed). Random
 * customer sessions with random port-level faults through the controller and the simulated devices;
 * after every step the ledger balances, agrees with the controller, and matches the world's money
 * and products (money-model.md invariants 1, 2, 4, 5).
 */
import fc from 'fast-check';
import { fileURLToPath } from 'node:url';
import { loadConfigFile } from '../../src/config/load.ts';
import { Controller } from '../../src/controller/controller.ts';
import type { MachineEvent } from '../../src/controller/events.ts';
import { applyEvent, checkConservation, emptyLedger, type Ledger } from '../../src/audit/ledger.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { createSimMachine } from '../../sim/machine.ts';

const config = loadConfigFile(fileURLToPath(new URL('../../sim/machines/demo.yaml', import.meta.url)));
const COLUMNS = ['A1', 'A2', 'B1', 'B2', 'F5', 'D2'];
const FAULTS = [
  'coin-jam',
  'tube-empty 10',
  'tube-empty 50',
  'tube-count-wrong 20 -3',
  'payout-short 1',
  'motor-stall B1',
  'motor-no-home A2',
  'drop-blocked',
  'spiral-empty B1',
  'bill-jam',
  'card-declined',
  'card-timeout',
  'offline coin',
  'offline bill',
  'offline card',
  'offline dispenser',
];

type Action =
  | { kind: 'coin'; value: number }
  | { kind: 'bill'; value: number }
  | { kind: 'card' }
  | { kind: 'cardRemove' }
  | { kind: 'press'; column: string }
  | { kind: 'return' }
  | { kind: 'door' }
  | { kind: 'wait'; ms: number }
  | { kind: 'fault'; spec: string }
  | { kind: 'clearFaults' };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...config.currency.coins).map((value) => ({ kind: 'coin' as const, value })) },
  { weight: 2, arbitrary: fc.constantFrom(...config.currency.bills).map((value) => ({ kind: 'bill' as const, value })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'card' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'cardRemove' as const }) },
  { weight: 5, arbitrary: fc.constantFrom(...COLUMNS).map((column) => ({ kind: 'press' as const, column })) },
  { weight: 2, arbitrary: fc.constant({ kind: 'return' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'door' as const }) },
  { weight: 3, arbitrary: fc.integer({ min: 100, max: 20_000 }).map((ms) => ({ kind: 'wait' as const, ms })) },
  { weight: 2, arbitrary: fc.constantFrom(...FAULTS).map((spec) => ({ kind: 'fault' as const, spec })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'clearFaults' as const }) },
);

async function runSession(actions: readonly Action[]): Promise<void> {
  const clock = new VirtualClock();
  const sim = createSimMachine(config, clock);
  let ledger: Ledger = emptyLedger();
  const events: MachineEvent[] = [];
  const controller = new Controller({
    config,
    ports: sim.ports,
    clock,
    beforeEvent: (e) => {
      ledger = applyEvent(ledger, e);
      events.push(e);
    },
  });
  await controller.start();
  await clock.advance(10);
  const check = (where: string): void => {
    const ctx = controller.snapshot.context;
    const w = sim.world;
    const problems = [...checkConservation(ledger)];
    if (ledger.credit !== ctx.credit) problems.push(`ledger credit ${ledger.credit} ≠ controller credit ${ctx.credit}`);
    if (ledger.debt !== ctx.debt) problems.push(`ledger debt ${ledger.debt} ≠ controller debt ${ctx.debt}`);
    const inFlight = ctx.payout ? w.paidOut - ledger.paidOut : 0;
    const planned = ctx.payout ? Object.entries(ctx.payout.plan).reduce((s, [d, n]) => s + Number(d) * n, 0) : 0;
    if (inFlight < 0 || inFlight > planned) problems.push(`payout in flight ${inFlight} outside 0..${planned}`);
    if (w.machineCash() !== w.expectedMachineCash(ledger.inserted, ledger.paidOut + inFlight))
      problems.push(
        `machine cash ${w.machineCash()} ≠ expected ${w.expectedMachineCash(ledger.inserted, ledger.paidOut)} (world inserted ${w.inserted}, ledger ${ledger.inserted}; world paid ${w.paidOut}, ledger ${ledger.paidOut})`,
      );
    if (w.totalMoney() !== w.expectedTotalMoney()) problems.push(`world money ${w.totalMoney()} ≠ ${w.expectedTotalMoney()}`);
    // As in the suite's property: a vend the drop sensor could not decide (the beam broke and
    // stayed broken) is booked `uncertain`, not charged; its product may or may not have dropped.
    const vends = events.filter((e) => e.type === 'vendSucceeded').length;
    const uncertain = events.filter((e) => e.type === 'vendFailed' && e.reason === 'uncertain').length;
    const delivered = w.bin.length + w.falling.length;
    const vendInFlight = ctx.vend !== null ? 1 : 0;
    if (delivered < vends || delivered > vends + uncertain + vendInFlight)
      problems.push(`products delivered ${delivered} ≠ successful vends ${vends} (+ up to ${uncertain} uncertain, ${vendInFlight} in flight)`);
    if (problems.length > 0) throw new Error(`${where}:\n  ${problems.join('\n  ')}\nlast events: ${JSON.stringify(events.slice(-8))}`);
  };
  try {
    check('start');
    for (const [i, a] of actions.entries()) {
      const d = sim.devices;
      switch (a.kind) {
        case 'coin':
          void d.coin.insertCoin(a.value);
          break;
        case 'bill':
          void d.bill?.insertBill(a.value);
          break;
        case 'card':
          d.card?.tapCard();
          break;
        case 'cardRemove':
          d.card?.removeCard();
          break;
        case 'press':
          d.keypad.type(a.column);
          break;
        case 'return':
          d.coin.pressReturn();
          break;
        case 'door':
          d.door.open();
          await clock.advance(500);
          d.door.close();
          break;
        case 'wait':
          break;
        case 'fault':
          sim.faults.inject(a.spec);
          break;
        case 'clearFaults':
          sim.faults.clearAll();
          controller.send({ type: 'SERVICE_CLEAR_FAULTS' });
          break;
      }
      await clock.advance(a.kind === 'wait' ? a.ms : 2_000);
      check(`after step ${i} ${JSON.stringify(a)}`);
    }
    sim.faults.clearAll();
    await clock.advance(60_000);
    check('end');
  } finally {
    await controller.stop();
    sim.dispose();
  }
}

export interface PortPropertyResult {
  readonly seed: number;
  readonly runs: number;
  /** fast-check's report of the first counterexample (seed, path, shrunk actions), or undefined. */
  readonly failure?: string;
}

/** The port-level property with `runs` sessions from `seed` (the suite uses seed 20261126, 1,000 runs). */
export async function runPortProperty(seed: number, runs: number): Promise<PortPropertyResult> {
  const out = await fc.check(
    fc.asyncProperty(fc.array(action, { minLength: 1, maxLength: 14 }), async (actions) => {
      await runSession(actions);
    }),
    { seed, numRuns: runs, endOnFailure: true },
  );
  if (!out.failed) return { seed, runs };
  const first = out.errorInstance instanceof Error ? out.errorInstance.message.split('\n').slice(0, 6).join('\n') : String(out.errorInstance);
  return { seed, runs, failure: `seed ${seed}, run ${out.numRuns}, path ${out.counterexamplePath ?? '?'}: ${first}` };
}
