/**
 * `MdbBillValidator`: the MDB bill validator (address 0x30, MDB 4.2 §6 / protocols.md §1.6) behind a
 * `BillValidatorPort`.
 *
 * - Init: SETUP (bill table, 2-byte scaling) → EXPANSION ident (best effort) → STACKER → BILL TYPE
 *   with escrow enabled for every accepted bill, so a bill is never credit before it is stacked
 *   (field-notes.md §5 item 2: credit granted at escrow, escrow/stacked races).
 * - POLL: ESCROW POSITION → `escrow`; BILL STACKED → `stacked` (now it is credit); BILL RETURNED →
 *   `returned`; rejected bills → `rejected`; jams and sensor problems → `fault`.
 * - `stack()` / `returnBill()` send ESCROW and resolve when the validator ACKs; the outcome comes
 *   as the `stacked` / `returned` event on a later POLL (MDB allows up to ~30 s).
 */
import { Subject } from 'rxjs';
import type { Observable } from 'rxjs';
import type { Clock } from '../../src/clock.ts';
import type { BillEvent, BillValidatorPort, Minor } from '../../src/ports/index.ts';
import type { MdbBoard } from './board.ts';
import { billCmd, decodeBillPoll, decodeBillSetup, decodeStacker, unitsToMinor } from './codec.ts';
import type { BillAction, BillSetup, BillStatus, MdbCommand, PollDecode, StackerStatus } from './codec.ts';
import { MdbPeripheralDriver } from './device.ts';
import type { MdbDeviceOptions } from './device.ts';

export interface MdbBillValidatorOptions extends MdbDeviceOptions {
  /** Port name (default "bill"). */
  readonly name?: string;
}

/** After an ESCROW we may repeat or send blind, an INVALID ESCROW within this time is expected. */
const PROBE_WINDOW_MS = 5_000;
/** A bill must be stacked or returned within 30 s of ESCROW (MDB 4.2 §6, ESCROW command). */
const ESCROW_MOVE_MS = 30_000;
/** How often reconciliation looks again at a bill still in motion. */
const RECHECK_MS = 2_000;

const FAULT_CODES: Partial<Record<BillStatus['kind'], string>> = {
  defectiveMotor: 'BILL_MOTOR',
  sensorProblem: 'BILL_SENSOR',
  romChecksumError: 'ROM_CHECKSUM',
  validatorJammed: 'BILL_JAM',
  billRemoved: 'BILL_REMOVED',
  invalidEscrowRequest: 'INVALID_ESCROW',
  possibleCreditedBillRemoval: 'BILL_REMOVAL',
};

export class MdbBillValidator extends MdbPeripheralDriver<BillStatus> implements BillValidatorPort {
  readonly events$: Observable<BillEvent>;
  protected readonly events = new Subject<BillEvent>();
  protected readonly pollCommand: MdbCommand = billCmd.poll();
  protected readonly resetCommand: MdbCommand = billCmd.reset();
  private setupInfo: BillSetup | undefined;
  private values: number[] = new Array<number>(16).fill(0);
  private wanted: Minor[] = [];
  private escrowValue: Minor | undefined;
  private stackerInfo: StackerStatus | undefined;
  private cashboxOut = false;
  /** Statuses drained before the first SETUP, valued once the bill table is known. */
  private deferred: BillStatus[] = [];
  /** Bills the stacker should hold, as far as the driver knows (STACKER reading + STACKED reports). */
  private expectedStacker: number | undefined;
  /** What the controller asked for the bill in escrow, and when. */
  private escrowAction: { readonly kind: 'stack' | 'return'; readonly at: number } | undefined;
  /** An ESCROW return was sent to empty an escrow we may not know of: its INVALID ESCROW is expected. */
  private probeUntil = -Infinity;
  /** Reconciliation waits for a bill in motion until then. */
  private recheckAt = -Infinity;
  /**
   * Bills reconciliation credited from the STACKER count: their STACKED report may still come on a
   * later POLL (it was queued, not lost) and must not credit them twice.
   */
  private reconciledStacked = 0;
  /** The pending reconciliation only checks STACKER (no blind ESCROW return: nothing was lost). */
  private verifyOnly = false;
  /**
   * A bill reported in escrow while the last one, asked to move, was not yet reported stacked or
   * returned. It is opened only once STACKER has settled the last one (one escrow at a time).
   */
  private nextEscrow: Minor | undefined;

  constructor(
    board: MdbBoard,
    clock: Clock,
    private readonly opts: MdbBillValidatorOptions = {},
  ) {
    super(opts.name ?? 'bill', board, clock, opts, 5000);
    this.events$ = this.events.asObservable();
  }

  get setup(): BillSetup | undefined {
    return this.setupInfo;
  }

  /** Bill values by MDB bill type (0 = unused). */
  get billValues(): readonly number[] {
    return this.values;
  }

  /** The bill the validator holds in escrow, as far as the driver knows. */
  get inEscrow(): Minor | undefined {
    return this.escrowValue;
  }

  /** The last STACKER reading. */
  get stacker(): StackerStatus | undefined {
    return this.stackerInfo;
  }

  // ------------------------------------------------------------------ BillValidatorPort

  async setAcceptance(values: readonly Minor[]): Promise<void> {
    this.wanted = [...values];
    if (!this.ready) throw this.error('DEVICE_OFFLINE', 'validator not ready; acceptance is applied when it is');
    await this.applyAcceptance(false);
  }

  async stack(): Promise<void> {
    if (this.escrowValue === undefined) throw this.error('DEVICE_REJECTED', 'no bill in escrow');
    this.escrowAction = { kind: 'stack', at: this.clock.now() };
    // Repeating ESCROW is harmless: a second one finds no bill in escrow (INVALID ESCROW, absorbed).
    this.probeUntil = this.clock.now() + PROBE_WINDOW_MS;
    await this.command(billCmd.escrow(true), { policy: { retries: 1, retryOn: ['nak', 'timeout', 'unknown'] } });
  }

  async returnBill(): Promise<void> {
    if (this.escrowValue === undefined) throw this.error('DEVICE_REJECTED', 'no bill in escrow');
    this.escrowAction = { kind: 'return', at: this.clock.now() };
    this.probeUntil = this.clock.now() + PROBE_WINDOW_MS;
    await this.command(billCmd.escrow(false), { policy: { retries: 1, retryOn: ['nak', 'timeout', 'unknown'] } });
  }

  /** STACKER: bills in the cash box and whether it is full. */
  async readStacker(): Promise<StackerStatus> {
    const r = await this.command(billCmd.stacker());
    return this.takeStacker(r.kind === 'data' ? r.data : new Uint8Array(0));
  }

  // ------------------------------------------------------------------ driver hooks

  protected decodePoll(data: Uint8Array): PollDecode<BillStatus> {
    return decodeBillPoll(data);
  }

  protected pendingActivity(): boolean {
    return this.escrowValue !== undefined || this.nextEscrow !== undefined;
  }

  protected readonly resetFault = 'VALIDATOR_RESET';

  protected override onDeviceReset(expected: boolean): void {
    if (!expected && this.expectedStacker !== undefined) {
      // Reports not yet sent are gone: the STACKER reading of the setup that follows settles a
      // bill in escrow (stacked or handed back) and finds bills stacked without a report.
      this.reconcileWanted = this.reconcileWanted ?? 'validator reset by itself';
      return;
    }
    this.escrowLostToReset();
  }

  /**
   * A validator returns the bill it held when it resets (assumed, MDB 4.2 §6 RESET; unconfirmed).
   * Closing the escrow keeps "stacked or returned, never neither" (money-model.md).
   */
  private escrowLostToReset(): void {
    const v = this.escrowValue;
    this.escrowValue = undefined;
    this.escrowAction = undefined;
    // A bill waiting to be opened was never reported to the controller: nothing to close.
    this.nextEscrow = undefined;
    if (v !== undefined) this.events.next({ type: 'returned', value: v });
  }

  protected override async reconcile(why: string): Promise<void> {
    if (this.nextEscrow !== undefined) {
      await this.openNextEscrow(why);
      return;
    }
    if (this.clock.now() < this.recheckAt) {
      this.reconcileWanted = this.reconcileWanted ?? why;
      return;
    }
    const verifyOnly = this.verifyOnly;
    this.verifyOnly = false;
    const r = await this.command(billCmd.stacker());
    const count = this.takeStacker(r.kind === 'data' ? r.data : new Uint8Array(0)).count;
    this.settleFromStacker(count, why);
    if (verifyOnly) return;
    if (this.escrowValue === undefined) {
      // The lost report may have been ESCROW: a bill we do not know of would wait in limbo. Hand it
      // back; with nothing in escrow the validator answers INVALID ESCROW, which is expected here.
      this.probeUntil = this.clock.now() + PROBE_WINDOW_MS;
      await this.command(billCmd.escrow(false), { policy: { retries: 1, retryOn: ['nak', 'timeout', 'unknown'] } });
      return;
    }
    const action = this.escrowAction;
    if (!action) return; // still in escrow, waiting for the controller: nothing was lost
    if (this.clock.now() - action.at < ESCROW_MOVE_MS) {
      // Asked to move, not counted in the stacker yet: it may still be on its way. Look again.
      this.recheckAt = this.clock.now() + RECHECK_MS;
      this.reconcileWanted = this.reconcileWanted ?? why;
      return;
    }
    // Not in the stacker 30 s after ESCROW: it did not go in. Make sure it is handed back, and close it.
    const value = this.escrowValue;
    this.probeUntil = this.clock.now() + PROBE_WINDOW_MS;
    await this.command(billCmd.escrow(false), { policy: { retries: 1, retryOn: ['nak', 'timeout', 'unknown'] } });
    this.escrowValue = undefined;
    this.escrowAction = undefined;
    this.events.next({ type: 'returned', value });
  }

  /**
   * A new bill reached escrow, so the validator no longer holds the last one (one bill in escrow at
   * a time, MDB 4.2 §6): STACKER tells whether it went in (its STACKED report was lost) or not (it
   * went back, or it was never there: a stray ESCROW line taken for a POLL answer). Either way the
   * last escrow is closed, exactly once, before the new one opens.
   */
  private async openNextEscrow(why: string): Promise<void> {
    const r = await this.command(billCmd.stacker());
    const count = this.takeStacker(r.kind === 'data' ? r.data : new Uint8Array(0)).count;
    this.settleFromStacker(count, why);
    const next = this.nextEscrow;
    if (next === undefined) return; // closed meanwhile (reset)
    const last = this.escrowValue;
    if (last !== undefined) {
      this.log.warn({ device: this.name, why, value: last }, 'bill asked to move is not in the stacker and no longer in escrow: closed as returned');
      this.events.next({ type: 'returned', value: last });
    }
    this.nextEscrow = undefined;
    this.escrowAction = undefined;
    // `reconciledStacked` is kept: this report may be a stray line, with the STACKED report of the
    // bill just credited from the count still to come.
    this.escrowValue = next;
    this.events.next({ type: 'escrow', value: next });
  }

  /**
   * STACKER (MDB 4.2 §6, 36h) against the bills the driver saw stacked. One more than expected with
   * a bill in escrow is that bill (its STACKED report was lost): credited, its value is certain.
   * More than that cannot be valued: advisory fault BILL_REPLY_LOST.
   */
  private settleFromStacker(count: number, why: string): void {
    const expected = this.expectedStacker ?? count;
    this.expectedStacker = count;
    let extra = count - expected;
    if (extra > 0 && this.escrowValue !== undefined) {
      const value = this.escrowValue;
      this.escrowValue = undefined;
      this.escrowAction = undefined;
      this.log.warn({ device: this.name, why, value }, 'bill in escrow found in the stacker: STACKED report was lost');
      this.reconciledStacked++;
      this.events.next({ type: 'stacked', value });
      extra--;
    }
    if (extra > 0) this.emitAdvisory('BILL_REPLY_LOST', `${why}; ${extra} bill(s) reached the stacker with no report, value unknown`);
    // Fewer than reported: a report taken for a bill that never came (a stray line in place of a
    // lost answer), or a stacker emptied without the count being reset. Either way, say so.
    if (extra < 0) this.emitAdvisory('BILL_REPLY_LOST', `${why}; the stacker holds ${-extra} bill(s) fewer than reported stacked`);
  }

  protected override afterPoll(_seq: number, statuses: readonly BillStatus[]): void {
    // "Cash box out of position" repeats on every POLL while it lasts.
    const out = statuses.some((s) => s.kind === 'cashBoxOutOfPosition');
    if (out !== this.cashboxOut) {
      this.cashboxOut = out;
      this.emitFault('CASHBOX_OUT', out ? undefined : true);
    }
  }

  protected dispatch(statuses: readonly BillStatus[]): void {
    if (!this.setupInfo) {
      // Drained before RESET at controller start; bill values come with SETUP after it.
      if (statuses.length > 0) this.log.info({ device: this.name, count: statuses.length }, 'statuses before SETUP deferred');
      this.deferred.push(...statuses);
      return;
    }
    for (const s of statuses) {
      switch (s.kind) {
        case 'bill':
          this.onBill(s.action, s.billType);
          break;
        case 'billRejected':
          this.events.next({ type: 'rejected' });
          break;
        case 'disabledAttempts':
          this.log.info({ device: this.name, count: s.count }, 'bill insert attempts while disabled');
          break;
        case 'recyclerStatus':
        case 'validatorBusy':
        case 'validatorDisabled':
        case 'cashBoxOutOfPosition':
        case 'justReset':
          break;
        default: {
          if (s.kind === 'invalidEscrowRequest' && this.clock.now() <= this.probeUntil) {
            this.log.info({ device: this.name }, 'INVALID ESCROW after a repeated or blind ESCROW: nothing was in escrow');
            break;
          }
          const code = FAULT_CODES[s.kind];
          if (code) this.emitFault(code);
        }
      }
    }
  }

  protected async runSetup(): Promise<void> {
    const r = await this.raw(billCmd.setup());
    if (r.kind !== 'data') throw this.error('PROTOCOL_ERROR', 'SETUP answered without data');
    const s = decodeBillSetup(r.data);
    if (!s.ok) throw this.error('PROTOCOL_ERROR', `SETUP: ${s.error.message}`, s.error);
    this.setupInfo = s.value;
    this.values = s.value.credits.map((c) => {
      if (c === 0) return 0;
      const v = unitsToMinor(c, s.value.scaling, s.value.decimals, this.opts.currencyDecimals ?? s.value.decimals);
      return v.ok ? v.value : 0;
    });
    const deferred = this.deferred.splice(0);
    if (deferred.length > 0) {
      this.dispatch(deferred);
      // Those statuses are from before the reset that led here: a bill still in escrow went back.
      this.escrowLostToReset();
    }
    const why = this.reconcileWanted;
    this.reconcileWanted = undefined;
    try {
      const st = await this.raw(billCmd.stacker());
      if (st.kind === 'data') {
        const count = decodeStacker(st.data);
        if (why !== undefined && count.ok) this.settleFromStacker(count.value.count, why);
        this.takeStacker(st.data);
      }
    } catch {
      if (why !== undefined) this.emitAdvisory('BILL_REPLY_LOST', `${why}; STACKER could not be read, bills stacked meanwhile are not known`);
    }
    // After a reset the validator holds no bill in escrow (it hands it back, MDB 4.2 §6 RESET).
    this.escrowLostToReset();
    await this.applyAcceptance(true);
  }

  protected async runResync(): Promise<void> {
    await this.applyAcceptance(true);
  }

  protected override canReconcile(): boolean {
    return this.setupInfo !== undefined;
  }

  protected override onUnknownExchange(label: string, why: string): void {
    this.verifyOnly = false;
    super.onUnknownExchange(label, why);
  }

  // ------------------------------------------------------------------ internals

  private onBill(action: BillAction, type: number): void {
    const value = this.values[type] ?? 0;
    if (value <= 0) {
      this.log.warn({ device: this.name, billType: type, action }, 'bill type with no value');
      if (action === 'stacked' || action === 'toRecycler') this.emitFault('UNKNOWN_BILL');
      return;
    }
    switch (action) {
      case 'escrow':
        if (this.escrowValue !== undefined || this.nextEscrow !== undefined) {
          this.escrowWhileOpen(value);
          return;
        }
        // A new bill: any report still owed for a reconciled one would have come before it.
        this.reconciledStacked = 0;
        this.escrowValue = value;
        this.events.next({ type: 'escrow', value });
        return;
      case 'stacked':
      case 'toRecycler':
        if (this.reconciledStacked > 0 && (this.escrowValue === undefined || this.escrowAction === undefined)) {
          // Already credited from the STACKER count: this is its report, late, not a new bill (nor
          // the bill in escrow, which the validator does not stack before it is told to).
          this.reconciledStacked--;
          this.log.info({ device: this.name, value }, 'STACKED report for a bill already credited by reconciliation');
          return;
        }
        // Bills sent to a recycler are in the machine too: credit, like stacked.
        if (action === 'stacked' && this.expectedStacker !== undefined) this.expectedStacker++;
        this.escrowValue = undefined;
        this.escrowAction = undefined;
        this.events.next({ type: 'stacked', value });
        // Check the report against the stacker's own count (a stray line in place of a lost answer
        // would be a bill that is not there): a shortfall is reported as BILL_REPLY_LOST.
        if (action === 'stacked') {
          if (this.reconcileWanted === undefined) this.verifyOnly = true;
          this.requestReconcile('STACKED report checked against STACKER');
        }
        return;
      case 'returned':
        if (this.escrowValue === undefined) {
          // Already closed (e.g. as returned at a reset): a second report moves nothing.
          this.log.info({ device: this.name, value }, 'BILL RETURNED with no bill in escrow; ignored');
          return;
        }
        this.escrowValue = undefined;
        this.escrowAction = undefined;
        this.events.next({ type: 'returned', value });
        return;
      case 'disabledRejected':
        this.events.next({ type: 'rejected' });
        return;
      default:
        this.log.info({ device: this.name, action, value }, 'bill recycler activity');
    }
  }

  /**
   * ESCROW POSITION while the driver still holds an escrow open. The validator holds one bill at a
   * time (MDB 4.2 §6), so a second escrow is never opened on top of the first.
   */
  private escrowWhileOpen(value: Minor): void {
    if (this.escrowAction === undefined && this.nextEscrow === undefined && value === this.escrowValue) {
      // Not asked to move, so the validator still holds it: this is the same report again (a copy
      // or a stray line standing in for a POLL answer), not a second bill.
      this.log.warn({ device: this.name, value }, 'ESCROW report for the bill already in escrow; ignored');
      return;
    }
    // The last bill left escrow (asked to move, or a report contradicts it) with no report of where
    // it went: STACKER settles it before this one is opened (`openNextEscrow`).
    this.nextEscrow = value;
    this.requestReconcile('a bill reported in escrow before the last one was reported stacked or returned');
  }

  private takeStacker(data: Uint8Array): StackerStatus {
    const s = decodeStacker(data);
    if (!s.ok) throw this.error('PROTOCOL_ERROR', `STACKER: ${s.error.message}`, s.error);
    this.stackerInfo = s.value;
    this.expectedStacker ??= s.value.count;
    return s.value;
  }

  private async applyAcceptance(raw: boolean): Promise<void> {
    let enable = 0;
    const unknown: Minor[] = [];
    for (const want of this.wanted) {
      let hit = false;
      this.values.forEach((v, i) => {
        if (v === want) {
          enable |= 1 << i;
          hit = true;
        }
      });
      if (!hit) unknown.push(want);
    }
    if (unknown.length > 0) this.log.warn({ device: this.name, values: unknown }, 'validator has no bill type for these values');
    // Escrow on for every enabled bill when the validator can hold one (Z11 = FF).
    const escrow = this.setupInfo?.escrow ? enable : 0;
    const c = billCmd.billType(enable, escrow);
    if (!c.ok) throw this.error('PROTOCOL_ERROR', c.error.message);
    if (raw) await this.raw(c.value, { policy: { retries: 1, retryOn: ['nak', 'timeout'] } });
    else await this.command(c.value, { policy: { retries: 1, retryOn: ['nak', 'timeout'] } });
  }
}
