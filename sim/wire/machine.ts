/**
 * The wire-level simulated machine: the same world, devices and faults as the port-level machine
 * (sim/machine.ts), but the controller's ports are the REAL adapters talking real protocols to
 * emulators on the one clock:
 *
 *   sim coin / bill / card ─▶ MDB peripheral emulators ─▶ MDB board emulator ─▶ EmulatorBinding
 *       ─▶ SerialLink ─▶ MdbBoard ─▶ MDB drivers (hardware/mdb) ─▶ controller
 *   sim keypad / dispenser / drop / door ─▶ SimIO bridges (pins) ─▶ johnny-five ─▶ GPIO adapters
 *       (hardware/gpio) ─▶ controller;  controller ─▶ LcdDisplay ─▶ I2C ─▶ HD44780 model = the glass
 *
 * (ccTalk and the pulse coin acceptor are used when the hardware section asks for them.)
 *
 * The emulated hardware is built from a `hardware` config section, the same one `vendomat run`
 * uses, so the simulator and the real wiring cannot drift apart. By default (a config whose section
 * is all `sim`, like the demo machine): coin, bill and card on MDB, the rest on GPIO.
 *
 * Port-level faults keep working (they act on the sim devices behind the emulators); `offline
 * <device>` on an MDB or ccTalk device silences it on the bus, so the real driver notices by
 * itself. Wire faults (mute, bad checksums, garbage, power cycle, unplug) are on `wire`.
 *
 * Two things the port-level machine does not need:
 * - `isReady()` / `bootWireMachine`: the adapters initialise over the wire (MDB RESET, SETUP, ...)
 *   before the controller should start;
 * - `quiet()`: true when nothing is on its way through the wire (no MDB status queued in an
 *   emulator or line in flight, no key press, door or beam change, home-switch edge or credited
 *   coin still travelling, every bus device's link state caught up with its sim device). A
 *   session's "at rest" must include it, since an event can sit in an emulator until the next POLL.
 */
import { BehaviorSubject, EMPTY, Subject, catchError, concat, defer, filter, from, of, switchMap, type Observable, type Subscription } from 'rxjs';
import type { Clock } from '../../src/clock.ts';
import type { MachineConfig } from '../../src/config/schema.ts';
import { ALL_SIM_HARDWARE, hardwareSchema, usesRealHardware, type HardwareConfig } from '../../src/config/hardware.ts';
import type { Logger } from '../../src/controller/controller.ts';
import type {
  CoinCounts,
  CoinMechEvent,
  CoinMechPort,
  DispenserEvent,
  DispenserPort,
  DisplayPort,
  DoorPort,
  DoorState,
  DropSensorPort,
  Key,
  KeypadPort,
  LinkState,
  MachinePorts,
  Minor,
  PayoutResult,
} from '../../src/ports/index.ts';
import { DeviceError } from '../../src/ports/index.ts';
import { buildHostAdapters, openGpio, resolveHardware, type HostAdapters, type ResolvedHardware } from '../../src/cli/hardware.ts';
import { keyForLabel, type GpioDevices, type GpioOptionsInput } from '../../hardware/gpio/index.ts';
import type { ByteLink } from '../../hardware/serial/types.ts';
import { FrameTracer } from '../../hardware/serial/trace.ts';
import type { VirtualClock } from '../clock.ts';
import { createSimMachine, type SimMachine, type SimMachineOptions } from '../machine.ts';
import { EmulatorBinding, type WireEmulator } from './binding.ts';
import { createCctalkEmulator, tubeHopperModel, type CctalkEmulator } from './cctalk/index.ts';
import { createSimIO, type SimGpio } from './gpio/index.ts';
import { createMdbEmulator, type MdbEmulator } from './mdb/index.ts';

// ------------------------------------------------------------------ a serial port in front of a ByteLink emulator

export interface ByteLinkEmulatorOptions {
  readonly path: string;
  readonly vendorId?: string;
  readonly productId?: string;
  readonly serialNumber?: string;
  /** Single-wire bus (ccTalk, protocols.md §3.1): the host hears its own bytes back first. */
  readonly echo?: boolean;
}

/**
 * A WireEmulator whose device side is a ByteLink, for emulators written against ByteLink (the
 * ccTalk devices): register it on the EmulatorBinding and give `link` to the emulator.
 */
export class ByteLinkEmulator implements WireEmulator {
  readonly path: string;
  readonly vendorId: string | undefined;
  readonly productId: string | undefined;
  readonly serialNumber: string | undefined;
  readonly manufacturer = 'Vendomat emulator';
  /** The device side: `data$` is what the host wrote, `write` sends to the host. */
  readonly link: ByteLink;
  private send: ((bytes: Uint8Array) => void) | undefined;
  private readonly data = new Subject<Uint8Array>();
  private readonly state = new BehaviorSubject<LinkState>({ status: 'offline', reason: 'host not connected' });

  constructor(private readonly opts: ByteLinkEmulatorOptions) {
    this.path = opts.path;
    this.vendorId = opts.vendorId;
    this.productId = opts.productId;
    this.serialNumber = opts.serialNumber;
    this.link = {
      data$: this.data.asObservable(),
      state$: this.state.asObservable(),
      write: (bytes) => {
        const s = this.send;
        if (!s) return Promise.reject(new DeviceError('DEVICE_OFFLINE', this.path, 'host not connected'));
        s(typeof bytes === 'string' ? Uint8Array.from(bytes, (c) => c.charCodeAt(0) & 0xff) : bytes.slice());
        return Promise.resolve();
      },
      close: () => Promise.resolve(),
    };
  }

  attach(send: (bytes: Uint8Array) => void): void {
    this.send = send;
    this.state.next({ status: 'online' });
  }

  detach(): void {
    this.send = undefined;
    this.state.next({ status: 'offline', reason: 'host disconnected' });
  }

  onData(bytes: Uint8Array): void {
    if (this.opts.echo) this.send?.(bytes.slice());
    this.data.next(bytes);
  }
}

/** Counts command lines in and reply lines out of a line-based emulator (the MDB board). */
class LineCounter implements WireEmulator {
  linesIn = 0;
  linesOut = 0;
  lastInAt = -Infinity;

  constructor(
    readonly inner: WireEmulator,
    private readonly clock: Clock,
  ) {}

  get path(): string {
    return this.inner.path;
  }
  get vendorId(): string | undefined {
    return this.inner.vendorId;
  }
  get productId(): string | undefined {
    return this.inner.productId;
  }
  get manufacturer(): string | undefined {
    return this.inner.manufacturer;
  }
  get serialNumber(): string | undefined {
    return this.inner.serialNumber;
  }

  attach(send: (bytes: Uint8Array) => void): void {
    this.inner.attach((bytes) => {
      this.linesOut += newlines(bytes);
      send(bytes);
    });
  }

  detach(): void {
    this.linesOut = this.linesIn;
    this.inner.detach();
  }

  onData(bytes: Uint8Array): void {
    const n = newlines(bytes);
    if (n > 0) {
      this.linesIn += n;
      this.lastInAt = this.clock.now();
    }
    this.inner.onData(bytes);
  }

  /** Lines still waiting for their reply (a line unanswered for `staleMs` is taken as dropped). */
  pending(staleMs: number): number {
    const p = this.linesIn - this.linesOut;
    if (p <= 0 || this.clock.now() - this.lastInAt > staleMs) {
      this.linesOut = this.linesIn;
      return 0;
    }
    return p;
  }
}

function newlines(bytes: Uint8Array): number {
  let n = 0;
  for (const b of bytes) if (b === 0x0a) n++;
  return n;
}

// ------------------------------------------------------------------ the default wiring

/** The EmulatorBinding paths the emulators get when the section gives a USB id instead of a path. */
export const WIRE_MDB_PATH = '/dev/ttyACM-mdb';
export const WIRE_CCTALK_PATH = '/dev/ttyUSB-cctalk';

/**
 * GPIO wiring for the emulated board, derived from the machine: a 4×6 keypad with every key
 * (A–J, 0–9, CLEAR, RETURN) so any `press` reaches the controller, a rows × columns motor matrix
 * with one shared home-sense line, drop beam, door switch and an I2C (PCF8574) LCD of the
 * display's size. Pins are SimIO numbers 4–36.
 */
export function defaultWireGpio(config: MachineConfig): GpioOptionsInput {
  const rows = config.catalog.rows;
  const cols = config.catalog.columns;
  const motorRows = Array.from({ length: rows }, (_, i) => 14 + i);
  const motorCols = Array.from({ length: cols }, (_, i) => 14 + rows + i);
  const next = 14 + rows + cols;
  return {
    keypad: { rowPins: [4, 5, 6, 7], colPins: [8, 9, 10, 11, 12, 13] },
    dispenser: { rowPins: motorRows, colPins: motorCols, home: { mode: 'shared', pin: next } },
    drop: { pin: next + 1 },
    door: { pin: next + 2 },
    lcd: { controller: 'PCF8574', rows: config.display.rows, cols: config.display.cols },
  };
}

/** MDB for coin, bill and card (those the machine has), GPIO for the rest. */
export function defaultWireHardware(config: MachineConfig): HardwareConfig {
  return hardwareSchema.parse({
    coin: 'mdb',
    bill: config.devices.bill.present ? 'mdb' : 'none',
    card: config.devices.card.present ? 'mdb' : 'none',
    keypad: 'gpio',
    dispenser: 'gpio',
    drop: 'gpio',
    door: 'gpio',
    display: 'gpio',
    gpio: defaultWireGpio(config),
  });
}

/** The hardware a wire machine emulates: the config's own section when it uses real devices. */
export function wireHardwareFor(config: MachineConfig): HardwareConfig {
  const own: unknown = (config as { readonly hardware?: unknown }).hardware;
  const parsed = own === undefined ? ALL_SIM_HARDWARE : hardwareSchema.parse(own);
  return usesRealHardware(parsed) ? parsed : defaultWireHardware(config);
}

const ISO_NUMERIC: Readonly<Record<string, number>> = { EUR: 978, USD: 840, GBP: 826, CHF: 756, SEK: 752, NOK: 578, DKK: 208, PLN: 985, CZK: 203, JPY: 392 };

// ------------------------------------------------------------------ the emulated hardware ("wire world")

export interface WireWorldOptions extends SimMachineOptions {
  /** The section to emulate (default: `wireHardwareFor(config)`). */
  readonly hardware?: HardwareConfig;
  /** How long the emulated finger holds each key (default 80 ms). */
  readonly keyHoldMs?: number;
  /** Builds the port-level world (default: sim/machine.ts `createSimMachine`). */
  readonly portLevel?: (config: MachineConfig, clock: Clock, opts: SimMachineOptions) => SimMachine;
  readonly logger?: Logger;
}

/** The device side: the port-level world plus the emulators in front of it. */
export interface WireWorld {
  readonly sim: SimMachine;
  readonly hardware: HardwareConfig;
  readonly resolved: ResolvedHardware;
  readonly binding: EmulatorBinding;
  /** The MDB interface-board emulator (with `.changer`, `.validator`, `.reader`), when MDB is used. */
  readonly mdb?: MdbEmulator;
  readonly mdbPath?: string;
  readonly cctalk?: CctalkEmulator;
  readonly cctalkPath?: string;
  /** SimIO with its bridges (`.keypad`, `.motors`, `.drop`, `.door`, `.coin`, `.lcd`), when GPIO is used. */
  readonly gpio?: SimGpio;
  /** The keys the emulated keypad has (presses of other keys never reach the wire). */
  readonly keypadKeys?: ReadonlySet<string>;
  /** Command lines in flight on the MDB board (answered within `staleMs`, else taken as lost). */
  mdbLinesPending(staleMs?: number): number;
  /** Stop following the sim devices. */
  dispose(): void;
}

/**
 * Builds the emulated hardware for a machine: the port-level world, and in front of its devices
 * the emulators the hardware section asks for, registered on one EmulatorBinding (serial) or one
 * SimIO (GPIO). Any host stack (the wire machine, `run`, `doctor`) can then connect to it.
 */
export function createWireWorld(config: MachineConfig, clock: Clock, opts: WireWorldOptions = {}): WireWorld {
  const hardware = opts.hardware ?? wireHardwareFor(config);
  const resolved = resolveHardware(config, hardware);
  const sim = (opts.portLevel ?? createSimMachine)(config, clock, opts.seed === undefined ? {} : { seed: opts.seed });
  const d = sim.devices;
  const binding = new EmulatorBinding();
  const subs: Subscription[] = [];
  const detach: (() => void)[] = [];
  const log = opts.logger;

  let mdb: MdbEmulator | undefined;
  let mdbPath: string | undefined;
  let counter: LineCounter | undefined;
  if (resolved.mdb) {
    const t = resolved.mdb.bus.target;
    mdbPath = 'path' in t ? t.path : WIRE_MDB_PATH;
    mdb = createMdbEmulator({
      ...(hardware.coin === 'mdb' ? { coin: d.coin } : {}),
      ...(hardware.bill === 'mdb' && d.bill ? { bill: d.bill } : {}),
      ...(hardware.card === 'mdb' && d.card ? { card: d.card } : {}),
      clock,
      options: {
        path: mdbPath,
        ...('vendorId' in t ? { vendorId: t.vendorId.toLowerCase().replace(/^0x/, ''), productId: t.productId.toLowerCase().replace(/^0x/, '') } : {}),
        coins: config.currency.coins,
        bills: config.currency.bills,
        decimals: config.currency.decimals,
        currency: ISO_NUMERIC[config.currency.code] ?? 978,
        changer: { tubeFullAt: config.sim.tubeCapacity },
        // The board keeps the host's recent lines in an array it splices when full (O(n) a line):
        // a short history keeps a days-long simulation fast; the FrameTracer has the full picture.
        keepLines: 64,
        ...(resolved.mdb.options.board?.replyChecksum ? { replyChecksum: resolved.mdb.options.board.replyChecksum } : {}),
        ...(log ? { log } : {}),
      },
    });
    counter = new LineCounter(mdb, clock);
    binding.register(counter);
    // A device whose link is lost does not answer on the bus: the driver finds out by itself.
    const muteWith = (device: { readonly link$: Observable<LinkState> } | undefined, peripheral: { mute(on: boolean): void } | undefined): void => {
      if (device && peripheral) subs.push(device.link$.subscribe((l) => peripheral.mute(l.status !== 'online')));
    };
    muteWith(hardware.coin === 'mdb' ? d.coin : undefined, mdb.changer);
    muteWith(hardware.bill === 'mdb' ? d.bill : undefined, mdb.validator);
    muteWith(hardware.card === 'mdb' ? d.card : undefined, mdb.reader);
  }

  let cctalk: CctalkEmulator | undefined;
  let cctalkPath: string | undefined;
  if (resolved.cctalk) {
    const t = resolved.cctalk.bus.target;
    cctalkPath = 'path' in t ? t.path : WIRE_CCTALK_PATH;
    const port = new ByteLinkEmulator({
      path: cctalkPath,
      echo: true,
      ...('vendorId' in t ? { vendorId: t.vendorId.toLowerCase().replace(/^0x/, ''), productId: t.productId.toLowerCase().replace(/^0x/, '') } : {}),
    });
    binding.register(port);
    const o = resolved.cctalk.options;
    const sorter: Record<number, number> = {};
    for (const [p, v] of Object.entries(o.acceptor?.sorterPaths ?? {})) sorter[v] = Number(p);
    cctalk = createCctalkEmulator({
      link: port.link,
      clock,
      acceptor: {
        port: d.coin,
        coins: config.currency.coins.map((value, i) => ({ position: i + 1, value })),
        sorterPaths: sorter,
        ...(o.acceptor?.address !== undefined ? { address: o.acceptor.address } : {}),
      },
      hoppers: (o.hoppers ?? []).map((h) => ({
        model: tubeHopperModel(d.coin, h.coinValue),
        ...(h.address !== undefined ? { address: h.address } : {}),
        ...(h.security !== undefined ? { security: h.security } : {}),
        payoutPerCoinMs: 0,
      })),
      ...(log ? { logger: log } : {}),
    });
    const acceptor = cctalk.acceptor;
    if (acceptor) subs.push(d.coin.link$.subscribe((l) => acceptor.setDead(l.status !== 'online')));
  }

  let gpio: SimGpio | undefined;
  let keypadKeys: Set<string> | undefined;
  if (resolved.gpio) {
    gpio = createSimIO({ clock, options: resolved.gpio.options });
    const hold = opts.keyHoldMs ?? 80;
    const keypadOptions = resolved.gpio.options.keypad;
    if (gpio.keypad && keypadOptions) {
      // A finger cannot press a key the keypad does not have: such presses are dropped here.
      const onPad = new Set<string>();
      keypadKeys = onPad;
      for (const row of keypadOptions.layout) for (const label of row) {
        const key = keyForLabel(label, keypadOptions.keyMap);
        if (key !== undefined) onPad.add(key);
      }
      const reachable: KeypadPort = { name: d.keypad.name, link$: d.keypad.link$, keys$: d.keypad.keys$.pipe(filter((k) => onPad.has(k))) };
      detach.push(gpio.keypad.attach(reachable, { holdMs: hold }));
    }
    if (gpio.motors) detach.push(gpio.motors.attach(d.dispenser));
    if (gpio.drop) detach.push(gpio.drop.attach(d.drop));
    if (gpio.door) detach.push(gpio.door.attach(d.door));
    if (gpio.coin) detach.push(gpio.coin.attach(d.coin));
    const lcd = gpio.lcd;
    if (lcd) {
      // The glass the customer reads is the HD44780's DDRAM; the sim display mirrors it for UIs.
      let queued = false;
      detach.push(
        lcd.onByte(() => {
          if (queued) return;
          queued = true;
          queueMicrotask(() => {
            queued = false;
            d.display.show(lcd.lines().map((l) => l.trimEnd())).catch(() => undefined);
          });
        }),
      );
    }
  }

  return {
    sim,
    hardware,
    resolved,
    binding,
    ...(mdb ? { mdb } : {}),
    ...(mdbPath !== undefined ? { mdbPath } : {}),
    ...(cctalk ? { cctalk } : {}),
    ...(cctalkPath !== undefined ? { cctalkPath } : {}),
    ...(gpio ? { gpio } : {}),
    ...(keypadKeys ? { keypadKeys } : {}),
    // The board emulator knows what it still owes (lost replies included); the line counter is the
    // fallback for a board that does not say.
    mdbLinesPending: (staleMs = 1_000) => mdb?.repliesPending ?? counter?.pending(staleMs) ?? 0,
    dispose() {
      for (const s of subs) s.unsubscribe();
      for (const f of detach) f();
      gpio?.keypad?.dispose();
      gpio?.motors?.dispose();
      mdb?.dispose();
      cctalk?.close();
      sim.dispose();
    },
  };
}

// ------------------------------------------------------------------ ports that exist once the GPIO board is up

/**
 * The johnny-five board reports ready asynchronously (after a microtask on SimIO), but a machine is
 * built synchronously: these forward to the real GPIO adapters, straight through once they exist
 * (which `bootWireMachine` waits for before the controller starts).
 */
class Later<T> {
  value: T | undefined;
  error: unknown;
  readonly promise: Promise<T>;
  constructor(p: Promise<T>) {
    this.promise = p.then(
      (v) => (this.value = v),
      (e: unknown) => {
        this.error = e;
        throw e;
      },
    );
    this.promise.catch(() => undefined);
  }
  stream<R>(pick: (t: T) => Observable<R>, first?: R): Observable<R> {
    return defer(() => {
      if (this.value !== undefined) return pick(this.value);
      const rest = from(this.promise).pipe(
        switchMap(pick),
        catchError(() => EMPTY),
      );
      return first === undefined ? rest : concat(of(first), rest);
    });
  }
  link(pick: (t: T) => Observable<LinkState>): Observable<LinkState> {
    return defer(() => {
      if (this.value !== undefined) return pick(this.value);
      return concat(
        of<LinkState>({ status: 'offline', reason: 'gpio board starting' }),
        from(this.promise).pipe(
          switchMap(pick),
          catchError((e: unknown) => of<LinkState>({ status: 'error', code: 'GPIO_BOARD_ERROR', detail: e instanceof Error ? e.message : String(e) })),
        ),
      );
    });
  }
  call<R>(fn: (t: T) => Promise<R>): Promise<R> {
    return this.value !== undefined ? fn(this.value) : this.promise.then(fn);
  }
}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new DeviceError('DEVICE_OFFLINE', what, `${what}: no GPIO device configured`);
  return v;
}

function laterPanel(g: Later<GpioDevices>, rows: number, cols: number) {
  const keypad: KeypadPort = {
    name: 'keypad',
    link$: g.link((x) => need(x.keypad, 'keypad').link$),
    keys$: g.stream<Key>((x) => need(x.keypad, 'keypad').keys$),
  };
  const display: DisplayPort = {
    name: 'display',
    rows,
    cols,
    link$: g.link((x) => need(x.display, 'display').link$),
    show: (lines) => g.call((x) => need(x.display, 'display').show(lines)),
  };
  const dispenser: DispenserPort = {
    name: 'dispenser',
    link$: g.link((x) => need(x.dispenser, 'dispenser').link$),
    events$: g.stream<DispenserEvent>((x) => need(x.dispenser, 'dispenser').events$),
    motorOn: (column) => g.call((x) => need(x.dispenser, 'dispenser').motorOn(column)),
    motorOff: () => g.call((x) => need(x.dispenser, 'dispenser').motorOff()),
  };
  const drop: DropSensorPort = {
    name: 'drop',
    link$: g.link((x) => need(x.drop, 'drop').link$),
    beam$: g.stream<boolean>((x) => need(x.drop, 'drop').beam$),
  };
  const door: DoorPort = {
    name: 'door',
    link$: g.link((x) => need(x.door, 'door').link$),
    door$: g.stream<DoorState>((x) => need(x.door, 'door').door$),
  };
  const coin: CoinMechPort = {
    name: 'coin',
    link$: g.link((x) => need(x.coin, 'coin').link$),
    events$: g.stream<CoinMechEvent>((x) => need(x.coin, 'coin').events$),
    setAcceptance: (values: readonly Minor[]) => g.call((x) => need(x.coin, 'coin').setAcceptance(values)),
    tubeLevels: (): Promise<CoinCounts> => g.call((x) => need(x.coin, 'coin').tubeLevels()),
    dispense: (plan: CoinCounts): Promise<PayoutResult> => g.call((x) => need(x.coin, 'coin').dispense(plan)),
  };
  return { keypad, display, dispenser, drop, door, coin };
}

// ------------------------------------------------------------------ the wire machine

export interface WireSimMachineOptions extends WireWorldOptions {
  /** Where frames are traced (default: a new 5,000-frame tracer). */
  readonly tracer?: FrameTracer;
}

export interface WireHandles {
  /** The emulated hardware: `world.mdb?.changer?.mute(true)`, `world.gpio?.motors?.setFault(...)`, ... */
  readonly world: WireWorld;
  readonly binding: EmulatorBinding;
  /** The real host side: serial links and the MDB / ccTalk drivers. */
  readonly host: HostAdapters;
  /** The GPIO adapters, once the board is up. */
  gpio(): GpioDevices | undefined;
  /** Pull / put back the USB cable of a serial bus. */
  unplug(bus: 'mdb' | 'cctalk'): void;
  replug(bus: 'mdb' | 'cctalk'): void;
}

export interface WireSimMachine extends SimMachine {
  readonly tracer: FrameTracer;
  readonly wire: WireHandles;
  readonly hardware: HardwareConfig;
  /** Every adapter is up (serial devices initialised, GPIO board ready) where its sim device is online. */
  isReady(): boolean;
  /** Nothing is on its way through the wire (see the module comment). */
  quiet(): boolean;
  /** Stop polling, close links and the GPIO board, detach the emulators (dispose does this too, without waiting). */
  close(): Promise<void>;
}

/** A message still travelling is taken as lost after this long without progress. */
const STALE_MS = 2_000;

function counted<T>(source: Observable<T>, subs: Subscription[], keep: (v: T) => boolean, clock: Clock): { n: number; at: number } {
  const c = { n: 0, at: -Infinity };
  subs.push(
    source.subscribe((v) => {
      if (!keep(v)) return;
      c.n++;
      c.at = clock.now();
    }),
  );
  return c;
}

function latest<T>(source: Observable<T>, subs: Subscription[]): { v: T | undefined } {
  const box: { v: T | undefined } = { v: undefined };
  subs.push(source.subscribe((v) => (box.v = v)));
  return box;
}

/**
 * `createSimMachine`'s shape (world, devices, faults, ports, dispose) with the real adapters as
 * ports, plus `tracer` (every MDB line, ccTalk frame and GPIO pin change) and `wire` handles for
 * wire faults. Synchronous like the port-level factory; call `bootWireMachine` before starting
 * the controller.
 */
export function createWireSimMachine(config: MachineConfig, clock: Clock, opts: WireSimMachineOptions = {}): WireSimMachine {
  const world = createWireWorld(config, clock, opts);
  const { sim, hardware, resolved } = world;
  const tracer = opts.tracer ?? new FrameTracer({ capacity: 5_000 });
  const log = opts.logger;
  const host = buildHostAdapters(resolved, { clock, binding: world.binding, tracer, ...(log ? { logger: log } : {}) });
  const subs: Subscription[] = [];

  let gpioLater: Later<GpioDevices> | undefined;
  if (resolved.gpio && world.gpio) {
    const simGpio = world.gpio;
    subs.push(simGpio.trace$.subscribe((t) => tracer.record(t)));
    gpioLater = new Later(openGpio(resolved.gpio, simGpio.io, clock, log));
  }
  host.start();
  for (const l of [host.links.mdb, host.links.cctalk]) if (l) void l.open();

  const panel = gpioLater ? laterPanel(gpioLater, config.display.rows, config.display.cols) : undefined;
  const portFor = <K extends keyof MachinePorts>(k: K, gpioPort: MachinePorts[K] | undefined): MachinePorts[K] => {
    if (hardware[k] === 'sim') return sim.ports[k];
    if (gpioPort === undefined) throw new Error(`wire machine: ${k} is ${hardware[k]} but that adapter was not built`);
    return gpioPort;
  };
  let coin: CoinMechPort;
  if (hardware.coin === 'mdb') coin = host.mdb?.coin ?? portFor('coin', undefined);
  else if (hardware.coin === 'cctalk') coin = host.cctalk?.coinMech ?? portFor('coin', undefined);
  else if (hardware.coin === 'pulse') coin = portFor('coin', panel?.coin);
  else coin = sim.ports.coin;
  const bill = hardware.bill === 'mdb' ? host.mdb?.bill : hardware.bill === 'sim' ? sim.ports.bill : undefined;
  const card = hardware.card === 'mdb' ? host.mdb?.card : hardware.card === 'sim' ? sim.ports.card : undefined;
  const ports: MachinePorts = {
    coin,
    ...(bill ? { bill } : {}),
    ...(card ? { card } : {}),
    keypad: portFor('keypad', panel?.keypad),
    display: portFor('display', panel?.display),
    dispenser: portFor('dispenser', panel?.dispenser),
    drop: portFor('drop', panel?.drop),
    door: portFor('door', panel?.door),
  };

  // ---- what "quiet" compares: the sim side against what the adapters have delivered
  const d = sim.devices;
  const notRejected = (e: CoinMechEvent): boolean => e.type === 'coin' && e.routing !== 'rejected';
  const simCoins = hardware.coin === 'cctalk' || hardware.coin === 'pulse' ? counted(d.coin.events$, subs, notRejected, clock) : undefined;
  const hostCoins = simCoins ? counted(ports.coin.events$, subs, notRejected, clock) : undefined;
  const isHome = (e: DispenserEvent): boolean => e.type === 'homeLeft' || e.type === 'homeReached';
  const panelGpio = hardware.keypad === 'gpio' || hardware.dispenser === 'gpio' || hardware.drop === 'gpio' || hardware.door === 'gpio';
  const simKeys = hardware.keypad === 'gpio' ? counted(d.keypad.keys$, subs, (k) => world.keypadKeys?.has(k) ?? false, clock) : undefined;
  const simHome = hardware.dispenser === 'gpio' ? counted(d.dispenser.events$, subs, isHome, clock) : undefined;
  const simDoor = hardware.door === 'gpio' ? latest(d.door.door$, subs) : undefined;
  const simBeam = hardware.drop === 'gpio' ? latest(d.drop.beam$, subs) : undefined;
  let hostKeys: { n: number } | undefined;
  let hostHome: { n: number } | undefined;
  let hostDoor: { v: DoorState | undefined } | undefined;
  let hostBeam: { v: boolean | undefined } | undefined;
  if (panelGpio && gpioLater) {
    void gpioLater.promise.then((g) => {
      if (g.keypad && simKeys) hostKeys = counted(g.keypad.keys$, subs, () => true, clock);
      if (g.dispenser && simHome) hostHome = counted(g.dispenser.events$, subs, isHome, clock);
      if (g.door && simDoor) hostDoor = latest(g.door.door$, subs);
      if (g.drop && simBeam) hostBeam = latest(g.drop.beam$, subs);
    }, () => undefined);
  }

  const mdbPairs: { sim: { readonly online: boolean } | undefined; emu: { readonly isMuted: boolean; readonly queuedMessages: number } | undefined; host: { readonly link: LinkState; readonly state: string; readonly reconciling: boolean } | undefined }[] = [];
  if (world.mdb && host.mdb) {
    if (hardware.coin === 'mdb') mdbPairs.push({ sim: d.coin, emu: world.mdb.changer, host: host.mdb.coin });
    if (hardware.bill === 'mdb') mdbPairs.push({ sim: d.bill, emu: world.mdb.validator, host: host.mdb.bill });
    if (hardware.card === 'mdb') mdbPairs.push({ sim: d.card, emu: world.mdb.reader, host: host.mdb.card });
  }
  const mdbPlugged = (): boolean => world.mdbPath === undefined || world.binding.isPlugged(world.mdbPath);
  const cctalkLink = latest(host.cctalk?.acceptor.link$ ?? EMPTY, subs);

  const behind = (simC: { n: number; at: number } | undefined, hostC: { n: number } | undefined): boolean =>
    simC !== undefined && simC.n > (hostC?.n ?? 0) && clock.now() - simC.at < STALE_MS;

  const isReady = (): boolean => {
    for (const p of mdbPairs) {
      if (!p.sim || !p.host) continue;
      if (p.sim.online && p.host.state !== 'ready') return false;
    }
    if (host.cctalk && d.coin.online && cctalkLink.v?.status !== 'online') return false;
    if (gpioLater && (gpioLater.value === undefined || !gpioLater.value.board.online)) return gpioLater.error !== undefined;
    return true;
  };

  const quiet = (): boolean => {
    if (world.mdbLinesPending(STALE_MS) > 0) return false;
    if (host.mdb?.board.settling) return false;
    for (const p of mdbPairs) {
      if (!p.emu || !p.host) continue;
      if (p.emu.queuedMessages > 0) return false;
      if (p.host.reconciling && p.host.link.status === 'online') return false;
      const expected = !p.emu.isMuted && mdbPlugged();
      if (expected !== (p.host.link.status === 'online')) return false;
    }
    if (host.cctalk && d.coin.online !== (cctalkLink.v?.status === 'online')) return false;
    if (behind(simCoins, hostCoins)) return false;
    if (world.gpio?.coin && !world.gpio.coin.idle) return false;
    if (behind(simKeys, hostKeys)) return false;
    if (behind(simHome, hostHome)) return false;
    if (simDoor && hostDoor && simDoor.v !== hostDoor.v) return false;
    if (simBeam && hostBeam && simBeam.v !== hostBeam.v) return false;
    return true;
  };

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      for (const s of subs) s.unsubscribe();
      await host.stop();
      gpioLater?.value?.close();
      world.dispose();
    })());

  const path = (bus: 'mdb' | 'cctalk'): string | undefined => (bus === 'mdb' ? world.mdbPath : world.cctalkPath);
  return {
    config: sim.config,
    clock: sim.clock,
    world: sim.world,
    devices: sim.devices,
    faults: sim.faults,
    random: sim.random,
    ports,
    tracer,
    hardware,
    wire: {
      world,
      binding: world.binding,
      host,
      gpio: () => gpioLater?.value,
      unplug(bus) {
        const p = path(bus);
        if (p !== undefined) world.binding.unplug(p);
      },
      replug(bus) {
        const p = path(bus);
        if (p !== undefined) world.binding.replug(p);
      },
    },
    isReady,
    quiet,
    close,
    dispose() {
      void close();
    },
  };
}

// ------------------------------------------------------------------ for sessions (SimSession, soak, tests)

export function isWireSimMachine(m: SimMachine): m is WireSimMachine {
  return 'wire' in m && 'quiet' in m && typeof (m as { quiet?: unknown }).quiet === 'function';
}

/** True for a port-level machine; the wire machine's `quiet()` otherwise. */
export function wireQuiet(m: SimMachine): boolean {
  return !isWireSimMachine(m) || m.quiet();
}

/**
 * Runs the virtual clock until every adapter of a wire machine is up (no-op for a port-level
 * machine). Throws naming what did not come up within `limitMs`.
 */
export async function bootWireMachine(m: SimMachine, clock: VirtualClock, limitMs = 30_000): Promise<void> {
  if (!isWireSimMachine(m)) return;
  if (await clock.runUntil(() => m.isReady(), limitMs)) return;
  const host = m.wire.host;
  const late = [
    host.mdb?.coin && `coin (MDB ${host.mdb.coin.state})`,
    host.mdb?.bill && `bill (MDB ${host.mdb.bill.state})`,
    host.mdb?.card && `card (MDB ${host.mdb.card.state})`,
    m.wire.gpio() === undefined && 'GPIO board',
  ].filter((x): x is string => typeof x === 'string');
  throw new Error(`wire machine not ready after ${limitMs} ms (${late.join(', ')})`);
}

/** Runs the virtual clock while `p` is pending (e.g. a controller stop that talks over the wire). */
export async function whileRunning<T>(clock: VirtualClock, p: Promise<T>, limitMs = 60_000): Promise<T> {
  let done = false;
  const tracked = p.finally(() => {
    done = true;
  });
  tracked.catch(() => undefined);
  await clock.runUntil(() => done, limitMs);
  return tracked;
}
