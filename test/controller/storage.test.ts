/**
 * The journal's storage health at port level (the STORAGE chart event): `low` or `failed` stops new
 * money (coins, bills and the card reader off) while the credit held is still shown and honoured
 * (bought with or paid back); idle, the machine is OUT OF SERVICE and says why; `ok` brings it back.
 */
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/config/load.ts';
import { Controller } from '../../src/controller/controller.ts';
import { salesState } from '../../src/controller/view.ts';
import type { StorageHealth } from '../../src/ports/index.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { createSimMachine } from '../../sim/machine.ts';
import { demoConfigFile } from '../helpers.ts';

const config = loadConfigFile(demoConfigFile);

async function rig() {
  const clock = new VirtualClock();
  const sim = createSimMachine(config, clock);
  const storage$ = new Subject<StorageHealth>();
  const controller = new Controller({ config, ports: sim.ports, clock, storage$ });
  await controller.start();
  await clock.advance(10);
  const d = sim.devices;
  const accepting = (): boolean => d.coin.accepted.length > 0 || (d.bill?.accepted.length ?? 0) > 0 || (d.card?.isEnabled ?? false);
  const ctx = () => controller.snapshot.context;
  const state = () => salesState(controller.snapshot);
  return { clock, sim, d, storage$, controller, accepting, ctx, state };
}

describe('storage health', () => {
  it('idle: low stops every way of paying and shows OUT OF SERVICE / STORAGE FULL; a coin put in anyway goes back; ok restores', async () => {
    const { clock, sim, d, storage$, accepting, ctx, state } = await rig();
    expect(accepting()).toBe(true);
    storage$.next({ status: 'low', detail: 'free space below the reserve' });
    await clock.advance(10);
    expect(accepting()).toBe(false);
    expect(state()).toBe('outOfService');
    expect(d.display.lines).toEqual(['OUT OF SERVICE', 'STORAGE FULL']);
    void d.coin.insertCoin(100);
    await clock.advance(1_000);
    expect(sim.world.cup).toEqual({ 100: 1 });
    expect(ctx().credit).toBe(0);
    storage$.next({ status: 'ok' });
    await clock.advance(10);
    expect(accepting()).toBe(true);
    expect(state()).toBe('idle');
    expect(d.display.lines[0]).toBe('INSERT MONEY');
    expect(ctx().faults).toEqual({});
    expect(ctx().debt).toBe(0);
  });

  it('with credit held: acceptance off, the credit is shown and can still buy; change is paid; then OUT OF SERVICE', async () => {
    const { clock, sim, d, storage$, accepting, ctx, state } = await rig();
    void d.coin.insertCoin(200);
    await clock.advance(1_000);
    storage$.next({ status: 'low', detail: 'free space below the reserve' });
    await clock.advance(10);
    expect(accepting()).toBe(false);
    expect(state()).toBe('session');
    expect(d.display.lines[0]).toBe('CREDIT €2.00');
    d.keypad.type('A1');
    await clock.advance(20_000);
    expect(sim.world.bin.map((b) => b.column)).toEqual(['A1']);
    expect(ctx().credit).toBe(0);
    expect(ctx().debt).toBe(0);
    expect(sim.world.cup).toEqual({ 50: 1, 20: 1, 10: 1 });
    expect(state()).toBe('outOfService');
    expect(d.display.lines).toEqual(['OUT OF SERVICE', 'STORAGE FULL']);
    expect(ctx().faults).toEqual({});
  });

  it('failed: nothing is vended or paid while its record cannot be written; the credit waits, shown, and is paid back once storage is ok', async () => {
    const { clock, sim, d, storage$, accepting, ctx, state } = await rig();
    void d.coin.insertCoin(100);
    await clock.advance(1_000);
    storage$.next({ status: 'failed', detail: 'SQLITE_FULL' });
    await clock.advance(10);
    expect(accepting()).toBe(false);
    expect(state()).toBe('session');
    d.keypad.type('C4');
    await clock.advance(100);
    expect(d.display.lines).toEqual(['PLEASE WAIT', 'STORAGE FAILED']);
    d.coin.pressReturn();
    await clock.advance(5_000);
    expect(sim.world.bin).toEqual([]);
    expect(sim.world.cup).toEqual({});
    expect(ctx().credit).toBe(100);
    expect(state()).toBe('session');
    expect(d.display.lines[0]).toBe('CREDIT €1.00');
    storage$.next({ status: 'ok' });
    await clock.advance(10);
    d.coin.pressReturn();
    await clock.advance(5_000);
    expect(ctx().credit).toBe(0);
    expect(sim.world.cup).toEqual({ 100: 1 });
    expect(ctx().debt).toBe(0);
    expect(state()).toBe('idle');
    expect(ctx().faults).toEqual({});
  });

  it('a bill already in escrow when storage goes low is handed back, not stacked', async () => {
    const { clock, sim, d, storage$, ctx } = await rig();
    const bill = d.bill;
    if (!bill) throw new Error('demo machine has a bill validator');
    void bill.insertBill(500);
    // Low arrives while the bill is being validated (before the escrow report).
    await clock.advance(100);
    storage$.next({ status: 'low', detail: 'free space below the reserve' });
    await clock.advance(10_000);
    expect(ctx().credit).toBe(0);
    expect(ctx().escrow).toBeNull();
    expect(sim.world.stacker).toEqual({});
    expect(sim.world.wallet.bills[500] ?? 0).toBeGreaterThan(0);
    expect(ctx().faults).toEqual({});
  });
});
