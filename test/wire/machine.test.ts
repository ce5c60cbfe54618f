/**
 * The wire-level simulated machine (sim/wire/machine.ts): the same world, devices and faults as the
 * port-level machine, but the controller drives the real MDB / ccTalk / GPIO adapters over emulated
 * wires. Happy paths, then what only the wire level has: boot, the "quiet" rule, the LCD glass, the
 * frame trace, and wire faults (USB unplug, bad checksums, garbage, power cycles, a silenced device).
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { firstValueFrom } from 'rxjs';
import { loadConfigFile } from '../../src/config/load.ts';
import { hardwareSchema, type HardwareConfig } from '../../src/config/hardware.ts';
import { loadMachineWithHardware } from '../../src/cli/hardware.ts';
import type { MachineConfig } from '../../src/config/schema.ts';
import { Controller } from '../../src/controller/controller.ts';
import { salesState } from '../../src/controller/view.ts';
import { MdbBillValidator, MdbCashless, MdbCoinChanger } from '../../hardware/mdb/index.ts';
import { MatrixKeypad, LcdDisplay } from '../../hardware/gpio/index.ts';
import { SerialLink } from '../../hardware/serial/link.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { createSimMachine } from '../../sim/machine.ts';
import { EmulatorBinding } from '../../sim/wire/binding.ts';
import {
  ByteLinkEmulator,
  bootWireMachine,
  createWireSimMachine,
  defaultWireHardware,
  isWireSimMachine,
  whileRunning,
  wireHardwareFor,
  wireQuiet,
  type WireSimMachine,
} from '../../sim/wire/machine.ts';

const MACHINES = fileURLToPath(new URL('../../sim/machines/', import.meta.url));
const demo: MachineConfig = loadConfigFile(`${MACHINES}demo.yaml`);

async function rig(config: MachineConfig = demo, hardware?: HardwareConfig) {
  const clock = new VirtualClock();
  const m = createWireSimMachine(config, clock, hardware ? { hardware } : {});
  await bootWireMachine(m, clock);
  const controller = new Controller({ config, ports: m.ports, clock });
  await whileRunning(clock, controller.start());
  await clock.runUntil(() => m.quiet(), 5_000);
  const ctx = () => controller.snapshot.context;
  const settle = async (limitMs = 30_000): Promise<void> => {
    await clock.advance(0);
    const w = m.world;
    const none = (c: Readonly<Record<number, number>>): boolean => Object.values(c).every((n) => n === 0);
    // The same rest rule as SimSession.atRest, plus the wire being quiet.
    const atRest = (): boolean =>
      m.quiet() &&
      ['idle', 'session', 'service', 'outOfService'].includes(salesState(controller.snapshot)) &&
      none(w.inFlight.coins) &&
      none(w.inFlight.bills) &&
      w.escrow === null &&
      w.falling.length === 0 &&
      w.motor.running === null &&
      !m.devices.coin.busy;
    await clock.runUntil(atRest, limitMs);
  };
  const stop = async (): Promise<void> => {
    await whileRunning(clock, controller.stop());
    await whileRunning(clock, m.close());
  };
  return { clock, m, controller, ctx, settle, stop };
}

function mdbPath(m: WireSimMachine): string {
  return m.wire.world.mdbPath ?? '';
}

describe('the wire machine', () => {
  it('has the port-level machine’s shape, with the real adapters as ports', async () => {
    const { m, stop } = await rig();
    const portLevel = createSimMachine(demo, new VirtualClock());
    for (const k of Object.keys(portLevel)) expect(m).toHaveProperty(k);
    for (const k of Object.keys(portLevel.devices)) expect(m.devices).toHaveProperty(k);
    expect(m.ports.coin).toBeInstanceOf(MdbCoinChanger);
    expect(m.ports.bill).toBeInstanceOf(MdbBillValidator);
    expect(m.ports.card).toBeInstanceOf(MdbCashless);
    expect(m.wire.gpio()?.keypad).toBeInstanceOf(MatrixKeypad);
    expect(m.wire.gpio()?.display).toBeInstanceOf(LcdDisplay);
    expect(m.wire.host.links.mdb).toBeInstanceOf(SerialLink);
    expect(m.hardware).toEqual(defaultWireHardware(demo));
    expect(isWireSimMachine(m)).toBe(true);
    expect(isWireSimMachine(portLevel)).toBe(false);
    portLevel.dispose();
    await stop();
  });

  it('emulates the config’s own hardware section when it has one, else MDB + GPIO', () => {
    const { config, hardware } = loadMachineWithHardware(`${MACHINES}pi-mdb-gpio.yaml`);
    expect(wireHardwareFor({ ...config, hardware } as MachineConfig)).toEqual(hardware);
    expect(wireHardwareFor(demo)).toMatchObject({ coin: 'mdb', bill: 'mdb', card: 'mdb', keypad: 'gpio', display: 'gpio' });
    const noCard: MachineConfig = { ...demo, devices: { ...demo.devices, card: { present: false, required: false } } };
    expect(defaultWireHardware(noCard).card).toBe('none');
  });

  it('boots over the wire before the controller starts: RESET, SETUP, master mode, GPIO ready', async () => {
    const clock = new VirtualClock();
    const m = createWireSimMachine(demo, clock);
    expect(m.isReady()).toBe(false);
    await bootWireMachine(m, clock);
    expect(m.isReady()).toBe(true);
    expect(clock.now()).toBeLessThan(200);
    const frames = m.tracer.recent();
    expect(frames.some((t) => t.bus === 'mdb' && t.raw === 'M,1')).toBe(true);
    expect(frames.some((t) => t.bus === 'mdb' && t.meaning === 'changer SETUP')).toBe(true);
    expect(frames.some((t) => t.bus === 'gpio')).toBe(true);
    await whileRunning(clock, m.close());
  });

  it('a purchase with change runs through MDB and GPIO, and the world’s books balance', async () => {
    const { m, ctx, settle, stop, controller } = await rig();
    const tubesBefore = m.world.tubeCount(50);
    void m.devices.coin.insertCoin(200);
    await settle();
    expect(ctx().credit).toBe(200);
    expect(m.devices.display.lines).toEqual(['CREDIT E2.00', 'MAKE SELECTION']);
    m.devices.keypad.type('A1');
    await settle();
    expect(m.world.bin.map((i) => i.column)).toEqual(['A1']);
    expect(m.world.cup).toEqual({ 50: 1, 20: 1, 10: 1 });
    expect(m.world.tubeCount(50)).toBe(tubesBefore - 1);
    expect(ctx().credit).toBe(0);
    expect(ctx().tubes[50]).toBe(tubesBefore - 1);
    expect(salesState(controller.snapshot)).toBe('idle');
    await stop();
  });

  it('quiet() holds settling until an event waiting in an emulator has reached the controller', async () => {
    const { m, clock, ctx, stop } = await rig();
    void m.devices.coin.insertCoin(100);
    await clock.advance(300); // the coin is validated: its status waits in the changer for a POLL
    expect(Object.values(m.world.inFlight.coins).every((n) => n === 0)).toBe(true);
    // Queued in the changer, or taken by a POLL whose reply is still on the wire.
    expect((m.wire.world.mdb?.changer?.queuedMessages ?? 0) + m.wire.world.mdbLinesPending()).toBeGreaterThan(0);
    expect(ctx().credit).toBe(0);
    expect(m.quiet()).toBe(false);
    await clock.runUntil(() => m.quiet(), 1_000);
    expect(ctx().credit).toBe(100);
    // A key press travels through the matrix (debounce, scan) before the adapter reports it.
    m.devices.keypad.press('C');
    expect(m.quiet()).toBe(false);
    await clock.runUntil(() => m.quiet(), 1_000);
    expect(m.quiet()).toBe(true);
    await stop();
  });

  it('the display is the LCD glass: what the HD44780 shows, € printed as E', async () => {
    const { m, settle, stop } = await rig();
    const lcd = m.wire.world.gpio?.lcd;
    expect(lcd?.lines()).toEqual(['INSERT MONEY    ', 'OR TAP CARD     ']);
    void m.devices.coin.insertCoin(50);
    await settle();
    expect(lcd?.lines().map((l) => l.trimEnd())).toEqual(['CREDIT E0.50', 'MAKE SELECTION']);
    expect(m.devices.display.lines).toEqual(['CREDIT E0.50', 'MAKE SELECTION']);
    expect(m.tracer.recent().some((t) => t.bus === 'gpio' && t.raw.startsWith('lcd data'))).toBe(true);
    await stop();
  });

  it('a card sale goes through the MDB cashless reader', async () => {
    const { m, ctx, settle, stop, controller } = await rig();
    m.devices.card?.tapCard(1_000);
    await settle();
    expect(salesState(controller.snapshot)).toBe('session');
    m.devices.keypad.type('B5');
    await settle();
    expect(m.world.bin.map((i) => i.column)).toEqual(['B5']);
    expect(m.world.card.charged).toBe(90);
    expect(ctx().credit).toBe(0);
    await stop();
  });
});

describe('faults at the wire level', () => {
  it('port-level `offline coin` silences the changer on the bus; the driver finds out by itself', async () => {
    const { m, clock, controller, settle, stop } = await rig();
    const t0 = clock.now();
    m.faults.inject({ name: 'offline', device: 'coin' });
    expect(m.wire.world.mdb?.changer?.isMuted).toBe(true);
    await settle();
    expect(salesState(controller.snapshot)).toBe('outOfService');
    // MDB 4.2 §5 / protocols.md §1.4: the changer's non-response time is 2 s.
    expect(clock.now() - t0).toBeGreaterThanOrEqual(2_000);
    expect(clock.now() - t0).toBeLessThan(3_000);
    m.faults.clear('offline coin');
    await settle();
    expect(salesState(controller.snapshot)).toBe('idle');
    expect(m.devices.coin.accepted).toEqual([5, 10, 20, 50, 100, 200]);
    await stop();
  });

  it('USB unplug: every MDB device goes offline; credit held in the changer meanwhile is not lost', async () => {
    const { m, clock, controller, ctx, settle, stop } = await rig();
    void m.devices.coin.insertCoin(100);
    await settle();
    m.wire.unplug('mdb');
    await clock.advance(50);
    expect(m.wire.host.links.mdb?.state.status).toBe('offline');
    await clock.runUntil(() => salesState(controller.snapshot) === 'outOfService', 5_000);
    expect(ctx().credit).toBe(100);
    // The changer is powered by the machine, not the USB: it takes a coin while the host is away.
    void m.devices.coin.insertCoin(50);
    await clock.advance(1_000);
    expect(m.wire.world.mdb?.changer?.queuedMessages).toBe(1);
    m.wire.replug('mdb');
    await settle();
    expect(m.wire.host.links.mdb?.state.status).toBe('online');
    // POLL is drained before any RESET (field-notes.md §5 item 8): the 50c arrives.
    expect(ctx().credit).toBe(150);
    expect(salesState(controller.snapshot)).toBe('session');
    await stop();
  });

  it('a reply with a bad checksum is refused and sent again: the coin is credited once', async () => {
    const { m, ctx, settle, stop } = await rig();
    m.wire.world.mdb?.changer?.corruptChecksums(1);
    void m.devices.coin.insertCoin(100);
    await settle();
    expect(ctx().credit).toBe(100);
    const polls = m.tracer.recent().filter((t) => t.dir === 'rx' && (t.meaning ?? '').includes('coin type'));
    expect(polls).toHaveLength(1);
    expect(m.tracer.recent().some((t) => t.raw === 'p,NACK' && (t.meaning ?? '').startsWith('changer POLL'))).toBe(true);
    await stop();
  });

  it('garbage on the serial line is traced and skipped; the machine goes on', async () => {
    const { m, ctx, settle, stop } = await rig();
    m.wire.world.mdb?.sendGarbage('\x00\xff#!noise\n');
    m.wire.world.mdb?.garbageBeforeReplies(3);
    void m.devices.coin.insertCoin(20);
    await settle();
    expect(ctx().credit).toBe(20);
    expect(m.tracer.recent().filter((t) => t.error?.startsWith('garbage')).length).toBeGreaterThanOrEqual(2);
    await stop();
  });

  it('a changer power cycle: JUST RESET, set up again, CHANGER_RESET raised and cleared without service', async () => {
    const { m, clock, ctx, controller, settle, stop } = await rig();
    const seen: string[] = [];
    const sub = controller.events$.subscribe(({ event }) => {
      if (event.type === 'faultRaised' || event.type === 'faultCleared') seen.push(`${event.type} ${event.code}`);
    });
    const t0 = clock.now();
    m.wire.world.mdb?.changer?.powerCycle();
    // JUST RESET waits for the next POLL (at most the 200 ms idle interval).
    await clock.advance(300);
    await settle();
    const after = m.tracer.recent().filter((t) => t.at > t0 && t.dir === 'tx').map((t) => t.meaning);
    expect(after).toEqual(expect.arrayContaining(['changer SETUP', 'changer TUBE STATUS']));
    expect(seen).toEqual(['faultRaised CHANGER_RESET', 'faultCleared CHANGER_RESET']);
    expect(ctx().faults).not.toHaveProperty('CHANGER_RESET');
    expect(salesState(controller.snapshot)).toBe('idle');
    expect(m.devices.coin.accepted).toEqual([5, 10, 20, 50, 100, 200]);
    void m.devices.coin.insertCoin(10);
    await settle();
    expect(ctx().credit).toBe(10);
    sub.unsubscribe();
    await stop();
  });

  it('a changer reset mid-payout: the short part is a debt and the payout fault stays for service', async () => {
    const { m, clock, ctx, controller, settle, stop } = await rig();
    void m.devices.coin.insertCoin(200);
    await settle();
    m.devices.keypad.type('A1');
    // Reset the changer as soon as the change starts to pay.
    await clock.runUntil(() => salesState(controller.snapshot) === 'paying' && m.devices.coin.busy, 30_000);
    const owedBefore = ctx().debt;
    const change = ctx().payout?.amount ?? 0;
    expect(change).toBeGreaterThan(0);
    m.wire.world.mdb?.changer?.powerCycle();
    await settle();
    const paid = m.world.cup;
    const paidValue = Object.entries(paid).reduce((sum, [d, n]) => sum + Number(d) * n, 0);
    // Whatever did not reach the cup is owed, never lost.
    expect(ctx().debt - owedBefore).toBe(change - paidValue);
    expect(ctx().faults).toHaveProperty('PAYOUT_RESET');
    expect(ctx().faults).not.toHaveProperty('CHANGER_RESET');
    expect(salesState(controller.snapshot)).toBe('outOfService');
    await stop();
  });

  it('closing stops all traffic and frees the port', async () => {
    const { m, clock, stop } = await rig();
    await stop();
    expect(m.wire.binding.openPort(mdbPath(m))).toBeUndefined();
    const n = m.tracer.recent().length;
    const last = m.tracer.recent().at(-1)?.at ?? 0;
    await clock.advance(5_000);
    expect(m.tracer.recent().filter((t) => t.at > last)).toHaveLength(0);
    expect(m.tracer.recent().length).toBe(n);
    m.dispose(); // idempotent
  });
});

describe('other wirings', () => {
  it('the Pi config: keys the 4×4 keypad lacks are not pressed, and settling does not wait for them', async () => {
    const { config, hardware } = loadMachineWithHardware(`${MACHINES}pi-mdb-gpio.yaml`);
    const { m, clock, controller, stop } = await rig(config, hardware);
    expect(m.wire.world.keypadKeys?.has('9')).toBe(false);
    const keys: string[] = [];
    m.wire.gpio()?.keypad?.keys$.subscribe((k) => keys.push(k));
    m.devices.keypad.press('9');
    m.devices.keypad.press('A');
    await clock.runUntil(() => m.quiet(), 2_000);
    expect(keys).toEqual(['A']);
    expect(salesState(controller.snapshot)).toBe('idle');
    await stop();
  });

  it('ccTalk: coin acceptor and a 10c hopper on one 9600-baud bus, change paid by the hopper', async () => {
    const { config, hardware } = loadMachineWithHardware(`${MACHINES}pi-cctalk.yaml`);
    const { m, ctx, settle, stop } = await rig(config, hardware);
    expect(m.wire.binding.openPort(m.wire.world.cctalkPath ?? '')?.openOptions.baudRate).toBe(9_600);
    void m.devices.coin.insertCoin(100);
    await settle();
    void m.devices.coin.insertCoin(50);
    await settle();
    expect(ctx().credit).toBe(150);
    m.devices.keypad.type('A2');
    await settle();
    expect(m.world.bin.map((i) => i.column)).toEqual(['A2']);
    expect(m.world.cup).toEqual({ 10: 4 });
    expect(ctx().tubes[10]).toBe(56);
    expect(m.tracer.recent().some((t) => t.bus === 'cctalk')).toBe(true);
    await stop();
  });

  it('a pulse coin acceptor on GPIO: pulse trains become credit', async () => {
    const hardware = hardwareSchema.parse({
      ...defaultWireHardware(demo),
      coin: 'pulse',
      gpio: { ...defaultWireHardware(demo).gpio, coin: { pin: 2, inhibit: { pin: 3 }, pulses: { '1': 5, '2': 10, '4': 20, '10': 50, '20': 100, '40': 200 } } },
    });
    const { m, ctx, settle, stop } = await rig(demo, hardware);
    void m.devices.coin.insertCoin(50);
    await settle();
    expect(ctx().credit).toBe(50);
    expect(await firstValueFrom(m.ports.coin.link$)).toEqual({ status: 'online' });
    await stop();
  });
});

describe('helpers for sessions', () => {
  it('are no-ops on a port-level machine', async () => {
    const clock = new VirtualClock();
    const portLevel = createSimMachine(demo, clock);
    expect(wireQuiet(portLevel)).toBe(true);
    await bootWireMachine(portLevel, clock);
    expect(clock.now()).toBe(0);
    portLevel.dispose();
  });

  it('whileRunning runs the clock until a promise settles and passes on its result or rejection', async () => {
    const clock = new VirtualClock();
    const later = new Promise<string>((r) => clock.setTimeout(() => r('done'), 500));
    expect(await whileRunning(clock, later)).toBe('done');
    expect(clock.now()).toBe(500);
    const failing = new Promise<never>((_, reject) => clock.setTimeout(() => reject(new Error('boom')), 100));
    await expect(whileRunning(clock, failing)).rejects.toThrow('boom');
  });

  it('bootWireMachine names what did not come up', async () => {
    const clock = new VirtualClock();
    const m = createWireSimMachine(demo, clock);
    m.wire.world.mdb?.changer?.mute(true);
    await expect(bootWireMachine(m, clock, 3_000)).rejects.toThrow(/not ready after 3000 ms \(coin \(MDB \w+\)/);
    await whileRunning(clock, m.close());
  });

  it('ByteLinkEmulator: a ByteLink device behind a serial port, with single-wire echo', async () => {
    const binding = new EmulatorBinding();
    const emu = new ByteLinkEmulator({ path: '/dev/ttyUSB9', echo: true, vendorId: '0403', productId: '6001' });
    binding.register(emu);
    expect(await binding.list()).toEqual([expect.objectContaining({ path: '/dev/ttyUSB9', vendorId: '0403' })]);
    await expect(emu.link.write(Uint8Array.of(1))).rejects.toThrow(/host not connected/);
    const port = await binding.open({ path: '/dev/ttyUSB9', baudRate: 9600 });
    const heard: number[][] = [];
    emu.link.data$.subscribe((b) => heard.push([...b]));
    await port.write(Buffer.from([2, 0, 1, 254, 255]));
    await new Promise((r) => setImmediate(r));
    expect(heard).toEqual([[2, 0, 1, 254, 255]]);
    await emu.link.write(Uint8Array.of(1, 0, 2, 0, 253));
    const buf = Buffer.alloc(32);
    const got = await port.read(buf, 0, 32);
    expect([...buf.subarray(0, got.bytesRead)]).toEqual([2, 0, 1, 254, 255, 1, 0, 2, 0, 253]);
    await port.close();
    expect(await firstValueFrom(emu.link.state$)).toMatchObject({ status: 'offline' });
  });
});
