/**
 * The controller with its journal: the composition that makes the machine crash-safe and auditable
 * (money-model.md "power cuts"; the policy is in docs/journal.md and recovery.ts).
 *
 * Start-up, in order:
 * 1. open the journal (a corrupt, foreign or too-new file throws its `JournalError`: the machine
 *    refuses to start and the file is left as it is);
 * 2. fold it (`recover`) from the newest snapshot;
 * 3. if a payout was cut part-way, read the tube levels now;
 * 4. build the controller with the recovered state (`restore`) and a `beforeEvent` hook that appends
 *    every domain event durably (synchronous SQLite commit) before anything else sees it;
 * 5. in ONE transaction: journal `serviceAction powerUp`, close what the cut left open, and let the
 *    statechart settle the rest (`RECOVERED`), so a second cut during recovery finds either all of
 *    it or none of it;
 * 6. hand an escrowed bill back.
 *
 * Journal first, device second. XState 5 delivers emitted events after the actions of the step that
 * emitted them, so the shell's device commands would otherwise be invoked before `beforeEvent`
 * runs. The ports handed to the controller therefore start every device command one microtask
 * later, after the step (and its appends) has finished; commands that move money or products are
 * refused once the journal has failed, so nothing happens that the journal cannot record.
 */
import type { Clock } from '../clock.ts';
import type { MachineConfig } from '../config/schema.ts';
import { catalogFromConfig, updateColumn, type Catalog } from '../catalog/catalog.ts';
import { Controller, silentLogger, type Logger } from '../controller/controller.ts';
import type { MachineEvent } from '../controller/events.ts';
import type { Fault, VmcEvent, VmcInput } from '../controller/machine.ts';
import type { OpenCardApproval } from '../audit/ledger.ts';
import type { BillValidatorPort, CashlessPort, CoinCounts, CoinMechPort, DispenserPort, MachinePorts, Minor } from '../ports/index.ts';
import { defaultDataDir } from './paths.ts';
import {
  applyMachineEvent,
  recover,
  settleInterruptedPayout,
  type InFlightPayout,
  type InFlightVend,
  type MachineState,
  type PayoutSettlement,
  type RecoveryResult,
} from './recovery.ts';
import { JournalError, openJournal, type Journal, type JournalEntry } from './store.ts';

export interface JournaledControllerOptions {
  readonly config: MachineConfig;
  readonly ports: MachinePorts;
  readonly clock: Clock;
  /** The data directory; default `config.journal.dir`, else `defaultDataDir()`. Unused with `journal`. */
  readonly dataDir?: string;
  /** A journal the caller already opened (e.g. to read side state first); `close()` closes it. */
  readonly journal?: Journal;
  readonly logger?: Logger;
  /** Save a snapshot every this many events; default `config.journal.snapshotEvery`. */
  readonly snapshotEvery?: number;
  /**
   * Called inside the transaction of every append, after the event is written: side state written
   * here (`journal.putSide`) commits together with the event or not at all.
   */
  readonly onAppend?: (entry: JournalEntry) => void;
}

/** What the start found interrupted by the cut, and what was done about it. */
export interface RecoveryReport {
  /** The journal as folded at start. */
  readonly recovery: RecoveryResult;
  /** A vend with no outcome: journalled as failed (nothing charged, credit kept), its column marked for a check. */
  readonly vend: InFlightVend | null;
  /** A card approval with no outcome: journalled as a failed card vend (reverted, not charged). */
  readonly card: OpenCardApproval | null;
  /** A payout cut part-way: what the tubes say was paid; the rest became a debt. */
  readonly payout: (PayoutSettlement & { readonly payout: InFlightPayout; readonly tubesNow: CoinCounts | null }) | null;
  /** A bill held in escrow at the cut: handed back (never credit). */
  readonly escrow: Minor | null;
  /** Link faults open at the cut: closed, since every link reports afresh at start. */
  readonly linkFaultsCleared: readonly string[];
}

export interface JournaledController {
  readonly controller: Controller;
  readonly journal: Journal;
  readonly report: RecoveryReport;
  /** The machine state folded up to the newest append (ledger, counters, stock, ...). */
  state(): MachineState;
  /**
   * Journals a service action that happens outside the statechart (counters read, audit read):
   * `auditRead` resets the interim counters.
   */
  recordServiceAction(action: string, detail?: string): void;
  /** The error that stopped the journal (the controller is then stopped), or null. */
  readonly failure: Error | null;
  /** Stops the controller, saves a snapshot and closes the journal. */
  close(): Promise<void>;
}

const LINK_FAULT = /_(OFFLINE|ERROR)$/;

/** The catalog as the journal last knew it: the config, with journalled stock, prices and marks over it. */
export function restoredCatalog(config: MachineConfig, rec: Pick<RecoveryResult, 'stock' | 'prices' | 'columnMarks'>): Catalog {
  let catalog = catalogFromConfig(config.catalog.slots);
  for (const [code, stock] of Object.entries(rec.stock)) {
    const col = catalog[code];
    if (col && Number.isSafeInteger(stock)) catalog = updateColumn(catalog, code, { stock: Math.min(col.capacity, Math.max(0, stock)) });
  }
  for (const [code, price] of Object.entries(rec.prices)) if (Number.isSafeInteger(price) && price > 0) catalog = updateColumn(catalog, code, { price });
  for (const [code, mark] of Object.entries(rec.columnMarks))
    if (mark === 'failed' || mark === 'jammed' || mark === 'ok') catalog = updateColumn(catalog, code, { mark });
  return catalog;
}

/** The statechart's restore input from a recovery: catalog, credit, debt, tubes and the open faults. */
export function restoreInput(config: MachineConfig, rec: RecoveryResult): NonNullable<VmcInput['restore']> {
  const faults: Record<string, Fault> = {};
  // Link faults are not restored: each device reports its link afresh when the controller starts.
  for (const f of rec.openFaults) if (!LINK_FAULT.test(f.code)) faults[f.code] = { code: f.code, device: f.device, ...(f.advisory === true ? { advisory: true } : {}) };
  return {
    catalog: restoredCatalog(config, rec),
    credit: Math.max(0, rec.ledger.credit),
    debt: Math.max(0, rec.ledger.debt),
    tubes: rec.tubes ?? {},
    faults,
    ...(rec.state.pin !== undefined ? { pin: rec.state.pin } : {}),
  };
}

type Later = <R>(moves: boolean, run: () => Promise<R>) => Promise<R>;

/**
 * The ports the controller drives: device commands start a microtask later (after the statechart
 * step and its journal appends); `moves` commands (motor on, payout, stack, card request/charge)
 * are refused once the journal failed.
 */
function journalFirstPorts(ports: MachinePorts, later: Later): MachinePorts {
  const c = ports.coin;
  const coin: CoinMechPort = {
    name: c.name,
    link$: c.link$,
    events$: c.events$,
    setAcceptance: (values) => c.setAcceptance(values),
    tubeLevels: () => c.tubeLevels(),
    dispense: (plan) => later(true, () => c.dispense(plan)),
  };
  const d = ports.dispenser;
  const dispenser: DispenserPort = {
    name: d.name,
    link$: d.link$,
    events$: d.events$,
    motorOn: (column) => later(true, () => d.motorOn(column)),
    motorOff: () => later(false, () => d.motorOff()),
  };
  let bill: BillValidatorPort | undefined;
  if (ports.bill) {
    const b = ports.bill;
    bill = {
      name: b.name,
      link$: b.link$,
      events$: b.events$,
      setAcceptance: (values) => b.setAcceptance(values),
      stack: () => later(true, () => b.stack()),
      returnBill: () => later(false, () => b.returnBill()),
    };
  }
  let card: CashlessPort | undefined;
  if (ports.card) {
    const k = ports.card;
    card = {
      name: k.name,
      link$: k.link$,
      events$: k.events$,
      enable: (on) => k.enable(on),
      requestVend: (price, item) => later(true, () => k.requestVend(price, item)),
      vendSucceeded: (item) => later(true, () => k.vendSucceeded(item)),
      vendFailed: () => later(false, () => k.vendFailed()),
      endSession: () => later(false, () => k.endSession()),
    };
  }
  return { ...ports, coin, dispenser, ...(bill ? { bill } : {}), ...(card ? { card } : {}) };
}

function describeError(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Opens the journal, recovers, starts the controller on it and settles what a cut left in flight.
 * Throws the `JournalError` of a journal that cannot be used (nothing is started then).
 */
export async function openJournaledController(opts: JournaledControllerOptions): Promise<JournaledController> {
  const { config, clock } = opts;
  const log = opts.logger ?? silentLogger;
  const journal = opts.journal ?? openJournal({ dir: opts.dataDir ?? config.journal.dir ?? defaultDataDir(), clock });
  try {
    return await start(opts, journal, log);
  } catch (e) {
    if (opts.journal === undefined) journal.close();
    throw e;
  }
}

async function start(opts: JournaledControllerOptions, journal: Journal, log: Logger): Promise<JournaledController> {
  const { config, clock, ports } = opts;
  const snapshotEvery = opts.snapshotEvery ?? config.journal.snapshotEvery;
  if (!Number.isSafeInteger(snapshotEvery) || snapshotEvery < 1) throw new RangeError(`snapshotEvery must be a whole number ≥ 1, got ${snapshotEvery}`);

  const rec = recover(journal);
  if (rec.snapshotIgnored !== undefined) log.warn({ reason: rec.snapshotIgnored }, 'journal snapshot ignored: full replay');
  if (rec.violations.length > 0) log.error({ violations: rec.violations }, 'the journal records money moves that break the invariants');

  let state = rec.state;
  let knownSeq = rec.lastSeq;
  let sinceSnapshot = rec.replayed;
  let failure: Error | null = null;
  // Set once the controller exists; `fail` may run before that (during the recovery appends).
  const running: { controller?: Controller } = {};

  /** One event, durable when this returns; `onAppend` side state commits with it. */
  const append = (event: MachineEvent, at: number = clock.now()): void => {
    const write = (): MachineState => {
      const seq = journal.append(event, at);
      // Someone else appended since our last event (`vendomat audit --dex` journals its read):
      // fold again from the journal, so the state (and the next snapshot) includes theirs.
      const next = seq === knownSeq + 1 ? applyMachineEvent(state, event) : recover(journal).state;
      knownSeq = seq;
      opts.onAppend?.({ seq, at, event });
      if (sinceSnapshot + 1 >= snapshotEvery) journal.saveSnapshot(seq, next);
      return next;
    };
    state = opts.onAppend ? journal.transaction(write) : write();
    sinceSnapshot = sinceSnapshot + 1 >= snapshotEvery ? 0 : sinceSnapshot + 1;
  };

  const fail = (e: unknown): void => {
    if (failure !== null) return;
    failure = e instanceof Error ? e : new Error(String(e));
    log.error({ err: describeError(e) }, 'journal append failed: the controller stops (nothing it cannot record may happen)');
    // Not from inside the statechart step that is emitting: stop once it has finished.
    queueMicrotask(() => void running.controller?.stop());
  };

  const later: Later = (moves, run) =>
    Promise.resolve().then(() => {
      if (moves && failure !== null) throw new JournalError('JOURNAL_CLOSED', journal.path, `command refused: the journal failed (${failure.message})`);
      return run();
    });

  // What the cut left in flight.
  const inFlight = rec.inFlight;
  const vend = inFlight?.vend ?? null;
  const cardOpen = inFlight?.card ?? null;
  const escrow = inFlight?.escrow ?? null;
  let payout: RecoveryReport['payout'] = null;
  if (inFlight?.payout) {
    const p = inFlight.payout;
    let tubesNow: CoinCounts | null = null;
    try {
      tubesNow = await ports.coin.tubeLevels();
    } catch (e) {
      log.warn({ err: describeError(e) }, 'cannot read the tube levels to settle the interrupted payout');
    }
    const settled: PayoutSettlement =
      tubesNow !== null
        ? settleInterruptedPayout(p, tubesNow)
        : { paid: {}, paidValue: 0, unpaid: p.amount, certain: false, notes: ['tube levels could not be read: nothing counted as paid, the whole amount is owed'] };
    payout = { ...settled, payout: p, tubesNow };
    if (!settled.certain) log.warn({ notes: settled.notes }, 'interrupted payout: the tubes do not fully explain it; the rest is a debt for service to check');
  }
  const linkFaults = rec.openFaults.filter((f) => LINK_FAULT.test(f.code));

  const ctl = new Controller({
    config,
    ports: journalFirstPorts(ports, later),
    clock,
    logger: log,
    restore: restoreInput(config, rec),
    beforeEvent: (event, at) => {
      if (failure !== null) return;
      try {
        append(event, at);
      } catch (e) {
        fail(e);
      }
    },
  });
  running.controller = ctl;

  const summary: Record<string, unknown> = {};
  if (vend) summary.vend = { column: vend.column, price: vend.price, payment: vend.payment };
  if (cardOpen) summary.card = cardOpen;
  if (payout) summary.payout = { reason: payout.payout.reason, amount: payout.payout.amount, paid: payout.paidValue, owed: payout.unpaid, certain: payout.certain };
  if (escrow !== null) summary.escrow = escrow;

  // Recovery is one transaction: a cut during it finds all of it journalled or none of it.
  let starting: Promise<void> = Promise.resolve();
  journal.transaction(() => {
    append({ type: 'serviceAction', action: 'powerUp' });
    if (Object.keys(summary).length > 0) append({ type: 'serviceAction', action: 'recovered', detail: JSON.stringify(summary) });
    for (const f of linkFaults) append({ type: 'faultCleared', code: f.code, device: f.device });
    // Close the vend (and card approval) the cut interrupted, so a later restart does not see it again.
    if (vend) {
      const card = vend.payment === 'card';
      append({
        type: 'vendFailed',
        column: vend.column,
        price: card ? (cardOpen?.amount ?? vend.price) : vend.price,
        payment: vend.payment,
        reason: 'deviceError',
      });
    } else if (cardOpen) {
      append({ type: 'vendFailed', column: cardOpen.column, price: cardOpen.amount, payment: 'card', reason: 'deviceError' });
    }
    const recovered: Extract<VmcEvent, { type: 'RECOVERED' }> = {
      type: 'RECOVERED',
      checkColumns: vend ? [vend.column] : [],
      ...(payout ? { payout: { amount: payout.payout.amount, plan: payout.payout.plan, reason: payout.payout.reason, paid: payout.paid } } : {}),
    };
    // Queued before start: the statechart handles it first, inside this transaction.
    if (recovered.checkColumns.length > 0 || recovered.payout) ctl.send(recovered);
    // The synchronous part of start() (statechart start, port wiring) runs inside the transaction.
    starting = ctl.start();
  });
  await starting;

  // The reader forgot the session at reset; telling it the vend failed is harmless either way.
  if (cardOpen && ports.card) ports.card.vendFailed().catch(() => undefined);
  if (escrow !== null) {
    // Ask the validator to hand the bill back; if it holds none (it returned it at reset), record that.
    const returned = (): void => ctl.send({ type: 'BILL_RETURNED', value: escrow });
    if (ports.bill) ports.bill.returnBill().catch(returned);
    else returned();
  }
  if (sinceSnapshot >= snapshotEvery) {
    journal.saveSnapshot(knownSeq, state);
    sinceSnapshot = 0;
  }

  const report: RecoveryReport = {
    recovery: rec,
    vend,
    card: vend?.payment === 'card' ? null : cardOpen,
    payout,
    escrow,
    linkFaultsCleared: linkFaults.map((f) => f.code),
  };
  if (inFlight !== null) log.info({ recovered: summary }, 'settled what the power cut interrupted');

  let closed = false;
  return {
    controller: ctl,
    journal,
    report,
    state: () => state,
    get failure() {
      return failure;
    },
    recordServiceAction(action, detail) {
      if (failure !== null) throw failure;
      append({ type: 'serviceAction', action, ...(detail !== undefined ? { detail } : {}) });
    },
    async close() {
      if (closed) return;
      closed = true;
      await ctl.stop();
      try {
        if (failure === null && sinceSnapshot > 0) journal.saveSnapshot(knownSeq, state);
      } finally {
        journal.close();
      }
    },
  };
}
