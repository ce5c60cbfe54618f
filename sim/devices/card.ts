/**
 * Fake cashless reader following the MDB reader states (MDB 4.2 §7.2 / protocols.md §1.7):
 * disabled after reset → enabled → a card begins a session → vend request → approved/denied →
 * success (charged) or failure (nothing charged) → session complete → END SESSION.
 *
 * World bookkeeping: `card.approved = card.charged + card.reverted` once every approved vend is
 * settled (money-model.md "cashless"). An approved vend that is never settled (session ended, reader
 * reset by an offline spell) counts as reverted: the reader does not charge what it cannot confirm.
 */
import { Subject, type Observable } from 'rxjs';
import type { TimerHandle } from '../../src/clock.ts';
import type { CashlessEvent, CashlessPort, Minor } from '../../src/ports/index.ts';
import { SimDevice, isPositiveWhole, type SimDeps } from './base.ts';

type Session =
  | { readonly state: 'idle' }
  | { readonly state: 'pending'; readonly price: Minor; readonly timer: TimerHandle | null }
  | { readonly state: 'approved'; readonly amount: Minor };

export class SimCashless extends SimDevice implements CashlessPort {
  readonly events$: Observable<CashlessEvent>;
  private readonly events = new Subject<CashlessEvent>();
  private enabled = false;
  private session: Session | null = null;
  /** A card was tapped but no session began for it yet (reader disabled or offline). */
  private tapWaiting = false;

  constructor(deps: SimDeps) {
    super('card', deps);
    this.events$ = this.events.asObservable();
  }

  get isEnabled(): boolean {
    return this.enabled;
  }

  /** 'none' when no session is open. */
  get sessionState(): 'none' | Session['state'] {
    return this.session?.state ?? 'none';
  }

  async enable(on: boolean): Promise<void> {
    this.assertOnline();
    this.enabled = on;
    // The reader reports a waiting card on its next poll once enabled.
    if (on && this.tapWaiting) this.clock.setTimeout(() => this.beginSession(), 0);
  }

  async requestVend(price: Minor, item: number): Promise<void> {
    this.assertOnline();
    if (!isPositiveWhole(price)) throw this.error('DEVICE_REJECTED', `price must be a positive whole number, got ${price}`);
    if (!Number.isInteger(item) || item < 0) throw this.error('DEVICE_REJECTED', `item must be a whole number, got ${item}`);
    if (this.session?.state !== 'idle')
      throw this.error('DEVICE_REJECTED', `vend request out of sequence (session ${this.sessionState})`);
    if (this.faults.take('card-timeout')) {
      this.session = { state: 'pending', price, timer: null };
      return;
    }
    const declined = this.faults.take('card-declined') !== undefined;
    const timer = this.clock.setTimeout(() => this.answer(price, declined), this.timing.cardApprovalMs);
    this.session = { state: 'pending', price, timer };
  }

  async vendSucceeded(_item: number): Promise<void> {
    this.assertOnline();
    const s = this.session;
    if (s?.state !== 'approved') throw this.error('DEVICE_REJECTED', `vend success out of sequence (session ${this.sessionState})`);
    this.world.card.balance -= s.amount;
    this.world.card.charged += s.amount;
    this.session = { state: 'idle' };
  }

  async vendFailed(): Promise<void> {
    this.assertOnline();
    const s = this.session;
    if (s?.state === 'approved') {
      this.world.card.reverted += s.amount;
    } else if (s?.state === 'pending') {
      // Like VEND CANCEL before the answer: nothing was approved, nothing to revert.
      if (s.timer !== null) this.clock.clearTimeout(s.timer);
    } else {
      throw this.error('DEVICE_REJECTED', `vend failure out of sequence (session ${this.sessionState})`);
    }
    this.session = { state: 'idle' };
  }

  async endSession(): Promise<void> {
    this.assertOnline();
    if (this.session === null) return;
    this.dropSession();
    this.clock.setTimeout(() => this.emit({ type: 'sessionEnded' }), 0);
  }

  // ------------------------------------------------------------------ customer side

  /** The customer presents a card (balance defaults to `sim.cardBalance`). True when a session began. */
  tapCard(balance: Minor = this.config.sim.cardBalance): boolean {
    if (!Number.isInteger(balance) || balance < 0) throw new RangeError(`card balance must be a whole number ≥ 0, got ${balance}`);
    if (this.session !== null) return false;
    this.world.card.present = true;
    this.world.card.balance = balance;
    this.tapWaiting = true;
    if (!this.online || !this.enabled) return false;
    this.beginSession();
    return true;
  }

  /** The customer takes the card away: an open session asks to be cancelled. */
  removeCard(): void {
    this.world.card.present = false;
    this.tapWaiting = false;
    if (this.session !== null) this.emit({ type: 'sessionCancel' });
  }

  protected override onLinkChange(online: boolean): void {
    if (!online) {
      // The reader resets: the session is lost and nothing unconfirmed is charged.
      if (this.session !== null) this.dropSession();
      return;
    }
    if (this.enabled && this.tapWaiting && this.world.card.present) this.beginSession();
  }

  private beginSession(): void {
    if (!this.online || !this.enabled || !this.tapWaiting || this.session !== null) return;
    this.tapWaiting = false;
    this.session = { state: 'idle' };
    this.emit({ type: 'sessionBegin', funds: this.world.card.balance });
  }

  private answer(price: Minor, declined: boolean): void {
    if (this.session?.state !== 'pending' || !this.online) return;
    if (declined || this.world.card.balance < price) {
      this.session = { state: 'idle' };
      this.emit({ type: 'vendDenied' });
      return;
    }
    this.session = { state: 'approved', amount: price };
    this.world.card.approved += price;
    this.emit({ type: 'vendApproved', amount: price });
  }

  private dropSession(): void {
    const s = this.session;
    if (s?.state === 'approved') this.world.card.reverted += s.amount;
    if (s?.state === 'pending' && s.timer !== null) this.clock.clearTimeout(s.timer);
    this.session = null;
  }

  private emit(event: CashlessEvent): boolean {
    if (!this.online) return false;
    this.events.next(event);
    return true;
  }
}
