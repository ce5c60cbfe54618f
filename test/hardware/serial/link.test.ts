import { describe, it, expect } from 'vitest';
import type { BindingInterface, OpenOptions, PortInfo } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import { VirtualClock } from '../../../sim/clock.ts';
import { EmulatorBinding } from '../../../sim/wire/binding.ts';
import type { EmulatedPort } from '../../../sim/wire/binding.ts';
import { SerialLink, backoffDelay, matchPort } from '../../../hardware/serial/link.ts';
import { isDeviceError } from '../../../src/ports/index.ts';
import type { LinkState } from '../../../src/ports/index.ts';
import { RecordingEmulator, collect } from './helpers.ts';

function setup(path = '/dev/ttyEMU0') {
  const clock = new VirtualClock();
  const binding = new EmulatorBinding();
  const emu = new RecordingEmulator(path, '16d0', '0bd7', 'SN1');
  binding.register(emu);
  return { clock, binding, emu };
}

const statuses = (states: LinkState[]): string[] => states.map((s) => s.status);

describe('backoffDelay', () => {
  it('grows exponentially from the initial delay and is capped', () => {
    const o = { initialMs: 100, maxMs: 1000, factor: 2 };
    expect([1, 2, 3, 4, 5, 6].map((n) => backoffDelay(n, o))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('treats nonsense attempt numbers as the first attempt and never overflows', () => {
    const o = { initialMs: 100, maxMs: 1000, factor: 2 };
    expect(backoffDelay(0, o)).toBe(100);
    expect(backoffDelay(-3, o)).toBe(100);
    expect(backoffDelay(5000, o)).toBe(1000);
  });
});

describe('matchPort', () => {
  const ports: PortInfo[] = [
    { path: '/dev/a', vendorId: '2341', productId: '0043', serialNumber: 'X', manufacturer: undefined, pnpId: undefined, locationId: undefined },
    { path: '/dev/b', vendorId: '16D0', productId: '0BD7', serialNumber: 'Y', manufacturer: undefined, pnpId: undefined, locationId: undefined },
  ];
  it('matches USB ids case-insensitively and with a 0x prefix', () => {
    expect(matchPort(ports, { vendorId: '0x16d0', productId: '0bd7' })?.path).toBe('/dev/b');
  });
  it('filters by serial number when given', () => {
    expect(matchPort(ports, { vendorId: '16d0', productId: '0bd7', serialNumber: 'nope' })).toBeUndefined();
  });
  it('matches by path', () => {
    expect(matchPort(ports, { path: '/dev/a' })?.vendorId).toBe('2341');
  });
});

describe('SerialLink over the EmulatorBinding', () => {
  it('opens by path, goes online, and moves bytes both ways', async () => {
    const { clock, binding, emu } = setup();
    const link = new SerialLink({ target: { path: emu.path }, clock, binding });
    const states = collect(link.state$);
    const data = collect(link.data$);
    await link.open();
    await clock.advance(0);
    expect(link.state.status).toBe('online');
    expect(statuses(states)).toEqual(['offline', 'online']);
    await link.write('R,0B\n');
    await clock.advance(0);
    expect(emu.text()).toBe('R,0B\n');
    emu.say('p,ACK\n');
    await clock.advance(0);
    expect(Buffer.concat(data.map((d) => Buffer.from(d))).toString()).toBe('p,ACK\n');
    await link.close();
  });

  it('opens by USB vendor/product id via list()', async () => {
    const { clock, binding, emu } = setup('/dev/ttyACM3');
    const link = new SerialLink({ target: { vendorId: '16D0', productId: '0bd7' }, clock, binding });
    await link.open();
    expect(link.state.status).toBe('online');
    expect(link.currentPath).toBe('/dev/ttyACM3');
    expect(emu.attaches).toBe(1);
    await link.close();
  });

  it('stays offline with a reason while the port is missing, retrying with capped backoff', async () => {
    const clock = new VirtualClock();
    const binding = new EmulatorBinding();
    const opens: number[] = [];
    const spy: BindingInterface = {
      list: () => binding.list(),
      open: (o: OpenOptions) => {
        opens.push(clock.now());
        return binding.open(o);
      },
    };
    const link = new SerialLink({ target: { path: '/dev/none' }, clock, binding: spy, backoff: { initialMs: 100, maxMs: 400, factor: 2 } });
    await link.open();
    expect(link.state).toMatchObject({ status: 'offline' });
    expect(link.state.status === 'offline' && link.state.reason).toMatch(/open failed/);
    await clock.advance(2000);
    // attempts at 0, +100, +200, +400, then every 400 (cap)
    expect(opens.slice(0, 6)).toEqual([0, 100, 300, 700, 1100, 1500]);
    binding.register(new RecordingEmulator('/dev/none'));
    await clock.advance(400);
    expect(link.state.status).toBe('online');
    await link.close();
  });

  it('does not reconnect to a USB id that is not there, then finds it on a new path', async () => {
    const clock = new VirtualClock();
    const binding = new EmulatorBinding();
    const link = new SerialLink({ target: { vendorId: '16d0', productId: '0bd7' }, clock, binding, backoff: { initialMs: 50 } });
    await link.open();
    expect(link.state.status === 'offline' && link.state.reason).toMatch(/no port with USB id 16d0:0bd7/);
    binding.register(new RecordingEmulator('/dev/ttyACM7', '16d0', '0bd7'));
    await clock.advance(50);
    expect(link.state.status).toBe('online');
    expect(link.currentPath).toBe('/dev/ttyACM7');
    await link.close();
  });

  it('reports offline on unplug, then online again after replug', async () => {
    const { clock, binding, emu } = setup();
    const link = new SerialLink({ target: { path: emu.path }, clock, binding, backoff: { initialMs: 100, maxMs: 1000, factor: 2 } });
    const states = collect(link.state$);
    await link.open();
    binding.unplug(emu.path);
    await clock.advance(0);
    expect(link.state.status).toBe('offline');
    expect(await binding.list()).toEqual([]);
    await clock.advance(5000);
    expect(link.state.status).toBe('offline');
    binding.replug(emu.path);
    await clock.advance(1000);
    expect(link.state.status).toBe('online');
    expect(statuses(states)).toEqual(['offline', 'online', 'offline', 'online']);
    expect(emu.attaches).toBe(2);
    // bytes flow on the new connection
    await link.write('V\n');
    await clock.advance(0);
    expect(emu.text()).toBe('V\n');
    await link.close();
  });

  it('follows a replugged USB adapter to its new path', async () => {
    const clock = new VirtualClock();
    const binding = new EmulatorBinding();
    const first = new RecordingEmulator('/dev/ttyACM0', '16d0', '0bd7');
    binding.register(first);
    const link = new SerialLink({ target: { vendorId: '16d0', productId: '0bd7' }, clock, binding, backoff: { initialMs: 100 } });
    await link.open();
    binding.unregister(first.path);
    const second = new RecordingEmulator('/dev/ttyACM1', '16d0', '0bd7');
    binding.register(second);
    await clock.advance(100);
    expect(link.state.status).toBe('online');
    expect(link.currentPath).toBe('/dev/ttyACM1');
    await link.close();
  });

  it('rejects writes while offline with DEVICE_OFFLINE', async () => {
    const { clock, binding, emu } = setup();
    const link = new SerialLink({ target: { path: emu.path }, clock, binding });
    const before = await link.write('x').then(
      () => 'ok',
      (e: unknown) => (isDeviceError(e) ? e.code : 'other'),
    );
    expect(before).toBe('DEVICE_OFFLINE');
    await link.open();
    binding.unplug(emu.path);
    await clock.advance(0);
    const after = await link.write('x').then(
      () => 'ok',
      (e: unknown) => (isDeviceError(e) ? e.code : 'other'),
    );
    expect(after).toBe('DEVICE_OFFLINE');
    await link.close();
  });

  it('stops reconnecting once closed', async () => {
    const { clock, binding, emu } = setup();
    const link = new SerialLink({ target: { path: emu.path }, clock, binding, backoff: { initialMs: 10 } });
    await link.open();
    binding.unplug(emu.path);
    await clock.advance(0);
    await link.close();
    binding.replug(emu.path);
    await clock.advance(10_000);
    expect(link.state).toEqual({ status: 'offline', reason: 'closed' });
    expect(emu.attaches).toBe(1);
    expect(clock.pending).toBe(0);
  });

  it('detects a port that vanished from list() without a read error (presence check)', async () => {
    const { clock, binding, emu } = setup();
    let hidden = false;
    const quiet: BindingInterface<EmulatedPort> = {
      list: async () => (hidden ? [] : binding.list()),
      open: (o: OpenOptions) => binding.open(o),
    };
    const link = new SerialLink({ target: { path: emu.path }, clock, binding: quiet, presenceCheckMs: 500, backoff: { initialMs: 100 } });
    await link.open();
    hidden = true; // the OS forgot the device, but the read never failed
    await clock.advance(499);
    expect(link.state.status).toBe('online');
    await clock.advance(1);
    expect(link.state).toMatchObject({ status: 'offline', reason: 'port vanished' });
    hidden = false;
    await clock.advance(100);
    expect(link.state.status).toBe('online');
    await link.close();
  });

  it('a second open of a locked port fails, so two links cannot share an adapter', async () => {
    const { clock, binding, emu } = setup();
    const a = new SerialLink({ target: { path: emu.path }, clock, binding });
    const b = new SerialLink({ target: { path: emu.path }, clock, binding });
    await a.open();
    await b.open();
    expect(a.state.status).toBe('online');
    expect(b.state.status === 'offline' && b.state.reason).toMatch(/lock/i);
    await a.close();
    await b.close();
  });
});
