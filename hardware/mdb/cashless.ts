/**
 * `MdbCashless`: an MDB cashless reader (address 0x10, or 0x60 for a second one; MDB 4.2 §7 /
 * protocols.md §1.7) behind a `CashlessPort`. We speak VMC feature level 1.
 *
 * - Init: SETUP config (→ READER CONFIG, immediately or on a later POLL) → SETUP max/min prices
 *   (unknown) → EXPANSION REQUEST ID (best effort) → READER ENABLE if wanted. The reader's Z7
 *   "Application Maximum Response Time" stretches the non-response time when it is above 5 s.
 * - Session: BEGIN SESSION → `sessionBegin`; VEND REQUEST → `vendApproved` / `vendDenied` (may come
 *   in the command's own answer or on a later POLL); VEND SUCCESS; VEND FAILURE (then POLL: ACK =
 *   refund done, MALFUNCTION 1100yyyy = refund failed, §7.4.8); `vendFailed()` before the answer
 *   sends VEND CANCEL instead; SESSION COMPLETE → END SESSION → `sessionEnded`; no END SESSION in
 *   time → RESET (§7.4.9).
 */
import { Subject } from 'rxjs';
import type { Observable } from 'rxjs';
import type { Clock } from '../../src/clock.ts';
import type { CashlessEvent, CashlessPort, Minor } from '../../src/ports/index.ts';
import { isDeviceError } from '../../src/ports/index.ts';
import type { DeviceError } from '../../src/ports/index.ts';
import { isUnknownOutcome } from '../serial/queue.ts';
import type { MdbBoard, MdbReply } from './board.ts';
import { ADDR, cashlessCommands, decodeCashlessPoll, describeStatus, minorToUnits, unitsToMinor } from './codec.ts';
import type { CashlessStatus, MdbCommand, PollDecode, ReaderConfig, VmcIdentity } from './codec.ts';
import { MdbPeripheralDriver } from './device.ts';
import type { MdbDeviceOptions } from './device.ts';

export interface MdbCashlessOptions extends MdbDeviceOptions {
  /** Port name (default "card"). */
  readonly name?: string;
  /** Reader address: 0x10 (default) or 0x60. */
  readonly address?: number;
  /** Sent with EXPANSION REQUEST ID. */
  readonly vmcIdentity?: VmcIdentity;
  /** How long to wait for END SESSION after SESSION COMPLETE before RESET (default: the non-response time). */
  readonly endSessionTimeoutMs?: number;
}

type Session = 'none' | 'idle' | 'vendPending' | 'vendApproved' | 'ending';

interface Waiter {
  readonly mark: number;
  readonly resolve: () => void;
  readonly reject: (e: DeviceError) => void;
}

/** After a repeated or blind command, an OUT OF SEQUENCE within this time is expected. */
const PROBE_WINDOW_MS = 5_000;

const DEFAULT_IDENTITY: VmcIdentity = { manufacturer: 'VMT', serial: '000000000001', model: 'VENDOMAT', version: '0100' };

export class MdbCashless extends MdbPeripheralDriver<CashlessStatus> implements CashlessPort {
  readonly events$: Observable<CashlessEvent>;
  protected readonly events = new Subject<CashlessEvent>();
  private readonly cmd: ReturnType<typeof cashlessCommands>;
  protected readonly pollCommand: MdbCommand;
  protected readonly resetCommand: MdbCommand;
  private config: ReaderConfig | undefined;
  private wantEnabled = false;
  private session: Session = 'none';
  private cancelSent = false;
  private refund: Waiter | undefined;
  private ended: (() => void) | undefined;
  /** A command was repeated or sent blind: CMD OUT OF SEQUENCE until then is expected, not a fault. */
  private probeUntil = -Infinity;
  /** VEND SUCCESS is on its way: the vend happened, so no VEND FAILURE may follow it. */
  private successSent = false;
  /** When VEND SUCCESS was last sent: an OUT OF SEQUENCE soon after may mean the sale is not charged. */
  private successAt = -Infinity;

  constructor(
    board: MdbBoard,
    clock: Clock,
    private readonly opts: MdbCashlessOptions = {},
  ) {
    super(opts.name ?? 'card', board, clock, opts, 5000);
    this.events$ = this.events.asObservable();
    this.cmd = cashlessCommands(opts.address ?? ADDR.cashless);
    this.pollCommand = this.cmd.poll();
    this.resetCommand = this.cmd.reset();
  }

  /** READER CONFIG as last reported. */
  get readerConfig(): ReaderConfig | undefined {
    return this.config;
  }

  /** The driver's view of the session (for diagnostics and tests). */
  get sessionState(): Session {
    return this.session;
  }

  protected override get nonResponseMs(): number {
    if (this.options.nonResponseMs !== undefined) return this.options.nonResponseMs;
    // protocols.md §1.4: Z7 replaces the default 5 s when it is larger.
    return Math.max(this.nonResponseDefault, (this.config?.maxResponseSeconds ?? 0) * 1000);
  }

  // ------------------------------------------------------------------ CashlessPort

  async enable(on: boolean): Promise<void> {
    this.wantEnabled = on;
    if (!this.ready) throw this.error('DEVICE_OFFLINE', 'reader not ready; the enable state is applied when it is');
    await this.command(on ? this.cmd.readerEnable() : this.cmd.readerDisable(), { policy: { retries: 1, retryOn: ['nak', 'timeout'] } });
  }

  async requestVend(price: Minor, item: number): Promise<void> {
    if (this.session !== 'idle') throw this.error('DEVICE_REJECTED', this.session === 'none' ? 'no card session' : `vend not possible now (${this.session})`);
    const units = this.toUnits(price);
    const c = this.cmd.vendRequest(units, item);
    if (!c.ok) throw this.error('DEVICE_REJECTED', c.error.message);
    this.session = 'vendPending';
    this.cancelSent = false;
    try {
      // Retried only on NAK: the reader did not take it. After a lost answer a resend would be out of sequence.
      const r = await this.command(c.value, { policy: { retries: 1, retryOn: ['nak'] } });
      this.immediate(r);
    } catch (e) {
      if (this.session === 'vendPending' && (isUnknownOutcome(e) || (isDeviceError(e) && e.code === 'DEVICE_TIMEOUT'))) {
        // The reader may have the request (and may have approved it in the lost answer): never
        // vend on that. The vend is cancelled and reported as denied (reconcile).
        this.onUnknownExchange(c.value.name, e instanceof Error ? e.message : String(e));
        return;
      }
      if (this.session === 'vendPending') this.session = 'idle';
      throw e;
    }
  }

  async vendSucceeded(item: number): Promise<void> {
    if (this.session !== 'vendApproved') throw this.error('DEVICE_REJECTED', `vend success without an approved vend (${this.session})`);
    const c = this.cmd.vendSuccess(item);
    if (!c.ok) throw this.error('DEVICE_REJECTED', c.error.message);
    this.successSent = true;
    this.successAt = this.clock.now();
    try {
      await this.repeatOnLoss(c.value);
    } catch (e) {
      // The product is out; whether the reader charged it is not known (no answer, link lost, ...).
      this.emitAdvisory('CARD_REPLY_LOST', `VEND SUCCESS item ${item} not confirmed (${e instanceof Error ? e.message : String(e)}): the reader may not charge this sale`);
      throw e;
    } finally {
      this.successSent = false;
    }
    this.session = 'idle';
  }

  async vendFailed(): Promise<void> {
    if (this.successSent) {
      // Commands of one vend run in order: after VEND SUCCESS, a VEND FAILURE would refund a
      // delivered product (MDB 4.2 §7.4). Refused here whatever the caller's timing.
      this.log.warn({ device: this.name }, 'VEND FAILURE after VEND SUCCESS refused');
      return;
    }
    if (this.session === 'vendPending') {
      // Before the answer: VEND CANCEL; the reader answers VEND DENIED, which is ours, not news.
      this.cancelSent = true;
      const r = await this.repeatOnLoss(this.cmd.vendCancel());
      this.session = 'idle';
      this.immediate(r);
      return;
    }
    if (this.session !== 'vendApproved') return; // nothing to revert
    const mark = this.nextSeq();
    const r = await this.repeatOnLoss(this.cmd.vendFailure());
    this.session = 'idle';
    this.immediate(r);
    await this.waitRefund(mark);
  }

  async endSession(): Promise<void> {
    if (this.session === 'none') return;
    if (this.session === 'vendPending' || this.session === 'vendApproved') await this.vendFailed();
    const before = this.session;
    const ended = new Promise<void>((resolve) => {
      this.ended = resolve;
    });
    this.session = 'ending';
    let r: MdbReply;
    try {
      r = await this.repeatOnLoss(this.cmd.sessionComplete());
    } catch (e) {
      // Not sent: the session is still open on the reader; the caller may try again.
      if (this.session === 'ending') this.session = before;
      this.ended = undefined;
      throw e;
    }
    this.immediate(r);
    const timeoutMs = this.opts.endSessionTimeoutMs ?? this.nonResponseMs;
    let timer: unknown;
    const timedOut = await Promise.race([
      ended.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = this.clock.setTimeout(() => resolve(true), timeoutMs);
      }),
    ]);
    this.clock.clearTimeout(timer);
    this.ended = undefined;
    if (!timedOut) return;
    // MDB 4.2 §7.4.9: no END SESSION within the response time → the VMC must RESET the reader.
    this.log.warn({ device: this.name, timeoutMs }, 'no END SESSION after SESSION COMPLETE: resetting the reader');
    this.closeSession();
    try {
      await this.forceReset();
    } catch (e) {
      this.log.warn({ device: this.name, err: e instanceof Error ? e.message : String(e) }, 'reader RESET failed');
    }
  }

  // ------------------------------------------------------------------ driver hooks

  /**
   * Trace meaning without card data: message kinds stay (diagnosis needs them), funds, approved
   * amounts, revalue limits and display texts (which may show a balance) are masked.
   */
  protected override describe(r: MdbReply): string {
    if (r.kind === 'ack') return 'ACK (nothing to report)';
    const d = this.decodePoll(r.data);
    const parts = d.statuses.map((s) => {
      switch (s.kind) {
        case 'beginSession':
          return `begin session funds=${s.funds === null ? 'unknown' : '***'}`;
        case 'vendApproved':
          return `vend approved ${s.amount === null ? 'no charge' : '***'}`;
        case 'revalueLimit':
          return 'revalue limit ***';
        case 'displayRequest':
          return `display (${s.text.length} chars)`;
        case 'diagnostic':
          return `diagnostic (${s.data.length} bytes)`;
        default:
          return describeStatus(s);
      }
    });
    if (d.error) parts.push(`<${d.error.code}>`);
    return parts.length ? parts.join(', ') : 'nothing to report';
  }

  protected decodePoll(data: Uint8Array): PollDecode<CashlessStatus> {
    return decodeCashlessPoll(data, { level: 1 });
  }

  protected pendingActivity(): boolean {
    return this.session !== 'none';
  }

  protected readonly resetFault = 'READER_RESET';

  protected override canReconcile(): boolean {
    return this.config !== undefined;
  }

  /**
   * The reader's session state settles an exchange whose answer was lost (MDB 4.2 §7.4):
   * - a vend request pending: its approval may be in the lost answer. Never vend on it: VEND
   *   CANCEL (the reader answers VEND DENIED and charges nothing; a reader that had already
   *   answered says CMD OUT OF SEQUENCE, expected here) and report the vend denied;
   * - no session: a BEGIN SESSION may be lost, leaving the reader in a session the machine does
   *   not know: SESSION COMPLETE ends it (END SESSION follows; OUT OF SEQUENCE if there was none).
   * Other states lose nothing that moves money: VEND SUCCESS / FAILURE / SESSION COMPLETE are
   * repeated when their answer is lost (a second one is out of sequence, expected and harmless).
   */
  protected override async reconcile(why: string): Promise<void> {
    if (this.session === 'vendPending' && !this.cancelSent) {
      this.log.warn({ device: this.name, why }, 'vend request answer may be lost: cancelling the vend');
      this.cancelSent = true;
      // Blind: the reader may have answered already, then this one is out of sequence.
      this.probeUntil = this.clock.now() + PROBE_WINDOW_MS;
      const r = await this.repeatOnLoss(this.cmd.vendCancel());
      if (this.session === 'vendPending') {
        this.session = 'idle';
        this.events.next({ type: 'vendDenied' });
      }
      this.immediate(r);
      return;
    }
    if (this.session === 'none' && this.wantEnabled) {
      this.probeUntil = this.clock.now() + PROBE_WINDOW_MS;
      this.immediate(await this.repeatOnLoss(this.cmd.sessionComplete()));
    }
  }

  /**
   * Send a command that is safe to repeat when its answer is lost: the reader either took the
   * first one (the repeat is then OUT OF SEQUENCE, expected for a while) or never saw it.
   */
  private async repeatOnLoss(cmd: MdbCommand): Promise<MdbReply> {
    // Repeated inside the same queue job, so nothing else (SESSION COMPLETE...) can slip in between.
    return this.command(cmd, {
      policy: { retries: 1, retryOn: ['nak', 'unknown', 'timeout'] },
      onAttemptEnd: (reason) => {
        if (reason !== 'unknown' && reason !== 'timeout') return;
        this.log.warn({ device: this.name, cmd: cmd.name, reason }, 'answer lost: repeating the command');
        this.probeUntil = this.clock.now() + PROBE_WINDOW_MS;
      },
    });
  }


  protected override onDeviceReset(): void {
    // An approved vend the reset cut short: VEND SUCCESS can no longer reach the reader, so a
    // product delivered now is not charged. Say so (the audit and the operator must know).
    if (this.session === 'vendApproved') this.emitAdvisory('CARD_REPLY_LOST', 'the reader reset during an approved vend: the sale may not be charged');
    this.failRefund(this.error('CARD_ERROR', 'reader reset during refund'));
    // A reset reader has no session any more: say so, so nothing waits for it.
    this.closeSession();
  }

  protected override afterPoll(seq: number, statuses: readonly CashlessStatus[], empty: boolean): void {
    const w = this.refund;
    if (!w || seq <= w.mark) return;
    // §7.4.8: after VEND FAILURE, ACK = refund complete; MALFUNCTION 1100yyyy = refund error.
    const bad = statuses.find((s) => s.kind === 'malfunction' && (s.code & 0xf0) === 0xc0);
    if (bad) this.failRefund(this.error('CARD_ERROR', 'reader could not refund the failed vend'));
    else if (empty) {
      this.refund = undefined;
      w.resolve();
    }
  }

  protected dispatch(statuses: readonly CashlessStatus[]): void {
    if (!this.config && statuses.some((s) => s.kind !== 'readerConfig')) {
      // Drained at controller start, before SETUP: a session the previous run had is ended by the
      // RESET that follows, and card money only moves on VEND SUCCESS, so these are logged only.
      this.log.warn({ device: this.name, kinds: statuses.map((s) => s.kind) }, 'reader messages before SETUP ignored');
      statuses = statuses.filter((s) => s.kind === 'readerConfig');
    }
    for (const s of statuses) {
      switch (s.kind) {
        case 'readerConfig': {
          const { kind: _k, ...cfg } = s;
          this.config = cfg;
          break;
        }
        case 'beginSession':
          this.session = 'idle';
          this.cancelSent = false;
          this.events.next({ type: 'sessionBegin', funds: s.funds === null ? null : this.toMinor(s.funds) });
          break;
        case 'sessionCancelRequest':
          this.events.next({ type: 'sessionCancel' });
          break;
        case 'vendApproved':
          if (this.cancelSent || this.session !== 'vendPending') {
            this.log.warn({ device: this.name, session: this.session }, 'VEND APPROVED not asked for; ignored');
            break;
          }
          this.session = 'vendApproved';
          // FFFF = token / no charge: nothing will be charged.
          this.events.next({ type: 'vendApproved', amount: s.amount === null ? 0 : this.toMinor(s.amount) });
          break;
        case 'vendDenied':
          if (this.cancelSent) {
            this.cancelSent = false;
            break;
          }
          if (this.session === 'vendPending') this.session = 'idle';
          this.events.next({ type: 'vendDenied' });
          break;
        case 'endSession':
          this.closeSession();
          break;
        case 'malfunction':
          this.emitFault(`CARD_MALFUNCTION_${s.code.toString(16).toUpperCase().padStart(2, '0')}`);
          break;
        case 'outOfSequence':
          if (this.clock.now() - this.successAt <= PROBE_WINDOW_MS && this.clock.now() > this.probeUntil) {
            // VEND SUCCESS (not a repeat of it) found the reader out of a vend: the approval the
            // vend went on was not the reader's (a stray line in place of a lost answer). Not charged.
            this.successAt = -Infinity;
            this.emitAdvisory('CARD_REPLY_LOST', 'VEND SUCCESS answered CMD OUT OF SEQUENCE: the sale may not be charged');
          }
          if (this.clock.now() <= this.probeUntil) {
            this.log.info({ device: this.name, session: this.session }, 'CMD OUT OF SEQUENCE after a repeated or blind command: expected');
            if (this.session === 'vendPending' && !this.cancelSent) {
              this.session = 'idle';
              this.events.next({ type: 'vendDenied' });
            }
            break;
          }
          this.emitFault('CMD_OUT_OF_SEQUENCE');
          // A VEND REQUEST out of sequence will get no answer: report it as denied.
          if (this.session === 'vendPending' && !this.cancelSent) {
            this.session = 'idle';
            this.events.next({ type: 'vendDenied' });
          }
          break;
        default:
          this.log.debug({ device: this.name, kind: s.kind }, 'cashless message ignored');
      }
    }
  }

  protected async runSetup(): Promise<void> {
    this.config = undefined;
    const cfg = this.cmd.setupConfig({ vmcLevel: 1, columns: 0, rows: 0, displayInfo: 0 });
    if (!cfg.ok) throw this.error('PROTOCOL_ERROR', cfg.error.message);
    this.immediate(await this.raw(cfg.value));
    // The reader may only ACK and send READER CONFIG on a later POLL.
    for (let i = 0; i < 5 && !this.config; i++) await this.pollNow();
    if (!this.config) throw this.error('PROTOCOL_ERROR', 'no READER CONFIG after SETUP');
    const prices = this.cmd.setupPrices(0xffff, 0x0000);
    if (prices.ok) await this.raw(prices.value);
    try {
      this.immediate(await this.raw(this.cmd.requestId(this.opts.vmcIdentity ?? DEFAULT_IDENTITY), { policy: { retries: 0, retryOn: [] } }));
    } catch {
      // identification is informative only
    }
    if (this.wantEnabled) await this.raw(this.cmd.readerEnable());
  }

  protected async runResync(): Promise<void> {
    await this.raw(this.wantEnabled ? this.cmd.readerEnable() : this.cmd.readerDisable());
  }

  // ------------------------------------------------------------------ internals

  /** Data in a command's own answer is handled like POLL data (MDB 4.2 §7.3 immediate answers). */
  private immediate(r: MdbReply): void {
    if (r.kind !== 'data') return;
    const d = this.decodePoll(r.data);
    if (d.error) this.log.warn({ device: this.name, err: d.error.message }, 'undecodable immediate answer');
    this.dispatch(d.statuses.filter((s) => s.kind !== 'justReset'));
  }

  private closeSession(): void {
    const was = this.session;
    this.session = 'none';
    this.cancelSent = false;
    const ended = this.ended;
    this.ended = undefined;
    if (was !== 'none') this.events.next({ type: 'sessionEnded' });
    ended?.();
  }

  private waitRefund(mark: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => this.failRefund(this.error('DEVICE_TIMEOUT', 'no refund confirmation from the reader')), this.nonResponseMs);
      this.refund = {
        mark,
        resolve: () => {
          this.clock.clearTimeout(timer);
          resolve();
        },
        reject: (e) => {
          this.clock.clearTimeout(timer);
          reject(e);
        },
      };
    });
  }

  private failRefund(e: DeviceError): void {
    const w = this.refund;
    this.refund = undefined;
    w?.reject(e);
  }

  private toUnits(price: Minor): number {
    const c = this.config;
    if (!c) throw this.error('DEVICE_OFFLINE', 'reader not configured');
    const u = minorToUnits(price, c.scaling, c.decimals, this.opts.currencyDecimals ?? c.decimals);
    if (!u.ok) throw this.error('DEVICE_REJECTED', `price ${price}: ${u.error.message}`);
    return u.value;
  }

  private toMinor(units: number): Minor {
    const c = this.config;
    if (!c) return units;
    const m = unitsToMinor(units, c.scaling, c.decimals, this.opts.currencyDecimals ?? c.decimals);
    if (m.ok) return m.value;
    this.log.warn({ device: this.name, units, err: m.error.message }, 'reader amount not representable in minor units; passed through unscaled');
    return units;
  }
}
