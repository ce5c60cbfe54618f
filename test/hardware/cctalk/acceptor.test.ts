import { describe, it, expect } from 'vitest';
import { firstValueFrom } from 'rxjs';
import { isDeviceError } from '../../../src/ports/index.ts';
import { acceptorEmu, rig, settle, type Rig } from './helpers.ts';

async function enabled(r: Rig, values: number[] = [10, 20, 50, 100, 200]): Promise<void> {
  await r.ready();
  await settle(r.clock, r.cc.coinMech.setAcceptance(values));
}

describe('CctalkCoinAcceptor: start-up', () => {
  it('identifies the device and reads the coin table from the coin ids', async () => {
    const r = rig();
    await r.ready();
    expect(r.cc.acceptor.identity).toEqual({
      manufacturer: 'VND',
      category: 'Coin Acceptor',
      productCode: 'SIM-CA',
      serial: 12_345_678,
      softwareRevision: '1.0',
    });
    const table = [...r.cc.acceptor.coinTable.values()].filter((c) => c.value !== null);
    expect(table.map((c) => [c.position, c.id, c.value])).toEqual([
      [1, 'EU010A', 10],
      [2, 'EU020A', 20],
      [3, 'EU050A', 50],
      [4, 'EU100A', 100],
      [5, 'EU200A', 200],
    ]);
    expect(r.cc.acceptor.coinTable.get(6)).toEqual({ position: 6, id: '......', value: null });
  });

  it('uses the polling priority (249 = 100 ms) and polls 229 at that rate', async () => {
    const r = rig();
    await r.ready();
    expect(r.cc.acceptor.pollInterval).toBe(100);
    const before = acceptorEmu(r).stats.requests.get(229) ?? 0;
    await r.clock.advance(1000);
    expect((acceptorEmu(r).stats.requests.get(229) ?? 0) - before).toBe(10);
  });

  it('configured coin values override the ids; ids outside the denominations are not trusted', async () => {
    const r = rig({ devices: { acceptor: { coinValues: { 6: 500 }, denominations: [10, 20, 50, 100] } } });
    await r.ready();
    expect(r.cc.acceptor.coinTable.get(6)?.value).toBe(500);
    expect(r.cc.acceptor.coinTable.get(5)?.value).toBeNull();
  });

  it('comes up with everything inhibited until the controller sets acceptance', async () => {
    const r = rig();
    await r.ready();
    expect(acceptorEmu(r).inhibits).toEqual({ mask: 0, master: false });
    expect(r.mech.accepted.size).toBe(0);
  });

  it('does not credit events that were in the buffer before the host started', async () => {
    const r = rig();
    acceptorEmu(r).pushEvent(4, 0);
    acceptorEmu(r).pushEvent(4, 0);
    await r.ready();
    await r.clock.advance(500);
    expect(r.credited()).toEqual([]);
    expect(r.cc.acceptor.eventCounter).toBe(2);
  });

  it('stays offline with backoff while the device does not answer, then comes up', async () => {
    const r = rig();
    acceptorEmu(r).setDead(true);
    await r.clock.advance(5000);
    expect(r.links.map((s) => s.status)).toEqual(['offline']);
    const early = r.cc.bus.stats.requests;
    await r.clock.advance(5000);
    const late = r.cc.bus.stats.requests - early;
    // Backoff: the retries thin out (500, 1000, 2000, ... capped at 5000 ms).
    expect(early).toBeGreaterThanOrEqual(6);
    expect(late).toBeGreaterThan(0);
    expect(late).toBeLessThan(early);
    acceptorEmu(r).setDead(false);
    await r.ready();
    expect(r.links.at(-1)?.status).toBe('online');
  });
});

describe('CctalkCoinAcceptor: credit', () => {
  it('credits each coin exactly once, in order, however often the buffer is re-read', async () => {
    const r = rig();
    await enabled(r);
    r.mech.insert(50);
    r.mech.insert(100);
    await r.clock.advance(150);
    r.mech.insert(200);
    await r.clock.advance(2000);
    expect(r.credited()).toEqual([50, 100, 200]);
    expect(r.events.filter((e) => e.type === 'coin').every((e) => e.type === 'coin' && e.routing === 'cashbox')).toBe(true);
    expect(r.cc.acceptor.eventCounter).toBe(3);
  });

  it('follows the counter across the wrap 255 → 1', async () => {
    const r = rig();
    acceptorEmu(r).setCounter(252);
    await enabled(r);
    for (const v of [10, 20, 50]) {
      r.mech.insert(v);
      await r.clock.advance(150);
    }
    r.mech.insert(100);
    r.mech.insert(200);
    await r.clock.advance(150);
    expect(acceptorEmu(r).eventCounter).toBe(2);
    expect(r.cc.acceptor.eventCounter).toBe(2);
    expect(r.credited()).toEqual([10, 20, 50, 100, 200]);
    expect(r.faults()).toEqual([]);
  });

  it('exactly 5 events between two reads: all credited, no overflow', async () => {
    const r = rig();
    await enabled(r);
    for (const v of [10, 20, 50, 100, 200]) r.mech.insert(v);
    await r.clock.advance(150);
    expect(r.credited()).toEqual([10, 20, 50, 100, 200]);
    expect(r.faults()).toEqual([]);
  });

  it('more than 5 events between two reads: the newest 5 are credited and CCTALK_EVENT_OVERFLOW is raised', async () => {
    const r = rig();
    await enabled(r);
    for (const v of [200, 200, 10, 20, 50, 100, 200]) r.mech.insert(v);
    await r.clock.advance(150);
    expect(r.credited()).toEqual([10, 20, 50, 100, 200]);
    expect(r.faults()).toEqual(['CCTALK_EVENT_OVERFLOW']);
  });

  it('overflow across the wrap is detected too (250 → 4 is 9 events)', async () => {
    const r = rig();
    acceptorEmu(r).setCounter(250);
    await enabled(r);
    for (let i = 0; i < 9; i++) r.mech.insert(10);
    await r.clock.advance(150);
    expect(acceptorEmu(r).eventCounter).toBe(4);
    expect(r.faults()).toEqual(['CCTALK_EVENT_OVERFLOW']);
    expect(r.credited()).toHaveLength(5);
  });

  it('routes a coin to the tube when its sorter path feeds a hopper of that value, and counts it in', async () => {
    const r = rig({ sorterPaths: { 100: 2 }, hoppers: [{ value: 100, coins: 10, sorterPath: 2 }] });
    await enabled(r);
    r.mech.insert(100);
    r.mech.insert(50);
    await r.clock.advance(150);
    const coins = r.events.filter((e) => e.type === 'coin');
    expect(coins).toEqual([
      { type: 'coin', value: 100, routing: 'tube' },
      { type: 'coin', value: 50, routing: 'cashbox' },
    ]);
    expect(await r.cc.coinMech.tubeLevels()).toEqual({ 100: 11 });
    expect(r.events.some((e) => e.type === 'tubes' && e.levels[100] === 11)).toBe(true);
  });

  it('a credit for a position with no known value raises CCTALK_UNKNOWN_COIN and credits nothing', async () => {
    const r = rig();
    await enabled(r);
    acceptorEmu(r).pushEvent(9, 0);
    await r.clock.advance(150);
    expect(r.credited()).toEqual([]);
    expect(r.faults()).toEqual(['CCTALK_UNKNOWN_COIN']);
  });
});

describe('CctalkCoinAcceptor: error codes (result A = 0)', () => {
  it('reject and inhibited-coin codes become rejected coins (value when the code names the coin)', async () => {
    const r = rig();
    await enabled(r);
    acceptorEmu(r).pushEvent(0, 1);
    acceptorEmu(r).pushEvent(0, 128 + 3);
    acceptorEmu(r).pushEvent(0, 25);
    await r.clock.advance(150);
    expect(r.events).toEqual([
      { type: 'coin', value: 0, routing: 'rejected' },
      { type: 'coin', value: 100, routing: 'rejected' },
      { type: 'coin', value: 0, routing: 'rejected' },
    ]);
  });

  it('a credit sensor blocked event raises COIN_JAM, cleared by the next credited coin', async () => {
    const r = rig();
    await enabled(r);
    r.mech.jam();
    await r.clock.advance(150);
    expect(r.events).toEqual([{ type: 'fault', code: 'COIN_JAM' }]);
    r.mech.insert(50);
    await r.clock.advance(150);
    expect(r.events.slice(1)).toEqual([
      { type: 'coin', value: 50, routing: 'cashbox' },
      { type: 'fault', code: 'COIN_JAM', cleared: true },
    ]);
  });

  it('maps return lever, fraud, swallowed coin and other faults; ignores null events', async () => {
    const r = rig();
    await enabled(r);
    for (const b of [254, 20, 36, 7, 0]) acceptorEmu(r).pushEvent(0, b);
    await r.clock.advance(150);
    expect(r.events).toEqual([
      { type: 'returnPressed' },
      { type: 'fault', code: 'CCTALK_FRAUD' },
      { type: 'fault', code: 'CCTALK_COIN_SWALLOWED' },
      { type: 'fault', code: 'CCTALK_FAULT_7' },
    ]);
  });
});

describe('CctalkCoinAcceptor: inhibits', () => {
  it('setAcceptance sets the per-coin mask and the master inhibit; [] inhibits everything', async () => {
    const r = rig();
    await enabled(r, [50, 100]);
    expect(acceptorEmu(r).inhibits).toEqual({ mask: 0b1100, master: true });
    expect([...r.mech.accepted].sort((a, b) => a - b)).toEqual([50, 100]);
    await settle(r.clock, r.cc.coinMech.setAcceptance([]));
    expect(acceptorEmu(r).inhibits).toEqual({ mask: 0, master: false });
  });

  it('an inhibited coin is rejected, not credited', async () => {
    const r = rig();
    await enabled(r, [100]);
    r.mech.insert(20);
    r.mech.insert(100);
    await r.clock.advance(150);
    expect(r.credited()).toEqual([100]);
    expect(r.events[0]).toEqual({ type: 'coin', value: 0, routing: 'rejected' });
  });

  it('values the acceptor does not know are ignored, not an error', async () => {
    const r = rig();
    await enabled(r, [5, 100]);
    expect(acceptorEmu(r).inhibits.mask).toBe(0b1000);
  });

  it('rejects DEVICE_OFFLINE while offline and applies the list once back', async () => {
    const r = rig();
    await r.ready();
    r.host.unplug();
    const err = await settle(r.clock, r.cc.coinMech.setAcceptance([200])).catch((e: unknown) => e);
    expect(isDeviceError(err) && err.code).toBe('DEVICE_OFFLINE');
    r.host.replug();
    await r.ready();
    expect(acceptorEmu(r).inhibits).toEqual({ mask: 0b10000, master: true });
  });

  it('re-applies the inhibits when the master inhibit reads back wrong (a reset the counter could not show)', async () => {
    const r = rig();
    await enabled(r, [100]);
    // Reset, then as many events as before: the counter looks unchanged.
    acceptorEmu(r).powerCycle();
    await r.clock.advance(6000);
    expect(acceptorEmu(r).inhibits).toEqual({ mask: 0b1000, master: true });
  });

  it('a bare acceptor cannot pay out and has no tubes', async () => {
    const r = rig();
    await r.ready();
    await expect(r.cc.acceptor.dispense({ 100: 1 })).rejects.toMatchObject({ code: 'NOT_SUPPORTED' });
    expect(await r.cc.acceptor.tubeLevels()).toEqual({});
  });
});

describe('CctalkCoinAcceptor: device reset', () => {
  it('a counter back to 0 raises CCTALK_DEVICE_RESET, re-initialises (inhibits back), clears it, and never double counts', async () => {
    const r = rig();
    await enabled(r, [50, 100]);
    r.mech.insert(50);
    r.mech.insert(100);
    await r.clock.advance(150);
    acceptorEmu(r).powerCycle();
    expect(acceptorEmu(r).inhibits.master).toBe(false);
    await r.clock.advance(500);
    expect(r.faults()).toEqual(['CCTALK_DEVICE_RESET']);
    expect(r.events).toContainEqual({ type: 'fault', code: 'CCTALK_DEVICE_RESET', cleared: true });
    expect(acceptorEmu(r).inhibits).toEqual({ mask: 0b1100, master: true });
    r.mech.insert(100);
    await r.clock.advance(1000);
    expect(r.credited()).toEqual([50, 100, 100]);
    expect(r.cc.acceptor.eventCounter).toBe(1);
    // The link itself never dropped: no offline/online flap for a reset.
    expect(r.links.map((s) => s.status)).toEqual(['offline', 'online']);
  });

  it('a reset with new events before the next read still credits the new events once', async () => {
    const r = rig();
    await enabled(r, [50]);
    for (let i = 0; i < 3; i++) r.mech.insert(50);
    await r.clock.advance(150);
    acceptorEmu(r).powerCycle();
    acceptorEmu(r).pushEvent(3, 0);
    await r.clock.advance(500);
    // 3 → 1 on the ring reads as 253 new events: overflow reported, the one real event credited.
    expect(r.credited()).toEqual([50, 50, 50, 50]);
    expect(r.faults()).toContain('CCTALK_EVENT_OVERFLOW');
  });

  it('a replaced device (other serial number) is re-baselined: its old events are not credited', async () => {
    const r = rig();
    await enabled(r, [50]);
    r.mech.insert(50);
    await r.clock.advance(150);
    r.host.unplug();
    acceptorEmu(r).swapUnit({ serial: 999 });
    acceptorEmu(r).pushEvent(3, 0);
    acceptorEmu(r).pushEvent(3, 0);
    acceptorEmu(r).pushEvent(3, 0);
    r.host.replug();
    await r.ready();
    await r.clock.advance(300);
    expect(r.cc.acceptor.identity?.serial).toBe(999);
    expect(r.credited()).toEqual([50]);
  });
});

describe('CctalkCoinAcceptor: wire faults', () => {
  it('garbage before replies costs nothing: every coin credited once, device stays online', async () => {
    const r = rig();
    await enabled(r);
    acceptorEmu(r).injectFault({ kind: 'garbage', count: 20 });
    for (const v of [10, 20, 50]) {
      r.mech.insert(v);
      await r.clock.advance(100);
    }
    await r.clock.advance(1000);
    expect(r.credited()).toEqual([10, 20, 50]);
    expect(r.cc.bus.decoder.stats.droppedBytes).toBeGreaterThan(0);
    expect(r.links.map((s) => s.status)).toEqual(['offline', 'online']);
  });

  it('a bad checksum is dropped and the read retried; the coin is credited once', async () => {
    const r = rig();
    await enabled(r);
    r.mech.insert(200);
    acceptorEmu(r).injectFault({ kind: 'badChecksum' });
    await r.clock.advance(1000);
    expect(r.credited()).toEqual([200]);
    expect(r.cc.bus.decoder.stats.checksumErrors).toBeGreaterThanOrEqual(1);
  });

  it('a lost reply is retried after the reply timeout', async () => {
    const r = rig();
    await enabled(r);
    r.mech.insert(20);
    acceptorEmu(r).injectFault({ kind: 'noAnswer' });
    await r.clock.advance(1000);
    expect(r.credited()).toEqual([20]);
    expect(r.links.at(-1)?.status).toBe('online');
  });

  it('garbage instead of replies for a while: offline, then back, no credit lost or doubled', async () => {
    const r = rig();
    await enabled(r);
    acceptorEmu(r).injectFault({ kind: 'garbage', replace: true, count: 12 });
    r.mech.insert(100);
    await r.clock.advance(3000);
    expect(r.links.map((s) => s.status)).toContain('offline');
    await r.ready();
    await r.clock.advance(500);
    expect(r.credited()).toEqual([100]);
  });

  it('a dead device goes offline after 3 failed polls and is re-initialised (without a reset) when it answers again', async () => {
    const r = rig();
    await enabled(r, [50]);
    acceptorEmu(r).setDead(true);
    r.mech.insert(50);
    await r.clock.advance(3000);
    expect(r.links.at(-1)?.status).toBe('offline');
    acceptorEmu(r).setDead(false);
    await r.ready();
    await r.clock.advance(300);
    expect(r.credited()).toEqual([50]);
    expect(acceptorEmu(r).stats.requests.get(1) ?? 0).toBe(0);
  });
});

describe('CctalkCoinAcceptor: unplug and replug', () => {
  it('coins inserted while unplugged are credited after the replug, none lost or doubled', async () => {
    const r = rig();
    await enabled(r, [20, 50, 100]);
    r.mech.insert(20);
    await r.clock.advance(150);
    r.host.unplug();
    expect(await firstValueFrom(r.cc.coinMech.link$)).toMatchObject({ status: 'offline' });
    r.mech.insert(50);
    r.mech.insert(100);
    r.mech.insert(50);
    await r.clock.advance(10_000);
    expect(r.credited()).toEqual([20]);
    r.host.replug();
    await r.ready();
    await r.clock.advance(1000);
    expect(r.credited()).toEqual([20, 50, 100, 50]);
    expect(r.faults()).toEqual([]);
    expect(r.links.map((s) => s.status)).toEqual(['offline', 'online', 'offline', 'online']);
  });

  it('more than 5 coins while unplugged: the newest 5 credited and the loss reported', async () => {
    const r = rig();
    await enabled(r, [10, 20]);
    r.host.unplug();
    for (let i = 0; i < 4; i++) r.mech.insert(10);
    for (let i = 0; i < 3; i++) r.mech.insert(20);
    r.host.replug();
    await r.ready();
    await r.clock.advance(300);
    expect(r.credited()).toEqual([10, 10, 20, 20, 20]);
    expect(r.faults()).toEqual(['CCTALK_EVENT_OVERFLOW']);
  });

  it('works over a realistic 9600-baud line (≈1 ms a byte, bytes arriving in small chunks)', async () => {
    const r = rig({ link: { byteDelayMs: 1.04, chunkSize: 3 } });
    await enabled(r);
    for (const v of [10, 200, 50]) {
      r.mech.insert(v);
      await r.clock.advance(130);
    }
    await r.clock.advance(500);
    expect(r.credited()).toEqual([10, 200, 50]);
    expect(r.cc.bus.decoder.stats.droppedBytes).toBe(0);
  });

  it('works on a link without echo as well', async () => {
    const r = rig({ link: { echo: false } });
    await enabled(r);
    r.mech.insert(100);
    await r.clock.advance(150);
    expect(r.credited()).toEqual([100]);
    expect(r.cc.bus.decoder.stats.echoBytes).toBe(0);
  });
});
