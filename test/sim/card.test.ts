import { describe, expect, it } from 'vitest';
import type { SimCashless } from '../../sim/devices/card.ts';
import { record, rig, values } from './helpers.ts';

function cardOf(r: ReturnType<typeof rig>): SimCashless {
  const card = r.sim.devices.card;
  if (!card) throw new Error('test machine has a card reader');
  return card;
}

async function session(r: ReturnType<typeof rig>, balance?: number): Promise<SimCashless> {
  const card = cardOf(r);
  await card.enable(true);
  card.tapCard(balance);
  return card;
}

describe('SimCashless', () => {
  it('starts disabled: a tapped card begins a session only once the reader is enabled', async () => {
    const r = rig();
    const card = cardOf(r);
    const events = record(card.events$, r.clock);
    expect(card.tapCard()).toBe(false);
    expect(r.sim.world.card.present).toBe(true);
    expect(events).toEqual([]);
    await card.enable(true);
    await r.clock.advance(0);
    expect(values(events)).toEqual([{ type: 'sessionBegin', funds: 500 }]);
    expect(card.sessionState).toBe('idle');
  });

  it('a tap on an enabled reader begins a session with the given balance', async () => {
    const r = rig();
    const card = cardOf(r);
    await card.enable(true);
    const events = record(card.events$, r.clock);
    expect(card.tapCard(1234)).toBe(true);
    expect(values(events)).toEqual([{ type: 'sessionBegin', funds: 1234 }]);
  });

  it('approves a vend after cardApprovalMs when the balance covers it; success charges the card', async () => {
    const r = rig();
    const card = await session(r);
    const events = record(card.events$, r.clock);
    await card.requestVend(120, 11);
    const t = r.config.sim.timing.cardApprovalMs;
    await r.clock.advance(t - 1);
    expect(events).toEqual([]);
    await r.clock.advance(1);
    expect(events).toEqual([{ at: t, value: { type: 'vendApproved', amount: 120 } }]);
    await card.vendSucceeded(11);
    expect(r.sim.world.card).toMatchObject({ balance: 380, approved: 120, charged: 120, reverted: 0 });
  });

  it('denies a vend the balance does not cover', async () => {
    const r = rig();
    const card = await session(r, 100);
    const events = record(card.events$, r.clock);
    await card.requestVend(120, 1);
    await r.clock.advance(800);
    expect(values(events)).toEqual([{ type: 'vendDenied' }]);
    expect(card.sessionState).toBe('idle');
    expect(r.sim.world.card.approved).toBe(0);
  });

  it('vendFailed after approval charges nothing and counts it as reverted', async () => {
    const r = rig();
    const card = await session(r);
    await card.requestVend(200, 1);
    await r.clock.advance(800);
    await card.vendFailed();
    expect(r.sim.world.card).toMatchObject({ balance: 500, approved: 200, charged: 0, reverted: 200 });
    expect(r.sim.world.card.approved).toBe(r.sim.world.card.charged + r.sim.world.card.reverted);
  });

  it('endSession emits sessionEnded; an unsettled approval is reverted, not charged', async () => {
    const r = rig();
    const card = await session(r);
    await card.requestVend(150, 1);
    await r.clock.advance(800);
    const events = record(card.events$, r.clock);
    await card.endSession();
    await r.clock.advance(0);
    expect(values(events)).toEqual([{ type: 'sessionEnded' }]);
    expect(r.sim.world.card).toMatchObject({ charged: 0, reverted: 150, balance: 500 });
    expect(card.sessionState).toBe('none');
  });

  it('removing the card during a session asks for cancel', async () => {
    const r = rig();
    const card = await session(r);
    const events = record(card.events$, r.clock);
    card.removeCard();
    expect(values(events)).toEqual([{ type: 'sessionCancel' }]);
    expect(r.sim.world.card.present).toBe(false);
  });

  it('rejects commands out of sequence with DEVICE_REJECTED', async () => {
    const r = rig();
    const card = cardOf(r);
    await card.enable(true);
    await expect(card.requestVend(100, 1)).rejects.toMatchObject({ code: 'DEVICE_REJECTED' });
    await expect(card.vendSucceeded(1)).rejects.toMatchObject({ code: 'DEVICE_REJECTED' });
    await expect(card.vendFailed()).rejects.toMatchObject({ code: 'DEVICE_REJECTED' });
    card.tapCard();
    await card.requestVend(100, 1);
    await expect(card.requestVend(100, 1)).rejects.toMatchObject({ code: 'DEVICE_REJECTED' });
    await expect(card.vendSucceeded(1)).rejects.toMatchObject({ code: 'DEVICE_REJECTED' });
    await expect(card.requestVend(0, 1)).rejects.toMatchObject({ code: 'DEVICE_REJECTED' });
  });

  it('vendFailed while the answer is pending cancels the request: no answer comes later', async () => {
    const r = rig();
    const card = await session(r);
    const events = record(card.events$, r.clock);
    await card.requestVend(100, 1);
    await card.vendFailed();
    await r.clock.advance(5000);
    expect(events).toEqual([]);
    expect(r.sim.world.card.approved).toBe(0);
    expect(card.sessionState).toBe('idle');
  });

  it('a disabled reader does not start a session for a new tap', async () => {
    const r = rig();
    const card = cardOf(r);
    await card.enable(true);
    await card.enable(false);
    const events = record(card.events$, r.clock);
    expect(card.tapCard()).toBe(false);
    await r.clock.advance(1000);
    expect(events).toEqual([]);
    expect(card.isEnabled).toBe(false);
  });
});
