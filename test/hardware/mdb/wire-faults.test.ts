import { describe, it, expect } from 'vitest';
import type { CoinMechEvent } from '../../../src/ports/index.ts';
import { mdbRig } from './harness.ts';

const coins = (evs: readonly CoinMechEvent[]) => evs.filter((e) => e.type === 'coin');

describe('MDB stack under wire faults', () => {
  it('ignores garbage lines and line noise, and loses nothing', async () => {
    const r = mdbRig();
    await r.boot();
    await r.run(r.coin.setAcceptance([10, 20, 50]));
    r.emu.garbageBeforeReplies(30, 'p,ZZ?!');
    r.emu.sendGarbage('\u0000\u00ff@@@ no newline yet ');
    r.emu.sendGarbage('\r\nq\n');
    for (const v of [10, 20, 50]) r.fakeCoin.insert(v);
    await r.until(() => coins(r.coinEvents).length === 3);
    await r.clock.advance(2000);
    expect(coins(r.coinEvents).map((e) => e.type === 'coin' && e.value)).toEqual([10, 20, 50]);
    const errors = r.tracer.recent().filter((t) => t.error?.startsWith('garbage'));
    expect(errors.length).toBeGreaterThanOrEqual(30);
    expect(r.coin.link.status).toBe('online');
    await r.stop();
  });

  it("a line that never ends is dropped at the length limit and the next line is read ('resync')", async () => {
    const r = mdbRig();
    await r.boot();
    await r.run(r.coin.setAcceptance([100]));
    r.emu.sendGarbage('x'.repeat(1000));
    r.emu.sendGarbage('\n');
    r.fakeCoin.insert(100);
    await r.until(() => coins(r.coinEvents).length === 1);
    expect(r.tracer.recent().some((t) => t.error?.includes('longer than 256'))).toBe(true);
    await r.stop();
  });

  it("wrong CHK with the board passing CHKs through ('included'): retried, the coin counted once", async () => {
    const r = mdbRig({ replyChecksum: 'included' });
    await r.boot();
    await r.run(r.coin.setAcceptance([50]));
    r.emu.changer?.corruptChecksums(1);
    r.fakeCoin.insert(50);
    await r.until(() => coins(r.coinEvents).length === 1);
    await r.clock.advance(2000);
    expect(coins(r.coinEvents)).toEqual([{ type: 'coin', value: 50, routing: 'tube' }]);
    const bad = r.tracer.recent().filter((t) => t.meaning?.includes('CHK'));
    expect(bad).toHaveLength(1);
    expect(r.coin.link.status).toBe('online');
    await r.stop();
  });

  it("wrong CHK with the board stripping CHKs ('stripped'): NACK, the device repeats, counted once", async () => {
    const r = mdbRig();
    await r.boot();
    await r.run(r.coin.setAcceptance([50]));
    r.emu.changer?.corruptChecksums(2);
    r.fakeCoin.insert(50);
    await r.until(() => coins(r.coinEvents).length === 1);
    await r.clock.advance(2000);
    expect(coins(r.coinEvents)).toHaveLength(1);
    expect(r.tracer.recent().filter((t) => t.raw === 'p,NACK').length).toBeGreaterThanOrEqual(2);
    await r.stop();
  });

  it('the whole stack works with CHK-included replies and CRLF line ends', async () => {
    const r = mdbRig({ replyChecksum: 'included', cardBalance: 200, emulator: { lineEnding: '\r\n' }, devices: { board: { lineEnding: '\r\n' } } });
    await r.boot();
    await r.run(r.card.enable(true));
    r.fakeCard.tap();
    await r.until(() => r.cardEvents.length === 1);
    expect(r.emu.lines.every((l) => !l.includes('\r'))).toBe(true);
    // §1.8 BEGIN SESSION 200 with CHK (p,0300C8CB), funds masked in the trace
    expect(r.tracer.recent().some((t) => t.raw === 'p,03******')).toBe(true);
    expect(r.cardEvents).toEqual([{ type: 'sessionBegin', funds: 200 }]);
    await r.stop();
  });

  it('unplug and replug mid-session: offline at once, events pending in the devices are read after replug, no credit lost, no RESET', async () => {
    const r = mdbRig();
    await r.boot();
    await r.run(r.coin.setAcceptance([100, 200]));
    await r.run(r.bill.setAcceptance([500]));
    await r.run(r.card.enable(true));
    r.fakeCard.tap();
    await r.until(() => r.cardEvents.length === 1);
    r.fakeBill.insert(500);
    await r.until(() => r.bill.inEscrow === 500);
    await r.run(r.bill.stack());

    const linesAtUnplug = r.emu.lines.length;
    r.binding.unplug(r.emu.path);
    await r.clock.advance(0);
    expect([r.coin.link, r.bill.link, r.card.link].map((s) => s.status)).toEqual(['offline', 'offline', 'offline']);
    expect(r.coin.link).toMatchObject({ reason: 'interface board offline' });
    // meanwhile, in the machine: coins go in, the bill reaches the stacker
    r.fakeCoin.insert(200);
    r.fakeCoin.insert(100);
    await r.clock.advance(3000);
    expect(r.fakeBill.stacker).toEqual([500]);
    expect(coins(r.coinEvents)).toEqual([]);

    r.binding.replug(r.emu.path);
    await r.until(() => [r.coin, r.bill, r.card].every((d) => d.link.status === 'online'), 10_000);
    expect(coins(r.coinEvents)).toEqual([
      { type: 'coin', value: 200, routing: 'tube' },
      { type: 'coin', value: 100, routing: 'tube' },
    ]);
    expect(r.billEvents.filter((e) => e.type === 'stacked')).toEqual([{ type: 'stacked', value: 500 }]);
    const after = r.emu.lines.slice(linesAtUnplug);
    expect(after[0]).toBe('M,1'); // the board was re-armed
    expect(after.filter((l) => l === 'R,08' || l === 'R,30' || l === 'R,10')).toEqual([]); // resync, no RESET
    expect(after).toContain('R,0C,0030003F'); // acceptance re-applied
    expect(after).toContain('R,34,00010001');

    // the card session survived: the customer can still buy
    await r.run(r.card.requestVend(120, 7));
    await r.until(() => r.cardEvents.some((e) => e.type === 'vendApproved'));
    await r.run(r.card.vendSucceeded(7));
    await r.run(r.card.endSession());
    expect(r.fakeCard.charged).toBe(120);
    await r.stop();
  });

  it('a payout across an unplug is still reported from the tube levels', async () => {
    const r = mdbRig();
    await r.boot();
    const p = r.run(r.coin.dispense({ 20: 4 }), 60_000);
    await r.until(() => r.fakeCoin.cup.length === 1);
    r.binding.unplug(r.emu.path);
    await r.clock.advance(400);
    r.binding.replug(r.emu.path);
    const result = await p;
    expect(result.paid).toEqual({ 20: 4 });
    expect(r.fakeCoin.cup).toEqual([20, 20, 20, 20]);
    await r.stop();
  });

  it('a board that never confirms master mode is reported as an error and retried', async () => {
    const r = mdbRig();
    // swallow M,1 like a board in another mode would
    const onData = r.emu.onData.bind(r.emu);
    let swallow = 3;
    r.emu.onData = (bytes: Uint8Array) => {
      if (swallow > 0 && Buffer.from(bytes).toString('latin1').startsWith('M,1')) {
        swallow--;
        return;
      }
      onData(bytes);
    };
    const states: string[] = [];
    r.board.state$.subscribe((s) => states.push(s.status));
    const boot = r.boot();
    await boot;
    expect(states).toEqual(['offline', 'error', 'online']);
    await r.stop();
  });
});
