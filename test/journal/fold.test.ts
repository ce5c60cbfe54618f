/**
 * The recovery fold's tube estimate and tube fills (fixes found by the crash harness): the levels
 * the journal implies must follow the changer, or an interrupted payout is settled wrongly.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { MachineEvent } from '../../src/controller/events.ts';
import { foldMachineState, settleInterruptedPayout } from '../../src/journal/recovery.ts';
import { boot, coins, cut, removeDir, settle, tempDir, type Rig } from './rig.ts';

const rigs: Rig[] = [];
const dirs: string[] = [];

afterEach(async () => {
  for (const r of rigs.splice(0)) {
    try {
      await r.jc.close();
    } catch {
      // cut off already
    }
    r.sim.dispose();
  }
  for (const d of dirs.splice(0)) removeDir(d);
});

describe('tube levels in the fold', () => {
  it('a tube report during a payout already counts the coins paid: payoutDone does not take them off again', () => {
    const events: MachineEvent[] = [
      { type: 'tubesRead', levels: { 50: 10, 20: 5 } },
      { type: 'payoutPlanned', amount: 120, plan: { 50: 2, 20: 1 }, reason: 'change' },
      { type: 'tubesRead', levels: { 50: 8, 20: 4 } },
      { type: 'payoutDone', amount: 120, paid: { 50: 2, 20: 1 }, paidValue: 120, reason: 'change' },
    ];
    expect(foldMachineState(events).tubes).toEqual({ 50: 8, 20: 4 });
  });

  it('without a report the paid coins are taken off the last known levels', () => {
    const events: MachineEvent[] = [
      { type: 'tubesRead', levels: { 50: 10 } },
      { type: 'payoutPlanned', amount: 100, plan: { 50: 2 }, reason: 'refund' },
      { type: 'payoutDone', amount: 100, paid: { 50: 2 }, paidValue: 100, reason: 'refund' },
    ];
    expect(foldMachineState(events).tubes).toEqual({ 50: 8 });
  });

  it('a cut after the report but before payoutDone still settles from the levels before the plan', () => {
    const s = foldMachineState([
      { type: 'tubesRead', levels: { 50: 10 } },
      { type: 'payoutPlanned', amount: 150, plan: { 50: 3 }, reason: 'change' },
      { type: 'tubesRead', levels: { 50: 7 } },
    ]);
    const payout = s.pendingPayout;
    expect(payout?.tubesBefore).toEqual({ 50: 10 });
    if (!payout) throw new Error('no payout in flight');
    expect(settleInterruptedPayout(payout, { 50: 7 })).toMatchObject({ paidValue: 150, unpaid: 0, certain: true });
    const done = foldMachineState([{ type: 'payoutDone', amount: 150, paid: { 50: 3 }, paidValue: 150, reason: 'change' }], s);
    expect(done.tubes).toEqual({ 50: 7 });
  });

  it('tube fills in service are folded: levels up, counted as service fills, not as cash in', () => {
    const s = foldMachineState([
      { type: 'tubesRead', levels: { 50: 10 } },
      { type: 'tubeFilled', value: 50, routing: 'tube' },
      { type: 'tubeFilled', value: 50, routing: 'cashbox' },
    ]);
    expect(s.tubes).toEqual({ 50: 11 });
    expect(s.unknownEvents).toBe(0);
    expect(s.counters.historical.serviceFills).toEqual({ count: 2, value: 100 });
    expect(s.ledger.inserted).toBe(0);
  });

  it('on the machine, the journal\'s tube levels follow the changer through sales and a restart', async () => {
    const d = tempDir();
    dirs.push(d);
    const a = await boot(d);
    rigs.push(a);
    for (const col of ['A1', 'B5', 'C8']) {
      await coins(a, 200);
      a.sim.devices.keypad.type(col);
      await settle(a);
    }
    expect(a.jc.state().tubes).toEqual(a.sim.devices.coin.reportedLevels());
    cut(a);
    const b = await boot(d, { from: a });
    rigs.push(b);
    expect(b.jc.state().tubes).toEqual(b.sim.devices.coin.reportedLevels());
  });
});
