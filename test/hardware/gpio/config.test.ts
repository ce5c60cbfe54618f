import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../../sim/clock.ts';
import { SimIO } from '../../../sim/wire/gpio/index.ts';
import { createGpioDevices, gpioOptionsSchema, motorAddresses, parseGpioOptions } from '../../../hardware/gpio/index.ts';
import { COIN, DISPENSER, KEYPAD, LCD_PARALLEL } from './helpers.ts';

function problems(raw: unknown): string[] {
  const r = gpioOptionsSchema.safeParse(raw);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('gpio options', () => {
  it('accepts a full machine and fills the documented defaults', () => {
    const o = parseGpioOptions({ coin: COIN, keypad: KEYPAD, dispenser: DISPENSER, drop: { pin: 7 }, door: { pin: 8 }, lcd: LCD_PARALLEL });
    expect(o.coin).toMatchObject({ activeLevel: 'low', pull: 'up', minPulseMs: 15, maxPulseMs: 150, gapMs: 200, debounceMs: 3 });
    expect(o.coin?.inhibit).toEqual({ pin: 5, activeLevel: 'high' });
    expect(o.keypad).toMatchObject({ activeLevel: 'low', debounceMs: 20, dwellMs: 5 });
    expect(o.dispenser).toMatchObject({ leaveHomeMs: 1_000, maxRunMs: 7_000, stopAtHome: true, homeLevel: 'low' });
    expect(o.lcd).toMatchObject({ rows: 2, cols: 16 });
    expect(o.readyTimeoutMs).toBe(10_000);
  });

  it('rejects a pin used twice, naming both users (also across spellings)', () => {
    expect(problems({ coin: COIN, door: { pin: 'GPIO5' } })).toEqual(['door.pin: pin GPIO5 is already used by coin.inhibit.pin']);
  });

  it('rejects inconsistent pulse timing and an empty pulse table', () => {
    expect(problems({ coin: { ...COIN, minPulseMs: 100, maxPulseMs: 50 } })).toContain('coin.maxPulseMs: must be greater than minPulseMs (100)');
    expect(problems({ coin: { ...COIN, debounceMs: 20 } })).toContain('coin.debounceMs: must be shorter than minPulseMs (15)');
    expect(problems({ coin: { ...COIN, pulses: {} } })).toContain('coin.pulses: at least one pulse count → value entry');
    expect(problems({ coin: { ...COIN, pulses: { '0': 10, x: 20 } } })).toEqual([
      'coin.pulses.0: "0" is not a pulse count (a whole number ≥ 1)',
      'coin.pulses.x: "x" is not a pulse count (a whole number ≥ 1)',
    ]);
    expect(problems({ coin: { ...COIN, pulses: { '1': 0.5 } } }).join()).toMatch(/minor units/);
  });

  it('rejects a keypad layout that does not match its pins or holds unknown labels', () => {
    expect(problems({ keypad: { ...KEYPAD, rowPins: [12, 13, 14] } })).toContain('keypad.layout: has 4 rows, rowPins has 3');
    const bad = problems({ keypad: { rowPins: [1], colPins: [2, 3], layout: [['A', '@']] } });
    expect(bad).toEqual(['keypad.layout.0.1: "@" is not a key; map it in keyMap or use \'\'']);
    expect(problems({ keypad: { rowPins: [1], colPins: [2, 3], layout: [['A', '@']], keyMap: { '@': 'RETURN' } } })).toEqual([]);
  });

  it('rejects motors outside the matrix and missing home switches', () => {
    expect(problems({ dispenser: { ...DISPENSER, map: { A1: { row: 5, col: 0 } } } }).join()).toMatch(/outside the 2×3 matrix/);
    const home = { mode: 'perMotor', pins: { A1: 27, A2: 28, A3: 29, B1: 30, B2: 31 } };
    expect(problems({ dispenser: { ...DISPENSER, home } })).toContain('dispenser.home.pins: motor B3 has no home switch pin');
    expect(problems({ dispenser: { ...DISPENSER, maxRunMs: 500 } })).toContain('dispenser.maxRunMs: must be longer than leaveHomeMs');
  });

  it('derives motor addresses from column codes, or takes an explicit map', () => {
    expect([...motorAddresses({ rowPins: [1, 2], colPins: [3, 4], firstDigit: 1 })]).toEqual([
      ['A1', { row: 0, col: 0 }],
      ['A2', { row: 0, col: 1 }],
      ['B1', { row: 1, col: 0 }],
      ['B2', { row: 1, col: 1 }],
    ]);
    expect([...motorAddresses({ rowPins: [1], colPins: [3, 4], firstDigit: 0 }).keys()]).toEqual(['A0', 'A1']);
    expect([...motorAddresses({ rowPins: [1], colPins: [3], firstDigit: 1, map: { F8: { row: 0, col: 0 } } })]).toEqual([['F8', { row: 0, col: 0 }]]);
  });

  it('rejects a bad LCD setup', () => {
    expect(problems({ lcd: { controller: 'HD44780' } }).length).toBeGreaterThan(0);
    expect(problems({ lcd: { ...LCD_PARALLEL, rows: 6 } }).join()).toMatch(/lcd\.rows/);
  });

  it('createGpioDevices throws one readable error listing every bad field, before touching the board', async () => {
    const clock = new VirtualClock();
    const io = new SimIO({ clock });
    const p = createGpioDevices({ io, clock, options: { coin: { ...COIN, gapMs: -1 }, door: { pin: 'GPIO4' } } });
    const err: unknown = await p.catch((e: unknown) => e);
    const msg = err instanceof Error ? err.message : '';
    expect(msg).toMatch(/^invalid gpio options:\n/);
    expect(msg).toMatch(/\n {2}- coin\.gapMs: /);
    expect(msg).toMatch(/\n {2}- door\.pin: pin GPIO4 is already used by coin\.pin/);
    expect(io.digitalWrites).toBe(0);
  });

  it('createGpioDevices fails cleanly on a pin the board does not have, switching motors off', async () => {
    const clock = new VirtualClock();
    const io = new SimIO({ clock, pinCount: 34 });
    const p = createGpioDevices({ io, clock, options: { dispenser: DISPENSER, door: { pin: 39 } } });
    await expect(p).rejects.toThrow(/pin 39 does not exist on SimIO \(34 pins\)/);
    expect(DISPENSER.rowPins.map((pin) => io.output(pin))).toEqual([0, 0]);
  });
});
