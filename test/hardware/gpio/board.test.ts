import { describe, expect, it } from 'vitest';
import type { FrameTrace } from '../../../hardware/serial/types.ts';
import { VirtualClock } from '../../../sim/clock.ts';
import { SimIO, createSimIO } from '../../../sim/wire/gpio/index.ts';
import { GpioBoard, createGpioDevices, isIoPlugin, loadIoPlugin } from '../../../hardware/gpio/index.ts';
import { isDeviceError } from '../../../src/ports/index.ts';
import { COIN, collect } from './helpers.ts';

async function errorCode(p: Promise<unknown>): Promise<string | undefined> {
  const e: unknown = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  return isDeviceError(e) ? e.code : e instanceof Error ? e.message : undefined;
}

describe('GpioBoard', () => {
  it('opens over SimIO without any clock time: johnny-five Board is ready, link online', async () => {
    const clock = new VirtualClock();
    const io = new SimIO({ clock });
    const board = await GpioBoard.open({ io, clock });
    expect(clock.now()).toBe(0);
    expect(board.j5.isReady).toBe(true);
    expect(board.online).toBe(true);
    expect(collect(board.link$)).toEqual([{ status: 'online' }]);
    expect(clock.nextDue()).toBeUndefined(); // the ready timeout was cleared
  });

  it('does not let johnny-five install its own SIGINT handler (it would exit past our shutdown)', async () => {
    const clock = new VirtualClock();
    const before = process.listenerCount('SIGINT');
    await GpioBoard.open({ io: new SimIO({ clock }), clock });
    expect(process.listenerCount('SIGINT')).toBe(before);
  });

  it('waits on the clock for a plugin that becomes ready later', async () => {
    const clock = new VirtualClock();
    const io = new SimIO({ clock, ready: { afterMs: 500 } });
    let opened = false;
    const p = GpioBoard.open({ io, clock, readyTimeoutMs: 1_000 }).then((b) => {
      opened = true;
      return b;
    });
    await clock.advance(499);
    expect(opened).toBe(false);
    await clock.advance(1);
    expect((await p).online).toBe(true);
  });

  it('rejects with DEVICE_TIMEOUT when the plugin never becomes ready', async () => {
    const clock = new VirtualClock();
    const io = new SimIO({ clock, ready: 'never' });
    const code = errorCode(GpioBoard.open({ io, clock, readyTimeoutMs: 2_000 }));
    await clock.advance(2_000);
    expect(await code).toBe('DEVICE_TIMEOUT');
  });

  it('rejects with DEVICE_OFFLINE when the plugin errors before ready', async () => {
    const clock = new VirtualClock();
    const io = new SimIO({ clock, ready: { afterMs: 100 } });
    const p = GpioBoard.open({ io, clock });
    io.fail('/dev/gpiomem: permission denied');
    expect(await errorCode(p)).toBe('DEVICE_OFFLINE');
  });

  it('reports plugin errors and unplugging on link$ without throwing', async () => {
    const clock = new VirtualClock();
    const io = new SimIO({ clock });
    const board = await GpioBoard.open({ io, clock });
    const links = collect(board.link$);
    io.fail('i2c bus error');
    expect(links.at(-1)).toEqual({ status: 'error', code: 'GPIO_BOARD_ERROR', detail: 'i2c bus error' });
    io.unplug();
    expect(links.at(-1)).toEqual({ status: 'offline', reason: 'closed' });
    expect(board.online).toBe(false);
    expect(() => board.assertOnline('x')).toThrow(/offline/);
  });

  it('createGpioDevices times out on a dead board', async () => {
    const clock = new VirtualClock();
    const sim = createSimIO({ clock, options: { coin: COIN }, ready: 'never' });
    const code = errorCode(createGpioDevices({ io: sim.io, clock, options: { coin: COIN, readyTimeoutMs: 3_000 } }));
    await clock.advance(3_000);
    expect(await code).toBe('DEVICE_TIMEOUT');
  });

  it('maps pin names through the plugin and rejects unknown pins clearly', async () => {
    const clock = new VirtualClock();
    const io = new SimIO({ clock, pinCount: 28 });
    const board = await GpioBoard.open({ io, clock });
    expect(board.pin('GPIO17')).toBe(17);
    expect(board.pin(4)).toBe(4);
    expect(() => board.pin('P1-11')).toThrow(/unknown pin name/);
    expect(() => board.pin(40)).toThrow(/does not exist/);
  });

  it('close() stops dispatching reads and goes offline', async () => {
    const clock = new VirtualClock();
    const io = new SimIO({ clock });
    const board = await GpioBoard.open({ io, clock });
    const seen: number[] = [];
    board.watch(3, 'none', (v) => seen.push(v));
    await clock.advance(0);
    board.close();
    io.drive(3, 1);
    await clock.advance(10);
    expect(seen).toEqual([0]);
    expect(board.link).toEqual({ status: 'offline', reason: 'closed' });
  });

  it('loadIoPlugin explains a missing package instead of crashing', async () => {
    await expect(loadIoPlugin('raspi-io')).rejects.toThrow(/not installed \(npm install raspi-io on the Pi\)/);
  });
});

describe('SimIO: the IO plugin contract', () => {
  it('has the required shape', () => {
    const io = new SimIO({ clock: new VirtualClock(), pinCount: 20 });
    expect(isIoPlugin(io)).toBe(true);
    expect(Object.isFrozen(io.MODES)).toBe(true);
    expect(io.MODES).toEqual({ INPUT: 0, OUTPUT: 1, ANALOG: 2, PWM: 3, SERVO: 4 });
    expect([io.HIGH, io.LOW]).toEqual([1, 0]);
    expect(io.pins).toHaveLength(20);
    expect(io.pins[0]).toMatchObject({ supportedModes: [0, 1], analogChannel: 127 });
    expect(io.analogPins).toEqual([]);
    expect(io.isReady).toBe(true);
    expect(isIoPlugin({ pinMode: 1 })).toBe(false);
  });

  it('emits connect then ready asynchronously', async () => {
    const io = new SimIO({ clock: new VirtualClock() });
    const order: string[] = [];
    io.on('connect', () => order.push('connect'));
    io.on('ready', () => order.push('ready'));
    expect(order).toEqual([]);
    await Promise.resolve();
    expect(order).toEqual(['connect', 'ready']);
  });

  it('digitalRead reports the first value and then changes only, asynchronously, with digital-read-N', async () => {
    const clock = new VirtualClock();
    const io = new SimIO({ clock });
    const seen: number[] = [];
    const events: number[] = [];
    io.on('digital-read-9', (v: number) => events.push(v));
    io.pinMode(9, io.MODES.INPUT);
    io.digitalRead(9, (v) => seen.push(v));
    expect(seen).toEqual([]);
    await clock.advance(0);
    expect(seen).toEqual([0]);
    io.drive(9, 1);
    io.drive(9, 1);
    expect(seen).toEqual([0]); // not synchronous
    await clock.advance(0);
    io.drive(9, 0);
    io.drive(9, 1); // a 0 ms pulse is still two changes
    await clock.advance(0);
    expect(seen).toEqual([0, 1, 0, 1]);
    expect(events).toEqual([1, 0, 1]);
  });

  it('delivers reads after the configured latency, keeping short pulses', async () => {
    const clock = new VirtualClock();
    const io = new SimIO({ clock, readLatencyMs: 18 });
    const seen: [number, number][] = [];
    io.digitalRead(2, (v) => seen.push([v, clock.now()]));
    io.drive(2, 1);
    await clock.advance(5);
    io.drive(2, 0);
    await clock.advance(50);
    expect(seen).toEqual([
      [0, 18],
      [1, 18],
      [0, 23],
    ]);
  });

  it('digitalWrite on an input sets its pull resistor; a released input reads its pull', async () => {
    const clock = new VirtualClock();
    const io = new SimIO({ clock });
    io.pinMode(11, io.MODES.INPUT);
    expect(io.level(11)).toBe(0);
    io.digitalWrite(11, 1);
    expect(io.pullOf(11)).toBe('up');
    expect(io.level(11)).toBe(1);
    io.drive(11, 0);
    expect(io.level(11)).toBe(0);
    io.release(11);
    expect(io.level(11)).toBe(1);
  });

  it('throws on features it does not have and on unknown pins', () => {
    const io = new SimIO({ clock: new VirtualClock(), pinCount: 10 });
    expect(() => io.analogRead(1)).toThrow(/not supported/);
    expect(() => io.servoWrite(1)).toThrow(/not supported/);
    expect(() => io.pinMode(1, io.MODES.PWM)).toThrow(/INPUT and OUTPUT only/);
    expect(() => io.digitalWrite(10, 1)).toThrow(/no pin 10/);
  });

  it('answers I2C reads asynchronously with zeros and publishes writes', async () => {
    const clock = new VirtualClock();
    const io = new SimIO({ clock });
    const writes = collect(io.i2cWrites$);
    io.i2cConfig({});
    io.i2cWrite(0x27, 0x3c);
    io.i2cWrite(0x20, 0x01, [2, 3]);
    io.i2cWriteReg(0x20, 0x05, 0xff);
    let got: number[] | undefined;
    io.i2cReadOnce(0x20, 3, (d) => (got = d));
    expect(got).toBeUndefined();
    await clock.advance(0);
    expect(got).toEqual([0, 0, 0]);
    expect(writes.map((w) => [w.address, w.bytes])).toEqual([
      [0x27, [0x3c]],
      [0x20, [1, 2, 3]],
      [0x20, [5, 255]],
    ]);
  });

  it('publishes pin changes as FrameTrace records on bus gpio', async () => {
    const clock = new VirtualClock();
    const sim = createSimIO({ clock, options: { coin: COIN } });
    const trace: FrameTrace[] = collect(sim.trace$);
    const gpio = await createGpioDevices({ io: sim.io, clock, options: { coin: COIN } });
    await must(gpio.coin).setAcceptance([10]);
    sim.coin?.insertCoin(10);
    await clock.advance(1_000);
    expect(trace.every((t) => t.bus === 'gpio')).toBe(true);
    expect(trace).toContainEqual({ bus: 'gpio', dir: 'tx', at: 0, raw: 'GPIO5=0', meaning: 'coin.inhibit low' });
    expect(trace).toContainEqual({ bus: 'gpio', dir: 'rx', at: 150, raw: 'GPIO4=0', meaning: 'coin low' });
    expect(trace).toContainEqual({ bus: 'gpio', dir: 'rx', at: 200, raw: 'GPIO4=1', meaning: 'coin high' });
  });
});

function must<T>(v: T | undefined): T {
  if (v === undefined) throw new Error('missing');
  return v;
}
