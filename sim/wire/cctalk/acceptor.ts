/**
 * ccTalk coin acceptor emulator: a wire front-end over a port-level `CoinMechPort` (the sim's
 * SimCoinMech, or a test double). Port events become entries in a REAL 5-result event buffer with
 * an event counter (protocols.md §3.4): newest first, a new event ripples the others down and the
 * 6th oldest falls off; the counter wraps 255 → 1 and is 0 only after power-up/reset. A host that
 * does not read 229 in time loses events, and must notice from the counter.
 *
 * Mapping from port events:
 *   coin tube          → [position of that value][sorter path: `sorterPaths[value]` or 0]
 *   coin cashbox       → [position of that value][0]
 *   coin rejected      → [0][1] reject coin
 *   fault COIN_JAM     → [0][14] credit sensor blocked (other fault codes → [0][255])
 *   returnPressed      → [0][254] coin return mechanism activated
 * Inhibits: 231 (per-coin mask) and 228 (master) become `port.setAcceptance(values)`; after
 * power-up everything is inhibited (master inhibit active), as a real acceptor comes up.
 */
import type { Subscription } from 'rxjs';
import type { CoinMechPort, Minor } from '../../../src/ports/index.ts';
import { ADDR_COIN_ACCEPTOR, Header } from '../../../hardware/cctalk/codec.ts';
import { advanceCounter } from '../../../hardware/cctalk/events.ts';
import { ACK, ascii, CctalkDeviceEmulator, type EmulatorBaseOptions, type Reply } from './device.ts';

export interface EmulatedCoin {
  /** Coin position 1–16. */
  readonly position: number;
  readonly value: Minor;
  /** The 6-character coin id (184); default `${country}${value as 3 digits}A`, e.g. "EU200A". */
  readonly id?: string;
}

export interface AcceptorEmulatorOptions extends Omit<EmulatorBaseOptions, 'address'> {
  /** The port-level coin mechanism this emulator fronts. */
  readonly port: CoinMechPort;
  readonly coins: readonly EmulatedCoin[];
  readonly address?: number;
  /** Country code for default coin ids. Default "EU". */
  readonly country?: string;
  /** Value → sorter path reported with credits the port routed to a tube (0 = none). */
  readonly sorterPaths?: Readonly<Record<number, number>>;
  /** 249 reply [units, value]; default [2, 10] = 100 ms. [0, 0] means "see the manual". */
  readonly pollingPriority?: readonly [number, number];
}

export class CctalkAcceptorEmulator extends CctalkDeviceEmulator {
  private counter = 0;
  /** 5 result pairs, newest first. */
  private ring: [number, number][] = [];
  private mask = 0;
  private master = false;
  private readonly byValue = new Map<Minor, number>();
  private readonly byPosition = new Map<number, EmulatedCoin>();
  private readonly portSub: Subscription;

  constructor(private readonly opts: AcceptorEmulatorOptions) {
    super(
      { ...opts, address: opts.address ?? ADDR_COIN_ACCEPTOR },
      { manufacturer: 'VND', category: 'Coin Acceptor', productCode: 'SIM-CA', serial: 0x00bc614e, softwareRevision: '1.0' },
    );
    for (const c of opts.coins) {
      if (!Number.isInteger(c.position) || c.position < 1 || c.position > 16)
        throw new RangeError(`coin position must be 1..16, got ${String(c.position)}`);
      this.byPosition.set(c.position, c);
      if (!this.byValue.has(c.value)) this.byValue.set(c.value, c.position);
    }
    this.portSub = opts.port.events$.subscribe((e) => {
      switch (e.type) {
        case 'coin': {
          if (e.routing === 'rejected') {
            this.pushEvent(0, 1);
            return;
          }
          const pos = this.byValue.get(e.value);
          // A coin the table does not know still must not vanish silently: report it as rejected.
          if (pos === undefined) this.pushEvent(0, 1);
          // Only a coin the port put in a tube took the sorter path to it; cashbox coins report 0.
          else this.pushEvent(pos, e.routing === 'tube' ? (opts.sorterPaths?.[e.value] ?? 0) : 0);
          return;
        }
        case 'fault':
          if (!e.cleared) this.pushEvent(0, e.code === 'COIN_JAM' ? 14 : 255);
          return;
        case 'returnPressed':
          this.pushEvent(0, 254);
          return;
        case 'tubes':
          return;
      }
    });
    this.applyAcceptance();
  }

  /** The event counter as the device holds it. */
  get eventCounter(): number {
    return this.counter;
  }

  /** The per-coin inhibit mask (bit set = enabled) and master enable, as last set by the host. */
  get inhibits(): { readonly mask: number; readonly master: boolean } {
    return { mask: this.mask, master: this.master };
  }

  /** Put a raw result pair into the buffer (tests: error codes, overflow, wrap). */
  pushEvent(a: number, b: number): void {
    this.counter = advanceCounter(this.counter);
    this.ring.unshift([a & 0xff, b & 0xff]);
    if (this.ring.length > 5) this.ring.length = 5;
  }

  /** Set the counter directly (tests of the 255 → 1 wrap without 255 coins). */
  setCounter(n: number): void {
    this.counter = n & 0xff;
  }

  powerCycle(): void {
    this.counter = 0;
    this.ring = [];
    this.mask = 0;
    this.master = false;
    this.applyAcceptance();
  }

  override close(): void {
    this.portSub.unsubscribe();
    super.close();
  }

  private coinId(c: EmulatedCoin): string {
    return c.id ?? `${this.opts.country ?? 'EU'}${String(c.value).padStart(3, '0')}A`;
  }

  private applyAcceptance(): void {
    const values: Minor[] = [];
    if (this.master) for (const [p, c] of this.byPosition) if (this.mask & (1 << (p - 1))) values.push(c.value);
    this.opts.port.setAcceptance([...new Set(values)]).catch((e: unknown) => {
      this.log.warn({ device: this.address, err: String(e) }, 'ccTalk acceptor emulator: port refused the acceptance list');
    });
  }

  protected handle(header: number, data: Uint8Array): Reply {
    switch (header) {
      case Header.READ_BUFFERED_CREDIT: {
        const out = [this.counter];
        for (let i = 0; i < 5; i++) out.push(...(this.ring[i] ?? [0, 0]));
        return { data: out };
      }
      case Header.MODIFY_INHIBIT:
        if (data.length !== 2) return 'nak';
        this.mask = (data[0] ?? 0) | ((data[1] ?? 0) << 8);
        this.applyAcceptance();
        return ACK;
      case Header.INHIBIT_STATUS:
        return { data: [this.mask & 0xff, (this.mask >> 8) & 0xff] };
      case Header.MODIFY_MASTER_INHIBIT:
        if (data.length !== 1) return 'nak';
        this.master = ((data[0] ?? 0) & 1) === 1;
        this.applyAcceptance();
        return ACK;
      case Header.MASTER_INHIBIT_STATUS:
        return { data: [this.master ? 1 : 0] };
      case Header.REQUEST_COIN_ID: {
        const pos = data[0] ?? 0;
        if (data.length !== 1 || pos < 1 || pos > 16) return 'nak';
        const c = this.byPosition.get(pos);
        return { data: ascii(c ? this.coinId(c) : '......') };
      }
      case Header.POLLING_PRIORITY:
        return { data: [...(this.opts.pollingPriority ?? [2, 10])] };
      default:
        return 'nak';
    }
  }
}
