/**
 * A johnny-five IO plugin over the Linux GPIO character device (/dev/gpiochipN), for the Pi 5 and
 * any Pi on a current kernel. raspi-io and pi-io both drive pins through pigpio, which reaches the
 * SoC's registers directly and does not run on the Pi 5 (its GPIO sits behind the RP1 chip); the
 * character device is the kernel's own interface and works on every model.
 *
 * The lines are reached through a `ChipBackend`: node-libgpiod (libgpiod 1.x bindings; on
 * Debian: `apt install libgpiod-dev`, then `npm install node-libgpiod`) on the Pi, a fake in tests.
 * The I2C LCD backpack goes through an `I2cBackend` (i2c-bus on the Pi).
 *
 * Pins are BCM line offsets, named `GPIO17` (see pins.ts). Inputs are read every
 * `GPIOCHIP_SAMPLING_MS` (libgpiod 1.x edge events can only be waited for by blocking, which the
 * event loop must not do), all reported lines in one pass.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type { IoModes, IoPinInfo } from './board.ts';

/** How often reported inputs are read (ms); pins.ts holds timings to it. */
export const GPIOCHIP_SAMPLING_MS = 5;

/** Lines on the 40-pin header of every supported Pi: BCM 0–27. */
export const GPIOCHIP_LINES = 28;

export type LineBias = 'up' | 'down' | 'none';

/** What the plugin needs from the GPIO character device. */
export interface ChipBackend {
  /** Claim `offset` as an input with this bias (re-claiming changes the bias). */
  input(offset: number, bias: LineBias): void;
  /** Claim `offset` as an output at `value`. */
  output(offset: number, value: 0 | 1): void;
  read(offset: number): 0 | 1;
  write(offset: number, value: 0 | 1): void;
  /** Release every claimed line. */
  close(): void;
}

/** What the plugin needs from /dev/i2c-N (the LCD backpack). */
export interface I2cBackend {
  write(address: number, bytes: readonly number[]): void;
  close(): void;
}

/** Firmata's mode numbers, as johnny-five expects them. */
const MODES = { INPUT: 0, OUTPUT: 1, ANALOG: 2, PWM: 3, SERVO: 4, I2C: 6, UNKNOWN: 99 } as const satisfies IoModes & { UNKNOWN: number; I2C: number };

export interface GpioChipOptions {
  /** The chip's line access; default: node-libgpiod on `chip`. */
  readonly backend?: ChipBackend;
  /** The I2C bus; default: i2c-bus on bus `i2cBus`, opened on first use. */
  readonly i2c?: I2cBackend;
  /**
   * The gpiochip holding the header's lines: 0 on the Pi 3/4/Zero 2 W and on the Pi 5 from kernel
   * 6.6.45 (before that the Pi 5's header was gpiochip4). Default: 0.
   */
  readonly chip?: number;
  readonly i2cBus?: number;
  /** Injected timers (tests); default: the global ones. */
  readonly setInterval?: (fn: () => void, ms: number) => unknown;
  readonly clearInterval?: (handle: unknown) => void;
}

interface Report {
  readonly cb: (value: number) => void;
  last: number | undefined;
}

/** The johnny-five IO plugin over the GPIO character device. */
export class GpioChipIO extends EventEmitter {
  readonly name = 'GpioChip-IO';
  readonly MODES = MODES;
  readonly HIGH = 1;
  readonly LOW = 0;
  readonly analogPins: readonly number[] = [];
  readonly pins: IoPinInfo[];
  isReady = false;
  private readonly modes: number[];
  private readonly outputs = new Map<number, 0 | 1>();
  private readonly biases = new Map<number, LineBias>();
  private readonly reports = new Map<number, Report>();
  private backend: ChipBackend | undefined;
  private i2c: I2cBackend | undefined;
  private timer: unknown;
  private readonly opts: GpioChipOptions;

  constructor(options: GpioChipOptions = {}) {
    super();
    this.opts = options;
    this.pins = Array.from({ length: GPIOCHIP_LINES }, () => ({ supportedModes: [MODES.INPUT, MODES.OUTPUT], mode: MODES.UNKNOWN, value: 0, report: 0, analogChannel: 127 }));
    this.modes = this.pins.map(() => MODES.UNKNOWN);
    // johnny-five listens for ready after constructing the Board: announce it on the next turn.
    setImmediate(() => this.open());
  }

  private open(): void {
    try {
      this.backend = this.opts.backend ?? libgpiodBackend(this.opts.chip ?? 0);
      if (this.opts.i2c) this.i2c = this.opts.i2c;
    } catch (e) {
      this.emit('error', e instanceof Error ? e : new Error(String(e)));
      return;
    }
    this.isReady = true;
    this.emit('connect');
    this.emit('ready');
  }

  private line(pin: number): ChipBackend {
    if (!this.backend) throw new Error(`${this.name}: not ready`);
    if (!Number.isInteger(pin) || pin < 0 || pin >= GPIOCHIP_LINES) throw new Error(`${this.name}: no line ${pin} (GPIO0–GPIO${GPIOCHIP_LINES - 1})`);
    return this.backend;
  }

  /** `GPIO17` → 17 (a number is already a line offset). */
  normalize(pin: number | string): number {
    if (typeof pin === 'number') return pin;
    const m = /^GPIO(\d{1,2})$/.exec(pin.trim());
    const n = m?.[1] !== undefined ? Number(m[1]) : Number.NaN;
    if (!(n >= 0 && n < GPIOCHIP_LINES)) throw new Error(`${this.name}: unknown pin name "${pin}" (GPIO0–GPIO${GPIOCHIP_LINES - 1})`);
    return n;
  }

  pinMode(pin: number | string, mode: number): this {
    const n = this.normalize(pin);
    const chip = this.line(n);
    if (mode === MODES.OUTPUT) chip.output(n, this.outputs.get(n) ?? 0);
    else if (mode === MODES.INPUT) chip.input(n, this.biases.get(n) ?? 'none');
    else throw new Error(`${this.name}: line ${n} supports INPUT and OUTPUT only, not mode ${mode}`);
    this.modes[n] = mode;
    const info = this.pins[n];
    if (info) info.mode = mode;
    return this;
  }

  /**
   * On an output: the level. On an input: the Firmata convention johnny-five and the GPIO adapters
   * use for the bias (1 = pull-up, 0 = pull-down).
   */
  digitalWrite(pin: number | string, value: number): this {
    const n = this.normalize(pin);
    const chip = this.line(n);
    const v: 0 | 1 = value ? 1 : 0;
    if (this.modes[n] === MODES.INPUT) {
      const bias: LineBias = v ? 'up' : 'down';
      this.biases.set(n, bias);
      chip.input(n, bias);
      return this;
    }
    if (this.modes[n] !== MODES.OUTPUT) this.pinMode(n, MODES.OUTPUT);
    this.outputs.set(n, v);
    chip.write(n, v);
    const info = this.pins[n];
    if (info) info.value = v;
    return this;
  }

  /** Reports the line's level now and on every change, read every GPIOCHIP_SAMPLING_MS. */
  digitalRead(pin: number | string, cb: (value: number) => void): this {
    const n = this.normalize(pin);
    this.line(n);
    this.reports.set(n, { cb, last: undefined });
    const info = this.pins[n];
    if (info) info.report = 1;
    this.sample();
    if (this.timer === undefined) this.timer = (this.opts.setInterval ?? setInterval)(() => this.sample(), GPIOCHIP_SAMPLING_MS);
    return this;
  }

  private sample(): void {
    const chip = this.backend;
    if (!chip) return;
    for (const [n, r] of this.reports) {
      let v: number;
      try {
        v = chip.read(n);
      } catch (e) {
        this.emit('error', e instanceof Error ? e : new Error(String(e)));
        continue;
      }
      if (v !== r.last) {
        r.last = v;
        const info = this.pins[n];
        if (info) info.value = v;
        r.cb(v);
      }
    }
  }

  i2cConfig(): this {
    this.i2c ??= i2cBusBackend(this.opts.i2cBus ?? 1);
    return this;
  }

  /** johnny-five's forms: (address, bytes) or (address, register, bytes | byte). */
  i2cWrite(address: number, registerOrBytes: number | readonly number[], bytes?: number | readonly number[]): this {
    this.i2c ??= i2cBusBackend(this.opts.i2cBus ?? 1);
    const data = Array.isArray(registerOrBytes)
      ? [...(registerOrBytes as readonly number[])]
      : [registerOrBytes as number, ...(bytes === undefined ? [] : Array.isArray(bytes) ? (bytes as readonly number[]) : [bytes as number])];
    this.i2c.write(address, data);
    return this;
  }

  i2cWriteReg(address: number, register: number, value: number): this {
    return this.i2cWrite(address, register, value);
  }

  /** Stop reading and release every line (outputs go back to the kernel's default). */
  close(): void {
    if (this.timer !== undefined) (this.opts.clearInterval ?? clearInterval)(this.timer as ReturnType<typeof setInterval>);
    this.timer = undefined;
    this.reports.clear();
    this.backend?.close();
    this.i2c?.close();
    this.backend = undefined;
    this.i2c = undefined;
    this.isReady = false;
    this.emit('close');
  }
}

// ------------------------------------------------------------------ the real backends (on a Pi)

/** node-libgpiod 0.5's Line (lib/line.d.ts), as far as used here. */
export interface LibgpiodLine {
  requestInputMode(consumer?: string): void;
  requestInputModeFlags?(consumer: string, flags: number): void;
  requestOutputMode(consumer?: string, defaultValue?: 0 | 1): void;
  getValue(): number;
  setValue(value: number): void;
  release(): void;
}
export interface Libgpiod {
  Chip: new (n: number) => object;
  Line: (new (chip: object, offset: number) => LibgpiodLine) & { RequestFlags?: Record<string, number> };
}

function loadNative<T>(pkg: string, hint: string): T {
  try {
    return createRequire(import.meta.url)(pkg) as T;
  } catch (e) {
    throw new Error(`gpio: ${pkg} is not installed (${hint}): ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** node-libgpiod (libgpiod 1.x) on /dev/gpiochip`chip`. */
export function libgpiodBackend(chipNumber: number, lib: Libgpiod = loadNative<Libgpiod>('node-libgpiod', 'apt install libgpiod-dev; npm install node-libgpiod')): ChipBackend {
  const chip = new lib.Chip(chipNumber);
  const lines = new Map<number, LibgpiodLine>();
  const flags = lib.Line.RequestFlags ?? {};
  const claim = (offset: number): LibgpiodLine => {
    lines.get(offset)?.release();
    const line = new lib.Line(chip, offset);
    lines.set(offset, line);
    return line;
  };
  const lineOf = (offset: number): LibgpiodLine => {
    const line = lines.get(offset);
    if (!line) throw new Error(`gpio: line ${offset} is not claimed`);
    return line;
  };
  return {
    input(offset, bias) {
      const line = claim(offset);
      const flag = bias === 'up' ? flags.BIAS_PULL_UP : bias === 'down' ? flags.BIAS_PULL_DOWN : flags.BIAS_DISABLE;
      if (flag !== undefined && line.requestInputModeFlags) line.requestInputModeFlags('vendomat', flag);
      else line.requestInputMode('vendomat');
    },
    output(offset, value) {
      claim(offset).requestOutputMode('vendomat', value);
    },
    read: (offset) => (lineOf(offset).getValue() ? 1 : 0),
    write: (offset, value) => lineOf(offset).setValue(value),
    close() {
      for (const line of lines.values()) line.release();
      lines.clear();
    },
  };
}

interface I2cBus {
  i2cWriteSync(address: number, length: number, buffer: Buffer): number;
  closeSync(): void;
}

/** i2c-bus on /dev/i2c-`bus`. */
export function i2cBusBackend(bus: number): I2cBackend {
  const lib = loadNative<{ openSync(n: number): I2cBus }>('i2c-bus', 'npm install i2c-bus');
  const handle = lib.openSync(bus);
  return {
    write: (address, bytes) => void handle.i2cWriteSync(address, bytes.length, Buffer.from(bytes)),
    close: () => handle.closeSync(),
  };
}
