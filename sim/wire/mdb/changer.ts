/**
 * Emulated MDB coin changer (MDB 4.2 §5 / protocols.md §1.5) as a front-end over a `CoinMechPort`:
 * port events become POLL statuses (coin deposited with routing and tube count, escrow request,
 * faults), COIN TYPE becomes `setAcceptance`, DISPENSE becomes `dispense` (reported as "payout busy"
 * on every POLL until it ends), TUBE STATUS reads `tubeLevels`.
 */
import type { Subscription } from 'rxjs';
import type { Clock } from '../../../src/clock.ts';
import type { CoinCounts, CoinMechEvent, CoinMechPort, Minor } from '../../../src/ports/index.ts';
import {
  ADDR,
  encodeChangerSetup,
  encodeChangerStatus,
  encodeIdentification,
  encodeTubeStatus,
  isoCurrencyBcd,
  minorToUnits,
} from '../../../hardware/mdb/codec.ts';
import type { ChangerSimpleKind, MasterCommand } from '../../../hardware/mdb/codec.ts';
import type { Logger } from '../../../hardware/serial/log.ts';
import { ACKED, EmulatedPeripheral, NAKED } from './peripheral.ts';
import type { CommandResult } from './peripheral.ts';

export interface ChangerEmulatorOptions {
  /** Coin value (minor units) per coin type 0..15; the index is the MDB coin type. */
  readonly coins: readonly Minor[];
  /** Coin scaling factor (default: the largest that divides every coin, capped at 255). */
  readonly scaling?: number;
  /** Device decimal places (default 2). */
  readonly decimals?: number;
  /** Machine currency decimals the port's values use (default = `decimals`). */
  readonly currencyDecimals?: number;
  /** ISO 4217 numeric currency (default 978, EUR). */
  readonly currency?: number;
  /** Feature level, 2 or 3 (default 3: answers EXPANSION IDENTIFICATION). */
  readonly level?: number;
  /** Coin types that can go to a tube (bit mask; default every configured coin). */
  readonly tubeRouting?: number;
  /** A tube reads "full" at this count (default 100). */
  readonly tubeFullAt?: number;
  /** Report "payout busy" only this long after DISPENSE (a slow changer; default 0). */
  readonly busyAfterMs?: number;
  /** Needed for `busyAfterMs`. */
  readonly clock?: Clock;
  readonly log?: Logger;
}

/** A mech behind the changer that can lose power mid-payout (`SimCoinMech.halt`). */
export interface PowerCut {
  halt(): void;
}

/** Port fault codes → changer POLL status (MDB 4.2 §5.3). */
const FAULT_STATUS: Readonly<Record<string, ChangerSimpleKind>> = {
  NO_CREDIT: 'noCredit',
  TUBE_SENSOR: 'defectiveTubeSensor',
  DOUBLE_ARRIVAL: 'doubleArrival',
  ACCEPTOR_UNPLUGGED: 'acceptorUnplugged',
  TUBE_JAM: 'tubeJam',
  ROM_CHECKSUM: 'romChecksumError',
  COIN_ROUTING: 'coinRoutingError',
  COIN_JAM: 'coinJam',
  PAYOUT_JAM: 'tubeJam',
  COIN_REMOVAL: 'possibleCreditedCoinRemoval',
};

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

export class MdbChangerEmulator extends EmulatedPeripheral {
  private readonly coins: readonly Minor[];
  private readonly scaling: number;
  private readonly decimals: number;
  private readonly currencyDecimals: number;
  private readonly level: number;
  private readonly routing: number;
  private readonly fullAt: number;
  private readonly currency: number;
  private readonly sub: Subscription;
  private tubes = new Map<Minor, number>();
  private payoutGen = 0;
  private paying = false;
  private busyFrom = 0;
  private unplugged = false;

  constructor(
    private readonly port: CoinMechPort & Partial<PowerCut>,
    private readonly opts: ChangerEmulatorOptions,
  ) {
    super(ADDR.changer, encodeChangerStatus({ kind: 'justReset' }), 16, opts.log);
    this.coins = opts.coins.slice(0, 16);
    this.decimals = opts.decimals ?? 2;
    this.currencyDecimals = opts.currencyDecimals ?? this.decimals;
    const g = this.coins.filter((c) => c > 0).reduce((a, c) => gcd(a, c), 0);
    this.scaling = opts.scaling ?? Math.max(1, Math.min(255, g || 1));
    this.level = opts.level ?? 3;
    this.routing = opts.tubeRouting ?? this.coins.reduce((m, c, i) => (c > 0 ? m | (1 << i) : m), 0);
    this.fullAt = opts.tubeFullAt ?? 100;
    this.currency = isoCurrencyBcd(opts.currency ?? 978);
    this.sub = port.events$.subscribe((e) => this.onPortEvent(e));
    void this.refreshTubes();
  }

  /** Stop listening to the port. */
  dispose(): void {
    this.sub.unsubscribe();
  }

  /** True while a DISPENSE is being paid out. */
  get payoutBusy(): boolean {
    return this.paying;
  }

  protected override persistent(): number[][] {
    const out: number[][] = [];
    if (this.paying && (this.opts.clock?.now() ?? 0) >= this.busyFrom) out.push(encodeChangerStatus({ kind: 'payoutBusy' }));
    if (this.unplugged) out.push(encodeChangerStatus({ kind: 'acceptorUnplugged' }));
    return out;
  }

  protected override onReset(): void {
    // A reset stops tracking the payout in flight (its end is no longer reported) and disables
    // every coin type (MDB 4.2 §5: "all coin types are disabled after a reset"). The payout
    // mechanism stops with it: no coin comes out after the changer has said it reset.
    this.port.halt?.();
    this.payoutGen++;
    this.paying = false;
    this.port.setAcceptance([]).catch(() => undefined);
    void this.refreshTubes();
  }

  protected async handle(c: MasterCommand): Promise<CommandResult> {
    if (c.device !== 'changer') return NAKED;
    switch (c.cmd) {
      case 'setup':
        return { kind: 'data', data: this.setupBlock() };
      case 'tubeStatus':
        await this.refreshTubes();
        return { kind: 'data', data: this.tubeBlock() };
      case 'coinType': {
        const values = this.typesToValues(c.enable);
        try {
          await this.port.setAcceptance(values);
          return ACKED;
        } catch (e) {
          this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'changer emulator: setAcceptance failed');
          return NAKED;
        }
      }
      case 'dispense':
        return this.dispense(c.coinType, c.count);
      case 'expansion':
        if (this.level < 3) return NAKED;
        if (c.sub === 0x00) return { kind: 'data', data: encodeIdentification({ manufacturer: 'VMT', serial: '000000000001', model: 'EMU-CHANGER', version: '0100', features: 0 }) };
        if (c.sub === 0x01) return ACKED;
        if (c.sub === 0x05) return { kind: 'data', data: Uint8Array.from([0x03, 0x00]) }; // "OK", protocols.md §1.5
        return NAKED;
      default:
        return NAKED;
    }
  }

  private dispense(coinType: number, count: number): CommandResult {
    const value = this.coins[coinType] ?? 0;
    if (value <= 0 || this.paying) return NAKED;
    this.paying = true;
    this.busyFrom = (this.opts.clock?.now() ?? 0) + (this.opts.busyAfterMs ?? 0);
    const gen = ++this.payoutGen;
    const plan: CoinCounts = { [value]: count };
    this.port
      .dispense(plan)
      .catch((e: unknown) => {
        this.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'changer emulator: dispense failed');
      })
      .then(() => this.refreshTubes())
      .finally(() => {
        if (gen === this.payoutGen) this.paying = false;
      });
    return ACKED;
  }

  private onPortEvent(e: CoinMechEvent): void {
    switch (e.type) {
      case 'coin': {
        const type = this.coins.indexOf(e.value);
        if (type < 0) {
          // Not a coin this changer knows: the best MDB can say is "slug".
          this.enqueue(encodeChangerStatus({ kind: 'slugs', count: 1 }));
          return;
        }
        if (e.routing === 'tube') this.tubes.set(e.value, (this.tubes.get(e.value) ?? 0) + 1);
        const route = e.routing === 'tube' ? 'tube' : e.routing === 'cashbox' ? 'cashbox' : 'reject';
        this.enqueue(encodeChangerStatus({ kind: 'deposited', coinType: type, route, tubeCount: Math.min(255, this.tubes.get(e.value) ?? 0) }));
        return;
      }
      case 'tubes':
        this.setTubes(e.levels);
        return;
      case 'returnPressed':
        this.enqueue(encodeChangerStatus({ kind: 'escrowRequest' }));
        return;
      case 'slug':
        // The mech could not identify the coin: MDB's POLL status 001yyyyy (MDB 4.2 §5.3).
        this.enqueue(encodeChangerStatus({ kind: 'slugs', count: Math.min(31, e.count) }));
        return;
      case 'fault': {
        if (e.code === 'ACCEPTOR_UNPLUGGED') {
          this.unplugged = !e.cleared;
          return;
        }
        const kind = FAULT_STATUS[e.code];
        if (kind && !e.cleared) this.enqueue(encodeChangerStatus({ kind }));
        return;
      }
    }
  }

  private async refreshTubes(): Promise<void> {
    try {
      this.setTubes(await this.port.tubeLevels());
    } catch {
      // offline port: keep the last known levels
    }
  }

  private setTubes(levels: CoinCounts): void {
    const next = new Map<Minor, number>();
    for (const [k, n] of Object.entries(levels)) next.set(Number(k), n);
    this.tubes = next;
  }

  private typesToValues(mask: number): Minor[] {
    const out = new Set<Minor>();
    this.coins.forEach((v, i) => {
      if (v > 0 && (mask >> i) & 1) out.add(v);
    });
    return [...out];
  }

  private setupBlock(): Uint8Array {
    const credits = this.coins.map((v) => {
      if (v <= 0) return 0;
      const u = minorToUnits(v, this.scaling, this.decimals, this.currencyDecimals);
      return u.ok && u.value <= 254 ? u.value : 0;
    });
    return encodeChangerSetup({ level: this.level, currency: this.currency, scaling: this.scaling, decimals: this.decimals, routing: this.routing, credits });
  }

  private tubeBlock(): Uint8Array {
    // Several coin types of one value share the count on the first of them.
    const counts: number[] = new Array<number>(16).fill(0);
    let full = 0;
    const seen = new Set<Minor>();
    this.coins.forEach((v, i) => {
      if (v <= 0 || seen.has(v) || !((this.routing >> i) & 1)) return;
      seen.add(v);
      const n = this.tubes.get(v) ?? 0;
      counts[i] = Math.min(255, n);
      if (n >= this.fullAt) full |= 1 << i;
    });
    return encodeTubeStatus({ full, counts });
  }
}
