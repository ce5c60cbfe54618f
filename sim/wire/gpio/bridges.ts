/**
 * Bridges between SimIO's pins and the simulated world: each one plays a real device's side of the
 * wires (the acceptor's pulse output, the keypad contacts, the motor matrix with its cam switches,
 * the IR beam, the door switch). Each can run stand-alone (methods such as `insertCoin`, `press`) or
 * follow a port-level sim device (`attach...(port)`), so world timing and port-level faults are
 * reused and the GPIO adapters are tested over real pin traffic. All timing is on SimIO's Clock.
 */
import { Subject, type Observable, type Subscription } from 'rxjs';
import type { TimerHandle } from '../../../src/clock.ts';
import type { CoinMechPort, DispenserPort, DoorPort, DoorState, DropSensorPort, Key, KeypadPort, Minor } from '../../../src/ports/index.ts';
import { createRandom } from '../../random.ts';
import type { SimIO } from './io-plugin.ts';

export type SimLevel = 'high' | 'low';

const val = (l: SimLevel): 0 | 1 => (l === 'high' ? 1 : 0);

/**
 * A device output on a pin. 'openCollector' pulls to the active level and lets go otherwise (the
 * board's pull resistor decides), like the NPN outputs of coin acceptors; 'pushPull' drives both.
 */
class DeviceOutput {
  private refs = 0;

  constructor(
    private readonly io: SimIO,
    readonly pin: number,
    private readonly activeLevel: SimLevel,
    private readonly kind: 'openCollector' | 'pushPull',
  ) {
    this.apply();
  }

  get active(): boolean {
    return this.refs > 0;
  }

  /** Reference-counted, so overlapping sources (a pulse and a noise spike) combine like wired-OR. */
  on(): void {
    this.refs++;
    this.apply();
  }

  off(): void {
    this.refs = Math.max(0, this.refs - 1);
    this.apply();
  }

  set(active: boolean): void {
    this.refs = active ? 1 : 0;
    this.apply();
  }

  private apply(): void {
    if (this.refs > 0) this.io.drive(this.pin, val(this.activeLevel));
    else if (this.kind === 'openCollector') this.io.release(this.pin);
    else this.io.drive(this.pin, val(this.activeLevel) ? 0 : 1);
  }
}

// ---------------------------------------------------------------- pulse coin acceptor

export interface CoinPulseTiming {
  /** Coin travel and validation before the first pulse. */
  validationMs: number;
  /** Width of each pulse (CH-926 "medium" 50 ms; protocols.md §4). */
  pulseMs: number;
  /** Pause between pulses of one train. */
  pauseMs: number;
  /** Quiet time the acceptor keeps between two trains (its own coin spacing). */
  spacingMs: number;
}

export const DEFAULT_COIN_TIMING: CoinPulseTiming = { validationMs: 150, pulseMs: 50, pauseMs: 50, spacingMs: 300 };

export interface CoinPulseBridgeOptions {
  pin: number;
  activeLevel: SimLevel;
  /** Pulse count → value, as the acceptor was taught. */
  pulses: Readonly<Record<string, Minor>>;
  inhibit?: { pin: number; activeLevel: SimLevel };
  returnButton?: { pin: number; activeLevel: SimLevel };
  timing?: Partial<CoinPulseTiming>;
}

export type CoinOutcome = 'accepted' | 'rejected';

export class CoinPulseBridge {
  readonly timing: CoinPulseTiming;
  private readonly out: DeviceOutput;
  private readonly returnOut: DeviceOutput | undefined;
  private readonly countByValue = new Map<Minor, number>();
  private nextFree = 0;
  private inFlight = 0;
  private readonly subs: Subscription[] = [];
  /** Values whose pulse trains were sent, in order. */
  readonly sent: Minor[] = [];

  constructor(
    private readonly io: SimIO,
    private readonly opts: CoinPulseBridgeOptions,
  ) {
    this.timing = { ...DEFAULT_COIN_TIMING, ...opts.timing };
    io.label(opts.pin, 'coin');
    if (opts.inhibit) io.label(opts.inhibit.pin, 'coin.inhibit');
    this.out = new DeviceOutput(io, opts.pin, opts.activeLevel, opts.activeLevel === 'low' ? 'openCollector' : 'pushPull');
    if (opts.returnButton) {
      io.label(opts.returnButton.pin, 'coin.return');
      this.returnOut = new DeviceOutput(io, opts.returnButton.pin, opts.returnButton.activeLevel, 'openCollector');
    }
    for (const [n, v] of Object.entries(opts.pulses)) {
      const count = Number(n);
      const prev = this.countByValue.get(v);
      if (prev === undefined || count < prev) this.countByValue.set(v, count);
    }
  }

  /** The acceptor is locked out by its inhibit input (without an inhibit wire it never is). */
  get inhibited(): boolean {
    const inh = this.opts.inhibit;
    if (!inh) return false;
    return this.io.level(inh.pin) === val(inh.activeLevel);
  }

  /** No pulse train is queued or playing. */
  get idle(): boolean {
    return this.inFlight === 0;
  }

  /**
   * A customer drops a coin. Inhibited acceptors and unknown coins return it at once ('rejected');
   * otherwise its pulse train plays after validation, queued behind earlier coins.
   */
  insertCoin(value: Minor): CoinOutcome {
    if (this.inhibited) return 'rejected';
    const count = this.countByValue.get(value);
    if (count === undefined) return 'rejected';
    this.playTrain(count, value);
    return 'accepted';
  }

  /**
   * Send a train of `count` pulses regardless of the coin table (a miscounting acceptor), starting
   * after validation and queued like a coin. `timing` overrides this train's shape.
   */
  playTrain(count: number, value?: Minor, timing: Partial<CoinPulseTiming> = {}): void {
    const t = { ...this.timing, ...timing };
    const clock = this.io.clock;
    const start = Math.max(clock.now() + t.validationMs, this.nextFree);
    const end = start + count * (t.pulseMs + t.pauseMs) - t.pauseMs;
    this.nextFree = end + t.spacingMs;
    this.inFlight++;
    for (let i = 0; i < count; i++) this.pulseAt(start + i * (t.pulseMs + t.pauseMs), t.pulseMs);
    clock.setTimeout(() => {
      this.inFlight--;
      if (value !== undefined) this.sent.push(value);
    }, end - clock.now());
  }

  /** One pulse of `widthMs`, `inMs` from now, outside any queue (noise, a stray pulse). */
  pulse(widthMs: number, inMs = 0): void {
    this.pulseAt(this.io.clock.now() + inMs, widthMs);
  }

  /**
   * Random noise spikes (static, a motor switching nearby) from a seeded PRNG: every `everyMs`
   * (uniform in the range) a spike of `widthMs` (uniform), for `forMs` from now.
   */
  noise(options: { seed: number; everyMs: [number, number]; widthMs: [number, number]; forMs: number }): number {
    const rnd = createRandom(options.seed);
    let t = 0;
    let n = 0;
    for (;;) {
      t += rnd.int(options.everyMs[0], options.everyMs[1]);
      if (t >= options.forMs) break;
      this.pulse(rnd.int(options.widthMs[0], options.widthMs[1]), t);
      n++;
    }
    return n;
  }

  /** Hold the signal line active (a shorted or stuck output) or let it go. */
  hold(active: boolean): void {
    if (active) this.out.on();
    else this.out.off();
  }

  /** Press the coin-return button for `ms`. */
  pressReturn(ms = 200): void {
    const o = this.returnOut;
    if (!o) return;
    o.on();
    this.io.clock.setTimeout(() => o.off(), ms);
  }

  /**
   * Follow a port-level coin mechanism: each coin it takes in (tube or cashbox) plays its pulse train;
   * the inhibit line switches its acceptance between `values` (default: every coin in the table) and
   * none. Returns a detach function.
   */
  attach(port: CoinMechPort, values: readonly Minor[] = [...this.countByValue.keys()]): () => void {
    const sub = port.events$.subscribe((e) => {
      if (e.type === 'coin' && e.routing !== 'rejected') {
        const count = this.countByValue.get(e.value);
        if (count !== undefined) this.playTrain(count, e.value);
      } else if (e.type === 'returnPressed') this.pressReturn();
    });
    this.subs.push(sub);
    const inh = this.opts.inhibit;
    let last: boolean | undefined;
    const sync = (): void => {
      const now = this.inhibited;
      if (now === last) return;
      last = now;
      port.setAcceptance(now ? [] : values).catch(() => undefined);
    };
    sync();
    const wsub = inh ? this.io.writes$.subscribe((w) => w.pin === inh.pin && sync()) : undefined;
    if (wsub) this.subs.push(wsub);
    return () => {
      sub.unsubscribe();
      wsub?.unsubscribe();
    };
  }

  private pulseAt(at: number, widthMs: number): void {
    const clock = this.io.clock;
    clock.setTimeout(() => {
      this.out.on();
      clock.setTimeout(() => this.out.off(), widthMs);
    }, at - clock.now());
  }
}

// ---------------------------------------------------------------- matrix keypad

export interface KeypadBridgeOptions {
  rowPins: number[];
  colPins: number[];
  activeLevel: SimLevel;
  /** Labels, rows × columns (as the adapter's config). */
  layout: readonly (readonly string[])[];
  /** Label → key for labels that are not keys themselves. */
  keyMap: Readonly<Record<string, Key>>;
}

export interface PressOptions {
  /** How long the key is held. Default 100 ms. */
  holdMs?: number;
  /** Contact bounce: this many extra make/break flips at press and at release... */
  bounces?: number;
  /** ...spaced this far apart. Default 1 ms. */
  bounceMs?: number;
}

export class KeypadMatrixBridge {
  private readonly pressed = new Set<string>();
  private readonly positions = new Map<string, [number, number]>();
  private readonly sub: Subscription;

  constructor(
    private readonly io: SimIO,
    private readonly opts: KeypadBridgeOptions,
  ) {
    // Masked like the real GPIO trace: the scan pattern decodes to the keys typed (service PIN too).
    opts.rowPins.forEach((p, i) => io.label(p, `keypad.row${i}`, { masked: true }));
    opts.colPins.forEach((p, i) => io.label(p, `keypad.col${i}`, { masked: true }));
    opts.layout.forEach((row, r) =>
      row.forEach((label, c) => {
        if (label === '') return;
        const pos: [number, number] = [r, c];
        if (!this.positions.has(label)) this.positions.set(label, pos);
        const key = opts.keyMap[label];
        if (key !== undefined && !this.positions.has(key)) this.positions.set(key, pos);
      }),
    );
    this.sub = io.writes$.subscribe((w) => {
      if (opts.rowPins.includes(w.pin)) this.recompute();
    });
    this.recompute();
  }

  /** Close the contact of a key (by port key or printed label). */
  down(key: string): void {
    this.pressed.add(this.posKey(key));
    this.recompute();
  }

  up(key: string): void {
    this.pressed.delete(this.posKey(key));
    this.recompute();
  }

  /** A full press on the Clock: optional bounce, hold, optional bounce, release. */
  press(key: string, options: PressOptions = {}): void {
    const hold = options.holdMs ?? 100;
    const bounces = options.bounces ?? 0;
    const gap = options.bounceMs ?? 1;
    const clock = this.io.clock;
    const pos = this.posKey(key);
    const set = (on: boolean): void => {
      if (on) this.pressed.add(pos);
      else this.pressed.delete(pos);
      this.recompute();
    };
    set(true);
    for (let i = 1; i <= bounces * 2; i++) clock.setTimeout(() => set(i % 2 === 0), i * gap);
    const releaseAt = bounces * 2 * gap + hold;
    clock.setTimeout(() => set(false), releaseAt);
    for (let i = 1; i <= bounces * 2; i++) clock.setTimeout(() => set(i % 2 === 1), releaseAt + i * gap);
  }

  /**
   * Follow a port-level keypad: every key it emits is pressed on the matrix, one after another
   * (a finger presses one key at a time; keys emitted together are queued `holdMs` apart).
   * Returns a detach function.
   */
  attach(port: KeypadPort, options: PressOptions = {}): () => void {
    const clock = this.io.clock;
    const hold = options.holdMs ?? 100;
    const span = hold + 2 * (options.bounces ?? 0) * (options.bounceMs ?? 1);
    let nextFree = 0;
    const sub = port.keys$.subscribe((k) => {
      const at = Math.max(clock.now(), nextFree);
      nextFree = at + 2 * span;
      if (at === clock.now()) this.press(k, options);
      else clock.setTimeout(() => this.press(k, options), at - clock.now());
    });
    return () => sub.unsubscribe();
  }

  dispose(): void {
    this.sub.unsubscribe();
  }

  private posKey(key: string): string {
    const pos = this.positions.get(key);
    if (!pos) throw new Error(`keypad bridge: no key "${key}" on this keypad`);
    return `${pos[0]},${pos[1]}`;
  }

  /** Each column shows the active level when a closed key connects it to a driven row. */
  private recompute(): void {
    const active = val(this.opts.activeLevel);
    this.opts.colPins.forEach((colPin, c) => {
      const on = this.opts.rowPins.some((rowPin, r) => this.pressed.has(`${r},${c}`) && this.io.output(rowPin) === active);
      if (on) this.io.drive(colPin, active);
      else this.io.release(colPin);
    });
  }
}

// ---------------------------------------------------------------- motor matrix

export interface MotorTiming {
  /** Travel from the home position until the cam lets the switch go. */
  startMs: number;
  /** Travel for one full revolution (back to home). */
  revolutionMs: number;
}

export const DEFAULT_MOTOR_TIMING: MotorTiming = { startMs: 200, revolutionMs: 2_500 };

/** 'stalled': never turns (the switch never moves). 'noReturn': jams after leaving home, never returns. */
export type MotorFault = 'ok' | 'stalled' | 'noReturn';

export interface MotorBridgeOptions {
  rowPins: number[];
  colPins: number[];
  rowActive: SimLevel;
  colActive: SimLevel;
  /** Column code → matrix address. */
  motors: ReadonlyMap<string, { row: number; col: number }>;
  home: { mode: 'perMotor'; pins: Readonly<Record<string, number>> } | { mode: 'shared'; pin: number };
  homeLevel: SimLevel;
  timing?: Partial<MotorTiming>;
}

interface SimMotor {
  readonly column: string;
  readonly row: number;
  readonly col: number;
  /** Travel (ms) into the current revolution; 0 = at home. */
  pos: number;
  poweredSince: number | undefined;
  fault: MotorFault;
  timer: TimerHandle | undefined;
  revolutions: number;
  /** Switch state reported by an attached port-level dispenser (undefined: use the model). */
  portAtHome: boolean | undefined;
}

export class MotorMatrixBridge {
  readonly timing: MotorTiming;
  private readonly motors = new Map<string, SimMotor>();
  private readonly sub: Subscription;
  private readonly revolutions = new Subject<string>();
  /** A motor's spiral completed a revolution (the world may drop a product). */
  readonly revolution$: Observable<string> = this.revolutions.asObservable();
  /** Times two or more motors were powered at once (must stay 0). */
  overlaps = 0;
  /** Every switch-on, in order. */
  readonly starts: string[] = [];
  private attached: DispenserPort | undefined;
  private powered = new Set<string>();

  constructor(
    private readonly io: SimIO,
    private readonly opts: MotorBridgeOptions,
  ) {
    this.timing = { ...DEFAULT_MOTOR_TIMING, ...opts.timing };
    opts.rowPins.forEach((p, i) => io.label(p, `motor.row${i}`));
    opts.colPins.forEach((p, i) => io.label(p, `motor.col${i}`));
    if (opts.home.mode === 'shared') io.label(opts.home.pin, 'motor.home');
    else for (const [code, p] of Object.entries(opts.home.pins)) io.label(p, `motor.home.${code}`);
    for (const [column, a] of opts.motors)
      this.motors.set(column, { column, row: a.row, col: a.col, pos: 0, poweredSince: undefined, fault: 'ok', timer: undefined, revolutions: 0, portAtHome: undefined });
    this.sub = io.writes$.subscribe((w) => {
      if (opts.rowPins.includes(w.pin) || opts.colPins.includes(w.pin)) this.update();
    });
    this.update();
  }

  /** Make a motor misbehave from its next start on. */
  setFault(column: string, fault: MotorFault): void {
    this.motor(column).fault = fault;
  }

  /** Put a spiral somewhere in its revolution (e.g. left mid-turn by a power cut). */
  setPosition(column: string, travelMs: number): void {
    const m = this.motor(column);
    m.pos = travelMs % this.timing.revolutionMs;
    this.update();
  }

  atHome(column: string): boolean {
    const m = this.motor(column);
    if (m.portAtHome !== undefined) return m.portAtHome;
    return this.travel(m) < this.timing.startMs;
  }

  isRunning(column: string): boolean {
    return this.powered.has(column);
  }

  revolutionsOf(column: string): number {
    return this.motor(column).revolutions;
  }

  /**
   * Follow a port-level dispenser instead of the built-in timing: a powered motor becomes
   * `port.motorOn(column)`, power off `port.motorOff()`, and its homeLeft / homeReached events move
   * the switch. Returns a detach function.
   */
  attach(port: DispenserPort): () => void {
    this.attached = port;
    const sub = port.events$.subscribe((e) => {
      const m = this.motors.get(e.column);
      if (!m) return;
      if (e.type === 'homeLeft') m.portAtHome = false;
      else if (e.type === 'homeReached') {
        m.portAtHome = true;
        m.revolutions++;
        this.revolutions.next(m.column);
      }
      this.writeSwitches();
    });
    return () => {
      sub.unsubscribe();
      this.attached = undefined;
    };
  }

  dispose(): void {
    this.sub.unsubscribe();
    for (const m of this.motors.values()) if (m.timer !== undefined) this.io.clock.clearTimeout(m.timer);
  }

  private motor(column: string): SimMotor {
    const m = this.motors.get(column);
    if (!m) throw new Error(`motor bridge: no motor ${column}`);
    return m;
  }

  /** Travel now, including the part of the current powered run. */
  private travel(m: SimMotor): number {
    if (m.poweredSince === undefined || m.fault === 'stalled') return m.pos;
    const moved = m.pos + (this.io.clock.now() - m.poweredSince);
    if (m.fault === 'noReturn') return Math.min(moved, this.timing.startMs + (this.timing.revolutionMs - this.timing.startMs) / 2);
    return moved;
  }

  private update(): void {
    const rowOn = this.opts.rowPins.map((p) => this.io.output(p) === val(this.opts.rowActive));
    const colOn = this.opts.colPins.map((p) => this.io.output(p) === val(this.opts.colActive));
    const now = new Set<string>();
    for (const m of this.motors.values()) if (rowOn[m.row] && colOn[m.col]) now.add(m.column);
    if (now.size > 1) this.overlaps++;
    for (const column of this.powered) if (!now.has(column)) this.powerOff(this.motor(column));
    for (const column of now) if (!this.powered.has(column)) this.powerOn(this.motor(column));
    this.powered = now;
    this.writeSwitches();
  }

  private powerOn(m: SimMotor): void {
    this.starts.push(m.column);
    if (this.attached) {
      this.attached.motorOn(m.column).catch(() => undefined);
      return;
    }
    m.poweredSince = this.io.clock.now();
    this.schedule(m);
  }

  private powerOff(m: SimMotor): void {
    if (this.attached) {
      this.attached.motorOff().catch(() => undefined);
      return;
    }
    m.pos = this.travel(m) % this.timing.revolutionMs;
    m.poweredSince = undefined;
    if (m.timer !== undefined) this.io.clock.clearTimeout(m.timer);
    m.timer = undefined;
  }

  /** Wake up at the next switch change of a running motor. */
  private schedule(m: SimMotor): void {
    if (m.fault === 'stalled' || m.poweredSince === undefined) return;
    const { startMs, revolutionMs } = this.timing;
    const t = this.travel(m);
    const next = t < startMs ? startMs : revolutionMs;
    if (m.fault === 'noReturn' && next === revolutionMs) return;
    m.timer = this.io.clock.setTimeout(() => {
      m.timer = undefined;
      if (m.poweredSince === undefined) return;
      let travel = this.travel(m);
      if (travel >= revolutionMs) {
        m.revolutions++;
        travel -= revolutionMs;
        this.revolutions.next(m.column);
      }
      m.pos = travel;
      m.poweredSince = this.io.clock.now();
      this.writeSwitches();
      this.schedule(m);
    }, next - t);
  }

  private writeSwitches(): void {
    const home = val(this.opts.homeLevel);
    const away: 0 | 1 = home ? 0 : 1;
    const h = this.opts.home;
    if (h.mode === 'perMotor') {
      for (const [column, pin] of Object.entries(h.pins)) {
        if (!this.motors.has(column)) continue;
        this.io.drive(pin, this.atHome(column) ? home : away);
      }
      return;
    }
    // The shared sense line reads the selected motor's switch; with none (or several) selected it floats.
    const [only] = this.powered.size === 1 ? [...this.powered] : [];
    if (only === undefined) this.io.release(h.pin);
    else this.io.drive(h.pin, this.atHome(only) ? home : away);
  }
}

// ---------------------------------------------------------------- drop sensor and door

export class DropBeamBridge {
  private broken = false;
  /** The receiver no longer sees breaks (dirty lens, misaligned): drops pass unseen. */
  blind = false;
  private readonly out: DeviceOutput;

  constructor(
    private readonly io: SimIO,
    opts: { pin: number; activeLevel: SimLevel },
  ) {
    io.label(opts.pin, 'drop');
    this.out = new DeviceOutput(io, opts.pin, opts.activeLevel, 'pushPull');
  }

  /** Break the beam for `ms` (a product falling through the curtain). */
  drop(ms = 30): void {
    this.setBroken(true);
    this.io.clock.setTimeout(() => this.setBroken(false), ms);
  }

  /** Hold the beam broken (something stuck in the bin) or clear it. */
  setBroken(broken: boolean): void {
    this.broken = broken;
    this.out.set(broken && !this.blind);
  }

  get isBroken(): boolean {
    return this.broken;
  }

  /** Follow a port-level drop sensor's beam. Returns a detach function. */
  attach(port: DropSensorPort): () => void {
    const sub = port.beam$.subscribe((b) => this.setBroken(b));
    return () => sub.unsubscribe();
  }
}

export class DoorSwitchBridge {
  private readonly out: DeviceOutput;
  private state: DoorState = 'closed';

  constructor(
    private readonly io: SimIO,
    opts: { pin: number; openLevel: SimLevel },
  ) {
    io.label(opts.pin, 'door');
    this.out = new DeviceOutput(io, opts.pin, opts.openLevel, 'pushPull');
  }

  get door(): DoorState {
    return this.state;
  }

  /** Set the door; `bounces` adds switch chatter 1 ms apart before it settles. */
  set(state: DoorState, bounces = 0): void {
    this.state = state;
    const open = state === 'open';
    this.out.set(open);
    for (let i = 1; i <= bounces * 2; i++) this.io.clock.setTimeout(() => this.out.set(i % 2 === 0 ? open : !open), i);
  }

  open(bounces = 0): void {
    this.set('open', bounces);
  }

  close(bounces = 0): void {
    this.set('closed', bounces);
  }

  /** Follow a port-level door. Returns a detach function. */
  attach(port: DoorPort): () => void {
    const sub = port.door$.subscribe((d) => this.set(d));
    return () => sub.unsubscribe();
  }
}
