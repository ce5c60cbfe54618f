/**
 * Config for the GPIO devices (pulse coin acceptor, matrix keypad, spiral-motor matrix, drop sensor,
 * door switch, HD44780 LCD), validated with zod so every bad field is reported with its path. The lead
 * can mount `gpioOptionsSchema` under the machine config (e.g. `hardware.gpio`).
 *
 * Pins are BCM GPIO numbers (the SoC's line numbers, "GPIO17" on pinout diagrams), written `GPIO17`
 * or `17`; they are handed to the IO plugin by that name (hardware/gpio/pins.ts), never as a bare
 * number, which each plugin reads its own way. Levels are electrical ('high' | 'low'); each device
 * says which level means "active".
 */
import { z } from 'zod';
import { COLUMN_CODE } from '../../src/config/schema.ts';
import { KEYS, isKey } from '../../src/ports/index.ts';
import { MAX_BCM, parseBcm } from './pins.ts';
import type { Key } from '../../src/ports/index.ts';

/** Timers longer than 2^31 − 1 ms fire at once in Node; no GPIO timing needs more than a minute. */
const MAX_GPIO_MS = 60_000;
const ms = z.number().int().nonnegative().max(MAX_GPIO_MS);
const positiveMs = z.number().int().positive().max(MAX_GPIO_MS);
const positiveMinor = z.number().int('must be a whole number of minor units').positive().max(1_000_000_000);

/** A BCM GPIO number: `GPIO17` or `17` (→ 17). */
const notBcm = (issue: { readonly input?: unknown }): string => `${JSON.stringify(issue.input)} is not a BCM GPIO number: write GPIO17 or 17 (0–${MAX_BCM})`;
const bcmNumber = z.number().int({ error: notBcm }).min(0, { error: notBcm }).max(MAX_BCM, { error: notBcm });
export const pinIdSchema = z.union(
  [
    bcmNumber,
    z
      .string()
      .regex(/^\s*(?:GPIO|BCM)?\s*\d{1,3}\s*$/i)
      .transform((name) => parseBcm(name) ?? -1)
      .pipe(bcmNumber),
  ],
  { error: notBcm },
);
export type PinId = z.output<typeof pinIdSchema>;

export const levelSchema = z.enum(['high', 'low']);
export type Level = z.output<typeof levelSchema>;

/**
 * Input bias. Set through the Firmata convention `digitalWrite(inputPin, 1|0)` (raspi-io / j5-io turn
 * that into the pull-up / pull-down); 'none' when the circuit has its own resistor.
 */
export const pullSchema = z.enum(['up', 'down', 'none']);
export type Pull = z.output<typeof pullSchema>;

// ---------------------------------------------------------------- pulse coin acceptor

export const pulseCoinSchema = z
  .object({
    /** The COIN / signal output of the acceptor. */
    pin: pinIdSchema,
    /** NPN open-collector outputs pull the line low for each pulse (protocols.md §4). */
    activeLevel: levelSchema.default('low'),
    pull: pullSchema.default('up'),
    /** Pulses shorter than this are noise (DG600F: host must accept ≥ 20 ms; protocols.md §4). */
    minPulseMs: positiveMs.default(15),
    /** Pulses longer than this are noise (slowest common setting 100 ms, +20 %, plus margin). */
    maxPulseMs: positiveMs.default(150),
    /** A pulse train ends after this much quiet; must exceed the acceptor's inter-pulse pause. */
    gapMs: positiveMs.default(200),
    /** Glitch filter: a level must hold this long before it counts as an edge. */
    debounceMs: ms.default(3),
    /** The line held active this long is reported as a fault (COIN_LINE_STUCK). */
    stuckMs: positiveMs.default(2_000),
    /** Pulse count → coin value in minor units, e.g. { "1": 10, "2": 20, "5": 50, "10": 100 }. */
    pulses: z.record(z.string(), positiveMinor),
    /** Inhibit (lock-out) input of the acceptor; `activeLevel` is the level that inhibits. */
    inhibit: z.object({ pin: pinIdSchema, activeLevel: levelSchema.default('high') }).optional(),
    /** Optional coin-return button wired to a GPIO. */
    returnButton: z
      .object({
        pin: pinIdSchema,
        activeLevel: levelSchema.default('low'),
        pull: pullSchema.default('up'),
        debounceMs: ms.default(30),
      })
      .optional(),
  })
  .superRefine((c, ctx) => {
    if (Object.keys(c.pulses).length === 0)
      ctx.addIssue({ code: 'custom', path: ['pulses'], message: 'at least one pulse count → value entry' });
    for (const key of Object.keys(c.pulses))
      if (!/^[1-9]\d*$/.test(key)) ctx.addIssue({ code: 'custom', path: ['pulses', key], message: `"${key}" is not a pulse count (a whole number ≥ 1)` });
    if (c.minPulseMs >= c.maxPulseMs)
      ctx.addIssue({ code: 'custom', path: ['maxPulseMs'], message: `must be greater than minPulseMs (${c.minPulseMs})` });
    if (c.debounceMs >= c.minPulseMs)
      ctx.addIssue({ code: 'custom', path: ['debounceMs'], message: `must be shorter than minPulseMs (${c.minPulseMs})` });
    if (c.gapMs <= c.debounceMs)
      ctx.addIssue({ code: 'custom', path: ['gapMs'], message: 'must be longer than debounceMs' });
  });
export type PulseCoinOptions = z.output<typeof pulseCoinSchema>;

// ---------------------------------------------------------------- matrix keypad

/** Labels on a typical 4×4 keypad that are not port keys: '*' clears, '#' is the coin-return key. */
export const DEFAULT_KEY_MAP: Readonly<Record<string, Key>> = { '*': 'CLEAR', '#': 'RETURN' };

/** A 4×6 vending keypad: row letters A–J, digits, CLEAR and RETURN ('' = no key at that crossing). */
export const DEFAULT_KEYPAD_LAYOUT: readonly (readonly string[])[] = [
  ['A', 'B', 'C', 'D', 'E', 'CLEAR'],
  ['F', 'G', 'H', 'I', 'J', 'RETURN'],
  ['1', '2', '3', '4', '5', ''],
  ['6', '7', '8', '9', '0', ''],
];

/** Resolve a printed label to a port key: an explicit map entry wins, else the label itself if it is a Key. */
export function keyForLabel(label: string, keyMap: Readonly<Record<string, Key>>): Key | undefined {
  if (label === '') return undefined;
  const mapped = keyMap[label];
  if (mapped !== undefined) return mapped;
  return isKey(label) ? label : undefined;
}

/** The keypad's row dwell when neither the config nor the plugin asks for more. */
export const KEYPAD_DWELL_DEFAULT_MS = 5;

export const keypadSchema = z
  .object({
    /** Row lines, driven by the board one at a time while scanning. */
    rowPins: z.array(pinIdSchema).min(1),
    /** Column lines, read by the board. */
    colPins: z.array(pinIdSchema).min(1),
    /** Level of the driven row; a pressed key pulls its column to the same level. */
    activeLevel: levelSchema.default('low'),
    /** Column bias; should hold the columns at the inactive level (pull-up for active-low rows). */
    pull: pullSchema.default('up'),
    /** Labels printed on the keys, rows × columns; '' where no key sits. */
    layout: z.array(z.array(z.string())).default(DEFAULT_KEYPAD_LAYOUT.map((r) => [...r])),
    /** Printed label → port key, for labels that are not keys themselves ('*' → CLEAR, ...). */
    keyMap: z.record(z.string(), z.enum(KEYS)).default({ ...DEFAULT_KEY_MAP }),
    /** A key must read the same for this long (Arduino Keypad library default 10 ms; protocols.md §6). */
    debounceMs: positiveMs.default(20),
    /**
     * How long each row is driven before its columns are sampled. Must exceed the IO plugin's input
     * sampling (pins.ts `timingMinimums`: pi-io samples every 5 ms, raspi-io every 18 ms); left out,
     * the config check raises it to the plugin's minimum.
     */
    dwellMs: positiveMs.default(KEYPAD_DWELL_DEFAULT_MS),
  })
  .superRefine((k, ctx) => {
    if (k.layout.length !== k.rowPins.length)
      ctx.addIssue({ code: 'custom', path: ['layout'], message: `has ${k.layout.length} rows, rowPins has ${k.rowPins.length}` });
    k.layout.forEach((row, r) => {
      if (row.length !== k.colPins.length)
        ctx.addIssue({ code: 'custom', path: ['layout', r], message: `has ${row.length} columns, colPins has ${k.colPins.length}` });
      row.forEach((label, c) => {
        if (label !== '' && keyForLabel(label, k.keyMap) === undefined)
          ctx.addIssue({ code: 'custom', path: ['layout', r, c], message: `"${label}" is not a key; map it in keyMap or use ''` });
      });
    });
  });
export type KeypadOptions = z.output<typeof keypadSchema>;

// ---------------------------------------------------------------- spiral motor matrix

const motorAddressSchema = z.object({ row: z.number().int().nonnegative().max(63), col: z.number().int().nonnegative().max(63) });

export const dispenserSchema = z
  .object({
    /** One driver line per matrix row (protocols.md §6: a motor runs when its row AND column are driven). */
    rowPins: z.array(pinIdSchema).min(1),
    colPins: z.array(pinIdSchema).min(1),
    rowActive: levelSchema.default('high'),
    colActive: levelSchema.default('high'),
    /**
     * Column code → matrix address. Without it, the row is the letter (A = 0) and the column is the
     * digit minus `firstDigit`.
     */
    map: z.record(z.string().regex(COLUMN_CODE, 'must be a row letter A-J and a digit, e.g. A1'), motorAddressSchema).optional(),
    firstDigit: z.number().int().min(0).max(1).default(1),
    /**
     * Home (cycle) switches. `perMotor`: one input per motor. `shared`: one sense line per matrix that
     * reads the switch of whichever motor is selected (the switch sits in the motor's matrix circuit),
     * so it only means something while a motor is driven.
     */
    home: z.discriminatedUnion('mode', [
      z.object({ mode: z.literal('perMotor'), pins: z.record(z.string().regex(COLUMN_CODE), pinIdSchema) }),
      z.object({ mode: z.literal('shared'), pin: pinIdSchema }),
    ]),
    /** The level the home input reads while the spiral sits at home. */
    homeLevel: levelSchema.default('low'),
    pull: pullSchema.default('up'),
    debounceMs: positiveMs.default(10),
    /** After switching on, the home input is only trusted after this long (sense-line settling, read latency). */
    settleMs: positiveMs.default(30),
    /** The switch must leave home within this time or the motor is stalled (Crane: 1 s; protocols.md §6). */
    leaveHomeMs: positiveMs.default(1_000),
    /** Hard limit on one run: the motor is switched off and `stalled` emitted (Crane: 5 s total). */
    maxRunMs: positiveMs.default(7_000),
    /** Switch the motor off in the adapter the moment home is reached (no overshoot from a slow caller). */
    stopAtHome: z.boolean().default(true),
  })
  .superRefine((d, ctx) => {
    if (d.settleMs <= d.debounceMs)
      ctx.addIssue({ code: 'custom', path: ['settleMs'], message: 'must be longer than debounceMs' });
    if (d.leaveHomeMs <= d.settleMs)
      ctx.addIssue({ code: 'custom', path: ['leaveHomeMs'], message: 'must be longer than settleMs' });
    if (d.maxRunMs <= d.leaveHomeMs)
      ctx.addIssue({ code: 'custom', path: ['maxRunMs'], message: 'must be longer than leaveHomeMs' });
    for (const [code, a] of Object.entries(d.map ?? {})) {
      if (a.row >= d.rowPins.length || a.col >= d.colPins.length)
        ctx.addIssue({ code: 'custom', path: ['map', code], message: `row ${a.row} / col ${a.col} is outside the ${d.rowPins.length}×${d.colPins.length} matrix` });
    }
    if (d.home.mode === 'perMotor') {
      const motors = new Set(motorCodes(d));
      for (const code of Object.keys(d.home.pins))
        if (!motors.has(code)) ctx.addIssue({ code: 'custom', path: ['home', 'pins', code], message: `${code} is not a motor of this matrix` });
      for (const code of motors)
        if (d.home.pins[code] === undefined)
          ctx.addIssue({ code: 'custom', path: ['home', 'pins'], message: `motor ${code} has no home switch pin` });
    }
  });
export type DispenserOptions = z.output<typeof dispenserSchema>;

/** Every motor of the matrix with its address, from `map` or derived from the column code. */
export function motorAddresses(d: Pick<DispenserOptions, 'map' | 'rowPins' | 'colPins' | 'firstDigit'>): Map<string, { row: number; col: number }> {
  const out = new Map<string, { row: number; col: number }>();
  if (d.map) {
    for (const [code, a] of Object.entries(d.map)) out.set(code, { row: a.row, col: a.col });
    return out;
  }
  for (let row = 0; row < Math.min(d.rowPins.length, 10); row++)
    for (let col = 0; col < d.colPins.length; col++) {
      const digit = col + d.firstDigit;
      if (digit > 9) break;
      out.set(`${String.fromCharCode(65 + row)}${digit}`, { row, col });
    }
  return out;
}

function motorCodes(d: Pick<DispenserOptions, 'map' | 'rowPins' | 'colPins' | 'firstDigit'>): string[] {
  return [...motorAddresses(d).keys()];
}

// ---------------------------------------------------------------- drop sensor, door

export const dropSensorSchema = z.object({
  pin: pinIdSchema,
  /** The level the receiver output shows while the beam is broken. */
  activeLevel: levelSchema.default('high'),
  pull: pullSchema.default('none'),
  /** Short: a falling product crosses the light curtain in tens of ms. */
  debounceMs: ms.default(2),
  /** Beam broken longer than this → link error DROP_SENSOR_BLOCKED (the sensor cannot see drops). null: never. */
  blockedAfterMs: positiveMs.nullable().default(5_000),
});
export type DropSensorOptions = z.output<typeof dropSensorSchema>;

export const doorSchema = z.object({
  pin: pinIdSchema,
  /** The level the switch shows while the door is open. */
  openLevel: levelSchema.default('high'),
  pull: pullSchema.default('up'),
  debounceMs: ms.default(50),
});
export type DoorOptions = z.output<typeof doorSchema>;

// ---------------------------------------------------------------- LCD

/** johnny-five LCD controllers for the PCF8574 I2C backpack family (all share one bit layout). */
export const I2C_LCD_CONTROLLERS = ['PCF8574', 'PCF8574A', 'PCF8574AT', 'PCF8574T', 'LCM1602', 'LCD1602', 'LCD2004', 'LCM1602IIC'] as const;

const lcdCommon = {
  rows: z.number().int().min(1).max(4).default(2),
  cols: z.number().int().min(8).max(40).default(16),
  /** Characters the HD44780 ROM lacks → what to print instead. Anything else outside ASCII prints '?'. */
  substitutions: z.record(z.string().length(1), z.string().length(1)).default({ '€': 'E', '£': 'L', '\\': '/', '~': '-' }),
};

export const lcdSchema = z.discriminatedUnion('controller', [
  z.object({
    controller: z.literal('PARALLEL'),
    /** 4-bit parallel wiring. */
    pins: z.object({ rs: pinIdSchema, en: pinIdSchema, d4: pinIdSchema, d5: pinIdSchema, d6: pinIdSchema, d7: pinIdSchema }),
    ...lcdCommon,
  }),
  z.object({
    controller: z.enum(I2C_LCD_CONTROLLERS),
    /** I2C address; johnny-five defaults to 0x27 (0x3F for the A variants). */
    address: z.number().int().min(0x03).max(0x77).optional(),
    ...lcdCommon,
  }),
]);
export type LcdOptions = z.output<typeof lcdSchema>;

// ---------------------------------------------------------------- everything

export const gpioOptionsSchema = z
  .object({
    /**
     * The IO plugin the Pi runs (pins.ts GPIO_PLUGINS); the caller constructs it and passes it as
     * `io`, and the config check holds pins and timings to it.
     */
    plugin: z.string().optional(),
    /** Give up on a board that does not report ready within this time. */
    readyTimeoutMs: positiveMs.default(10_000),
    coin: pulseCoinSchema.optional(),
    keypad: keypadSchema.optional(),
    dispenser: dispenserSchema.optional(),
    drop: dropSensorSchema.optional(),
    door: doorSchema.optional(),
    lcd: lcdSchema.optional(),
  })
  .superRefine((g, ctx) => {
    // One pin, one job: a pin shared by two devices is a wiring error, not a feature.
    const seen = new Map<string, string>();
    for (const [path, pin] of listPins(g)) {
      const key = pinKey(pin);
      const other = seen.get(key);
      if (other !== undefined)
        ctx.addIssue({ code: 'custom', path: path.split('.'), message: `pin GPIO${pin} is already used by ${other}` });
      else seen.set(key, path);
    }
  });
export type GpioOptionsInput = z.input<typeof gpioOptionsSchema>;
export type GpioOptions = z.output<typeof gpioOptionsSchema>;

/** Pins are BCM numbers once parsed: "GPIO17", "17" and 17 are one pin. */
function pinKey(pin: PinId): string {
  return String(pin);
}

/** Every pin of the options with its path ("keypad.rowPins.1"). */
export function listPins(g: Omit<GpioOptions, 'readyTimeoutMs' | 'plugin'>): [string, PinId][] {
  const out: [string, PinId][] = [];
  if (g.coin) {
    out.push(['coin.pin', g.coin.pin]);
    if (g.coin.inhibit) out.push(['coin.inhibit.pin', g.coin.inhibit.pin]);
    if (g.coin.returnButton) out.push(['coin.returnButton.pin', g.coin.returnButton.pin]);
  }
  if (g.keypad) {
    g.keypad.rowPins.forEach((p, i) => out.push([`keypad.rowPins.${i}`, p]));
    g.keypad.colPins.forEach((p, i) => out.push([`keypad.colPins.${i}`, p]));
  }
  if (g.dispenser) {
    g.dispenser.rowPins.forEach((p, i) => out.push([`dispenser.rowPins.${i}`, p]));
    g.dispenser.colPins.forEach((p, i) => out.push([`dispenser.colPins.${i}`, p]));
    const home = g.dispenser.home;
    if (home.mode === 'shared') out.push(['dispenser.home.pin', home.pin]);
    else for (const [code, p] of Object.entries(home.pins)) out.push([`dispenser.home.pins.${code}`, p]);
  }
  if (g.drop) out.push(['drop.pin', g.drop.pin]);
  if (g.door) out.push(['door.pin', g.door.pin]);
  if (g.lcd?.controller === 'PARALLEL')
    for (const [name, p] of Object.entries(g.lcd.pins)) out.push([`lcd.pins.${name}`, p]);
  return out;
}

/** Parse GPIO options, throwing one readable error that lists every bad field with its path. */
export function parseGpioOptions(raw: unknown): GpioOptions {
  const r = gpioOptionsSchema.safeParse(raw);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `  - ${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
  throw new Error(`invalid gpio options:\n${lines.join('\n')}`);
}
