/**
 * The whole ccTalk path against the port-level simulator: customer → SimCoinMech (world) →
 * ccTalk acceptor/hopper emulators → wire with echo → ccTalk drivers → CoinMechPort. Money in the
 * world and money reported by the driver must agree.
 */
import { describe, it, expect } from 'vitest';
import { VirtualClock } from '../../../sim/clock.ts';
import { loadConfigFile } from '../../../src/config/load.ts';
import { createSimMachine } from '../../../sim/machine.ts';
import { createLinkPair } from '../../../sim/wire/pipe.ts';
import { createCctalkEmulator, tubeHopperModel } from '../../../sim/wire/cctalk/index.ts';
import { createCctalkDevices } from '../../../hardware/cctalk/index.ts';
import type { CoinMechEvent } from '../../../src/ports/index.ts';
import { settle } from './helpers.ts';

function setup() {
  const clock = new VirtualClock();
  const config = loadConfigFile('sim/machines/demo.yaml');
  const sim = createSimMachine(config, clock);
  const coins = config.currency.coins.map((value, i) => ({ position: i + 1, value }));
  const [host, device] = createLinkPair(clock, { echo: true, byteDelayMs: 1 });
  // Sorter path 1 feeds the 1-euro hopper, path 2 the 50-cent hopper.
  createCctalkEmulator({
    link: device,
    clock,
    acceptor: { port: sim.devices.coin, coins, sorterPaths: { 100: 1, 50: 2 } },
    hoppers: [
      { model: tubeHopperModel(sim.devices.coin, 100), payoutPerCoinMs: 10 },
      { model: tubeHopperModel(sim.devices.coin, 50), payoutPerCoinMs: 10 },
    ],
  });
  const cc = createCctalkDevices({
    link: host,
    clock,
    options: {
      acceptor: { denominations: config.currency.coins },
      hoppers: [
        { coinValue: 100, initialCount: sim.world.tubeCount(100), sorterPath: 1 },
        { coinValue: 50, initialCount: sim.world.tubeCount(50), sorterPath: 2 },
      ],
    },
  });
  const events: CoinMechEvent[] = [];
  cc.coinMech.events$.subscribe((e) => events.push(e));
  return { clock, sim, cc, events };
}

describe('ccTalk end to end over the simulated world', () => {
  it('credits what the customer inserts, with the routing the world saw, and pays change from the tubes', async () => {
    const { clock, sim, cc, events } = setup();
    let online = false;
    cc.coinMech.link$.subscribe((s) => (online = s.status === 'online'));
    await clock.runUntil(() => online, 10_000);
    await settle(clock, cc.coinMech.setAcceptance([10, 20, 50, 100, 200]));

    const tubes100 = sim.world.tubeCount(100);
    for (const v of [100, 50, 200]) await settle(clock, sim.devices.coin.insertCoin(v));
    await clock.advance(500);
    expect(events.filter((e) => e.type === 'coin')).toEqual([
      { type: 'coin', value: 100, routing: 'tube' },
      { type: 'coin', value: 50, routing: 'tube' },
      { type: 'coin', value: 200, routing: 'cashbox' },
    ]);
    expect(sim.world.tubeCount(100)).toBe(tubes100 + 1);
    expect(await cc.coinMech.tubeLevels()).toEqual({ 100: sim.world.tubeCount(100), 50: sim.world.tubeCount(50) });

    const res = await settle(clock, cc.coinMech.dispense({ 100: 2, 50: 1 }));
    expect(res).toEqual({ paid: { 100: 2, 50: 1 }, complete: true });
    expect(sim.world.tubeCount(100)).toBe(tubes100 - 1);
    expect(await cc.coinMech.tubeLevels()).toEqual({ 100: sim.world.tubeCount(100), 50: sim.world.tubeCount(50) });
  });

  it('a disabled coin is refused by the world and reported as rejected, never credited', async () => {
    const { clock, sim, cc, events } = setup();
    let online = false;
    cc.coinMech.link$.subscribe((s) => (online = s.status === 'online'));
    await clock.runUntil(() => online, 10_000);
    await settle(clock, cc.coinMech.setAcceptance([100]));
    expect(await settle(clock, sim.devices.coin.insertCoin(20))).toBe('rejected');
    await clock.advance(300);
    expect(events.filter((e) => e.type === 'coin')).toEqual([{ type: 'coin', value: 0, routing: 'rejected' }]);
  });
});
