/**
 * Pins and timings held to the IO plugin at config check (resolveHardware, shared by `config
 * check`, `run` and `doctor`): BCM numbers only, reserved lines and lines the plugin lacks refused
 * with the field path, a plugin on a model it does not run on refused, timings below the plugin's
 * input sampling refused, and a left-out keypad dwell raised to the plugin's minimum.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfigFile } from '../../src/config/load.ts';
import { hardwareSchema, type HardwareConfigInput } from '../../src/config/hardware.ts';
import type { MachineConfig } from '../../src/config/schema.ts';
import { detectPiModel, resolveHardware } from '../../src/cli/hardware.ts';
import { GpioBoard } from '../../hardware/gpio/index.ts';
import { piModelFromDeviceTree, timingMinimums } from '../../hardware/gpio/pins.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { SimIO } from '../../sim/wire/gpio/index.ts';

const demo: MachineConfig = loadConfigFile(fileURLToPath(new URL('../../sim/machines/demo.yaml', import.meta.url)));

/** A 6×8 machine on the header's 22 free lines would not fit; this one is keypad + door + coin. */
const GPIO = {
  keypad: { rowPins: ['GPIO4', 'GPIO17', 'GPIO27', 'GPIO22'], colPins: ['GPIO5', 'GPIO6', 'GPIO13', 'GPIO19'], layout: [['A', 'B', 'C', 'D'], ['E', 'F', '1', '2'], ['3', '4', '5', '6'], ['7', '8', 'CLEAR', 'RETURN']] },
  door: { pin: 18 },
  coin: { pin: 'GPIO23', minPulseMs: 40, pulses: { '1': 5, '2': 10, '4': 20, '10': 50, '20': 100, '40': 200 } },
};

function hw(gpio: Record<string, unknown>): HardwareConfigInput {
  return { coin: 'pulse', keypad: 'gpio', door: 'gpio', gpio };
}

function resolve(input: HardwareConfigInput): ReturnType<typeof resolveHardware> {
  return resolveHardware(demo, hardwareSchema.parse(input), 'test.yaml');
}

function problems(input: HardwareConfigInput): readonly string[] {
  try {
    resolve(input);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  return [];
}

describe('GPIO pins in the config are BCM numbers, held to the plugin', () => {
  it('a wiring on free lines is accepted for every plugin; GPIO17 and 17 are the same pin', () => {
    for (const plugin of ['pi-io', 'raspi-io', 'gpiochip']) expect(problems(hw({ ...GPIO, plugin })), plugin).toEqual([]);
    const r = resolve(hw({ ...GPIO, plugin: 'pi-io' }));
    expect(r.gpio?.options.keypad?.rowPins).toEqual([4, 17, 27, 22]);
    expect(r.gpio?.options.door?.pin).toBe(18);
  });

  it('reserved lines (ID EEPROM, I2C, UART) are refused with the field path and the reason, whatever the plugin', () => {
    const bad = { ...GPIO, plugin: 'gpiochip', keypad: { ...GPIO.keypad, rowPins: ['GPIO0', 'GPIO2', 'GPIO14', 'GPIO22'] }, door: { pin: 15 } };
    expect(problems(hw(bad))).toEqual([
      'hardware.gpio.keypad.rowPins[0]: GPIO0 is reserved: ID_SD, the HAT ID EEPROM',
      'hardware.gpio.keypad.rowPins[1]: GPIO2 is reserved: I2C1 SDA (the LCD backpack and other I2C devices)',
      'hardware.gpio.keypad.rowPins[2]: GPIO14 is reserved: UART TXD (serial console / UART devices)',
      'hardware.gpio.door.pin: GPIO15 is reserved: UART RXD (serial console / UART devices)',
    ]);
  });

  it('a line the plugin does not have is refused (header lines end at GPIO27)', () => {
    expect(problems(hw({ ...GPIO, plugin: 'pi-io', door: { pin: 'GPIO28' } }))).toEqual(['hardware.gpio.door.pin: GPIO28 is not a pin of pi-io (it has GPIO2–GPIO27)']);
  });

  it('pin names other than GPIOn / n, and numbers out of range, are refused', () => {
    const p = problems(hw({ ...GPIO, plugin: 'pi-io', door: { pin: 'P1-11' }, coin: { ...GPIO.coin, pin: 99 } }));
    expect(p).toEqual(
      expect.arrayContaining([
        'hardware.gpio.coin.pin: 99 is not a BCM GPIO number: write GPIO17 or 17 (0–53)',
        'hardware.gpio.door.pin: "P1-11" is not a BCM GPIO number: write GPIO17 or 17 (0–53)',
      ]),
    );
  });

  it('raspi-io and pi-io are refused on a Pi 5 (pigpio does not run there); gpiochip runs on it', () => {
    expect(problems(hw({ ...GPIO, plugin: 'pi-io', model: '5' }))).toEqual([
      'hardware.gpio.plugin: pi-io does not run on a Raspberry Pi 5 (it needs pigpio (native; the pigpio C library, root)); use gpiochip',
    ]);
    expect(problems(hw({ ...GPIO, plugin: 'raspi-io', model: '5' }))).toHaveLength(1);
    expect(problems(hw({ ...GPIO, plugin: 'gpiochip', model: '5' }))).toEqual([]);
    expect(problems(hw({ ...GPIO, plugin: 'pi-io', model: '4' }))).toEqual([]);
  });

  it('a keypad dwell below the plugin sampling is refused: 5 ms with pi-io (5 ms sampling) reads each key a row late', () => {
    expect(problems(hw({ ...GPIO, plugin: 'pi-io', keypad: { ...GPIO.keypad, dwellMs: 5 } }))).toEqual([
      'hardware.gpio.keypad.dwellMs: 5 ms is too short for pi-io (linux-io samples inputs every 5 ms): at least 7 ms',
    ]);
    expect(problems(hw({ ...GPIO, plugin: 'raspi-io', keypad: { ...GPIO.keypad, dwellMs: 10 } }))).toEqual([
      'hardware.gpio.keypad.dwellMs: 10 ms is too short for raspi-io (j5-io reads inputs every 18 ms): at least 20 ms',
    ]);
    expect(problems(hw({ ...GPIO, plugin: 'gpiochip', keypad: { ...GPIO.keypad, dwellMs: 7 } }))).toEqual([]);
  });

  it('a keypad that scans too slowly to see a quick press is refused', () => {
    expect(problems(hw({ ...GPIO, plugin: 'raspi-io', keypad: { ...GPIO.keypad, dwellMs: 30, debounceMs: 40 } }))).toEqual([
      'hardware.gpio.keypad.dwellMs: a press is read only after 178 ms (rows × dwellMs + debounceMs + sampling); a quick press lasts about 150 ms',
    ]);
  });

  it('a left-out keypad dwell takes the plugin minimum instead of the 5 ms default', () => {
    const { dwellMs: _d, ...keypad } = { ...GPIO.keypad, dwellMs: 0 };
    for (const plugin of ['pi-io', 'raspi-io'] as const) {
      const r = resolve(hw({ ...GPIO, plugin, keypad }));
      expect(r.gpio?.options.keypad?.dwellMs, plugin).toBe(timingMinimums(plugin).keypadDwellMs);
    }
    expect(resolve(hw({ ...GPIO, keypad })).gpio?.options.keypad?.dwellMs).toBe(5);
  });

  it('pulse timings below what the sampling can measure are refused', () => {
    expect(problems(hw({ ...GPIO, plugin: 'raspi-io', coin: { ...GPIO.coin, minPulseMs: 20 } }))).toEqual([
      'hardware.gpio.coin.minPulseMs: 20 ms is too short for raspi-io (j5-io reads inputs every 18 ms): at least 36 ms',
    ]);
  });

  it('the model is read from the device tree', () => {
    expect(piModelFromDeviceTree('Raspberry Pi 5 Model B Rev 1.0\0')).toBe('5');
    expect(piModelFromDeviceTree('Raspberry Pi 4 Model B Rev 1.5\0')).toBe('4');
    expect(piModelFromDeviceTree('Raspberry Pi 3 Model B Plus Rev 1.3\0')).toBe('3b+');
    expect(piModelFromDeviceTree('Raspberry Pi Zero 2 W Rev 1.0\0')).toBe('zero2w');
    expect(piModelFromDeviceTree('Raspberry Pi 3 Model B Rev 1.2')).toBeUndefined();
    expect(detectPiModel(() => 'Raspberry Pi 5 Model B Rev 1.0\0')).toBe('5');
    expect(
      detectPiModel(() => {
        throw new Error('ENOENT');
      }),
    ).toBeUndefined();
  });
});

describe('GpioBoard hands the plugin the pin by name', () => {
  it('a configured BCM number reaches the plugin as GPIO<n>, never as a bare number the plugin reads its own way', async () => {
    const clock = new VirtualClock();
    const asked: (string | number)[] = [];
    // A plugin that numbers its pins its own way (as pi-io's table does): GPIO<n> is index n + 100.
    class OwnNumbering extends SimIO {
      override normalize(pin: number | string): number {
        asked.push(pin);
        return typeof pin === 'number' ? pin : super.normalize(pin) + 100;
      }
    }
    const io = new OwnNumbering({ clock, pinCount: 140 });
    const board = await GpioBoard.open({ io, clock });
    expect(board.pin(17)).toBe(117);
    expect(asked).toContain('GPIO17');
    board.close();
  });
});
