/**
 * Hand-written port-level doubles (the "device" behind each MDB emulator) with a customer side and
 * precise fault hooks, all on the VirtualClock.
 */
import { BehaviorSubject, Subject } from 'rxjs';
import type { Clock } from '../../../src/clock.ts';
import { sleep } from '../../../src/clock.ts';
import { DeviceError, ONLINE } from '../../../src/ports/index.ts';
import type {
  BillEvent,
  BillValidatorPort,
  CashlessEvent,
  CashlessPort,
  CoinCounts,
  CoinMechEvent,
  CoinMechPort,
  LinkState,
  Minor,
  PayoutResult,
} from '../../../src/ports/index.ts';

export class FakeCoinMech implements CoinMechPort {
  readonly name = 'coin';
  readonly link$ = new BehaviorSubject<LinkState>(ONLINE);
  readonly events = new Subject<CoinMechEvent>();
  readonly events$ = this.events.asObservable();
  accepted = new Set<Minor>();
  tubes: Record<number, number>;
  cashbox: Record<number, number> = {};
  cup: Minor[] = [];
  /** Stop a payout after this many coins (a jam), with the given status. */
  jamAfter: number | undefined;
  private halted = false;
  payouts: CoinCounts[] = [];

  constructor(
    private readonly clock: Clock,
    tubes: Record<number, number>,
    readonly capacity = 50,
    readonly perCoinMs = 150,
  ) {
    this.tubes = { ...tubes };
  }

  async setAcceptance(values: readonly Minor[]): Promise<void> {
    this.accepted = new Set(values);
  }

  async tubeLevels(): Promise<CoinCounts> {
    return { ...this.tubes };
  }

  /** The changer loses power mid-payout: no more coins come out. */
  halt(): void {
    this.halted = true;
  }

  async dispense(plan: CoinCounts): Promise<PayoutResult> {
    this.payouts.push({ ...plan });
    this.halted = false;
    const paid: Record<number, number> = {};
    let n = 0;
    for (const [k, count] of Object.entries(plan)) {
      const v = Number(k);
      for (let i = 0; i < count; i++) {
        await sleep(this.clock, this.perCoinMs);
        if (this.halted) return { paid, complete: false, faultCode: 'HALTED' };
        if (this.jamAfter !== undefined && n >= this.jamAfter) {
          this.events.next({ type: 'fault', code: 'PAYOUT_JAM' });
          return { paid, complete: false, faultCode: 'PAYOUT_JAM' };
        }
        if ((this.tubes[v] ?? 0) <= 0) return { paid, complete: false, faultCode: 'TUBE_EMPTY' };
        this.tubes[v] = (this.tubes[v] ?? 0) - 1;
        paid[v] = (paid[v] ?? 0) + 1;
        this.cup.push(v);
        n++;
      }
    }
    this.events.next({ type: 'tubes', levels: { ...this.tubes } });
    return { paid, complete: true };
  }

  /** The customer drops a coin. */
  insert(value: Minor): void {
    if (!this.accepted.has(value)) {
      this.cup.push(value);
      this.events.next({ type: 'coin', value, routing: 'rejected' });
      return;
    }
    const inTube = this.tubes[value] ?? 0;
    if (inTube < this.capacity) {
      this.tubes[value] = inTube + 1;
      this.events.next({ type: 'coin', value, routing: 'tube' });
    } else {
      this.cashbox[value] = (this.cashbox[value] ?? 0) + 1;
      this.events.next({ type: 'coin', value, routing: 'cashbox' });
    }
  }

  pressReturn(): void {
    this.events.next({ type: 'returnPressed' });
  }

  fault(code: string, cleared?: boolean): void {
    this.events.next(cleared ? { type: 'fault', code, cleared } : { type: 'fault', code });
  }
}

export class FakeBillValidator implements BillValidatorPort {
  readonly name = 'bill';
  readonly link$ = new BehaviorSubject<LinkState>(ONLINE);
  readonly events = new Subject<BillEvent>();
  readonly events$ = this.events.asObservable();
  accepted = new Set<Minor>();
  escrowed: Minor | undefined;
  stacker: Minor[] = [];
  returned: Minor[] = [];

  constructor(
    private readonly clock: Clock,
    readonly stackMs = 800,
  ) {}

  async setAcceptance(values: readonly Minor[]): Promise<void> {
    this.accepted = new Set(values);
  }

  insert(value: Minor): 'escrow' | 'rejected' {
    if (!this.accepted.has(value) || this.escrowed !== undefined) {
      this.events.next({ type: 'rejected' });
      return 'rejected';
    }
    this.escrowed = value;
    this.events.next({ type: 'escrow', value });
    return 'escrow';
  }

  async stack(): Promise<void> {
    const v = this.escrowed;
    if (v === undefined) throw new DeviceError('DEVICE_REJECTED', 'bill', 'nothing in escrow');
    this.clock.setTimeout(() => {
      this.escrowed = undefined;
      this.stacker.push(v);
      this.events.next({ type: 'stacked', value: v });
    }, this.stackMs);
  }

  async returnBill(): Promise<void> {
    const v = this.escrowed;
    if (v === undefined) throw new DeviceError('DEVICE_REJECTED', 'bill', 'nothing in escrow');
    this.clock.setTimeout(() => {
      this.escrowed = undefined;
      this.returned.push(v);
      this.events.next({ type: 'returned', value: v });
    }, 300);
  }

  fault(code: string): void {
    this.events.next({ type: 'fault', code });
  }
}

export class FakeCashless implements CashlessPort {
  readonly name = 'card';
  readonly link$ = new BehaviorSubject<LinkState>(ONLINE);
  readonly events = new Subject<CashlessEvent>();
  readonly events$ = this.events.asObservable();
  enabled = false;
  session: 'none' | 'idle' | 'pending' | 'approved' = 'none';
  balance: Minor;
  charged: Minor = 0;
  reverted: Minor = 0;
  approved: Minor = 0;
  denyNext = false;
  private pendingPrice = 0;
  private timer: unknown;

  constructor(
    private readonly clock: Clock,
    balance = 500,
    readonly approvalMs = 800,
  ) {
    this.balance = balance;
  }

  async enable(on: boolean): Promise<void> {
    this.enabled = on;
  }

  /** The customer presents a card. */
  tap(showFunds = true): boolean {
    if (!this.enabled || this.session !== 'none') return false;
    this.session = 'idle';
    this.events.next({ type: 'sessionBegin', funds: showFunds ? this.balance : null });
    return true;
  }

  /** The customer presses cancel on the reader. */
  cancel(): void {
    this.events.next({ type: 'sessionCancel' });
  }

  async requestVend(price: Minor, _item: number): Promise<void> {
    if (this.session !== 'idle') throw new DeviceError('DEVICE_REJECTED', 'card', 'vend out of sequence');
    this.session = 'pending';
    this.pendingPrice = price;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.denyNext || price > this.balance) {
        this.denyNext = false;
        this.session = 'idle';
        this.events.next({ type: 'vendDenied' });
      } else {
        this.session = 'approved';
        this.approved += price;
        this.events.next({ type: 'vendApproved', amount: price });
      }
    }, this.approvalMs);
  }

  async vendSucceeded(_item: number): Promise<void> {
    if (this.session !== 'approved') throw new DeviceError('DEVICE_REJECTED', 'card', 'success out of sequence');
    this.balance -= this.pendingPrice;
    this.charged += this.pendingPrice;
    this.session = 'idle';
  }

  async vendFailed(): Promise<void> {
    if (this.session === 'approved') this.reverted += this.pendingPrice;
    if (this.session === 'pending' && this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.session !== 'none') this.session = 'idle';
  }

  async endSession(): Promise<void> {
    this.clock.setTimeout(() => {
      this.session = 'none';
      this.events.next({ type: 'sessionEnded' });
    }, 50);
  }
}
