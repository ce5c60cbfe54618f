import { describe, it, expect } from 'vitest';
import { isDeviceError } from '../../../src/ports/index.ts';
import type { BillEvent } from '../../../src/ports/index.ts';
import { mdbRig } from './harness.ts';

const money = (evs: readonly BillEvent[]) => evs.filter((e) => e.type !== 'fault');
const faults = (evs: readonly BillEvent[]) => evs.filter((e) => e.type === 'fault');

describe('MdbBillValidator over the emulated board', () => {
  it('initialises: SETUP, STACKER, BILL TYPE; enables bills with escrow', async () => {
    const r = mdbRig();
    await r.boot();
    const lines = r.emu.lines.filter((l) => /^R,3/.test(l));
    expect(lines.slice(0, 4)).toEqual(['R,33', 'R,31', 'R,36', 'R,34,00000000']);
    expect(r.bill.billValues.slice(0, 3)).toEqual([500, 1000, 2000]);
    expect(r.bill.setup).toMatchObject({ scaling: 500, decimals: 2, escrow: true });
    expect(r.bill.stacker).toEqual({ full: false, count: 0 });
    await r.run(r.bill.setAcceptance([500, 1000]));
    expect(r.emu.lines.at(-1)).toBe('R,34,00030003'); // types 0,1 enabled, both with escrow
    expect([...r.fakeBill.accepted].sort((a, b) => a - b)).toEqual([500, 1000]);
    await r.stop();
  });

  it('after a controller restart: a bill stacked meanwhile is credited, one left in escrow is closed as returned', async () => {
    const r = mdbRig();
    const v = r.emu.validator;
    if (!v) throw new Error('no validator');
    // the validator has been running under the previous controller run: JUST RESET read, bills on
    await v.command(Uint8Array.from([0x33]));
    v.acknowledged();
    await v.command(Uint8Array.from([0x34, 0x00, 0x03, 0x00, 0x02])); // 500 without escrow, 1000 with
    r.fakeBill.insert(500); // stacked at once (no escrow for this type)
    await r.clock.advance(1000);
    r.fakeBill.insert(1000); // waits in escrow while nobody polls
    await r.boot();
    await r.clock.advance(1000);
    expect(money(r.billEvents)).toEqual([
      { type: 'escrow', value: 500 },
      { type: 'stacked', value: 500 },
      { type: 'escrow', value: 1000 },
      { type: 'returned', value: 1000 },
    ]);
    expect(r.fakeBill.stacker).toEqual([500]);
    expect(r.fakeBill.returned).toEqual([1000]);
    expect(r.bill.inEscrow).toBeUndefined();
    await r.stop();
  });

  it('escrow → stack: the bill is credit only once STACKED arrives', async () => {
    const r = mdbRig();
    await r.boot();
    await r.run(r.bill.setAcceptance([500, 1000]));
    r.fakeBill.insert(1000);
    await r.until(() => r.billEvents.length === 1);
    expect(money(r.billEvents)).toEqual([{ type: 'escrow', value: 1000 }]);
    expect(r.bill.inEscrow).toBe(1000);
    await r.run(r.bill.stack());
    expect(r.emu.lines).toContain('R,35,01');
    expect(money(r.billEvents)).toHaveLength(1); // not stacked yet: the motor takes 800 ms
    await r.until(() => money(r.billEvents).length === 2);
    expect(money(r.billEvents)).toEqual([
      { type: 'escrow', value: 1000 },
      { type: 'stacked', value: 1000 },
    ]);
    expect(r.bill.inEscrow).toBeUndefined();
    expect(r.fakeBill.stacker).toEqual([1000]);
    expect(await r.run(r.bill.readStacker())).toEqual({ full: false, count: 1 });
    await r.stop();
  });

  it('escrow → return: the bill goes back and is never credit', async () => {
    const r = mdbRig();
    await r.boot();
    await r.run(r.bill.setAcceptance([500]));
    r.fakeBill.insert(500);
    await r.until(() => r.bill.inEscrow === 500);
    await r.run(r.bill.returnBill());
    expect(r.emu.lines).toContain('R,35,00');
    await r.until(() => money(r.billEvents).length === 2);
    expect(money(r.billEvents)).toEqual([
      { type: 'escrow', value: 500 },
      { type: 'returned', value: 500 },
    ]);
    expect(r.fakeBill.returned).toEqual([500]);
    expect(r.fakeBill.stacker).toEqual([]);
    await r.stop();
  });

  it('reports a refused bill as rejected', async () => {
    const r = mdbRig();
    await r.boot();
    await r.run(r.bill.setAcceptance([500]));
    r.fakeBill.insert(2000);
    await r.until(() => r.billEvents.length === 1);
    expect(r.billEvents).toEqual([{ type: 'rejected' }]);
    await r.stop();
  });

  it('refuses stack/return with nothing in escrow, without touching the wire', async () => {
    const r = mdbRig();
    await r.boot();
    const n = r.emu.lines.length;
    const e1 = await r.fails(r.bill.stack());
    const e2 = await r.fails(r.bill.returnBill());
    expect(isDeviceError(e1) && e1.code).toBe('DEVICE_REJECTED');
    expect(isDeviceError(e2) && e2.code).toBe('DEVICE_REJECTED');
    expect(r.emu.lines.slice(n).some((l) => l.startsWith('R,35'))).toBe(false);
    await r.stop();
  });

  it('maps jams to faults and a cash box out of position to raised/cleared', async () => {
    const r = mdbRig();
    await r.boot();
    r.fakeBill.fault('BILL_JAM');
    r.fakeBill.events.next({ type: 'fault', code: 'CASHBOX_OUT' });
    await r.until(() => faults(r.billEvents).length === 2);
    r.fakeBill.events.next({ type: 'fault', code: 'CASHBOX_OUT', cleared: true });
    await r.until(() => faults(r.billEvents).length === 3);
    expect(faults(r.billEvents)).toEqual([
      { type: 'fault', code: 'BILL_JAM' },
      { type: 'fault', code: 'CASHBOX_OUT' },
      { type: 'fault', code: 'CASHBOX_OUT', cleared: true },
    ]);
    await r.stop();
  });

  it('a validator that resets itself with a bill in escrow: fault, escrow closed as returned, re-initialised', async () => {
    const r = mdbRig();
    await r.boot();
    await r.run(r.bill.setAcceptance([500]));
    r.fakeBill.insert(500);
    await r.until(() => r.bill.inEscrow === 500);
    const n = r.emu.lines.length;
    r.emu.validator?.powerCycle();
    await r.until(() => r.billEvents.some((e) => e.type === 'returned'));
    expect(r.billEvents.slice(1)).toEqual([
      { type: 'fault', code: 'VALIDATOR_RESET' },
      { type: 'returned', value: 500 },
    ]);
    await r.until(() => r.bill.state === 'ready');
    // Set up again: the validator is in a known state, so its reset fault clears by itself.
    expect(r.billEvents.at(-1)).toEqual({ type: 'fault', code: 'VALIDATOR_RESET', cleared: true });
    expect(r.emu.lines.slice(n)).toContain('R,34,00010001');
    await r.stop();
  });

  it('goes offline only after its own 5 s non-response time', async () => {
    const r = mdbRig();
    await r.boot();
    const t0 = r.clock.now();
    r.emu.validator?.mute(true);
    await r.clock.advance(4000);
    expect(r.bill.link.status).toBe('online');
    expect(r.coin.link.status).toBe('online'); // the other devices are unaffected
    await r.until(() => r.bill.link.status === 'offline');
    // counted from the last answer, which may be up to one fast POLL period (50 ms) before the mute
    expect(r.clock.now() - t0).toBeGreaterThanOrEqual(5000 - 50);
    r.emu.validator?.mute(false);
    await r.until(() => r.bill.link.status === 'online', 15_000);
    await r.stop();
  });

  it('keeps polling fast while a bill waits in escrow', async () => {
    const r = mdbRig({ devices: { bill: { pollIdleMs: 1000, activeHoldMs: 0 } } });
    await r.boot();
    await r.run(r.bill.setAcceptance([500]));
    await r.clock.advance(5000);
    let from = r.emu.lines.length;
    await r.clock.advance(2000);
    const idle = r.emu.lines.slice(from).filter((l) => l === 'R,33').length;
    r.fakeBill.insert(500);
    await r.until(() => r.bill.inEscrow === 500);
    from = r.emu.lines.length;
    await r.clock.advance(2000);
    const escrow = r.emu.lines.slice(from).filter((l) => l === 'R,33').length;
    expect(idle).toBeLessThanOrEqual(3);
    expect(escrow).toBeGreaterThanOrEqual(30);
    await r.stop();
  });
});
