/**
 * Simple GPIO inputs: the drop sensor (IR beam / light curtain across the delivery bin, protocols.md
 * §6) and the service-door switch. Both are debounced on the Clock; active levels come from config.
 */
import { BehaviorSubject, ReplaySubject, combineLatest, distinctUntilChanged, map, type Observable } from 'rxjs';
import type { TimerHandle } from '../../src/clock.ts';
import type { DoorPort, DoorState, DropSensorPort, LinkState } from '../../src/ports/index.ts';
import { DebouncedInput, type GpioBoard } from './board.ts';
import type { DoorOptions, DropSensorOptions } from './config.ts';

/**
 * `beam$` is true while the beam is broken. A beam broken for longer than `blockedAfterMs` means
 * the sensor cannot see drops (a product stuck in the curtain, a dirty or dead emitter): the link
 * then reports error DROP_SENSOR_BLOCKED until the beam clears, so the controller can stop relying
 * on it. (A receiver that never sees a break cannot be told from "no drop"; the controller's drop
 * window catches that case.)
 */
export class GpioDropSensor implements DropSensorPort {
  readonly name: string;
  readonly link$: Observable<LinkState>;
  private readonly beam = new ReplaySubject<boolean>(1);
  readonly beam$: Observable<boolean> = this.beam.pipe(distinctUntilChanged());
  private readonly blocked = new BehaviorSubject<boolean>(false);
  private readonly input: DebouncedInput;
  private blockTimer: TimerHandle | undefined;

  constructor(
    private readonly board: GpioBoard,
    private readonly opts: DropSensorOptions,
    name = 'drop',
  ) {
    this.name = name;
    this.link$ = combineLatest([board.link$, this.blocked]).pipe(
      map(([link, blocked]): LinkState =>
        link.status === 'online' && blocked ? { status: 'error', code: 'DROP_SENSOR_BLOCKED', detail: `beam broken for more than ${String(opts.blockedAfterMs)} ms` } : link,
      ),
      distinctUntilChanged((a, b) => JSON.stringify(a) === JSON.stringify(b)),
    );
    this.input = new DebouncedInput(board, board.pin(opts.pin), { pull: opts.pull, activeLevel: opts.activeLevel, debounceMs: opts.debounceMs }, (broken) =>
      this.onBeam(broken),
    );
    const seed = this.input.active;
    if (seed !== undefined) this.onBeam(seed);
  }

  close(): void {
    this.input.dispose();
    if (this.blockTimer !== undefined) this.board.clock.clearTimeout(this.blockTimer);
    this.beam.complete();
    this.blocked.complete();
  }

  private onBeam(broken: boolean): void {
    const clock = this.board.clock;
    this.beam.next(broken);
    if (this.blockTimer !== undefined) clock.clearTimeout(this.blockTimer);
    this.blockTimer = undefined;
    if (!broken) {
      if (this.blocked.value) {
        this.board.log.info({ device: this.name }, 'drop sensor beam clear again');
        this.blocked.next(false);
      }
      return;
    }
    const limit = this.opts.blockedAfterMs;
    if (limit === null) return;
    this.blockTimer = clock.setTimeout(() => {
      this.blockTimer = undefined;
      this.board.log.error({ device: this.name, ms: limit }, 'drop sensor beam blocked');
      this.blocked.next(true);
    }, limit);
  }
}

/** `door$`: the current state once the first reading is in, then each debounced change. */
export class GpioDoor implements DoorPort {
  readonly name: string;
  readonly link$: Observable<LinkState>;
  private readonly door = new ReplaySubject<DoorState>(1);
  readonly door$: Observable<DoorState> = this.door.pipe(distinctUntilChanged());
  private readonly input: DebouncedInput;

  constructor(board: GpioBoard, opts: DoorOptions, name = 'door') {
    this.name = name;
    this.link$ = board.link$;
    this.input = new DebouncedInput(board, board.pin(opts.pin), { pull: opts.pull, activeLevel: opts.openLevel, debounceMs: opts.debounceMs }, (open) =>
      this.door.next(open ? 'open' : 'closed'),
    );
    const seed = this.input.active;
    if (seed !== undefined) this.door.next(seed ? 'open' : 'closed');
  }

  close(): void {
    this.input.dispose();
    this.door.complete();
  }
}
