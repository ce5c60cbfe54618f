/**
 * One fault vocabulary and advisory faults, on the statechart alone.
 *
 * - A device error code that says the link is gone (DEVICE_OFFLINE, DEVICE_TIMEOUT), from a payout
 *   or a device's fault report, is the device's link fault (COIN_OFFLINE, BILL_ERROR): the link
 *   coming back clears it, and the service menu clears it once the device is back.
 * - An advisory fault is listed and journalled but neither stops sales nor counts toward
 *   maxOpenFaults; the service menu clears it.
 */
import { describe, expect, it } from 'vitest';
import { createActor } from 'xstate';
import { loadConfigFile } from '../../src/config/load.ts';
import type { MachineConfig } from '../../src/config/schema.ts';
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

const TUBES = { 5: 20, 10: 20, 20: 20, 50: 20, 100: 20, 200: 20 };

function chart(config: MachineConfig = loadConfigFile(demoConfigFile)) {
  const actor = createActor(vmcMachine.provide({ actions: noDevices }), { clock: new VirtualClock(), input: { config } });
  const emitted: MachineEvent[] = [];
  actor.on('*', (e) => emitted.push(e));
  actor.start();
  const send = (...events: VmcEvent[]): void => {
    for (const e of events) actor.send(e);
  };
  const ctx = () => actor.getSnapshot().context;
  const state = () => salesState(actor.getSnapshot());
  send({ type: 'TUBES', levels: TUBES });
  return { actor, send, ctx, state, emitted };
}

describe('one fault vocabulary', () => {
  it('a refund cut by DEVICE_OFFLINE while the link stays up raises COIN_OFFLINE, which the service menu clears', () => {
    const { send, ctx, state } = chart();
    send({ type: 'COIN', value: 100, routing: 'tube' }, { type: 'RETURN' });
    expect(state()).toBe('paying');
    send({ type: 'PAYOUT_DONE', paid: {}, complete: false, faultCode: 'DEVICE_OFFLINE' });
    expect(Object.keys(ctx().faults)).toEqual(['COIN_OFFLINE']);
    expect(ctx().debt).toBe(100);
    expect(state()).toBe('outOfService');
    send({ type: 'DOOR', open: true }, { type: 'SERVICE_CLEAR_FAULTS' }, { type: 'SERVICE_SETTLE_DEBT', how: 'paid' }, { type: 'DOOR', open: false });
    expect(ctx().faults).toEqual({});
    expect(ctx().debt).toBe(0);
    expect(ctx().credit).toBe(0);
    expect(state()).toBe('idle');
  });

  it('with the link down, the payout adds no second fault; the service menu keeps COIN_OFFLINE until the mech is back', () => {
    const { send, ctx, state } = chart();
    send({ type: 'COIN', value: 100, routing: 'tube' }, { type: 'RETURN' });
    send({ type: 'LINK', device: 'coin', status: 'offline' });
    send({ type: 'PAYOUT_DONE', paid: { 50: 1 }, complete: false, faultCode: 'DEVICE_OFFLINE' });
    expect(Object.keys(ctx().faults)).toEqual(['COIN_OFFLINE']);
    expect(ctx().debt).toBe(50);
    send({ type: 'DOOR', open: true }, { type: 'SERVICE_CLEAR_FAULTS' });
    expect(Object.keys(ctx().faults)).toEqual(['COIN_OFFLINE']);
    send({ type: 'LINK', device: 'coin', status: 'online' });
    expect(ctx().faults).toEqual({});
    send({ type: 'SERVICE_SETTLE_DEBT', how: 'writtenOff' }, { type: 'DOOR', open: false });
    expect(state()).toBe('idle');
    expect(ctx().debt).toBe(0);
    expect(ctx().credit).toBe(0);
  });

  it('a payout timeout is the coin link error (COIN_ERROR), cleared by the link coming back', () => {
    const { send, ctx, state } = chart();
    send({ type: 'COIN', value: 100, routing: 'tube' }, { type: 'RETURN' });
    send({ type: 'LINK', device: 'coin', status: 'error', code: 'NO_REPLY' });
    send({ type: 'PAYOUT_DONE', paid: {}, complete: false, faultCode: 'DEVICE_TIMEOUT' });
    expect(Object.keys(ctx().faults)).toEqual(['COIN_ERROR']);
    send({ type: 'LINK', device: 'coin', status: 'online' });
    expect(ctx().faults).toEqual({});
    expect(ctx().debt).toBe(100);
    expect(state()).toBe('idle');
  });

  it('a device fault report in device-error words is filed and cleared under the link code', () => {
    const { send, ctx, emitted } = chart();
    send({ type: 'FAULT', device: 'bill', code: 'DEVICE_TIMEOUT', cleared: false });
    expect(Object.keys(ctx().faults)).toEqual(['BILL_ERROR']);
    send({ type: 'FAULT', device: 'bill', code: 'DEVICE_TIMEOUT', cleared: true });
    expect(ctx().faults).toEqual({});
    expect(emitted.filter((e) => e.type === 'faultCleared')).toEqual([{ type: 'faultCleared', code: 'BILL_ERROR', device: 'bill' }]);
  });

  it('payout faults that are not link faults keep their code and are cleared by the service menu', () => {
    const { send, ctx, state } = chart();
    send({ type: 'COIN', value: 100, routing: 'tube' }, { type: 'RETURN' });
    send({ type: 'PAYOUT_DONE', paid: {}, complete: false, faultCode: 'PAYOUT_JAM' });
    expect(Object.keys(ctx().faults)).toEqual(['PAYOUT_JAM']);
    send({ type: 'DOOR', open: true }, { type: 'SERVICE_CLEAR_FAULTS' }, { type: 'DOOR', open: false });
    expect(ctx().faults).toEqual({});
    expect(ctx().debt).toBe(100);
    expect(state()).toBe('idle');
  });
});

describe('advisory faults', () => {
  it('are listed and journalled with the flag, but a required device with one keeps selling', () => {
    const { send, ctx, state, emitted } = chart();
    send({ type: 'FAULT', device: 'coin', code: 'COIN_REPLY_LOST', cleared: false, detail: 'POLL reply garbled', advisory: true });
    expect(ctx().faults.COIN_REPLY_LOST).toEqual({ code: 'COIN_REPLY_LOST', device: 'coin', detail: 'POLL reply garbled', advisory: true });
    expect(emitted).toContainEqual({ type: 'faultRaised', code: 'COIN_REPLY_LOST', device: 'coin', detail: 'POLL reply garbled', advisory: true });
    expect(state()).toBe('idle');
    send({ type: 'COIN', value: 200, routing: 'tube' }, { type: 'SELECT', column: 'A1' });
    expect(state()).toBe('vending');
    expect(ctx().credit).toBe(200);
  });

  it('do not count toward maxOpenFaults', () => {
    const { send, ctx, state } = chart();
    for (let i = 0; i < 8; i++) send({ type: 'FAULT', device: 'coin', code: `ADVISORY_${i}`, cleared: false, advisory: true });
    expect(Object.keys(ctx().faults)).toHaveLength(8);
    expect(state()).toBe('idle');
    // The same count of ordinary faults on an optional device does stop sales.
    for (let i = 0; i < 5; i++) send({ type: 'FAULT', device: 'bill', code: `BILL_${i}`, cleared: false });
    expect(state()).toBe('outOfService');
  });

  it('are cleared by the service menu', () => {
    const { send, ctx, state, emitted } = chart();
    send({ type: 'FAULT', device: 'card', code: 'CARD_REPLY_LOST', cleared: false, advisory: true });
    send({ type: 'DOOR', open: true }, { type: 'SERVICE_CLEAR_FAULTS' }, { type: 'DOOR', open: false });
    expect(ctx().faults).toEqual({});
    expect(emitted).toContainEqual({ type: 'faultCleared', code: 'CARD_REPLY_LOST', device: 'card' });
    expect(state()).toBe('idle');
    expect(ctx().credit).toBe(0);
  });
});

describe('advisory faults across a restart', () => {
  it('come back advisory from the journal: still listed, still not stopping sales', async () => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { SimSession } = await import('../../sim/session.ts');
    const dir = mkdtempSync(join(tmpdir(), 'vendomat-advisory-'));
    try {
      const first = await SimSession.start({ journal: { dir } });
      first.controller.send({ type: 'FAULT', device: 'coin', code: 'COIN_REPLY_LOST', cleared: false, detail: 'POLL reply garbled', advisory: true });
      await first.exec('status');
      expect(first.view().faults).toEqual(['COIN_REPLY_LOST']);
      await first.close();
      const second = await SimSession.start({ journal: { dir } });
      try {
        expect(second.view().faults).toEqual(['COIN_REPLY_LOST']);
        expect(second.controller.snapshot.context.faults.COIN_REPLY_LOST?.advisory).toBe(true);
        expect(second.view().state).toBe('idle');
        await second.exec('coin 2.00');
        await second.exec('press A1');
        const v = second.view();
        expect(v.bin.map((b) => b.column)).toEqual(['A1']);
        expect(v.credit).toBe(0);
        expect(v.debt).toBe(0);
        expect(v.cup).toEqual({ 50: 1, 20: 1, 10: 1 });
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
