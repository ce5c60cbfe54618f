import { describe, expect, it } from 'vitest';
import { BEAM_BREAK_MS } from '../../sim/devices/drop.ts';
import { record, rig, values } from './helpers.ts';

describe('SimDispenser and SimDropSensor', () => {
  it('one revolution: homeLeft at motorStartMs, homeReached one revolution later, product in the bin after the fall', async () => {
    const { clock, sim, config } = rig();
    const t = config.sim.timing;
    const events = record(sim.devices.dispenser.events$, clock);
    const beam = record(sim.devices.drop.beam$, clock);
    await sim.devices.dispenser.motorOn('A1');
    expect(sim.world.motor.running).toBe('A1');
    await clock.advance(t.motorStartMs - 1);
    expect(events).toEqual([]);
    await clock.advance(1);
    expect(events).toEqual([{ at: t.motorStartMs, value: { type: 'homeLeft', column: 'A1' } }]);
    expect(sim.world.motor.away.has('A1')).toBe(true);
    await clock.advance(t.motorRevolutionMs);
    const reached = t.motorStartMs + t.motorRevolutionMs;
    expect(events[1]).toEqual({ at: reached, value: { type: 'homeReached', column: 'A1' } });
    expect(sim.world.spirals.get('A1')?.count).toBe(2);
    expect(sim.world.falling).toEqual([{ column: 'A1', product: 'Crisps' }]);
    expect(sim.world.bin).toEqual([]);
    await sim.devices.dispenser.motorOff();
    await clock.advance(t.dropFallMs);
    expect(sim.world.bin).toEqual([{ column: 'A1', product: 'Crisps' }]);
    expect(sim.world.beam).toBe(true);
    await clock.advance(BEAM_BREAK_MS);
    expect(beam).toEqual([
      { at: 0, value: false },
      { at: reached + t.dropFallMs, value: true },
      { at: reached + t.dropFallMs + BEAM_BREAK_MS, value: false },
    ]);
    expect(sim.world.motor.running).toBeNull();
    expect(sim.world.motor.away.size).toBe(0);
  });

  it('keeps turning while the motor stays on: one product per revolution', async () => {
    const { clock, sim, config } = rig();
    const t = config.sim.timing;
    const events = record(sim.devices.dispenser.events$, clock);
    await sim.devices.dispenser.motorOn('A1');
    await clock.advance(2 * (t.motorStartMs + t.motorRevolutionMs));
    await sim.devices.dispenser.motorOff();
    await clock.runAll();
    expect(values(events).map((e) => e.type)).toEqual(['homeLeft', 'homeReached', 'homeLeft', 'homeReached']);
    expect(sim.world.bin).toHaveLength(2);
    expect(sim.world.spirals.get('A1')?.count).toBe(1);
  });

  it('an empty spiral turns but nothing falls and the beam stays clear', async () => {
    const { clock, sim } = rig();
    const beam = record(sim.devices.drop.beam$, clock);
    await sim.devices.dispenser.motorOn('A2');
    await clock.advance(2700);
    await sim.devices.dispenser.motorOff();
    await clock.runAll();
    expect(sim.world.bin).toEqual([]);
    expect(values(beam)).toEqual([false]);
  });

  it('runs one motor at a time (DEVICE_BUSY) and rejects unknown columns (DEVICE_REJECTED)', async () => {
    const { sim } = rig();
    await expect(sim.devices.dispenser.motorOn('C9')).rejects.toMatchObject({ code: 'DEVICE_REJECTED', device: 'dispenser' });
    await sim.devices.dispenser.motorOn('A1');
    await expect(sim.devices.dispenser.motorOn('B1')).rejects.toMatchObject({ code: 'DEVICE_BUSY' });
    await expect(sim.devices.dispenser.motorOn('A1')).rejects.toMatchObject({ code: 'DEVICE_BUSY' });
    await sim.devices.dispenser.motorOff();
    await sim.devices.dispenser.motorOff();
    await expect(sim.devices.dispenser.motorOn('B1')).resolves.toBeUndefined();
  });

  it('stopped before leaving home: nothing happens, still at home', async () => {
    const { clock, sim } = rig();
    const events = record(sim.devices.dispenser.events$, clock);
    await sim.devices.dispenser.motorOn('A1');
    await clock.advance(100);
    await sim.devices.dispenser.motorOff();
    await clock.runAll();
    expect(events).toEqual([]);
    expect(sim.world.motor.away.size).toBe(0);
  });

  it('stopped mid-turn: stays away from home; the next run finishes the turn without a new homeLeft', async () => {
    const { clock, sim, config } = rig();
    const t = config.sim.timing;
    const events = record(sim.devices.dispenser.events$, clock);
    await sim.devices.dispenser.motorOn('B1');
    await clock.advance(t.motorStartMs + 1000);
    await sim.devices.dispenser.motorOff();
    await clock.advance(5000);
    expect(values(events)).toEqual([{ type: 'homeLeft', column: 'B1' }]);
    expect(sim.world.motor.away.has('B1')).toBe(true);
    const restart = clock.now();
    await sim.devices.dispenser.motorOn('B1');
    await clock.advance(t.motorRevolutionMs - 1000);
    expect(events[1]).toEqual({ at: restart + t.motorRevolutionMs - 1000, value: { type: 'homeReached', column: 'B1' } });
    expect(sim.world.spirals.get('B1')?.count).toBe(3);
  });

  it('two products shadowing the beam at overlapping times keep it broken until the last clears', async () => {
    const { clock, sim } = rig();
    const beam = record(sim.devices.drop.beam$, clock);
    const a = sim.world.productFalls('A1');
    const b = sim.world.productFalls('B1');
    if (!a || !b) throw new Error('spirals are stocked');
    sim.devices.drop.deliver(a);
    await clock.advance(20);
    sim.devices.drop.deliver(b);
    await clock.runAll();
    const fall = sim.config.sim.timing.dropFallMs;
    expect(beam).toEqual([
      { at: 0, value: false },
      { at: fall, value: true },
      { at: 20 + fall + BEAM_BREAK_MS, value: false },
    ]);
    expect(sim.world.bin).toHaveLength(2);
  });
});
