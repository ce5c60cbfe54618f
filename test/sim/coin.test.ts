import { describe, expect, it } from 'vitest';
import { DeviceError } from '../../src/ports/index.ts';
import { record, rig, settle, values } from './helpers.ts';

describe('SimCoinMech: accepting coins', () => {
  it('starts inhibited: a coin is rejected into the cup and reported as rejected', async () => {
    const { clock, sim } = rig();
    const events = record(sim.devices.coin.events$, clock);
    const routed = settle(sim.devices.coin.insertCoin(50));
    await clock.advance(sim.config.sim.timing.coinValidationMs);
    expect(routed.result()).toEqual({ ok: true, value: 'rejected' });
    expect(values(events)).toEqual([{ type: 'coin', value: 50, routing: 'rejected' }]);
    expect(sim.world.cup).toEqual({ 50: 1 });
    expect(sim.world.inserted).toBe(0);
  });

  it('routes an accepted coin to its tube exactly coinValidationMs after insertion', async () => {
    const { clock, sim } = rig();
    const coin = sim.devices.coin;
    await coin.setAcceptance([10, 50, 100]);
    const events = record(coin.events$, clock);
    void coin.insertCoin(50);
    const t = sim.config.sim.timing.coinValidationMs;
    expect(t).toBe(300);
    await clock.advance(t - 1);
    expect(events).toEqual([]);
    expect(sim.world.inFlight.coins).toEqual({ 50: 1 });
    await clock.advance(1);
    expect(events).toEqual([{ at: t, value: { type: 'coin', value: 50, routing: 'tube' } }]);
    expect(sim.world.tubes[50]).toBe(6);
    expect(sim.world.wallet.coins[50]).toBe(1);
    expect(sim.world.inserted).toBe(50);
  });

  it('follows the acceptance list: a disabled denomination is rejected, a non-currency coin is a slug', async () => {
    const { clock, sim } = rig();
    const coin = sim.devices.coin;
    await coin.setAcceptance([100]);
    expect(coin.accepted).toEqual([100]);
    const events = record(coin.events$, clock);
    const a = settle(coin.insertCoin(50));
    const b = settle(coin.insertCoin(3));
    const c = settle(coin.insertCoin(100));
    await clock.advance(300);
    expect([a.result(), b.result(), c.result()]).toEqual([
      { ok: true, value: 'rejected' },
      { ok: true, value: 'rejected' },
      { ok: true, value: 'tube' },
    ]);
    expect(values(events).map((e) => (e.type === 'coin' ? `${e.value}:${e.routing}` : e.type))).toEqual([
      '50:rejected',
      'slug',
      '100:tube',
    ]);
    expect(values(events)[1]).toEqual({ type: 'slug', count: 1 });
    expect(sim.world.cup).toEqual({ 3: 1, 50: 1 });
    expect(sim.world.pocketDraws).toBe(3);
  });

  it('routes to the cashbox when the tube is full', async () => {
    const { clock, sim } = rig({ tubes: { '10': 20 }, tubeCapacity: 20 });
    await sim.devices.coin.setAcceptance([10]);
    const events = record(sim.devices.coin.events$, clock);
    void sim.devices.coin.insertCoin(10);
    await clock.advance(300);
    expect(values(events)).toEqual([{ type: 'coin', value: 10, routing: 'cashbox' }]);
    expect(sim.world.tubes[10]).toBe(20);
    expect(sim.world.cashbox).toEqual({ 10: 1 });
  });

  it('fills a tube to capacity, then overflows to the cashbox', async () => {
    const { clock, sim } = rig({ tubes: { '20': 18 }, tubeCapacity: 20 });
    await sim.devices.coin.setAcceptance([20]);
    const routes = [0, 1, 2, 3].map(() => settle(sim.devices.coin.insertCoin(20)));
    await clock.advance(300);
    expect(routes.map((r) => r.result())).toEqual([
      { ok: true, value: 'tube' },
      { ok: true, value: 'tube' },
      { ok: true, value: 'cashbox' },
      { ok: true, value: 'cashbox' },
    ]);
  });

  it('rejects acceptance lists with non-coins and bad insert values', async () => {
    const { sim } = rig();
    await expect(sim.devices.coin.setAcceptance([10, 7])).rejects.toMatchObject({ code: 'DEVICE_REJECTED' });
    await expect(sim.devices.coin.insertCoin(-5)).rejects.toThrow(/positive whole number/);
    await expect(sim.devices.coin.insertCoin(2.5)).rejects.toThrow(RangeError);
  });

  it('emits returnPressed when the lever is pressed', () => {
    const { clock, sim } = rig();
    const events = record(sim.devices.coin.events$, clock);
    expect(sim.devices.coin.pressReturn()).toBe(true);
    expect(values(events)).toEqual([{ type: 'returnPressed' }]);
  });
});

describe('SimCoinMech: tubes and payout', () => {
  it('reports tube levels for every coin', async () => {
    const { sim } = rig();
    expect(await sim.devices.coin.tubeLevels()).toEqual({ 5: 10, 10: 10, 20: 10, 50: 5, 100: 2, 200: 0 });
  });

  it('pays coin by coin, payoutPerCoinMs each, largest first, into the cup, then reports levels', async () => {
    const { clock, sim } = rig();
    const coin = sim.devices.coin;
    const events = record(coin.events$, clock);
    const per = sim.config.sim.timing.payoutPerCoinMs;
    const payout = settle(coin.dispense({ 10: 1, 50: 2 }));
    expect(coin.busy).toBe(true);
    await clock.advance(per);
    expect(sim.world.cup).toEqual({ 50: 1 });
    await clock.advance(per);
    expect(sim.world.cup).toEqual({ 50: 2 });
    expect(payout.result()).toBeUndefined();
    await clock.advance(per);
    expect(sim.world.cup).toEqual({ 10: 1, 50: 2 });
    expect(payout.result()).toEqual({ ok: true, value: { paid: { 10: 1, 50: 2 }, complete: true } });
    expect(events).toEqual([{ at: 3 * per, value: { type: 'tubes', levels: { 5: 10, 10: 9, 20: 10, 50: 3, 100: 2, 200: 0 } } }]);
    expect(sim.world.paidOut).toBe(110);
    expect(coin.busy).toBe(false);
  });

  it('stops at a physically empty tube with TUBE_EMPTY and what was paid', async () => {
    const { clock, sim } = rig();
    const payout = settle(sim.devices.coin.dispense({ 100: 3, 5: 1 }));
    await clock.runAll();
    expect(payout.result()).toEqual({ ok: true, value: { paid: { 100: 2 }, complete: false, faultCode: 'TUBE_EMPTY' } });
    expect(sim.world.tubes[100]).toBe(0);
    expect(sim.world.tubes[5]).toBe(10);
    expect(sim.world.cup).toEqual({ 100: 2 });
  });

  it('halt (power cut) stops a payout before its next coin: POWER_CUT with what was paid', async () => {
    const { clock, sim } = rig();
    const coin = sim.devices.coin;
    const per = sim.config.sim.timing.payoutPerCoinMs;
    const payout = settle(coin.dispense({ 50: 3 }));
    await clock.advance(per);
    coin.halt();
    await clock.runAll();
    expect(payout.result()).toEqual({ ok: true, value: { paid: { 50: 1 }, complete: false, faultCode: 'POWER_CUT' } });
    expect(sim.world.cup).toEqual({ 50: 1 });
    // The next payout runs normally: the halt belonged to the one it cut.
    coin.halt();
    const next = settle(coin.dispense({ 50: 1 }));
    await clock.runAll();
    expect(next.result()).toEqual({ ok: true, value: { paid: { 50: 1 }, complete: true } });
  });

  it('an empty plan completes at once', async () => {
    const { sim } = rig();
    await expect(sim.devices.coin.dispense({})).resolves.toEqual({ paid: {}, complete: true });
  });

  it('rejects a second payout while one runs (DEVICE_BUSY) and a bad plan (DEVICE_REJECTED)', async () => {
    const { clock, sim } = rig();
    const first = settle(sim.devices.coin.dispense({ 5: 2 }));
    await expect(sim.devices.coin.dispense({ 5: 1 })).rejects.toMatchObject({ code: 'DEVICE_BUSY' });
    await clock.runAll();
    expect(first.result()).toMatchObject({ ok: true, value: { complete: true } });
    await expect(sim.devices.coin.dispense({ 7: 1 })).rejects.toBeInstanceOf(DeviceError);
    await expect(sim.devices.coin.dispense({ 5: -1 })).rejects.toMatchObject({ code: 'DEVICE_REJECTED' });
    await expect(sim.devices.coin.dispense({ 5: 1.5 })).rejects.toMatchObject({ code: 'DEVICE_REJECTED' });
  });

  it('manual fill counts as service fill and reports fresh levels', () => {
    const { clock, sim } = rig();
    const events = record(sim.devices.coin.events$, clock);
    sim.devices.coin.manualFill(200, 4);
    expect(sim.world.serviceFill).toBe(800);
    expect(values(events)).toEqual([{ type: 'tubes', levels: { 5: 10, 10: 10, 20: 10, 50: 5, 100: 2, 200: 4 } }]);
    expect(() => sim.devices.coin.manualFill(200, 100)).toThrow(/capacity/);
  });
});
