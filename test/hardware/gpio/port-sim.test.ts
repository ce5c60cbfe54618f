/**
 * The GPIO adapters over SimIO, with the bridges following the port-level simulated machine
 * (sim/machine.ts): the world's timing and faults drive real pin traffic.
 */
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { loadConfigFile } from '../../../src/config/load.ts';
import type { DispenserEvent, Key } from '../../../src/ports/index.ts';
import { VirtualClock } from '../../../sim/clock.ts';
import { createSimMachine } from '../../../sim/machine.ts';
import { createSimIO } from '../../../sim/wire/gpio/index.ts';
import { createGpioDevices, type GpioOptionsInput } from '../../../hardware/gpio/index.ts';
import { collect, must } from './helpers.ts';

const DEMO = fileURLToPath(new URL('../../../sim/machines/demo.yaml', import.meta.url));

/** The demo machine (6 × 8 spirals, euro coins) wired to GPIO; 1 pulse = 5 cents. */
const OPTIONS: GpioOptionsInput = {
  coin: { pin: 2, inhibit: { pin: 3 }, pulses: { '1': 5, '2': 10, '4': 20, '10': 50, '20': 100, '40': 200 } },
  keypad: { rowPins: [4, 5, 6, 7], colPins: [8, 9, 10, 11, 12, 13] },
  dispenser: { rowPins: [14, 15, 16, 17, 18, 19], colPins: [20, 21, 22, 23, 24, 25, 26, 27], home: { mode: 'shared', pin: 28 } },
  drop: { pin: 29 },
  door: { pin: 30 },
  lcd: { controller: 'PARALLEL', pins: { rs: 31, en: 32, d4: 33, d5: 34, d6: 35, d7: 36 } },
};

async function machineRig() {
  const config = loadConfigFile(DEMO);
  const clock = new VirtualClock();
  const machine = createSimMachine(config, clock);
  const sim = createSimIO({ clock, options: OPTIONS, coinTiming: { pulseMs: 20, pauseMs: 30 } });
  const d = machine.devices;
  must(sim.coin).attach(d.coin);
  must(sim.keypad).attach(d.keypad, { holdMs: 60 });
  must(sim.motors).attach(d.dispenser);
  must(sim.drop).attach(d.drop);
  must(sim.door).attach(d.door);
  const gpio = await createGpioDevices({ io: sim.io, clock, options: OPTIONS });
  await clock.advance(0);
  return { config, clock, machine, sim, gpio };
}

describe('GPIO adapters on the simulated machine', () => {
  it('coins inserted by the customer arrive as pulse trains and are credited', async () => {
    const { config, clock, machine, gpio } = await machineRig();
    const coin = must(gpio.coin);
    const events = collect(coin.events$);
    expect(machine.devices.coin.accepted).toEqual([]); // inhibited at start
    await coin.setAcceptance(config.currency.coins);
    expect(machine.devices.coin.accepted).toEqual([5, 10, 20, 50, 100, 200]);
    for (const v of [50, 200, 5]) {
      const where = machine.devices.coin.insertCoin(v);
      await clock.advance(4_000);
      expect(await where).toBe('tube');
    }
    expect(events.flatMap((e) => (e.type === 'coin' ? [e.value] : []))).toEqual([50, 200, 5]);
  });

  it('an inhibited acceptor refuses coins at the slot', async () => {
    const { clock, machine, gpio } = await machineRig();
    const events = collect(must(gpio.coin).events$);
    const where = machine.devices.coin.insertCoin(100);
    await clock.advance(2_000);
    expect(await where).toBe('rejected');
    expect(events).toEqual([]);
  });

  it('a selection typed on the keypad comes through the matrix in order', async () => {
    const { clock, machine, gpio } = await machineRig();
    const keys: Key[] = collect(must(gpio.keypad).keys$);
    machine.devices.keypad.type('C7');
    machine.devices.keypad.press('CLEAR');
    await clock.advance(2_000);
    expect(keys).toEqual(['C', '7', 'CLEAR']);
  });

  it('a vend turns the world’s spiral once; the product breaks the beam', async () => {
    const { clock, machine, gpio } = await machineRig();
    const dispenser = must(gpio.dispenser);
    const events: DispenserEvent[] = collect(dispenser.events$);
    const beam = collect(must(gpio.drop).beam$);
    const before = machine.world.spirals.get('B4')?.count ?? -1;
    await dispenser.motorOn('B4');
    await clock.advance(6_000);
    expect(events).toEqual([
      { type: 'homeLeft', column: 'B4' },
      { type: 'homeReached', column: 'B4' },
    ]);
    expect(machine.world.motor.running).toBeNull();
    expect(machine.world.spirals.get('B4')?.count).toBe(before - 1);
    expect(beam).toEqual([false, true, false]);
  });

  it('a stalled motor in the world is caught by the leave-home limit and switched off', async () => {
    const { clock, machine, gpio } = await machineRig();
    machine.faults.inject('motor-stall D2');
    const dispenser = must(gpio.dispenser);
    const events = collect(dispenser.events$);
    await dispenser.motorOn('D2');
    await clock.advance(1_000);
    expect(events).toEqual([{ type: 'stalled', column: 'D2' }]);
    expect(machine.world.motor.running).toBeNull();
  });

  it('the service door is read through its switch', async () => {
    const { clock, machine, gpio } = await machineRig();
    const states = collect(must(gpio.door).door$);
    machine.devices.door.open();
    await clock.advance(100);
    machine.devices.door.close();
    await clock.advance(100);
    expect(states).toEqual(['closed', 'open', 'closed']);
  });

  it('the display shows on the decoded LCD', async () => {
    const { sim, gpio } = await machineRig();
    await must(gpio.display).show(['Vendomat', 'CREDIT E 0.50']);
    expect(must(sim.lcd).lines()).toEqual(['Vendomat        ', 'CREDIT E 0.50   ']);
  });
});
