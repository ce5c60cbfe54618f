import { describe, expect, it } from 'vitest';
import { Subject } from 'rxjs';
import type { DispenserEvent, DispenserPort, LinkState } from '../../../src/ports/index.ts';
import { isDeviceError } from '../../../src/ports/index.ts';
import { DISPENSER, must, rig } from './helpers.ts';

type Stamped = DispenserEvent & { at: number };

async function motorRig(dispenser: Record<string, unknown> = {}, motorTiming = {}) {
  const r = await rig({ dispenser: { ...DISPENSER, ...dispenser } }, { motorTiming });
  const disp = must(r.gpio.dispenser, 'dispenser');
  const bridge = must(r.sim.motors, 'motor bridge');
  const events: Stamped[] = [];
  disp.events$.subscribe((e) => events.push({ ...e, at: r.clock.now() }));
  const powered = () => [...DISPENSER.rowPins, ...DISPENSER.colPins].filter((p) => r.sim.io.output(p) === 1);
  return { ...r, disp, bridge, events, powered };
}

const types = (events: Stamped[]) => events.map((e) => `${e.type}:${e.column}`);

async function errorOf(p: Promise<unknown>): Promise<string | undefined> {
  const e: unknown = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  return isDeviceError(e) ? e.code : undefined;
}

describe('GpioDispenser: one vend', () => {
  it('one revolution gives homeLeft then homeReached, and the motor is off at home', async () => {
    const { clock, disp, bridge, events, powered } = await motorRig();
    await disp.motorOn('B2');
    expect(powered()).toEqual([23, 25]); // row B, column 2
    expect(bridge.isRunning('B2')).toBe(true);
    await clock.advance(5_000);
    expect(types(events)).toEqual(['homeLeft:B2', 'homeReached:B2']);
    // switch leaves at 200 ms, returns at 2500 ms; each edge debounced 10 ms
    expect(events.map((e) => e.at)).toEqual([210, 2_510]);
    expect(powered()).toEqual([]);
    expect(bridge.isRunning('B2')).toBe(false);
    expect(bridge.revolutionsOf('B2')).toBe(1);
    expect(bridge.atHome('B2')).toBe(true);
    expect(disp.running).toBeUndefined();
    await disp.motorOff(); // idempotent after the adapter stopped at home
    expect(powered()).toEqual([]);
  });

  it('drives exactly one motor at a time over a series of vends', async () => {
    const { clock, disp, bridge, events } = await motorRig();
    for (const c of ['A1', 'A3', 'B1', 'B3', 'A2']) {
      await disp.motorOn(c);
      await clock.advance(3_000);
    }
    expect(types(events).filter((t) => t.startsWith('homeReached'))).toEqual(['homeReached:A1', 'homeReached:A3', 'homeReached:B1', 'homeReached:B3', 'homeReached:A2']);
    expect(bridge.starts).toEqual(['A1', 'A3', 'B1', 'B3', 'A2']);
    expect(bridge.overlaps).toBe(0);
  });

  it('a spiral left mid-turn reports homeLeft once settled and runs on to home', async () => {
    const { clock, disp, bridge, events } = await motorRig();
    bridge.setPosition('A1', 1_500);
    await clock.advance(50);
    await disp.motorOn('A1');
    await clock.advance(3_000);
    expect(types(events)).toEqual(['homeLeft:A1', 'homeReached:A1']);
    expect(events[0]?.at).toBe(50 + 30); // at settle time
    expect(events[1]?.at).toBe(50 + 1_000 + 10); // 1000 ms of travel left, then debounce
  });

  it('with stopAtHome off the motor keeps turning until motorOff', async () => {
    const { clock, disp, bridge, events } = await motorRig({ stopAtHome: false });
    await disp.motorOn('A2');
    await clock.advance(2_600);
    expect(types(events)).toEqual(['homeLeft:A2', 'homeReached:A2']);
    expect(bridge.isRunning('A2')).toBe(true);
    await disp.motorOff();
    expect(bridge.isRunning('A2')).toBe(false);
  });

  it('works with active-low drivers and an active-high home switch', async () => {
    const { clock, sim, disp, events } = await motorRig({ rowActive: 'low', colActive: 'low', homeLevel: 'high', pull: 'down' });
    const low = () => [...DISPENSER.rowPins, ...DISPENSER.colPins].filter((p) => sim.io.output(p) === 0);
    expect(low()).toEqual([]);
    await disp.motorOn('A3');
    expect(low()).toEqual([22, 26]);
    await clock.advance(3_000);
    expect(types(events)).toEqual(['homeLeft:A3', 'homeReached:A3']);
    expect(low()).toEqual([]);
  });
});

describe('GpioDispenser: faults', () => {
  it('a stalled motor (switch never moves) is switched off at the leave-home limit and reported', async () => {
    const { clock, disp, bridge, events, powered, logs } = await motorRig();
    bridge.setFault('A1', 'stalled');
    await disp.motorOn('A1');
    await clock.advance(999);
    expect(events).toEqual([]);
    expect(powered()).toEqual([22, 24]);
    await clock.advance(1);
    expect(types(events)).toEqual(['stalled:A1']);
    expect(events[0]?.at).toBe(1_000);
    expect(powered()).toEqual([]);
    expect(disp.running).toBeUndefined();
    expect(logs.some((l) => l.level === 'error' && l.msg.includes('did not leave home'))).toBe(true);
    await clock.advance(10_000);
    expect(types(events)).toEqual(['stalled:A1']);
  });

  it('a motor that never returns home is stopped at the maximum run time', async () => {
    const { clock, disp, bridge, events, powered } = await motorRig();
    bridge.setFault('B3', 'noReturn');
    await disp.motorOn('B3');
    await clock.advance(6_999);
    expect(types(events)).toEqual(['homeLeft:B3']);
    expect(powered()).toEqual([23, 26]);
    await clock.advance(1);
    expect(types(events)).toEqual(['homeLeft:B3', 'stalled:B3']);
    expect(events[1]?.at).toBe(7_000);
    expect(powered()).toEqual([]);
  });

  it('after a stall the next column vends normally', async () => {
    const { clock, disp, bridge, events } = await motorRig();
    bridge.setFault('A1', 'stalled');
    await disp.motorOn('A1');
    await clock.advance(2_000);
    await disp.motorOn('A2');
    await clock.advance(3_000);
    expect(types(events)).toEqual(['stalled:A1', 'homeLeft:A2', 'homeReached:A2']);
  });

  it('rejects a second motorOn while one runs with DEVICE_BUSY, leaving the first running', async () => {
    const { clock, disp, bridge, events } = await motorRig();
    await disp.motorOn('A1');
    expect(await errorOf(disp.motorOn('B2'))).toBe('DEVICE_BUSY');
    expect(await errorOf(disp.motorOn('A1'))).toBe('DEVICE_BUSY');
    expect(bridge.isRunning('B2')).toBe(false);
    await clock.advance(3_000);
    expect(types(events)).toEqual(['homeLeft:A1', 'homeReached:A1']);
    expect(bridge.overlaps).toBe(0);
  });

  it('rejects an unknown column with DEVICE_REJECTED', async () => {
    const { disp, powered } = await motorRig();
    expect(await errorOf(disp.motorOn('C1'))).toBe('DEVICE_REJECTED');
    expect(await errorOf(disp.motorOn('A9'))).toBe('DEVICE_REJECTED');
    expect(powered()).toEqual([]);
  });

  it('rejects motorOn with DEVICE_OFFLINE when the board is gone', async () => {
    const { disp, sim } = await motorRig();
    sim.io.unplug();
    expect(await errorOf(disp.motorOn('A1'))).toBe('DEVICE_OFFLINE');
  });

  it('motorOff mid-turn stops the motor; no events follow', async () => {
    const { clock, disp, bridge, events, powered } = await motorRig();
    await disp.motorOn('B1');
    await clock.advance(1_000);
    await disp.motorOff();
    expect(powered()).toEqual([]);
    await clock.advance(10_000);
    expect(types(events)).toEqual(['homeLeft:B1']);
    expect(bridge.atHome('B1')).toBe(false);
  });
});

describe('GpioDispenser: shared home line', () => {
  const shared = { home: { mode: 'shared', pin: 27 } };

  it('reads the selected motor through the shared sense line', async () => {
    const { clock, disp, events } = await motorRig(shared);
    await disp.motorOn('A2');
    await clock.advance(3_000);
    await disp.motorOn('B3');
    await clock.advance(3_000);
    expect(types(events)).toEqual(['homeLeft:A2', 'homeReached:A2', 'homeLeft:B3', 'homeReached:B3']);
  });

  it('still detects a stalled motor', async () => {
    const { clock, disp, bridge, events, powered } = await motorRig(shared);
    bridge.setFault('B1', 'stalled');
    await disp.motorOn('B1');
    await clock.advance(2_000);
    expect(types(events)).toEqual(['stalled:B1']);
    expect(powered()).toEqual([]);
  });
});

describe('MotorMatrixBridge following a port-level dispenser', () => {
  it('powers the port device and moves the switch from its events', async () => {
    const { clock, disp, bridge, events } = await motorRig();
    const portEvents = new Subject<DispenserEvent>();
    const calls: string[] = [];
    const port: DispenserPort = {
      name: 'dispenser',
      link$: new Subject<LinkState>(),
      events$: portEvents,
      async motorOn(column) {
        calls.push(`on:${column}`);
        clock.setTimeout(() => portEvents.next({ type: 'homeLeft', column }), 300);
        clock.setTimeout(() => portEvents.next({ type: 'homeReached', column }), 2_000);
      },
      async motorOff() {
        calls.push('off');
      },
    };
    bridge.attach(port);
    await disp.motorOn('A3');
    await clock.advance(3_000);
    expect(calls).toEqual(['on:A3', 'off']);
    expect(types(events)).toEqual(['homeLeft:A3', 'homeReached:A3']);
    expect(events.map((e) => e.at)).toEqual([310, 2_010]);
  });
});
