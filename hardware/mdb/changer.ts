/**
 * `MdbCoinChanger`: the MDB coin changer (address 0x08, MDB 4.2 §5 / protocols.md §1.5) behind a
 * `CoinMechPort`.
 *
 * - Init: SETUP (coin table, scaling) → EXPANSION ident at level 3 (best effort) → TUBE STATUS
 *   (≥ 500 ms after our RESET, as the spec recommends) → COIN TYPE with the wanted acceptance.
 * - Coins: every "deposited" status becomes a `coin` event with its routing (tube, cashbox,
 *   rejected). Faults (coin jam, tube sensor, ...) become `fault` events; an unrequested JUST RESET
 *   becomes fault `CHANGER_RESET` and the changer is re-initialised, which clears the fault.
 * - Payout: TUBE STATUS → DISPENSE per coin type (≤ 15 at a time) → POLL until "payout busy" stops →
 *   TUBE STATUS again. What was paid is taken from the tube counts, not from what was asked, so a
 *   jam, an empty tube or a reset mid-payout still gives a true `PayoutResult` (field-notes.md §5
 *   item 1: "unclear whether it paid or not").
 */
import { Subject } from 'rxjs';
import type { Observable } from 'rxjs';
import type { Clock } from '../../src/clock.ts';
import { sleep } from '../../src/clock.ts';
import type { CoinCounts, CoinMechEvent, CoinMechPort, Minor, PayoutResult } from '../../src/ports/index.ts';
import { isDeviceError } from '../../src/ports/index.ts';
import type { MdbBoard } from './board.ts';
import { changerCmd, decodeChangerIdentification, decodeChangerPoll, decodeChangerSetup, decodeTubeStatus, defectiveTubes, unitsToMinor } from './codec.ts';
import type { ChangerIdentification, ChangerSetup, ChangerStatus, MdbCommand, PollDecode, Result, TubeStatus } from './codec.ts';
import { MdbPeripheralDriver } from './device.ts';
import type { MdbDeviceOptions } from './device.ts';

export interface MdbCoinChangerOptions extends MdbDeviceOptions {
  /** Port name (default "coin"). */
  readonly name?: string;
  /** Payout step timeout: base (default 3000 ms) ... */
  readonly payoutBaseTimeoutMs?: number;
  /** ... plus this per coin (default 1000 ms; MDB: ≥ 100 ms per coin). */
  readonly payoutPerCoinTimeoutMs?: number;
  /** How long a payout waits for the changer to come back before its result is unverifiable (default 30 000). */
  readonly payoutVerifyTimeoutMs?: number;
  /** Wait between our RESET and the first TUBE STATUS (default 500, MDB 4.2 §5). */
  readonly tubeStatusAfterResetMs?: number;
  /**
   * A DISPENSE of n coins is not taken as finished before n × this (default 100 ms: "each payout
   * cycle takes ≥ 100 ms per coin", MDB 4.2 §5), in case a changer is slow to report "payout busy".
   */
  readonly payoutMinPerCoinMs?: number;
}

/** Changer statuses that map to fault events (code names are stable strings). */
const FAULT_CODES: Partial<Record<ChangerStatus['kind'], string>> = {
  noCredit: 'NO_CREDIT',
  defectiveTubeSensor: 'TUBE_SENSOR',
  doubleArrival: 'DOUBLE_ARRIVAL',
  tubeJam: 'TUBE_JAM',
  romChecksumError: 'ROM_CHECKSUM',
  coinRoutingError: 'COIN_ROUTING',
  coinJam: 'COIN_JAM',
  possibleCreditedCoinRemoval: 'COIN_REMOVAL',
};

/** Faults that stop a payout in progress (tube jam = a coin stuck on its way out; COIN_JAM is the acceptor path). */
const PAYOUT_STOPPERS = new Set(['TUBE_JAM', 'TUBE_SENSOR']);

type PayoutEnd = 'idle' | 'reset' | 'offline' | 'timeout';

/** Watches POLLs during a payout: busy/idle, coins that went in or out meanwhile, faults. */
class PayoutTracker {
  readonly deposited: number[] = new Array<number>(16).fill(0);
  readonly manual: number[] = new Array<number>(16).fill(0);
  fault: string | undefined;
  /** Why a reply during the payout was lost, if one was (deposits may be hidden in the tube counts). */
  uncertain: string | undefined;
  private waiter: { mark: number; notBefore: number; resolve: (e: PayoutEnd) => void } | undefined;

  constructor(private readonly clock: Clock) {}

  observe(s: ChangerStatus): void {
    if (s.kind === 'deposited' && s.route === 'tube') this.deposited[s.coinType] = (this.deposited[s.coinType] ?? 0) + 1;
    if (s.kind === 'dispensedManually') this.manual[s.coinType] = (this.manual[s.coinType] ?? 0) + s.count;
    const code = FAULT_CODES[s.kind];
    if (code && PAYOUT_STOPPERS.has(code) && this.fault === undefined) this.fault = code;
  }

  polled(seq: number, busy: boolean): void {
    const w = this.waiter;
    if (w && seq > w.mark && !busy && this.clock.now() >= w.notBefore) {
      this.waiter = undefined;
      w.resolve('idle');
    }
  }

  abort(why: 'reset' | 'offline'): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.resolve(why);
  }

  /** Resolves when a POLL sent after `mark`, at or after `notBefore`, shows the changer not busy (or on abort/timeout). */
  waitIdle(mark: number, timeoutMs: number, notBefore = 0): Promise<PayoutEnd> {
    return new Promise((resolve) => {
      const timer = this.clock.setTimeout(() => {
        if (this.waiter?.mark === mark) this.waiter = undefined;
        resolve('timeout');
      }, timeoutMs);
      this.waiter = {
        mark,
        notBefore,
        resolve: (e) => {
          this.clock.clearTimeout(timer);
          resolve(e);
        },
      };
    });
  }
}

interface PayoutStep {
  readonly coinType: number;
  readonly count: number;
}

export class MdbCoinChanger extends MdbPeripheralDriver<ChangerStatus> implements CoinMechPort {
  readonly events$: Observable<CoinMechEvent>;
  protected readonly events = new Subject<CoinMechEvent>();
  protected readonly pollCommand: MdbCommand = changerCmd.poll();
  protected readonly resetCommand: MdbCommand = changerCmd.reset();
  private setupInfo: ChangerSetup | undefined;
  /** Minor-unit value per coin type (0 = unused or token). */
  private values: number[] = new Array<number>(16).fill(0);
  private tubeCounts: number[] = new Array<number>(16).fill(0);
  private wanted: Minor[] = [];
  private payout: PayoutTracker | undefined;
  private unpluggedFault = false;
  private ident: ChangerIdentification | undefined;
  /** Statuses drained before the first SETUP: they are valued once the coin table is known. */
  private deferred: ChangerStatus[] = [];
  /** Tube counts were read at least once: `tubeCounts` is what the driver expects the tubes to hold. */
  private tubesKnown = false;
  /** COIN TYPE enable mask in force, and every type enabled since the last TUBE STATUS read. */
  private enableMask = 0;
  private enabledSinceRead = 0;
  /**
   * Every coin type was off (service, out of service) and the tubes have not been read since coins
   * went on again: a manual fill may have happened, so a rise in the tubes cannot be told from lost
   * coins (never credited; advisory instead).
   */
  private disabledSinceRead = false;
  /**
   * Tube counts at which reconciliation credited a coin, per coin type: the deposit report for such
   * a coin may still come on a later POLL (it was queued, not lost) and must not credit it twice.
   */
  private reconciled = new Map<number, Set<number>>();

  constructor(
    board: MdbBoard,
    clock: Clock,
    private readonly opts: MdbCoinChangerOptions = {},
  ) {
    super(opts.name ?? 'coin', board, clock, opts, 2000);
    this.events$ = this.events.asObservable();
  }

  /** The SETUP the changer reported (after init). */
  get setup(): ChangerSetup | undefined {
    return this.setupInfo;
  }

  /** EXPANSION IDENTIFICATION, when the changer is level 3 and answered. */
  get identification(): ChangerIdentification | undefined {
    return this.ident;
  }

  /** Coin values by MDB coin type (0 = not a coin of this machine). */
  get coinValues(): readonly number[] {
    return this.values;
  }

  // ------------------------------------------------------------------ CoinMechPort

  async setAcceptance(values: readonly Minor[]): Promise<void> {
    this.wanted = [...values];
    if (!this.ready) throw this.error('DEVICE_OFFLINE', 'changer not ready; acceptance is applied when it is');
    await this.applyAcceptance(false);
  }

  async tubeLevels(): Promise<CoinCounts> {
    if (!this.ready) throw this.error('DEVICE_OFFLINE', 'changer not ready');
    await this.readTubes(false);
    return this.levels();
  }

  async dispense(plan: CoinCounts): Promise<PayoutResult> {
    if (!this.ready) throw this.error('DEVICE_OFFLINE', 'changer not ready');
    if (this.payout) throw this.error('DEVICE_BUSY', 'a payout is already running');
    const steps = this.planSteps(plan);
    // A lost deposit report must be settled before the payout's own tube reads absorb it.
    const pending = this.reconcileWanted;
    if (pending !== undefined) {
      this.reconcileWanted = undefined;
      try {
        await this.reconcileTubes(false, pending);
      } catch (e) {
        this.reconcileWanted = pending;
        throw e;
      }
    }
    const tracker = new PayoutTracker(this.clock);
    this.payout = tracker;
    this.reconciled.clear();
    this.pollSoon();
    try {
      // Nothing has moved yet if this fails: reject rather than report a payout.
      const before = await this.readTubes(false);
      let fault: string | undefined;
      for (const step of steps) {
        const mark = this.nextSeq();
        const cmd = changerCmd.dispense(step.coinType, step.count);
        if (!cmd.ok) {
          fault = 'PAYOUT_FAILED';
          break;
        }
        try {
          // A NAK means the changer did not take the command, so one retry cannot double-pay.
          await this.command(cmd.value, { policy: { retries: 1, retryOn: ['nak'] } });
        } catch (e) {
          fault = isDeviceError(e) && e.code === 'DEVICE_TIMEOUT' ? 'PAYOUT_TIMEOUT' : isDeviceError(e) && e.code === 'DEVICE_OFFLINE' ? 'DEVICE_OFFLINE' : 'DISPENSE_REJECTED';
          break;
        }
        const notBefore = this.clock.now() + step.count * (this.opts.payoutMinPerCoinMs ?? 100);
        const end = await tracker.waitIdle(mark, (this.opts.payoutBaseTimeoutMs ?? 3000) + step.count * (this.opts.payoutPerCoinTimeoutMs ?? 1000), notBefore);
        if (end !== 'idle') {
          // PAYOUT_RESET, not CHANGER_RESET: the reset fault clears after setup, but a payout cut
          // short stays open for service like any other short payout.
          fault = end === 'reset' ? 'PAYOUT_RESET' : end === 'offline' ? 'DEVICE_OFFLINE' : 'PAYOUT_TIMEOUT';
          break;
        }
        if (tracker.fault) {
          fault = tracker.fault;
          break;
        }
      }
      const result = await this.verifyPayout(plan, before, tracker, fault);
      if (tracker.uncertain !== undefined)
        this.emitAdvisory(
          'COIN_REPLY_LOST',
          `a changer reply was lost during a payout (${tracker.uncertain}): paid ${JSON.stringify(result.paid)} is counted from TUBE STATUS, a coin deposited meanwhile may be counted as not paid`,
        );
      return result;
    } finally {
      this.payout = undefined;
    }
  }

  // ------------------------------------------------------------------ driver hooks

  protected decodePoll(data: Uint8Array): PollDecode<ChangerStatus> {
    return decodeChangerPoll(data);
  }

  protected pendingActivity(): boolean {
    return this.payout !== undefined;
  }

  protected readonly resetFault = 'CHANGER_RESET';

  protected override onDeviceReset(expected: boolean): void {
    this.payout?.abort('reset');
    // A changer that reset by itself dropped the reports it had not sent yet: the TUBE STATUS of
    // the setup that follows is diffed against what the driver expects (reconcileTubes).
    if (!expected && this.tubesKnown) this.reconcileWanted = this.reconcileWanted ?? 'changer reset by itself';
  }

  protected override onLost(): void {
    this.payout?.abort('offline');
  }

  protected override onUnknownExchange(label: string, why: string): void {
    if (this.payout && this.payout.uncertain === undefined) this.payout.uncertain = `${label}: ${why}`;
    super.onUnknownExchange(label, why);
  }

  protected override canReconcile(): boolean {
    return this.payout === undefined && this.tubesKnown;
  }

  protected override async reconcile(why: string): Promise<void> {
    await this.reconcileTubes(false, why);
  }

  protected override afterPoll(seq: number, statuses: readonly ChangerStatus[]): void {
    const busy = statuses.some((s) => s.kind === 'payoutBusy' || s.kind === 'changerBusy');
    this.payout?.polled(seq, busy);
    // "Acceptor unplugged" is repeated on every POLL while it lasts (protocols.md §1.5).
    const unplugged = statuses.some((s) => s.kind === 'acceptorUnplugged');
    if (unplugged !== this.unpluggedFault) {
      this.unpluggedFault = unplugged;
      this.emitFault('ACCEPTOR_UNPLUGGED', unplugged ? undefined : true);
    }
  }

  protected dispatch(statuses: readonly ChangerStatus[]): void {
    if (!this.setupInfo) {
      // At controller start the changer is drained before RESET, but coin values come from SETUP
      // (which follows the RESET): keep these statuses until then. The coin table survives a reset.
      if (statuses.length > 0) this.log.info({ device: this.name, count: statuses.length }, 'statuses before SETUP deferred');
      this.deferred.push(...statuses);
      return;
    }
    for (const s of statuses) {
      this.payout?.observe(s);
      switch (s.kind) {
        case 'deposited': {
          const value = this.values[s.coinType] ?? 0;
          if (s.route === 'tube' && this.alreadyReconciled(s.coinType, s.tubeCount)) {
            this.log.info({ device: this.name, coinType: s.coinType, tubeCount: s.tubeCount }, 'deposit already credited by reconciliation');
            break;
          }
          if (s.route === 'tube' && value > 0 && this.payout === undefined && this.tubesKnown && !this.disabledSinceRead) {
            // MDB 4.2 §5.3: a deposit report carries the tube's count after the coin. A report that
            // does not follow the count expected (a stray or repeated line standing in for a lost
            // one) is not taken on its own word: TUBE STATUS decides what arrived.
            const want = (this.tubeCounts[s.coinType] ?? 0) + 1;
            if (s.tubeCount !== want) {
              this.onUnknownExchange('POLL', `deposit report of coin type ${s.coinType} with ${s.tubeCount} in the tube, ${want} expected`);
              break;
            }
          }
          if (s.route === 'tube') this.tubeCounts[s.coinType] = s.tubeCount;
          if (value <= 0) {
            this.log.warn({ device: this.name, coinType: s.coinType }, 'deposit of a coin type with no value (token or unknown)');
            this.emitFault('UNKNOWN_COIN');
            break;
          }
          if (s.route === 'unused') {
            this.emitFault('COIN_ROUTING');
            break;
          }
          this.events.next({ type: 'coin', value, routing: s.route === 'reject' ? 'rejected' : s.route });
          break;
        }
        case 'dispensedManually':
          this.tubeCounts[s.coinType] = s.tubeCount;
          this.events.next({ type: 'tubes', levels: this.levels() });
          break;
        case 'slugs':
          // MDB 4.2 §5.3 POLL 001yyyyy: slugs since the last POLL. Routine (a foreign coin or a
          // washer), counted for the audit; never a fault that stops sales.
          if (s.count > 0) this.events.next({ type: 'slug', count: s.count });
          break;
        case 'escrowRequest':
          this.events.next({ type: 'returnPressed' });
          break;
        case 'payoutBusy':
        case 'changerBusy':
        case 'acceptorUnplugged':
        case 'justReset':
          break; // handled in afterPoll / by the base
        default: {
          const code = FAULT_CODES[s.kind];
          if (code) this.emitFault(code);
        }
      }
    }
  }

  protected async runSetup(): Promise<void> {
    const r = await this.raw(changerCmd.setup());
    if (r.kind !== 'data') throw this.error('PROTOCOL_ERROR', 'SETUP answered without data');
    const s = decodeChangerSetup(r.data);
    if (!s.ok) throw this.error('PROTOCOL_ERROR', `SETUP: ${s.error.message}`, s.error);
    this.setupInfo = s.value;
    this.values = s.value.credits.map((c) => {
      if (c === 0 || c === 0xff) return 0;
      const v: Result<number> = unitsToMinor(c, s.value.scaling, s.value.decimals, this.opts.currencyDecimals ?? s.value.decimals);
      return v.ok ? v.value : 0;
    });
    // Before TUBE STATUS, so the fresh counts win over the tube counts in old deposit reports.
    this.dispatch(this.deferred.splice(0));
    if (s.value.level >= 3) {
      try {
        const id = await this.raw(changerCmd.expansionIdentification(), { policy: { retries: 0, retryOn: [] } });
        if (id.kind === 'data') {
          const d = decodeChangerIdentification(id.data);
          if (d.ok) this.ident = d.value;
        }
      } catch {
        // identification is informative only
      }
    }
    const wait = this.lastResetAt + (this.opts.tubeStatusAfterResetMs ?? 500) - this.clock.now();
    if (wait > 0) await sleep(this.clock, wait);
    await this.readTubes(true);
    await this.applyAcceptance(true);
  }

  protected async runResync(): Promise<void> {
    const why = this.reconcileWanted;
    this.reconcileWanted = undefined;
    try {
      if (why !== undefined && this.tubesKnown) await this.reconcileTubes(true, why);
      else await this.readTubes(true);
    } catch (e) {
      if (why !== undefined) this.reconcileWanted = why;
      throw e;
    }
    await this.applyAcceptance(true);
  }

  // ------------------------------------------------------------------ internals

  private levels(): CoinCounts {
    const out: Record<number, number> = {};
    const routing = this.setupInfo?.routing ?? 0xffff;
    this.values.forEach((v, i) => {
      if (v <= 0) return;
      out[v] = (out[v] ?? 0) + ((routing >> i) & 1 ? (this.tubeCounts[i] ?? 0) : 0);
    });
    return out;
  }

  /** TUBE STATUS (MDB 4.2 §5, 0Ah), decoded. */
  private async tubeStatus(raw: boolean): Promise<TubeStatus> {
    const cmd = changerCmd.tubeStatus();
    const r = raw ? await this.raw(cmd) : await this.command(cmd);
    if (r.kind !== 'data') throw this.error('PROTOCOL_ERROR', 'TUBE STATUS answered without data');
    const t = decodeTubeStatus(r.data);
    if (!t.ok) throw this.error('PROTOCOL_ERROR', `TUBE STATUS: ${t.error.message}`, t.error);
    const bad = defectiveTubes(t.value);
    if (bad.length > 0) {
      this.log.warn({ device: this.name, coinTypes: bad }, 'tube reads full with 0 coins: defective tube');
      this.emitFault('TUBE_SENSOR');
    }
    return t.value;
  }

  /** Take a TUBE STATUS reading as the truth: cached counts per coin type (and a `tubes` event). */
  private adoptTubes(t: TubeStatus): number[] {
    this.tubeCounts = [...t.counts];
    this.tubesKnown = true;
    this.enabledSinceRead = this.enableMask;
    this.events.next({ type: 'tubes', levels: this.levels() });
    return [...t.counts];
  }

  /**
   * TUBE STATUS → cached counts. An unknown exchange still to be settled is settled by this read
   * (outside a payout), so no read can absorb a coin whose report was lost.
   */
  private async readTubes(raw: boolean): Promise<number[]> {
    const t = await this.tubeStatus(raw);
    // Decided on the answer, not before the question: a POLL ahead of this read in the queue may
    // have ended with its outcome unknown meanwhile.
    const why = this.reconcileWanted;
    if (why !== undefined && this.payout === undefined && this.tubesKnown) {
      this.reconcileWanted = undefined;
      return this.settleTubes(t, why);
    }
    return this.adoptTubes(t);
  }

  /**
   * After an exchange whose outcome is unknown (a POLL reply lost, garbled or doubled: the board
   * ACKed the data on the bus, so the changer will not repeat it), TUBE STATUS is diffed against
   * the counts the driver expects. A coin type that was enabled and has more coins than expected
   * received coins whose reports were lost: their arrival is certain, so they are credited (routing
   * tube). Coins routed to the cash box are not counted by the changer (MDB 4.2 §5 TUBE STATUS):
   * when one could have gone there (an enabled type without a tube, or with a full tube), or when
   * a tube holds fewer coins than expected, the uncertainty is reported as the advisory fault
   * COIN_REPLY_LOST, for the audit and the operator. More coins in a type that was not enabled is
   * a manual fill, taken as it is.
   */
  private async reconcileTubes(raw: boolean, why: string): Promise<number[]> {
    return this.settleTubes(await this.tubeStatus(raw), why);
  }

  private settleTubes(t: TubeStatus, why: string): number[] {
    const expected = [...this.tubeCounts];
    const routing = this.setupInfo?.routing ?? 0;
    const enabled = this.enabledSinceRead | this.enableMask;
    const credited: Record<number, number> = {};
    const missing: Record<number, number> = {};
    const unsure: Record<number, number> = {};
    const fillPossible = this.disabledSinceRead;
    for (let type = 0; type < 16; type++) {
      const value = this.values[type] ?? 0;
      if (value <= 0 || !((routing >> type) & 1)) continue;
      const have = t.counts[type] ?? 0;
      const want = expected[type] ?? 0;
      if (have > want && (enabled >> type) & 1 && fillPossible) {
        unsure[value] = (unsure[value] ?? 0) + (have - want);
      } else if (have > want && (enabled >> type) & 1) {
        const seen = this.reconciled.get(type) ?? new Set<number>();
        for (let n = want + 1; n <= have; n++) seen.add(n);
        this.reconciled.set(type, seen);
        credited[value] = (credited[value] ?? 0) + (have - want);
      } else if (have < want) {
        missing[value] = (missing[value] ?? 0) + (want - have);
      }
    }
    const cashboxPossible = this.values.some((v, type) => v > 0 && (enabled >> type) & 1 && (!((routing >> type) & 1) || (t.full >> type) & 1));
    this.adoptTubes(t);
    for (const [value, n] of Object.entries(credited)) for (let i = 0; i < n; i++) this.events.next({ type: 'coin', value: Number(value), routing: 'tube' });
    const parts: string[] = [];
    if (Object.keys(credited).length > 0) parts.push(`credited from TUBE STATUS ${JSON.stringify(credited)}`);
    if (Object.keys(missing).length > 0) parts.push(`tubes hold fewer coins than expected ${JSON.stringify(missing)}`);
    if (Object.keys(unsure).length > 0) parts.push(`tubes hold more coins than expected ${JSON.stringify(unsure)}, not credited: coin types were disabled meanwhile (a manual fill is possible)`);
    if (cashboxPossible) parts.push('a coin routed to the cash box would not be seen');
    this.log.warn({ device: this.name, why, credited, missing, cashboxPossible }, 'changer reconciled from TUBE STATUS');
    if (Object.keys(missing).length > 0 || Object.keys(unsure).length > 0 || cashboxPossible) this.emitAdvisory('COIN_REPLY_LOST', `${why}; ${parts.join('; ')}`);
    return [...t.counts];
  }

  /** A deposit report for a coin reconciliation already credited (same type, same tube count). */
  private alreadyReconciled(type: number, tubeCount: number): boolean {
    const seen = this.reconciled.get(type);
    if (!seen || seen.size === 0) return false;
    if (seen.delete(tubeCount)) return true;
    // A later coin: the counts below it belong to reports that are gone for good.
    if (tubeCount > Math.max(...seen)) seen.clear();
    return false;
  }

  private async applyAcceptance(raw: boolean): Promise<void> {
    let enable = 0;
    let known = 0;
    const unknown: Minor[] = [];
    this.values.forEach((v, i) => {
      if (v > 0) known |= 1 << i;
    });
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
    if (unknown.length > 0) this.log.warn({ device: this.name, values: unknown }, 'changer has no coin type for these values');
    // Manual dispense stays enabled for every known coin (service fills and empties tubes by hand).
    const c = changerCmd.coinType(enable, known);
    if (!c.ok) throw this.error('PROTOCOL_ERROR', c.error.message);
    const wasOff = this.enableMask === 0;
    let readBeforeOn = false;
    if (wasOff && enable !== 0 && this.disabledSinceRead && this.tubesKnown && !this.payout) {
      // Coins were off (service, out of service): tubes may have been filled by hand. Read them
      // before coins go on again, so a fill is taken as a fill and never as lost coins.
      try {
        await this.readTubes(raw);
        readBeforeOn = true;
      } catch (e) {
        this.log.warn({ device: this.name, err: e instanceof Error ? e.message : String(e) }, 'TUBE STATUS before enabling coins failed');
      }
    }
    if (enable === 0 && !wasOff) this.disabledSinceRead = true;
    this.enableMask = enable;
    this.enabledSinceRead |= enable;
    const policy = { retries: 1, retryOn: ['nak', 'timeout'] } as const;
    if (raw) await this.raw(c.value, { policy });
    else await this.command(c.value, { policy });
    if (readBeforeOn) this.disabledSinceRead = false;
    if (enable === 0 && !wasOff && !raw && !this.payout) {
      // Coins just went off: settle the tubes now, before any fill (lost coins are still creditable).
      try {
        await this.readTubes(raw);
      } catch (e) {
        this.log.warn({ device: this.name, err: e instanceof Error ? e.message : String(e) }, 'TUBE STATUS after disabling coins failed');
      }
    }
  }

  /** Plan → DISPENSE steps, spreading a value over its coin types by what their tubes hold. */
  private planSteps(plan: CoinCounts): PayoutStep[] {
    const routing = this.setupInfo?.routing ?? 0;
    const steps: PayoutStep[] = [];
    // Largest coins first, so a payout cut short leaves the smallest possible debt.
    const entries = Object.entries(plan).sort((a, b) => Number(b[0]) - Number(a[0]));
    for (const [key, n] of entries) {
      const value = Number(key);
      if (!Number.isInteger(n) || n < 0) throw this.error('DEVICE_REJECTED', `cannot pay ${String(n)} coins of ${key}`);
      if (n === 0) continue;
      const types = this.values.map((v, i) => (v === value && (routing >> i) & 1 ? i : -1)).filter((i) => i >= 0);
      if (types.length === 0) throw this.error('DEVICE_REJECTED', `no tube for coin value ${key}`);
      types.sort((a, b) => (this.tubeCounts[b] ?? 0) - (this.tubeCounts[a] ?? 0));
      let left = n;
      for (const t of types) {
        const take = t === types[types.length - 1] ? left : Math.min(left, this.tubeCounts[t] ?? 0);
        for (let k = take; k > 0; k -= 15) steps.push({ coinType: t, count: Math.min(15, k) });
        left -= take;
        if (left === 0) break;
      }
    }
    return steps;
  }

  private async verifyPayout(plan: CoinCounts, before: readonly number[], tracker: PayoutTracker, fault: string | undefined): Promise<PayoutResult> {
    const verifyMs = this.opts.payoutVerifyTimeoutMs ?? 30_000;
    const unverified: PayoutResult = { paid: {}, complete: false, faultCode: 'PAYOUT_UNVERIFIED' };
    // After a reset or an outage the changer is re-initialised by the poll loop; wait for it, and
    // for any payout it is still finishing, before the tubes are counted.
    if (!(await this.whenReady(verifyMs))) return unverified;
    await tracker.waitIdle(this.nextSeq(), verifyMs);
    let after: number[] | undefined;
    for (let i = 0; i < 3 && after === undefined; i++) {
      try {
        after = await this.readTubes(false);
      } catch (e) {
        this.log.warn({ device: this.name, err: e instanceof Error ? e.message : String(e) }, 'TUBE STATUS after payout failed');
        if (!(await this.whenReady(verifyMs))) return unverified;
      }
    }
    if (!after) return unverified;
    const paid: Record<number, number> = {};
    const enabled = this.enabledSinceRead | this.enableMask;
    for (let t = 0; t < 16; t++) {
      const value = this.values[t] ?? 0;
      const known = (before[t] ?? 0) + (tracker.deposited[t] ?? 0) - (tracker.manual[t] ?? 0);
      const out = known - (after[t] ?? 0);
      if (value > 0 && out > 0) paid[value] = (paid[value] ?? 0) + out;
      if (value > 0 && out < 0 && tracker.uncertain !== undefined && (enabled >> t) & 1 && !this.disabledSinceRead) {
        // More coins than before in a tube the payout did not take from, and a POLL answer was
        // lost: coins whose deposit reports were lost. Their arrival is certain: credit them once.
        const seen = this.reconciled.get(t) ?? new Set<number>();
        for (let n = known + 1; n <= (after[t] ?? 0); n++) seen.add(n);
        this.reconciled.set(t, seen);
        for (let i = 0; i < -out; i++) this.events.next({ type: 'coin', value, routing: 'tube' });
      }
    }
    // DISPENSE pays only the coin types and counts it names (MDB 4.2 §5, 0Dh): tubes that dropped by
    // more than that did not pay the customer. The rest is not booked as paid; it is reported.
    const beyond: Record<number, number> = {};
    for (const [k, n] of Object.entries(paid)) {
      const v = Number(k);
      const asked = plan[v] ?? 0;
      if (n > asked) {
        beyond[v] = n - asked;
        if (asked > 0) paid[v] = asked;
        else delete paid[v];
      }
    }
    if (Object.keys(beyond).length > 0)
      this.emitAdvisory('COIN_REPLY_LOST', `after a payout of ${JSON.stringify(plan)} the tubes hold fewer coins than expected ${JSON.stringify(beyond)}: not booked as paid`);
    // The tubes are the truth: a fault after the last coin still makes a complete payout.
    const short = Object.entries(plan).some(([k, n]) => (paid[Number(k)] ?? 0) < n);
    if (!short) return { paid, complete: true };
    return { paid, complete: false, faultCode: fault ?? 'PAYOUT_SHORT' };
  }
}
