/**
 * What counts as a drop: the beam breaking and clearing again within the drop window. A beam that
 * breaks and stays broken is not a drop: the vend fails as `uncertain` (not charged), VS blocked
 * stops sales, and the credit stays the customer's.
 */
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { loadConfigFile } from '../../src/config/load.ts';
import type { MachineEvent } from '../../src/controller/events.ts';
import { vmcMachine, type VmcEvent } from '../../src/controller/machine.ts';
import { salesState } from '../../src/controller/view.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { demoConfigFile } from '../helpers.ts';

const noDevices = {
  startMotor() {},
  stopMotor() {},
  payout() {},
  stackBill() {},
  returnBill() {},
  cardRequestVend() {},
  cardVendSucceeded() {},
  cardVendFailed() {},
  cardEndSession() {},
};

function chart() {
  const clock = new VirtualClock();
  const config = loadConfigFile(demoConfigFile);
  const actor = createActor(vmcMachine.provide({ actions: noDevices }), { clock, input: { config } });
  const emitted: MachineEvent[] = [];
  actor.on('*', (e) => emitted.push(e));
  actor.start();
  const send = (...events: VmcEvent[]): void => {
    for (const e of events) actor.send(e);
  };
  send({ type: 'TUBES', levels: { 5: 20, 10: 20, 20: 20, 50: 20, 100: 20, 200: 20 } });
  // €1.20 exactly for A1: no change to pay, so the vend's outcome is all that moves money.
  send({ type: 'COIN', value: 100, routing: 'tube' }, { type: 'COIN', value: 20, routing: 'tube' }, { type: 'SELECT', column: 'A1' });
  send({ type: 'HOME_LEFT', column: 'A1' }, { type: 'HOME_REACHED', column: 'A1' });
  return { clock, actor, send, emitted, ctx: () => actor.getSnapshot().context, state: () => salesState(actor.getSnapshot()) };
}

describe('drop detection', () => {
  it('a break that clears is a drop: the vend is charged', () => {
    const { send, ctx, emitted } = chart();
    send({ type: 'BEAM', broken: true });
    expect(emitted.some((e) => e.type === 'vendSucceeded')).toBe(false);
    send({ type: 'BEAM', broken: false });
    expect(emitted.filter((e) => e.type === 'vendSucceeded')).toHaveLength(1);
    expect(ctx().credit).toBe(0);
    expect(ctx().faults).toEqual({});
    expect(ctx().debt).toBe(0);
  });

  it('a beam that breaks in the window and stays broken is not a drop: uncertain, not charged, VS blocked', async () => {
    const { clock, send, ctx, state, emitted } = chart();
    send({ type: 'BEAM', broken: true });
    await clock.advance(3_000);
    expect(emitted.some((e) => e.type === 'vendSucceeded')).toBe(false);
    expect(emitted.filter((e) => e.type === 'vendFailed')).toEqual([{ type: 'vendFailed', column: 'A1', price: 120, payment: 'cash', reason: 'uncertain' }]);
    // No retry and no other column while the sensor cannot see.
    expect(emitted.filter((e) => e.type === 'vendStarted')).toHaveLength(1);
    expect(ctx().faults.VS?.detail).toBe('blocked');
    expect(ctx().credit).toBe(120);
    expect(ctx().debt).toBe(0);
    expect(ctx().catalog.A1?.mark).toBe('failed');
    expect(state()).toBe('outOfService');
    // The customer can still take the credit back.
    send({ type: 'RETURN' });
    expect(state()).toBe('paying');
    send({ type: 'PAYOUT_DONE', paid: { 100: 1, 20: 1 }, complete: true });
    expect(ctx().credit).toBe(0);
    // The beam clearing ends VS blocked and sales resume.
    send({ type: 'BEAM', broken: false });
    expect(ctx().faults).toEqual({});
    expect(state()).toBe('idle');
  });

  it('a beam blocked during the vend is not a drop when it clears; the vend is uncertain, never retried (property run 5112)', async () => {
    const { clock, send, ctx, emitted } = chart();
    send({ type: 'BEAM', broken: true });
    await clock.advance(1_000);
    expect(ctx().faults.VS?.detail).toBe('blocked');
    send({ type: 'BEAM', broken: false });
    expect(ctx().faults).toEqual({});
    expect(emitted.some((e) => e.type === 'vendSucceeded')).toBe(false);
    // A product may have fallen into the shadow: no second turn that could drop another one.
    await clock.advance(30_000);
    expect(emitted.filter((e) => e.type === 'vendStarted')).toHaveLength(1);
    expect(emitted.some((e) => e.type === 'vendSucceeded')).toBe(false);
    expect(emitted.filter((e) => e.type === 'vendFailed')).toEqual([{ type: 'vendFailed', column: 'A1', price: 120, payment: 'cash', reason: 'uncertain' }]);
    expect(ctx().credit).toBe(120);
    expect(ctx().debt).toBe(0);
    expect(ctx().faults).toEqual({});
  });

  it('a beam broken before the motor starts refuses the vend (deviceError), as before', () => {
    const clock = new VirtualClock();
    const config = loadConfigFile(demoConfigFile);
    const actor = createActor(vmcMachine.provide({ actions: noDevices }), { clock, input: { config } });
    const emitted: MachineEvent[] = [];
    actor.on('*', (e) => emitted.push(e));
    actor.start();
    actor.send({ type: 'TUBES', levels: { 5: 20, 10: 20, 20: 20, 50: 20, 100: 20, 200: 20 } });
    actor.send({ type: 'BEAM', broken: true });
    actor.send({ type: 'COIN', value: 200, routing: 'tube' });
    actor.send({ type: 'SELECT', column: 'A1' });
    const failed = emitted.filter((e) => e.type === 'vendFailed');
    expect(failed.at(-1)).toMatchObject({ column: expect.any(String), reason: 'deviceError' });
    expect(emitted.some((e) => e.type === 'vendSucceeded')).toBe(false);
    expect(actor.getSnapshot().context.credit).toBe(200);
    expect(Object.keys(actor.getSnapshot().context.faults)).toEqual(['VS']);
  });
});
