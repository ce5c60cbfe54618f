import { describe, it, expect } from 'vitest';
import { VirtualClock } from '../../../sim/clock.ts';
import { createLinkPair } from '../../../sim/wire/pipe.ts';
import { createCctalkEmulator, SimpleHopperModel } from '../../../sim/wire/cctalk/index.ts';
import { createCctalkDevices } from '../../../hardware/cctalk/index.ts';
import type { LinkState } from '../../../src/ports/index.ts';
import { EURO_COINS, FakeCoinMech } from './helpers.ts';

function build(autoStart: boolean) {
  const clock = new VirtualClock();
  const [host, device] = createLinkPair(clock, { echo: true });
  const mech = new FakeCoinMech();
  const emu = createCctalkEmulator({
    link: device,
    clock,
    acceptor: { port: mech, coins: EURO_COINS },
    hoppers: [{ model: new SimpleHopperModel(100, 5) }, { model: new SimpleHopperModel(50, 5) }],
  });
  const cc = createCctalkDevices({
    link: host,
    clock,
    options: { autoStart, hoppers: [{ coinValue: 100, initialCount: 5 }, { coinValue: 50, initialCount: 5 }] },
  });
  const states: LinkState[] = [];
  cc.coinMech.link$.subscribe((s) => states.push(s));
  return { clock, host, emu, cc, states };
}

describe('createCctalkDevices / createCctalkEmulator', () => {
  it('gives hoppers addresses 3, 4 in order on both sides', () => {
    const { emu, cc } = build(false);
    expect(emu.hoppers.map((h) => h.address)).toEqual([3, 4]);
    expect(cc.hoppers.map((h) => h.address)).toEqual([3, 4]);
    expect(emu.acceptor?.address).toBe(2);
    expect(cc.coinMech.name).toBe('coin');
  });

  it('autoStart false: silent until start(); then online and hoppers identified', async () => {
    const { clock, cc, states } = build(false);
    await clock.advance(1000);
    expect(cc.bus.stats.requests).toBe(0);
    cc.start();
    await clock.runUntil(() => states.at(-1)?.status === 'online', 10_000);
    await clock.advance(200);
    expect(states.at(-1)?.status).toBe('online');
    expect(cc.hoppers.map((h) => h.identity?.serial)).toEqual([0x0ad7df, 0x0ad7df]);
  });

  it('close() stops polling, closes the link and reports the port offline', async () => {
    const { clock, host, cc, states } = build(true);
    await clock.runUntil(() => states.at(-1)?.status === 'online', 10_000);
    await cc.close();
    const n = cc.bus.stats.requests;
    await clock.advance(5000);
    expect(cc.bus.stats.requests).toBe(n);
    expect(states.at(-1)).toEqual({ status: 'offline', reason: 'stopped' });
    await expect(host.write('x')).rejects.toMatchObject({ code: 'DEVICE_OFFLINE' });
  });

  it('powerCycle() on the emulator resets every device counter', async () => {
    const { emu } = build(false);
    emu.acceptor?.pushEvent(1, 0);
    emu.powerCycle();
    expect(emu.acceptor?.eventCounter).toBe(0);
    expect(emu.hoppers.map((h) => h.eventCounter)).toEqual([0, 0]);
  });
});
