/**
 * Lost, garbled, stray and duplicated reply lines on the interface-board link (issue repros). The
 * board ACKs the peripheral's data on the MDB bus itself, so a reply line that does not reach the
 * host intact is never repeated: the driver must reconcile from the device's own state (TUBE
 * STATUS, STACKER, the reader's session) instead of losing or inventing money.
 */
import { describe, expect, it } from 'vitest';
import type { BillEvent, CoinMechEvent } from '../../../src/ports/index.ts';
import type { ReplyFault } from '../../../sim/wire/mdb/index.ts';
import { mdbRig } from './harness.ts';
import type { Rig } from './harness.ts';

const coins = (evs: readonly CoinMechEvent[]) => evs.filter((e) => e.type === 'coin');
const faults = (evs: readonly (CoinMechEvent | BillEvent)[]) => evs.filter((e) => e.type === 'fault');
/** The changer's POLL reply when it carries data (not the bare ACK). */
const changerData = (cmd: string, reply: string): boolean => cmd === 'R,0B' && reply.startsWith('p,') && reply !== 'p,ACK' && reply !== 'p,NACK';

async function coinRig(tubeCapacity = 50): Promise<Rig> {
  // The emulated changer reads "full" at the fake mech's capacity, so its full flags are true.
  const r = mdbRig({ tubeCapacity, emulator: { changer: { tubeFullAt: tubeCapacity } } });
  await r.boot();
  await r.run(r.coin.setAcceptance([10, 50, 100]));
  return r;
}

describe('a 50c coin whose POLL reply is damaged on the serial line', () => {
  for (const [name, fault] of [
    ['noise byte "~" glued to the reply', { kind: 'noise', text: '~' }],
    ['a NUL byte glued to the reply', { kind: 'noise', text: '\u0000' }],
    ['a garbage line before the reply', { kind: 'noiseLine', text: '#~?!' }],
    ['the reply lost', { kind: 'lose' }],
    ['a stray p,ACK before the reply', { kind: 'strayBefore', line: 'p,ACK' }],
    ['the reply duplicated', { kind: 'duplicate', afterMs: 1 }],
    ['the reply late (after the timeout)', { kind: 'delay', ms: 400 }],
    ['a stray p,ACK right after the reply', { kind: 'strayAfter', line: 'p,ACK', afterMs: 1 }],
  ] as const satisfies readonly (readonly [string, ReplyFault])[]) {
    it(`${name}: credited exactly once, from TUBE STATUS when the reply cannot be trusted`, async () => {
      const r = await coinRig();
      r.emu.injectReplyFault({ when: changerData, fault });
      r.fakeCoin.insert(50);
      await r.until(() => coins(r.coinEvents).length >= 1);
      await r.clock.advance(3000);
      expect(r.fakeCoin.tubes[50]).toBe(11);
      expect(coins(r.coinEvents)).toEqual([{ type: 'coin', value: 50, routing: 'tube' }]);
      // The tube count tells everything (no coin type could go to the cash box): nothing uncertain.
      expect(faults(r.coinEvents)).toEqual([]);
      expect(r.emu.replyFaultCount[fault.kind]).toBe(1);
      expect(r.coin.link.status).toBe('online');
      // and the next coin is plain sailing
      r.fakeCoin.insert(100);
      await r.until(() => coins(r.coinEvents).length === 2);
      await r.clock.advance(1000);
      expect(coins(r.coinEvents)).toHaveLength(2);
      await r.stop();
    });
  }

  it('200 coins, each with its reply garbled: none lost, none doubled', async () => {
    const r = await coinRig(250);
    for (let i = 0; i < 200; i++) {
      r.emu.injectReplyFault({ when: changerData, fault: { kind: 'noise', text: i % 2 ? '~' : '\u0000' } });
      r.fakeCoin.insert(10);
      await r.until(() => coins(r.coinEvents).length === i + 1);
      // Past the fast polling and the resync, so each coin has its own POLL.
      await r.clock.advance(100);
    }
    await r.clock.advance(2000);
    expect(coins(r.coinEvents)).toHaveLength(200);
    expect(coins(r.coinEvents).every((e) => e.type === 'coin' && e.value === 10 && e.routing === 'tube')).toBe(true);
    expect(r.fakeCoin.tubes[10]).toBe(220);
    expect(faults(r.coinEvents)).toEqual([]);
    await r.stop();
  });

  it('a coin routed to the cash box with its reply lost cannot be seen: an advisory fault says so, nothing is invented', async () => {
    const r = await coinRig();
    r.fakeCoin.tubes[100] = 50; // full: 1 € coins go to the cash box
    await r.run(r.coin.tubeLevels());
    r.emu.injectReplyFault({ when: changerData, fault: { kind: 'noise', text: '~' } });
    r.fakeCoin.insert(100);
    await r.clock.advance(2000);
    expect(r.fakeCoin.cashbox[100]).toBe(1);
    expect(coins(r.coinEvents)).toEqual([]);
    const advisory = faults(r.coinEvents);
    expect(advisory).toEqual([expect.objectContaining({ type: 'fault', code: 'COIN_REPLY_LOST', advisory: true })]);
    expect(JSON.stringify(advisory)).toMatch(/cash box/);
    await r.stop();
  });

  it('a stray p,5301 with no coin inserted credits nothing', async () => {
    const r = await coinRig();
    // unasked, between exchanges
    r.emu.sendLine('p,5301');
    await r.clock.advance(500);
    // and in place of a real (empty) POLL answer
    r.emu.injectReplyFault({ when: (cmd, reply) => cmd === 'R,0B' && reply === 'p,ACK', fault: { kind: 'strayBefore', line: 'p,5301' } });
    await r.clock.advance(2000);
    expect(coins(r.coinEvents)).toEqual([]);
    expect(faults(r.coinEvents)).toEqual([]);
    expect(r.fakeCoin.tubes[50]).toBe(10);
    expect(r.tracer.recent().some((t) => t.raw === 'p,5301' && t.error === 'unsolicited line')).toBe(true);
    await r.stop();
  });

  it('a stray deposit line standing in for a lost POLL answer credits nothing: its tube count does not follow', async () => {
    const r = await coinRig();
    // 50c is coin type 3 with 10 in its tube: a real report would say 11 (0Bh); this one says 1.
    r.emu.injectReplyFault({ when: (cmd, reply) => cmd === 'R,0B' && reply === 'p,ACK', fault: { kind: 'replace', line: 'p,5301' } });
    await r.clock.advance(3000);
    expect(coins(r.coinEvents)).toEqual([]);
    expect(faults(r.coinEvents)).toEqual([]);
    expect(r.fakeCoin.tubes[50]).toBe(10);
    // A real coin after it is credited once.
    r.fakeCoin.insert(50);
    await r.clock.advance(3000);
    expect(coins(r.coinEvents)).toEqual([{ type: 'coin', value: 50, routing: 'tube' }]);
    expect(r.fakeCoin.tubes[50]).toBe(11);
    expect(faults(r.coinEvents)).toEqual([]);
    await r.stop();
  });

  it('a coin that lands while the reconciliation reads the tubes is credited once (its report is not lost, only late)', async () => {
    const r = await coinRig();
    r.emu.injectReplyFault({ when: changerData, fault: { kind: 'noise', text: '~' } });
    r.fakeCoin.insert(50);
    // the second coin lands just before TUBE STATUS is answered; its report waits for the next POLL
    r.emu.injectReplyFault({
      when: (cmd) => cmd === 'R,0A',
      fault: { kind: 'noiseLine', text: '' },
    });
    await r.until(() => r.emu.lines.includes('R,0A'));
    r.fakeCoin.insert(50);
    await r.clock.advance(3000);
    expect(r.fakeCoin.tubes[50]).toBe(12);
    expect(coins(r.coinEvents)).toHaveLength(2);
    await r.stop();
  });
});

describe('bills whose reports are damaged on the serial line', () => {
  const billData = (cmd: string, reply: string): boolean => cmd === 'R,33' && /^p,9/.test(reply);

  it('the STACKED report lost: the bill seen in escrow is credited from the STACKER count', async () => {
    const r = mdbRig();
    await r.boot();
    await r.run(r.bill.setAcceptance([500, 1000]));
    r.fakeBill.insert(1000);
    await r.until(() => r.billEvents.some((e) => e.type === 'escrow'));
    r.emu.injectReplyFault({ when: (cmd, reply) => cmd === 'R,33' && reply.startsWith('p,8'), fault: { kind: 'noise', text: '~' } });
    await r.run(r.bill.stack());
    await r.clock.advance(3000);
    expect(r.fakeBill.stacker).toEqual([1000]);
    expect(r.billEvents.filter((e) => e.type !== 'fault')).toEqual([
      { type: 'escrow', value: 1000 },
      { type: 'stacked', value: 1000 },
    ]);
    expect(faults(r.billEvents)).toEqual([]);
    expect(r.bill.inEscrow).toBeUndefined();
    await r.stop();
  });

  it('the ESCROW report lost: the bill does not stay in limbo, it is handed back', async () => {
    const r = mdbRig();
    await r.boot();
    await r.run(r.bill.setAcceptance([500]));
    r.emu.injectReplyFault({ when: billData, fault: { kind: 'lose' } });
    r.fakeBill.insert(500);
    await r.clock.advance(3000);
    expect(r.fakeBill.escrowed).toBeUndefined();
    expect(r.fakeBill.returned).toEqual([500]);
    expect(r.fakeBill.stacker).toEqual([]);
    expect(r.billEvents.filter((e) => e.type === 'stacked')).toEqual([]);
    expect(faults(r.billEvents)).toEqual([]);
    await r.stop();
  });

  it('the RETURNED report lost: the escrow closes as returned, nothing credited', async () => {
    const r = mdbRig();
    await r.boot();
    await r.run(r.bill.setAcceptance([500]));
    r.fakeBill.insert(500);
    await r.until(() => r.billEvents.some((e) => e.type === 'escrow'));
    r.emu.injectReplyFault({ when: (cmd, reply) => cmd === 'R,33' && reply.startsWith('p,A'), fault: { kind: 'noise', text: '\u0000' } });
    await r.run(r.bill.returnBill());
    await r.clock.advance(40_000);
    expect(r.fakeBill.returned).toEqual([500]);
    expect(r.billEvents.filter((e) => e.type !== 'fault')).toEqual([
      { type: 'escrow', value: 500 },
      { type: 'returned', value: 500 },
    ]);
    expect(r.bill.inEscrow).toBeUndefined();
    await r.stop();
  });
});

describe('a stray or doubled ESCROW line (the validator holds one bill at a time, MDB 4.2 §6)', () => {
  const billAck = (cmd: string, reply: string): boolean => cmd === 'R,33' && reply === 'p,ACK';
  const moves = (r: Rig) => r.billEvents.filter((e) => e.type !== 'fault');

  it('a stray p,90 taken for a POLL answer, then a real bill: the phantom escrow is closed before the real one opens', async () => {
    const r = mdbRig();
    await r.boot();
    await r.run(r.bill.setAcceptance([500]));
    // Bill type 0 (500) in escrow, out of nowhere: indistinguishable from a real report.
    r.emu.injectReplyFault({ when: billAck, fault: { kind: 'replace', line: 'p,90' } });
    await r.until(() => r.billEvents.some((e) => e.type === 'escrow'));
    // The controller stacks it; the validator has nothing in escrow (INVALID ESCROW).
    await r.run(r.bill.stack());
    await r.clock.advance(3000);
    // A real 500 well within the 30 s a bill may take to move.
    r.fakeBill.insert(500);
    await r.until(() => r.billEvents.filter((e) => e.type === 'escrow').length >= 2);
    await r.run(r.bill.stack());
    await r.until(() => r.billEvents.some((e) => e.type === 'stacked'));
    await r.clock.advance(3000);
    expect(moves(r)).toEqual([
      { type: 'escrow', value: 500 },
      { type: 'returned', value: 500 },
      { type: 'escrow', value: 500 },
      { type: 'stacked', value: 500 },
    ]);
    expect(r.fakeBill.stacker).toEqual([500]);
    expect(r.fakeBill.escrowed).toBeUndefined();
    expect(r.bill.inEscrow).toBeUndefined();
    expect(faults(r.billEvents)).toEqual([]);
    await r.stop();
  });

  it('the ESCROW line again while the bill waits for the controller: one escrow, closed once', async () => {
    const r = mdbRig();
    await r.boot();
    await r.run(r.bill.setAcceptance([1000]));
    r.fakeBill.insert(1000);
    await r.until(() => r.billEvents.some((e) => e.type === 'escrow'));
    // A copy of the report (a late duplicate) taken for a later POLL's answer.
    r.emu.injectReplyFault({ when: billAck, fault: { kind: 'replace', line: 'p,91' } });
    await r.clock.advance(1000);
    expect(r.emu.replyFaultCount.replace).toBe(1);
    await r.run(r.bill.stack());
    await r.until(() => r.billEvents.some((e) => e.type === 'stacked'));
    await r.clock.advance(3000);
    expect(moves(r)).toEqual([
      { type: 'escrow', value: 1000 },
      { type: 'stacked', value: 1000 },
    ]);
    expect(r.fakeBill.stacker).toEqual([1000]);
    expect(r.bill.inEscrow).toBeUndefined();
    expect(faults(r.billEvents)).toEqual([]);
    await r.stop();
  });
});

describe('card exchanges whose answers are damaged on the serial line', () => {
  const cardPoll = (first: string) => (cmd: string, reply: string): boolean => cmd === 'R,12' && reply.startsWith(`p,${first}`);
  const cardFaults = (r: Rig) => r.cardEvents.filter((e) => e.type === 'fault');

  async function cardSession(r: Rig): Promise<void> {
    await r.boot();
    await r.run(r.card.enable(true));
    expect(r.fakeCard.tap()).toBe(true);
    await r.until(() => r.cardEvents.some((e) => e.type === 'sessionBegin'));
  }

  it('VEND APPROVED lost: never taken as approved; the vend is cancelled, reported denied, nothing charged', async () => {
    const r = mdbRig();
    await cardSession(r);
    r.emu.injectReplyFault({ when: cardPoll('05'), fault: { kind: 'noise', text: '~' } });
    await r.run(r.card.requestVend(150, 5));
    await r.until(() => r.cardEvents.some((e) => e.type === 'vendDenied'), 5000);
    expect(r.cardEvents.some((e) => e.type === 'vendApproved')).toBe(false);
    expect(r.emu.lines).toContain('R,13,01'); // VEND CANCEL
    await r.clock.advance(2000);
    expect(r.fakeCard.charged).toBe(0);
    expect(r.card.sessionState).toBe('idle');
    expect(cardFaults(r)).toEqual([]);
    await r.run(r.card.endSession());
    expect(r.emu.reader?.state).toBe('enabled');
    await r.stop();
  });

  it('VEND REQUEST answer garbled: reported denied, cancelled on the reader, nothing charged', async () => {
    const r = mdbRig();
    await cardSession(r);
    r.emu.injectReplyFault({ when: (cmd) => cmd.startsWith('R,13,00'), fault: { kind: 'strayBefore', line: 'p,ACK' } });
    await r.run(r.card.requestVend(150, 5));
    await r.until(() => r.cardEvents.some((e) => e.type === 'vendDenied'), 5000);
    await r.clock.advance(2000);
    expect(r.cardEvents.some((e) => e.type === 'vendApproved')).toBe(false);
    expect(r.fakeCard.charged).toBe(0);
    expect(cardFaults(r)).toEqual([]);
    await r.stop();
  });

  it('VEND SUCCESS answer lost: sent again, charged exactly once, no out-of-sequence fault', async () => {
    const r = mdbRig();
    await cardSession(r);
    await r.run(r.card.requestVend(150, 5));
    await r.until(() => r.cardEvents.some((e) => e.type === 'vendApproved'));
    r.emu.injectReplyFault({ when: (cmd) => cmd.startsWith('R,13,02'), fault: { kind: 'noise', text: '\u0000' } });
    await r.run(r.card.vendSucceeded(5));
    await r.clock.advance(1000);
    expect(r.emu.lines.filter((l) => l.startsWith('R,13,02'))).toHaveLength(2);
    expect(r.fakeCard.charged).toBe(150);
    expect(cardFaults(r)).toEqual([]);
    await r.run(r.card.endSession());
    await r.stop();
  });

  it('BEGIN SESSION lost: the reader is not left in a session the machine does not know; the next tap works', async () => {
    const r = mdbRig();
    await r.boot();
    await r.run(r.card.enable(true));
    r.emu.injectReplyFault({ when: cardPoll('03'), fault: { kind: 'lose' } });
    expect(r.fakeCard.tap()).toBe(true);
    await r.clock.advance(3000);
    expect(r.cardEvents.some((e) => e.type === 'sessionBegin')).toBe(false);
    expect(r.emu.reader?.state).toBe('enabled');
    expect(r.fakeCard.session).toBe('none');
    expect(r.fakeCard.tap()).toBe(true);
    await r.until(() => r.cardEvents.some((e) => e.type === 'sessionBegin'));
    expect(cardFaults(r)).toEqual([]);
    await r.stop();
  });
});

describe('payouts whose answers are damaged on the serial line', () => {
  it('tubes that drop by more than the payout asked: only what DISPENSE named is booked paid, the rest is reported', async () => {
    const r = await coinRig();
    // Three 100c coins leave the tube without a report while the payout runs (the changer's own
    // count going wrong looks the same from here).
    r.clock.setTimeout(() => {
      r.fakeCoin.tubes[100] = (r.fakeCoin.tubes[100] ?? 0) - 3;
    }, 50);
    const result = await r.run(r.coin.dispense({ 50: 2 }));
    expect(result.paid).toEqual({ 50: 2 });
    expect(result.complete).toBe(true);
    expect(r.fakeCoin.cup).toEqual([50, 50]);
    const advisories = faults(r.coinEvents).filter((e) => e.type === 'fault' && e.code === 'COIN_REPLY_LOST');
    expect(advisories).toHaveLength(1);
    await r.stop();
  });

  it('DISPENSE answer garbled: what really left the tubes is what is reported', async () => {
    const r = await coinRig();
    r.emu.injectReplyFault({ when: (cmd) => cmd.startsWith('R,0D'), fault: { kind: 'noise', text: '~' } });
    const result = await r.run(r.coin.dispense({ 50: 2 }));
    expect(r.fakeCoin.cup).toEqual([50, 50]);
    expect(result.paid).toEqual({ 50: 2 });
    expect(result.complete).toBe(true);
    expect(r.emu.lines.filter((l) => l.startsWith('R,0D'))).toHaveLength(1); // never sent twice
    await r.stop();
  });

  it('DISPENSE answer lost and the changer jams after one coin: one coin reported paid, the rest short', async () => {
    const r = await coinRig();
    r.fakeCoin.jamAfter = 1;
    r.emu.injectReplyFault({ when: (cmd) => cmd.startsWith('R,0D'), fault: { kind: 'lose' } });
    const result = await r.run(r.coin.dispense({ 50: 3 }));
    expect(r.fakeCoin.cup).toEqual([50]);
    expect(result.paid).toEqual({ 50: 1 });
    expect(result.complete).toBe(false);
    await r.stop();
  });

  it('a POLL answer lost during a payout while a coin is deposited: paid counted from the tubes, the doubt reported', async () => {
    const r = await coinRig();
    const p = r.run(r.coin.dispense({ 100: 3 }));
    await r.until(() => r.emu.lines.some((l) => l.startsWith('R,0D')));
    r.emu.injectReplyFault({ when: changerData, fault: { kind: 'noise', text: '~' }, times: 3 });
    r.fakeCoin.insert(50);
    const result = await p;
    await r.clock.advance(2000);
    expect(r.fakeCoin.cup).toEqual([100, 100, 100]);
    expect(result.paid).toEqual({ 100: 3 });
    // the 50c coin landed in its tube during the payout, its report lost: credited once after it
    expect(coins(r.coinEvents)).toEqual([{ type: 'coin', value: 50, routing: 'tube' }]);
    await r.stop();
  });
});
