/**
 * The world never creates or destroys money: whatever customers, the controller's commands and the
 * faults do, `totalMoney()` moves only by service fill/removal, and the machine's contents match
 * initialFill + inserted − paidOut + serviceFill − serviceRemoved (money-model.md invariant 2).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countsValue } from '../../sim/world.ts';
import { rig, type Rig } from './helpers.ts';

const COINS = [5, 10, 20, 50, 100, 200];
const BILLS = [500, 1000, 2000];

type Op =
  | { readonly op: 'coin'; readonly value: number }
  | { readonly op: 'bill'; readonly value: number }
  | { readonly op: 'acceptCoins'; readonly values: number[] }
  | { readonly op: 'acceptBills'; readonly values: number[] }
  | { readonly op: 'stack' }
  | { readonly op: 'return' }
  | { readonly op: 'dispense'; readonly plan: Record<number, number> }
  | { readonly op: 'advance'; readonly ms: number }
  | { readonly op: 'takeCup' }
  | { readonly op: 'fill'; readonly coin: number; readonly n: number }
  | { readonly op: 'emptyCashbox' }
  | { readonly op: 'emptyStacker' }
  | { readonly op: 'inject'; readonly fault: string }
  | { readonly op: 'clear'; readonly fault: string }
  | { readonly op: 'lever' };

const FAULTS = ['coin-jam', 'tube-empty 50', 'tube-empty 10', 'payout-short 1', 'bill-jam', 'offline coin', 'offline bill', 'tube-count-wrong 20 +2'];

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.constantFrom(...COINS, 3).map((value): Op => ({ op: 'coin', value })), weight: 5 },
  { arbitrary: fc.constantFrom(...BILLS, 700).map((value): Op => ({ op: 'bill', value })), weight: 2 },
  { arbitrary: fc.subarray(COINS).map((values): Op => ({ op: 'acceptCoins', values })), weight: 1 },
  { arbitrary: fc.subarray(BILLS).map((values): Op => ({ op: 'acceptBills', values })), weight: 1 },
  { arbitrary: fc.constant<Op>({ op: 'stack' }), weight: 2 },
  { arbitrary: fc.constant<Op>({ op: 'return' }), weight: 1 },
  {
    arbitrary: fc.dictionary(fc.constantFrom(...COINS.map(String)), fc.nat(4)).map((d): Op => {
      const plan: Record<number, number> = {};
      for (const [k, n] of Object.entries(d)) plan[Number(k)] = n;
      return { op: 'dispense', plan };
    }),
    weight: 2,
  },
  { arbitrary: fc.integer({ min: 0, max: 3000 }).map((ms): Op => ({ op: 'advance', ms })), weight: 4 },
  { arbitrary: fc.constant<Op>({ op: 'takeCup' }), weight: 1 },
  { arbitrary: fc.tuple(fc.constantFrom(...COINS), fc.nat(5)).map(([coin, n]): Op => ({ op: 'fill', coin, n })), weight: 1 },
  { arbitrary: fc.constant<Op>({ op: 'emptyCashbox' }), weight: 1 },
  { arbitrary: fc.constant<Op>({ op: 'emptyStacker' }), weight: 1 },
  { arbitrary: fc.constantFrom(...FAULTS).map((fault): Op => ({ op: 'inject', fault })), weight: 1 },
  { arbitrary: fc.constantFrom(...FAULTS).map((fault): Op => ({ op: 'clear', fault })), weight: 1 },
  { arbitrary: fc.constant<Op>({ op: 'lever' }), weight: 1 },
);

function ignore(p: Promise<unknown>): void {
  p.catch(() => undefined);
}

function apply(r: Rig, op: Op): Promise<void> | void {
  const { coin, bill } = r.sim.devices;
  if (!bill) throw new Error('bill validator expected');
  switch (op.op) {
    case 'coin':
      return void ignore(coin.insertCoin(op.value));
    case 'bill':
      return void ignore(bill.insertBill(op.value));
    case 'acceptCoins':
      return void ignore(coin.setAcceptance(op.values));
    case 'acceptBills':
      return void ignore(bill.setAcceptance(op.values));
    case 'stack':
      return void ignore(bill.stack());
    case 'return':
      return void ignore(bill.returnBill());
    case 'dispense':
      return; // run by the property itself, to see the result
    case 'advance':
      return r.clock.advance(op.ms);
    case 'takeCup':
      return void r.sim.world.takeFromCup();
    case 'fill':
      if (r.sim.world.tubeCount(op.coin) + op.n <= r.sim.world.tubeCapacity) r.sim.devices.coin.manualFill(op.coin, op.n);
      return;
    case 'emptyCashbox':
      return void r.sim.world.emptyCashbox();
    case 'emptyStacker':
      return void r.sim.world.emptyStacker();
    case 'inject':
      return void r.sim.faults.inject(op.fault);
    case 'clear':
      return void r.sim.faults.clear(op.fault);
    case 'lever':
      return void coin.pressReturn();
  }
}

function checkBalanced(r: Rig): void {
  const w = r.sim.world;
  expect(w.totalMoney()).toBe(w.expectedTotalMoney());
  expect(w.machineCash()).toBe(w.expectedMachineCash());
  for (const counts of [w.tubes, w.cashbox, w.stacker, w.cup, w.wallet.coins, w.wallet.bills, w.stuck.coins, w.stuck.bills])
    for (const n of Object.values(counts)) expect(n).toBeGreaterThanOrEqual(0);
}

describe('money conservation in the world (property)', () => {
  it('totalMoney stays constant except for service, across random operations and faults', async () => {
    // What the runs exercised, so the property cannot pass by never reaching the interesting paths.
    const seen = new Map<string, number>();
    const note = (what: string): void => {
      seen.set(what, (seen.get(what) ?? 0) + 1);
    };
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 20, maxLength: 80 }), async (ops) => {
        // A small tube capacity so coins overflow to the cashbox within a short run.
        const r = rig({ tubeCapacity: 12 });
        const { coin, bill } = r.sim.devices;
        if (!bill) throw new Error('bill validator expected');
        coin.events$.subscribe((e) => note(e.type === 'coin' ? `coin:${e.routing}` : `coin:${e.type}${e.type === 'fault' && e.cleared ? ':cleared' : ''}`));
        bill.events$.subscribe((e) => note(`bill:${e.type}`));
        await coin.setAcceptance(COINS);
        await bill.setAcceptance(BILLS);
        for (const op of ops) {
          const result = apply(r, op);
          if (op.op === 'dispense')
            void coin
              .dispense(op.plan)
              .then((p) => note(`payout:${p.faultCode ?? 'complete'}`))
              .catch((e: unknown) => note(`payout:${(e as { code?: string }).code ?? 'error'}`));
          await result;
          checkBalanced(r);
        }
        // Let every validation, stack and payout finish, then release any jam.
        await r.clock.runAll();
        r.sim.faults.clearAll();
        await r.clock.runAll();
        checkBalanced(r);
        expect(countsValue(r.sim.world.inFlight.coins) + countsValue(r.sim.world.inFlight.bills)).toBe(0);
        expect(countsValue(r.sim.world.stuck.coins) + countsValue(r.sim.world.stuck.bills) + countsValue(r.sim.world.stuck.tubeCoins)).toBe(0);
        r.sim.dispose();
      }),
      { seed: 1337, numRuns: 80 },
    );
    for (const what of [
      'coin:tube',
      'coin:cashbox',
      'coin:rejected',
      'coin:fault',
      'coin:fault:cleared',
      'bill:escrow',
      'bill:stacked',
      'bill:returned',
      'bill:rejected',
      'bill:fault',
      'payout:complete',
      'payout:TUBE_EMPTY',
      'payout:PAYOUT_JAM',
      'payout:DEVICE_BUSY',
    ])
      expect(seen.get(what) ?? 0, what).toBeGreaterThan(0);
  });
});
