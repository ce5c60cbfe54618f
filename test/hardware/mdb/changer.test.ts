import { describe, it, expect } from 'vitest';
import { isDeviceError } from '../../../src/ports/index.ts';
import type { CoinMechEvent } from '../../../src/ports/index.ts';
import { mdbRig, track } from './harness.ts';

const coins = (evs: readonly CoinMechEvent[]) => evs.filter((e) => e.type === 'coin');
const faults = (evs: readonly CoinMechEvent[]) => evs.filter((e) => e.type === 'fault');
const count = (lines: readonly string[], cmd: string) => lines.filter((l) => l === cmd).length;

describe('MdbCoinChanger over the emulated board', () => {
  it('initialises in the spec order and reports tube levels', async () => {
    const r = mdbRig();
    await r.boot();
    const changerLines = r.emu.lines.filter((l) => /^R,0[8-F]/.test(l));
    // POLL (JUST RESET) → SETUP → EXP ident (level 3) → TUBE STATUS → COIN TYPE (all disabled, manual on)
    expect(changerLines.slice(0, 5)).toEqual(['R,0B', 'R,09', 'R,0F,00', 'R,0A', 'R,0C,0000003F']);
    expect(r.coin.link).toEqual({ status: 'online' });
    expect(r.coin.coinValues.slice(0, 6)).toEqual([5, 10, 20, 50, 100, 200]);
    expect(r.coin.identification).toMatchObject({ manufacturer: 'VMT', model: 'EMU-CHANGER' });
    expect(r.coinEvents).toContainEqual({ type: 'tubes', levels: { 5: 20, 10: 20, 20: 20, 50: 10, 100: 5, 200: 2 } });
    expect(await r.run(r.coin.tubeLevels())).toEqual({ 5: 20, 10: 20, 20: 20, 50: 10, 100: 5, 200: 2 });
    await r.stop();
  });

  it('after a controller restart, coins the changer buffered are read first, then it is RESET', async () => {
    const r = mdbRig();
    const changer = r.emu.changer;
    if (!changer) throw new Error('no changer');
    // the changer has been running (its JUST RESET was read by the previous controller run) ...
    await changer.command(Uint8Array.from([0x0b]));
    changer.acknowledged();
    await r.fakeCoin.setAcceptance([50]);
    // ... and took a coin while the controller was down
    r.fakeCoin.insert(50);
    await r.boot();
    expect(coins(r.coinEvents)).toEqual([{ type: 'coin', value: 50, routing: 'tube' }]);
    const changerLines = r.emu.lines.filter((l) => /^R,0[8-F]/.test(l));
    expect(changerLines.slice(0, 4)).toEqual(['R,0B', 'R,0B', 'R,08', 'R,0B']); // coin, nothing, RESET, JUST RESET
    await r.stop();
  });

  it('reports deposited coins with their routing: tube, cashbox, rejected', async () => {
    const r = mdbRig({ tubes: { 5: 0, 10: 0, 20: 0, 50: 50, 100: 0, 200: 0 } });
    await r.boot();
    await r.run(r.coin.setAcceptance([10, 50, 100]));
    expect(r.emu.lines).toContain('R,0C,001A003F'); // types 1, 3, 4
    expect([...r.fakeCoin.accepted].sort((a, b) => a - b)).toEqual([10, 50, 100]);
    r.fakeCoin.insert(100); // tube
    r.fakeCoin.insert(50); // tube full (capacity 50) → cashbox
    r.fakeCoin.insert(5); // not accepted → rejected
    await r.until(() => coins(r.coinEvents).length === 3);
    expect(coins(r.coinEvents)).toEqual([
      { type: 'coin', value: 100, routing: 'tube' },
      { type: 'coin', value: 50, routing: 'cashbox' },
      { type: 'coin', value: 5, routing: 'rejected' },
    ]);
    await r.stop();
  });

  it('reports the coin-return lever', async () => {
    const r = mdbRig();
    await r.boot();
    r.fakeCoin.pressReturn();
    await r.until(() => r.coinEvents.some((e) => e.type === 'returnPressed'));
    await r.stop();
  });

  it('pays out in full: DISPENSE, poll until not busy, TUBE STATUS', async () => {
    const r = mdbRig();
    await r.boot();
    const p = track(r.coin.dispense({ 50: 2, 10: 1 }));
    await r.until(() => p.done);
    expect(p.value).toEqual({ paid: { 50: 2, 10: 1 }, complete: true });
    expect(r.fakeCoin.cup.sort((a, b) => a - b)).toEqual([10, 50, 50]);
    expect(r.emu.lines).toContain('R,0D,23'); // 2 × type 3
    expect(r.emu.lines).toContain('R,0D,11'); // 1 × type 1
    expect(r.tracer.recent().some((t) => t.meaning?.includes('payoutBusy'))).toBe(true);
    expect(r.coinEvents.at(-1)).toEqual({ type: 'tubes', levels: { 5: 20, 10: 19, 20: 20, 50: 8, 100: 5, 200: 2 } });
    await r.stop();
  });

  it('does not take a changer that is slow to say "payout busy" for finished (≥ 100 ms per coin)', async () => {
    const r = mdbRig({ emulator: { changer: { busyAfterMs: 120 } } });
    await r.boot();
    r.coin.setActive(true);
    const p = track(r.coin.dispense({ 10: 3 }));
    await r.until(() => p.done);
    expect(p.value).toEqual({ paid: { 10: 3 }, complete: true });
    await r.stop();
  });

  it('splits a payout of more than 15 coins of one type into several DISPENSEs', async () => {
    const r = mdbRig({ tubes: { 5: 40, 10: 0, 20: 0, 50: 0, 100: 0, 200: 0 } });
    await r.boot();
    const p = track(r.coin.dispense({ 5: 20 }));
    await r.until(() => p.done);
    expect(p.value).toEqual({ paid: { 5: 20 }, complete: true });
    expect(r.emu.lines.filter((l) => l.startsWith('R,0D'))).toEqual(['R,0D,F0', 'R,0D,50']);
    await r.stop();
  });

  it('reports a short payout from an empty tube with what was actually paid', async () => {
    const r = mdbRig({ tubes: { 5: 0, 10: 0, 20: 0, 50: 0, 100: 0, 200: 2 } });
    await r.boot();
    const p = track(r.coin.dispense({ 200: 3 }));
    await r.until(() => p.done);
    expect(p.value).toEqual({ paid: { 200: 2 }, complete: false, faultCode: 'PAYOUT_SHORT' });
    await r.stop();
  });

  it('stops a payout on a tube jam and reports the jam', async () => {
    const r = mdbRig();
    await r.boot();
    r.fakeCoin.jamAfter = 1;
    const p = track(r.coin.dispense({ 20: 2, 10: 3 }));
    await r.until(() => p.done);
    expect(p.value).toEqual({ paid: { 20: 1 }, complete: false, faultCode: 'TUBE_JAM' });
    expect(faults(r.coinEvents)).toContainEqual({ type: 'fault', code: 'TUBE_JAM' });
    // the second coin type was never asked for
    expect(r.emu.lines.filter((l) => l.startsWith('R,0D'))).toEqual(['R,0D,22']);
    await r.stop();
  });

  it('a changer reset mid-payout still yields the true PayoutResult from the tube levels', async () => {
    const r = mdbRig();
    await r.boot();
    await r.run(r.coin.setAcceptance([10, 20]));
    const p = track(r.coin.dispense({ 10: 5 }));
    await r.until(() => r.fakeCoin.cup.length === 2);
    // power blip: the payout stops and the changer comes back with JUST RESET
    r.fakeCoin.halt();
    r.emu.changer?.powerCycle();
    await r.until(() => p.done);
    expect(p.value).toEqual({ paid: { 10: 2 }, complete: false, faultCode: 'PAYOUT_RESET' });
    // re-initialised, acceptance restored; the reset fault is raised, then cleared by the setup
    await r.until(() => r.coin.state === 'ready');
    expect(faults(r.coinEvents)).toEqual([
      { type: 'fault', code: 'CHANGER_RESET' },
      { type: 'fault', code: 'CHANGER_RESET', cleared: true },
    ]);
    expect(r.emu.lines.filter((l) => l.startsWith('R,0C')).at(-1)).toBe('R,0C,0006003F');
    expect(await r.run(r.coin.tubeLevels())).toMatchObject({ 10: 18 });
    await r.stop();
  });

  it('counts coins inserted during a payout without mistaking them for coins paid', async () => {
    const r = mdbRig();
    await r.boot();
    await r.run(r.coin.setAcceptance([50]));
    const p = track(r.coin.dispense({ 50: 3 }));
    await r.until(() => r.fakeCoin.cup.length === 1);
    r.fakeCoin.insert(50);
    await r.until(() => p.done);
    expect(p.value).toEqual({ paid: { 50: 3 }, complete: true });
    expect(coins(r.coinEvents)).toEqual([{ type: 'coin', value: 50, routing: 'tube' }]);
    await r.stop();
  });

  it('refuses a payout it cannot start, with typed errors', async () => {
    const r = mdbRig();
    await r.boot();
    const unknown = await r.fails(r.coin.dispense({ 7: 1 }));
    expect(isDeviceError(unknown) && unknown.code).toBe('DEVICE_REJECTED');
    const first = track(r.coin.dispense({ 10: 2 }));
    const second = await r.fails(r.coin.dispense({ 10: 1 }));
    expect(isDeviceError(second) && second.code).toBe('DEVICE_BUSY');
    await r.until(() => first.done);
    r.emu.changer?.mute(true);
    await r.until(() => r.coin.link.status === 'offline');
    const offline = await r.fails(r.coin.dispense({ 10: 1 }));
    expect(isDeviceError(offline) && offline.code).toBe('DEVICE_OFFLINE');
    await r.stop();
  });

  it('maps changer statuses to fault events, and repeated ones to raised/cleared', async () => {
    const r = mdbRig();
    await r.boot();
    r.fakeCoin.fault('COIN_JAM');
    r.fakeCoin.fault('TUBE_SENSOR');
    r.fakeCoin.fault('ACCEPTOR_UNPLUGGED');
    await r.until(() => faults(r.coinEvents).length >= 3);
    r.fakeCoin.fault('ACCEPTOR_UNPLUGGED', true);
    await r.until(() => faults(r.coinEvents).length >= 4);
    await r.clock.advance(1000);
    expect(faults(r.coinEvents)).toEqual([
      { type: 'fault', code: 'COIN_JAM' },
      { type: 'fault', code: 'TUBE_SENSOR' },
      { type: 'fault', code: 'ACCEPTOR_UNPLUGGED' },
      { type: 'fault', code: 'ACCEPTOR_UNPLUGGED', cleared: true },
    ]);
    await r.stop();
  });

  it('goes offline after 2 s without answers, then reads pending coins BEFORE it resets', async () => {
    const r = mdbRig();
    await r.boot();
    await r.run(r.coin.setAcceptance([100]));
    const muteAt = r.clock.now();
    r.emu.changer?.mute(true);
    await r.until(() => r.coin.link.status === 'offline');
    expect(r.clock.now() - muteAt).toBeGreaterThanOrEqual(2000);
    expect(r.clock.now() - muteAt).toBeLessThan(2600);
    expect(r.coin.link).toMatchObject({ status: 'offline', reason: 'no response for 2000 ms' });
    // the customer keeps feeding coins into the (still running) changer
    r.fakeCoin.insert(100);
    r.fakeCoin.insert(100);
    await r.clock.advance(3000);
    const linesBefore = r.emu.lines.length;
    r.emu.changer?.mute(false);
    await r.until(() => r.coin.link.status === 'online');
    expect(coins(r.coinEvents)).toEqual([
      { type: 'coin', value: 100, routing: 'tube' },
      { type: 'coin', value: 100, routing: 'tube' },
    ]);
    const after = r.emu.lines.slice(linesBefore).filter((l) => /^R,0[8-F]/.test(l));
    // drained (POLL with the coins, POLL → nothing) before RESET, then re-initialised
    expect(after.slice(0, 3)).toEqual(['R,0B', 'R,0B', 'R,08']);
    expect(after).toContain('R,09');
    expect(after.at(-1)).toBe('R,0C,0010003F');
    await r.stop();
  });

  it('sends RESET to a silent changer at most every 10 s', async () => {
    const r = mdbRig();
    await r.boot();
    r.emu.changer?.mute(true);
    await r.until(() => r.coin.link.status === 'offline');
    const from = r.emu.lines.length;
    await r.clock.advance(35_000);
    const resets = count(r.emu.lines.slice(from), 'R,08');
    expect(resets).toBeGreaterThanOrEqual(3);
    expect(resets).toBeLessThanOrEqual(4);
    // while it is gone it is polled slowly (every 500 ms), not hammered
    const polls = count(r.emu.lines.slice(from), 'R,0B');
    expect(polls).toBeGreaterThanOrEqual(35_000 / 500 - 2);
    expect(polls).toBeLessThanOrEqual(35_000 / 500 + 2);
    await r.stop();
  });

  it('a SETUP it cannot use puts the link in error, and RESETs stay rate-limited', async () => {
    const r = mdbRig({ emulator: { changer: { scaling: 0 } } });
    await r.start();
    await r.until(() => r.coin.link.status === 'error');
    expect(r.coin.link).toMatchObject({ status: 'error', code: 'PROTOCOL_ERROR' });
    const from = r.emu.lines.length;
    await r.clock.advance(25_000);
    const resets = count(r.emu.lines.slice(from), 'R,08');
    expect(resets).toBeGreaterThanOrEqual(2);
    expect(resets).toBeLessThanOrEqual(3);
    // the other devices are fine
    expect([r.bill.link.status, r.card.link.status]).toEqual(['online', 'online']);
    await r.stop();
  });

  it('does not go offline on a single lost answer (board timeout → retry)', async () => {
    const r = mdbRig();
    await r.boot();
    const from = r.tracer.recent().length;
    r.emu.dropCommands(1);
    await r.run(r.coin.setAcceptance([20]));
    r.fakeCoin.insert(20);
    await r.until(() => coins(r.coinEvents).length === 1);
    const firstOnline = r.coinLink.findIndex((s) => s.status === 'online');
    expect(r.coinLink.slice(firstOnline).map((s) => s.status)).toEqual(['online']);
    // the dropped command was sent again after the 250 ms board timeout (+20 ms settle)
    const tx = r.tracer.recent().slice(from).filter((t) => t.dir === 'tx');
    const i = tx.findIndex((t, k) => tx[k + 1]?.raw === t.raw);
    expect(i).toBeGreaterThanOrEqual(0);
    expect((tx[i + 1]?.at ?? 0) - (tx[i]?.at ?? 0)).toBe(270);
    expect([...r.fakeCoin.accepted]).toEqual([20]);
    await r.stop();
  });

  it('polls fast while a customer is active and slowly when idle', async () => {
    const r = mdbRig();
    await r.boot();
    await r.clock.advance(10_000); // let the post-boot activity hold expire
    let from = r.emu.lines.length;
    await r.clock.advance(2000);
    const idle = count(r.emu.lines.slice(from), 'R,0B');
    r.coin.setActive(true);
    from = r.emu.lines.length;
    await r.clock.advance(2000);
    const active = count(r.emu.lines.slice(from), 'R,0B');
    expect(idle).toBeGreaterThanOrEqual(8);
    expect(idle).toBeLessThanOrEqual(11);
    expect(active).toBeGreaterThanOrEqual(30);
    r.coin.setActive(false);
    await r.stop();
  });

  it('keeps polling fast during a payout even when the customer flag is off', async () => {
    const r = mdbRig({ devices: { coin: { pollIdleMs: 1000 } } });
    await r.boot();
    await r.clock.advance(10_000);
    const p = track(r.coin.dispense({ 5: 10 }));
    const from = r.emu.lines.length;
    await r.until(() => p.done);
    const polls = count(r.emu.lines.slice(from), 'R,0B');
    expect(polls).toBeGreaterThan(20); // 10 coins × 150 ms at ~50 ms polls
    await r.stop();
  });

  it('a slug report is a counted event, never a fault (MDB 4.2 §5.3 POLL 001yyyyy)', async () => {
    const r = mdbRig();
    await r.boot();
    await r.run(r.coin.setAcceptance([30, 200]));
    r.fakeCoin.insert(30); // no coin type of this value: the changer can only say "slug"
    r.fakeCoin.insert(200);
    await r.until(() => coins(r.coinEvents).length === 1);
    await r.clock.advance(500);
    expect(r.coinEvents.filter((e) => e.type === 'slug')).toEqual([{ type: 'slug', count: 1 }]);
    expect(faults(r.coinEvents)).toEqual([]);
    expect(coins(r.coinEvents)).toEqual([{ type: 'coin', value: 200, routing: 'tube' }]);
    expect(r.coin.link.status).toBe('online');
    await r.stop();
  });
});
