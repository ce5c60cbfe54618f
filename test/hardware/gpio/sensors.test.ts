import { describe, expect, it } from 'vitest';
import { Subject } from 'rxjs';
import type { DoorPort, DoorState, DropSensorPort, LinkState } from '../../../src/ports/index.ts';
import { collect, must, rig } from './helpers.ts';

async function dropRig(drop: Record<string, unknown> = {}) {
  const r = await rig({ drop: { pin: 7, ...drop } });
  const sensor = must(r.gpio.drop, 'drop');
  const bridge = must(r.sim.drop, 'drop bridge');
  return { ...r, sensor, bridge, beam: collect(sensor.beam$), links: collect(sensor.link$) };
}

async function doorRig(door: Record<string, unknown> = {}) {
  const r = await rig({ door: { pin: 8, ...door } });
  const sensor = must(r.gpio.door, 'door');
  const bridge = must(r.sim.door, 'door bridge');
  return { ...r, sensor, bridge, states: collect(sensor.door$) };
}

describe('GpioDropSensor', () => {
  it('reports the current state first, then a product breaking the beam (active high)', async () => {
    const { clock, bridge, beam, sim } = await dropRig();
    expect(beam).toEqual([false]);
    bridge.drop(30);
    await clock.advance(10);
    expect(sim.io.level(7)).toBe(1);
    expect(beam).toEqual([false, true]);
    await clock.advance(100);
    expect(beam).toEqual([false, true, false]);
  });

  it('works with an active-low receiver', async () => {
    const { clock, bridge, beam, sim } = await dropRig({ activeLevel: 'low' });
    expect(sim.io.level(7)).toBe(1);
    bridge.drop(30);
    await clock.advance(100);
    expect(sim.io.level(7)).toBe(1);
    expect(beam).toEqual([false, true, false]);
  });

  it('debounces: a 1 ms flicker is not a drop', async () => {
    const { clock, bridge, beam } = await dropRig();
    bridge.drop(1);
    await clock.advance(100);
    expect(beam).toEqual([false]);
  });

  it('a blind sensor sees no drops (the controller’s drop window has to catch this)', async () => {
    const { clock, bridge, beam, links } = await dropRig();
    bridge.blind = true;
    bridge.drop(50);
    await clock.advance(200);
    expect(beam).toEqual([false]);
    expect(links).toEqual([{ status: 'online' }]);
  });

  it('a beam blocked for longer than blockedAfterMs makes the link an error until it clears', async () => {
    const { clock, bridge, beam, links, logs } = await dropRig({ blockedAfterMs: 2_000 });
    bridge.setBroken(true);
    await clock.advance(1_990);
    expect(links).toEqual([{ status: 'online' }]);
    await clock.advance(20);
    expect(links.at(-1)).toMatchObject({ status: 'error', code: 'DROP_SENSOR_BLOCKED' });
    expect(logs.some((l) => l.level === 'error' && l.msg.includes('blocked'))).toBe(true);
    bridge.setBroken(false);
    await clock.advance(10);
    expect(links.at(-1)).toEqual({ status: 'online' });
    expect(beam).toEqual([false, true, false]);
  });

  it('never reports blocked when blockedAfterMs is null', async () => {
    const { clock, bridge, links } = await dropRig({ blockedAfterMs: null });
    bridge.setBroken(true);
    await clock.advance(60_000);
    expect(links).toEqual([{ status: 'online' }]);
  });

  it('follows a port-level drop sensor through the beam bridge', async () => {
    const { clock, bridge, beam } = await dropRig();
    const src = new Subject<boolean>();
    const port: DropSensorPort = { name: 'drop', link$: new Subject<LinkState>(), beam$: src };
    bridge.attach(port);
    src.next(true);
    await clock.advance(40);
    src.next(false);
    await clock.advance(40);
    expect(beam).toEqual([false, true, false]);
  });
});

describe('GpioDoor', () => {
  it('reports closed first, then open and closed again', async () => {
    const { clock, bridge, states } = await doorRig();
    expect(states).toEqual(['closed']);
    bridge.open();
    await clock.advance(100);
    bridge.close();
    await clock.advance(100);
    expect(states).toEqual(['closed', 'open', 'closed']);
  });

  it('debounces switch chatter into one change', async () => {
    const { clock, bridge, states } = await doorRig();
    bridge.open(5);
    await clock.advance(200);
    expect(states).toEqual(['closed', 'open']);
  });

  it('a chatter shorter than the debounce time is not a door opening', async () => {
    const { clock, sim, states } = await doorRig();
    sim.io.drive(8, 1);
    await clock.advance(20);
    sim.io.drive(8, 0);
    await clock.advance(200);
    expect(states).toEqual(['closed']);
  });

  it('honours an open-low switch', async () => {
    const { clock, bridge, sim, states } = await doorRig({ openLevel: 'low' });
    expect(sim.io.level(8)).toBe(1);
    bridge.open();
    await clock.advance(100);
    expect(sim.io.level(8)).toBe(0);
    expect(states).toEqual(['closed', 'open']);
  });

  it('goes offline with the board', async () => {
    const { sim, sensor } = await doorRig();
    const links = collect(sensor.link$);
    sim.io.unplug();
    expect(links).toEqual([{ status: 'online' }, { status: 'offline', reason: 'closed' }]);
  });

  it('follows a port-level door', async () => {
    const { clock, bridge, states } = await doorRig();
    const src = new Subject<DoorState>();
    const port: DoorPort = { name: 'door', link$: new Subject<LinkState>(), door$: src };
    bridge.attach(port);
    src.next('open');
    await clock.advance(100);
    expect(states).toEqual(['closed', 'open']);
  });
});
