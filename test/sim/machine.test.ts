import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { createSimMachine } from '../../sim/machine.ts';
import { record, rig, settle, values } from './helpers.ts';

describe('createSimMachine', () => {
  it('builds the demo machine with every port, each the same object as its fake device', () => {
    const config = loadConfigFile(new URL('../../sim/machines/demo.yaml', import.meta.url).pathname);
    const sim = createSimMachine(config, new VirtualClock());
    expect(sim.ports.coin).toBe(sim.devices.coin);
    expect(sim.ports.bill).toBe(sim.devices.bill);
    expect(sim.ports.card).toBe(sim.devices.card);
    expect(sim.ports.dispenser).toBe(sim.devices.dispenser);
    expect(Object.keys(sim.ports).sort()).toEqual(['bill', 'card', 'coin', 'dispenser', 'display', 'door', 'drop', 'keypad']);
    expect(sim.world.spirals.size).toBe(48);
    expect(sim.world.machineCash()).toBe(40 * 5 + 40 * 10 + 40 * 20 + 30 * 50 + 20 * 100 + 10 * 200);
    expect(sim.random.seed).toBe(42);
    expect(sim.ports.display.rows).toBe(2);
  });

  it('leaves out the bill validator and the card reader when they are not present', () => {
    const { sim } = rig({ bill: false, card: false });
    expect(sim.ports.bill).toBeUndefined();
    expect(sim.ports.card).toBeUndefined();
    expect(sim.devices.bill).toBeUndefined();
    expect('bill' in sim.ports).toBe(false);
    expect(() => sim.faults.inject('offline bill')).not.toThrow();
  });

  it('the seed option overrides the config seed and reproduces the sequence', () => {
    const config = rig().config;
    const a = createSimMachine(config, new VirtualClock(), { seed: 9 });
    const b = createSimMachine(config, new VirtualClock(), { seed: 9 });
    expect(a.random.seed).toBe(9);
    expect([a.random.next(), a.random.next()]).toEqual([b.random.next(), b.random.next()]);
  });

  it('validates faults against this machine', () => {
    const { sim } = rig();
    expect(() => sim.faults.inject('motor-stall F8')).toThrow(/no column F8/);
    expect(() => sim.faults.inject('tube-empty 25')).toThrow(/not a coin of this machine/);
  });

  it('runs a whole cash sale on the ports: coins in, vend, change out, money balanced', async () => {
    const { clock, sim } = rig();
    const { coin, dispenser, drop } = sim.ports;
    const coinEvents = record(coin.events$, clock);
    const beam = record(drop.beam$, clock);
    await coin.setAcceptance([10, 50, 100]);
    void sim.devices.coin.insertCoin(100);
    void sim.devices.coin.insertCoin(50);
    await clock.advance(300);
    expect(values(coinEvents).filter((e) => e.type === 'coin')).toHaveLength(2);
    await dispenser.motorOn('A1');
    await clock.runUntil(() => sim.world.motor.away.size === 0 && sim.world.falling.length > 0);
    await dispenser.motorOff();
    await clock.runAll();
    expect(values(beam)).toEqual([false, true, false]);
    const change = settle(coin.dispense({ 10: 3 }));
    await clock.runAll();
    expect(change.result()).toEqual({ ok: true, value: { paid: { 10: 3 }, complete: true } });
    expect(sim.world.takeFromBin()).toEqual([{ column: 'A1', product: 'Crisps' }]);
    expect(sim.world.takeFromCup()).toEqual({ 10: 3 });
    expect(sim.world.inserted - sim.world.paidOut).toBe(120);
    expect(sim.world.machineCash()).toBe(sim.world.expectedMachineCash(150, 30));
    expect(sim.world.totalMoney()).toBe(sim.world.expectedTotalMoney());
    sim.dispose();
  });
});
