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
 * refused while the journal cannot write, so nothing happens that the journal cannot record.
 *
 * A write that fails (disk full, I/O error) never stops the controller and never drops the event:
 * the event is held in memory, in order, and retried (with the next event, and on a backing-off
 * timer); meanwhile the storage health is `failed`, acceptance is off at the ports and moving
 * commands are refused. A coin already routed when its write failed is therefore still credit on
 * the display, and on disk as soon as a write succeeds again. See `storage.ts` for the free-space
 * floor and the reserve that make such a failure rare.
 */
import type { Observable } from 'rxjs';
import type { Clock } from '../clock.ts';
import type { MachineConfig } from '../config/schema.ts';
import { catalogFromConfig, updateColumn, type Catalog } from '../catalog/catalog.ts';
import { Controller, silentLogger, type Logger } from '../controller/controller.ts';
import type { MachineEvent } from '../controller/events.ts';
import type { Fault, VmcEvent, VmcInput } from '../controller/machine.ts';
import type { OpenCardApproval } from '../audit/ledger.ts';
import type { BillValidatorPort, CashlessPort, CoinCounts, CoinMechPort, DispenserPort, MachinePorts, Minor, StorageHealth } from '../ports/index.ts';
import { dirname } from 'node:path';
import { defaultDataDir } from './paths.ts';
import { StorageGuard, UNRECORDED_FILE, readUnrecorded, type StorageOptions } from './storage.ts';
import {
  BOOKS_FAULT,
  applyMachineEvent,
  booksSignature,
  recover,
  settleInterruptedPayout,
  type InFlightPayout,
  type InFlightVend,
  type MachineState,
  type PayoutSettlement,
  type RecoveryResult,
} from './recovery.ts';
import { JournalError, MAX_EVENT_TIME, openJournal, type Journal, type JournalEntry } from './store.ts';

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
  /** Free-space floor and reserve (see storage.ts); default 16 MiB floor, 2 MiB reserve. */
  readonly storage?: StorageOptions;
  /** Passed to `openJournal`: accept a missing, empty or shorter journal on purpose. */
  readonly startFresh?: boolean;
  /** First retry of events held after a failed write (doubling up to 5 minutes); default 5 s. */
  readonly retryMs?: number;
}

/** What the start found interrupted by the cut, and what was done about it. */
export interface RecoveryReport {
  /** The journal as folded at start. */
  readonly recovery: RecoveryResult;
  /** Events a previous run could not record and kept in `journal.unrecorded`, journalled now. */
  readonly imported: number;
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
  /**
   * The books do not balance and no operator acknowledged this imbalance: the machine is out of
   * service with fault `JOURNAL_BOOKS` (detail: the file, the first violation and what to do).
   */
  readonly booksFault: string | null;
}

export interface JournaledController {
  readonly controller: Controller;
  readonly journal: Journal;
  readonly report: RecoveryReport;
  /** The machine state folded up to the newest append (ledger, counters, stock, ...). */
  state(): MachineState;
  /**
   * Journals a service action that happens outside the statechart (counters read, audit read):
   * `auditRead` resets the interim counters. Never throws: a write that fails is held and retried.
   */
  recordServiceAction(action: string, detail?: string): void;
  /** The write error while events are held in memory unwritten (moving commands refused), or null. */
  readonly failure: Error | null;
  /** Events held in memory because their write failed, oldest first (retried). */
  readonly unwritten: readonly { readonly event: MachineEvent; readonly at: number }[];
  /** The storage health the controller sees (also `controller`'s `storage$`). */
  readonly storage$: Observable<StorageHealth>;
  readonly storage: StorageHealth;
  /** Retries the held events now; true when none are left. */
  retry(): boolean;
  /** Stops the controller, saves a snapshot and closes the journal. */
  close(): Promise<void>;
}

const LINK_FAULT = /_(OFFLINE|ERROR)$/;
/** Free space below which the start writes its records into the released reserve. */
const START_ROOM_BYTES = 256 * 1024;
/** Longest wait between retries of held events. */
const MAX_RETRY_MS = 5 * 60_000;

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
  for (const f of rec.openFaults)
    if (!LINK_FAULT.test(f.code))
      faults[f.code] = { code: f.code, device: f.device, ...(f.detail !== undefined ? { detail: f.detail } : {}), ...(f.advisory === true ? { advisory: true } : {}) };
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
 * Acceptance as the controller asks for it, and forced off while the storage cannot take money
 * (`low` or `failed`): the journal's own guard, whatever the statechart does with `STORAGE`.
 */
class AcceptanceGate {
  private open = true;
  private coins: readonly number[] = [];
  private bills: readonly number[] = [];
  private card = false;
  constructor(private readonly ports: MachinePorts) {}
  setCoins(values: readonly number[]): Promise<void> {
    this.coins = values;
    return this.ports.coin.setAcceptance(this.open ? values : []);
  }
  setBills(values: readonly number[]): Promise<void> {
    this.bills = values;
    return this.ports.bill?.setAcceptance(this.open ? values : []) ?? Promise.resolve();
  }
  setCard(on: boolean): Promise<void> {
    this.card = on;
    return this.ports.card?.enable(this.open && on) ?? Promise.resolve();
  }
  /** Re-applies what the controller asked for, or nothing, when the storage health changes. */
  setOpen(open: boolean): void {
    if (open === this.open) return;
    this.open = open;
    const ignore = (): undefined => undefined;
    this.ports.coin.setAcceptance(open ? this.coins : []).catch(ignore);
    this.ports.bill?.setAcceptance(open ? this.bills : []).catch(ignore);
    this.ports.card?.enable(open && this.card).catch(ignore);
  }
}

/**
 * The ports the controller drives: device commands start a microtask later (after the statechart
 * step and its journal appends); `moves` commands (motor on, payout, stack, card request/charge)
 * are refused while the journal cannot write. A bill whose stack is refused is handed back: what
 * cannot be recorded is not taken.
 */
function journalFirstPorts(ports: MachinePorts, later: Later, gate: AcceptanceGate): MachinePorts {
  const c = ports.coin;
  const coin: CoinMechPort = {
    name: c.name,
    link$: c.link$,
    events$: c.events$,
    setAcceptance: (values) => gate.setCoins(values),
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
      setAcceptance: (values) => gate.setBills(values),
      stack: () =>
        later(true, () => b.stack()).catch((e: unknown) => {
          if (e instanceof JournalError) void b.returnBill().catch(() => undefined);
          throw e;
        }),
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
      enable: (on) => gate.setCard(on),
      requestVend: (price, item) => later(true, () => k.requestVend(price, item)),
      vendSucceeded: (item) => later(true, () => k.vendSucceeded(item)),
      vendFailed: () => later(false, () => k.vendFailed()),
      endSession: () => later(false, () => k.endSession()),
    };
  }
  return { ...ports, coin, dispenser, ...(bill ? { bill } : {}), ...(card ? { card } : {}) };
}

/**
 * Journals the events a previous run kept in `journal.unrecorded` (it closed on a full disk), if
 * they follow the journal's last event; refuses to start when they do not (the operator decides).
 */
function importUnrecorded(journal: Journal, guard: StorageGuard, log: Logger): number {
  let u;
  try {
    u = readUnrecorded(guard.dir);
  } catch (e) {
    throw new JournalError('JOURNAL_CORRUPT', journal.path, describeError(e), e);
  }
  if (u === null) return 0;
  const last = journal.lastSeq();
  // The held events are kept in the file as soon as they are held; a cut after some of them were
  // written but before the file was blanked leaves those at the journal's end: skip that prefix.
  let written = 0;
  if (u.afterSeq < last && last - u.afterSeq <= u.events.length && journal.chainAt(u.afterSeq) === u.chain) {
    const tail = [...journal.readSince(u.afterSeq)];
    const same = tail.every((t, i) => JSON.stringify(t.event) === JSON.stringify(u.events[i]?.event));
    if (same) written = tail.length;
  }
  const chain = journal.chainAt(u.afterSeq + written);
  if (u.afterSeq + written !== last || (chain !== null && written === 0 && chain !== u.chain))
    throw new JournalError(
      'JOURNAL_CORRUPT',
      journal.path,
      `${guard.unrecordedPath} holds ${u.events.length} event(s) that could not be recorded after event #${u.afterSeq}, but the journal ends at #${last}` +
        (u.afterSeq === last ? ' with another chain link' : '') +
        `: check them (they may be money) and move ${UNRECORDED_FILE} away to start`,
    );
  const entries = u.events.slice(written).map((e, i) => {
    const at = e.at;
    const event = e.event;
    if (typeof event !== 'object' || event === null || !('type' in event) || typeof at !== 'number')
      throw new JournalError('JOURNAL_CORRUPT', journal.path, `${guard.unrecordedPath}: entry ${i} is not an event; the file was left untouched`);
    return { event: event as MachineEvent, at };
  });
  if (entries.length > 0) journal.appendMany(entries);
  guard.clearUnrecorded();
  log.warn({ journal: journal.path, events: entries.length }, 'journalled the events the last run could not record (kept in the unrecorded file)');
  return entries.length;
}

/** The restore input with the books fault added (device `coin`: a required device, so it stops sales). */
function withBooksFault(input: NonNullable<VmcInput['restore']>, detail: string | null): NonNullable<VmcInput['restore']> {
  if (detail === null) return input;
  return { ...input, faults: { ...input.faults, [BOOKS_FAULT]: { code: BOOKS_FAULT, device: 'coin', detail } } };
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
  const journal =
    opts.journal ?? openJournal({ dir: opts.dataDir ?? config.journal.dir ?? defaultDataDir(), clock, ...(opts.startFresh === true ? { startFresh: true } : {}) });
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

  const guard = new StorageGuard(dirname(journal.path), opts.storage);
  const imported = importUnrecorded(journal, guard, log);
  const rec = recover(journal);
  if (rec.snapshotIgnored !== undefined) log.warn({ journal: journal.path, reason: rec.snapshotIgnored }, 'journal snapshot ignored: full replay');
  if (rec.violations.length > 0) log.error({ journal: journal.path, violations: rec.violations }, 'the journal records money moves that break the invariants');
  // Books that do not balance never start sales, unless the operator acknowledged this very imbalance.
  const booksFault =
    rec.violations.length > 0 && booksSignature(rec.ledger) !== (rec.state.booksAcknowledged ?? null)
      ? `${journal.path}: the books do not balance (${rec.violations[0] ?? ''}${rec.violations.length > 1 ? `; ${rec.violations.length - 1} more` : ''}); ` +
        'check them (vendomat audit), then open the door and clear faults (service clear-faults) to acknowledge and sell again'
      : null;

  const retryFirstMs = opts.retryMs ?? 5_000;

  let state = rec.state;
  let knownSeq = rec.lastSeq;
  let sinceSnapshot = rec.replayed;
  let failure: Error | null = null;
  /** Events whose write failed, oldest first: never dropped, retried in order. */
  const unwritten: { event: MachineEvent; at: number }[] = [];
  /** The newest journalled time: what an event is recorded at when the clock is out of range. */
  let lastAt = 0;
  for (const e of journal.readSince(Math.max(0, rec.lastSeq - 1))) lastAt = e.at;
  let retryTimer: { handle: unknown; ms: number } | null = null;
  let closed = false;

  /**
   * A clock outside the range of dates (pushed past 2^53 ms) must not cost the event: it is
   * recorded at the last good time, and the clock fault is logged.
   */
  const boundedTime = (at: number, type: string): number => {
    if (Number.isSafeInteger(at) && Math.abs(at) <= MAX_EVENT_TIME) return at;
    log.error({ journal: journal.path, at: String(at), event: type, recordedAt: lastAt }, 'clock time out of range: event recorded at the last good time');
    return lastAt;
  };

  /** One event, durable when this returns; `onAppend` side state commits with it. */
  const append = (event: MachineEvent, time: number = clock.now()): void => {
    const at = boundedTime(time, event.type);
    // Nothing here changes until the write committed (a failed `onAppend` rolls the append back).
    const write = (): { next: MachineState; seq: number } => {
      const seq = journal.append(event, at);
      // Someone else appended since our last event (`vendomat audit --dex` journals its read):
      // fold again from the journal, so the state (and the next snapshot) includes theirs.
      const next = seq === knownSeq + 1 ? applyMachineEvent(state, event) : recover(journal).state;
      opts.onAppend?.({ seq, at, event });
      if (sinceSnapshot + 1 >= snapshotEvery) journal.saveSnapshot(seq, next);
      return { next, seq };
    };
    // One transaction for the event, its side state and the snapshot: a snapshot that fails must
    // not leave the event written and then held for a retry (it would be written twice).
    const done = journal.transaction(write);
    state = done.next;
    knownSeq = done.seq;
    if (sinceSnapshot + 1 >= snapshotEvery) guard.noteWritten(4096 + JSON.stringify(state).length);
    sinceSnapshot = sinceSnapshot + 1 >= snapshotEvery ? 0 : sinceSnapshot + 1;
    lastAt = at;
    // A WAL commit writes whole pages: count one page per event, plus its body.
    guard.noteWritten(4096 + JSON.stringify(event).length);
  };

  const scheduleRetry = (): void => {
    if (retryTimer !== null || closed) return;
    const ms = Math.min(MAX_RETRY_MS, retryFirstMs);
    const arm = (wait: number): void => {
      retryTimer = {
        ms: wait,
        handle: clock.setTimeout(() => {
          retryTimer = null;
          if (!flush() && !closed) arm(Math.min(MAX_RETRY_MS, wait * 2));
        }, wait),
      };
    };
    arm(ms);
  };

  /**
   * Held events go at once into the preallocated `journal.unrecorded` (overwritten in place, so a
   * full disk still takes them): a power cut while they are held loses nothing; the next start
   * journals them. Blanked again once they are written.
   */
  const keepUnrecorded = (): void => {
    let chain: string | null = null;
    try {
      chain = journal.chainAt(knownSeq);
    } catch {
      // The journal itself is unreadable: nothing to chain the held events to.
    }
    if (chain === null || !guard.saveUnrecorded({ afterSeq: knownSeq, chain, events: unwritten }))
      log.error({ journal: journal.path, file: guard.unrecordedPath, held: unwritten.length }, 'events held in memory could not be kept in the unrecorded file');
  };

  /** Writes the held events in order; true when none are left. */
  const flush = (): boolean => {
    while (unwritten.length > 0) {
      const next = unwritten[0];
      if (next === undefined) break;
      try {
        append(next.event, next.at);
        unwritten.shift();
      } catch (e) {
        // Out of space: the reserve is there for exactly this; free it and try once more.
        if (guard.releaseReserve()) {
          log.error({ journal: journal.path }, 'journal write failed: the disk reserve was released; no new money is taken');
          continue;
        }
        const first = failure === null;
        failure = e instanceof Error ? e : new Error(String(e));
        keepUnrecorded();
        guard.setFailed(`${journal.path}: cannot record (${describeError(e)}); ${unwritten.length} event(s) held in memory and retried; free space or fix the disk`);
        if (first) log.error({ err: describeError(e), held: unwritten.length }, 'journal write failed: events held in memory and retried; money moves stop until they are written');
        scheduleRetry();
        return false;
      }
    }
    if (failure !== null) {
      failure = null;
      guard.clearUnrecorded();
      guard.setFailed(null);
      log.info({ journal: journal.path }, 'journal writes again: the held events are recorded');
    }
    return true;
  };

  const record = (event: MachineEvent, at: number): void => {
    unwritten.push({ event, at });
    flush();
  };

  const later: Later = (moves, run) =>
    Promise.resolve().then(() => {
      if (moves && failure !== null) throw new JournalError('JOURNAL_IO', journal.path, `command refused: events cannot be recorded (${failure.message})`);
      return run();
    });

  const gate = new AcceptanceGate(ports);
  const gateSub = guard.health$.subscribe((h) => gate.setOpen(h.status === 'ok'));
  guard.check();

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
    ports: journalFirstPorts(ports, later, gate),
    clock,
    logger: log,
    restore: withBooksFault(restoreInput(config, rec), booksFault),
    storage$: guard.health$,
    beforeEvent: (event, at) => record(event, at),
  });

  const summary: Record<string, unknown> = {};
  if (vend) summary.vend = { column: vend.column, price: vend.price, payment: vend.payment };
  if (cardOpen) summary.card = cardOpen;
  if (payout) summary.payout = { reason: payout.payout.reason, amount: payout.payout.amount, paid: payout.paidValue, owed: payout.unpaid, certain: payout.certain };
  if (escrow !== null) summary.escrow = escrow;

  // Too little room even for the start's own records: use the reserve now (the health stays `low`).
  if (guard.lastFree !== null && guard.lastFree < START_ROOM_BYTES) guard.releaseReserve();

  // Recovery is one transaction: a cut during it finds all of it journalled or none of it.
  let starting: Promise<void> = Promise.resolve();
  journal.transaction(() => {
    append({ type: 'serviceAction', action: 'powerUp' });
    if (Object.keys(summary).length > 0) append({ type: 'serviceAction', action: 'recovered', detail: JSON.stringify(summary) });
    for (const f of linkFaults) append({ type: 'faultCleared', code: f.code, device: f.device });
    if (booksFault !== null && !rec.openFaults.some((f) => f.code === BOOKS_FAULT))
      append({ type: 'faultRaised', code: BOOKS_FAULT, device: 'coin', detail: booksFault });
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
    imported,
    vend,
    card: vend?.payment === 'card' ? null : cardOpen,
    payout,
    escrow,
    linkFaultsCleared: linkFaults.map((f) => f.code),
    booksFault,
  };
  if (inFlight !== null) log.info({ recovered: summary }, 'settled what the power cut interrupted');
  if (booksFault !== null) log.error({ journal: journal.path }, booksFault);

  return {
    controller: ctl,
    journal,
    report,
    state: () => state,
    get failure() {
      return failure;
    },
    get unwritten() {
      return unwritten.map((u) => ({ ...u }));
    },
    storage$: guard.health$,
    get storage() {
      return guard.health;
    },
    retry: () => flush(),
    recordServiceAction(action, detail) {
      // In order with the controller's events: held and retried like them when the disk fails.
      record({ type: 'serviceAction', action, ...(detail !== undefined ? { detail } : {}) }, clock.now());
    },
    async close() {
      if (closed) return;
      closed = true;
      if (retryTimer !== null) clock.clearTimeout(retryTimer.handle);
      await ctl.stop();
      gateSub.unsubscribe();
      try {
        // Last chance for held events; then into the preallocated `journal.unrecorded` (imported at
        // the next start); if even that fails, say so loudly (never silently).
        if (!flush()) {
          const held = unwritten.map((u) => u.event);
          let chain: string | null = null;
          try {
            chain = journal.chainAt(knownSeq);
          } catch {
            // The journal itself is unreadable: nothing to chain the held events to.
          }
          if (chain !== null && guard.saveUnrecorded({ afterSeq: knownSeq, chain, events: unwritten })) {
            log.error(
              { journal: journal.path, file: guard.unrecordedPath, unwritten: held },
              'closing with events that could not be recorded: kept in the unrecorded file, written to the journal at the next start',
            );
            return;
          }
          log.error({ journal: journal.path, unwritten: held }, 'closing with events that could not be recorded');
          throw new JournalError(
            'JOURNAL_IO',
            journal.path,
            `closed with ${held.length} event(s) that could not be recorded (listed in the log): ${JSON.stringify(held).slice(0, 500)}`,
          );
        }
        if (sinceSnapshot > 0) journal.saveSnapshot(knownSeq, state);
      } finally {
        guard.close();
        journal.close();
      }
    },
  };
}
