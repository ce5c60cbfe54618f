import { describe, expect, it } from 'vitest';
import type { SimBillValidator } from '../../sim/devices/bill.ts';
import { record, rig, settle, values } from './helpers.ts';

function billOf(r: ReturnType<typeof rig>): SimBillValidator {
  const bill = r.sim.devices.bill;
  if (!bill) throw new Error('test machine has a bill validator');
  return bill;
}

describe('SimBillValidator', () => {
  it('starts disabled: a bill is rejected back to the wallet', async () => {
    const r = rig();
    const bill = billOf(r);
    const events = record(bill.events$, r.clock);
    const res = settle(bill.insertBill(500));
    await r.clock.advance(r.config.sim.timing.billValidationMs);
    expect(res.result()).toEqual({ ok: true, value: 'rejected' });
    expect(values(events)).toEqual([{ type: 'rejected' }]);
    expect(r.sim.world.wallet.bills[500]).toBe(1);
    expect(r.sim.world.escrow).toBeNull();
  });

  it('escrows an enabled bill after billValidationMs; it is not machine cash yet', async () => {
    const r = rig();
    const bill = billOf(r);
    await bill.setAcceptance([500, 1000]);
    const events = record(bill.events$, r.clock);
    void bill.insertBill(1000);
    const t = r.config.sim.timing.billValidationMs;
    await r.clock.advance(t - 1);
    expect(events).toEqual([]);
    expect(r.sim.world.inFlight.bills).toEqual({ 1000: 1 });
    await r.clock.advance(1);
    expect(events).toEqual([{ at: t, value: { type: 'escrow', value: 1000 } }]);
    expect(r.sim.world.escrow).toBe(1000);
    expect(r.sim.world.machineCash()).toBe(r.sim.world.initialFill);
  });

  it('stack() moves the bill to the stacker after billStackMs, emits stacked, then resolves', async () => {
    const r = rig();
    const bill = billOf(r);
    await bill.setAcceptance([500]);
    void bill.insertBill(500);
    await r.clock.advance(1500);
    const events = record(bill.events$, r.clock);
    const stacking = settle(bill.stack());
    await r.clock.advance(r.config.sim.timing.billStackMs - 1);
    expect(stacking.result()).toBeUndefined();
    await r.clock.advance(1);
    expect(stacking.result()).toEqual({ ok: true, value: undefined });
    expect(events).toEqual([{ at: 1500 + 800, value: { type: 'stacked', value: 500 } }]);
    expect(r.sim.world.stacker).toEqual({ 500: 1 });
    expect(r.sim.world.inserted).toBe(500);
  });

  it('returnBill() hands the escrowed bill back to the wallet and emits returned', async () => {
    const r = rig();
    const bill = billOf(r);
    await bill.setAcceptance([500]);
    void bill.insertBill(500);
    await r.clock.advance(1500);
    expect(r.sim.world.wallet.bills[500]).toBe(0);
    const events = record(bill.events$, r.clock);
    const ret = settle(bill.returnBill());
    await r.clock.advance(800);
    expect(ret.result()).toEqual({ ok: true, value: undefined });
    expect(values(events)).toEqual([{ type: 'returned', value: 500 }]);
    expect(r.sim.world.wallet.bills[500]).toBe(1);
    expect(r.sim.world.escrow).toBeNull();
  });

  it('stack/return with an empty escrow reject DEVICE_REJECTED', async () => {
    const r = rig();
    const bill = billOf(r);
    await expect(bill.stack()).rejects.toMatchObject({ code: 'DEVICE_REJECTED', device: 'bill' });
    await expect(bill.returnBill()).rejects.toMatchObject({ code: 'DEVICE_REJECTED' });
  });

  it('a second stack while the bill moves is DEVICE_BUSY', async () => {
    const r = rig();
    const bill = billOf(r);
    await bill.setAcceptance([500]);
    void bill.insertBill(500);
    await r.clock.advance(1500);
    const first = settle(bill.stack());
    await expect(bill.returnBill()).rejects.toMatchObject({ code: 'DEVICE_BUSY' });
    await r.clock.advance(800);
    expect(first.result()).toEqual({ ok: true, value: undefined });
  });

  it('refuses a bill while another is validating or held in escrow (slot closed, no event)', async () => {
    const r = rig();
    const bill = billOf(r);
    await bill.setAcceptance([500, 1000]);
    const events = record(bill.events$, r.clock);
    void bill.insertBill(500);
    await expect(bill.insertBill(1000)).resolves.toBe('refused');
    await r.clock.advance(1500);
    await expect(bill.insertBill(1000)).resolves.toBe('refused');
    expect(values(events)).toEqual([{ type: 'escrow', value: 500 }]);
    expect(r.sim.world.wallet.bills[1000]).toBe(1);
  });

  it('uses the pocket when the wallet has no such bill, and rejects bad values', async () => {
    const r = rig();
    const bill = billOf(r);
    await bill.setAcceptance([2000]);
    void bill.insertBill(2000);
    await r.clock.advance(1500);
    expect(r.sim.world.pocketDraws).toBe(2000);
    expect(r.sim.world.escrow).toBe(2000);
    await expect(bill.setAcceptance([700])).rejects.toMatchObject({ code: 'DEVICE_REJECTED' });
    await expect(bill.insertBill(0)).rejects.toThrow(RangeError);
  });
});
