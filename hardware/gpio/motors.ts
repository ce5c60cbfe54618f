/**
 * Spiral motors on a row × column matrix (protocols.md §6): a motor runs while its row driver AND its
 * column driver are on, so exactly one row and one column are ever driven, and only one motor runs.
 *
 * One vend = one revolution, seen on the motor's home (cycle) switch:
 * - `homeLeft` when the debounced switch leaves home, `homeReached` when it comes back;
 * - with `stopAtHome` (default) the adapter switches the motor off itself on home, so a slow caller
 *   cannot overshoot; the caller's `motorOff()` afterwards is a no-op;
 * - the switch must leave home within `leaveHomeMs`, else the motor is switched off and `stalled`
 *   emitted (a jammed spiral never moves its switch); `maxRunMs` bounds the whole run the same way;
 * - a motor that starts away from home (stopped mid-turn earlier) reports `homeLeft` once the input
 *   has settled, then runs on to home.
 *
 * Home inputs: `perMotor` (one input per motor) or `shared` (one sense line for the matrix that
 * reads the selected motor's switch, because the switch is wired inside the motor's matrix circuit).
 * Either way the input is only trusted `settleMs` after switching on (line settling, read latency).
 */
import { Subject, type Observable } from 'rxjs';
import type { TimerHandle } from '../../src/clock.ts';
import { DeviceError, type DispenserEvent, type DispenserPort, type LinkState } from '../../src/ports/index.ts';
import { DebouncedInput, type GpioBoard, inverse } from './board.ts';
import { motorAddresses, type DispenserOptions } from './config.ts';

interface Motor {
  readonly column: string;
  readonly rowPin: number;
  readonly colPin: number;
  readonly home: DebouncedInput;
}

interface Run {
  readonly motor: Motor;
  readonly startedAt: number;
  phase: 'settling' | 'atHome' | 'away';
  timers: TimerHandle[];
}

export class GpioDispenser implements DispenserPort {
  readonly name: string;
  readonly link$: Observable<LinkState>;
  private readonly events = new Subject<DispenserEvent>();
  readonly events$: Observable<DispenserEvent> = this.events.asObservable();
  private readonly motors = new Map<string, Motor>();
  private readonly rowPins: number[];
  private readonly colPins: number[];
  private readonly inputs: DebouncedInput[] = [];
  private run: Run | undefined;

  constructor(
    private readonly board: GpioBoard,
    private readonly opts: DispenserOptions,
    name = 'dispenser',
  ) {
    this.name = name;
    this.link$ = board.link$;
    this.rowPins = opts.rowPins.map((p) => board.pin(p));
    this.colPins = opts.colPins.map((p) => board.pin(p));
    // All drivers off before anything else: a motor must never start by itself.
    this.allOff();
    const debounce = { pull: opts.pull, activeLevel: opts.homeLevel, debounceMs: opts.debounceMs };
    let shared: DebouncedInput | undefined;
    if (opts.home.mode === 'shared') {
      const pin = board.pin(opts.home.pin);
      shared = new DebouncedInput(board, pin, debounce, (atHome, _at, initial) => this.onHome(pin, atHome, initial));
      this.inputs.push(shared);
    }
    for (const [column, a] of motorAddresses(opts)) {
      const rowPin = this.rowPins[a.row];
      const colPin = this.colPins[a.col];
      if (rowPin === undefined || colPin === undefined) throw new Error(`gpio dispenser: ${column} is outside the matrix`);
      let home = shared;
      if (opts.home.mode === 'perMotor') {
        const id = opts.home.pins[column];
        if (id === undefined) throw new Error(`gpio dispenser: motor ${column} has no home pin`);
        const pin = board.pin(id);
        home = new DebouncedInput(board, pin, debounce, (atHome, _at, initial) => this.onHome(pin, atHome, initial));
        this.inputs.push(home);
      }
      if (!home) throw new Error('gpio dispenser: no home input');
      this.motors.set(column, { column, rowPin, colPin, home });
    }
  }

  /** The column whose motor is running, if any. */
  get running(): string | undefined {
    return this.run?.motor.column;
  }

  async motorOn(column: string): Promise<void> {
    this.board.assertOnline(this.name);
    const motor = this.motors.get(column);
    if (!motor) throw new DeviceError('DEVICE_REJECTED', this.name, `no motor ${column} in the matrix`);
    if (this.run) throw new DeviceError('DEVICE_BUSY', this.name, `motor ${this.run.motor.column} is running; ${column} must wait`);
    const clock = this.board.clock;
    const run: Run = { motor, startedAt: clock.now(), phase: 'settling', timers: [] };
    this.run = run;
    // Column first, row last: the row closes the circuit (protocols.md §6).
    this.board.write(motor.colPin, this.opts.colActive);
    this.board.write(motor.rowPin, this.opts.rowActive);
    this.board.log.debug({ device: this.name, column }, 'motor on');
    run.timers.push(
      clock.setTimeout(() => {
        if (this.run !== run) return;
        if (motor.home.active === false) {
          run.phase = 'away';
          this.events.next({ type: 'homeLeft', column });
        } else run.phase = 'atHome';
      }, this.opts.settleMs),
      clock.setTimeout(() => {
        if (this.run === run && run.phase !== 'away') this.stall(run, `home switch did not leave home within ${this.opts.leaveHomeMs} ms`);
      }, this.opts.leaveHomeMs),
      clock.setTimeout(() => {
        if (this.run === run) this.stall(run, `no full revolution within ${this.opts.maxRunMs} ms`);
      }, this.opts.maxRunMs),
    );
  }

  async motorOff(): Promise<void> {
    const run = this.run;
    if (run) this.stop(run);
    else this.allOff();
  }

  /** Detach from the pins (drivers switched off; the board stays open). */
  close(): void {
    if (this.run) this.stop(this.run);
    for (const i of this.inputs) i.dispose();
    this.events.complete();
  }

  private onHome(pin: number, atHome: boolean, initial: boolean): void {
    const run = this.run;
    if (!run || initial || run.motor.home.pin !== pin || run.phase === 'settling') return;
    const column = run.motor.column;
    if (!atHome && run.phase === 'atHome') {
      run.phase = 'away';
      this.events.next({ type: 'homeLeft', column });
    } else if (atHome && run.phase === 'away') {
      run.phase = 'atHome';
      if (this.opts.stopAtHome) this.stop(run);
      this.events.next({ type: 'homeReached', column });
    }
  }

  private stall(run: Run, why: string): void {
    this.stop(run);
    this.board.log.error({ device: this.name, column: run.motor.column, ms: this.board.clock.now() - run.startedAt }, `motor stalled: ${why}`);
    this.events.next({ type: 'stalled', column: run.motor.column });
  }

  private stop(run: Run): void {
    for (const t of run.timers) this.board.clock.clearTimeout(t);
    run.timers = [];
    if (this.run === run) this.run = undefined;
    this.board.write(run.motor.rowPin, inverse(this.opts.rowActive));
    this.board.write(run.motor.colPin, inverse(this.opts.colActive));
    this.board.log.debug({ device: this.name, column: run.motor.column }, 'motor off');
  }

  private allOff(): void {
    for (const p of this.rowPins) this.board.write(p, inverse(this.opts.rowActive));
    for (const p of this.colPins) this.board.write(p, inverse(this.opts.colActive));
  }
}
