/**
 * ccTalk coin acceptor driver (accept-only) as a `CoinMechPort` (protocols.md §3.3, §3.4).
 *
 * Start-up: simple poll (254) → identity (246, 245, 244, 242, 241) → coin ids (184, positions
 * 1–16) → polling priority (249, optional) → first read of the event buffer (229) → per-coin
 * inhibits (231) and master inhibit (228). Then 229 every `pollIntervalMs` on the Clock.
 *
 * The event counter is followed exactly (§3.4): the distance is taken on the ring 1..255; the same
 * counter twice is nothing new; more than 5 new events is an overflow (the newest 5 are credited,
 * a `CCTALK_EVENT_OVERFLOW` fault says events were lost); a counter back to 0 is a device reset
 * (`CCTALK_DEVICE_RESET`, re-initialise: a reset device has its inhibits back at the defaults).
 *
 * Credit is never lost to our own doing (field-notes.md §5 item 8): the driver never sends
 * "reset device" on reconnect, and after an unplug it keeps the last counter, so events buffered
 * while the cable was out are credited on the first read after the replug. The counter seen on
 * the very first read after start is a baseline: events from before the host started are not
 * credited (they may have been credited by the previous run, and double credit is worse).
 * A device with a different serial number after a reconnect is treated the same way.
 *
 * Routing (keep it simple): a credited coin goes to the cashbox, unless `sorterPaths` says its
 * sorter path feeds a hopper of that same denomination; then it is `tube` money (the hopper pool
 * counts it, see payout-pool.ts).
 */
import { BehaviorSubject, Subject, type Observable, type Subscription } from 'rxjs';
import type { Clock, TimerHandle } from '../../src/clock.ts';
import {
  DeviceError,
  type CoinCounts,
  type CoinMechEvent,
  type CoinMechPort,
  type CoinRouting,
  type LinkState,
  type Minor,
  type PayoutResult,
} from '../../src/ports/index.ts';
import type { CctalkBus } from './bus.ts';
import { silentLogger, type Logger } from '../serial/log.ts';
import { ADDR_COIN_ACCEPTOR, Header } from './codec.ts';
import {
  asciiText,
  classifyCoinError,
  counterStep,
  parseBufferedCredit,
  parseCoinId,
  parseSerial,
  type BufferedCredit,
  type EventResult,
} from './events.ts';

export interface CctalkIdentity {
  readonly manufacturer: string;
  readonly category: string;
  readonly productCode: string;
  /** 3-byte serial number (242), null when the device did not answer it. */
  readonly serial: number | null;
  readonly softwareRevision: string;
}

export interface CoinPosition {
  readonly position: number;
  /** The text the device returned for 184 ("EU200A"; "......" for an empty position). */
  readonly id: string;
  /** Value in minor units, null when neither config nor the id gives one (never credited blindly). */
  readonly value: Minor | null;
}

/** A credited coin with its wire details (for the hopper pool's sorter routing). */
export interface AcceptedCoin {
  readonly position: number;
  readonly path: number;
  readonly value: Minor;
  readonly routing: Exclude<CoinRouting, 'rejected'>;
}

export interface CctalkAcceptorOptions {
  /** Port name, default "coin". */
  readonly name?: string;
  /** Device address, default 2 (protocols.md §3.1). */
  readonly address?: number;
  /**
   * Interval between 229 reads. Default: the device's polling priority (249) when it gives one
   * within 20..1000 ms, else 150 ms (100–200 ms is common practice; unconfirmed, §7 item 3).
   */
  readonly pollIntervalMs?: number;
  /** Coin position → value in minor units; overrides what the coin id says. */
  readonly coinValues?: Readonly<Record<number, Minor>>;
  /** The currency's coins: a value parsed from a coin id outside this list is not trusted. */
  readonly denominations?: readonly Minor[];
  /** Sorter path → denomination of the hopper it feeds (coins of that value there count as `tube`). */
  readonly sorterPaths?: Readonly<Record<number, Minor>>;
  /**
   * How often the master inhibit is read back (227) and re-applied when it differs. A reset that
   * the counter cannot show (reset, then exactly as many rejected coins as before) would otherwise
   * leave the acceptor inhibited for good. Default 5000 ms; 0 disables.
   */
  readonly inhibitCheckMs?: number;
  /** Consecutive failed polls before the device is declared offline. Default 3. */
  readonly maxFailures?: number;
  /** First delay before re-initialising after a failure; doubles up to `maxRetryMs`. Default 500. */
  readonly retryMs?: number;
  readonly maxRetryMs?: number;
  readonly logger?: Logger;
}

export class CctalkCoinAcceptor implements CoinMechPort {
  readonly name: string;
  readonly address: number;
  readonly events$: Observable<CoinMechEvent>;
  readonly link$: Observable<LinkState>;
  /** Every credited coin with position and sorter path (also sent on `events$` as `coin`). */
  readonly credits$: Observable<AcceptedCoin>;

  private readonly events = new Subject<CoinMechEvent>();
  private readonly credits = new Subject<AcceptedCoin>();
  private readonly link = new BehaviorSubject<LinkState>({ status: 'offline', reason: 'not started' });
  private readonly log: Logger;
  private sorterPaths: Record<number, Minor>;
  private accepted = new Set<Minor>();
  private table = new Map<number, CoinPosition>();
  private ident: CctalkIdentity | null = null;
  private last: number | null = null;
  private ready = false;
  private started = false;
  private busy = false;
  private timer: TimerHandle | null = null;
  private failures = 0;
  private retryDelay: number;
  private interval: number;
  private resetPending = false;
  private lastInhibitCheck = 0;
  private readonly openFaults = new Set<string>();
  private sub: Subscription | null = null;

  constructor(
    private readonly bus: CctalkBus,
    private readonly clock: Clock,
    private readonly opts: CctalkAcceptorOptions = {},
  ) {
    this.name = opts.name ?? 'coin';
    this.address = opts.address ?? ADDR_COIN_ACCEPTOR;
    this.log = opts.logger ?? silentLogger;
    this.sorterPaths = { ...(opts.sorterPaths ?? {}) };
    this.retryDelay = opts.retryMs ?? 500;
    this.interval = opts.pollIntervalMs ?? 150;
    this.events$ = this.events.asObservable();
    this.credits$ = this.credits.asObservable();
    this.link$ = this.link.asObservable();
  }

  /** What the device said about itself at the last initialisation. */
  get identity(): CctalkIdentity | null {
    return this.ident;
  }

  /** Coin positions read with 184, by position. */
  get coinTable(): ReadonlyMap<number, CoinPosition> {
    return this.table;
  }

  /** The last event counter processed (null before the first read). */
  get eventCounter(): number | null {
    return this.last;
  }

  get pollInterval(): number {
    return this.interval;
  }

  /** Add or replace sorter path routes (used when hoppers are fed by the sorter). */
  routeSorterPaths(paths: Readonly<Record<number, Minor>>): void {
    this.sorterPaths = { ...this.sorterPaths, ...paths };
  }

  /** Start the init/poll loop on the Clock. Idempotent. */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.sub = this.bus.state$.subscribe((s) => {
      if (s.status === 'online') {
        if (!this.ready) this.schedule(0);
      } else {
        this.goOffline(s.status === 'offline' ? (s.reason ?? 'link offline') : s.code);
      }
    });
  }

  stop(): void {
    this.started = false;
    this.sub?.unsubscribe();
    this.sub = null;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.ready = false;
    this.link.next({ status: 'offline', reason: 'stopped' });
  }

  async setAcceptance(values: readonly Minor[]): Promise<void> {
    // Stored first so a re-initialisation (reconnect, device reset) applies it too.
    this.accepted = new Set(values);
    if (!this.ready) throw new DeviceError('DEVICE_OFFLINE', this.name, 'acceptor not ready; acceptance will be applied on reconnect');
    await this.applyInhibits();
  }

  tubeLevels(): Promise<CoinCounts> {
    return Promise.resolve({});
  }

  dispense(_plan: CoinCounts): Promise<PayoutResult> {
    return Promise.reject(new DeviceError('NOT_SUPPORTED', this.name, 'a coin acceptor cannot pay out; combine it with hoppers'));
  }

  // ------------------------------------------------------------------ loop

  private schedule(ms: number): void {
    if (!this.started) return;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      void this.tick();
    }, ms);
  }

  private async tick(): Promise<void> {
    if (!this.started || this.busy) return;
    this.busy = true;
    const started = this.clock.now();
    let next: number;
    try {
      if (!this.ready) {
        await this.initialise();
        this.ready = true;
        this.failures = 0;
        this.retryDelay = this.opts.retryMs ?? 500;
        if (this.link.getValue().status !== 'online') this.link.next({ status: 'online' });
        if (this.resetPending) {
          this.resetPending = false;
          this.emitFault('CCTALK_DEVICE_RESET', true);
        }
      } else {
        await this.pollOnce();
        this.failures = 0;
      }
      // Poll on a steady rate: the interval counts from the start of this read.
      next = this.ready ? Math.max(0, this.interval - (this.clock.now() - started)) : 0;
    } catch (e) {
      next = this.onFailure(e);
    } finally {
      this.busy = false;
    }
    if (this.started) this.schedule(next);
  }

  private onFailure(e: unknown): number {
    const err = e instanceof DeviceError ? e : new DeviceError('PROTOCOL_ERROR', this.name, String(e));
    this.failures++;
    this.log.warn({ device: this.name, code: err.code, failures: this.failures }, `ccTalk acceptor: ${err.message}`);
    if (this.ready && this.failures < (this.opts.maxFailures ?? 3)) return this.interval;
    this.ready = false;
    const state: LinkState =
      err.code === 'DEVICE_OFFLINE' || err.code === 'DEVICE_TIMEOUT'
        ? { status: 'offline', reason: err.message }
        : { status: 'error', code: err.code, detail: err.message };
    if (this.link.getValue().status !== state.status) this.link.next(state);
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.retryDelay * 2, this.opts.maxRetryMs ?? 5_000);
    return delay;
  }

  private goOffline(reason: string): void {
    this.ready = false;
    if (this.link.getValue().status !== 'offline') this.link.next({ status: 'offline', reason });
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  // ------------------------------------------------------------------ init

  private req(header: number, data: number[] = [], meaning?: string, validate?: (d: Uint8Array) => boolean): Promise<Uint8Array> {
    return this.bus.request(this.address, header, data, {
      ...(meaning !== undefined ? { meaning } : {}),
      ...(validate !== undefined ? { validate } : {}),
    });
  }

  /** An identity text; a NAK (not supported) reads as "". */
  private async text(header: number, meaning: string): Promise<string> {
    try {
      return asciiText(await this.req(header, [], meaning));
    } catch (e) {
      if (e instanceof DeviceError && e.code === 'DEVICE_REJECTED') return '';
      throw e;
    }
  }

  private async initialise(): Promise<void> {
    await this.req(Header.SIMPLE_POLL, [], 'simple poll', (d) => d.length === 0);
    const manufacturer = await this.text(Header.MANUFACTURER_ID, 'manufacturer id');
    const category = await this.text(Header.EQUIPMENT_CATEGORY, 'equipment category');
    const productCode = await this.text(Header.PRODUCT_CODE, 'product code');
    let serial: number | null = null;
    try {
      serial = parseSerial(await this.req(Header.SERIAL_NUMBER, [], 'serial number', (d) => d.length === 3));
    } catch (e) {
      if (!(e instanceof DeviceError && e.code === 'DEVICE_REJECTED')) throw e;
    }
    const softwareRevision = await this.text(Header.SOFTWARE_REVISION, 'software revision');
    const previous = this.ident;
    this.ident = { manufacturer, category, productCode, serial, softwareRevision };
    if (!/coin acceptor/i.test(category))
      this.log.warn({ device: this.name, category }, 'ccTalk: equipment category is not "Coin Acceptor"');
    if (previous && previous.serial !== serial && this.last !== null) {
      // Another unit answers at this address: its counter says nothing about what we credited.
      this.log.warn({ device: this.name, was: previous.serial, now: serial }, 'ccTalk: device replaced, event counter re-baselined');
      this.last = null;
    }
    await this.readCoinTable();
    await this.readPollingPriority();
    const credit = await this.readCredit();
    if (this.last === null) {
      this.last = credit.counter;
      if (credit.counter !== 0)
        this.log.info({ device: this.name, counter: credit.counter }, 'ccTalk: events from before start-up not credited');
    } else {
      this.process(credit);
    }
    await this.applyInhibits();
  }

  private async readCoinTable(): Promise<void> {
    const table = new Map<number, CoinPosition>();
    const allowed = this.opts.denominations ? new Set(this.opts.denominations) : null;
    for (let position = 1; position <= 16; position++) {
      let id = '';
      try {
        id = asciiText(await this.req(Header.REQUEST_COIN_ID, [position], `coin id ${position}`));
      } catch (e) {
        if (!(e instanceof DeviceError && e.code === 'DEVICE_REJECTED')) throw e;
      }
      let value: Minor | null = this.opts.coinValues?.[position] ?? null;
      if (value === null) {
        const parsed = parseCoinId(id);
        if (parsed && (!allowed || allowed.has(parsed.value))) value = parsed.value;
        else if (parsed)
          this.log.warn({ device: this.name, position, id }, 'ccTalk: coin id value is not a configured denomination; position ignored');
      }
      if (id !== '' || value !== null) table.set(position, { position, id, value });
    }
    this.table = table;
  }

  private async readPollingPriority(): Promise<void> {
    if (this.opts.pollIntervalMs !== undefined) return;
    try {
      const d = await this.req(Header.POLLING_PRIORITY, [], 'polling priority', (x) => x.length === 2);
      const unit = [0, 1, 10, 1000][d[0] ?? 0] ?? 0;
      const ms = unit * (d[1] ?? 0);
      if (ms >= 20 && ms <= 1000) this.interval = ms;
    } catch (e) {
      if (!(e instanceof DeviceError && e.code === 'DEVICE_REJECTED')) throw e;
    }
  }

  private mask(): number {
    let mask = 0;
    for (const c of this.table.values()) if (c.value !== null && this.accepted.has(c.value)) mask |= 1 << (c.position - 1);
    return mask;
  }

  private async applyInhibits(): Promise<void> {
    const mask = this.mask();
    this.lastInhibitCheck = this.clock.now();
    const ack = (d: Uint8Array): boolean => d.length === 0;
    await this.req(Header.MODIFY_INHIBIT, [mask & 0xff, (mask >> 8) & 0xff], 'modify inhibit status', ack);
    await this.req(Header.MODIFY_MASTER_INHIBIT, [mask !== 0 ? 1 : 0], 'modify master inhibit', ack);
  }

  // ------------------------------------------------------------------ events

  private async readCredit(): Promise<BufferedCredit> {
    const data = await this.req(Header.READ_BUFFERED_CREDIT, [], 'read buffered credit', (d) => d.length === 11);
    const credit = parseBufferedCredit(data);
    if (!credit) throw new DeviceError('PROTOCOL_ERROR', this.name, `229 reply of ${data.length} bytes`);
    return credit;
  }

  private async pollOnce(): Promise<void> {
    this.process(await this.readCredit());
    const every = this.opts.inhibitCheckMs ?? 5000;
    if (!this.ready || every <= 0 || this.clock.now() - this.lastInhibitCheck < every) return;
    this.lastInhibitCheck = this.clock.now();
    const d = await this.req(Header.MASTER_INHIBIT_STATUS, [], 'request master inhibit status', (x) => x.length === 1);
    const want = this.mask() !== 0 ? 1 : 0;
    if (((d[0] ?? 0) & 1) !== want) {
      this.log.warn({ device: this.name, want }, 'ccTalk: master inhibit differs from what was set (unnoticed reset?); re-applying');
      await this.applyInhibits();
    }
  }

  private process(credit: BufferedCredit): void {
    const last = this.last ?? credit.counter;
    const step = counterStep(last, credit.counter);
    this.last = credit.counter;
    switch (step.kind) {
      case 'none':
        return;
      case 'reset':
        // Whatever happened between our last read and the reset is gone (field-notes §5 item 8).
        this.log.warn({ device: this.name, last }, 'ccTalk: event counter back to 0, device was reset');
        this.emitFault('CCTALK_DEVICE_RESET');
        this.resetPending = true;
        this.ready = false;
        return;
      case 'overflow':
        this.log.warn({ device: this.name, last, counter: credit.counter, lost: step.lost }, 'ccTalk: event buffer overflow');
        this.emitFault('CCTALK_EVENT_OVERFLOW');
        this.handleResults(credit.results.slice(0, 5));
        return;
      case 'new':
        this.handleResults(credit.results.slice(0, step.count));
        return;
    }
  }

  /** Results are newest first on the wire; handle them oldest first. */
  private handleResults(results: readonly EventResult[]): void {
    for (let i = results.length - 1; i >= 0; i--) {
      const r = results[i];
      if (r) this.handleResult(r);
    }
  }

  private handleResult({ a, b }: EventResult): void {
    if (a !== 0) {
      const value = this.table.get(a)?.value ?? null;
      if (value === null) {
        // The coin is in the machine but we cannot tell its value: say so loudly, do not guess.
        this.log.warn({ device: this.name, position: a, path: b }, 'ccTalk: credit for a coin position with no known value');
        this.emitFault('CCTALK_UNKNOWN_COIN');
        return;
      }
      const routing = this.sorterPaths[b] === value ? 'tube' : 'cashbox';
      this.events.next({ type: 'coin', value, routing });
      this.credits.next({ position: a, path: b, value, routing });
      if (this.openFaults.has('COIN_JAM')) this.emitFault('COIN_JAM', true);
      return;
    }
    const info = classifyCoinError(b);
    switch (info.cls) {
      case 'ignore':
        return;
      case 'rejected': {
        const value = info.position !== undefined ? (this.table.get(info.position)?.value ?? 0) : 0;
        this.events.next({ type: 'coin', value, routing: 'rejected' });
        return;
      }
      case 'returnLever':
        this.events.next({ type: 'returnPressed' });
        return;
      case 'jam':
        this.log.warn({ device: this.name, code: b, event: info.name }, 'ccTalk: coin jam');
        this.emitFault('COIN_JAM');
        return;
      case 'fraud':
        this.log.warn({ device: this.name, code: b, event: info.name }, 'ccTalk: fraud attempt');
        this.emitFault('CCTALK_FRAUD');
        return;
      case 'swallowed':
        this.log.warn({ device: this.name, code: b, event: info.name }, 'ccTalk: coin swallowed without credit');
        this.emitFault('CCTALK_COIN_SWALLOWED');
        return;
      case 'fault':
        this.log.warn({ device: this.name, code: b, event: info.name }, 'ccTalk: acceptor fault');
        this.emitFault(`CCTALK_FAULT_${b}`);
        return;
    }
  }

  private emitFault(code: string, cleared = false): void {
    if (cleared) this.openFaults.delete(code);
    else this.openFaults.add(code);
    this.events.next(cleared ? { type: 'fault', code, cleared: true } : { type: 'fault', code });
  }
}
