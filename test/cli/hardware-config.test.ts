/**
 * The `hardware` config section (src/config/hardware.ts) and its validation by the composition root
 * (src/cli/hardware.ts): defaults, the example machines, and every kind of bad input reported with
 * its full path. Plus the small pieces of the root: the system clock, open-failure wording and the
 * IO-plugin tracer.
 */
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, loadConfigFile } from '../../src/config/load.ts';
import {
  ALL_SIM_HARDWARE,
  crossCheckHardware,
  hardwareSchema,
  portsUsing,
  usesRealHardware,
  type HardwareConfigInput,
} from '../../src/config/hardware.ts';
import type { MachineConfig } from '../../src/config/schema.ts';
import { describeOpenFailure, loadMachineWithHardware, parseHardware, resolveHardware, systemClock, traceIoPlugin } from '../../src/cli/hardware.ts';
import { FrameTracer } from '../../hardware/serial/trace.ts';
import type { IoPlugin } from '../../hardware/gpio/index.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { SimIO } from '../../sim/wire/gpio/index.ts';

const MACHINES = fileURLToPath(new URL('../../sim/machines/', import.meta.url));
const demo: MachineConfig = loadConfigFile(`${MACHINES}demo.yaml`);

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error('expected a ConfigError');
}

/** A GPIO block that wires a whole 6×8 demo machine (SimIO pin numbers). */
const GPIO = {
  keypad: { rowPins: [4, 5, 6, 7], colPins: [8, 9, 10, 11, 12, 13] },
  dispenser: { rowPins: [14, 15, 16, 17, 18, 19], colPins: [20, 21, 22, 23, 24, 25, 26, 27], home: { mode: 'shared', pin: 28 } },
  drop: { pin: 29 },
  door: { pin: 30 },
  lcd: { controller: 'PCF8574', rows: 2, cols: 16 },
};

const MDB_GPIO: HardwareConfigInput = {
  coin: 'mdb',
  bill: 'mdb',
  card: 'mdb',
  keypad: 'gpio',
  dispenser: 'gpio',
  drop: 'gpio',
  door: 'gpio',
  display: 'gpio',
  serial: { mdb: { path: '/dev/ttyACM0' } },
  gpio: GPIO,
};

function resolveProblems(input: HardwareConfigInput, config: MachineConfig = demo): readonly string[] {
  return problemsOf(() => resolveHardware(config, hardwareSchema.parse(input), 'test.yaml'));
}

describe('the hardware section', () => {
  it('defaults every port to the simulator', () => {
    expect(ALL_SIM_HARDWARE).toMatchObject({ coin: 'sim', bill: 'sim', card: 'sim', keypad: 'sim', dispenser: 'sim', drop: 'sim', door: 'sim', display: 'sim' });
    expect(usesRealHardware(ALL_SIM_HARDWARE)).toBe(false);
    expect(parseHardware(undefined)).toEqual(ALL_SIM_HARDWARE);
  });

  it('the demo machine has no hardware section: it is the all-simulated machine', () => {
    const { hardware } = loadMachineWithHardware(`${MACHINES}demo.yaml`);
    expect(hardware).toEqual(ALL_SIM_HARDWARE);
  });

  it('the Pi + MDB + GPIO example is valid and wires every port', () => {
    const { config, hardware } = loadMachineWithHardware(`${MACHINES}pi-mdb-gpio.yaml`);
    expect(portsUsing(hardware, 'mdb')).toEqual(['coin', 'bill', 'card']);
    expect(portsUsing(hardware, 'gpio')).toEqual(['keypad', 'dispenser', 'drop', 'door', 'display']);
    const r = resolveHardware(config, hardware);
    expect(r.mdb?.bus).toMatchObject({ target: { path: '/dev/ttyACM0' }, baudRate: 115_200, ports: ['coin', 'bill', 'card'] });
    expect(r.gpio?.plugin).toBe('pi-io');
    expect(r.gpio?.options.dispenser?.rowPins).toHaveLength(4);
    expect(r.gpio?.options.dispenser?.colPins).toHaveLength(7);
    expect(r.gpio?.options.lcd).toMatchObject({ controller: 'PCF8574', rows: 2, cols: 16 });
    // The rest of the machine config is the ordinary schema's business.
    expect(loadConfigFile(`${MACHINES}pi-mdb-gpio.yaml`).catalog.rows).toBe(6);
  });

  it('the Pi + ccTalk example is valid: 9600 baud, one hopper fed by sorter path 1', () => {
    const { config, hardware } = loadMachineWithHardware(`${MACHINES}pi-cctalk.yaml`);
    const r = resolveHardware(config, hardware);
    expect(r.cctalk?.bus).toMatchObject({ target: { vendorId: '0403', productId: '6001' }, baudRate: 9_600, where: 'USB 0403:6001' });
    expect(r.cctalk?.options.hoppers).toEqual([{ coinValue: 10, address: 3, initialCount: 60, sorterPath: 1 }]);
    expect(r.cctalk?.options.acceptor).toMatchObject({ sorterPaths: { 1: 10 }, denominations: [10, 20, 50, 100, 200] });
    expect(r.mdb).toBeUndefined();
    expect(hardware.bill).toBe('none');
  });

  it('the MDB serial port defaults to the MDB-USB board by USB id', () => {
    const r = resolveHardware(demo, hardwareSchema.parse({ coin: 'mdb' }));
    expect(r.mdb?.bus).toMatchObject({ target: { vendorId: '16d0', productId: '0bd7' }, where: 'USB 16d0:0bd7', ports: ['coin'] });
    expect(r.mdb?.options).toMatchObject({ bill: false, card: false, currencyDecimals: 2 });
  });

  it('reports structural problems of the section with full paths', () => {
    const p = problemsOf(() =>
      parseHardware(
        {
          coin: 'coinco',
          keypad: 'gpio',
          serial: { mdb: { path: '/dev/ttyACM0', usb: { vendorId: '16d0', productId: '0bd7' } }, cctalk: { baudRate: 9600 } },
          extra: 1,
        },
        'machine.yaml',
      ),
    );
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^hardware\.coin: /),
        expect.stringMatching(/^hardware\.serial\.mdb: give either path or usb/),
        expect.stringMatching(/^hardware\.serial\.cctalk: give either path or usb/),
        expect.stringMatching(/^hardware: .*extra/),
      ]),
    );
  });

  it('asks for the serial port and the GPIO blocks the assignment needs', () => {
    const p = problemsOf(() => parseHardware({ coin: 'cctalk', keypad: 'gpio', display: 'gpio', gpio: { keypad: {} } }));
    expect(p).toEqual([
      expect.stringMatching(/^hardware\.serial\.cctalk: required: coin uses ccTalk/),
      'hardware.gpio.lcd: required because hardware.display is gpio',
    ]);
    expect(problemsOf(() => parseHardware({ coin: 'pulse' }))).toEqual(['hardware.gpio: required: coin uses GPIO']);
    expect(problemsOf(() => parseHardware({ coin: 'pulse', gpio: { plugin: 'pi-io' } }))).toEqual(['hardware.gpio.coin: required because hardware.coin is pulse']);
    expect(problemsOf(() => parseHardware({ serial: { mdb: { usb: { vendorId: 'xyz', productId: '0bd7' } } } }))[0]).toMatch(/^hardware\.serial\.mdb\.usb\.vendorId: must be a USB id/);
  });

  it('validates the GPIO block with the adapter schema, reporting full paths', () => {
    const bad = { ...MDB_GPIO, gpio: { ...GPIO, plugin: 'wiringpi', dispenser: { ...GPIO.dispenser, rowPins: [14, 15, -1, 17, 18, 19] }, door: { pin: 29 } } };
    const p = resolveProblems(bad);
    expect(p).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^hardware\.gpio\.plugin: /),
        expect.stringMatching(/^hardware\.gpio\.dispenser\.rowPins\[2\]: /),
        expect.stringMatching(/^hardware\.gpio\.door\.pin: pin GPIO29 is already used by drop\.pin/),
      ]),
    );
  });

  it('reports a pin used twice with the array index of the second use', () => {
    const p = resolveProblems({ ...MDB_GPIO, gpio: { ...GPIO, keypad: { rowPins: [4, 5, 6, 14], colPins: [8, 9, 10, 11, 12, 13] } } });
    expect(p).toEqual([expect.stringMatching(/^hardware\.gpio\.dispenser\.rowPins\[0\]: pin GPIO14 is already used by keypad\.rowPins\.3/)]);
  });

  it('catches typos in the GPIO block that the adapter schema would silently drop', () => {
    const p = resolveProblems({ ...MDB_GPIO, gpio: { ...GPIO, keypd: { rowPins: [1] } } });
    expect(p).toEqual([expect.stringMatching(/^hardware\.gpio\.keypd: unknown key/)]);
  });

  it('checks the GPIO wiring against the machine: LCD size and a motor for every column', () => {
    const small = { ...GPIO, dispenser: { ...GPIO.dispenser, colPins: [20, 21, 22, 23, 24, 25, 26] }, lcd: { controller: 'PCF8574', rows: 4, cols: 20 } };
    const p = resolveProblems({ ...MDB_GPIO, gpio: small });
    expect(p).toContain('hardware.gpio.lcd: 4×20, but display is 2×16');
    expect(p).toContain('hardware.gpio.dispenser: column A8 has no motor in the matrix');
  });

  it('validates the MDB and ccTalk blocks (strict: unknown keys are errors)', () => {
    const p = resolveProblems({ ...MDB_GPIO, mdb: { board: { timeoutMs: 0 }, coin: { pollIdle: 100 } } });
    expect(p).toEqual(
      expect.arrayContaining([expect.stringMatching(/^hardware\.mdb\.board\.timeoutMs: /), expect.stringMatching(/^hardware\.mdb\.coin: .*pollIdle/)]),
    );
    const cc = resolveProblems({ coin: 'cctalk', serial: { cctalk: { path: '/dev/ttyUSB0' } }, cctalk: { hoppers: [{ coinValue: 30 }, { coinValue: 50, security: 'aes' }] } });
    expect(cc).toEqual(
      expect.arrayContaining([expect.stringMatching(/^hardware\.cctalk\.hoppers\[1\]\.security: /)]),
    );
    const notCoin = resolveProblems({ coin: 'cctalk', serial: { cctalk: { path: '/dev/ttyUSB0' } }, cctalk: { hoppers: [{ coinValue: 30 }] } });
    expect(notCoin).toEqual(['hardware.cctalk.hoppers[0].coinValue: 30 is not a coin of EUR']);
  });

  it('checks the section against the devices the machine has', () => {
    const noBill: MachineConfig = { ...demo, devices: { ...demo.devices, bill: { present: false, required: false } } };
    expect(crossCheckHardware(noBill, hardwareSchema.parse({ bill: 'mdb' }))).toEqual(['hardware.bill: mdb, but devices.bill.present is false']);
    expect(crossCheckHardware(demo, hardwareSchema.parse({ card: 'none' }))).toEqual(['hardware.card: none, but devices.card.present is true']);
    expect(crossCheckHardware(demo, ALL_SIM_HARDWARE)).toEqual([]);
  });

  it('reads a config file with both parts and lists the problems of both', () => {
    const p = problemsOf(() => loadMachineWithHardware(`${MACHINES}does-not-exist.yaml`));
    expect(p[0]).toMatch(/^cannot read file/);
  });
});

describe('composition-root helpers', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('words open failures as an errno and what it means', () => {
    expect(describeOpenFailure('open failed: Error: No such file or directory, cannot open /dev/ttyACM0')).toBe('ENOENT (no such file or directory)');
    expect(describeOpenFailure('open failed: Error: Permission denied, cannot open /dev/ttyACM0')).toMatch(/^EACCES .*dialout/);
    expect(describeOpenFailure('open failed: Error Resource temporarily unavailable Cannot lock port')).toMatch(/^EBUSY/);
    expect(describeOpenFailure('open failed: no port with USB id 16d0:0bd7')).toMatch(/^not found/);
    expect(describeOpenFailure('open failed: Error: something else')).toBe('something else');
    expect(describeOpenFailure(undefined)).toBe('unknown error');
  });

  it('the system clock runs and cancels real timers, chaining delays beyond 2^31 ms', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const fired: string[] = [];
    systemClock.setTimeout(() => fired.push('a'), 100);
    const b = systemClock.setTimeout(() => fired.push('b'), 50);
    systemClock.clearTimeout(b);
    systemClock.clearTimeout('not a timer');
    const long = 2_147_483_647 + 1_000;
    systemClock.setTimeout(() => fired.push('long'), long);
    vi.advanceTimersByTime(100);
    expect(fired).toEqual(['a']);
    expect(systemClock.now()).toBe(1_000_100);
    vi.advanceTimersByTime(long - 200);
    expect(fired).toEqual(['a']);
    vi.advanceTimersByTime(200);
    expect(fired).toEqual(['a', 'long']);
  });

  it('traces every pin write and every pin change read back on bus gpio', async () => {
    const clock = new VirtualClock(5_000);
    const io = new SimIO({ clock });
    const tracer = new FrameTracer();
    const traced: IoPlugin = traceIoPlugin(io, tracer, clock);
    expect(traced).toBeInstanceOf(EventEmitter);
    expect(traced.pins).toBe(io.pins);
    traced.pinMode(3, io.MODES.OUTPUT);
    traced.digitalWrite(3, 1);
    const seen: number[] = [];
    traced.pinMode(4, io.MODES.INPUT);
    traced.digitalRead(4, (v) => seen.push(v));
    io.drive(4, 1);
    await clock.advance(1);
    io.drive(4, 0);
    await clock.advance(1);
    const frames = tracer.recent().map((t) => `${t.dir} ${t.raw}`);
    expect(frames).toContain('tx 3=1');
    expect(frames).toContain('rx 4=1');
    expect(frames).toContain('rx 4=0');
    expect(seen).toContain(1);
    expect(tracer.recent().every((t) => t.bus === 'gpio')).toBe(true);
  });
});
