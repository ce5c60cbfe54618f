import { describe, it, expect } from 'vitest';
import { isDeviceError } from '../../../src/ports/index.ts';
import type { CashlessEvent } from '../../../src/ports/index.ts';
import { mdbRig } from './harness.ts';
import type { Rig } from './harness.ts';

const kinds = (evs: readonly CashlessEvent[]) => evs.map((e) => e.type);

async function session(r: Rig, showFunds = true): Promise<void> {
  await r.run(r.card.enable(true));
  expect(r.fakeCard.tap(showFunds)).toBe(true);
  await r.until(() => r.cardEvents.some((e) => e.type === 'sessionBegin'));
}

describe('MdbCashless over the emulated board', () => {
  it('initialises: SETUP config → READER CONFIG, prices, request ID; enables on demand', async () => {
    const r = mdbRig();
    await r.boot();
    const lines = r.emu.lines.filter((l) => /^R,1[0-7]/.test(l));
    expect(lines.slice(0, 4)).toEqual(['R,12', 'R,11,0001000000', 'R,11,01FFFF0000', expect.stringMatching(/^R,17,00564D54/)]);
    expect(r.card.readerConfig).toEqual({ level: 1, currency: 0x1978, scaling: 1, decimals: 2, maxResponseSeconds: 5, options: 1 });
    expect(r.emu.reader?.state).toBe('disabled');
    await r.run(r.card.enable(true));
    expect(r.emu.lines.at(-1)).toBe('R,14,01');
    expect(r.emu.reader?.state).toBe('enabled');
    expect(r.fakeCard.enabled).toBe(true);
    await r.stop();
  });

  it('approved vend: begin session, VEND REQUEST, APPROVED, SUCCESS, SESSION COMPLETE, END SESSION', async () => {
    const r = mdbRig();
    await r.boot();
    await session(r);
    expect(r.cardEvents[0]).toEqual({ type: 'sessionBegin', funds: 500 });
    await r.run(r.card.requestVend(150, 5));
    await r.until(() => r.cardEvents.some((e) => e.type === 'vendApproved'));
    expect(r.cardEvents[1]).toEqual({ type: 'vendApproved', amount: 150 });
    await r.run(r.card.vendSucceeded(5));
    await r.run(r.card.endSession());
    expect(kinds(r.cardEvents)).toEqual(['sessionBegin', 'vendApproved', 'sessionEnded']);
    expect(r.fakeCard.charged).toBe(150);
    expect(r.fakeCard.reverted).toBe(0);
    const vend = r.emu.lines.filter((l) => l.startsWith('R,13'));
    expect(vend).toEqual(['R,13,0000960005', 'R,13,020005', 'R,13,04']);
    expect(r.card.sessionState).toBe('none');
    await r.stop();
  });

  it('unknown funds (FFFF) come through as null', async () => {
    const r = mdbRig();
    await r.boot();
    await session(r, false);
    expect(r.cardEvents[0]).toEqual({ type: 'sessionBegin', funds: null });
    await r.stop();
  });

  it('denied vend: VEND DENIED, the session stays open for another try', async () => {
    const r = mdbRig({ cardBalance: 100 });
    await r.boot();
    await session(r);
    await r.run(r.card.requestVend(150, 2));
    await r.until(() => r.cardEvents.some((e) => e.type === 'vendDenied'));
    expect(r.card.sessionState).toBe('idle');
    await r.run(r.card.requestVend(100, 3));
    await r.until(() => r.cardEvents.some((e) => e.type === 'vendApproved'));
    await r.run(r.card.vendSucceeded(3));
    await r.run(r.card.endSession());
    expect(kinds(r.cardEvents)).toEqual(['sessionBegin', 'vendDenied', 'vendApproved', 'sessionEnded']);
    expect(r.fakeCard.charged).toBe(100);
    await r.stop();
  });

  it('failed vend after approval: VEND FAILURE, refund confirmed, nothing charged', async () => {
    const r = mdbRig();
    await r.boot();
    await session(r);
    await r.run(r.card.requestVend(200, 1));
    await r.until(() => r.cardEvents.some((e) => e.type === 'vendApproved'));
    await r.run(r.card.vendFailed());
    expect(r.emu.lines).toContain('R,13,03');
    expect(r.fakeCard.charged).toBe(0);
    expect(r.fakeCard.reverted).toBe(200);
    await r.run(r.card.endSession());
    expect(kinds(r.cardEvents)).toEqual(['sessionBegin', 'vendApproved', 'sessionEnded']);
    await r.stop();
  });

  it('giving up before the answer sends VEND CANCEL; the late approval is not charged', async () => {
    const r = mdbRig();
    await r.boot();
    await session(r);
    await r.run(r.card.requestVend(150, 4));
    await r.run(r.card.vendFailed());
    expect(r.emu.lines).toContain('R,13,01');
    await r.clock.advance(3000); // past the fake's 800 ms approval time
    expect(kinds(r.cardEvents)).toEqual(['sessionBegin']); // the reader's VEND DENIED is ours, not news
    expect(r.fakeCard.charged).toBe(0);
    expect(r.fakeCard.approved - r.fakeCard.reverted).toBe(0);
    await r.stop();
  });

  it('the customer cancels on the reader: SESSION CANCEL REQUEST → sessionCancel → end', async () => {
    const r = mdbRig();
    await r.boot();
    await session(r);
    r.fakeCard.cancel();
    await r.until(() => r.cardEvents.some((e) => e.type === 'sessionCancel'));
    await r.run(r.card.endSession());
    expect(kinds(r.cardEvents)).toEqual(['sessionBegin', 'sessionCancel', 'sessionEnded']);
    await r.stop();
  });

  it('refuses a vend without a session and a success without an approval', async () => {
    const r = mdbRig();
    await r.boot();
    const n = r.emu.lines.length;
    const e1 = await r.fails(r.card.requestVend(100, 1));
    expect(isDeviceError(e1) && e1.code).toBe('DEVICE_REJECTED');
    const e2 = await r.fails(r.card.vendSucceeded(1));
    expect(isDeviceError(e2) && e2.code).toBe('DEVICE_REJECTED');
    expect(r.emu.lines.slice(n).some((l) => l.startsWith('R,13'))).toBe(false);
    await session(r);
    const e3 = await r.fails(r.card.requestVend(0.5, 1));
    expect(isDeviceError(e3) && e3.code).toBe('DEVICE_REJECTED');
    await r.stop();
  });

  it('services several messages of one POLL in order (VEND DENIED + MALFUNCTION + SESSION CANCEL)', async () => {
    const r = mdbRig();
    await r.boot();
    await session(r);
    await r.run(r.card.requestVend(150, 9));
    // the reader says three things between two POLLs
    r.fakeCard.events.next({ type: 'vendDenied' });
    r.fakeCard.events.next({ type: 'fault', code: 'CARD_ERROR' });
    r.fakeCard.events.next({ type: 'sessionCancel' });
    await r.until(() => r.cardEvents.some((e) => e.type === 'sessionCancel'));
    expect(r.cardEvents.slice(1)).toEqual([{ type: 'vendDenied' }, { type: 'fault', code: 'CARD_MALFUNCTION_01' }, { type: 'sessionCancel' }]);
    // one reply with the three messages; the trace keeps the first response code and the length only
    expect(r.tracer.recent().some((t) => t.raw === 'p,06******' && t.meaning === 'cashless POLL: vendDenied, malfunction 01, sessionCancelRequest')).toBe(true);
    await r.stop();
  });

  it('no END SESSION after SESSION COMPLETE: the reader is RESET (MDB 4.2 §7.4.9) and the session ends', async () => {
    const r = mdbRig();
    await r.boot();
    await session(r);
    const ended = r.run(r.card.endSession(), 20_000);
    // the reader ACKs SESSION COMPLETE, then goes quiet
    await r.until(() => r.tracer.recent().some((t) => t.dir === 'rx' && t.meaning?.startsWith('cashless SESSION COMPLETE')));
    r.emu.reader?.mute(true);
    await ended;
    expect(kinds(r.cardEvents)).toEqual(['sessionBegin', 'sessionEnded']);
    expect(r.emu.lines.filter((l) => l === 'R,10').length).toBeGreaterThanOrEqual(1);
    r.emu.reader?.mute(false);
    await r.until(() => r.card.state === 'ready' && r.emu.reader?.state === 'enabled', 30_000);
    await r.stop();
  });

  it('a reader that resets itself mid-session: fault, session ended, re-initialised and re-enabled', async () => {
    const r = mdbRig();
    await r.boot();
    await session(r);
    r.emu.reader?.powerCycle();
    await r.until(() => r.cardEvents.some((e) => e.type === 'sessionEnded'));
    expect(r.cardEvents.slice(1)).toEqual([{ type: 'fault', code: 'READER_RESET' }, { type: 'sessionEnded' }]);
    await r.until(() => r.card.state === 'ready' && r.emu.reader?.state === 'enabled');
    expect(r.cardEvents.slice(3)).toEqual([{ type: 'fault', code: 'READER_RESET', cleared: true }]);
    await r.stop();
  });

  it('uses the reader’s Z7 response time as its non-response time when it is longer than 5 s', async () => {
    const r = mdbRig({ emulator: { cashless: { maxResponseSeconds: 8 } } });
    await r.boot();
    r.emu.reader?.mute(true);
    await r.clock.advance(7000);
    expect(r.card.link.status).toBe('online');
    await r.until(() => r.card.link.status === 'offline');
    expect(r.card.link).toMatchObject({ reason: 'no response for 8000 ms' });
    await r.stop();
  });

  it('keeps card data out of the trace: funds and approved amounts masked, message names and lengths kept', async () => {
    const r = mdbRig({ cardBalance: 1234 });
    await r.boot();
    await session(r);
    await r.run(r.card.requestVend(150, 5));
    await r.until(() => r.cardEvents.some((e) => e.type === 'vendApproved'));
    await r.run(r.card.vendSucceeded(5));
    await r.run(r.card.endSession());
    expect(r.cardEvents.slice(0, 2)).toEqual([
      { type: 'sessionBegin', funds: 1234 },
      { type: 'vendApproved', amount: 150 },
    ]);
    const rx = r.tracer.recent().filter((t) => t.dir === 'rx');
    const text = JSON.stringify(rx);
    // 1234 = 04D2 (BEGIN SESSION funds), 150 = 0096 (VEND APPROVED amount)
    for (const secret of ['04D2', '04d2', '1234', '0096', 'approved 150']) expect(text).not.toContain(secret);
    expect(rx.some((t) => t.raw === 'p,03****' && t.meaning === 'cashless POLL: begin session funds=***')).toBe(true);
    expect(rx.some((t) => t.raw === 'p,05****' && t.meaning === 'cashless POLL: vend approved ***')).toBe(true);
    // the changer's and validator's traffic is not masked
    expect(rx.some((t) => /^p,[0-9A-F]{4,}$/.test(t.raw) && t.meaning?.startsWith('changer'))).toBe(true);
    await r.stop();
  });

  it('a VEND FAILURE asked while VEND SUCCESS is on its way is refused: the delivered product stays charged', async () => {
    const r = mdbRig();
    await r.boot();
    await session(r);
    await r.run(r.card.requestVend(150, 5));
    await r.until(() => r.cardEvents.some((e) => e.type === 'vendApproved'));
    const success = r.card.vendSucceeded(5);
    const failure = r.card.vendFailed();
    await r.run(Promise.all([success, failure]));
    await r.clock.advance(1000);
    expect(r.emu.lines.filter((l) => l.startsWith('R,13,0'))).toEqual(['R,13,0000960005', 'R,13,020005']);
    expect(r.fakeCard.charged).toBe(150);
    expect(r.fakeCard.reverted).toBe(0);
    expect(r.cardEvents.filter((e) => e.type === 'fault')).toEqual([]);
    await r.stop();
  });
});
