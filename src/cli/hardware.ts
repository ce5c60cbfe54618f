/**
 * The composition root for real hardware: turns the config's `hardware` section into the ports the
 * controller drives. Serial links (SerialLink over the real serialport binding, or an injected one
 * such as the simulator's EmulatorBinding), the MDB and ccTalk drivers on them, and the johnny-five
 * GPIO devices (IO plugin loaded by name, or injected). Ports the section leaves on `sim` come from
 * the port-level simulator.
 *
 * The adapters' option blocks are validated here, each with the schema its adapter exports
 * (`mdbBlockSchema`, `cctalkBlockSchema`, `gpioOptionsSchema`), and every problem is reported
 * with its full path (`hardware.gpio.dispenser.rowPins[2]: ...`). A device that cannot be reached
 * fails with one line naming the ports and why (`coin, bill, card: cannot open /dev/ttyACM0 (MDB
 * interface board): ENOENT (no such file or directory)`), never a stack trace.
 */
import { readFileSync } from 'node:fs';
import type { BindingInterface } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import { parse as parseYaml } from 'yaml';
import type { Observable } from 'rxjs';
import { z } from 'zod';
import type { Clock, TimerHandle } from '../clock.ts';
import { ConfigError, formatIssuePath, parseConfig } from '../config/load.ts';
import { unknownKeys, type UnknownKey } from '../config/strict.ts';
import type { MachineConfig } from '../config/schema.ts';
import {
  crossCheckHardware,
  describeConnection,
  hardwareSchema,
  portsUsing,
  type HardwareConfig,
  type HardwarePort,
  type SerialConnection,
} from '../config/hardware.ts';
import type { Logger } from '../controller/controller.ts';
import type { CoinMechPort, MachinePorts } from '../ports/index.ts';
import { SerialLink, type SerialTarget } from '../../hardware/serial/link.ts';
import { FrameTracer } from '../../hardware/serial/trace.ts';
import { MDB_USB_ID, createMdbDevices, mdbBlockSchema, type MdbDevices, type MdbDevicesOptions } from '../../hardware/mdb/index.ts';
import { cctalkBlockSchema, createCctalkDevices, type CctalkDevices, type CctalkDevicesOptions } from '../../hardware/cctalk/index.ts';
import { KEYPAD_DWELL_DEFAULT_MS, createGpioDevices, gpioOptionsSchema, listPins, loadIoPlugin, type GpioDevices, type GpioOptions, type IoPlugin } from '../../hardware/gpio/index.ts';
import { GPIO_PLUGINS, PI_MODELS, PLUGIN_PROFILES, checkGpioPins, checkGpioTimings, piModelFromDeviceTree, timingMinimums, type GpioPluginName, type PiModel } from '../../hardware/gpio/pins.ts';
import { keypadTracePins, maskedPinFrame } from '../../hardware/gpio/keypad.ts';
import { createSimMachine, type SimMachine } from '../../sim/machine.ts';

// ------------------------------------------------------------------ the real clock

/** Node's setTimeout caps delays at 2^31-1 ms; longer waits are chained. */
const MAX_DELAY = 2_147_483_647;

interface RealTimer {
  handle: ReturnType<typeof setTimeout> | undefined;
}

/**
 * The wall clock for `run` and `doctor` on real hardware: `now()` in ms since the epoch, timers on
 * Node's setTimeout. (The core only ever sees the `Clock` interface.)
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const timer: RealTimer = { handle: undefined };
    const due = Date.now() + Math.max(0, ms);
    const arm = (): void => {
      const left = due - Date.now();
      timer.handle = left > MAX_DELAY ? setTimeout(arm, MAX_DELAY) : setTimeout(fn, Math.max(0, left));
    };
    arm();
    return timer;
  },
  clearTimeout(handle: TimerHandle): void {
    if (isRealTimer(handle) && handle.handle !== undefined) clearTimeout(handle.handle);
  },
};

function isRealTimer(h: unknown): h is RealTimer {
  return typeof h === 'object' && h !== null && 'handle' in h;
}

// ------------------------------------------------------------------ errors

/** A device that cannot be reached: one line naming the ports it serves and why. */
export class HardwareError extends Error {
  override readonly name = 'HardwareError';
  constructor(
    readonly ports: readonly HardwarePort[],
    readonly reason: string,
  ) {
    super(`${ports.join(', ')}: ${reason}`);
  }
}

/** "open failed: Error: No such file or directory, cannot open /dev/x" → "ENOENT (no such file or directory)". */
export function describeOpenFailure(reason: string | undefined): string {
  const text = (reason ?? 'unknown error').replace(/^open failed:\s*/i, '').replace(/^(Error:\s*)+/, '');
  if (/no such file or directory|ENOENT/i.test(text)) return 'ENOENT (no such file or directory)';
  if (/permission denied|EACCES/i.test(text)) return 'EACCES (permission denied: add the user to the dialout group)';
  if (/cannot lock port|resource temporarily unavailable|EBUSY/i.test(text)) return 'EBUSY (the port is in use by another program)';
  if (/no port with USB id/i.test(text)) return 'not found (no USB serial adapter with that id is plugged in)';
  return text;
}

// ------------------------------------------------------------------ reading the section

/** Validates a raw `hardware` section. Throws ConfigError naming each bad field as `hardware.…`. */
export function parseHardware(raw: unknown, source = '(inline)'): HardwareConfig {
  const r = hardwareSchema.safeParse(raw ?? {});
  if (r.success) return r.data;
  throw new ConfigError(
    source,
    r.error.issues.map((i) => `${formatIssuePath(['hardware', ...i.path])}: ${i.message}`),
  );
}


export interface MachineWithHardware {
  readonly config: MachineConfig;
  readonly hardware: HardwareConfig;
}

/**
 * Reads a machine config file with its hardware section (until the machine schema carries
 * `hardware` itself, the section is read from the raw YAML). Throws ConfigError listing every
 * problem of both parts.
 */
export function loadMachineWithHardware(path: string): MachineWithHardware {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(path, [`cannot read file: ${(e as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new ConfigError(path, [`not valid YAML: ${(e as Error).message}`]);
  }
  const section = raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>).hardware : undefined;
  const problems: string[] = [];
  let config: MachineConfig | undefined;
  let hardware: HardwareConfig | undefined;
  try {
    config = parseConfig(raw, path);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    problems.push(...e.problems.filter((p) => !p.startsWith('hardware')));
  }
  try {
    hardware = parseHardware(section, path);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    problems.push(...e.problems);
  }
  // The adapter blocks (MDB and ccTalk options, GPIO pins and timings) and their checks against the
  // machine: `config check`, `run` and `doctor` all come through here, so they agree on every problem.
  if (config && hardware) {
    try {
      resolveHardware(config, hardware, path);
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      problems.push(...e.problems);
    }
  }
  if (problems.length > 0 || !config || !hardware) throw new ConfigError(path, problems);
  return { config, hardware };
}

// ------------------------------------------------------------------ adapter option schemas

export { GPIO_PLUGINS, type GpioPluginName } from '../../hardware/gpio/pins.ts';

const gpioExtrasSchema = z.object({
  plugin: z.enum(GPIO_PLUGINS).optional(),
  /** The Pi model, when known ahead (else `run` and `doctor` read it from the device tree). */
  model: z.enum(PI_MODELS).optional(),
  pluginOptions: z.record(z.string(), z.unknown()).default({}),
});

// ------------------------------------------------------------------ resolving the section

export interface SerialBusSpec {
  readonly target: SerialTarget;
  readonly baudRate: number;
  readonly presenceCheckMs?: number;
  /** For messages: the path or "USB vid:pid". */
  readonly where: string;
  /** The ports on this bus. */
  readonly ports: readonly HardwarePort[];
}

export interface ResolvedHardware {
  readonly config: MachineConfig;
  readonly hardware: HardwareConfig;
  readonly mdb?: { readonly bus: SerialBusSpec; readonly options: MdbDevicesOptions };
  readonly cctalk?: { readonly bus: SerialBusSpec; readonly options: CctalkDevicesOptions };
  readonly gpio?: {
    readonly plugin?: GpioPluginName;
    readonly model?: PiModel;
    readonly pluginOptions: Record<string, unknown>;
    /** Only the devices the section assigns to GPIO. */
    readonly options: GpioOptions;
    readonly ports: readonly HardwarePort[];
  };
}

function serialTarget(c: SerialConnection | undefined, fallback: SerialTarget): SerialTarget {
  if (c?.path !== undefined) return { path: c.path };
  if (c?.usb) return { vendorId: c.usb.vendorId, productId: c.usb.productId, ...(c.usb.serialNumber !== undefined ? { serialNumber: c.usb.serialNumber } : {}) };
  return fallback;
}

function formatUnknown(u: UnknownKey): string {
  return `${formatIssuePath(u.path)}: ${u.message}`;
}

/** Array indices that a schema reports as text ("rowPins.2", from a superRefine path) become [2]. */
function normalisePath(path: readonly PropertyKey[]): PropertyKey[] {
  return path.map((seg, i) => {
    const parent = path[i - 1];
    const inArray = typeof parent === 'string' && (/Pins$/.test(parent) || parent === 'layout' || parent === 'hoppers');
    return inArray && typeof seg === 'string' && /^\d+$/.test(seg) ? Number(seg) : seg;
  });
}

function issuesAt(error: z.ZodError, prefix: readonly PropertyKey[]): string[] {
  return error.issues.map((i) => `${formatIssuePath(normalisePath([...prefix, ...i.path]))}: ${i.message}`);
}

function numberKeys<V>(rec: Readonly<Record<string, V>> | undefined): Record<number, V> | undefined {
  if (!rec) return undefined;
  const out: Record<number, V> = {};
  for (const [k, v] of Object.entries(rec)) out[Number(k)] = v;
  return out;
}

/**
 * Validates the adapter blocks the section uses and turns them into adapter options. Throws
 * ConfigError listing every problem with its full path.
 */
export function resolveHardware(config: MachineConfig, hardware: HardwareConfig, source = '(config)'): ResolvedHardware {
  const problems: string[] = [...crossCheckHardware(config, hardware)];
  let mdb: ResolvedHardware['mdb'];
  let cctalk: ResolvedHardware['cctalk'];
  let gpio: ResolvedHardware['gpio'];

  const mdbPorts = portsUsing(hardware, 'mdb');
  if (mdbPorts.length > 0) {
    problems.push(...unknownKeys(mdbBlockSchema, hardware.mdb ?? {}, ['hardware', 'mdb']).map(formatUnknown));
    const r = mdbBlockSchema.safeParse(hardware.mdb ?? {});
    if (!r.success) problems.push(...issuesAt(r.error, ['hardware', 'mdb']));
    else {
      const o = r.data;
      const conn = hardware.serial.mdb;
      mdb = {
        bus: {
          target: serialTarget(conn, MDB_USB_ID),
          baudRate: conn?.baudRate ?? 115_200,
          ...(conn?.presenceCheckMs !== undefined ? { presenceCheckMs: conn.presenceCheckMs } : {}),
          where: describeConnection(conn, `USB ${MDB_USB_ID.vendorId}:${MDB_USB_ID.productId}`),
          ports: mdbPorts,
        },
        options: {
          ...(o.board ? { board: o.board } : {}),
          coin: hardware.coin === 'mdb' ? { ...o.coin } : false,
          bill: hardware.bill === 'mdb' ? { ...o.bill } : false,
          card: hardware.card === 'mdb' ? { ...o.card } : false,
          currencyDecimals: config.currency.decimals,
        },
      };
    }
  }

  const ccPorts = portsUsing(hardware, 'cctalk');
  if (ccPorts.length > 0) {
    problems.push(...unknownKeys(cctalkBlockSchema, hardware.cctalk ?? {}, ['hardware', 'cctalk']).map(formatUnknown));
    const r = cctalkBlockSchema.safeParse(hardware.cctalk ?? {});
    if (!r.success) problems.push(...issuesAt(r.error, ['hardware', 'cctalk']));
    else {
      const o = r.data;
      const conn = hardware.serial.cctalk;
      const coinValues = numberKeys(o.acceptor?.coinValues);
      const sorterPaths = numberKeys(o.acceptor?.sorterPaths);
      const { coinValues: _cv, sorterPaths: _sp, ...acceptorRest } = o.acceptor ?? {};
      const coins = new Set(config.currency.coins);
      o.hoppers.forEach((h, i) => {
        if (!coins.has(h.coinValue)) problems.push(`hardware.cctalk.hoppers[${i}].coinValue: ${h.coinValue} is not a coin of ${config.currency.code}`);
      });
      cctalk = {
        bus: {
          target: serialTarget(conn, { path: '/dev/ttyUSB0' }),
          baudRate: conn?.baudRate ?? 9_600,
          ...(conn?.presenceCheckMs !== undefined ? { presenceCheckMs: conn.presenceCheckMs } : {}),
          where: describeConnection(conn, '/dev/ttyUSB0'),
          ports: ccPorts,
        },
        options: {
          ...(o.bus ? { bus: o.bus } : {}),
          acceptor: {
            ...acceptorRest,
            denominations: config.currency.coins,
            ...(coinValues ? { coinValues } : {}),
            ...(sorterPaths ? { sorterPaths } : {}),
          },
          hoppers: o.hoppers,
          autoStart: false,
        },
      };
    }
  }

  const gpioPorts = [...portsUsing(hardware, 'pulse'), ...portsUsing(hardware, 'gpio')];
  if (gpioPorts.length > 0 && hardware.gpio) {
    const raw = hardware.gpio;
    const { pluginOptions: _extraOptions, model: _extraModel, ...blocks } = raw;
    problems.push(...unknownKeys(gpioOptionsSchema, blocks, ['hardware', 'gpio']).map(formatUnknown));
    const extras = gpioExtrasSchema.safeParse({ plugin: raw.plugin, model: raw.model, pluginOptions: raw.pluginOptions });
    if (!extras.success) problems.push(...issuesAt(extras.error, ['hardware', 'gpio']));
    const { pluginOptions: _po, model: _model, ...adapterInput } = raw;
    const parsed = gpioOptionsSchema.safeParse(withPluginDefaults(adapterInput, extras.success ? extras.data.plugin : undefined));
    if (!parsed.success) problems.push(...issuesAt(parsed.error, ['hardware', 'gpio']));
    if (extras.success && parsed.success) {
      const all = parsed.data;
      const plugin = extras.data.plugin;
      if (plugin !== undefined) {
        // Pins and timings held to the plugin (and model) before anything is driven.
        const pins = listPins(all).map(([path, pin]) => [path.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p)), pin] as const);
        const found = [...checkGpioPins(pins, plugin, extras.data.model), ...checkGpioTimings(all, plugin)];
        for (const p of found) problems.push(`${formatIssuePath(['hardware', 'gpio', ...p.path])}: ${p.message}`);
      }
      // Only the devices this machine takes from GPIO are built; the rest of the block is documentation.
      const options: GpioOptions = {
        ...(all.plugin !== undefined ? { plugin: all.plugin } : {}),
        readyTimeoutMs: all.readyTimeoutMs,
        ...(hardware.coin === 'pulse' && all.coin ? { coin: all.coin } : {}),
        ...(hardware.keypad === 'gpio' && all.keypad ? { keypad: all.keypad } : {}),
        ...(hardware.dispenser === 'gpio' && all.dispenser ? { dispenser: all.dispenser } : {}),
        ...(hardware.drop === 'gpio' && all.drop ? { drop: all.drop } : {}),
        ...(hardware.door === 'gpio' && all.door ? { door: all.door } : {}),
        ...(hardware.display === 'gpio' && all.lcd ? { lcd: all.lcd } : {}),
      };
      if (options.lcd && (options.lcd.rows !== config.display.rows || options.lcd.cols !== config.display.cols))
        problems.push(`hardware.gpio.lcd: ${options.lcd.rows}×${options.lcd.cols}, but display is ${config.display.rows}×${config.display.cols}`);
      if (options.dispenser) {
        const motors = new Set(motorCodesOf(options.dispenser));
        for (const slot of config.catalog.slots)
          if (!motors.has(slot.code)) problems.push(`hardware.gpio.dispenser: column ${slot.code} has no motor in the matrix`);
      }
      gpio = {
        ...(extras.data.plugin !== undefined ? { plugin: extras.data.plugin } : {}),
        ...(extras.data.model !== undefined ? { model: extras.data.model } : {}),
        pluginOptions: extras.data.pluginOptions,
        options,
        ports: gpioPorts,
      };
    }
  }

  if (problems.length > 0) throw new ConfigError(source, problems);
  return { config, hardware, ...(mdb ? { mdb } : {}), ...(cctalk ? { cctalk } : {}), ...(gpio ? { gpio } : {}) };
}

/**
 * Timings the config leaves out take the plugin's minimum where the adapter's own default is below
 * it (a keypad dwell of 5 ms reads every key one row late with pi-io's 5 ms sampling).
 */
function withPluginDefaults(input: Record<string, unknown>, plugin: GpioPluginName | undefined): Record<string, unknown> {
  if (plugin === undefined) return input;
  const min = timingMinimums(plugin);
  const keypad = input.keypad;
  if (typeof keypad !== 'object' || keypad === null || Array.isArray(keypad) || 'dwellMs' in keypad) return input;
  return { ...input, keypad: { ...keypad, dwellMs: Math.max(KEYPAD_DWELL_DEFAULT_MS, min.keypadDwellMs) } };
}

function motorCodesOf(d: GpioOptions['dispenser']): string[] {
  if (!d) return [];
  if (d.map) return Object.keys(d.map);
  const out: string[] = [];
  for (let row = 0; row < Math.min(d.rowPins.length, 10); row++)
    for (let col = 0; col < d.colPins.length; col++) {
      const digit = col + d.firstDigit;
      if (digit > 9) break;
      out.push(`${String.fromCharCode(65 + row)}${digit}`);
    }
  return out;
}

// ------------------------------------------------------------------ building the host side

export interface HostAdapterDeps {
  readonly clock: Clock;
  /** serialport binding: the real one by default; the simulator's EmulatorBinding in tests. */
  readonly binding?: BindingInterface;
  readonly tracer: FrameTracer;
  readonly logger?: Logger;
}

export interface HostAdapters {
  readonly links: { readonly mdb?: SerialLink; readonly cctalk?: SerialLink };
  readonly mdb?: MdbDevices;
  readonly cctalk?: CctalkDevices;
  /** Start the MDB and ccTalk poll loops (links are opened separately). */
  start(): void;
  /** Stop polling and close the serial links. */
  stop(): Promise<void>;
}

/**
 * Builds the serial links and the MDB / ccTalk drivers of a resolved section, synchronously and
 * without opening anything (so the simulator can build the same stack on its virtual clock).
 */
export function buildHostAdapters(r: ResolvedHardware, deps: HostAdapterDeps): HostAdapters {
  const log = deps.logger;
  const link = (name: string, bus: SerialBusSpec): SerialLink =>
    new SerialLink({
      target: bus.target,
      clock: deps.clock,
      baudRate: bus.baudRate,
      name,
      ...(deps.binding ? { binding: deps.binding } : {}),
      ...(bus.presenceCheckMs !== undefined ? { presenceCheckMs: bus.presenceCheckMs } : {}),
      ...(log ? { log } : {}),
    });
  const mdbLink = r.mdb ? link('mdb', r.mdb.bus) : undefined;
  const ccLink = r.cctalk ? link('cctalk', r.cctalk.bus) : undefined;
  const mdb =
    r.mdb && mdbLink
      ? createMdbDevices({ link: mdbLink, clock: deps.clock, tracer: deps.tracer, options: { ...r.mdb.options, ...(log ? { log } : {}) } })
      : undefined;
  const cctalk =
    r.cctalk && ccLink
      ? createCctalkDevices({
          link: ccLink,
          clock: deps.clock,
          options: { ...r.cctalk.options, bus: { ...r.cctalk.options.bus, tracer: deps.tracer }, ...(log ? { logger: log } : {}) },
        })
      : undefined;
  let started = false;
  return {
    links: { ...(mdbLink ? { mdb: mdbLink } : {}), ...(ccLink ? { cctalk: ccLink } : {}) },
    ...(mdb ? { mdb } : {}),
    ...(cctalk ? { cctalk } : {}),
    start() {
      if (started) return;
      started = true;
      mdb?.start();
      cctalk?.start();
    },
    async stop() {
      await mdb?.stop();
      // ccTalk's close stops polling and closes its bus and link.
      await cctalk?.close();
      await Promise.allSettled([mdbLink?.close(), ccLink?.close()]);
    },
  };
}

// ------------------------------------------------------------------ GPIO plugin tracing

/**
 * Wraps an IO plugin so every pin write (tx) and every pin change read back (rx) is traced on bus
 * `gpio`, as the simulator's SimIO does. Everything else passes through to the plugin itself.
 */
export function traceIoPlugin(io: IoPlugin, tracer: FrameTracer, clock: Clock, masked: ReadonlySet<number> = new Set()): IoPlugin {
  // Keypad matrix pins are traced without their level (hardware/gpio/keypad.ts maskedPinFrame).
  const record = (dir: 'tx' | 'rx', pin: number, value: number): void =>
    tracer.record(
      masked.has(pin)
        ? { bus: 'gpio', dir, at: clock.now(), ...maskedPinFrame(pin) }
        : { bus: 'gpio', dir, at: clock.now(), raw: `${pin}=${value ? 1 : 0}`, meaning: `pin ${pin} ${value ? 'high' : 'low'}` },
    );
  return new Proxy(io, {
    get(target, prop) {
      if (prop === 'digitalWrite')
        return (pin: number, value: number): unknown => {
          record('tx', pin, value);
          return target.digitalWrite(pin, value);
        };
      if (prop === 'digitalRead')
        return (pin: number, handler: (value: number) => void): unknown => {
          let last: number | undefined;
          return target.digitalRead(pin, (value: number) => {
            if (value !== last) record('rx', pin, value);
            last = value;
            handler(value);
          });
        };
      const v: unknown = Reflect.get(target, prop, target);
      // Plugins may keep private state that only works with the plugin itself as `this`.
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

// ------------------------------------------------------------------ opening the real hardware

export interface OpenHardwareDeps {
  readonly clock: Clock;
  readonly logger?: Logger;
  /** serialport binding (default: the platform's). */
  readonly binding?: BindingInterface;
  /** A ready-made IO plugin (SimIO in tests); default: `hardware.gpio.plugin` loaded by name. */
  readonly io?: IoPlugin;
  /** Where frames are traced (default: a new 2,000-frame tracer). */
  readonly tracer?: FrameTracer;
  /** Config file name for ConfigError messages. */
  readonly source?: string;
}

export interface HardwarePorts {
  readonly ports: MachinePorts;
  /** Every MDB line, ccTalk frame and GPIO pin change. */
  readonly tracer: FrameTracer;
  readonly adapters: HostAdapters & { readonly gpio?: GpioDevices };
  /** The port-level simulator behind the ports the section leaves on `sim`, if any. */
  readonly sim?: SimMachine;
  /** Start polling the serial devices. */
  start(): void;
  /** The ports whose device is not initialised yet (MDB SETUP done, ccTalk acceptor identified, GPIO board ready). */
  notReady(): HardwarePort[];
  /** Stop polling, switch the motors off (GPIO close), close the links. Idempotent. */
  close(): Promise<void>;
}

/** The Pi model this runs on, from the device tree (undefined off a Pi or for a model we do not know). */
export function detectPiModel(read: (path: string) => string = (p) => readFileSync(p, 'latin1')): PiModel | undefined {
  try {
    return piModelFromDeviceTree(read('/proc/device-tree/model'));
  } catch {
    return undefined;
  }
}

async function loadPlugin(gpio: NonNullable<ResolvedHardware['gpio']>): Promise<IoPlugin> {
  if (!gpio.plugin) throw new HardwareError(gpio.ports, `no GPIO plugin configured: set hardware.gpio.plugin to ${GPIO_PLUGINS.join(', ')}`);
  // A plugin on a model it does not run on (pigpio on a Pi 5) is refused before any pin is touched.
  const model = gpio.model ?? detectPiModel();
  if (model !== undefined && !PLUGIN_PROFILES[gpio.plugin].models.includes(model))
    throw new HardwareError(gpio.ports, `GPIO plugin ${gpio.plugin} does not run on a Raspberry Pi ${model} (it needs ${PLUGIN_PROFILES[gpio.plugin].needs}); use gpiochip`);
  try {
    return await loadIoPlugin(gpio.plugin, gpio.pluginOptions);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    if (/not installed/.test(msg))
      throw new HardwareError(gpio.ports, gpio.plugin === 'gpiochip' ? `GPIO plugin gpiochip: ${msg.replace(/^gpio:\s*/, '')}` : `GPIO plugin ${gpio.plugin} is not installed (npm install ${gpio.plugin} on the Pi)`);
    throw new HardwareError(gpio.ports, `GPIO plugin ${gpio.plugin}: ${msg.replace(/^gpio:\s*/, '')}`);
  }
}

/** Opens the GPIO board on `io` and builds the devices; failures become one HardwareError line. */
export async function openGpio(gpio: NonNullable<ResolvedHardware['gpio']>, io: IoPlugin, clock: Clock, logger?: Logger): Promise<GpioDevices> {
  try {
    return await createGpioDevices({ io, clock, options: gpio.options, ...(logger ? { log: logger } : {}) });
  } catch (e) {
    const msg = (e instanceof Error ? e.message : String(e)).replace(/^gpio:\s*/, '').replace(/\s*\[[A-Z_]+\]$/, '');
    throw new HardwareError(gpio.ports, `GPIO board: ${msg}`);
  }
}

/**
 * Opens the configured hardware: serial links (first attempt now: a missing port fails at once),
 * the GPIO board (ready within `readyTimeoutMs`), and builds the ports. Throws ConfigError for a bad
 * section and HardwareError for an unreachable device; nothing is left open after a failure.
 * Call `start()` to begin polling, then hand `ports` to the controller.
 */
export async function openHardwarePorts(config: MachineConfig, hardware: HardwareConfig, deps: OpenHardwareDeps): Promise<HardwarePorts> {
  const resolved = resolveHardware(config, hardware, deps.source);
  const tracer = deps.tracer ?? new FrameTracer({ capacity: 2_000 });
  const host = buildHostAdapters(resolved, { clock: deps.clock, tracer, ...(deps.binding ? { binding: deps.binding } : {}), ...(deps.logger ? { logger: deps.logger } : {}) });
  let gpio: GpioDevices | undefined;
  try {
    for (const [bus, spec] of [
      ['mdb', resolved.mdb?.bus],
      ['cctalk', resolved.cctalk?.bus],
    ] as const) {
      const link = host.links[bus];
      if (!link || !spec) continue;
      await link.open();
      if (link.state.status !== 'online') {
        const why = link.state.status === 'offline' ? link.state.reason : link.state.code;
        throw new HardwareError(spec.ports, `cannot open ${spec.where} (${bus === 'mdb' ? 'MDB interface board' : 'ccTalk bus'}): ${describeOpenFailure(why)}`);
      }
    }
    if (resolved.gpio) {
      const io = deps.io ?? (await loadPlugin(resolved.gpio));
      gpio = await openGpio(resolved.gpio, traceIoPlugin(io, tracer, deps.clock, keypadTracePins(resolved.gpio.options.keypad, io)), deps.clock, deps.logger);
    }
  } catch (e) {
    await host.stop();
    throw e;
  }
  const needsSim = [...portsUsing(hardware, 'sim')].some((p) => p !== 'bill' && p !== 'card') || (hardware.bill === 'sim' && config.devices.bill.present) || (hardware.card === 'sim' && config.devices.card.present);
  const sim = needsSim ? createSimMachine(config, deps.clock) : undefined;
  const ports = assemblePorts(hardware, { host, gpio, sim });
  let closed = false;
  return {
    ports,
    tracer,
    adapters: { ...host, ...(gpio ? { gpio } : {}) },
    ...(sim ? { sim } : {}),
    start: () => host.start(),
    notReady() {
      const out: HardwarePort[] = [];
      const mdb = host.mdb;
      if (mdb) for (const [port, d] of [['coin', mdb.coin], ['bill', mdb.bill], ['card', mdb.card]] as const) if (d && d.state !== 'ready') out.push(port);
      if (host.cctalk && current(host.cctalk.acceptor.link$)?.status !== 'online') out.push('coin');
      if (gpio && !gpio.board.online) out.push(...(resolved.gpio?.ports ?? []));
      return out;
    },
    async close() {
      if (closed) return;
      closed = true;
      await host.stop();
      gpio?.close();
      sim?.dispose();
    },
  };
}

/** The current value of a replaying observable (undefined when it has none yet). */
function current<T>(o: Observable<T>): T | undefined {
  let v: T | undefined;
  o.subscribe((x) => (v = x)).unsubscribe();
  return v;
}

function missing(port: HardwarePort, adapter: string): never {
  throw new Error(`internal: ${port} is ${adapter} but no ${adapter} device was built`);
}

/** The controller's ports from whichever adapter the section assigns to each. */
export function assemblePorts(
  h: HardwareConfig,
  from: { readonly host: HostAdapters; readonly gpio?: GpioDevices | undefined; readonly sim?: SimMachine | undefined },
): MachinePorts {
  const { host, gpio, sim } = from;
  const simPort = <K extends keyof MachinePorts>(k: K): MachinePorts[K] => (sim ? sim.ports[k] : missing(k, 'sim'));
  let coin: CoinMechPort;
  switch (h.coin) {
    case 'mdb':
      coin = host.mdb?.coin ?? missing('coin', 'mdb');
      break;
    case 'cctalk':
      coin = host.cctalk?.coinMech ?? missing('coin', 'cctalk');
      break;
    case 'pulse':
      coin = gpio?.coin ?? missing('coin', 'pulse');
      break;
    case 'sim':
      coin = simPort('coin');
      break;
  }
  const bill = h.bill === 'mdb' ? (host.mdb?.bill ?? missing('bill', 'mdb')) : h.bill === 'sim' ? sim?.ports.bill : undefined;
  const card = h.card === 'mdb' ? (host.mdb?.card ?? missing('card', 'mdb')) : h.card === 'sim' ? sim?.ports.card : undefined;
  return {
    coin,
    ...(bill ? { bill } : {}),
    ...(card ? { card } : {}),
    keypad: h.keypad === 'gpio' ? (gpio?.keypad ?? missing('keypad', 'gpio')) : simPort('keypad'),
    display: h.display === 'gpio' ? (gpio?.display ?? missing('display', 'gpio')) : simPort('display'),
    dispenser: h.dispenser === 'gpio' ? (gpio?.dispenser ?? missing('dispenser', 'gpio')) : simPort('dispenser'),
    drop: h.drop === 'gpio' ? (gpio?.drop ?? missing('drop', 'gpio')) : simPort('drop'),
    door: h.door === 'gpio' ? (gpio?.door ?? missing('door', 'gpio')) : simPort('door'),
  };
}
