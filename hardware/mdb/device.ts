/**
 * The shared life of an MDB peripheral driver: poll loop on the injected Clock and the device's
 * link state machine.
 *
 *   drain ──POLL answered "nothing"──▶ RESET ──▶ awaitReset ──JUST RESET──▶ setup ──▶ ready (online)
 *     ▲                                                                       ▲          │
 *     └──── no answer for the non-response time (offline) ◀───────────────────┼──────────┤
 *                                                                             │          │
 *   resync ◀── interface board / USB link lost (device state presumed intact) ◀──────────┘
 *     └──POLL drained──▶ light re-apply (acceptance, enable) ──▶ ready
 *
 * Rules from MDB 4.2 and the field notes:
 * - A device that dropped out is POLLed until it has nothing more to say BEFORE it is RESET, so
 *   credit it buffered is not lost (field-notes.md §5 item 8, §7 lesson 2). Only a device that does
 *   not answer at all is RESET blindly, and then at most every `resetIntervalMs` (MDB 4.2 §2.5 /
 *   protocols.md §1.4: retry about every 10 s; never RESET for a single 5 ms time-out).
 * - JUST RESET at any time means the device lost its settings: re-run setup. If it was not asked
 *   for, the subclass reports a fault (e.g. a changer reset mid-payout).
 * - Offline after the device's non-response time (protocols.md §1.4: changer 2 s, validator 5 s,
 *   cashless 5 s or the reader's Z7).
 * - Fast POLL while a customer is active (setActive, pending credit/escrow/session/payout, or a
 *   recent event), slower when idle, slowest while the device is gone.
 */
import { BehaviorSubject } from 'rxjs';
import type { Observable, Subscription } from 'rxjs';
import type { Clock, TimerHandle } from '../../src/clock.ts';
import { DeviceError, ONLINE, isDeviceError } from '../../src/ports/index.ts';
import type { Device, DeviceErrorCode, LinkState } from '../../src/ports/index.ts';
import { silentLogger } from '../serial/log.ts';
import type { Logger } from '../serial/log.ts';
import type { MdbBoard, MdbReply, SendOptions } from './board.ts';
import { isUnknownOutcome } from '../serial/queue.ts';
import type { RetryPolicy } from '../serial/queue.ts';
import { describeStatuses } from './codec.ts';
import type { BillStatus, CashlessStatus, ChangerStatus, CodecError, MdbCommand, PollDecode } from './codec.ts';

export type MdbPhase = 'stopped' | 'drain' | 'awaitReset' | 'setup' | 'resync' | 'ready';

/** Timing and behaviour knobs common to all MDB drivers (all times in ms, on the injected Clock). */
export interface MdbDeviceOptions {
  /** POLL interval while a customer is active (default 50; MDB typical 25–200). */
  readonly pollActiveMs?: number;
  /** POLL interval when idle (default 200). */
  readonly pollIdleMs?: number;
  /** POLL interval while the device does not answer (default 500). */
  readonly pollOfflineMs?: number;
  /** No valid answer for this long → offline (default: changer 2000, validator 5000, cashless 5000 or Z7). */
  readonly nonResponseMs?: number;
  /** Minimum time between two RESETs of this device (default 10 000). */
  readonly resetIntervalMs?: number;
  /** After RESET, how long to wait for JUST RESET before draining and resetting again (default 2000). */
  readonly resetAnswerMs?: number;
  /** A device event keeps fast polling on this long (default 5000). */
  readonly activeHoldMs?: number;
  /**
   * Decimal places of the machine's minor units (EUR: 2). Device values are converted from the
   * device's own scaling/decimals (default: the device's decimals).
   */
  readonly currencyDecimals?: number;
  readonly log?: Logger;
}

type AnyStatus = ChangerStatus | BillStatus | CashlessStatus;

/** What every port's event stream takes: a fault raised or cleared. */
interface FaultSink {
  next(e: { readonly type: 'fault'; readonly code: string; readonly cleared?: boolean; readonly detail?: string; readonly advisory?: boolean }): void;
}

const DECODE_FAULT_EVERY_MS = 10_000;

/**
 * POLL is retried only when the board did not ACK the peripheral's data (bad CHK in 'included'
 * mode): then the device repeats it (MDB 4.2 §2.2). A POLL whose reply was lost or garbled is NOT
 * retried: the board ACKed the data on the bus, a second POLL would get the next news and the lost
 * one would pass unnoticed. Its outcome is unknown and the driver reconciles instead.
 */
export const POLL_POLICY: RetryPolicy = { retries: 1, retryOn: ['checksum'] };

/** Longest wait between two reconciliation attempts that failed (the device may be busy or gone). */
const RECONCILE_RETRY_MS = 1000;

export abstract class MdbPeripheralDriver<S extends AnyStatus> implements Device {
  readonly link$: Observable<LinkState>;
  protected readonly log: Logger;
  protected phase: MdbPhase = 'stopped';
  protected readonly nonResponseDefault: number;
  private readonly linkSubject = new BehaviorSubject<LinkState>({ status: 'offline', reason: 'not started' });
  private boardSub: Subscription | undefined;
  private timer: TimerHandle | undefined;
  private running: Promise<void> | undefined;
  private epoch = 0;
  private seqCounter = 0;
  private activeFlag = false;
  private lastEventAt = -Infinity;
  private lastDecodeFaultAt = -Infinity;
  protected lastAnswerAt = 0;
  /** Last RESET the device acknowledged (the rate limit counts only those). */
  protected lastResetAt = -Infinity;
  private lastBlindResetAt = -Infinity;
  private resetSentAt = -Infinity;
  protected everReady = false;
  /** A self-reset fault was raised and setup has not completed since. */
  private resetFaultOpen = false;
  private readyWaiters: (() => void)[] = [];
  private suspectSub: Subscription | undefined;
  /** Why the device's state must be re-read (an exchange whose outcome is unknown), until done. */
  protected reconcileWanted: string | undefined;
  private reconcileFailedAt = -Infinity;

  protected constructor(
    readonly name: string,
    protected readonly board: MdbBoard,
    protected readonly clock: Clock,
    protected readonly options: MdbDeviceOptions,
    nonResponseDefault: number,
  ) {
    this.link$ = this.linkSubject.asObservable();
    this.log = options.log ?? silentLogger;
    this.nonResponseDefault = nonResponseDefault;
  }

  // ------------------------------------------------------------------ public

  /** Current link state (also replayed on `link$`). */
  get link(): LinkState {
    return this.linkSubject.value;
  }

  /** Where the driver is in its init/recovery cycle (for diagnostics and tests). */
  get state(): MdbPhase {
    return this.phase;
  }

  /** An exchange's outcome is unknown and the device's state has not been re-read yet. */
  get reconciling(): boolean {
    return this.reconcileWanted !== undefined;
  }

  /** Start polling. The board may still be coming up; polling begins when it is online. */
  start(): void {
    if (this.phase !== 'stopped') return;
    this.phase = 'drain';
    this.boardSub = this.board.state$.subscribe((s) => (s.status === 'online' ? this.onBoardOnline() : this.onBoardOffline()));
    const base = (this.pollCommand.bytes[0] ?? 0) & 0xf8;
    this.suspectSub = this.board.suspect$.subscribe((x) => {
      if (x.address !== undefined && (x.address & 0xf8) === base) this.onUnknownExchange(x.label, x.why);
    });
  }

  /**
   * Stop polling. A command already on the wire is not waited for (it may need the clock or the
   * link to finish); its result is ignored. Stopping the board fails it at once.
   */
  async stop(): Promise<void> {
    this.phase = 'stopped';
    this.epoch++;
    this.clearTimer();
    this.boardSub?.unsubscribe();
    this.boardSub = undefined;
    this.suspectSub?.unsubscribe();
    this.suspectSub = undefined;
    this.setLink({ status: 'offline', reason: 'stopped' });
    this.onLost('stopped');
  }

  /** A customer is at the machine: poll fast (the controller sets this; events also set it briefly). */
  setActive(on: boolean): void {
    const was = this.activeFlag;
    this.activeFlag = on;
    // Pull the next POLL forward when switching to fast polling.
    if (on && !was && this.timer !== undefined && this.phase !== 'stopped') this.schedule(0);
  }

  // ------------------------------------------------------------------ for subclasses

  protected abstract readonly pollCommand: MdbCommand;
  protected abstract readonly resetCommand: MdbCommand;
  protected abstract decodePoll(data: Uint8Array): PollDecode<S>;
  /** Turn statuses into port events, in order. `seq` orders this POLL against commands. */
  protected abstract dispatch(statuses: readonly S[], seq: number): void;
  /** Full (re)initialisation after JUST RESET. Throw to fall back to drain → RESET. */
  protected abstract runSetup(): Promise<void>;
  /** Light re-apply after the interface board came back (device state presumed intact). */
  protected abstract runResync(): Promise<void>;
  /** Device-side activity pending (credit, escrow, session, payout): poll fast. */
  protected abstract pendingActivity(): boolean;
  /** The device's port event stream; faults go out on it too. */
  protected abstract readonly events: FaultSink;
  /**
   * Fault raised when the device resets by itself (e.g. CHANGER_RESET). It clears once setup has
   * run again: the device is then in a known state, so the machine need not wait for service.
   */
  protected abstract readonly resetFault: string;
  /** The device reset itself (expected = after our RESET or at first contact). */
  protected onDeviceReset(_expected: boolean): void {}
  /** The device or the board link was lost, or the driver stopped. */
  protected onLost(_why: 'device' | 'board' | 'stopped'): void {}
  /** Called after each answered POLL, with every status it carried. */
  protected afterPoll(_seq: number, _statuses: readonly S[], _empty: boolean): void {}

  /**
   * An exchange with this device ended without a trustworthy answer (reply lost, garbled or
   * doubled), or one that did may have been misread. Default: re-read the device's state.
   */
  protected onUnknownExchange(label: string, why: string): void {
    this.log.warn({ device: this.name, label, why }, 'MDB exchange outcome unknown');
    this.requestReconcile(`${label}: ${why}`);
  }

  /** Pull the next POLL forward (activity started that must be watched closely, e.g. a payout). */
  protected pollSoon(): void {
    if (this.phase !== 'stopped' && this.timer !== undefined) this.schedule(0);
  }

  /** Ask for `reconcile` before the next POLL (once the device is ready). */
  protected requestReconcile(why: string): void {
    this.reconcileWanted = this.reconcileWanted ?? why;
    if (this.phase === 'ready' && this.timer !== undefined) this.schedule(0);
  }

  /**
   * Re-read the device's own state (tubes, stacker, escrow, session) and settle the money an
   * unknown exchange may have moved: credit what is certain, report the rest as an advisory fault.
   * Runs in the poll loop, between POLLs. Throw to retry later.
   */
  protected async reconcile(_why: string): Promise<void> {}

  /** Whether reconciliation may run now (e.g. not in the middle of a payout). */
  protected canReconcile(): boolean {
    return true;
  }

  /** Emit an advisory fault: recorded and shown to the operator, not a stop to sales. */
  protected emitAdvisory(code: string, detail: string): void {
    this.log.warn({ device: this.name, code, detail }, 'advisory fault');
    this.events.next({ type: 'fault', code, detail, advisory: true });
  }

  /** Every MDB device answers JUST RESET after a reset (MDB 4.2 §5.3, §6.3, §7.4). */
  protected isJustReset(s: S): boolean {
    return s.kind === 'justReset';
  }

  /** Emit a fault event (raised, or cleared) on this device's stream. */
  protected emitFault(code: string, cleared?: boolean): void {
    this.events.next(cleared ? { type: 'fault', code, cleared } : { type: 'fault', code });
  }

  /** Next command sequence number: POLLs answered with a higher number were sent after it. */
  protected nextSeq(): number {
    return ++this.seqCounter;
  }

  /** Mark customer activity (keeps fast polling for `activeHoldMs`). */
  protected touched(): void {
    this.lastEventAt = this.clock.now();
  }

  protected get nonResponseMs(): number {
    return this.options.nonResponseMs ?? this.nonResponseDefault;
  }

  /** Send a command during setup/recovery (no phase check). */
  protected async raw(cmd: MdbCommand, opts?: SendOptions): Promise<MdbReply> {
    const r = await this.board.send(cmd, opts);
    this.lastAnswerAt = this.clock.now();
    return r;
  }

  /** Send a command on behalf of the port API: only while ready. */
  protected async command(cmd: MdbCommand, opts?: SendOptions): Promise<MdbReply> {
    if (this.phase !== 'ready') throw this.error('DEVICE_OFFLINE', `${cmd.name}: device not ready (${this.phase})`);
    return this.raw(cmd, opts);
  }

  protected error(code: DeviceErrorCode, message: string, detail?: unknown): DeviceError {
    return new DeviceError(code, this.name, message, detail);
  }

  protected get ready(): boolean {
    return this.phase === 'ready';
  }

  /**
   * RESET now, outside the rate limit, when the protocol demands it (e.g. no END SESSION after
   * SESSION COMPLETE, MDB 4.2 §7.4.9). The JUST RESET that follows is expected; setup re-runs.
   */
  protected async forceReset(): Promise<void> {
    await this.raw(this.resetCommand);
    this.lastResetAt = this.clock.now();
    this.phase = 'awaitReset';
    this.resetSentAt = this.clock.now();
  }

  /** Resolves true once ready (now or within `timeoutMs`), false otherwise. */
  protected whenReady(timeoutMs: number): Promise<boolean> {
    if (this.ready) return Promise.resolve(true);
    return new Promise((resolve) => {
      let done = false;
      const finish = (v: boolean): void => {
        if (done) return;
        done = true;
        this.clock.clearTimeout(timer);
        this.readyWaiters = this.readyWaiters.filter((w) => w !== onReady);
        resolve(v);
      };
      const onReady = (): void => finish(true);
      const timer = this.clock.setTimeout(() => finish(false), timeoutMs);
      this.readyWaiters.push(onReady);
    });
  }

  /** Run a POLL outside the loop (used inside setup, e.g. to fetch a delayed READER CONFIG). */
  protected async pollNow(): Promise<readonly S[]> {
    const seq = this.nextSeq();
    let r: MdbReply;
    try {
      r = await this.raw(this.pollCommand, { describe: (x) => this.describe(x), policy: POLL_POLICY });
    } catch (e) {
      if (isUnknownOutcome(e) || (isDeviceError(e) && e.code === 'DEVICE_TIMEOUT')) this.onUnknownExchange(this.pollCommand.name, e instanceof Error ? e.message : String(e));
      throw e;
    }
    const statuses = r.kind === 'ack' ? [] : this.decoded(r.data).statuses;
    this.dispatch(statuses.filter((s) => !this.isJustReset(s)), seq);
    this.afterPoll(seq, statuses, r.kind === 'ack');
    return statuses;
  }

  protected describe(r: MdbReply): string {
    return r.kind === 'ack' ? 'ACK (nothing to report)' : describeStatuses(this.decodePoll(r.data));
  }

  // ------------------------------------------------------------------ loop

  private onBoardOnline(): void {
    if (this.phase === 'stopped') return;
    this.epoch++;
    // The outage was the board's; the device's non-response clock starts now.
    this.lastAnswerAt = this.clock.now();
    this.schedule(0);
  }

  private onBoardOffline(): void {
    if (this.phase === 'stopped') return;
    this.epoch++;
    this.clearTimer();
    // A device that was running keeps its state and its unread events: resync, don't RESET.
    this.phase = this.phase === 'ready' || this.phase === 'resync' ? 'resync' : 'drain';
    // A reply in flight when the link dropped is lost, though the board may have ACKed it.
    if (this.everReady) this.reconcileWanted = this.reconcileWanted ?? 'interface board link lost';
    this.setLink({ status: 'offline', reason: 'interface board offline' });
    this.onLost('board');
  }

  private schedule(ms: number): void {
    this.clearTimer();
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.running) {
        // A tick is still finishing: run right after it instead of overlapping it.
        void this.running.then(() => {
          if (this.timer === undefined && this.phase !== 'stopped') this.schedule(0);
        });
        return;
      }
      const p = this.tick().catch((e: unknown) => {
        this.log.error({ device: this.name, err: e instanceof Error ? e.message : String(e) }, 'MDB poll loop error');
      });
      this.running = p.finally(() => {
        this.running = undefined;
      });
    }, ms);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private alive(epoch: number): boolean {
    return epoch === this.epoch && this.phase !== 'stopped' && this.board.online;
  }

  private async tick(): Promise<void> {
    if (this.phase === 'stopped' || !this.board.online) return;
    const epoch = this.epoch;
    await this.blindResetIfSilent(epoch);
    if (!this.alive(epoch)) return;
    if (this.phase === 'ready' && this.reconcileWanted !== undefined && this.canReconcile() && this.clock.now() - this.reconcileFailedAt >= RECONCILE_RETRY_MS) {
      const why = this.reconcileWanted;
      this.reconcileWanted = undefined;
      try {
        await this.reconcile(why);
      } catch (e) {
        this.reconcileWanted = this.reconcileWanted ?? why;
        this.reconcileFailedAt = this.clock.now();
        this.log.warn({ device: this.name, err: e instanceof Error ? e.message : String(e) }, 'reconciliation failed; retrying');
      }
      if (!this.alive(epoch)) return;
    }
    const seq = this.nextSeq();
    let reply: MdbReply;
    try {
      reply = await this.board.send(this.pollCommand, { describe: (r) => this.describe(r), policy: POLL_POLICY });
    } catch (e) {
      if (!this.alive(epoch)) return;
      // The reply was lost or cannot be trusted: the board may have ACKed data we never saw.
      if (isUnknownOutcome(e) || (isDeviceError(e) && e.code === 'DEVICE_TIMEOUT')) this.onUnknownExchange(this.pollCommand.name, e instanceof Error ? e.message : String(e));
      this.noAnswer(e);
      this.scheduleNext();
      return;
    }
    if (!this.alive(epoch)) return;
    this.lastAnswerAt = this.clock.now();
    const statuses = reply.kind === 'ack' ? [] : this.decoded(reply.data).statuses;
    await this.process(statuses, seq, reply.kind === 'ack', epoch);
    if (this.alive(epoch) && this.timer === undefined) this.scheduleNext();
  }

  private decoded(data: Uint8Array): PollDecode<S> {
    const d = this.decodePoll(data);
    if (d.error) this.decodeError(d.error, data);
    return d;
  }

  private async process(statuses: readonly S[], seq: number, empty: boolean, epoch: number): Promise<void> {
    if (statuses.length > 0) this.touched();
    const r = statuses.findIndex((s) => this.isJustReset(s));
    if (r >= 0) {
      // Statuses before JUST RESET happened before it; service them in order (MDB 4.2 §7.3).
      this.dispatch(statuses.slice(0, r), seq);
      const expected = this.phase === 'awaitReset' || !this.everReady;
      if (!expected) {
        this.log.warn({ device: this.name, phase: this.phase }, 'device reset by itself');
        if (!this.resetFaultOpen) this.emitFault(this.resetFault);
        this.resetFaultOpen = true;
      }
      this.onDeviceReset(expected);
      this.dispatch(statuses.slice(r + 1), seq);
      this.afterPoll(seq, statuses, empty);
      await this.doSetup(epoch);
      return;
    }
    this.dispatch(statuses, seq);
    this.afterPoll(seq, statuses, empty);
    switch (this.phase) {
      case 'drain':
        if (empty) await this.sendReset(epoch);
        return;
      case 'awaitReset':
        if (this.clock.now() - this.resetSentAt > (this.options.resetAnswerMs ?? 2000)) this.phase = 'drain';
        return;
      case 'resync':
        if (empty) await this.doResync(epoch);
        return;
      default:
        return;
    }
  }

  /** RESET a device that stays silent, at most every resetIntervalMs (it may have hung). */
  private async blindResetIfSilent(epoch: number): Promise<void> {
    const now = this.clock.now();
    if (this.phase !== 'drain' || now - this.lastAnswerAt < this.nonResponseMs) return;
    if (now - this.lastBlindResetAt < (this.options.resetIntervalMs ?? 10_000)) return;
    this.lastBlindResetAt = now;
    try {
      await this.board.send(this.resetCommand, { policy: { retries: 0, retryOn: [] } });
      if (!this.alive(epoch)) return;
      this.lastResetAt = this.clock.now();
      this.lastAnswerAt = this.clock.now();
      this.phase = 'awaitReset';
      this.resetSentAt = this.clock.now();
    } catch {
      // still silent; keep polling
    }
  }

  private async sendReset(epoch: number): Promise<void> {
    const now = this.clock.now();
    if (now - this.lastResetAt < (this.options.resetIntervalMs ?? 10_000)) return; // rate limit
    try {
      await this.raw(this.resetCommand);
      this.lastResetAt = this.clock.now();
      if (!this.alive(epoch)) return;
      this.phase = 'awaitReset';
      this.resetSentAt = this.clock.now();
    } catch (e) {
      this.log.warn({ device: this.name, err: e instanceof Error ? e.message : String(e) }, 'RESET not accepted');
    }
  }

  private async doSetup(epoch: number): Promise<void> {
    this.phase = 'setup';
    try {
      await this.runSetup();
      if (!this.alive(epoch) || this.phase !== 'setup') return;
      this.becomeReady();
    } catch (e) {
      if (!this.alive(epoch) || this.phase !== 'setup') return;
      this.log.warn({ device: this.name, err: e instanceof Error ? e.message : String(e) }, 'MDB setup failed');
      this.phase = 'drain';
      if (isDeviceError(e) && (e.code === 'PROTOCOL_ERROR' || e.code === 'NOT_SUPPORTED')) this.setLink({ status: 'error', code: e.code, detail: e.message });
    }
  }

  private async doResync(epoch: number): Promise<void> {
    try {
      await this.runResync();
      if (!this.alive(epoch) || this.phase !== 'resync') return;
      this.becomeReady();
    } catch (e) {
      if (!this.alive(epoch) || this.phase !== 'resync') return;
      this.log.warn({ device: this.name, err: e instanceof Error ? e.message : String(e) }, 'MDB resync failed; re-initialising');
      this.phase = 'drain';
    }
  }

  private becomeReady(): void {
    this.phase = 'ready';
    this.everReady = true;
    this.setLink(ONLINE);
    if (this.resetFaultOpen) {
      this.resetFaultOpen = false;
      this.emitFault(this.resetFault, true);
    }
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w();
  }

  private noAnswer(e: unknown): void {
    // Board down: its own state change handles it. Otherwise this is the device not answering.
    if (isDeviceError(e) && e.code === 'DEVICE_OFFLINE') return;
    const silentFor = this.clock.now() - this.lastAnswerAt;
    if (silentFor < this.nonResponseMs) return;
    if (this.phase !== 'drain' || this.link.status === 'online') {
      this.log.warn({ device: this.name, silentFor }, 'MDB device not responding');
      this.phase = 'drain';
      this.onLost('device');
    }
    this.setLink({ status: 'offline', reason: `no response for ${this.nonResponseMs} ms` });
  }

  private scheduleNext(): void {
    const now = this.clock.now();
    const silent = now - this.lastAnswerAt >= this.nonResponseMs;
    const active = this.activeFlag || this.pendingActivity() || now - this.lastEventAt < (this.options.activeHoldMs ?? 5000);
    let ms: number;
    if (silent) ms = this.options.pollOfflineMs ?? 500;
    else if (this.phase !== 'ready' || active) ms = this.options.pollActiveMs ?? 50;
    else ms = this.options.pollIdleMs ?? 200;
    this.schedule(ms);
  }

  private decodeError(err: CodecError, data: Uint8Array): void {
    this.log.warn({ device: this.name, code: err.code, err: err.message, bytes: Array.from(data) }, 'undecodable POLL data');
    const now = this.clock.now();
    if (now - this.lastDecodeFaultAt >= DECODE_FAULT_EVERY_MS) {
      this.lastDecodeFaultAt = now;
      this.emitFault('MDB_PROTOCOL');
    }
  }

  protected setLink(s: LinkState): void {
    const cur = this.linkSubject.value;
    const same =
      cur.status === s.status &&
      (cur.status !== 'offline' || s.status !== 'offline' || cur.reason === s.reason) &&
      (cur.status !== 'error' || s.status !== 'error' || cur.code === s.code);
    if (!same) this.linkSubject.next(s);
  }
}
