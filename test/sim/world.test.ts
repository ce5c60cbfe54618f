import { describe, expect, it } from 'vitest';
import { countsValue, World } from '../../sim/world.ts';
import { testConfig } from './helpers.ts';

function world(): World {
  return new World(testConfig());
}

function balanced(w: World): void {
  expect(w.totalMoney()).toBe(w.expectedTotalMoney());
  expect(w.machineCash()).toBe(w.expectedMachineCash());
}

describe('World', () => {
  it('starts from the config: tubes for every coin, spirals from the catalog, wallet, card', () => {
    const w = world();
    expect(w.tubes).toEqual({ 5: 10, 10: 10, 20: 10, 50: 5, 100: 2, 200: 0 });
    expect(w.initialFill).toBe(50 + 100 + 200 + 250 + 200);
    expect(w.machineCash()).toBe(w.initialFill);
    expect(w.spirals.get('A1')).toMatchObject({ product: 'Crisps', count: 3, capacity: 5 });
    expect(w.spirals.get('A2')?.count).toBe(0);
    expect(w.wallet.coins).toEqual({ 10: 3, 50: 2, 100: 2 });
    expect(w.card).toEqual({ present: false, balance: 500, approved: 0, charged: 0, reverted: 0 });
    expect(w.door).toBe('closed');
    expect(w.beam).toBe(false);
  });

  it('rejects a config whose tubes exceed their capacity, naming the field', () => {
    expect(() => new World(testConfig({ tubes: { '5': 30 }, tubeCapacity: 20 }))).toThrow(/sim\.tubes\.5: 30 coins exceed the tube capacity 20/);
  });

  it('moves a coin wallet → validator → tube and counts it inserted; totals balance', () => {
    const w = world();
    const total = w.totalMoney();
    expect(w.customerInserts('coin', 50)).toBe('wallet');
    expect(w.wallet.coins[50]).toBe(1);
    expect(w.inFlight.coins[50]).toBe(1);
    expect(w.totalMoney()).toBe(total);
    w.coinAccepted(50, 'tube');
    expect(w.tubes[50]).toBe(6);
    expect(w.inserted).toBe(50);
    balanced(w);
  });

  it('draws from the pocket when the wallet has none of a coin, and the total still balances', () => {
    const w = world();
    expect(w.customerInserts('coin', 200)).toBe('pocket');
    expect(w.pocketDraws).toBe(200);
    w.coinAccepted(200, 'cashbox');
    expect(w.cashbox[200]).toBe(1);
    balanced(w);
  });

  it('pays coins from the tube to the cup, refuses an empty tube, and the customer collects', () => {
    const w = world();
    expect(w.payCoin(100)).toBe(true);
    expect(w.payCoin(100)).toBe(true);
    expect(w.payCoin(100)).toBe(false);
    expect(w.cup).toEqual({ 100: 2 });
    expect(w.paidOut).toBe(200);
    balanced(w);
    expect(w.takeFromCup()).toEqual({ 100: 2 });
    expect(countsValue(w.cup)).toBe(0);
    expect(w.wallet.coins[100]).toBe(4);
    balanced(w);
  });

  it('keeps a bill in escrow out of the machine until stacked; return puts it back in the wallet', () => {
    const w = world();
    w.customerInserts('bill', 500);
    w.billToEscrow(500);
    expect(w.escrow).toBe(500);
    expect(w.machineCash()).toBe(w.initialFill);
    balanced(w);
    expect(w.returnEscrow()).toBe(500);
    expect(w.wallet.bills[500]).toBe(1);
    w.customerInserts('bill', 500);
    w.billToEscrow(500);
    expect(w.stackEscrow()).toBe(500);
    expect(w.stacker).toEqual({ 500: 1 });
    expect(w.inserted).toBe(500);
    balanced(w);
    expect(() => w.stackEscrow()).toThrow(/no bill in escrow/);
  });

  it('tracks stuck money: a jammed coin and bill are in neither the machine nor the wallet', () => {
    const w = world();
    w.customerInserts('coin', 10);
    w.coinStuck(10);
    w.customerInserts('bill', 1000);
    w.billToEscrow(1000);
    w.jamEscrow();
    expect(w.stuck.coins).toEqual({ 10: 1 });
    expect(w.stuck.bills).toEqual({ 1000: 1 });
    balanced(w);
    expect(w.releaseStuckCoins()).toEqual({ 10: 1 });
    expect(w.cup).toEqual({ 10: 1 });
    expect(w.releaseStuckBills()).toEqual({ 1000: 1 });
    expect(w.wallet.bills[1000]).toBe(1);
    balanced(w);
  });

  it('hides a tube (tube-empty model) without losing money: still machine cash, not payable', () => {
    const w = world();
    w.hideTube(50);
    expect(w.tubeCount(50)).toBe(0);
    expect(w.stuck.tubeCoins).toEqual({ 50: 5 });
    expect(w.payCoin(50)).toBe(false);
    balanced(w);
    w.restoreTube(50);
    expect(w.tubeCount(50)).toBe(5);
    balanced(w);
  });

  it('changes the expected totals only by service fill and removal', () => {
    const w = world();
    const before = w.totalMoney();
    w.fillTube(200, 5);
    expect(w.serviceFill).toBe(1000);
    expect(w.totalMoney()).toBe(before + 1000);
    balanced(w);
    w.customerInserts('coin', 100);
    w.coinAccepted(100, 'cashbox');
    w.customerInserts('bill', 500);
    w.billToEscrow(500);
    w.stackEscrow();
    expect(w.emptyCashbox()).toBe(100);
    expect(w.emptyStacker()).toBe(500);
    expect(w.serviceRemoved).toBe(600);
    balanced(w);
    expect(() => w.fillTube(200, 16)).toThrow(/exceeds its capacity 20/);
    expect(() => w.fillTube(3, 1)).toThrow(/not a coin/);
    expect(() => w.fillTube(5, -1)).toThrow(/whole number/);
  });

  it('moves products spiral → falling → bin; refill respects capacity', () => {
    const w = world();
    const item = w.productFalls('A1');
    expect(item).toEqual({ column: 'A1', product: 'Crisps' });
    expect(w.spirals.get('A1')?.count).toBe(2);
    expect(w.productFalls('A2')).toBeNull();
    if (!item) throw new Error('expected a product');
    w.productLands(item);
    expect(w.bin).toEqual([{ column: 'A1', product: 'Crisps' }]);
    expect(w.takeFromBin()).toEqual([{ column: 'A1', product: 'Crisps' }]);
    expect(w.bin).toEqual([]);
    w.refillSpiral('A2', 5);
    expect(w.spirals.get('A2')?.count).toBe(5);
    expect(() => w.refillSpiral('A2', 1)).toThrow(/capacity 5/);
    expect(() => w.refillSpiral('Z9', 1)).toThrow(/no spiral Z9/);
  });

  it('hides and restores a spiral (spiral-empty model)', () => {
    const w = world();
    w.hideSpiral('B1');
    expect(w.spirals.get('B1')).toMatchObject({ count: 0, hidden: 4 });
    expect(w.productFalls('B1')).toBeNull();
    w.restoreSpiral('B1');
    expect(w.spirals.get('B1')).toMatchObject({ count: 4, hidden: 0 });
  });

  it('snapshot() is plain JSON and carries the money figures', () => {
    const w = world();
    w.customerInserts('coin', 10);
    const snap = w.snapshot();
    expect(JSON.parse(JSON.stringify(snap))).toEqual(snap);
    expect(snap.inFlight.coins).toEqual({ 10: 1 });
    expect(snap.wallet.coins).toEqual({ 10: 2, 50: 2, 100: 2 });
    expect(snap.money.totalMoney).toBe(snap.money.expectedTotalMoney);
    expect(snap.spirals.A1).toEqual({ product: 'Crisps', count: 3, hidden: 0 });
    // A snapshot is a copy: later moves do not change it.
    w.coinAccepted(10, 'tube');
    expect(snap.tubes[10]).toBe(10);
  });

  it('refuses impossible moves with a clear error instead of going negative', () => {
    const w = world();
    expect(() => w.coinAccepted(10, 'tube')).toThrow(/no 10 in the coin validator/);
    expect(() => w.customerInserts('coin', 0)).toThrow(/positive whole number/);
    expect(() => w.billToEscrow(500)).toThrow(/no 500 in the bill validator/);
  });
});
