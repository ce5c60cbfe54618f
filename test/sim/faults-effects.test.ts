import { describe, expect, it } from 'vitest';
import { BEAM_BREAK_MS } from '../../sim/devices/drop.ts';
import { record, rig, settle, values, type Rig } from './helpers.ts';

function balanced(r: Rig): void {
  expect(r.sim.world.totalMoney()).toBe(r.sim.world.expectedTotalMoney());
  expect(r.sim.world.machineCash()).toBe(r.sim.world.expectedMachineCash());
}

describe('coin faults', () => {
  it('coin-jam: coins stick uncredited with one COIN_JAM; clearing drops them into the cup', async () => {
    const r = rig();
    const coin = r.sim.devices.coin;
    await coin.setAcceptance([10, 50]);
    const events = record(coin.events$, r.clock);
    r.sim.faults.inject('coin-jam');
    const a = settle(coin.insertCoin(50));
    const b = settle(coin.insertCoin(10));
    await r.clock.advance(300);
    expect([a.result(), b.result()]).toEqual([
      { ok: true, value: 'jammed' },
      { ok: true, value: 'jammed' },
    ]);
    expect(values(events)).toEqual([{ type: 'fault', code: 'COIN_JAM' }]);
    expect(r.sim.world.stuck.coins).toEqual({ 10: 1, 50: 1 });
    expect(r.sim.world.inserted).toBe(0);
    balanced(r);
    r.sim.faults.clear('coin-jam');
    expect(values(events)[1]).toEqual({ type: 'fault', code: 'COIN_JAM', cleared: true });
    expect(r.sim.world.cup).toEqual({ 10: 1, 50: 1 });
    expect(r.sim.world.stuck.coins).toEqual({ 10: 0, 50: 0 });
    balanced(r);
    void coin.insertCoin(10);
    await r.clock.advance(300);
    expect(values(events)[2]).toEqual({ type: 'coin', value: 10, routing: 'tube' });
  });

  it('coin-jam cleared before any coin stuck emits nothing', () => {
    const r = rig();
    const events = record(r.sim.devices.coin.events$, r.clock);
    r.sim.faults.inject('coin-jam');
    r.sim.faults.clear('coin-jam');
    expect(events).toEqual([]);
  });

  it('tube-empty: reported level unchanged, payout stops at once with TUBE_EMPTY, money kept; clear restores', async () => {
    const r = rig();
    const coin = r.sim.devices.coin;
    r.sim.faults.inject('tube-empty 50');
    expect(r.sim.world.tubes[50]).toBe(0);
    expect((await coin.tubeLevels())[50]).toBe(5);
    balanced(r);
    const payout = settle(coin.dispense({ 50: 2 }));
    await r.clock.runAll();
    expect(payout.result()).toEqual({ ok: true, value: { paid: {}, complete: false, faultCode: 'TUBE_EMPTY' } });
    expect(r.sim.world.cup).toEqual({});
    const events = record(coin.events$, r.clock);
    r.sim.faults.clear('tube-empty 50');
    expect(r.sim.world.tubes[50]).toBe(5);
    expect(values(events)).toEqual([{ type: 'tubes', levels: { 5: 10, 10: 10, 20: 10, 50: 5, 100: 2, 200: 0 } }]);
    balanced(r);
  });

  it('tube-empty: a coin inserted meanwhile lands in the (physically empty) tube and can be paid', async () => {
    const r = rig();
    const coin = r.sim.devices.coin;
    await coin.setAcceptance([50]);
    r.sim.faults.inject('tube-empty 50');
    void coin.insertCoin(50);
    await r.clock.advance(300);
    expect((await coin.tubeLevels())[50]).toBe(6);
    const payout = settle(coin.dispense({ 50: 2 }));
    await r.clock.runAll();
    expect(payout.result()).toEqual({ ok: true, value: { paid: { 50: 1 }, complete: false, faultCode: 'TUBE_EMPTY' } });
    balanced(r);
  });

  it('tube-count-wrong: reported level differs from the physical one by n (clamped at 0)', async () => {
    const r = rig();
    r.sim.faults.inject('tube-count-wrong 10 +3');
    r.sim.faults.inject('tube-count-wrong 100 -5');
    const levels = await r.sim.devices.coin.tubeLevels();
    expect(levels[10]).toBe(13);
    expect(levels[100]).toBe(0);
    expect(r.sim.world.tubes[10]).toBe(10);
    expect(r.sim.world.tubes[100]).toBe(2);
    const payout = settle(r.sim.devices.coin.dispense({ 100: 1 }));
    await r.clock.runAll();
    expect(payout.result()).toMatchObject({ ok: true, value: { paid: { 100: 1 }, complete: true } });
    r.sim.faults.clear('tube-count-wrong');
    expect((await r.sim.devices.coin.tubeLevels())[10]).toBe(10);
  });

  it('payout-short n: the next payout stops after n coins with PAYOUT_JAM; the one after is whole', async () => {
    const r = rig();
    const coin = r.sim.devices.coin;
    r.sim.faults.inject('payout-short 2');
    const first = settle(coin.dispense({ 10: 3, 5: 1 }));
    await r.clock.runAll();
    expect(first.result()).toEqual({ ok: true, value: { paid: { 10: 2 }, complete: false, faultCode: 'PAYOUT_JAM' } });
    expect(r.sim.world.cup).toEqual({ 10: 2 });
    expect(r.sim.faults.active()).toEqual([]);
    const second = settle(coin.dispense({ 5: 2 }));
    await r.clock.runAll();
    expect(second.result()).toEqual({ ok: true, value: { paid: { 5: 2 }, complete: true } });
    balanced(r);
  });

  it('payout-short 0 pays nothing; a plan no longer than n completes', async () => {
    const r = rig();
    r.sim.faults.inject('payout-short 0');
    const none = settle(r.sim.devices.coin.dispense({ 20: 1 }));
    await r.clock.runAll();
    expect(none.result()).toEqual({ ok: true, value: { paid: {}, complete: false, faultCode: 'PAYOUT_JAM' } });
    r.sim.faults.inject('payout-short 2');
    const whole = settle(r.sim.devices.coin.dispense({ 20: 2 }));
    await r.clock.runAll();
    expect(whole.result()).toEqual({ ok: true, value: { paid: { 20: 2 }, complete: true } });
  });
});

describe('dispenser and drop faults', () => {
  it('motor-stall: no homeLeft; stalled after 3 × motorStartMs; the motor stays energised until motorOff', async () => {
    const r = rig();
    const disp = r.sim.devices.dispenser;
    const events = record(disp.events$, r.clock);
    r.sim.faults.inject('motor-stall A1');
    await disp.motorOn('A1');
    await r.clock.advance(5000);
    expect(events).toEqual([{ at: 3 * r.config.sim.timing.motorStartMs, value: { type: 'stalled', column: 'A1' } }]);
    expect(r.sim.world.motor.running).toBe('A1');
    expect(r.sim.world.spirals.get('A1')?.count).toBe(3);
    await disp.motorOff();
    // Other columns are fine.
    await disp.motorOn('B1');
    await r.clock.advance(2700);
    expect(values(events).slice(1)).toEqual([
      { type: 'homeLeft', column: 'B1' },
      { type: 'homeReached', column: 'B1' },
    ]);
  });

  it('motor-stall once: only the next run stalls', async () => {
    const r = rig();
    const disp = r.sim.devices.dispenser;
    const events = record(disp.events$, r.clock);
    r.sim.faults.inject('motor-stall A1', { once: true });
    await disp.motorOn('A1');
    await r.clock.advance(600);
    await disp.motorOff();
    await disp.motorOn('A1');
    await r.clock.advance(2700);
    await disp.motorOff();
    expect(values(events).map((e) => e.type)).toEqual(['stalled', 'homeLeft', 'homeReached']);
  });

  it('motor-no-home: leaves home, never returns, nothing falls; after clearing, the next run finishes the turn', async () => {
    const r = rig();
    const disp = r.sim.devices.dispenser;
    const events = record(disp.events$, r.clock);
    r.sim.faults.inject('motor-no-home A1');
    await disp.motorOn('A1');
    await r.clock.advance(20_000);
    expect(values(events)).toEqual([{ type: 'homeLeft', column: 'A1' }]);
    expect(r.sim.world.motor.away.has('A1')).toBe(true);
    await disp.motorOff();
    await r.clock.runAll();
    expect(r.sim.world.bin).toEqual([]);
    r.sim.faults.clear('motor-no-home A1');
    const t0 = r.clock.now();
    await disp.motorOn('A1');
    await r.clock.advance(r.config.sim.timing.motorRevolutionMs / 2);
    expect(events[1]).toEqual({ at: t0 + r.config.sim.timing.motorRevolutionMs / 2, value: { type: 'homeReached', column: 'A1' } });
    expect(r.sim.world.spirals.get('A1')?.count).toBe(2);
  });

  it('drop-blocked: the beam goes broken at once and stays so through a vend; clear frees it', async () => {
    const r = rig();
    const beam = record(r.sim.devices.drop.beam$, r.clock);
    r.sim.faults.inject('drop-blocked');
    expect(r.sim.world.beam).toBe(true);
    await r.sim.devices.dispenser.motorOn('A1');
    await r.clock.advance(2700);
    await r.sim.devices.dispenser.motorOff();
    await r.clock.runAll();
    expect(r.sim.world.bin).toHaveLength(1);
    expect(values(beam)).toEqual([false, true]);
    r.sim.faults.clear('drop-blocked');
    expect(values(beam)).toEqual([false, true, false]);
  });

  it('drop-blind: the product falls into the bin but the beam never breaks', async () => {
    const r = rig();
    const beam = record(r.sim.devices.drop.beam$, r.clock);
    r.sim.faults.inject('drop-blind');
    await r.sim.devices.dispenser.motorOn('A1');
    await r.clock.advance(2700);
    await r.sim.devices.dispenser.motorOff();
    await r.clock.runAll();
    expect(r.sim.world.bin).toEqual([{ column: 'A1', product: 'Crisps' }]);
    expect(values(beam)).toEqual([false]);
  });

  it('drop-blind once: only the next drop goes unseen', async () => {
    const r = rig();
    const beam = record(r.sim.devices.drop.beam$, r.clock);
    r.sim.faults.inject('drop-blind', { once: true });
    await r.sim.devices.dispenser.motorOn('A1');
    await r.clock.advance(2 * 2700);
    await r.sim.devices.dispenser.motorOff();
    await r.clock.runAll();
    expect(r.sim.world.bin).toHaveLength(2);
    expect(values(beam)).toEqual([false, true, false]);
  });

  it('spiral-empty: the motor turns but nothing falls; clear puts the products back', async () => {
    const r = rig();
    r.sim.faults.inject('spiral-empty B1');
    expect(r.sim.world.spirals.get('B1')).toMatchObject({ count: 0, hidden: 4 });
    const events = record(r.sim.devices.dispenser.events$, r.clock);
    await r.sim.devices.dispenser.motorOn('B1');
    await r.clock.advance(2700);
    await r.sim.devices.dispenser.motorOff();
    await r.clock.runAll();
    expect(values(events).map((e) => e.type)).toEqual(['homeLeft', 'homeReached']);
    expect(r.sim.world.bin).toEqual([]);
    r.sim.faults.clear('spiral-empty B1');
    expect(r.sim.world.spirals.get('B1')).toMatchObject({ count: 4, hidden: 0 });
  });
});

describe('bill and card faults', () => {
  it('bill-jam: stack rejects BILL_JAM with a fault event, no stacked; clear returns the bill to the wallet', async () => {
    const r = rig();
    const bill = r.sim.devices.bill;
    if (!bill) throw new Error('bill validator expected');
    await bill.setAcceptance([500]);
    void bill.insertBill(500);
    await r.clock.advance(1500);
    r.sim.faults.inject('bill-jam');
    const events = record(bill.events$, r.clock);
    const stacking = settle(bill.stack());
    await r.clock.advance(800);
    expect(stacking.result()).toMatchObject({ ok: false, error: { code: 'BILL_JAM', device: 'bill' } });
    expect(values(events)).toEqual([{ type: 'fault', code: 'BILL_JAM' }]);
    expect(r.sim.world.stuck.bills).toEqual({ 500: 1 });
    expect(r.sim.world.escrow).toBeNull();
    expect(r.sim.world.inserted).toBe(0);
    balanced(r);
    await expect(bill.insertBill(1000)).resolves.toBe('refused');
    r.sim.faults.clear('bill-jam');
    expect(values(events).slice(1)).toEqual([
      { type: 'fault', code: 'BILL_JAM', cleared: true },
      { type: 'returned', value: 500 },
    ]);
    expect(r.sim.world.wallet.bills[500]).toBe(1);
    balanced(r);
  });

  it('card-declined: a covered vend is denied', async () => {
    const r = rig();
    const card = r.sim.devices.card;
    if (!card) throw new Error('card reader expected');
    await card.enable(true);
    card.tapCard(5000);
    r.sim.faults.inject('card-declined');
    const events = record(card.events$, r.clock);
    await card.requestVend(100, 1);
    await r.clock.advance(800);
    expect(values(events)).toEqual([{ type: 'vendDenied' }]);
    expect(r.sim.world.card.approved).toBe(0);
  });

  it('card-timeout: a vend request is never answered; vendFailed cancels it', async () => {
    const r = rig();
    const card = r.sim.devices.card;
    if (!card) throw new Error('card reader expected');
    await card.enable(true);
    card.tapCard();
    r.sim.faults.inject('card-timeout', { once: true });
    const events = record(card.events$, r.clock);
    await card.requestVend(100, 1);
    await r.clock.advance(60_000);
    expect(events).toEqual([]);
    expect(card.sessionState).toBe('pending');
    await card.vendFailed();
    await card.requestVend(100, 1);
    await r.clock.advance(800);
    expect(values(events)).toEqual([{ type: 'vendApproved', amount: 100 }]);
  });
});

describe('faults scheduled on the virtual clock', () => {
  it('a fault injected with `at` takes effect at that time', async () => {
    const r = rig();
    r.sim.faults.inject('offline keypad', { at: 1000 });
    const keys = record(r.sim.devices.keypad.keys$, r.clock);
    r.sim.devices.keypad.press('A');
    await r.clock.advance(1000);
    expect(r.sim.devices.keypad.press('B')).toBe(false);
    expect(values(keys)).toEqual(['A']);
  });
});

describe('offline', () => {
  it('every device goes offline and back, replaying its link state', () => {
    const r = rig();
    const names = ['coin', 'bill', 'card', 'keypad', 'display', 'dispenser', 'drop', 'door'] as const;
    for (const name of names) {
      const device = r.sim.devices[name];
      if (!device) throw new Error(`${name} expected`);
      const link = record(device.link$, r.clock);
      r.sim.faults.inject(`offline ${name}`);
      expect(device.online).toBe(false);
      r.sim.faults.clear(`offline ${name}`);
      expect(values(link).map((l) => l.status)).toEqual(['online', 'offline', 'online']);
    }
  });

  it('commands reject DEVICE_OFFLINE on every device', async () => {
    const r = rig();
    for (const name of ['coin', 'bill', 'card', 'display', 'dispenser'] as const) r.sim.faults.inject(`offline ${name}`);
    const { coin, bill, card, display, dispenser } = r.sim.devices;
    if (!bill || !card) throw new Error('devices expected');
    const calls: Promise<unknown>[] = [
      coin.setAcceptance([10]),
      coin.tubeLevels(),
      coin.dispense({ 10: 1 }),
      bill.setAcceptance([500]),
      bill.stack(),
      bill.returnBill(),
      card.enable(true),
      card.requestVend(100, 1),
      card.vendSucceeded(1),
      card.vendFailed(),
      card.endSession(),
      display.show(['X']),
      dispenser.motorOn('A1'),
      dispenser.motorOff(),
    ];
    for (const call of calls) await expect(call).rejects.toMatchObject({ code: 'DEVICE_OFFLINE' });
    for (const name of ['coin', 'bill', 'card', 'display', 'dispenser'] as const) r.sim.faults.clear(`offline ${name}`);
    await expect(coin.tubeLevels()).resolves.toMatchObject({ 10: 10 });
    await expect(display.show(['X'])).resolves.toBeUndefined();
  });

  it('offline coin mech: coins fall through to the cup unreported; a running payout stops short', async () => {
    const r = rig();
    const coin = r.sim.devices.coin;
    await coin.setAcceptance([10]);
    const events = record(coin.events$, r.clock);
    const payout = settle(coin.dispense({ 5: 3 }));
    await r.clock.advance(150);
    r.sim.faults.inject('offline coin');
    const c = settle(coin.insertCoin(10));
    await r.clock.advance(1000);
    expect(payout.result()).toEqual({ ok: true, value: { paid: { 5: 1 }, complete: false, faultCode: 'DEVICE_OFFLINE' } });
    expect(c.result()).toEqual({ ok: true, value: 'rejected' });
    expect(events).toEqual([]);
    expect(r.sim.world.cup).toEqual({ 5: 1, 10: 1 });
    expect(coin.pressReturn()).toBe(false);
    r.sim.faults.clear('offline coin');
    // Settings survive the offline spell (the adapter re-initialises the device).
    void coin.insertCoin(10);
    await r.clock.advance(300);
    expect(values(events)).toEqual([{ type: 'coin', value: 10, routing: 'tube' }]);
    balanced(r);
  });

  it('offline bill validator: bills are refused; a stack in progress aborts, leaving the bill in escrow', async () => {
    const r = rig();
    const bill = r.sim.devices.bill;
    if (!bill) throw new Error('bill validator expected');
    await bill.setAcceptance([500, 1000]);
    void bill.insertBill(500);
    await r.clock.advance(1500);
    const stacking = settle(bill.stack());
    await r.clock.advance(400);
    r.sim.faults.inject('offline bill');
    await r.clock.advance(400);
    expect(stacking.result()).toMatchObject({ ok: false, error: { code: 'DEVICE_OFFLINE' } });
    expect(r.sim.world.escrow).toBe(500);
    await expect(bill.insertBill(1000)).resolves.toBe('refused');
    r.sim.faults.clear('offline bill');
    const again = settle(bill.stack());
    await r.clock.advance(800);
    expect(again.result()).toEqual({ ok: true, value: undefined });
    expect(r.sim.world.stacker).toEqual({ 500: 1 });
    balanced(r);
  });

  it('offline card reader: the session is lost and an approved vend is not charged', async () => {
    const r = rig();
    const card = r.sim.devices.card;
    if (!card) throw new Error('card reader expected');
    await card.enable(true);
    card.tapCard();
    await card.requestVend(100, 1);
    await r.clock.advance(800);
    r.sim.faults.inject('offline card');
    expect(card.sessionState).toBe('none');
    expect(r.sim.world.card).toMatchObject({ approved: 100, charged: 0, reverted: 100 });
    r.sim.faults.clear('offline card');
    const events = record(card.events$, r.clock);
    card.tapCard();
    expect(values(events)).toEqual([{ type: 'sessionBegin', funds: 500 }]);
  });

  it('offline card reader: a card tapped while offline begins its session when the link returns', () => {
    const r = rig();
    const card = r.sim.devices.card;
    if (!card) throw new Error('card reader expected');
    void card.enable(true);
    r.sim.faults.inject('offline card');
    const events = record(card.events$, r.clock);
    expect(card.tapCard()).toBe(false);
    expect(events).toEqual([]);
    r.sim.faults.clear('offline card');
    expect(values(events)).toEqual([{ type: 'sessionBegin', funds: 500 }]);
  });

  it('offline dispenser: the running motor stops where it is and reports nothing', async () => {
    const r = rig();
    const disp = r.sim.devices.dispenser;
    const events = record(disp.events$, r.clock);
    await disp.motorOn('A1');
    await r.clock.advance(1000);
    r.sim.faults.inject('offline dispenser');
    await r.clock.advance(10_000);
    expect(values(events)).toEqual([{ type: 'homeLeft', column: 'A1' }]);
    expect(r.sim.world.motor.running).toBeNull();
    expect(r.sim.world.motor.away.has('A1')).toBe(true);
    expect(r.sim.world.spirals.get('A1')?.count).toBe(3);
  });

  it('offline door and drop sensor: changes meanwhile are reported when the link returns', async () => {
    const r = rig();
    const door = record(r.sim.devices.door.door$, r.clock);
    const beam = record(r.sim.devices.drop.beam$, r.clock);
    r.sim.faults.inject('offline door');
    r.sim.faults.inject('offline drop');
    r.sim.devices.door.open();
    r.sim.faults.inject('drop-blocked');
    expect(values(door)).toEqual(['closed']);
    expect(values(beam)).toEqual([false]);
    r.sim.faults.clear('offline door');
    r.sim.faults.clear('offline drop');
    expect(values(door)).toEqual(['closed', 'open']);
    expect(values(beam)).toEqual([false, true]);
  });

  it('offline drop sensor: a product breaking the beam meanwhile goes unseen', async () => {
    const r = rig();
    const beam = record(r.sim.devices.drop.beam$, r.clock);
    r.sim.faults.inject('offline drop');
    await r.sim.devices.dispenser.motorOn('A1');
    await r.clock.advance(2700);
    await r.sim.devices.dispenser.motorOff();
    await r.clock.advance(r.config.sim.timing.dropFallMs + BEAM_BREAK_MS);
    r.sim.faults.clear('offline drop');
    expect(values(beam)).toEqual([false]);
    expect(r.sim.world.bin).toHaveLength(1);
  });
});
