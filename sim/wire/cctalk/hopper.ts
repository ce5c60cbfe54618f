/**
 * ccTalk payout hopper emulator (protocols.md §3.3, §3.5, Flow 18 "serial number" mode): a wire
 * front-end over a small `HopperModel` (one coin at a time: paid, empty or jam). The model can be
 * a plain coin count (`SimpleHopperModel`) or a tube of the sim's coin mech (`tubeHopperModel`).
 *
 * Behaviour: 164 with 0xA5 enables; 167 [serial LSB first ×3][N] (or just [N] with
 * `security: 'none'`) starts a payout when enabled and the serial matches (else NAK) and replies
 * with the new event counter; the motor pays one coin per `payoutPerCoinMs`; an empty hopper
 * runs `payoutTimeoutMs` without a coin, then stops with the payout-timeout flag; a jam stops it
 * at once with the max-current and opto-blocked flags. 166 gives [counter][remaining][paid]
 * [unpaid]; 163 the flags (power-up bit cleared by reading); 172 stops the motor and replies
 * with the coins not paid. Reset/power-up: counter 0, disabled, payout abandoned.
 */
import type { CoinMechPort, Minor } from '../../../src/ports/index.ts';
import { ADDR_HOPPER, Header } from '../../../hardware/cctalk/codec.ts';
import { advanceCounter, HopperFlag, serialBytes } from '../../../hardware/cctalk/events.ts';
import { ACK, CctalkDeviceEmulator, type EmulatorBaseOptions, type Reply } from './device.ts';

export type CoinOutcome = 'paid' | 'empty' | 'jam';

/** One hopper's coins, as the emulator needs them. */
export interface HopperModel {
  readonly coinValue: Minor;
  /** Try to pay one coin. */
  payOne(): CoinOutcome | Promise<CoinOutcome>;
}

/** A hopper holding `count` coins, with a jam switch for tests. */
export class SimpleHopperModel implements HopperModel {
  jammed = false;
  /** Jam after this many more coins (undefined: never). */
  jamAfter: number | undefined;
  /** Coins that left the hopper since creation. */
  dispensed = 0;

  constructor(
    readonly coinValue: Minor,
    public count: number,
  ) {}

  payOne(): CoinOutcome {
    if (this.jamAfter !== undefined) {
      if (this.jamAfter <= 0) this.jammed = true;
      else this.jamAfter--;
    }
    if (this.jammed) return 'jam';
    if (this.count <= 0) return 'empty';
    this.count--;
    this.dispensed++;
    return 'paid';
  }
}

/**
 * A hopper over one tube of a port-level coin mech (e.g. SimCoinMech): each coin is a one-coin
 * `dispense`, so the world's cash accounting stays right. A short result with a jam code is a jam,
 * anything else short is empty.
 */
export function tubeHopperModel(port: CoinMechPort, coinValue: Minor): HopperModel {
  return {
    coinValue,
    async payOne(): Promise<CoinOutcome> {
      try {
        const r = await port.dispense({ [coinValue]: 1 });
        if ((r.paid[coinValue] ?? 0) >= 1) return 'paid';
        return r.faultCode !== undefined && /JAM/i.test(r.faultCode) ? 'jam' : 'empty';
      } catch {
        return 'jam';
      }
    },
  };
}

export interface HopperEmulatorOptions extends Omit<EmulatorBaseOptions, 'address'> {
  readonly model: HopperModel;
  readonly address?: number;
  /** 167 layout: 'serial' (default) or 'none'. */
  readonly security?: 'serial' | 'none';
  /** Time per coin. Default 150 ms (sim timing `payoutPerCoinMs`). */
  readonly payoutPerCoinMs?: number;
  /** Motor run time without a coin before an empty hopper gives up. Default 1000 ms. */
  readonly payoutTimeoutMs?: number;
}

export class CctalkHopperEmulator extends CctalkDeviceEmulator {
  private counter = 0;
  private enabled = false;
  private remaining = 0;
  private paid = 0;
  private unpaid = 0;
  private flags: number = HopperFlag.POWER_UP;
  /** Bumped to stop a running motor loop (stop, reset). */
  private run = 0;

  constructor(private readonly opts: HopperEmulatorOptions) {
    super(
      { ...opts, address: opts.address ?? ADDR_HOPPER },
      { manufacturer: 'VND', category: 'Payout', productCode: 'SIM-HOP', serial: 0x000ad7df, softwareRevision: '1.0' },
    );
  }

  get model(): HopperModel {
    return this.opts.model;
  }

  get eventCounter(): number {
    return this.counter;
  }

  /** True while the motor is paying. */
  get paying(): boolean {
    return this.remaining > 0;
  }

  powerCycle(): void {
    this.run++;
    this.counter = 0;
    this.enabled = false;
    // A payout cut by a reset is forgotten: after power-up the status reads all zeros.
    this.remaining = 0;
    this.paid = 0;
    this.unpaid = 0;
    this.flags = HopperFlag.POWER_UP;
  }

  private status(): number[] {
    return [this.counter, Math.min(255, this.remaining), Math.min(255, this.paid), Math.min(255, this.unpaid)];
  }

  private stop(): void {
    this.run++;
    this.unpaid += this.remaining;
    this.remaining = 0;
  }

  private startPayout(n: number): void {
    const run = ++this.run;
    this.remaining = n;
    this.paid = 0;
    this.unpaid = 0;
    this.flags &= ~(HopperFlag.MAX_CURRENT | HopperFlag.PAYOUT_TIMEOUT | HopperFlag.OPTO_BLOCKED_DURING_PAYOUT | HopperFlag.MOTOR_REVERSED);
    const perCoin = this.opts.payoutPerCoinMs ?? 150;
    const step = (): void => {
      if (run !== this.run || this.remaining <= 0) return;
      void Promise.resolve(this.opts.model.payOne()).then((outcome) => {
        if (run !== this.run) return;
        if (outcome === 'paid') {
          this.paid++;
          this.remaining--;
          if (this.remaining > 0) this.clock.setTimeout(step, perCoin);
          return;
        }
        if (outcome === 'jam') {
          this.flags |= HopperFlag.MAX_CURRENT | HopperFlag.OPTO_BLOCKED_DURING_PAYOUT;
          this.stop();
          return;
        }
        // Empty: the motor keeps turning until its timeout, then gives up.
        this.clock.setTimeout(() => {
          if (run !== this.run) return;
          this.flags |= HopperFlag.PAYOUT_TIMEOUT;
          this.stop();
        }, Math.max(0, (this.opts.payoutTimeoutMs ?? 1000) - perCoin));
      });
    };
    this.clock.setTimeout(step, perCoin);
  }

  protected handle(header: number, data: Uint8Array): Reply {
    switch (header) {
      case Header.TEST_HOPPER: {
        const f = this.flags | (this.enabled ? 0 : HopperFlag.PAYOUT_DISABLED);
        this.flags &= ~HopperFlag.POWER_UP;
        return { data: [f] };
      }
      case Header.ENABLE_HOPPER:
        if (data.length !== 1) return 'nak';
        this.enabled = data[0] === 0xa5;
        return ACK;
      case Header.DISPENSE_HOPPER_COINS: {
        if (this.remaining > 0) return 'busy';
        const secure = this.opts.security !== 'none';
        const want = secure ? 4 : 1;
        if (data.length !== want || !this.enabled) return 'nak';
        if (secure) {
          const s = serialBytes(this.identity.serial);
          if (data[0] !== s[0] || data[1] !== s[1] || data[2] !== s[2]) return 'nak';
        }
        const n = data[want - 1] ?? 0;
        this.counter = advanceCounter(this.counter);
        if (n > 0) this.startPayout(n);
        else {
          this.paid = 0;
          this.unpaid = 0;
        }
        return { data: [this.counter] };
      }
      case Header.HOPPER_STATUS:
        return { data: this.status() };
      case Header.EMERGENCY_STOP: {
        const left = this.remaining;
        this.stop();
        return { data: [Math.min(255, left)] };
      }
      default:
        return 'nak';
    }
  }
}
