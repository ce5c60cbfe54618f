/**
 * Fake coin changer: validates coins against the acceptance list, routes them to a tube (every
 * currency coin has one) or, when the tube is full, to the cashbox, and pays out coin by coin from
 * the physical tubes. Like an MDB changer after reset (MDB 4.2 §5 / protocols.md §1.5) it starts
 * with every coin type disabled: the controller enables them with setAcceptance.
 */
import { Subject, type Observable } from 'rxjs';
import { sleep } from '../../src/clock.ts';
import type { CoinCounts, CoinMechEvent, CoinMechPort, CoinRouting, Minor, PayoutResult } from '../../src/ports/index.ts';
import type { FaultChange } from '../faults.ts';
import { addCount, type MutableCounts } from '../world.ts';
import { SimDevice, isPositiveWhole, type SimDeps } from './base.ts';

/** `jammed`: the coin stuck in the acceptor (coin-jam fault). */
export type CoinInsertResult = CoinRouting | 'jammed';

export class SimCoinMech extends SimDevice implements CoinMechPort {
  readonly events$: Observable<CoinMechEvent>;
  private readonly events = new Subject<CoinMechEvent>();
  private acceptance = new Set<Minor>();
  private paying = false;
  /** Power was cut during a payout: no further coin comes out of it. */
  private halted = false;
  /** A coin is stuck in the acceptor path; more coins stick until the fault is cleared. */
  private jammed = false;

  constructor(deps: SimDeps) {
    super('coin', deps);
    this.events$ = this.events.asObservable();
  }

  /** The denominations currently enabled. */
  get accepted(): readonly Minor[] {
    return [...this.acceptance].sort((a, b) => a - b);
  }

  get busy(): boolean {
    return this.paying;
  }

  /**
   * The mech loses power (its changer front-end resets): a payout in progress stops before its
   * next coin. The coins already paid stay paid; the tube counts say so.
   */
  halt(): void {
    if (this.paying) this.halted = true;
  }

  async setAcceptance(values: readonly Minor[]): Promise<void> {
    this.assertOnline();
    const bad = values.filter((v) => !this.world.isCoin(v));
    if (bad.length > 0) throw this.error('DEVICE_REJECTED', `not coins of this currency: ${bad.join(', ')}`);
    this.acceptance = new Set(values);
  }

  async tubeLevels(): Promise<CoinCounts> {
    this.assertOnline();
    return this.reportedLevels();
  }

  /** What the tube sensors say: physical, plus coins out of reach (tube-empty), plus any tube-count-wrong offset. */
  reportedLevels(): CoinCounts {
    const levels: MutableCounts = {};
    for (const d of this.world.coins) {
      let n = this.world.tubeCount(d) + (this.world.stuck.tubeCoins[d] ?? 0);
      for (const f of this.faults.find('tube-count-wrong', (x) => x.coin === d)) n += f.delta;
      levels[d] = Math.max(0, n);
    }
    return levels;
  }

  async dispense(plan: CoinCounts): Promise<PayoutResult> {
    this.assertOnline();
    if (this.paying) throw this.error('DEVICE_BUSY', 'a payout is already running');
    const order: [Minor, number][] = [];
    for (const [key, n] of Object.entries(plan)) {
      const d = Number(key);
      if (!this.world.isCoin(d)) throw this.error('DEVICE_REJECTED', `cannot pay ${key}: not a coin of this currency`);
      if (!Number.isInteger(n) || n < 0) throw this.error('DEVICE_REJECTED', `cannot pay ${String(n)} coins of ${d}`);
      if (n > 0) order.push([d, n]);
    }
    // Largest coins first, as changers empty tubes in a fixed order.
    order.sort((a, b) => b[0] - a[0]);
    const short = this.faults.take('payout-short');
    this.paying = true;
    this.halted = false;
    const paid: MutableCounts = {};
    let count = 0;
    let faultCode: string | undefined;
    try {
      outer: for (const [d, n] of order) {
        for (let i = 0; i < n; i++) {
          // Each coin is one payout cycle (≥100 ms per coin, MDB 4.2 §5 / protocols.md §1.5 DISPENSE).
          await sleep(this.clock, this.timing.payoutPerCoinMs);
          if (this.halted) {
            faultCode = 'POWER_CUT';
            break outer;
          }
          if (!this.online) {
            faultCode = 'DEVICE_OFFLINE';
            break outer;
          }
          if (short && count >= short.count) {
            faultCode = 'PAYOUT_JAM';
            break outer;
          }
          if (!this.world.payCoin(d)) {
            faultCode = 'TUBE_EMPTY';
            break outer;
          }
          addCount(paid, d, 1);
          count += 1;
        }
      }
    } finally {
      this.paying = false;
    }
    this.emit({ type: 'tubes', levels: this.reportedLevels() });
    return faultCode === undefined ? { paid, complete: true } : { paid, complete: false, faultCode };
  }

  // ------------------------------------------------------------------ customer and service side

  /**
   * The customer drops a coin in (from the wallet, or the pocket when the wallet has none of it).
   * Resolves after `coinValidationMs` with where it went. An offline (unpowered) acceptor lets the
   * coin fall through to the return cup without a report.
   */
  insertCoin(value: Minor): Promise<CoinInsertResult> {
    if (!isPositiveWhole(value)) return Promise.reject(new RangeError(`a coin must be a positive whole number of minor units, got ${value}`));
    this.world.customerInserts('coin', value);
    return new Promise((resolve) => {
      this.clock.setTimeout(() => resolve(this.validate(value)), this.timing.coinValidationMs);
    });
  }

  /** The coin-return lever. Returns false when offline (nobody hears it). */
  pressReturn(): boolean {
    return this.emit({ type: 'returnPressed' });
  }

  /** Service fills a tube through the mech: the world counts it as service fill; the mech reports fresh levels. */
  manualFill(d: Minor, n: number): void {
    this.world.fillTube(d, n);
    this.emit({ type: 'tubes', levels: this.reportedLevels() });
  }

  protected override onFault(change: FaultChange): void {
    const f = change.fault;
    if (f.name === 'tube-empty') {
      if (change.kind === 'activated') this.world.hideTube(f.coin);
      else if (change.kind === 'cleared') {
        this.world.restoreTube(f.coin);
        this.emit({ type: 'tubes', levels: this.reportedLevels() });
      }
    } else if (f.name === 'coin-jam' && change.kind === 'cleared' && this.jammed) {
      this.jammed = false;
      this.world.releaseStuckCoins();
      this.emit({ type: 'fault', code: 'COIN_JAM', cleared: true });
    }
  }

  private validate(value: Minor): CoinInsertResult {
    if (!this.online) {
      this.world.coinToCup(value);
      return 'rejected';
    }
    if (this.jammed || this.faults.has('coin-jam')) {
      this.world.coinStuck(value);
      if (!this.jammed) {
        this.jammed = true;
        this.emit({ type: 'fault', code: 'COIN_JAM' });
      }
      return 'jammed';
    }
    if (!this.world.isCoin(value)) {
      // Not a coin of this currency: the validator cannot identify it. Like an MDB changer (slug
      // status, MDB 4.2 §5.3 POLL) the mech counts it as a slug and drops it into the return cup.
      this.world.coinToCup(value);
      this.emit({ type: 'slug', count: 1 });
      return 'rejected';
    }
    if (!this.acceptance.has(value)) {
      this.world.coinToCup(value);
      this.emit({ type: 'coin', value, routing: 'rejected' });
      return 'rejected';
    }
    const inTube = this.world.tubeCount(value) + (this.world.stuck.tubeCoins[value] ?? 0);
    const routing = inTube < this.world.tubeCapacity ? 'tube' : 'cashbox';
    this.world.coinAccepted(value, routing);
    this.emit({ type: 'coin', value, routing });
    return routing;
  }

  private emit(event: CoinMechEvent): boolean {
    if (!this.online) return false;
    this.events.next(event);
    return true;
  }
}
