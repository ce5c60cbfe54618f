/**
 * Pins as the config names them, and as each IO plugin names them.
 *
 * A pin in the config is a BCM GPIO number (the SoC's line number, as printed on pinout diagrams
 * as "GPIO17"): written `GPIO17` or `17`. Plugins number pins their own way: raspi-io reads a bare
 * number as a WiringPi number, pi-io (through linux-io) as an index into its own pin table, so a
 * bare number must never reach them. Every plugin here resolves the name `GPIO<n>` to its own
 * number through its `normalize()` (raspi-board's alias table, linux-io's `ids`, the character
 * device plugin's line offsets), which is what `GpioBoard.pin()` hands over.
 *
 * Which lines a plugin can drive, and how often it samples inputs, decide what a config may ask of
 * it; `checkGpioPins` and `timingMinimums` turn that into config problems with the field path,
 * before any pin is driven. test/hardware/gpio/pin-tables.test.ts checks these tables against the
 * plugins' own, as published.
 */

/** The IO plugins the `run` command can load (hardware.gpio.plugin). */
export const GPIO_PLUGINS = ['raspi-io', 'pi-io', 'gpiochip'] as const;
export type GpioPluginName = (typeof GPIO_PLUGINS)[number];

/** The Raspberry Pi models the project supports (hardware.gpio.model). */
export const PI_MODELS = ['zero2w', '3b+', '4', '5'] as const;
export type PiModel = (typeof PI_MODELS)[number];

/** Highest BCM line number on any supported SoC (BCM2835…BCM2712 expose 0–53 / 0–27 on the header). */
export const MAX_BCM = 53;

/** Header lines (BCM 0–27) with a fixed job on every supported Pi: never for our devices. */
export const RESERVED_PINS: ReadonlyMap<number, string> = new Map([
  [0, 'ID_SD, the HAT ID EEPROM'],
  [1, 'ID_SC, the HAT ID EEPROM'],
  [2, 'I2C1 SDA (the LCD backpack and other I2C devices)'],
  [3, 'I2C1 SCL (the LCD backpack and other I2C devices)'],
  [14, 'UART TXD (serial console / UART devices)'],
  [15, 'UART RXD (serial console / UART devices)'],
]);

const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

export interface PluginProfile {
  readonly name: GpioPluginName;
  /** Models the plugin runs on (pigpio, under raspi-io and pi-io, does not run on the Pi 5). */
  readonly models: readonly PiModel[];
  /** BCM lines the plugin can address (its pin table). */
  readonly pins: ReadonlySet<number>;
  /**
   * How often the plugin reads an input (ms): a level change is seen up to this much later. 0 for
   * a plugin that gets changes as events.
   */
  readonly inputSamplingMs: number;
  /** Where that figure comes from, for messages and docs. */
  readonly sampling: string;
  /** Native code it needs, for messages and docs. */
  readonly needs: string;
}

/**
 * raspi-io 11: pins from raspi-board 7 (the same 40-pin table on every model since the B+, BCM
 * 2–27), inputs read by j5-io's GPIO manager on a timer (READ_UPDATE_RATE = 18 ms), output and
 * input through pigpio (native; needs the pigpio C library, not on the Pi 5).
 */
const RASPI_IO: PluginProfile = {
  name: 'raspi-io',
  models: ['zero2w', '3b+', '4'],
  pins: new Set(range(2, 27)),
  inputSamplingMs: 18,
  sampling: 'j5-io reads inputs every 18 ms',
  needs: 'pigpio (native; the pigpio C library, root)',
};

/**
 * pi-io 1.1: its own 26-entry table (BCM 2–27, no ID EEPROM lines) plus the LED, inputs polled by
 * linux-io every 5 ms (DEFAULT_SAMPLING_INTERVAL), lines driven through pigpio (native).
 */
const PI_IO: PluginProfile = {
  name: 'pi-io',
  models: ['zero2w', '3b+', '4'],
  pins: new Set(range(2, 27)),
  inputSamplingMs: 5,
  sampling: 'linux-io samples inputs every 5 ms',
  needs: 'pigpio (native; the pigpio C library, root)',
};

/**
 * The Linux GPIO character device (hardware/gpio/gpiochip.ts): every header line, edge events
 * from the kernel (no sampling interval), any model with a current kernel, the Pi 5 included.
 */
const GPIOCHIP: PluginProfile = {
  name: 'gpiochip',
  models: ['zero2w', '3b+', '4', '5'],
  pins: new Set(range(0, 27)),
  inputSamplingMs: 0,
  sampling: 'edge events from the kernel',
  needs: 'node-libgpiod (native; Debian libgpiod-dev)',
};

export const PLUGIN_PROFILES: Readonly<Record<GpioPluginName, PluginProfile>> = { 'raspi-io': RASPI_IO, 'pi-io': PI_IO, gpiochip: GPIOCHIP };

/** The plugin's name for a BCM line: `GPIO17` (raspi-board alias, linux-io id, gpiochip line). */
export function pinName(bcm: number): string {
  return `GPIO${bcm}`;
}

/** `GPIO17`, `gpio17`, `BCM17` or `17` → 17; anything else → undefined. */
export function parseBcm(pin: number | string): number | undefined {
  if (typeof pin === 'number') return Number.isSafeInteger(pin) ? pin : undefined;
  const m = /^(?:GPIO|BCM)?\s*(\d{1,3})$/i.exec(pin.trim());
  return m?.[1] !== undefined ? Number(m[1]) : undefined;
}

/** The model from /proc/device-tree/model ("Raspberry Pi 5 Model B Rev 1.0"), if it is one we know. */
export function piModelFromDeviceTree(text: string): PiModel | undefined {
  const t = text.replace(/\0/g, '').trim();
  if (/^Raspberry Pi 5\b/.test(t)) return '5';
  if (/^Raspberry Pi 4\b|^Raspberry Pi 400\b|^Raspberry Pi Compute Module 4\b/.test(t)) return '4';
  if (/^Raspberry Pi 3 Model B Plus\b/.test(t)) return '3b+';
  if (/^Raspberry Pi Zero 2 W\b/.test(t)) return 'zero2w';
  return undefined;
}

export interface PinProblem {
  /** The field path below hardware.gpio, e.g. ['keypad', 'rowPins', 1]. */
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/**
 * Every configured pin checked against the plugin (and the model when known): reserved lines, lines
 * the plugin's table lacks, and the plugin on a model it does not run on.
 */
export function checkGpioPins(pins: readonly (readonly [readonly (string | number)[], number])[], plugin: GpioPluginName, model?: PiModel): PinProblem[] {
  const profile = PLUGIN_PROFILES[plugin];
  const problems: PinProblem[] = [];
  if (model !== undefined && !profile.models.includes(model))
    problems.push({ path: ['plugin'], message: `${plugin} does not run on a Raspberry Pi ${model} (it needs ${profile.needs}); use gpiochip` });
  for (const [path, bcm] of pins) {
    const reserved = RESERVED_PINS.get(bcm);
    if (reserved !== undefined) problems.push({ path, message: `${pinName(bcm)} is reserved: ${reserved}` });
    else if (!profile.pins.has(bcm))
      problems.push({ path, message: `${pinName(bcm)} is not a pin of ${plugin} (it has ${describeSet(profile.pins)})` });
  }
  return problems;
}

function describeSet(pins: ReadonlySet<number>): string {
  const sorted = [...pins].sort((a, b) => a - b);
  return sorted.length > 0 ? `GPIO${sorted[0]}–GPIO${sorted[sorted.length - 1]}` : 'no pins';
}

/**
 * The shortest timings that still work with the plugin's input sampling. A polled input shows a
 * change up to one sampling interval late, and holds a level for whole intervals:
 *
 * - keypad `dwellMs`: the columns are sampled `dwellMs` after a row is driven, so the value read
 *   must be one sampled after the row changed: at least one interval, plus 2 ms for the lines to
 *   settle. (With 5 ms sampling a 5 ms dwell reads each key one row late.)
 * - pulse coin `minPulseMs`: a pulse must span a full interval to be seen at all, and its measured
 *   length is off by up to one interval either way: two intervals.
 * - pulse coin `gapMs`: the end of a train is judged from a sampled level: two intervals more than
 *   the longest pulse is already required; two intervals at least.
 * - dispenser `settleMs`: the home input is read once the motor runs: one interval plus 2 ms.
 */
export interface TimingMinimums {
  readonly keypadDwellMs: number;
  readonly coinMinPulseMs: number;
  readonly coinGapMs: number;
  readonly dispenserSettleMs: number;
}

export function timingMinimums(plugin: GpioPluginName): TimingMinimums {
  const s = PLUGIN_PROFILES[plugin].inputSamplingMs;
  return {
    keypadDwellMs: s + 2,
    coinMinPulseMs: Math.max(1, 2 * s),
    coinGapMs: Math.max(1, 2 * s),
    dispenserSettleMs: s + 2,
  };
}

/** The timing fields of the GPIO options (hardware/gpio/config.ts), as far as checking needs them. */
export interface GpioTimings {
  readonly coin?: { readonly minPulseMs: number; readonly gapMs: number };
  readonly keypad?: { readonly dwellMs: number; readonly debounceMs: number; readonly rowPins: readonly unknown[] };
  readonly dispenser?: { readonly settleMs: number };
}

/** Longest a person's quick key press is counted on to last (ms); a scan slower than this misses presses. */
export const QUICK_PRESS_MS = 150;

/** Every timing below what the plugin's input sampling allows, with its path below hardware.gpio. */
export function checkGpioTimings(g: GpioTimings, plugin: GpioPluginName): PinProblem[] {
  const min = timingMinimums(plugin);
  const why = PLUGIN_PROFILES[plugin].sampling;
  const out: PinProblem[] = [];
  const atLeast = (path: (string | number)[], value: number, least: number): void => {
    if (value < least) out.push({ path, message: `${value} ms is too short for ${plugin} (${why}): at least ${least} ms` });
  };
  if (g.keypad) {
    atLeast(['keypad', 'dwellMs'], g.keypad.dwellMs, min.keypadDwellMs);
    // A press is read once every row has been scanned and the key held for debounceMs: a quick
    // press shorter than that is missed.
    const read = g.keypad.rowPins.length * Math.max(g.keypad.dwellMs, min.keypadDwellMs) + g.keypad.debounceMs + PLUGIN_PROFILES[plugin].inputSamplingMs;
    if (read > QUICK_PRESS_MS)
      out.push({ path: ['keypad', 'dwellMs'], message: `a press is read only after ${read} ms (rows × dwellMs + debounceMs + sampling); a quick press lasts about ${QUICK_PRESS_MS} ms` });
  }
  if (g.coin) {
    atLeast(['coin', 'minPulseMs'], g.coin.minPulseMs, min.coinMinPulseMs);
    atLeast(['coin', 'gapMs'], g.coin.gapMs, min.coinGapMs);
  }
  if (g.dispenser) {
    atLeast(['dispenser', 'settleMs'], g.dispenser.settleMs, min.dispenserSettleMs);
  }
  return out;
}
