/**
 * The emulator over the simulator's own port-level devices (sim/devices), not test doubles: a cash
 * sale with change and a card sale run through the real drivers, and the world's books balance.
 */
import { describe, it, expect } from 'vitest';
import { parseConfig } from '../../../src/config/load.ts';
import type { CoinMechEvent, BillEvent, CashlessEvent } from '../../../src/ports/index.ts';
import { VirtualClock } from '../../../sim/clock.ts';
import { createSimMachine } from '../../../sim/machine.ts';
import { EmulatorBinding } from '../../../sim/wire/binding.ts';
import { createMdbEmulator } from '../../../sim/wire/mdb/index.ts';
import { createMdbDevices, openMdbSerialLink } from '../../../hardware/mdb/index.ts';
import { collect } from '../serial/helpers.ts';

function setup() {
  const config = parseConfig(
    {
      machine: { name: 'mdb wire test' },
      currency: { code: 'EUR', decimals: 2, coins: [5, 10, 20, 50, 100, 200], bills: [500, 1000, 2000] },
      catalog: { rows: 1, columns: 1, slots: [{ code: 'A1', product: 'Water', price: 130, capacity: 5, stock: 5 }] },
      sim: {
        seed: 3,
        tubes: { '5': 10, '10': 10, '20': 10, '50': 5, '100': 2, '200': 0 },
        tubeCapacity: 20,
        wallet: { coins: { '100': 2, '50': 2 }, bills: { '500': 1 } },
        cardBalance: 1000,
      },
    },
    'test',
  );
  const clock = new VirtualClock();
  const sim = createSimMachine(config, clock);
  const { coin, bill, card } = sim.devices;
  if (!bill || !card) throw new Error('config has bill and card');
  const emu = createMdbEmulator({ coin, bill, card, clock, options: { coins: config.currency.coins, bills: config.currency.bills } });
  const binding = new EmulatorBinding();
  binding.register(emu);
  const link = openMdbSerialLink({ clock, binding });
  const mdb = createMdbDevices({ link, clock, options: { currencyDecimals: config.currency.decimals } });
  return { clock, sim, coin, bill, card, emu, binding, link, mdb };
}

describe('MDB drivers ⇄ emulator ⇄ sim/devices', () => {
  it('cash: coins and a bill in, change out, all from the simulated world', async () => {
    const t = setup();
    const { clock, mdb } = t;
    if (!mdb.coin || !mdb.bill) throw new Error('devices');
    const coinEvents: CoinMechEvent[] = collect(mdb.coin.events$);
    const billEvents: BillEvent[] = collect(mdb.bill.events$);
    mdb.start();
    await t.link.open();
    await clock.runUntil(() => mdb.coin?.state === 'ready' && mdb.bill?.state === 'ready', 10_000);
    const run = async <T>(p: Promise<T>): Promise<T> => {
      let out: { v: T } | undefined;
      void p.then((v) => (out = { v }));
      await clock.runUntil(() => out !== undefined, 30_000);
      if (!out) throw new Error('did not settle');
      return out.v;
    };
    await run(mdb.coin.setAcceptance([50, 100]));
    await run(mdb.bill.setAcceptance([500]));
    void t.coin.insertCoin(100);
    void t.coin.insertCoin(50);
    await clock.runUntil(() => coinEvents.filter((e) => e.type === 'coin').length === 2, 10_000);
    void t.bill.insertBill(500);
    await clock.runUntil(() => billEvents.some((e) => e.type === 'escrow'), 10_000);
    await run(mdb.bill.stack());
    await clock.runUntil(() => billEvents.some((e) => e.type === 'stacked'), 10_000);
    // credit 650, price 130 → change 520 from what the tubes hold: 3×100 + 4×50 + 2×10
    const result = await run(mdb.coin.dispense({ 100: 3, 50: 4, 10: 2 }));
    expect(result).toEqual({ paid: { 100: 3, 50: 4, 10: 2 }, complete: true });
    expect(coinEvents.filter((e) => e.type === 'coin')).toEqual([
      { type: 'coin', value: 100, routing: 'tube' },
      { type: 'coin', value: 50, routing: 'tube' },
    ]);
    expect(billEvents.filter((e) => e.type !== 'fault')).toEqual([
      { type: 'escrow', value: 500 },
      { type: 'stacked', value: 500 },
    ]);
    expect(await run(mdb.coin.tubeLevels())).toMatchObject({ 100: 0, 50: 2, 10: 8 });
    await mdb.stop();
    await t.link.close();
    t.emu.dispose();
    t.sim.dispose();
  });

  it('card: tap, approved vend, success, end', async () => {
    const t = setup();
    const { clock, mdb } = t;
    if (!mdb.card) throw new Error('devices');
    const events: CashlessEvent[] = collect(mdb.card.events$);
    mdb.start();
    await t.link.open();
    await clock.runUntil(() => mdb.card?.state === 'ready', 10_000);
    const run = async <T>(p: Promise<T>): Promise<T> => {
      let out: { v: T } | undefined;
      void p.then((v) => (out = { v }));
      await clock.runUntil(() => out !== undefined, 30_000);
      if (!out) throw new Error('did not settle');
      return out.v;
    };
    await run(mdb.card.enable(true));
    t.card.tapCard();
    await clock.runUntil(() => events.some((e) => e.type === 'sessionBegin'), 10_000);
    await run(mdb.card.requestVend(130, 1));
    await clock.runUntil(() => events.some((e) => e.type === 'vendApproved'), 10_000);
    await run(mdb.card.vendSucceeded(1));
    await run(mdb.card.endSession());
    expect(events.map((e) => e.type)).toEqual(['sessionBegin', 'vendApproved', 'sessionEnded']);
    expect(events[0]).toEqual({ type: 'sessionBegin', funds: 1000 });
    expect(t.sim.world.card.charged).toBe(130);
    await mdb.stop();
    await t.link.close();
    t.emu.dispose();
    t.sim.dispose();
  });
});
