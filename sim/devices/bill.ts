/**
 * Fake bill validator with escrow: a valid, enabled bill waits in escrow (not credit) until the
 * controller stacks it (credit) or returns it (MDB 4.2 §6 / protocols.md §1.6: a bill is secure only
 * after BILL STACKED). Starts with every bill type disabled, like an MDB validator after reset.
 */
import { Subject, type Observable } from 'rxjs';
import { sleep } from '../../src/clock.ts';
import type { BillEvent, BillValidatorPort, Minor } from '../../src/ports/index.ts';
import type { FaultChange } from '../faults.ts';
import { SimDevice, isPositiveWhole, type SimDeps } from './base.ts';

/**
 * `escrow`: held, waiting for stack/return. `rejected`: refused as unknown or disabled (event
 * `rejected`). `refused`: the slot did not take it at all (offline, busy with another bill, jammed);
 * no event. Rejected and refused bills go back to the wallet.
 */
export type BillInsertResult = 'escrow' | 'rejected' | 'refused';

export class SimBillValidator extends SimDevice implements BillValidatorPort {
  readonly events$: Observable<BillEvent>;
  private readonly events = new Subject<BillEvent>();
  private acceptance = new Set<Minor>();
  /** A bill is being validated (the slot takes one at a time). */
  private validating = false;
  /** A stack or return is moving the escrowed bill. */
  private moving = false;
  private jammed = false;

  constructor(deps: SimDeps) {
    super('bill', deps);
    this.events$ = this.events.asObservable();
  }

  get accepted(): readonly Minor[] {
    return [...this.acceptance].sort((a, b) => a - b);
  }

  async setAcceptance(values: readonly Minor[]): Promise<void> {
    this.assertOnline();
    const bad = values.filter((v) => !this.world.isBill(v));
    if (bad.length > 0) throw this.error('DEVICE_REJECTED', `not bills of this currency: ${bad.join(', ')}`);
    this.acceptance = new Set(values);
  }

  /** Moves the escrowed bill to the stacker after `billStackMs`, emits `stacked`, then resolves. */
  async stack(): Promise<void> {
    await this.moveEscrow('stack');
  }

  /** Hands the escrowed bill back after `billStackMs`, emits `returned`, then resolves. */
  async returnBill(): Promise<void> {
    await this.moveEscrow('return');
  }

  // ------------------------------------------------------------------ customer side

  /** The customer feeds a bill (from the wallet, or the pocket). Resolves after `billValidationMs`. */
  insertBill(value: Minor): Promise<BillInsertResult> {
    if (!isPositiveWhole(value)) return Promise.reject(new RangeError(`a bill must be a positive whole number of minor units, got ${value}`));
    if (!this.online || this.validating || this.jammed || this.world.escrow !== null) return Promise.resolve('refused');
    this.world.customerInserts('bill', value);
    this.validating = true;
    return new Promise((resolve) => {
      this.clock.setTimeout(() => {
        this.validating = false;
        resolve(this.validate(value));
      }, this.timing.billValidationMs);
    });
  }

  protected override onFault(change: FaultChange): void {
    if (change.fault.name !== 'bill-jam' || change.kind !== 'cleared' || !this.jammed) return;
    this.jammed = false;
    const released = this.world.releaseStuckBills();
    this.emit({ type: 'fault', code: 'BILL_JAM', cleared: true });
    for (const [key, n] of Object.entries(released)) for (let i = 0; i < n; i++) this.emit({ type: 'returned', value: Number(key) });
  }

  private validate(value: Minor): BillInsertResult {
    if (!this.online) {
      this.world.billBackToWallet(value);
      return 'refused';
    }
    if (!this.world.isBill(value) || !this.acceptance.has(value)) {
      this.world.billBackToWallet(value);
      this.emit({ type: 'rejected' });
      return 'rejected';
    }
    this.world.billToEscrow(value);
    this.emit({ type: 'escrow', value });
    return 'escrow';
  }

  private async moveEscrow(how: 'stack' | 'return'): Promise<void> {
    this.assertOnline();
    if (this.moving) throw this.error('DEVICE_BUSY', 'the escrowed bill is already moving');
    if (this.world.escrow === null) throw this.error('DEVICE_REJECTED', `nothing in escrow to ${how}`);
    this.moving = true;
    try {
      await sleep(this.clock, this.timing.billStackMs);
    } finally {
      this.moving = false;
    }
    // An offline spell during the move aborts it: the bill stays in escrow.
    if (!this.online) throw this.error('DEVICE_OFFLINE', `went offline during ${how}; the bill is still in escrow`);
    if (this.world.escrow === null) throw this.error('DEVICE_REJECTED', `nothing in escrow to ${how}`);
    if (how === 'return') {
      const value = this.world.returnEscrow();
      this.emit({ type: 'returned', value });
      return;
    }
    if (this.faults.has('bill-jam')) {
      const value = this.world.jamEscrow();
      this.jammed = true;
      this.emit({ type: 'fault', code: 'BILL_JAM' });
      throw this.error('BILL_JAM', `the ${value} bill jammed on its way to the stacker`, { value });
    }
    const value = this.world.stackEscrow();
    this.emit({ type: 'stacked', value });
  }

  private emit(event: BillEvent): boolean {
    if (!this.online) return false;
    this.events.next(event);
    return true;
  }
}
