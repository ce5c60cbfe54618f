/**
 * Fake drop sensor: an infrared light plane across the delivery bin (protocols.md §6). A product
 * landing breaks the beam for BEAM_BREAK_MS. `drop-blocked` keeps the beam broken; `drop-blind`
 * lets products through unseen. While offline the beam is not read; the current state is reported
 * when the link comes back.
 */
import { BehaviorSubject, type Observable } from 'rxjs';
import type { DropSensorPort } from '../../src/ports/index.ts';
import type { FaultChange } from '../faults.ts';
import type { BinItem } from '../world.ts';
import { SimDevice, type SimDeps } from './base.ts';

/** How long a falling product shadows the beam. */
export const BEAM_BREAK_MS = 50;

export class SimDropSensor extends SimDevice implements DropSensorPort {
  readonly beam$: Observable<boolean>;
  private readonly reported: BehaviorSubject<boolean>;
  /** Products shadowing the beam right now. */
  private shadows = 0;

  constructor(deps: SimDeps) {
    super('drop', deps);
    this.reported = new BehaviorSubject<boolean>(deps.world.beam);
    this.beam$ = this.reported.asObservable();
    this.refresh();
  }

  /** The last state reported to the controller (true = broken). */
  get broken(): boolean {
    return this.reported.getValue();
  }

  /** A product left its spiral: it lands in the bin `dropFallMs` later, breaking the beam on the way. */
  deliver(item: BinItem): void {
    this.clock.setTimeout(() => {
      this.world.productLands(item);
      if (this.faults.take('drop-blind')) return;
      this.shadows += 1;
      this.refresh();
      this.clock.setTimeout(() => {
        this.shadows -= 1;
        this.refresh();
      }, BEAM_BREAK_MS);
    }, this.timing.dropFallMs);
  }

  protected override onFault(change: FaultChange): void {
    if (change.fault.name === 'drop-blocked') this.refresh();
  }

  protected override onLinkChange(online: boolean): void {
    if (online) this.refresh();
  }

  private refresh(): void {
    this.world.beam = this.shadows > 0 || this.faults.has('drop-blocked');
    if (this.online && this.reported.getValue() !== this.world.beam) this.reported.next(this.world.beam);
  }
}
