/**
 * SimIO: a johnny-five IO plugin for a simulated board (io-plugins README, "Minimum Plugin Class
 * Requirements"; fsm-and-style.md §B3). It models pins electrically enough for the GPIO adapters:
 *
 * - the board side: `pinMode`, `digitalWrite` (on an INPUT pin it sets the pull resistor, the Firmata
 *   convention j5-io follows), `digitalRead` (change-only, asynchronous, also emits `digital-read-N`);
 * - the world side (bridges): `drive(pin, level)` / `release(pin)` put a level on an input, like an
 *   open-collector or push-pull output of the device; a released input reads its pull (floating reads 0);
 * - I2C writes (for the LCD backpack) are published on `i2cWrites$`; reads answer zeros;
 * - every pin change is published on `trace$` as a FrameTrace record on bus 'gpio'.
 *
 * All timing is on the injected Clock: read callbacks are delivered with `clock.setTimeout`, never
 * real timers. `ready: 'immediate'` (default) makes the board ready at construction and emits
 * connect/ready in a microtask, so `new Board({ io })` becomes ready without any real or virtual time.
 */
import { EventEmitter } from 'node:events';
import { Subject, type Observable } from 'rxjs';
import type { Clock } from '../../../src/clock.ts';
import type { FrameTrace } from '../../../hardware/serial/types.ts';
import type { IoModes, IoPinInfo, IoPlugin } from '../../../hardware/gpio/board.ts';

export type SimPull = 'up' | 'down' | 'none';

export interface SimIOOptions {
  clock: Clock;
  /** Pins 0..pinCount-1, all digital in/out. Default 40 (a Pi header's BCM numbers fit). */
  pinCount?: number;
  name?: string;
  /**
   * 'immediate': ready at construction (connect/ready emitted in a microtask). `{ afterMs }`: ready on
   * the Clock after that long. 'never': a board that never answers (for timeout tests).
   */
  ready?: 'immediate' | 'never' | { afterMs: number };
  /** Delay between an input change and its read callback (an edge-driven plugin: 0). */
  readLatencyMs?: number;
}

/** A write by the board to an output pin. */
export interface PinWrite {
  readonly pin: number;
  readonly value: 0 | 1;
  readonly at: number;
}

export interface I2cWrite {
  readonly address: number;
  readonly bytes: readonly number[];
  readonly at: number;
}

interface PinState {
  mode: number;
  /** What the board drives (OUTPUT mode). */
  out: 0 | 1;
  pull: SimPull;
  /** What the world drives (undefined: released). */
  external: 0 | 1 | undefined;
  /** Last level the read callbacks were told. */
  reported: 0 | 1 | undefined;
  /** Last level delivery was scheduled for (change detection before latency). */
  scheduled: 0 | 1 | undefined;
  readonly readers: ((value: number) => void)[];
  label: string | undefined;
  quiet: boolean;
  /** Traced without its level (keypad matrix pins: the scan decodes to the keys, PIN included). */
  masked: boolean;
}

const MODES: IoModes = Object.freeze({ INPUT: 0, OUTPUT: 1, ANALOG: 2, PWM: 3, SERVO: 4 });

export class SimIO extends EventEmitter implements IoPlugin {
  readonly MODES = MODES;
  readonly HIGH = 1;
  readonly LOW = 0;
  readonly SERIAL_PORT_IDs = Object.freeze({});
  readonly name: string;
  readonly pins: IoPinInfo[];
  readonly analogPins: number[] = [];
  readonly clock: Clock;
  private readonly state: PinState[];
  private ready = false;
  private unplugged = false;
  private readonly latency: number;
  private readonly writesSubject = new Subject<PinWrite>();
  private readonly i2cSubject = new Subject<I2cWrite>();
  private readonly traceSubject = new Subject<FrameTrace>();
  /** Board writes to output pins (changes only). Bridges react to these. */
  readonly writes$: Observable<PinWrite> = this.writesSubject.asObservable();
  /** Every i2cWrite / i2cWriteReg, as bytes. */
  readonly i2cWrites$: Observable<I2cWrite> = this.i2cSubject.asObservable();
  /** Pin changes (tx: board → world, rx: world → board as reported), for the trace view. */
  readonly trace$: Observable<FrameTrace> = this.traceSubject.asObservable();
  /** Number of digitalWrite calls (all, including unchanged values), for write-budget tests. */
  digitalWrites = 0;

  constructor(options: SimIOOptions) {
    super();
    this.clock = options.clock;
    this.name = options.name ?? 'SimIO';
    this.latency = Math.max(0, options.readLatencyMs ?? 0);
    const n = options.pinCount ?? 40;
    this.pins = [];
    this.state = [];
    for (let i = 0; i < n; i++) {
      this.pins.push({ supportedModes: [MODES.INPUT, MODES.OUTPUT], mode: MODES.INPUT, value: 0, report: 1, analogChannel: 127 });
      this.state.push({ mode: MODES.INPUT, out: 0, pull: 'none', external: undefined, reported: undefined, scheduled: undefined, readers: [], label: undefined, quiet: false, masked: false });
    }
    const ready = options.ready ?? 'immediate';
    if (ready === 'immediate') {
      this.ready = true;
      // The contract wants connect/ready asynchronously; a microtask needs no clock time.
      queueMicrotask(() => this.announce());
    } else if (ready !== 'never') {
      this.clock.setTimeout(() => {
        this.ready = true;
        this.announce();
      }, ready.afterMs);
    }
  }

  get isReady(): boolean {
    return this.ready;
  }

  // ------------------------------------------------------------------ board side (the plugin API)

  normalize(pin: number | string): number {
    if (typeof pin === 'number') return pin;
    const m = /^(?:gpio|bcm)?\s*(\d+)$/i.exec(pin.trim());
    if (!m?.[1]) throw new Error(`${this.name}: unknown pin name "${pin}"`);
    return Number(m[1]);
  }

  pinMode(pin: number, mode: number): this {
    const s = this.pinState(pin);
    if (mode !== MODES.INPUT && mode !== MODES.OUTPUT) throw new Error(`${this.name}: pin ${pin} supports INPUT and OUTPUT only, not mode ${mode}`);
    s.mode = mode;
    const info = this.pins[pin];
    if (info) info.mode = mode;
    this.levelChanged(pin);
    return this;
  }

  digitalWrite(pin: number, value: number): this {
    const s = this.pinState(pin);
    this.digitalWrites++;
    if (this.unplugged) return this;
    const v: 0 | 1 = value ? 1 : 0;
    if (s.mode === MODES.INPUT) {
      // Firmata / j5-io convention: writing an input sets its pull resistor.
      s.pull = v ? 'up' : 'down';
      this.levelChanged(pin);
      return this;
    }
    if (s.out === v) return this;
    s.out = v;
    const at = this.clock.now();
    if (!s.quiet) this.trace('tx', pin, v);
    this.levelChanged(pin);
    this.writesSubject.next({ pin, value: v, at });
    return this;
  }

  digitalRead(pin: number, handler: (value: number) => void): this {
    const s = this.pinState(pin);
    s.readers.push(handler);
    // First report: the current level, asynchronously, to this reader only.
    const level = this.level(pin);
    this.clock.setTimeout(() => {
      if (this.unplugged) return;
      handler(level);
      if (s.reported === undefined) s.reported = level;
    }, this.latency);
    if (s.scheduled === undefined) s.scheduled = level;
    return this;
  }

  analogRead(pin: number): never {
    throw new Error(`${this.name}: analogRead(${pin}) is not supported (no ADC)`);
  }

  analogWrite(pin: number): never {
    throw new Error(`${this.name}: analogWrite/pwmWrite(${pin}) is not supported`);
  }

  pwmWrite(pin: number): never {
    return this.analogWrite(pin);
  }

  servoWrite(pin: number): never {
    throw new Error(`${this.name}: servoWrite(${pin}) is not supported`);
  }

  /** Called once by every johnny-five I2C component; nothing to set up here. */
  i2cConfig(_options?: unknown): this {
    return this;
  }

  /** `i2cWrite(address, bytes)`, `i2cWrite(address, byte)` or `i2cWrite(address, register, bytes)`. */
  i2cWrite(address: number, regOrData: number | readonly number[], data?: number | readonly number[]): this {
    const bytes: number[] = [];
    const add = (x: number | readonly number[]): void => {
      if (typeof x === 'number') bytes.push(x & 0xff);
      else for (const b of x) bytes.push(b & 0xff);
    };
    add(regOrData);
    if (data !== undefined) add(data);
    if (this.unplugged) return this;
    const at = this.clock.now();
    this.traceSubject.next({ bus: 'gpio', dir: 'tx', at, raw: `i2c@0x${address.toString(16)} ${bytes.map((b) => b.toString(16).padStart(2, '0')).join(' ')}` });
    this.i2cSubject.next({ address, bytes, at });
    return this;
  }

  i2cWriteReg(address: number, register: number, value: number): this {
    return this.i2cWrite(address, register, value);
  }

  i2cRead(address: number, registerOrCount: number, countOrHandler: number | ((data: number[]) => void), handler?: (data: number[]) => void): this {
    return this.i2cReadOnce(address, registerOrCount, countOrHandler, handler);
  }

  /** Nothing answers on the simulated bus except the LCD, which is write-only: reads return zeros. */
  i2cReadOnce(_address: number, registerOrCount: number, countOrHandler: number | ((data: number[]) => void), handler?: (data: number[]) => void): this {
    const count = typeof countOrHandler === 'number' ? countOrHandler : registerOrCount;
    const cb = typeof countOrHandler === 'function' ? countOrHandler : handler;
    if (cb) this.clock.setTimeout(() => cb(new Array<number>(count).fill(0)), 0);
    return this;
  }

  // ------------------------------------------------------------------ world side (bridges, tests)

  /** Put a level on a pin from outside (the device's output). */
  drive(pin: number, level: 0 | 1): void {
    const s = this.pinState(pin);
    if (s.external === level) return;
    s.external = level;
    this.levelChanged(pin);
  }

  /** Stop driving a pin: it reads its pull resistor again (open-collector "off"). */
  release(pin: number): void {
    const s = this.pinState(pin);
    if (s.external === undefined) return;
    s.external = undefined;
    this.levelChanged(pin);
  }

  /** What the pin reads now: the board's output in OUTPUT mode, else the driven level, else the pull. */
  level(pin: number): 0 | 1 {
    const s = this.pinState(pin);
    if (s.mode === MODES.OUTPUT) return s.out;
    if (s.external !== undefined) return s.external;
    return s.pull === 'up' ? 1 : 0;
  }

  /** The level the board drives on an output pin, or undefined when the pin is not an output. */
  output(pin: number): 0 | 1 | undefined {
    const s = this.pinState(pin);
    return s.mode === MODES.OUTPUT ? s.out : undefined;
  }

  modeOf(pin: number): number {
    return this.pinState(pin).mode;
  }

  pullOf(pin: number): SimPull {
    return this.pinState(pin).pull;
  }

  /**
   * Name a pin for the trace; `quiet` pins (LCD data lines) are traced by their decoder instead;
   * `masked` pins are traced without their level (as the real GPIO trace does for the keypad).
   */
  label(pin: number, label: string, options: { quiet?: boolean; masked?: boolean } = {}): void {
    const s = this.pinState(pin);
    s.label = label;
    s.quiet = options.quiet ?? false;
    s.masked = options.masked ?? false;
  }

  /** Publish a decoded record (e.g. an LCD byte) on the trace. */
  note(dir: 'tx' | 'rx', raw: string, meaning?: string): void {
    this.traceSubject.next(meaning === undefined ? { bus: 'gpio', dir, at: this.clock.now(), raw } : { bus: 'gpio', dir, at: this.clock.now(), raw, meaning });
  }

  /** The board's cable is pulled: 'close' is emitted, reads and writes stop having any effect. */
  unplug(): void {
    if (this.unplugged) return;
    this.unplugged = true;
    this.ready = false;
    this.emit('close');
  }

  /** The plugin reports an error (e.g. a failed GPIO access). */
  fail(message: string): void {
    this.emit('error', new Error(message));
  }

  // ------------------------------------------------------------------ internals

  private announce(): void {
    this.emit('connect');
    this.emit('ready');
  }

  private pinState(pin: number): PinState {
    const s = this.state[pin];
    if (!s) throw new Error(`${this.name}: no pin ${String(pin)} (pins 0..${this.state.length - 1})`);
    return s;
  }

  /** Recompute a pin's level; if it changed, schedule the read callbacks (change-only, on the Clock). */
  private levelChanged(pin: number): void {
    const s = this.pinState(pin);
    const level = this.level(pin);
    const info = this.pins[pin];
    if (info) info.value = level;
    if (s.readers.length === 0 || this.unplugged) return;
    if (s.scheduled === level) return;
    s.scheduled = level;
    this.clock.setTimeout(() => this.deliver(pin, level), this.latency);
  }

  private deliver(pin: number, level: 0 | 1): void {
    const s = this.pinState(pin);
    if (this.unplugged || s.reported === level) return;
    s.reported = level;
    if (s.mode === MODES.INPUT && !s.quiet) this.trace('rx', pin, level);
    for (const r of [...s.readers]) r(level);
    this.emit(`digital-read-${pin}`, level);
  }

  private trace(dir: 'tx' | 'rx', pin: number, v: 0 | 1): void {
    const s = this.pinState(pin);
    if (s.masked) {
      this.note(dir, `GPIO${pin}=*`, `${s.label ?? `GPIO${pin}`} (level not traced)`);
      return;
    }
    const raw = `GPIO${pin}=${v}`;
    this.note(dir, raw, s.label === undefined ? undefined : `${s.label} ${v ? 'high' : 'low'}`);
  }
}
