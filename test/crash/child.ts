/**
 * One life of the crash-test machine: the journaled controller on the simulated world, on its own
 * virtual clock driven as fast as it goes, under a seeded workload of customers (coins, bills,
 * cards, selections, refunds), some faults and service visits, until the parent kills it
 * (SIGKILL: a power cut). Run by test/crash/harness.ts, bundled (see there).
 *
 *   child <dataDir> <seed> <incarnation> [verify]
 *
 * At start it continues the world saved in the data directory (sim/persist.ts), recovers, settles,
 * checks every invariant (checks.ts) and prints one JSON line `{"type":"ready", ...}`; then it runs
 * the workload forever. With `verify` it stops after the checks and closes cleanly. A failure prints
 * `{"type":"error", ...}` and exits 1.
 *
 * Journal-write-failure points: while the workload runs, a seeded few writes start a "disk full"
 * episode (`{"type":"diskFull", ...}` is printed): either every write fails until the journal
 * releases its reserve (the space that frees is what lets the writes succeed again), or the next
 * 1–30 writes fail whatever happens (beyond the reserve: events are held in memory and retried).
 * The journal's appends and snapshots fail, as they would on a full disk; the world's side writes do
 * not (the world is the machine's physics, kept beside the journal only for the test), and the
 * parent's kills land before, during and after the episodes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MachineConfig } from '../../src/config/schema.ts';
import { salesState } from '../../src/controller/view.ts';
import { openJournaledController, type JournaledController } from '../../src/journal/attach.ts';
import { RESERVE_FILE } from '../../src/journal/storage.ts';
import { JournalError, openJournal, type Journal } from '../../src/journal/store.ts';
import { createSimMachine, type SimMachine } from '../../sim/machine.ts';
import { FlushingClock, WorldPersistence, loadSavedSim, persistedSim, restoreWorld } from '../../sim/persist.ts';
import { createRandom, type Random } from '../../sim/random.ts';
import { REFILLED, checkRecovered } from './checks.ts';

interface Life {
  readonly config: MachineConfig;
  readonly clock: FlushingClock;
  readonly sim: SimMachine;
  readonly jc: JournaledController;
  readonly persistence: WorldPersistence;
  readonly random: Random;
}

const AT_REST = new Set(['idle', 'session', 'service', 'outOfService']);

function say(obj: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

function atRest(life: Life): boolean {
  const w = life.sim.world;
  if (!AT_REST.has(salesState(life.jc.controller.snapshot))) return false;
  if (Object.values(w.inFlight.coins).some((n) => n > 0) || Object.values(w.inFlight.bills).some((n) => n > 0)) return false;
  if (w.escrow !== null || w.falling.length > 0 || w.motor.running !== null) return false;
  if (life.sim.devices.coin.busy) return false;
  return !w.beam;
}

async function rest(life: Life, limitMs = 60_000): Promise<void> {
  await life.clock.advance(0);
  await life.clock.runUntil(() => atRest(life), limitMs);
  life.persistence.flushSoon();
}

/** The customer takes what is in the bin and the cup. */
function take(life: Life): void {
  life.sim.world.takeFromBin();
  life.sim.world.takeFromCup();
  life.persistence.flushSoon();
}

function availableColumns(life: Life): string[] {
  const cat = life.jc.controller.snapshot.context.catalog;
  return Object.values(cat)
    .filter((c) => c.enabled && c.stock > 0 && c.mark === 'ok')
    .map((c) => c.code);
}

async function cashCustomer(life: Life): Promise<void> {
  const { random: r, sim } = life;
  const columns = availableColumns(life);
  if (columns.length === 0) return;
  const column = r.pick(columns);
  const bill = sim.devices.bill;
  if (bill && r.chance(0.25)) void bill.insertBill(r.pick([500, 1000]));
  else for (let i = r.int(1, 3); i > 0; i--) void sim.devices.coin.insertCoin(r.pick([50, 100, 100, 200, 200, 20]));
  life.persistence.flushSoon();
  await rest(life);
  if (r.chance(0.15)) sim.devices.coin.pressReturn();
  else sim.devices.keypad.type(column);
  await rest(life);
  // Credit left (too little for the product): ask for it back.
  if (life.jc.controller.snapshot.context.credit > 0) {
    sim.devices.coin.pressReturn();
    await rest(life);
  }
  take(life);
}

async function cardCustomer(life: Life): Promise<void> {
  const card = life.sim.devices.card;
  const columns = availableColumns(life);
  if (!card || columns.length === 0) return;
  if (!card.tapCard(life.random.int(300, 3000))) return;
  await life.clock.advance(10);
  life.sim.devices.keypad.type(life.random.pick(columns));
  await rest(life);
  card.removeCard();
  await rest(life);
  take(life);
}

function injectFault(life: Life): void {
  const { random: r, sim } = life;
  const column = r.pick(life.config.catalog.slots).code;
  switch (r.int(0, 3)) {
    case 0:
      sim.faults.inject({ name: 'payout-short', count: r.int(0, 2) }, { once: true });
      break;
    case 1:
      sim.faults.inject({ name: 'motor-stall', column }, { once: true });
      break;
    case 2:
      sim.faults.inject({ name: 'card-declined' }, { once: true });
      break;
    default:
      sim.faults.inject({ name: 'motor-no-home', column }, { once: true });
      break;
  }
}

/** The operator: clears faults, settles debts, refills spirals and tubes, sometimes empties tubes or the cashbox. */
async function serviceVisit(life: Life): Promise<void> {
  const { sim, jc, random: r, persistence } = life;
  const send = jc.controller.send.bind(jc.controller);
  if (sim.world.door !== 'open') sim.devices.door.open();
  await rest(life);
  send({ type: 'SERVICE_CLEAR_FAULTS' });
  if (jc.controller.snapshot.context.debt > 0) send({ type: 'SERVICE_SETTLE_DEBT', how: r.chance(0.5) ? 'paid' : 'writtenOff' });
  for (const [code, spiral] of sim.world.spirals) {
    const room = spiral.capacity - spiral.count - spiral.hidden;
    if (room <= 0) continue;
    // The tally goes with the world write, in the same turn as the refill.
    persistence.tally(`${REFILLED}:${code}`, room);
    sim.world.refillSpiral(code, room);
  }
  send({ type: 'SERVICE_REFILL' });
  persistence.flushSoon();
  await rest(life);
  // Tube fill through the acceptor (tube fills, never credit), like `service fill`.
  const coin = sim.devices.coin;
  const low = life.config.currency.coins.filter((d) => sim.world.tubeCount(d) < (life.config.sim.tubes[String(d)] ?? 0));
  if (low.length > 0 && coin.online) {
    await coin.setAcceptance(low);
    for (const d of low) for (let i = Math.min(10, (life.config.sim.tubes[String(d)] ?? 0) - sim.world.tubeCount(d)); i > 0; i--) void coin.insertCoin(d);
    persistence.flushSoon();
    await rest(life);
    await coin.setAcceptance([]);
  }
  if (r.chance(0.2)) {
    const d = r.pick(life.config.currency.coins);
    const n = Math.min(3, sim.world.tubeCount(d));
    if (n > 0) send({ type: 'SERVICE_PAYOUT', plan: { [d]: n } });
    await rest(life);
    take(life);
  }
  if (r.chance(0.2)) {
    sim.world.emptyCashbox();
    sim.world.emptyStacker();
    persistence.flushSoon();
  }
  sim.devices.door.close();
  await rest(life);
}

async function workload(life: Life): Promise<never> {
  const { random: r } = life;
  for (let n = 0; ; n++) {
    if (r.chance(0.08)) injectFault(life);
    if (n % 12 === 11 || salesState(life.jc.controller.snapshot) === 'outOfService') await serviceVisit(life);
    else if (r.chance(0.25)) await cardCustomer(life);
    else await cashCustomer(life);
    // Clear what the injected faults left behind in the simulator (a real fault goes away when fixed).
    life.sim.faults.clearAll();
  }
}

/** The journal with seeded "disk full" episodes (see the module comment); on while `armed.on`. */
function withDiskFull(journal: Journal, dir: string, random: Random, armed: { on: boolean }): Journal {
  const reserve = join(dir, RESERVE_FILE);
  let failNext = 0;
  let untilReserveFreed = false;
  const write = (what: string): void => {
    if (!armed.on) return;
    if (failNext === 0 && !untilReserveFreed && random.chance(0.004)) {
      untilReserveFreed = random.chance(0.5) && existsSync(reserve);
      if (!untilReserveFreed) failNext = random.int(1, 30);
      say({ type: 'diskFull', kind: untilReserveFreed ? 'untilReserveFreed' : 'stretch', writes: failNext });
    }
    const full = untilReserveFreed ? existsSync(reserve) : failNext > 0;
    if (untilReserveFreed && !full) untilReserveFreed = false;
    if (!full) return;
    if (failNext > 0) failNext -= 1;
    throw new JournalError('JOURNAL_IO', journal.path, `${what}: database or disk is full (injected)`);
  };
  return {
    ...journal,
    path: journal.path,
    schemaVersion: journal.schemaVersion,
    append: (event, at) => {
      write(`append ${event.type}`);
      return journal.append(event, at);
    },
    // The side state is the simulated world: physics, which a full disk does not undo. Failing it
    // would make the world forget coins that really moved, and hide what the journal lost.
    putSide: (key, value) => journal.putSide(key, value),
    saveSnapshot: (seq, state) => {
      write(`snapshot #${seq}`);
      journal.saveSnapshot(seq, state);
    },
  };
}

async function main(): Promise<void> {
  const [dir = '', seedText = '1', incText = '0', mode = 'run'] = process.argv.slice(2);
  const seed = Number(seedText);
  const incarnation = Number(incText);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as MachineConfig;
  const clock = new FlushingClock();
  const armed = { on: false };
  const journal = withDiskFull(openJournal({ dir, clock }), dir, createRandom(seed * 7_919 + incarnation * 104_729 + 17), armed);
  const saved = loadSavedSim(journal);
  // The power was off for a second of machine time.
  if (saved !== null) await clock.advanceTo(saved.at + 1_000);
  const sim = createSimMachine(config, clock, { seed: seed * 1_000 + incarnation });
  const restored = saved !== null ? restoreWorld(sim, saved) : null;
  const persistence = new WorldPersistence(journal, sim, clock, saved?.tallies);
  clock.onTimer = () => persistence.flushSoon();
  const jc = await openJournaledController({ config, ports: sim.ports, clock, journal, onAppend: persistence.onAppend });
  persistence.flush();
  const life: Life = { config, clock, sim, jc, persistence, random: sim.random };
  // A cut during a service visit: the operator finishes it (and closes the door).
  if (sim.world.door === 'open') await serviceVisit(life);
  await rest(life);
  persistence.flush();

  let vendCuts = 0;
  for (const e of jc.journal.readTypes(['serviceAction'])) {
    if (e.event.type === 'serviceAction' && e.event.action === 'recovered' && e.event.detail?.includes('"vend"')) vendCuts += 1;
  }
  const ctx = jc.controller.snapshot.context;
  const checks = checkRecovered({ config, state: jc.state(), saved: persistedSim(sim, clock.now(), persistence.tallies), controller: ctx, vendCuts });
  say({
    type: 'ready',
    incarnation,
    problems: checks.problems,
    money: checks.money,
    products: checks.products,
    vendCuts,
    recovered: {
      vend: jc.report.vend !== null,
      payout: jc.report.payout !== null ? { paid: jc.report.payout.paidValue, owed: jc.report.payout.unpaid, certain: jc.report.payout.certain } : null,
      card: jc.report.card !== null,
      escrow: jc.report.escrow,
      coinsToCup: restored?.coinsToCup ?? 0,
      landed: restored?.landed.length ?? 0,
    },
    events: jc.journal.lastSeq(),
    recoveryReplayed: jc.report.recovery.replayed,
  });
  if (mode === 'verify') {
    persistence.close();
    await jc.close();
    sim.dispose();
    return;
  }
  armed.on = true;
  await workload(life);
}

main().catch((e: unknown) => {
  say({ type: 'error', message: e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : String(e) });
  process.exitCode = 1;
});

