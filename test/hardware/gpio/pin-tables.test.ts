/**
 * The pin translation against the plugins' own pin tables as published (the npm tarballs in
 * ./plugins, checked against the registry's integrity): every pin our profile says a plugin has is
 * reached by its `GPIO<n>` name on BCM line n, the plugin has no others, and the input sampling
 * figures the timing minimums rest on are the plugins' own. Plus the character-device plugin.
 */
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import { inherits } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { GpioChipIO, type ChipBackend } from '../../../hardware/gpio/gpiochip.ts';
import { PI_MODELS, PLUGIN_PROFILES, RESERVED_PINS, pinName, type PiModel } from '../../../hardware/gpio/pins.ts';

const DIR = new URL('./plugins/', import.meta.url);
const INTEGRITY = JSON.parse(readFileSync(new URL('integrity.json', DIR), 'utf8')) as Record<string, string>;

/** The files of an npm tarball (ustar in gzip), by path without the leading `package/`. */
function unpack(tarball: string): Map<string, string> {
  const raw = readFileSync(new URL(tarball, DIR));
  const integrity = `sha512-${createHash('sha512').update(raw).digest('base64')}`;
  if (integrity !== INTEGRITY[tarball]) throw new Error(`${tarball}: integrity ${integrity} is not the registry's`);
  const tar = gunzipSync(raw);
  const files = new Map<string, string>();
  for (let at = 0; at + 512 <= tar.length; ) {
    const header = tar.subarray(at, at + 512);
    const name = header.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
    if (name === '') break;
    const prefix = header.subarray(345, 500).toString('latin1').replace(/\0.*$/s, '');
    const size = parseInt(header.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
    const path = (prefix ? `${prefix}/${name}` : name).replace(/^package\//, '');
    files.set(path, tar.subarray(at + 512, at + 512 + size).toString('utf8'));
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

/** Runs a CommonJS module's source with `require` answered from `modules`. */
function runCommonJs(source: string, modules: Record<string, unknown>): unknown {
  const module = { exports: {} as unknown };
  const require = (name: string): unknown => {
    if (name in modules) return modules[name];
    throw new Error(`unexpected require("${name}")`);
  };
  new Function('exports', 'require', 'module', source)(module.exports, require, module);
  return module.exports;
}

/** /proc/cpuinfo revision codes of the supported models that pigpio runs on. */
const REVISIONS: Record<Exclude<PiModel, '5'>, string> = { zero2w: '902120', '3b+': 'a020d3', '4': 'c03111' };

interface RaspiBoard {
  getPins(): Record<string, { pins: string[]; gpio: number }>;
  getPinNumber(alias: string | number): number | null;
  getGpioNumber(alias: string | number): number | null;
}

function raspiBoardOn(revision: string): RaspiBoard {
  const source = unpack('raspi-board-7.4.0.tgz').get('dist/index.js') ?? '';
  const fakeFs = { readFileSync: () => Buffer.from(`Hardware\t: BCM2835\nRevision\t: ${revision}\n`) };
  return runCommonJs(source, { fs: fakeFs, 'j5-io-types': { PeripheralType: { GPIO: 'gpio', PWM: 'pwm', I2C: 'i2c', UART: 'uart', SPI: 'spi' } } }) as RaspiBoard;
}

describe('raspi-io: raspi-board 7.4.0 pin tables, j5-io 3.2.0 reads', () => {
  for (const model of PI_MODELS.filter((m): m is Exclude<PiModel, '5'> => m !== '5')) {
    it(`Pi ${model}: GPIO<n> reaches BCM line n for every pin we allow, and the table has no others`, () => {
      const board = raspiBoardOn(REVISIONS[model]);
      const profile = PLUGIN_PROFILES['raspi-io'];
      expect(profile.models).toContain(model);
      const lines = Object.values(board.getPins()).map((p) => p.gpio);
      expect(new Set(lines)).toEqual(profile.pins);
      for (const bcm of profile.pins) {
        const wiringPi = board.getPinNumber(pinName(bcm));
        expect(wiringPi, pinName(bcm)).not.toBeNull();
        expect(board.getGpioNumber(wiringPi ?? -1), pinName(bcm)).toBe(bcm);
      }
    });
  }

  it('a bare number is a WiringPi number there, not BCM: GPIO17 is WiringPi 0, and "17" is another line', () => {
    const board = raspiBoardOn(REVISIONS['4']);
    expect(board.getPinNumber('GPIO17')).toBe(0);
    expect(board.getGpioNumber('17')).not.toBe(17);
  });

  it('the ID EEPROM lines are not in its table', () => {
    const board = raspiBoardOn(REVISIONS['4']);
    expect(board.getPinNumber('GPIO0')).toBeNull();
    expect(board.getPinNumber('GPIO1')).toBeNull();
  });

  it('inputs are read every 18 ms (j5-io READ_UPDATE_RATE), the figure the timing minimums use', () => {
    const source = unpack('j5-io-3.2.0.tgz').get('dist/managers/gpio.js') ?? '';
    const rate = /const READ_UPDATE_RATE = (\d+);/.exec(source)?.[1];
    expect(Number(rate)).toBe(PLUGIN_PROFILES['raspi-io'].inputSamplingMs);
    expect(source).toMatch(/setInterval\([^]*READ_UPDATE_RATE\)/);
  });
});

interface LinuxIoInstance {
  normalize(pin: string | number): number;
  _samplingInterval: number;
}

/** linux-io 1.1.1 constructed on pi-io 1.1.1's pin table, its hardware modules stubbed. */
function piIo(): { io: LinuxIoInstance; table: { ids: string[]; gpioNo?: number }[] } {
  const table = runCommonJs(unpack('pi-io-1.1.1.tgz').get('lib/pins.js') ?? '', {}) as { ids: string[]; gpioNo?: number; ledPath?: string; modes: number[] }[];
  const linuxIo = unpack('linux-io-1.1.1.tgz');
  // board-io's constructor as far as linux-io relies on it: the pin array and the mode numbers.
  function BoardIO(this: EventEmitter & { MODES: object; _pins: unknown[] }): void {
    EventEmitter.call(this);
    this._pins = [];
    this.MODES = { INPUT: 0, OUTPUT: 1, ANALOG: 2, PWM: 3, SERVO: 4, UNKNOWN: 99 };
  }
  inherits(BoardIO, EventEmitter);
  const Led = function Led(): void {};
  const LinuxIO = runCommonJs(linuxIo.get('lib/linux-io.js') ?? '', {
    'board-io': BoardIO,
    'i2c-bus': {},
    mutexify: () => () => undefined,
    onoff: { Gpio: function Gpio(): void {} },
    util: { inherits },
    './led': Led,
  }) as new (options: object) => LinuxIoInstance;
  return { io: new LinuxIO({ pins: table }), table };
}

describe('pi-io 1.1.1 (linux-io 1.1.1) pin table', () => {
  it('GPIO<n> reaches the table entry of BCM line n for every pin we allow, and the table has no other lines', () => {
    const { io, table } = piIo();
    const profile = PLUGIN_PROFILES['pi-io'];
    expect(new Set(table.flatMap((p) => (p.gpioNo === undefined ? [] : [p.gpioNo])))).toEqual(profile.pins);
    for (const bcm of profile.pins) {
      const index = io.normalize(pinName(bcm));
      expect(table[index]?.gpioNo, pinName(bcm)).toBe(bcm);
    }
  });

  it('a bare number is an index into its table: 17 is not BCM 17, and 27 does not exist (the defect the names fix)', () => {
    const { io, table } = piIo();
    expect(table[io.normalize(17)]?.gpioNo).not.toBe(17);
    expect(table.length).toBe(27);
    expect(table[27]).toBeUndefined();
  });

  it('the ID EEPROM lines are not in its table', () => {
    const { io } = piIo();
    expect(() => io.normalize('GPIO0')).toThrow();
    expect(() => io.normalize('GPIO1')).toThrow();
  });

  it('inputs are sampled every 5 ms (linux-io DEFAULT_SAMPLING_INTERVAL), the figure the timing minimums use', () => {
    const { io } = piIo();
    expect(io._samplingInterval).toBe(PLUGIN_PROFILES['pi-io'].inputSamplingMs);
  });
});

describe('the character device (gpiochip) plugin', () => {
  it('GPIO<n> is line offset n for every header line, on every model, the Pi 5 included', () => {
    const backend: ChipBackend = { input: () => undefined, output: () => undefined, read: () => 0, write: () => undefined, close: () => undefined };
    const io = new GpioChipIO({ backend });
    const profile = PLUGIN_PROFILES.gpiochip;
    expect([...profile.models]).toEqual([...PI_MODELS]);
    for (const bcm of profile.pins) expect(io.normalize(pinName(bcm))).toBe(bcm);
    expect(() => io.normalize('GPIO28')).toThrow(/unknown pin name/);
    io.close();
  });

  it('the reserved lines are named for what they are', () => {
    expect([...RESERVED_PINS.keys()].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 14, 15]);
  });
});
