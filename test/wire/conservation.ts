/**
 * Money conservation at the wire level: one customer session (random coins, bills, cards,
 * selections, returns) through the controller, the REAL MDB/GPIO adapters and the emulators
 * (sim/wire/machine.ts), with seeded random wire faults (sim/wire/faults.ts) on the MDB link.
 * After every step, the controller's books must match the emulated world's physical money.
 *
 * The rule ("books match the world, up to what a recorded doubt can hide"):
 * 1. The controller's own books always balance (audit/ledger.ts `checkConservation`), and the
 *    ledger folded from its events agrees with its context (credit, debt). No exception.
 * 2. Cash: what the machine physically holds (tubes, cash box, stacker) equals initial fill +
 *    inserted − paid out by the books (money-model.md invariant 2), and card: what the reader
 *    charged equals the card sales booked, EXCEPT for a discrepancy covered by advisory faults
 *    (`advisory: true`, the record of an exchange whose outcome could not be fully reconciled).
 *    Each advisory covers at most what one lost exchange can hide:
 *    - COIN_REPLY_LOST: one changer POLL block (16 bytes, MDB 4.2 §5.3) holds at most 8 coin
 *      deposits, so 8 × the largest coin;
 *    - BILL_REPLY_LOST: one bill (the validator escrows one bill at a time, MDB 4.2 §6), the largest bill;
 *    - CARD_REPLY_LOST: one vend, the highest price.
 *    A discrepancy without an advisory, or beyond the sum of the advisories' bounds, is a violation.
 * 3. Every product in the bin is a successful vend and the other way round (a vend in flight may
 *    have dropped its product before it is confirmed).
 *
 * Used by test/wire/conservation*.property.test.ts and by `npm run soak` (test/soak).
 */
import { fileURLToPath } from 'node:url';
import { loadConfigFile, parseConfig } from '../../src/config/load.ts';
import type { MachineConfig } from '../../src/config/schema.ts';
import { Controller } from '../../src/controller/controller.ts';
import type { MachineEvent } from '../../src/controller/events.ts';
import { applyEvent, checkConservation, emptyLedger, type Ledger } from '../../src/audit/ledger.ts';
import type { BillEvent, CashlessEvent, CoinMechEvent } from '../../src/ports/index.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { createRandom, type Random } from '../../sim/random.ts';
import { WireFaults, type WireFaultEvent } from '../../sim/wire/faults.ts';
import { bootWireMachine, createWireSimMachine, whileRunning } from '../../sim/wire/machine.ts';
import { restock } from '../bench/soak.ts';
import { formatTrace } from '../../hardware/serial/trace.ts';

const DEMO = fileURLToPath(new URL('../../sim/machines/demo.yaml', import.meta.url));

/** The demo machine (prices, coins, bills, card) as the wire sessions use it. */
export function wireConservationConfig(): MachineConfig {
  const demo = loadConfigFile(DEMO);
  return parseConfig(demo, 'wire conservation');
}

export type WireAction =
  | { readonly kind: 'coin'; readonly value: number }
  | { readonly kind: 'bill'; readonly value: number }
  | { readonly kind: 'card' }
  | { readonly kind: 'cardRemove' }
  | { readonly kind: 'press'; readonly column: string }
  | { readonly kind: 'return' }
  | { readonly kind: 'wait'; readonly ms: number }
  | { readonly kind: 'wire'; readonly fault: WireFaultEvent };

export interface SessionResult {
  readonly steps: number;
  readonly faultsInjected: number;
  readonly injected: Readonly<Record<string, number>>;
  readonly advisories: number;
  /** The first violation, or undefined. */
  readonly violation?: string;
}

const COLUMNS = ['A1', 'A2', 'B1', 'B2', 'F5', 'D2'];

/** A random customer session: coins, bills, card, selections, returns, waits and wire events. */
export function randomActions(random: Random, config: MachineConfig, maxSteps: number, wireEvents: boolean): WireAction[] {
  const n = random.int(1, maxSteps);
  const out: WireAction[] = [];
  for (let i = 0; i < n; i++) {
    const w = random.int(0, wireEvents ? 21 : 19);
    if (w < 7) out.push({ kind: 'coin', value: random.pick(config.currency.coins) });
    else if (w < 9) out.push({ kind: 'bill', value: random.pick(config.currency.bills) });
    else if (w < 10) out.push({ kind: 'card' });
    else if (w < 11) out.push({ kind: 'cardRemove' });
    else if (w < 16) out.push({ kind: 'press', column: random.pick(COLUMNS) });
    else if (w < 18) out.push({ kind: 'return' });
    else if (w < 20) out.push({ kind: 'wait', ms: random.int(100, 8000) });
    else out.push({ kind: 'wire', fault: random.pick(['stray', 'silence', 'powerCycle', 'unplug'] as const) });
  }
  return out;
}

export interface WireRigOptions {
  readonly seed: number;
  readonly config?: MachineConfig;
  /** Most customer steps per session (default 6). */
  readonly maxSteps?: number;
  /** Probability a reply line meets a fault (default 0.03); 0 for fault-free sessions. */
  readonly replyRate?: number;
  /** Draw wire events (stray lines, silence, power cycles, unplug) among the steps (default true). */
  readonly wireEvents?: boolean;
  /** Virtual time after each step before the check (default 1000 ms, then until the wire is quiet). */
  readonly stepMs?: number;
  /** A service visit (door, restock, clear faults) every this many sessions (default 20). */
  readonly serviceEvery?: number;
}

export interface WireConservationRig {
  /** One random customer session (seeded by `n`); resolves with the first violation, if any. */
  session(n: number): Promise<string | undefined>;
  /** Let every timer run out, wait for a quiet wire and check once more. */
  finish(): Promise<string | undefined>;
  close(): Promise<void>;
  readonly faults: WireFaults;
  /** Advisory faults seen so far. */
  readonly advisories: () => number;
  /** Steps checked so far. */
  readonly steps: () => number;
}

/**
 * One wire machine (booted once: a boot costs more than a session) on which customer sessions run
 * one after another, like customers at a real machine; a service visit restocks every few sessions.
 */
export async function createWireConservationRig(o: WireRigOptions): Promise<WireConservationRig> {
  const config = o.config ?? wireConservationConfig();
  const clock = new VirtualClock();
  const m = createWireSimMachine(config, clock, { seed: o.seed });
  await bootWireMachine(m, clock);
  let ledger: Ledger = emptyLedger();
  const events: MachineEvent[] = [];
  const controller = new Controller({
    config,
    ports: m.ports,
    clock,
    beforeEvent: (e) => {
      ledger = applyEvent(ledger, e);
      events.push(e);
      if (events.length > 64) events.splice(0, events.length - 32);
    },
  });
  let vends = 0;
  const world = m.wire.world;
  const mdb = world.mdb;
  const mdbPath = world.mdbPath;
  if (!mdb || mdbPath === undefined) throw new Error('wire conservation needs the MDB emulator');
  const faults = new WireFaults({ mdb, binding: world.binding, mdbPath }, clock, { seed: o.seed ^ 0x5eed, replyRate: o.replyRate ?? 0.03 });

  // Advisory faults from the adapters (the record of an exchange whose outcome stays uncertain).
  const maxCoin = Math.max(...config.currency.coins);
  const maxBill = Math.max(...config.currency.bills);
  const maxPrice = Math.max(...config.catalog.slots.map((s) => s.price));
  let cashAllowance = 0;
  let cardAllowance = 0;
  let advisories = 0;
  let steps = 0;
  const onAdvisory = (e: CoinMechEvent | BillEvent | CashlessEvent): void => {
    if (e.type !== 'fault' || e.advisory !== true || e.cleared) return;
    advisories++;
    if (e.code === 'COIN_REPLY_LOST') cashAllowance += 8 * maxCoin;
    else if (e.code === 'BILL_REPLY_LOST') cashAllowance += maxBill;
    else if (e.code === 'CARD_REPLY_LOST') cardAllowance += maxPrice;
  };
  const subs = [m.ports.coin.events$.subscribe(onAdvisory), m.ports.bill?.events$.subscribe(onAdvisory), m.ports.card?.events$.subscribe(onAdvisory)];

  await whileRunning(clock, controller.start());
  controller.events$.subscribe(({ event }) => {
    if (event.type === 'vendSucceeded') vends++;
  });
  faults.start();
  const w = m.world;
  let violation: string | undefined;

  const notQuiet = (): string => {
    const h = m.wire.host.mdb;
    const dev = (n: string, x: { readonly state: string; readonly link: { readonly status: string }; readonly reconciling: boolean } | undefined, e: { readonly queuedMessages: number; readonly isMuted: boolean } | undefined): string =>
      x && e ? `${n}: ${x.state} ${x.link.status} reconciling ${String(x.reconciling)} queued ${e.queuedMessages} muted ${String(e.isMuted)}` : '';
    return [
      `replies pending ${world.mdbLinesPending(2000)}`,
      `board settling ${String(h?.board.settling)}`,
      dev('coin', h?.coin, mdb.changer),
      dev('bill', h?.bill, mdb.validator),
      dev('card', h?.card, mdb.reader),
    ].join('; ');
  };

  const check = (where: string): void => {
    if (violation) return;
    steps++;
    // Events may sit in an emulator or on the wire (a POLL away, or the cable out): the physical
    // comparison is made once the wire is quiet; the books' own balance always.
    const atRest = m.quiet();
    const ctx = controller.snapshot.context;
    const problems = [...checkConservation(ledger)];
    if (ledger.credit !== ctx.credit) problems.push(`ledger credit ${ledger.credit} ≠ controller credit ${ctx.credit}`);
    if (ledger.debt !== ctx.debt) problems.push(`ledger debt ${ledger.debt} ≠ controller debt ${ctx.debt}`);
    const inFlight = ctx.payout ? w.paidOut - ledger.paidOut : 0;
    const planned = ctx.payout ? Object.entries(ctx.payout.plan).reduce((s, [d, n]) => s + Number(d) * n, 0) : 0;
    const cashGap = w.machineCash() - w.expectedMachineCash(ledger.inserted, ledger.paidOut + Math.max(0, Math.min(inFlight, planned)));
    if (atRest && Math.abs(cashGap) > cashAllowance)
      problems.push(
        `machine cash ${w.machineCash()} ≠ books ${w.expectedMachineCash(ledger.inserted, ledger.paidOut)} (gap ${cashGap}, advisories allow ${cashAllowance}; world inserted ${w.inserted}, books ${ledger.inserted}; world paid ${w.paidOut}, books ${ledger.paidOut}; payout in flight ${inFlight} of ${planned})`,
      );
    if (w.totalMoney() !== w.expectedTotalMoney()) problems.push(`world money ${w.totalMoney()} ≠ ${w.expectedTotalMoney()}`);
    if (atRest && ctx.vend === null) {
      const cardGap = w.card.charged - ledger.cardSales;
      if (Math.abs(cardGap) > cardAllowance) problems.push(`card charged ${w.card.charged} ≠ card sales booked ${ledger.cardSales} (advisories allow ${cardAllowance})`);
    }
    const delivered = w.bin.length + w.falling.length + taken;
    const vendInFlight = ctx.vend !== null && delivered === vends + 1;
    if (atRest && delivered !== vends && !vendInFlight) problems.push(`products delivered ${delivered} ≠ successful vends ${vends}`);
    if (problems.length > 0) {
      violation = `seed ${o.seed}, ${where}:\n  ${problems.join('\n  ')}\n  wire faults ${JSON.stringify(faults.injected)}\n  last events: ${JSON.stringify(events.slice(-6))}`;
      if (process.env.WIRE_TRACE) violation += `\n${m.tracer.recent(Number(process.env.WIRE_TRACE)).filter((t) => t.bus === 'mdb').map((t) => formatTrace(t)).join('\n')}`;
    }
  };

  let taken = 0;
  const d = m.devices;
  const serviceVisit = async (): Promise<void> => {
    d.door.open();
    await clock.advance(500);
    restock(m, controller);
    controller.send({ type: 'SERVICE_CLEAR_FAULTS' });
    d.door.close();
    await clock.advance(500);
    await clock.runUntil(() => m.quiet(), 5_000);
    check('after a service visit');
  };

  check('start');
  return {
    faults,
    advisories: () => advisories,
    steps: () => steps,
    async session(n) {
      if (violation) return violation;
      const random = createRandom(o.seed * 1_000_003 + n);
      const actions = randomActions(random, config, o.maxSteps ?? 6, o.wireEvents ?? true);
      for (const [i, a] of actions.entries()) {
        let note = '';
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
          case 'wait':
            break;
          case 'wire':
            note = faults.inject(a.fault);
            break;
        }
        await clock.advance(a.kind === 'wait' ? a.ms : (o.stepMs ?? 1000));
        await clock.runUntil(() => m.quiet(), 5_000);
        check(`session ${n} step ${i} ${JSON.stringify(a)}${note ? ` (${note})` : ''}`);
        if (violation) return violation;
      }
      // The customer takes what is in the bin and the cup.
      taken += w.bin.length;
      w.takeFromBin();
      w.takeFromCup();
      if ((n + 1) % (o.serviceEvery ?? 20) === 0) await serviceVisit();
      return violation;
    },
    async finish() {
      faults.stop();
      if (violation) return violation;
      await clock.advance(40_000);
      await clock.runUntil(() => m.quiet(), 10_000);
      if (!m.quiet()) violation = `seed ${o.seed}: the wire never went quiet at the end (${notQuiet()})`;
      check('end');
      return violation;
    },
    async close() {
      faults.stop();
      for (const s of subs) s?.unsubscribe();
      await whileRunning(clock, controller.stop());
      await whileRunning(clock, m.close());
    },
  };
}

/** Runs `sessions` sessions on one rig and returns a summary (the soak's unit of work). */
export async function runWireSessions(o: WireRigOptions & { readonly sessions: number; readonly first?: number }): Promise<SessionResult> {
  const rig = await createWireConservationRig(o);
  let violation: string | undefined;
  for (let i = 0; i < o.sessions && violation === undefined; i++) violation = await rig.session((o.first ?? 0) + i);
  violation ??= await rig.finish();
  const result: SessionResult = { steps: rig.steps(), faultsInjected: rig.faults.total, injected: { ...rig.faults.injected }, advisories: rig.advisories(), ...(violation ? { violation } : {}) };
  await rig.close();
  return result;
}
