/**
 * Port-level virtual-time soak: complete customer sessions through the real controller and the
 * simulated devices on one virtual clock, plus the same event sequence through a bare XState machine
 * as the baseline.
 */
import { assign, createActor, createMachine } from 'xstate';
import type { MachineConfig } from '../../src/config/schema.ts';
import { Controller } from '../../src/controller/controller.ts';
import { openJournaledController, type JournaledController } from '../../src/journal/attach.ts';
import type { VmcEvent } from '../../src/controller/machine.ts';
import { salesState } from '../../src/controller/view.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { createSimMachine, type SimMachine } from '../../sim/machine.ts';

export interface SoakRig {
  readonly sim: SimMachine;
  readonly clock: VirtualClock;
  readonly controller: Controller;
  /** Events the controller sent to its statechart (recorded only while `record` is on). */
  readonly recorded: VmcEvent[];
  record: boolean;
  /** The journal behind the controller, when the rig was made with `journalDir`. */
  readonly journaled?: JournaledController;
}

export interface RigOptions {
  /** Run the controller with its journal in this directory (src/journal/attach.ts); default: no journal. */
  readonly journalDir?: string;
}

export async function createRig(config: MachineConfig, opts: RigOptions = {}): Promise<SoakRig> {
  const clock = new VirtualClock();
  const sim = createSimMachine(config, clock);
  const journaled =
    opts.journalDir !== undefined ? await openJournaledController({ config, ports: sim.ports, clock, dataDir: opts.journalDir }) : undefined;
  const controller = journaled?.controller ?? new Controller({ config, ports: sim.ports, clock });
  const rig: SoakRig = { sim, clock, controller, recorded: [], record: false, ...(journaled ? { journaled } : {}) };
  const send = controller.send.bind(controller);
  controller.send = (e: VmcEvent) => {
    if (rig.record) rig.recorded.push(e);
    send(e);
  };
  // A journaled controller is started by openJournaledController (after its recovery).
  if (!journaled) await controller.start();
  await clock.advance(10);
  return rig;
}

/**
 * One customer: two coins for a product with change, choose, wait for product and change, take
 * them. Every `columns.length` sessions a service visit refills the spirals and the change tubes.
 */
export async function runSession(rig: SoakRig, n: number, columns: readonly string[]): Promise<void> {
  const { sim, clock, controller } = rig;
  const column = columns[n % columns.length] ?? 'A1';
  const d = sim.devices;
  void d.coin.insertCoin(200);
  if ((controller.snapshot.context.catalog[column]?.price ?? 0) > 200) void d.coin.insertCoin(100);
  await clock.advance(400);
  d.keypad.type(column);
  const done = await clock.runUntil(() => {
    const s = controller.snapshot;
    return salesState(s) === 'idle' && s.context.payout === null && s.context.vend === null;
  }, 60_000);
  if (!done) {
    const c = controller.snapshot.context;
    throw new Error(`session ${n} (${column}) did not finish: ${JSON.stringify(controller.snapshot.value)} credit ${c.credit} tubes ${JSON.stringify(c.tubes)} col ${JSON.stringify(c.catalog[column])} display ${controller.display.join("/")}`);
  }
  sim.world.takeFromBin();
  sim.world.takeFromCup();
  if ((n + 1) % columns.length === 0) await serviceVisit(rig);
}

async function serviceVisit(rig: SoakRig): Promise<void> {
  const { sim, clock, controller } = rig;
  sim.devices.door.open();
  await clock.advance(100);
  restock(sim, controller);
  sim.devices.door.close();
  await clock.advance(100);
}

/**
 * The operator's restock with the door open: every spiral to capacity (physically and in the
 * controller's catalog) and every tube back to its configured fill.
 */
export function restock(m: Pick<SimMachine, 'world' | 'devices' | 'config'>, controller: Controller): void {
  for (const [code, spiral] of m.world.spirals) {
    const missing = spiral.capacity - spiral.count;
    if (missing > 0) m.world.refillSpiral(code, missing);
  }
  controller.send({ type: 'SERVICE_REFILL' });
  for (const coin of m.config.currency.coins) {
    const want = m.config.sim.tubes[String(coin)] ?? 0;
    const have = m.world.tubeCount(coin);
    if (want > have) m.devices.coin.manualFill(coin, want - have);
  }
}

/** A bare machine taking the same events: the floor any XState-based controller pays. */
export function bareMachine() {
  return createMachine({
    types: {} as { context: { credit: number; n: number }; events: VmcEvent },
    context: { credit: 0, n: 0 },
    initial: 'idle',
    on: { '*': { actions: assign({ n: ({ context }) => context.n + 1 }) } },
    states: {
      idle: { on: { COIN: { target: 'credit', actions: assign({ credit: ({ context, event }) => context.credit + event.value }) } } },
      credit: { on: { KEY: 'credit', SELECT: 'vending', COIN: 'credit' } },
      vending: { on: { HOME_REACHED: 'paying', BEAM: 'vending', HOME_LEFT: 'vending' } },
      paying: { on: { PAYOUT_DONE: { target: 'idle', actions: assign({ credit: 0 }) } } },
    },
  });
}

export function runBaseline(events: readonly VmcEvent[], sessions: number): number {
  const actor = createActor(bareMachine()).start();
  const t0 = performance.now();
  for (let i = 0; i < sessions; i++) for (const e of events) actor.send(e);
  const ms = performance.now() - t0;
  actor.stop();
  return ms;
}
