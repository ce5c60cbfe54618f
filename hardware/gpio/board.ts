/**
 * A johnny-five Board over an injected IO plugin, plus the small pin layer the GPIO adapters share.
 *
 * On a Raspberry Pi the IO plugin is one of (install on the Pi, run as root):
 * - `raspi-io` (`new (await import('raspi-io')).RaspiIO()`): pure JS on j5-io. Inputs are polled every
 *   18 ms, so pulse widths are only known to ±18 ms: use the acceptor's slow pulse setting (≥ 50 ms).
 * - `pi-io` (`new (await import('pi-io')).default()`): on the pigpio C library; edge-driven reads, the
 *   better choice for a pulse coin acceptor.
 * Tests and the simulator pass `SimIO` (sim/wire/gpio/io-plugin.ts).
 *
 * Everything time-based (debounce, scanning, timeouts) runs on the injected Clock here, never on
 * johnny-five's own timers (fsm-and-style.md §B3). Pins are read through `io.digitalRead` callbacks.
 */
import type { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import type five from 'johnny-five';
import { BehaviorSubject, distinctUntilChanged, type Observable, type Subscription } from 'rxjs';
import type { Clock, TimerHandle } from '../../src/clock.ts';
import { DeviceError, type LinkState } from '../../src/ports/index.ts';
import type { Level, PinId, Pull } from './config.ts';
import { pinName, type GpioPluginName } from './pins.ts';

/** One pin as an IO plugin describes it (io-plugins README "Minimum Plugin Class Requirements"). */
export interface IoPinInfo {
  supportedModes: number[];
  mode?: number;
  value?: number;
  report?: number;
  analogChannel: number;
}

export interface IoModes {
  readonly INPUT: number;
  readonly OUTPUT: number;
  readonly ANALOG: number;
  readonly PWM: number;
  readonly SERVO: number;
}

/**
 * The part of the johnny-five IO plugin contract these adapters use (@types/johnny-five types
 * `io` as `any`, so we state it here). Any conforming plugin object will do.
 */
export interface IoPlugin extends EventEmitter {
  readonly name: string;
  readonly isReady: boolean;
  readonly MODES: IoModes;
  readonly HIGH: number;
  readonly LOW: number;
  readonly pins: readonly IoPinInfo[];
  readonly analogPins: readonly number[];
  pinMode(pin: number, mode: number): unknown;
  digitalWrite(pin: number, value: number): unknown;
  /** Asynchronous; the handler sees the value each time it changes (and usually once at start). */
  digitalRead(pin: number, handler: (value: number) => void): unknown;
  normalize?(pin: number | string): number;
}

/** pino-compatible subset; the default logs nothing. */
export interface GpioLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const silentLog: GpioLog = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

export function levelValue(level: Level): 0 | 1 {
  return level === 'high' ? 1 : 0;
}

export function inverse(level: Level): Level {
  return level === 'high' ? 'low' : 'high';
}

export interface OpenBoardOptions {
  io: IoPlugin;
  clock: Clock;
  /** The board must report ready within this time (on the Clock). Default 10 s. */
  readyTimeoutMs?: number;
  log?: GpioLog;
}

/**
 * johnny-five, loaded on first use: it is large (its module graph takes a good part of a second to
 * load on a Pi) and only a config with GPIO devices needs it. It is CommonJS, so a synchronous
 * require keeps opening the board free of extra turns of the event loop.
 */
export function johnnyFive(): typeof five {
  return createRequire(import.meta.url)('johnny-five') as typeof five;
}

/** johnny-five's Board options: `sigint` is real but missing from @types/johnny-five. */
type J5BoardOptions = five.BoardOption & { sigint: boolean };

/**
 * An open johnny-five board. `link$` is online after ready, offline when the IO plugin reports
 * close/disconnect, error when it reports an error.
 */
export class GpioBoard {
  readonly io: IoPlugin;
  readonly clock: Clock;
  readonly log: GpioLog;
  /** The johnny-five Board (for components such as LCD). */
  readonly j5: five.Board;
  private readonly linkSubject = new BehaviorSubject<LinkState>({ status: 'offline', reason: 'connecting' });
  readonly link$: Observable<LinkState> = this.linkSubject.pipe(distinctUntilChanged((a, b) => JSON.stringify(a) === JSON.stringify(b)));
  private readonly watchers = new Map<number, PinWatch>();
  private readonly modes = new Map<number, number>();
  private closed = false;

  private constructor(io: IoPlugin, clock: Clock, log: GpioLog) {
    this.io = io;
    this.clock = clock;
    this.log = log;
    // repl/debug off (no console, no stdin); sigint off: johnny-five's own SIGINT handler would call
    // process.reallyExit and skip our shutdown (lib/board.js).
    const options: J5BoardOptions = { io, repl: false, debug: false, sigint: false };
    this.j5 = new (johnnyFive().Board)(options);
    // Without a listener johnny-five re-emits plugin errors on the Board and Node throws them.
    this.j5.on('error', (err: Error) => this.onError(err));
    io.on('error', (err: unknown) => this.onError(err));
    io.on('close', () => this.setLink({ status: 'offline', reason: 'closed' }));
    io.on('disconnect', () => this.setLink({ status: 'offline', reason: 'disconnected' }));
  }

  /**
   * Create the Board over `io` and wait (on the Clock) for it to become ready. Rejects with
   * DEVICE_TIMEOUT when ready does not come in time, DEVICE_OFFLINE when the plugin fails first.
   */
  static open(options: OpenBoardOptions): Promise<GpioBoard> {
    const board = new GpioBoard(options.io, options.clock, options.log ?? silentLog);
    const timeoutMs = options.readyTimeoutMs ?? 10_000;
    return new Promise<GpioBoard>((resolve, reject) => {
      let timer: TimerHandle | undefined;
      let settled = false;
      const done = (err?: DeviceError): void => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) options.clock.clearTimeout(timer);
        // Deferred: done() may run while the subscription below is still being set up.
        queueMicrotask(() => failed.unsubscribe());
        if (err) reject(err);
        else resolve(board);
      };
      board.j5.on('ready', () => {
        board.setLink({ status: 'online' });
        board.log.info({ plugin: options.io.name }, 'gpio board ready');
        done();
      });
      const failed: Subscription = board.linkSubject.subscribe((s) => {
        if (s.status === 'error') done(new DeviceError('DEVICE_OFFLINE', 'gpio', `IO plugin failed before ready: ${s.detail ?? s.code}`));
      });
      timer = options.clock.setTimeout(() => {
        timer = undefined;
        board.setLink({ status: 'offline', reason: 'not ready' });
        done(new DeviceError('DEVICE_TIMEOUT', 'gpio', `IO plugin "${options.io.name}" not ready after ${timeoutMs} ms`));
      }, timeoutMs);
    });
  }

  get online(): boolean {
    return !this.closed && this.linkSubject.value.status === 'online';
  }

  get link(): LinkState {
    return this.linkSubject.value;
  }

  /** Reject a command when the board is not online. */
  assertOnline(device: string): void {
    if (!this.online) throw new DeviceError('DEVICE_OFFLINE', device, `gpio board is ${this.linkSubject.value.status}`);
  }

  /** Map a configured pin id to the plugin's pin number; throws a readable error for unknown pins. */
  pin(id: PinId | string): number {
    let n: number | undefined;
    // A number is a BCM line: the plugin gets its name (GPIO17), which every plugin resolves to its
    // own numbering; a bare number would be read as WiringPi (raspi-io) or a table index (pi-io).
    const name = typeof id === 'number' ? pinName(id) : id;
    if (typeof this.io.normalize === 'function') {
      try {
        n = this.io.normalize(name);
      } catch (e) {
        // linux-io fails on an unknown name with a TypeError; say which pin instead.
        throw new Error(`gpio: pin ${name} is not a pin of ${this.io.name}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    else if (typeof id === 'number') n = id;
    else if (/^\d+$/.test(id)) n = Number(id);
    if (n === undefined || !Number.isInteger(n) || n < 0) throw new Error(`gpio: pin "${String(id)}" is not a pin of ${this.io.name}`);
    if (this.io.pins.length > 0 && this.io.pins[n] === undefined) throw new Error(`gpio: pin ${n} does not exist on ${this.io.name} (${this.io.pins.length} pins)`);
    return n;
  }

  /** Drive an output pin (switching it to OUTPUT on first use). */
  write(pin: number, level: Level): void {
    if (this.closed) return;
    this.setMode(pin, this.io.MODES.OUTPUT);
    this.io.digitalWrite(pin, level === 'high' ? this.io.HIGH : this.io.LOW);
  }

  /**
   * Watch an input pin. The handler gets each new level (0/1) with the Clock time it was seen;
   * duplicates are dropped (Firmata reports unchanged pins too). The IO plugin contract has no way to
   * stop a digitalRead, so one read per pin is shared by all watchers and unwatching just detaches.
   */
  watch(pin: number, pull: Pull, handler: (value: 0 | 1, at: number) => void): { readonly value: 0 | 1 | undefined; unwatch(): void } {
    let w = this.watchers.get(pin);
    if (!w) {
      this.setMode(pin, this.io.MODES.INPUT);
      // Firmata convention (j5-io too): digitalWrite on an input sets its pull resistor.
      if (pull !== 'none') this.io.digitalWrite(pin, pull === 'up' ? this.io.HIGH : this.io.LOW);
      // Not seeded from io.pins[pin].value: before the first read that may be a stale default.
      const watch: PinWatch = { value: undefined, handlers: new Set() };
      w = watch;
      this.watchers.set(pin, watch);
      this.io.digitalRead(pin, (raw: number) => {
        if (this.closed) return;
        const v: 0 | 1 = raw ? 1 : 0;
        if (v === watch.value) return;
        watch.value = v;
        const at = this.clock.now();
        for (const h of [...watch.handlers]) h(v, at);
      });
    }
    const watch = w;
    watch.handlers.add(handler);
    return {
      get value() {
        return watch.value;
      },
      unwatch: () => {
        watch.handlers.delete(handler);
      },
    };
  }

  /** Stop dispatching reads and writing pins; link goes offline. The plugin itself stays as it is. */
  close(): void {
    if (this.closed) return;
    this.setLink({ status: 'offline', reason: 'closed' });
    this.closed = true;
    for (const w of this.watchers.values()) w.handlers.clear();
  }

  private setMode(pin: number, mode: number): void {
    if (this.modes.get(pin) === mode) return;
    this.modes.set(pin, mode);
    this.io.pinMode(pin, mode);
  }

  private onError(err: unknown): void {
    const detail = err instanceof Error ? err.message : String(err);
    this.log.error({ plugin: this.io.name, detail }, 'gpio board error');
    this.setLink({ status: 'error', code: 'GPIO_BOARD_ERROR', detail });
  }

  private setLink(s: LinkState): void {
    if (this.closed) return;
    this.linkSubject.next(s);
  }
}

interface PinWatch {
  value: 0 | 1 | undefined;
  readonly handlers: Set<(value: 0 | 1, at: number) => void>;
}

export interface DebounceOptions {
  pull: Pull;
  /** The electrical level that means "active" for this input. */
  activeLevel: Level;
  /** A new level must hold this long before it is accepted (0: accept at once). */
  debounceMs: number;
}

/**
 * A debounced digital input on the Clock. A change is accepted once the raw level has held for
 * `debounceMs`; the accepted edge is stamped with the time the raw level changed, so pulse widths
 * stay exact. A change that reverts sooner is reported to `onGlitch`.
 */
export class DebouncedInput {
  private stable: boolean | undefined;
  private raw: boolean | undefined;
  private rawSince = 0;
  private timer: TimerHandle | undefined;
  private readonly watch: { readonly value: 0 | 1 | undefined; unwatch(): void };

  constructor(
    private readonly board: GpioBoard,
    readonly pin: number,
    private readonly opts: DebounceOptions,
    private readonly onChange: (active: boolean, at: number, initial: boolean) => void,
    private readonly onGlitch?: (active: boolean, widthMs: number) => void,
  ) {
    const activeValue = levelValue(opts.activeLevel);
    this.watch = board.watch(pin, opts.pull, (v, at) => this.onRaw(v === activeValue, at));
    const seed = this.watch.value;
    if (seed !== undefined) {
      this.raw = this.stable = seed === activeValue;
      this.rawSince = board.clock.now();
    }
  }

  /** The accepted (debounced) state; undefined until the first reading. */
  get active(): boolean | undefined {
    return this.stable;
  }

  /** The latest raw reading. */
  get rawActive(): boolean | undefined {
    return this.raw;
  }

  /** A raw change is waiting out its debounce time. */
  get pending(): boolean {
    return this.timer !== undefined;
  }

  /** Clock time the raw level last changed. */
  get rawChangedAt(): number {
    return this.rawSince;
  }

  dispose(): void {
    this.cancel();
    this.watch.unwatch();
  }

  private onRaw(active: boolean, at: number): void {
    const clock = this.board.clock;
    if (this.stable === undefined) {
      // First reading: nothing to debounce against.
      this.raw = this.stable = active;
      this.rawSince = at;
      this.onChange(active, at, true);
      return;
    }
    const prevSince = this.rawSince;
    this.raw = active;
    this.rawSince = at;
    if (active === this.stable) {
      if (this.timer !== undefined) {
        this.cancel();
        this.onGlitch?.(!active, at - prevSince);
      }
      return;
    }
    this.cancel();
    if (this.opts.debounceMs <= 0) {
      this.accept(active, at);
      return;
    }
    this.timer = clock.setTimeout(() => {
      this.timer = undefined;
      this.accept(active, at);
    }, this.opts.debounceMs);
  }

  private accept(active: boolean, at: number): void {
    this.stable = active;
    this.onChange(active, at, false);
  }

  private cancel(): void {
    if (this.timer !== undefined) this.board.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * Load a Raspberry Pi IO plugin by package name (raspi-io and pi-io must be installed on the Pi;
 * they are not dependencies of this project), or the character-device plugin (`gpiochip`). Rejects with a clear message when the package is missing or does not
 * look like an IO plugin.
 */
export async function loadIoPlugin(pkg: GpioPluginName, options: Record<string, unknown> = {}): Promise<IoPlugin> {
  if (pkg === 'gpiochip') {
    // Ours (hardware/gpio/gpiochip.ts): the native library it needs is loaded when the board opens.
    const { GpioChipIO } = await import('./gpiochip.ts');
    const chip = typeof options.chip === 'number' ? options.chip : undefined;
    const i2cBus = typeof options.i2cBus === 'number' ? options.i2cBus : undefined;
    return new GpioChipIO({ ...(chip !== undefined ? { chip } : {}), ...(i2cBus !== undefined ? { i2cBus } : {}) });
  }
  let mod: unknown;
  try {
    mod = await import(pkg);
  } catch (e) {
    throw new Error(`gpio: IO plugin package "${pkg}" is not installed (npm install ${pkg} on the Pi): ${(e as Error).message}`);
  }
  const ctor = pickConstructor(mod, pkg === 'raspi-io' ? 'RaspiIO' : 'default');
  if (!ctor) throw new Error(`gpio: "${pkg}" does not export an IO plugin constructor`);
  const io: unknown = Reflect.construct(ctor, [options]);
  if (!isIoPlugin(io)) throw new Error(`gpio: "${pkg}" did not produce an object with the IO plugin API`);
  return io;
}

function pickConstructor(mod: unknown, name: string): ((...args: unknown[]) => unknown) | undefined {
  if (typeof mod !== 'object' || mod === null) return undefined;
  const direct: unknown = Reflect.get(mod, name);
  if (typeof direct === 'function') return direct as (...args: unknown[]) => unknown;
  const def: unknown = Reflect.get(mod, 'default');
  if (typeof def === 'function') return def as (...args: unknown[]) => unknown;
  if (typeof def === 'object' && def !== null) {
    const inner: unknown = Reflect.get(def, name);
    if (typeof inner === 'function') return inner as (...args: unknown[]) => unknown;
  }
  return undefined;
}

/** Structural check of the IO plugin contract (enough to fail early with a clear message). */
export function isIoPlugin(x: unknown): x is IoPlugin {
  if (typeof x !== 'object' || x === null) return false;
  const need = ['pinMode', 'digitalWrite', 'digitalRead', 'on', 'once', 'emit'];
  return need.every((m) => typeof Reflect.get(x, m) === 'function') && Array.isArray(Reflect.get(x, 'pins')) && typeof Reflect.get(x, 'MODES') === 'object';
}
