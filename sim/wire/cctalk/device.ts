/**
 * What every ccTalk device emulator shares: it listens on the device side of a ByteLink for
 * packets to its address (protocols.md §3.2), answers the common identity headers (§3.3), and
 * injects wire faults: no answer, garbage bytes, a wrong checksum, NAK/BUSY, a dead device.
 * Unplugging is done on the link (sim/wire/pipe.ts); a device reset with `powerCycle()`.
 */
import type { Subscription } from 'rxjs';
import type { Clock } from '../../../src/clock.ts';
import type { ByteLink } from '../../../hardware/serial/types.ts';
import { silentLogger, type Logger } from '../../../hardware/serial/log.ts';
import {
  ADDR_BROADCAST,
  ADDR_HOST,
  CctalkDecoder,
  encodeFrame,
  HDR_BUSY,
  HDR_NAK,
  HDR_REPLY,
  Header,
  toHex,
  type CctalkFrame,
} from '../../../hardware/cctalk/codec.ts';
import { serialBytes } from '../../../hardware/cctalk/events.ts';
import { createRandom, type Random } from '../../random.ts';

export interface EmulatorIdentity {
  readonly manufacturer: string;
  readonly category: string;
  readonly productCode: string;
  /** 24-bit serial number, sent LSB first (242). */
  readonly serial: number;
  readonly softwareRevision: string;
}

export interface EmulatorBaseOptions {
  readonly link: ByteLink;
  readonly clock: Clock;
  readonly address: number;
  readonly identity?: Partial<EmulatorIdentity>;
  /** Time from the end of a request to the reply. Default 2 ms. */
  readonly replyDelayMs?: number;
  /** Seed for the garbage bytes. Default 1. */
  readonly seed?: number;
  readonly logger?: Logger;
}

/**
 * One-shot wire faults, each applied to the next `count` (default 1) requests to this device
 * (only to requests with that `header` when one is given).
 * - `noAnswer`: the request is lost on the way in: not acted on, no reply (host times out).
 * - `dropReply`: the request is acted on but the reply is lost on the way out.
 * - `garbage`: `bytes` (default: seeded random 1–8 bytes) go out before the reply, or instead of
 *   it with `replace: true`.
 * - `badChecksum`: the reply's checksum byte is wrong.
 * - `nak` / `busy`: the device answers NAK (5) / BUSY (6) instead.
 */
export type WireFault = { readonly count?: number; readonly header?: number } & (
  | { readonly kind: 'noAnswer' }
  | { readonly kind: 'dropReply' }
  | { readonly kind: 'garbage'; readonly bytes?: readonly number[]; readonly replace?: boolean }
  | { readonly kind: 'badChecksum' }
  | { readonly kind: 'nak' }
  | { readonly kind: 'busy' }
);

/** What a handler answers: reply data (ACK with data), NAK, BUSY, or nothing at all. */
export type Reply = { readonly data: readonly number[] } | 'nak' | 'busy' | 'none';

export const ACK: Reply = { data: [] };

export function ascii(text: string): number[] {
  return [...text].map((c) => c.charCodeAt(0) & 0x7f);
}

export interface EmulatorStats {
  /** Requests to this address, by header. */
  readonly requests: Map<number, number>;
  replies: number;
}

export abstract class CctalkDeviceEmulator {
  readonly address: number;
  private ident: EmulatorIdentity;
  readonly stats: EmulatorStats = { requests: new Map(), replies: 0 };
  protected readonly clock: Clock;
  protected readonly log: Logger;
  private readonly link: ByteLink;
  private readonly decoder: CctalkDecoder;
  private readonly sub: Subscription;
  private readonly random: Random;
  private readonly faults: { fault: WireFault; left: number }[] = [];
  private dead = false;
  private closed = false;

  constructor(opts: EmulatorBaseOptions, defaults: EmulatorIdentity) {
    this.address = opts.address;
    this.clock = opts.clock;
    this.link = opts.link;
    this.log = opts.logger ?? silentLogger;
    this.random = createRandom(opts.seed ?? 1);
    this.ident = { ...defaults, ...(opts.identity ?? {}) };
    this.decoder = new CctalkDecoder({
      clock: opts.clock,
      accept: (dest) => dest === this.address || dest === ADDR_BROADCAST,
    });
    const delay = opts.replyDelayMs ?? 2;
    this.sub = opts.link.data$.subscribe((chunk) => {
      for (const f of this.decoder.push(chunk)) this.onFrame(f, delay);
    });
  }

  get identity(): EmulatorIdentity {
    return this.ident;
  }

  /** Another unit of the same kind now answers at this address (new serial number, say). */
  swapUnit(identity: Partial<EmulatorIdentity>): void {
    this.ident = { ...this.ident, ...identity };
    this.powerCycle();
  }

  /** Queue a one-shot wire fault for the next request(s). */
  injectFault(fault: WireFault): void {
    this.faults.push({ fault, left: Math.max(1, fault.count ?? 1) });
  }

  /** A dead device answers nothing at all until revived. */
  setDead(dead: boolean): void {
    this.dead = dead;
  }

  /** Power loss and back: device state to its power-up defaults (event counter 0, ...). */
  abstract powerCycle(): void;

  close(): void {
    this.closed = true;
    this.sub.unsubscribe();
  }

  /** Answer one request; `header` and `data` come from a valid packet to this address. */
  protected abstract handle(header: number, data: Uint8Array): Reply;

  /** Called once the reply to "reset device" (1) is on its way. */
  protected afterReset(): void {
    this.powerCycle();
  }

  private takeFault(header: number): WireFault | null {
    const i = this.faults.findIndex((f) => f.fault.header === undefined || f.fault.header === header);
    const entry = this.faults[i];
    if (!entry) return null;
    entry.left--;
    if (entry.left <= 0) this.faults.splice(i, 1);
    return entry.fault;
  }

  private onFrame(f: CctalkFrame, delay: number): void {
    if (this.closed || this.dead) return;
    // Broadcasts are heard but only "reset" is acted on; no reply to avoid bus contention.
    if (f.dest === ADDR_BROADCAST) {
      if (f.header === Header.RESET_DEVICE) this.afterReset();
      return;
    }
    this.stats.requests.set(f.header, (this.stats.requests.get(f.header) ?? 0) + 1);
    const fault = this.takeFault(f.header);
    if (fault?.kind === 'noAnswer') return;
    let reply: Reply;
    try {
      reply = fault?.kind === 'nak' ? 'nak' : fault?.kind === 'busy' ? 'busy' : this.common(f.header, f.data) ?? this.handle(f.header, f.data);
    } catch (e) {
      // An emulator bug must not take the simulated bus down: log it and stay silent.
      this.log.error({ device: this.address, header: f.header, err: String(e) }, 'ccTalk emulator: handler failed');
      return;
    }
    if (reply === 'none') return;
    if (fault?.kind === 'dropReply') {
      if (f.header === Header.RESET_DEVICE) this.clock.setTimeout(() => this.afterReset(), delay);
      return;
    }
    const header = reply === 'nak' ? HDR_NAK : reply === 'busy' ? HDR_BUSY : HDR_REPLY;
    const data = typeof reply === 'object' ? Uint8Array.from(reply.data) : new Uint8Array(0);
    let bytes = encodeFrame({ dest: f.src === ADDR_BROADCAST ? ADDR_HOST : f.src, src: this.address, header, data });
    if (fault?.kind === 'badChecksum') {
      bytes = bytes.slice();
      const last = bytes.length - 1;
      bytes[last] = ((bytes[last] ?? 0) + 1) & 0xff;
    }
    if (fault?.kind === 'garbage') {
      const junk = fault.bytes ? Uint8Array.from(fault.bytes) : this.junk();
      if (fault.replace) bytes = junk;
      else {
        const both = new Uint8Array(junk.length + bytes.length);
        both.set(junk);
        both.set(bytes, junk.length);
        bytes = both;
      }
    }
    const isReset = f.header === Header.RESET_DEVICE && reply !== 'nak' && reply !== 'busy';
    this.clock.setTimeout(() => {
      if (this.closed || this.dead) return;
      this.stats.replies++;
      this.link.write(bytes).catch((e: unknown) => {
        this.log.debug({ device: this.address, bytes: toHex(bytes), err: String(e) }, 'ccTalk emulator: reply lost');
      });
      if (isReset) this.afterReset();
    }, delay);
  }

  private junk(): Uint8Array {
    const n = this.random.int(1, 8);
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.random.int(0, 255);
    return out;
  }

  /** Headers every device answers the same way. */
  private common(header: number, data: Uint8Array): Reply | null {
    const id = this.identity;
    switch (header) {
      case Header.SIMPLE_POLL:
        return data.length === 0 ? ACK : 'nak';
      case Header.MANUFACTURER_ID:
        return { data: ascii(id.manufacturer) };
      case Header.EQUIPMENT_CATEGORY:
        return { data: ascii(id.category) };
      case Header.PRODUCT_CODE:
        return { data: ascii(id.productCode) };
      case Header.SERIAL_NUMBER:
        return { data: serialBytes(id.serial) };
      case Header.SOFTWARE_REVISION:
        return { data: ascii(id.softwareRevision) };
      case Header.COMMS_REVISION:
        // Release 1, comms revision 4.6 (CCT2 Issue 4.6; value layout assumed, not verified).
        return { data: [1, 4, 6] };
      case Header.RESET_DEVICE:
        return ACK;
      default:
        return null;
    }
  }
}
