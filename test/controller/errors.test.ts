/**
 * No action can brick the controller: numbers are bounded at the boundary (the sim's commands and the
 * controller's `send`), guards never throw, and a statechart error anyway (an action that throws) is
 * a loud, safe state: acceptance off, motor off, OUT OF SERVICE, logged and journalled.
 */
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { loadConfigFile } from '../../src/config/load.ts';
import { CONTROLLER_ERROR, Controller, type Logger } from '../../src/controller/controller.ts';
import type { MachineEvent } from '../../src/controller/events.ts';
import { vmcMachine } from '../../src/controller/machine.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { createSimMachine } from '../../sim/machine.ts';
import { SimSession } from '../../sim/session.ts';
import { demoConfigFile } from '../helpers.ts';

const config = loadConfigFile(demoConfigFile);

function recordingLogger(): Logger & { errors: string[] } {
  const errors: string[] = [];
  return { errors, info() {}, warn() {}, debug() {}, error: (_o: object, msg?: string) => void errors.push(msg ?? '') };
}

async function rig(machine?: typeof vmcMachine) {
  const clock = new VirtualClock();
  const sim = createSimMachine(config, clock);
  const journalled: MachineEvent[] = [];
  const logger = recordingLogger();
  const controller = new Controller({ config, ports: sim.ports, clock, logger, beforeEvent: (e) => journalled.push(e), ...(machine ? { machine } : {}) });
  await controller.start();
  await clock.advance(10);
  return { clock, sim, controller, journalled, logger };
}

describe('a statechart error is a loud, safe state', () => {
  it('an action that throws: acceptance off, motor off, OUT OF SERVICE, logged, journalled; later coins go back to the cup', async () => {
    const failing = vmcMachine.provide({
      actions: {
        creditCoin: () => {
          throw new Error('boom in creditCoin');
        },
      },
    });
    const { clock, sim, controller, journalled, logger } = await rig(failing);
    expect(sim.devices.coin.accepted.length).toBeGreaterThan(0);
    void sim.devices.coin.insertCoin(100);
    await clock.advance(1_000);
    expect(controller.failed?.message).toBe('boom in creditCoin');
    expect(journalled.at(-1)).toEqual({ type: 'faultRaised', code: CONTROLLER_ERROR, device: 'controller', detail: 'boom in creditCoin' });
    expect(logger.errors.some((m) => m.includes('statechart error'))).toBe(true);
    expect(sim.devices.coin.accepted).toEqual([]);
    expect(sim.devices.bill?.accepted ?? []).toEqual([]);
    expect(sim.devices.card?.isEnabled ?? false).toBe(false);
    expect(sim.world.motor.running).toBeNull();
    expect(sim.devices.display.lines).toEqual(['OUT OF SERVICE', 'CALL SERVICE']);
    // The coin that caused it is in the tube with no coinInserted event: the journalled
    // CONTROLLER_ERROR fault names the failure for the operator to reconcile.
    // Every later coin is refused at the mech and falls into the cup: nothing more is taken.
    const cupBefore = sim.world.cup[50] ?? 0;
    void sim.devices.coin.insertCoin(50);
    await clock.advance(1_000);
    expect(sim.world.cup[50] ?? 0).toBe(cupBefore + 1);
    controller.send({ type: 'KEY', key: 'A' });
    expect(logger.errors.some((m) => m.includes('not handled'))).toBe(true);
    await controller.stop();
    sim.dispose();
  });
});

describe('numbers are bounded at the boundary', () => {
  it('the controller refuses an event out of bounds, naming the event and field; the chart keeps running', async () => {
    const { controller, logger } = await rig();
    controller.send({ type: 'COIN', value: 1e20, routing: 'tube' });
    controller.send({ type: 'SERVICE_PAYOUT', plan: { 50: 1e20 } });
    controller.send({ type: 'TUBES', levels: { 50: -1 } });
    expect(controller.failed).toBeNull();
    expect(controller.snapshot.status).toBe('active');
    expect(controller.snapshot.context.credit).toBe(0);
    expect(logger.errors.filter((m) => m === 'event out of bounds refused')).toHaveLength(3);
    controller.send({ type: 'COIN', value: 100, routing: 'tube' });
    expect(controller.snapshot.context.credit).toBe(100);
    await controller.stop();
  });

  it('a payout report out of bounds is a failed payout with nothing known paid: the whole amount is a debt', async () => {
    const { clock, controller, sim } = await rig();
    void sim.devices.coin.insertCoin(100);
    await clock.advance(1_000);
    const actor = controller.actor;
    // Take the chart to paying by hand, then report nonsense as the shell would receive it.
    controller.send({ type: 'RETURN' });
    expect(actor.getSnapshot().context.payout).not.toBeNull();
    controller.send({ type: 'PAYOUT_DONE', paid: { 100: Number.POSITIVE_INFINITY }, complete: true });
    const ctx = actor.getSnapshot().context;
    expect(ctx.payout).toBeNull();
    expect(ctx.credit).toBe(0);
    expect(ctx.debt).toBe(100);
    expect(Object.keys(ctx.faults)).toEqual(['PAYOUT_FAILED']);
    await controller.stop();
    sim.dispose();
  });

  it('the service payout guard does not throw on counts that are not safe integers', () => {
    const actor = createActor(vmcMachine, { clock: new VirtualClock(), input: { config } }).start();
    actor.send({ type: 'TUBES', levels: { 50: 10 } });
    actor.send({ type: 'DOOR', open: true });
    actor.send({ type: 'SERVICE_PAYOUT', plan: { 50: 1e20 } });
    expect(actor.getSnapshot().status).toBe('active');
    actor.send({ type: 'DOOR', open: false });
    actor.send({ type: 'COIN', value: 100, routing: 'tube' });
    expect(actor.getSnapshot().context.credit).toBe(100);
  });
});

describe('the issue 9 repro in the simulator', () => {
  it('service payout 50 99999999999999999999 is refused with a clear error; the machine keeps selling', async () => {
    const s = await SimSession.start();
    try {
      expect((await s.exec('door open')).ok).toBe(true);
      const r = await s.exec('service payout 50 99999999999999999999');
      expect(r.ok).toBe(false);
      expect(r.output.join(' ')).toMatch(/service payout: '50 99999999999999999999': 99999999999999999999 coins is more than one command moves/);
      expect((await s.exec('door close')).ok).toBe(true);
      expect((await s.exec('coin 100')).ok).toBe(true);
      const v = s.view();
      expect(v.state).toBe('session');
      expect(v.credit).toBe(100);
      expect(v.faults).toEqual([]);
      expect(v.cup).toEqual({});
      expect(v.debt).toBe(0);
    } finally {
      await s.close();
    }
  });

  it('wait 99999999999999999999s and other unbounded numbers are refused, naming what and where', async () => {
    const s = await SimSession.start();
    try {
      const cases: [string, RegExp][] = [
        ['wait 99999999999999999999s', /^wait: '99999999999999999999s' is longer than the longest duration/],
        ['wait 99999999999999999999', /^wait: .* longer than the longest duration/],
        ['fault offline coin in 99999999999999999999s', /^fault: .* longer than the longest duration/],
        ['coin 99999999999999999999', /^coin: cannot read "99999999999999999999" as EUR money: too large/],
        ['bill 99999999999999999999.00', /^bill: cannot read .* too large/],
        ['coin 9999999999', /^coin: '9999999999' is more money than a command takes/],
        ['bill 99999999.00', /^bill: '99999999.00' is more money than a command takes/],
        ['card 9999999999', /^card: '9999999999' is more money than a command takes/],
        ['service price A1 9999999999', /more money than a command takes|needs the door open/],
        ['fault payout-short 99999999999999999999', /^fault: payout-short: .* out of range/],
      ];
      for (const [line, message] of cases) {
        const r = await s.exec(line);
        expect(r.ok, line).toBe(false);
        expect(r.output.join(' '), line).toMatch(message);
      }
      expect(s.clock.now()).toBeLessThan(60_000);
      expect((await s.exec('coin 100')).ok).toBe(true);
      const v = s.view();
      expect(v.credit).toBe(100);
      expect(v.faults).toEqual([]);
      expect(v.debt).toBe(0);
    } finally {
      await s.close();
    }
  });
});
