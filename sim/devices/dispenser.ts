/**
 * Fake spiral-motor dispenser. One vend is one revolution of the helix, timed by the cam-operated
 * home switch (protocols.md §6): after `motorStartMs` the switch opens (`homeLeft`); after
 * `motorRevolutionMs` more it closes (`homeReached`) and, if the spiral holds a product, one falls
 * towards the bin (the drop sensor sees it `dropFallMs` later). A motor left on keeps turning.
 * A motor stopped mid-turn stays away from home and finishes the turn on its next run.
 */
import { Subject, type Observable } from 'rxjs';
import type { TimerHandle } from '../../src/clock.ts';
import type { DispenserEvent, DispenserPort } from '../../src/ports/index.ts';
import type { FaultChange } from '../faults.ts';
import { SimDevice, type SimDeps } from './base.ts';
import type { SimDropSensor } from './drop.ts';

export class SimDispenser extends SimDevice implements DispenserPort {
  readonly events$: Observable<DispenserEvent>;
  private readonly events = new Subject<DispenserEvent>();
  private timer: TimerHandle | null = null;
  /** When the running motor will reach home (null: not heading home). */
  private homeDue: number | null = null;
  /** Milliseconds of turning left to reach home, for motors stopped away from home. */
  private readonly remaining = new Map<string, number>();

  constructor(
    deps: SimDeps,
    private readonly drop: SimDropSensor,
  ) {
    super('dispenser', deps);
    this.events$ = this.events.asObservable();
  }

  /** The energised motor's column, or null. */
  get running(): string | null {
    return this.world.motor.running;
  }

  async motorOn(column: string): Promise<void> {
    this.assertOnline();
    if (!this.world.spirals.has(column)) throw this.error('DEVICE_REJECTED', `no motor for column ${column}`);
    const running = this.world.motor.running;
    if (running !== null) throw this.error('DEVICE_BUSY', `motor ${running} is running; one motor at a time`);
    this.world.motor.running = column;
    if (this.faults.take('motor-stall', (f) => f.column === column)) {
      // Energised but not turning: the driver notices the over-current after a while.
      this.schedule(() => this.emit({ type: 'stalled', column }), this.timing.motorStartMs * 3);
      return;
    }
    if (this.world.motor.away.has(column)) this.headHome(column, this.remaining.get(column) ?? this.halfTurn());
    else this.schedule(() => this.leaveHome(column), this.timing.motorStartMs);
  }

  async motorOff(): Promise<void> {
    this.assertOnline();
    this.stop();
  }

  protected override onFault(change: FaultChange): void {
    const f = change.fault;
    if (f.name !== 'spiral-empty') return;
    if (change.kind === 'activated') this.world.hideSpiral(f.column);
    else if (change.kind === 'cleared') this.world.restoreSpiral(f.column);
  }

  protected override onLinkChange(online: boolean): void {
    // The driver board lost power or comms: the motor stops where it is.
    if (!online) this.stop();
  }

  private leaveHome(column: string): void {
    this.world.motor.away.add(column);
    this.emit({ type: 'homeLeft', column });
    this.headHome(column, this.timing.motorRevolutionMs);
  }

  private headHome(column: string, ms: number): void {
    if (this.faults.take('motor-no-home', (f) => f.column === column)) {
      // Stuck mid-turn: keeps pushing, never gets home, nothing falls.
      this.remaining.set(column, this.halfTurn());
      return;
    }
    this.homeDue = this.clock.now() + ms;
    this.schedule(() => this.reachHome(column), ms);
  }

  private reachHome(column: string): void {
    this.homeDue = null;
    this.world.motor.away.delete(column);
    this.remaining.delete(column);
    const item = this.world.productFalls(column);
    if (item) this.drop.deliver(item);
    this.emit({ type: 'homeReached', column });
    if (this.world.motor.running === column) this.schedule(() => this.leaveHome(column), this.timing.motorStartMs);
  }

  private stop(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    const column = this.world.motor.running;
    if (column !== null && this.homeDue !== null) this.remaining.set(column, Math.max(1, this.homeDue - this.clock.now()));
    this.homeDue = null;
    this.world.motor.running = null;
  }

  private schedule(fn: () => void, ms: number): void {
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      fn();
    }, ms);
  }

  private halfTurn(): number {
    return Math.max(1, Math.round(this.timing.motorRevolutionMs / 2));
  }

  private emit(event: DispenserEvent): void {
    if (this.online) this.events.next(event);
  }
}
