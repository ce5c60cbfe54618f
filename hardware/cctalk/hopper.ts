/**
 * ccTalk payout hopper driver (protocols.md §3.3, §3.5).
 *
 * Implemented variant: "Dispense hopper coins" (167) in the Flow 18 "serial number" security mode,
 * data = the hopper's 3 serial bytes LSB first, then N (§3.5), or `security: 'none'` for hoppers
 * that take just [N] (unconfirmed, no source read). Encrypted hoppers (8 cipher bytes) are not
 * covered.
 *
 * One payout: 166 status (baseline event counter; nothing may be in progress) → 164 enable (0xA5)
 * → 167 dispense, never retried (a retry could pay twice) → 166 every `statusPollMs` until
 * "coins remaining" is 0 for our event counter. "Paid" and "unpaid" come from the hopper's own
 * status, so the result says what left the hopper as far as the hopper can tell. If the 167 reply
 * is lost, the event counter in 166 tells whether the command was taken. A short payout is
 * classified with 163 (test hopper): a jam sign → HOPPER_JAM, a payout timeout alone →
 * HOPPER_EMPTY. Past the deadline the host sends emergency stop (172) and reads 166 once more.
 *
 * ccTalk hoppers report no coin count, so `count` is the host's estimate: the configured fill,
 * minus what was paid, plus coins the acceptor's sorter routed here; an empty result sets it to 0.
 */
import { BehaviorSubject, Subject, type Observable } from 'rxjs';
import type { Clock } from '../../src/clock.ts';
import { DeviceError, type LinkState, type Minor } from '../../src/ports/index.ts';
import type { CctalkBus } from './bus.ts';
import { silentLogger, type Logger } from '../serial/log.ts';
import { ADDR_HOPPER, Header } from './codec.ts';
import { advanceCounter, asciiText, hopperFault, parseSerial, serialBytes, type HopperFaultCode } from './events.ts';
import type { CctalkIdentity } from './acceptor.ts';

export interface CctalkHopperOptions {
  /** Denomination this hopper holds, in minor units. */
  readonly coinValue: Minor;
  /** Device address, default 3 (3–10 for more hoppers, protocols.md §3.1). */
  readonly address?: number;
  /** Name used in logs and fault codes, default `hopper<address>`. */
  readonly name?: string;
  /** Coins believed to be in the hopper at start. Default 0. */
  readonly initialCount?: number;
  /** The acceptor's sorter path that drops coins into this hopper, if any. */
  readonly sorterPath?: number;
  /** 167 data layout: 'serial' (3 serial bytes + N, default) or 'none' (just N). */
  readonly security?: 'serial' | 'none';
  /** Status poll interval during a payout. Default 100 ms (§3.5). */
  readonly statusPollMs?: number;
  /** Time allowed per coin before the host gives up. Default 1000 ms. */
  readonly perCoinTimeoutMs?: number;
  readonly logger?: Logger;
}

export interface HopperStatus {
  readonly counter: number;
  readonly remaining: number;
  readonly paid: number;
  readonly unpaid: number;
}

export interface HopperPayout {
  readonly requested: number;
  /** Coins the hopper reports as paid. */
  readonly paid: number;
  readonly complete: boolean;
  readonly faultCode?: string;
}

export interface HopperFault {
  readonly hopper: string;
  readonly code: string;
  readonly cleared?: boolean;
}

function parseStatus(d: Uint8Array): HopperStatus {
  return { counter: d[0] ?? 0, remaining: d[1] ?? 0, paid: d[2] ?? 0, unpaid: d[3] ?? 0 };
}

export class CctalkHopper {
  readonly name: string;
  readonly address: number;
  readonly coinValue: Minor;
  readonly sorterPath: number | undefined;
  readonly link$: Observable<LinkState>;
  readonly faults$: Observable<HopperFault>;
  private readonly link = new BehaviorSubject<LinkState>({ status: 'offline', reason: 'not initialised' });
  private readonly faults = new Subject<HopperFault>();
  private readonly log: Logger;
  private coins: number;
  private fault: HopperFaultCode | null = null;
  private serial: number | null = null;
  private ident: CctalkIdentity | null = null;
  private running = false;

  constructor(
    private readonly bus: CctalkBus,
    private readonly clock: Clock,
    private readonly opts: CctalkHopperOptions,
  ) {
    if (!Number.isSafeInteger(opts.coinValue) || opts.coinValue <= 0)
      throw new RangeError(`hopper coinValue must be a positive integer of minor units, got ${String(opts.coinValue)}`);
    this.address = opts.address ?? ADDR_HOPPER;
    this.name = opts.name ?? `hopper${this.address}`;
    this.coinValue = opts.coinValue;
    this.sorterPath = opts.sorterPath;
    this.coins = Math.max(0, Math.floor(opts.initialCount ?? 0));
    this.log = opts.logger ?? silentLogger;
    this.link$ = this.link.asObservable();
    this.faults$ = this.faults.asObservable();
  }

  /** Host-side estimate of the coins in the hopper. */
  get count(): number {
    return this.coins;
  }

  /** The open jam/fraud fault, or null. Empty is not kept here: the count says it. */
  get faultCode(): HopperFaultCode | null {
    return this.fault;
  }

  get identity(): CctalkIdentity | null {
    return this.ident;
  }

  /** Usable for a payout: online-looking, no open jam, coins believed inside. */
  get usable(): boolean {
    return this.fault === null && this.coins > 0;
  }

  /** Service fill: set the count (clears an empty state). */
  setCount(n: number): void {
    this.coins = Math.max(0, Math.floor(n));
  }

  /** Coins routed in by the acceptor's sorter. */
  addCoins(n = 1): void {
    this.coins += Math.max(0, Math.floor(n));
  }

  /** Forget an open jam (service cleared it); the next payout re-tests anyway. */
  clearFault(): void {
    if (this.fault === null) return;
    const code = this.fault;
    this.fault = null;
    this.faults.next({ hopper: this.name, code, cleared: true });
  }

  private async req(header: number, data: number[] = [], meaning?: string, opts: { retries?: number; validate?: (d: Uint8Array) => boolean } = {}): Promise<Uint8Array> {
    try {
      const d = await this.bus.request(this.address, header, data, {
        ...(meaning !== undefined ? { meaning } : {}),
        ...opts,
      });
      if (this.link.getValue().status !== 'online') this.link.next({ status: 'online' });
      return d;
    } catch (e) {
      if (e instanceof DeviceError && (e.code === 'DEVICE_TIMEOUT' || e.code === 'DEVICE_OFFLINE') && this.link.getValue().status === 'online')
        this.link.next({ status: 'offline', reason: e.message });
      throw e;
    }
  }

  private async text(header: number, meaning: string): Promise<string> {
    try {
      return asciiText(await this.req(header, [], meaning));
    } catch (e) {
      if (e instanceof DeviceError && e.code === 'DEVICE_REJECTED') return '';
      throw e;
    }
  }

  /** Simple poll, identity and serial number (needed for the 167 security bytes). */
  async init(): Promise<CctalkIdentity> {
    await this.req(Header.SIMPLE_POLL, [], 'simple poll', { validate: (d) => d.length === 0 });
    const manufacturer = await this.text(Header.MANUFACTURER_ID, 'manufacturer id');
    const category = await this.text(Header.EQUIPMENT_CATEGORY, 'equipment category');
    const productCode = await this.text(Header.PRODUCT_CODE, 'product code');
    this.serial = parseSerial(await this.req(Header.SERIAL_NUMBER, [], 'serial number', { validate: (d) => d.length === 3 }));
    const softwareRevision = await this.text(Header.SOFTWARE_REVISION, 'software revision');
    if (!/payout/i.test(category)) this.log.warn({ device: this.name, category }, 'ccTalk: equipment category is not "Payout"');
    this.ident = { manufacturer, category, productCode, serial: this.serial, softwareRevision };
    return this.ident;
  }

  /** 163: register 1 flags (see HopperFlag). */
  async test(): Promise<number> {
    const d = await this.req(Header.TEST_HOPPER, [], 'test hopper', { validate: (x) => x.length >= 1 });
    return d[0] ?? 0;
  }

  /** 166: event counter, coins remaining, last payout paid / unpaid. */
  async status(): Promise<HopperStatus> {
    return parseStatus(await this.req(Header.HOPPER_STATUS, [], 'hopper status', { validate: (d) => d.length === 4 }));
  }

  /**
   * Pay `n` coins. Resolves with what the hopper reports as paid, also when short; never
   * rejects for a device problem (the result carries the fault code).
   */
  async dispense(n: number): Promise<HopperPayout> {
    const requested = Math.max(0, Math.floor(n));
    if (requested === 0) return { requested, paid: 0, complete: true };
    if (this.running) return { requested, paid: 0, complete: false, faultCode: 'DEVICE_BUSY' };
    this.running = true;
    let paid = 0;
    try {
      while (paid < requested) {
        // 166's paid/unpaid are single bytes: at most 255 coins a command.
        const chunk = Math.min(255, requested - paid);
        const r = await this.dispenseChunk(chunk);
        paid += r.paid;
        this.coins = Math.max(0, this.coins - r.paid);
        if (!r.complete) {
          const faultCode = r.faultCode ?? 'PAYOUT_FAILED';
          this.onShort(faultCode);
          return { requested, paid, complete: false, faultCode };
        }
      }
      return { requested, paid, complete: true };
    } finally {
      this.running = false;
    }
  }

  private onShort(code: string): void {
    this.log.warn({ device: this.name, code }, 'ccTalk: hopper payout short');
    if (code === 'HOPPER_EMPTY') {
      this.coins = 0;
      this.faults.next({ hopper: this.name, code });
    } else if (code === 'HOPPER_JAM' || code === 'HOPPER_FRAUD') {
      this.fault = code;
      this.faults.next({ hopper: this.name, code });
    } else {
      this.faults.next({ hopper: this.name, code });
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.clock.setTimeout(resolve, ms);
    });
  }

  /** Classify a short payout from the test register (a failing read leaves the generic code). */
  private async classify(fallback: string): Promise<string> {
    try {
      return hopperFault(await this.test()) ?? fallback;
    } catch {
      return fallback;
    }
  }

  private async dispenseChunk(k: number): Promise<HopperPayout> {
    const fail = (faultCode: string, paid = 0): HopperPayout => ({ requested: k, paid, complete: false, faultCode });
    let before: HopperStatus;
    try {
      if (this.opts.security !== 'none' && this.serial === null) await this.init();
      before = await this.status();
      if (before.remaining > 0) return fail('DEVICE_BUSY');
      // Enable each time: cheap, and a hopper that reset in between comes up disabled.
      await this.req(Header.ENABLE_HOPPER, [0xa5], 'enable hopper', { validate: (d) => d.length === 0 });
    } catch (e) {
      return fail(e instanceof DeviceError ? e.code : 'PROTOCOL_ERROR');
    }
    // Called directly on a jammed hopper (the pool skips those): try again; a jam that is still
    // there is reported again.
    if (this.fault !== null) this.clearFault();

    const expected = advanceCounter(before.counter);
    const cipher = this.opts.security === 'none' ? [] : serialBytes(this.serial ?? 0);
    let taken: boolean | null = null;
    try {
      const reply = await this.req(Header.DISPENSE_HOPPER_COINS, [...cipher, k], `dispense ${k}`, { retries: 0 });
      taken = reply.length === 0 || reply[0] === expected;
    } catch (e) {
      if (e instanceof DeviceError && e.code === 'DEVICE_REJECTED') return fail(await this.classify('PAYOUT_FAILED'));
      // Lost reply or link drop: the event counter will say whether the hopper took it.
    }

    const deadline = this.clock.now() + k * (this.opts.perCoinTimeoutMs ?? 1000) + 2000;
    let lastPaid = 0;
    let seenOurs = false;
    while (this.clock.now() < deadline) {
      await this.sleep(this.opts.statusPollMs ?? 100);
      let s: HopperStatus;
      try {
        s = await this.status();
      } catch {
        continue;
      }
      if (s.counter === expected) {
        seenOurs = true;
        lastPaid = s.paid;
        if (s.remaining === 0) {
          if (s.paid >= k && s.unpaid === 0) return { requested: k, paid: s.paid, complete: true };
          return fail(await this.classify('PAYOUT_FAILED'), s.paid);
        }
        continue;
      }
      if (s.counter === before.counter && !seenOurs) {
        // Counter never moved: the command did not arrive (or was refused silently).
        if (taken === null) return fail('DEVICE_TIMEOUT');
        continue;
      }
      // Counter moved elsewhere: 0 = the hopper reset mid-payout; anything else, someone else.
      const code = s.counter === 0 ? 'CCTALK_DEVICE_RESET' : 'PROTOCOL_ERROR';
      this.log.warn({ device: this.name, counter: s.counter, expected }, 'ccTalk: hopper event counter moved unexpectedly');
      return fail(code, lastPaid);
    }
    // Out of time: stop the motor, then take the hopper's final word on what it paid.
    try {
      await this.req(Header.EMERGENCY_STOP, [], 'emergency stop');
      const s = await this.status();
      if (s.counter === expected) lastPaid = s.paid;
    } catch {
      // The last good status is all we know.
    }
    return fail('DEVICE_TIMEOUT', lastPaid);
  }
}
