/**
 * `openHardwarePorts` (src/cli/hardware.ts) against emulated hardware: the simulator's
 * EmulatorBinding stands in for the serial ports and SimIO for the Pi's GPIO, both in front of the
 * port-level simulated machine (sim/wire/machine.ts `createWireWorld`). The ports it returns are
 * the real adapters; unreachable devices fail with one line naming the ports and why.
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { hardwareSchema, type HardwareConfigInput } from '../../src/config/hardware.ts';
import { loadConfigFile } from '../../src/config/load.ts';
import type { MachineConfig } from '../../src/config/schema.ts';
import { HardwareError, loadMachineWithHardware, openHardwarePorts, type HardwarePorts } from '../../src/cli/hardware.ts';
import { MdbCashless, MdbCoinChanger, MdbBillValidator } from '../../hardware/mdb/index.ts';
import { LcdDisplay, MatrixKeypad, GpioDispenser, GpioDoor, GpioDropSensor, PulseCoinAcceptor } from '../../hardware/gpio/index.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { EmulatorBinding } from '../../sim/wire/binding.ts';
import { SimIO } from '../../sim/wire/gpio/index.ts';
import { createWireWorld, type WireWorld } from '../../sim/wire/machine.ts';
import { SimKeypad } from '../../sim/devices/keypad.ts';

const MACHINES = fileURLToPath(new URL('../../sim/machines/', import.meta.url));
const demo: MachineConfig = loadConfigFile(`${MACHINES}demo.yaml`);

/** Runs the clock until the promise settles; returns its value or its rejection. */
async function settle<T>(clock: VirtualClock, p: Promise<T>, limitMs = 30_000): Promise<{ ok: true; value: T } | { ok: false; error: unknown }> {
  let out: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  p.then(
    (value) => (out = { ok: true, value }),
    (error: unknown) => (out = { ok: false, error }),
  );
  await clock.runUntil(() => out !== undefined, limitMs);
  if (!out) throw new Error('did not settle');
  return out;
}

async function open(file: string, mutate?: (w: WireWorld) => void) {
  const { config, hardware } = loadMachineWithHardware(`${MACHINES}${file}`);
  const clock = new VirtualClock();
  const world = createWireWorld(config, clock, { hardware });
  mutate?.(world);
  const r = await settle(clock, openHardwarePorts(config, hardware, { clock, binding: world.binding, ...(world.gpio ? { io: world.gpio.io } : {}) }));
  return { config, hardware, clock, world, r };
}

function opened(r: { ok: true; value: HardwarePorts } | { ok: false; error: unknown }): HardwarePorts {
  if (!r.ok) throw r.error;
  return r.value;
}

describe('openHardwarePorts', () => {
  it('a Pi with an MDB board and GPIO: the ports are the real adapters, and they come up', async () => {
    const { clock, world, r } = await open('pi-mdb-gpio.yaml');
    const hw = opened(r);
    const p = hw.ports;
    expect(p.coin).toBeInstanceOf(MdbCoinChanger);
    expect(p.bill).toBeInstanceOf(MdbBillValidator);
    expect(p.card).toBeInstanceOf(MdbCashless);
    expect(p.keypad).toBeInstanceOf(MatrixKeypad);
    expect(p.dispenser).toBeInstanceOf(GpioDispenser);
    expect(p.drop).toBeInstanceOf(GpioDropSensor);
    expect(p.door).toBeInstanceOf(GpioDoor);
    expect(p.display).toBeInstanceOf(LcdDisplay);
    expect(hw.sim).toBeUndefined();
    // The MDB port is open at the board's 115200 baud; polling starts with start().
    expect(world.binding.openPort('/dev/ttyACM0')?.openOptions.baudRate).toBe(115_200);
    expect(hw.notReady()).toEqual(['coin', 'bill', 'card']);
    hw.start();
    await clock.runUntil(() => hw.notReady().length === 0, 5_000);
    expect(hw.adapters.mdb?.coin?.state).toBe('ready');
    expect(hw.notReady()).toEqual([]);
    // MDB lines and GPIO pin writes are traced.
    expect(hw.tracer.recent().some((t) => t.bus === 'mdb' && t.raw === 'M,1')).toBe(true);
    expect(hw.tracer.recent().some((t) => t.bus === 'gpio' && t.dir === 'tx')).toBe(true);
    // A real key press on the matrix arrives as a key.
    const keys: string[] = [];
    p.keypad.keys$.subscribe((k) => keys.push(k));
    world.gpio?.keypad?.press('B', { holdMs: 80 });
    await clock.advance(200);
    expect(keys).toEqual(['B']);
    await settle(clock, hw.close());
    expect(world.binding.openPort('/dev/ttyACM0')).toBeUndefined();
    await hw.close(); // idempotent
    world.dispose();
  });

  it('a ccTalk bus on a USB adapter is found by its id and opened at 9600 baud', async () => {
    const { clock, world, r } = await open('pi-cctalk.yaml');
    const hw = opened(r);
    expect(world.cctalkPath).toBeDefined();
    expect(world.binding.openPort(world.cctalkPath ?? '')?.openOptions.baudRate).toBe(9_600);
    expect(hw.ports.bill).toBeUndefined();
    expect(hw.ports.card).toBeUndefined();
    hw.start();
    const cc = hw.adapters.cctalk;
    await clock.runUntil(() => cc?.acceptor.identity !== null && cc?.hoppers[0]?.identity !== null, 5_000);
    expect(cc?.acceptor.identity?.category).toBe('Coin Acceptor');
    expect(hw.tracer.recent().some((t) => t.bus === 'cctalk' && t.meaning === 'simple poll')).toBe(true);
    await settle(clock, hw.close());
    world.dispose();
  });

  it('an unplugged MDB board fails at once with one line naming the ports, and leaves nothing open', async () => {
    const { world, r } = await open('pi-mdb-gpio.yaml', (w) => w.binding.unplug(w.mdbPath ?? ''));
    expect(r.ok).toBe(false);
    const e = r.ok ? undefined : r.error;
    expect(e).toBeInstanceOf(HardwareError);
    expect((e as Error).message).toBe('coin, bill, card: cannot open /dev/ttyACM0 (MDB interface board): ENOENT (no such file or directory)');
    expect((e as Error).message).not.toContain('\n');
    world.binding.replug(world.mdbPath ?? '');
    // No reconnect keeps running in the background: the port stays free.
    expect(world.binding.openPort('/dev/ttyACM0')).toBeUndefined();
    world.dispose();
  });

  it('a USB adapter that is not plugged in: "not found", naming the USB id', async () => {
    const { config, hardware } = loadMachineWithHardware(`${MACHINES}pi-cctalk.yaml`);
    const clock = new VirtualClock();
    const r = await settle(clock, openHardwarePorts(config, hardware, { clock, binding: new EmulatorBinding(), io: new SimIO({ clock }) }));
    expect(r.ok ? '' : (r.error as Error).message).toBe('coin: cannot open USB 0403:6001 (ccTalk bus): not found (no USB serial adapter with that id is plugged in)');
  });

  it('a port held by another program: EBUSY', async () => {
    const { world, r } = await open('pi-mdb-gpio.yaml', (w) => {
      void w.binding.open({ path: w.mdbPath ?? '', baudRate: 115_200 });
    });
    expect(r.ok ? '' : (r.error as Error).message).toMatch(/^coin, bill, card: cannot open \/dev\/ttyACM0 \(MDB interface board\): EBUSY/);
    world.dispose();
  });

  it('a GPIO board that never reports ready fails after readyTimeoutMs, and the serial port is closed again', async () => {
    const { config, hardware } = loadMachineWithHardware(`${MACHINES}pi-mdb-gpio.yaml`);
    const clock = new VirtualClock();
    const world = createWireWorld(config, clock, { hardware });
    const r = await settle(clock, openHardwarePorts(config, hardware, { clock, binding: world.binding, io: new SimIO({ clock, ready: 'never' }) }));
    expect(r.ok ? '' : (r.error as Error).message).toBe('keypad, dispenser, drop, door, display: GPIO board: IO plugin "SimIO" not ready after 10000 ms');
    expect(clock.now()).toBe(10_000);
    expect(world.binding.openPort('/dev/ttyACM0')).toBeUndefined();
    world.dispose();
  });

  it('a GPIO plugin that is not installed: one line saying how to install it', async () => {
    const hardware = hardwareSchema.parse({
      coin: 'pulse',
      gpio: { plugin: 'raspi-io', coin: { pin: 'GPIO17', minPulseMs: 40, pulses: { '1': 5, '2': 10, '4': 20, '10': 50, '20': 100, '40': 200 } } },
    } satisfies HardwareConfigInput);
    // Loading the plugin is real module resolution, not clock time: awaited as it is.
    await expect(openHardwarePorts(demo, hardware, { clock: new VirtualClock() })).rejects.toThrow(
      new HardwareError(['coin'], 'GPIO plugin raspi-io is not installed (npm install raspi-io on the Pi)'),
    );
  });

  it('a pulse coin acceptor on GPIO, the rest of the machine simulated', async () => {
    const hardware = hardwareSchema.parse({
      coin: 'pulse',
      gpio: { coin: { pin: 2, inhibit: { pin: 3 }, pulses: { '1': 5, '2': 10, '4': 20, '10': 50, '20': 100, '40': 200 } } },
    } satisfies HardwareConfigInput);
    const clock = new VirtualClock();
    const world = createWireWorld(demo, clock, { hardware });
    const hw = opened(await settle(clock, openHardwarePorts(demo, hardware, { clock, ...(world.gpio ? { io: world.gpio.io } : {}) })));
    expect(hw.ports.coin).toBeInstanceOf(PulseCoinAcceptor);
    // Ports left on `sim` come from a port-level simulated machine of their own.
    expect(hw.ports.keypad).toBeInstanceOf(SimKeypad);
    expect(hw.sim).toBeDefined();
    await settle(clock, hw.close());
    world.dispose();
  });

  it('a bad hardware section is a ConfigError with full paths, before anything is opened', async () => {
    const hardware = hardwareSchema.parse({ coin: 'mdb', mdb: { coin: { pollIdleMs: -5 } } } satisfies HardwareConfigInput);
    const clock = new VirtualClock();
    await expect(openHardwarePorts(demo, hardware, { clock, binding: new EmulatorBinding(), source: 'x.yaml' })).rejects.toMatchObject({
      name: 'ConfigError',
      source: 'x.yaml',
      problems: [expect.stringMatching(/^hardware\.mdb\.coin\.pollIdleMs: /)],
    });
  });
});
