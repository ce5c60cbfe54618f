import { describe, it, expect } from 'vitest';
import { Header } from '../../../hardware/cctalk/codec.ts';
import type { CctalkHopperEmulator } from '../../../sim/wire/cctalk/index.ts';
import { rig, settle, type Rig } from './helpers.ts';

function hopperEmu(r: Rig, i = 0): CctalkHopperEmulator {
  const h = r.emu.hoppers[i];
  if (!h) throw new Error(`no hopper emulator ${i}`);
  return h;
}

const txFrames = (r: Rig): string[] => r.cc.bus.tracer.recent().filter((t) => t.dir === 'tx').map((t) => t.raw);

describe('CctalkHopper: one hopper', () => {
  it('pays a complete payout: enable, dispense with the serial cipher, status until done', async () => {
    const r = rig({ hoppers: [{ value: 100, coins: 10 }] });
    await r.ready();
    const res = await settle(r.clock, r.cc.coinMech.dispense({ 100: 3 }));
    expect(res).toEqual({ paid: { 100: 3 }, complete: true });
    expect(r.models[0]?.count).toBe(7);
    expect(await r.cc.coinMech.tubeLevels()).toEqual({ 100: 7 });
    expect(r.events.at(-1)).toEqual({ type: 'tubes', levels: { 100: 7 } });
    const tx = txFrames(r);
    expect(tx).toContain('03 01 01 A4 A5 B2');
    expect(tx).toContain('03 04 01 A7 DF D7 0A 03 8E');
    expect(r.cc.hoppers[0]?.identity?.category).toBe('Payout');
  });

  it('an empty hopper stops short: HOPPER_EMPTY, paid exactly what came out, level 0', async () => {
    const r = rig({ hoppers: [{ value: 100, coins: 2, hostCount: 5 }] });
    await r.ready();
    const res = await settle(r.clock, r.cc.coinMech.dispense({ 100: 4 }));
    expect(res).toEqual({ paid: { 100: 2 }, complete: false, faultCode: 'HOPPER_EMPTY' });
    expect(r.models[0]?.dispensed).toBe(2);
    expect(await r.cc.coinMech.tubeLevels()).toEqual({ 100: 0 });
    expect(r.faults()).toContain('HOPPER_EMPTY:hopper3');
  });

  it('a jam stops the payout with HOPPER_JAM and takes the hopper out of the pool until service clears it', async () => {
    const r = rig({ hoppers: [{ value: 100, coins: 10 }] });
    await r.ready();
    const model = r.models[0];
    if (!model) throw new Error('model');
    model.jamAfter = 1;
    const res = await settle(r.clock, r.cc.coinMech.dispense({ 100: 3 }));
    expect(res).toEqual({ paid: { 100: 1 }, complete: false, faultCode: 'HOPPER_JAM' });
    expect(r.cc.hoppers[0]?.faultCode).toBe('HOPPER_JAM');
    expect(await r.cc.coinMech.tubeLevels()).toEqual({ 100: 0 });
    expect(r.faults()).toContain('HOPPER_JAM:hopper3');
    // Service frees the coin and clears the fault.
    model.jammed = false;
    model.jamAfter = undefined;
    r.cc.hoppers[0]?.clearFault();
    expect(r.events.at(-1)).toEqual({ type: 'fault', code: 'HOPPER_JAM:hopper3', cleared: true });
    expect(await r.cc.coinMech.tubeLevels()).toEqual({ 100: 9 });
    expect(await settle(r.clock, r.cc.coinMech.dispense({ 100: 1 }))).toEqual({ paid: { 100: 1 }, complete: true });
  });

  it('a lost dispense reply: the event counter shows the command was taken; paid once, not twice', async () => {
    const r = rig({ hoppers: [{ value: 100, coins: 10 }] });
    await r.ready();
    hopperEmu(r).injectFault({ kind: 'dropReply', header: Header.DISPENSE_HOPPER_COINS });
    const res = await settle(r.clock, r.cc.coinMech.dispense({ 100: 2 }));
    expect(res).toEqual({ paid: { 100: 2 }, complete: true });
    expect(r.models[0]?.dispensed).toBe(2);
    expect(hopperEmu(r).stats.requests.get(Header.DISPENSE_HOPPER_COINS)).toBe(1);
  });

  it('a dispense command that never arrived: counter unchanged, DEVICE_TIMEOUT, nothing paid, never resent', async () => {
    const r = rig({ hoppers: [{ value: 100, coins: 10 }] });
    await r.ready();
    hopperEmu(r).injectFault({ kind: 'noAnswer', header: Header.DISPENSE_HOPPER_COINS });
    const res = await settle(r.clock, r.cc.coinMech.dispense({ 100: 2 }));
    expect(res).toEqual({ paid: {}, complete: false, faultCode: 'DEVICE_TIMEOUT' });
    expect(r.models[0]?.dispensed).toBe(0);
    expect(hopperEmu(r).stats.requests.get(Header.DISPENSE_HOPPER_COINS)).toBe(1);
  });

  it('unplugged mid-payout: the hopper keeps paying; after the replug the status gives the exact count', async () => {
    const r = rig({ hoppers: [{ value: 100, coins: 10 }] });
    await r.ready();
    const p = r.cc.coinMech.dispense({ 100: 5 });
    await r.clock.advance(200);
    r.host.unplug();
    await r.clock.advance(1500);
    r.host.replug();
    const res = await settle(r.clock, p);
    expect(res).toEqual({ paid: { 100: 5 }, complete: true });
    expect(r.models[0]?.dispensed).toBe(5);
  });

  it('a hopper reset mid-payout: CCTALK_DEVICE_RESET, paid is the last count the hopper reported', async () => {
    const r = rig({ hoppers: [{ value: 100, coins: 10 }] });
    await r.ready();
    const p = r.cc.hoppers[0]?.dispense(5);
    if (!p) throw new Error('hopper');
    await r.clock.advance(480);
    hopperEmu(r).powerCycle();
    const res = await settle(r.clock, p);
    const out = r.models[0]?.dispensed ?? 0;
    expect(res.complete).toBe(false);
    expect(res.faultCode).toBe('CCTALK_DEVICE_RESET');
    // The hopper forgot the payout; the driver reports what it last saw, never more than came out.
    expect(res.paid).toBeLessThanOrEqual(out);
    expect(res.paid).toBeGreaterThanOrEqual(out - 1);
  });

  it('past the deadline: emergency stop, then the final status says what was paid', async () => {
    const r = rig({ hoppers: [{ value: 100, coins: 10 }], payoutPerCoinMs: 1500, hopperOptions: { perCoinTimeoutMs: 500 } });
    await r.ready();
    const res = await settle(r.clock, r.cc.coinMech.dispense({ 100: 4 }));
    expect(res.complete).toBe(false);
    expect(res.faultCode).toBe('DEVICE_TIMEOUT');
    expect(txFrames(r)).toContain('03 00 01 AC 50');
    await r.clock.advance(10_000);
    expect(res.paid[100] ?? 0).toBe(r.models[0]?.dispensed);
  });

  it('a refused dispense (NAK: wrong 167 layout) pays nothing and says PAYOUT_FAILED', async () => {
    const r = rig({ hoppers: [{ value: 100, coins: 10 }], hopperOptions: { security: 'none' } });
    await r.ready();
    const res = await settle(r.clock, r.cc.coinMech.dispense({ 100: 1 }));
    expect(res).toEqual({ paid: {}, complete: false, faultCode: 'PAYOUT_FAILED' });
    expect(r.models[0]?.dispensed).toBe(0);
  });

  it('splits more than 255 coins into several dispense commands', async () => {
    const r = rig({ hoppers: [{ value: 10, coins: 400 }], payoutPerCoinMs: 5 });
    await r.ready();
    const res = await settle(r.clock, r.cc.coinMech.dispense({ 10: 300 }));
    expect(res).toEqual({ paid: { 10: 300 }, complete: true });
    expect(hopperEmu(r).stats.requests.get(Header.DISPENSE_HOPPER_COINS)).toBe(2);
  });
});

describe('CctalkPayoutPool: several hoppers as one', () => {
  it('pays a mixed plan from the right hoppers', async () => {
    const r = rig({ hoppers: [{ value: 100, coins: 10 }, { value: 50, coins: 10 }, { value: 20, coins: 10 }] });
    await r.ready();
    const res = await settle(r.clock, r.cc.coinMech.dispense({ 100: 2, 50: 1, 20: 2 }));
    expect(res).toEqual({ paid: { 100: 2, 50: 1, 20: 2 }, complete: true });
    expect(r.models.map((m) => m.count)).toEqual([8, 9, 8]);
  });

  it('a hopper running empty mid-payout: the rest is re-planned over the other hoppers', async () => {
    const r = rig({ hoppers: [{ value: 100, coins: 1, hostCount: 5 }, { value: 50, coins: 10 }] });
    await r.ready();
    const res = await settle(r.clock, r.cc.coinMech.dispense({ 100: 3 }));
    expect(res).toEqual({ paid: { 100: 1, 50: 4 }, complete: true });
    expect(r.models.map((m) => m.dispensed)).toEqual([1, 4]);
    expect(r.faults()).toContain('HOPPER_EMPTY:hopper3');
    expect(await r.cc.coinMech.tubeLevels()).toEqual({ 100: 0, 50: 6 });
  });

  it('two hoppers of one coin: the second takes over when the first runs empty', async () => {
    const r = rig({ hoppers: [{ value: 100, coins: 1, hostCount: 5 }, { value: 100, coins: 5 }] });
    await r.ready();
    const res = await settle(r.clock, r.cc.coinMech.dispense({ 100: 3 }));
    expect(res).toEqual({ paid: { 100: 3 }, complete: true });
    expect(r.models.map((m) => m.dispensed)).toEqual([1, 2]);
  });

  it('no exact re-plan possible: stops and reports short with exactly what was paid', async () => {
    const r = rig({ hoppers: [{ value: 100, coins: 1, hostCount: 3 }, { value: 50, coins: 1 }] });
    await r.ready();
    const res = await settle(r.clock, r.cc.coinMech.dispense({ 100: 3 }));
    expect(res).toEqual({ paid: { 100: 1 }, complete: false, faultCode: 'HOPPER_EMPTY' });
    expect(r.models.map((m) => m.dispensed)).toEqual([1, 0]);
  });

  it('a jammed hopper mid-payout: re-planned over the others, jam reported', async () => {
    const r = rig({ hoppers: [{ value: 50, coins: 10 }, { value: 20, coins: 10 }, { value: 10, coins: 10 }] });
    await r.ready();
    const m = r.models[0];
    if (!m) throw new Error('model');
    m.jamAfter = 1;
    const res = await settle(r.clock, r.cc.coinMech.dispense({ 50: 2 }));
    // 50 paid, 50 left: 20 + 20 + 10 (fewest coins).
    expect(res).toEqual({ paid: { 50: 1, 20: 2, 10: 1 }, complete: true });
    expect(r.faults()).toContain('HOPPER_JAM:hopper3');
  });

  it('a hopper that does not answer at all is skipped and the payout re-planned', async () => {
    const r = rig({ hoppers: [{ value: 100, coins: 10 }, { value: 50, coins: 10 }] });
    await r.ready();
    hopperEmu(r, 0).setDead(true);
    const res = await settle(r.clock, r.cc.coinMech.dispense({ 100: 1 }));
    expect(res).toEqual({ paid: { 50: 2 }, complete: true });
    expect(r.models[0]?.dispensed).toBe(0);
  });

  it('payAmount plans the fewest coins over the levels', async () => {
    const r = rig({ hoppers: [{ value: 100, coins: 10 }, { value: 50, coins: 10 }, { value: 20, coins: 10 }] });
    await r.ready();
    const res = await settle(r.clock, r.cc.coinMech.pool.payAmount(290));
    expect(res).toEqual({ paid: { 100: 2, 50: 1, 20: 2 }, complete: true });
    expect(await settle(r.clock, r.cc.coinMech.pool.payAmount(5))).toEqual({ paid: {}, complete: false, faultCode: 'PAYOUT_FAILED' });
  });

  it('refuses a second payout while one runs, and a malformed plan', async () => {
    const r = rig({ hoppers: [{ value: 100, coins: 10 }] });
    await r.ready();
    const first = r.cc.coinMech.dispense({ 100: 2 });
    await expect(r.cc.coinMech.dispense({ 100: 1 })).rejects.toMatchObject({ code: 'DEVICE_BUSY' });
    await expect(r.cc.coinMech.dispense({ 100: -1 })).rejects.toMatchObject({ code: 'DEVICE_REJECTED' });
    await expect(r.cc.coinMech.dispense({ 100: 1.5 })).rejects.toMatchObject({ code: 'DEVICE_REJECTED' });
    expect(await settle(r.clock, first)).toEqual({ paid: { 100: 2 }, complete: true });
  });

  it('an empty plan pays nothing and is complete', async () => {
    const r = rig({ hoppers: [{ value: 100, coins: 10 }] });
    await r.ready();
    expect(await settle(r.clock, r.cc.coinMech.dispense({}))).toEqual({ paid: {}, complete: true });
    expect(await settle(r.clock, r.cc.coinMech.dispense({ 100: 0 }))).toEqual({ paid: {}, complete: true });
  });
});
