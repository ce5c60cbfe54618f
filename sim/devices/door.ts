/**
 * Fake service-door switch. While offline the switch is not read: a change made then is reported
 * when the link comes back.
 */
import { BehaviorSubject, type Observable } from 'rxjs';
import type { DoorPort, DoorState } from '../../src/ports/index.ts';
import { SimDevice, type SimDeps } from './base.ts';

export class SimDoor extends SimDevice implements DoorPort {
  readonly door$: Observable<DoorState>;
  private readonly reported: BehaviorSubject<DoorState>;

  constructor(deps: SimDeps) {
    super('door', deps);
    this.reported = new BehaviorSubject<DoorState>(deps.world.door);
    this.door$ = this.reported.asObservable();
  }

  get state(): DoorState {
    return this.world.door;
  }

  open(): void {
    this.set('open');
  }

  close(): void {
    this.set('closed');
  }

  protected override onLinkChange(online: boolean): void {
    if (online) this.report();
  }

  private set(state: DoorState): void {
    this.world.door = state;
    this.report();
  }

  private report(): void {
    if (this.online && this.reported.getValue() !== this.world.door) this.reported.next(this.world.door);
  }
}
