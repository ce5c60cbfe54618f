/**
 * Emulated MDB bill validator (MDB 4.2 §6 / protocols.md §1.6) over a `BillValidatorPort`: escrow /
 * stacked / returned / rejected events become POLL routing statuses, BILL TYPE becomes
 * `setAcceptance`, ESCROW becomes `stack()` / `returnBill()`, STACKER counts what was stacked.
 */
import type { Subscription } from 'rxjs';
import type { BillEvent, BillValidatorPort, Minor } from '../../../src/ports/index.ts';
import { ADDR, encodeBillSetup, encodeBillStatus, encodeIdentification, encodeStacker, isoCurrencyBcd, minorToUnits } from '../../../hardware/mdb/codec.ts';
import type { BillSimpleKind, MasterCommand } from '../../../hardware/mdb/codec.ts';
import type { Logger } from '../../../hardware/serial/log.ts';
import { ACKED, EmulatedPeripheral, NAKED } from './peripheral.ts';
import type { CommandResult } from './peripheral.ts';

export interface ValidatorEmulatorOptions {
  /** Bill value (minor units) per bill type 0..15. */
  readonly bills: readonly Minor[];
  /** Bill scaling factor (2 bytes; default the largest divisor of every bill, capped at 65535). */
  readonly scaling?: number;
  readonly decimals?: number;
  readonly currencyDecimals?: number;
  /** ISO 4217 numeric (default 978). */
  readonly currency?: number;
  readonly level?: number;
  readonly stackerCapacity?: number;
  /** Stacker count at start. */
  readonly stacked?: number;
  readonly log?: Logger;
}

const FAULT_STATUS: Readonly<Record<string, BillSimpleKind>> = {
  BILL_JAM: 'validatorJammed',
  BILL_MOTOR: 'defectiveMotor',
  BILL_SENSOR: 'sensorProblem',
  BILL_REMOVED: 'billRemoved',
  ROM_CHECKSUM: 'romChecksumError',
  BILL_REMOVAL: 'possibleCreditedBillRemoval',
};

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

export class MdbValidatorEmulator extends EmulatedPeripheral {
  private readonly bills: readonly Minor[];
  private readonly scaling: number;
  private readonly decimals: number;
  private readonly currencyDecimals: number;
  private readonly level: number;
  private readonly capacity: number;
  private readonly currency: number;
  private readonly sub: Subscription;
  private escrowMask = 0;
  private inEscrow: number | undefined;
  private stackedCount: number;
  private cashboxOut = false;

  constructor(
    private readonly port: BillValidatorPort,
    opts: ValidatorEmulatorOptions,
  ) {
    super(ADDR.bill, encodeBillStatus({ kind: 'justReset' }), 16, opts.log);
    this.bills = opts.bills.slice(0, 16);
    this.decimals = opts.decimals ?? 2;
    this.currencyDecimals = opts.currencyDecimals ?? this.decimals;
    const g = this.bills.filter((b) => b > 0).reduce((a, b) => gcd(a, b), 0);
    this.scaling = opts.scaling ?? Math.max(1, Math.min(0xffff, g || 1));
    this.level = opts.level ?? 1;
    this.capacity = opts.stackerCapacity ?? 500;
    this.stackedCount = opts.stacked ?? 0;
    this.currency = isoCurrencyBcd(opts.currency ?? 978);
    this.sub = port.events$.subscribe((e) => this.onPortEvent(e));
  }

  dispose(): void {
    this.sub.unsubscribe();
  }

  get stackerCount(): number {
    return this.stackedCount;
  }

  protected override persistent(): number[][] {
    return this.cashboxOut ? [encodeBillStatus({ kind: 'cashBoxOutOfPosition' })] : [];
  }

  protected override onReset(): void {
    this.escrowMask = 0;
    this.port.setAcceptance([]).catch(() => undefined);
    // A reset validator hands back the bill it held (the driver assumes the same; unconfirmed).
    if (this.inEscrow !== undefined) this.port.returnBill().catch(() => undefined);
  }

  protected async handle(c: MasterCommand): Promise<CommandResult> {
    if (c.device !== 'bill') return NAKED;
    switch (c.cmd) {
      case 'setup':
        return { kind: 'data', data: this.setupBlock() };
      case 'security':
        return ACKED;
      case 'billType':
        this.escrowMask = c.escrow;
        try {
          await this.port.setAcceptance(this.typesToValues(c.enable));
          return ACKED;
        } catch {
          return NAKED;
        }
      case 'escrow': {
        if (this.inEscrow === undefined) {
          this.enqueue(encodeBillStatus({ kind: 'invalidEscrowRequest' }));
          return ACKED;
        }
        const act = c.stack ? this.port.stack() : this.port.returnBill();
        act.catch(() => this.enqueue(encodeBillStatus({ kind: 'invalidEscrowRequest' })));
        return ACKED;
      }
      case 'stacker':
        return { kind: 'data', data: encodeStacker({ full: this.stackedCount >= this.capacity, count: this.stackedCount }) };
      case 'expansion':
        if (c.sub === 0x00) return { kind: 'data', data: encodeIdentification({ manufacturer: 'VMT', serial: '000000000002', model: 'EMU-VALIDATOR', version: '0100', features: 0 }, false) };
        return NAKED;
      default:
        return NAKED;
    }
  }

  private onPortEvent(e: BillEvent): void {
    switch (e.type) {
      case 'escrow': {
        const t = this.bills.indexOf(e.value);
        if (t < 0) {
          this.enqueue(encodeBillStatus({ kind: 'billRejected' }));
          return;
        }
        this.inEscrow = t;
        this.enqueue(encodeBillStatus({ kind: 'bill', action: 'escrow', billType: t }));
        // Without escrow enabled for this type the validator stacks at once (MDB 4.2 §6 BILL TYPE).
        if (!((this.escrowMask >> t) & 1)) this.port.stack().catch(() => undefined);
        return;
      }
      case 'stacked':
      case 'returned': {
        const t = this.bills.indexOf(e.value);
        this.inEscrow = undefined;
        if (t < 0) return;
        if (e.type === 'stacked') this.stackedCount++;
        this.enqueue(encodeBillStatus({ kind: 'bill', action: e.type, billType: t }));
        return;
      }
      case 'rejected':
        this.enqueue(encodeBillStatus({ kind: 'billRejected' }));
        return;
      case 'fault': {
        if (e.code === 'CASHBOX_OUT') {
          this.cashboxOut = !e.cleared;
          return;
        }
        const kind = FAULT_STATUS[e.code];
        if (kind && !e.cleared) this.enqueue(encodeBillStatus({ kind }));
        return;
      }
    }
  }

  private typesToValues(mask: number): Minor[] {
    const out = new Set<Minor>();
    this.bills.forEach((v, i) => {
      if (v > 0 && (mask >> i) & 1) out.add(v);
    });
    return [...out];
  }

  private setupBlock(): Uint8Array {
    const credits = this.bills.map((v) => {
      if (v <= 0) return 0;
      const u = minorToUnits(v, this.scaling, this.decimals, this.currencyDecimals);
      return u.ok && u.value <= 255 ? u.value : 0;
    });
    return encodeBillSetup({
      level: this.level,
      currency: this.currency,
      scaling: this.scaling,
      decimals: this.decimals,
      stackerCapacity: this.capacity,
      security: 0,
      escrow: true,
      credits,
    });
  }
}
