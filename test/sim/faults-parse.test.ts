import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VirtualClock } from '../../sim/clock.ts';
import {
  FAULT_NAMES,
  FaultSpecError,
  Faults,
  SIM_DEVICE_NAMES,
  formatFaultSpec,
  parseFaultSpec,
  type FaultChange,
  type FaultSpec,
} from '../../sim/faults.ts';

describe('parseFaultSpec', () => {
  it('parses every fault form', () => {
    expect(parseFaultSpec('coin-jam')).toEqual({ name: 'coin-jam' });
    expect(parseFaultSpec('tube-empty 50')).toEqual({ name: 'tube-empty', coin: 50 });
    expect(parseFaultSpec('tube-count-wrong 20 -3')).toEqual({ name: 'tube-count-wrong', coin: 20, delta: -3 });
    expect(parseFaultSpec('tube-count-wrong 20 +4')).toEqual({ name: 'tube-count-wrong', coin: 20, delta: 4 });
    expect(parseFaultSpec('payout-short 2')).toEqual({ name: 'payout-short', count: 2 });
    expect(parseFaultSpec('motor-stall A1')).toEqual({ name: 'motor-stall', column: 'A1' });
    expect(parseFaultSpec('  motor-no-home   b3 ')).toEqual({ name: 'motor-no-home', column: 'B3' });
    expect(parseFaultSpec('spiral-empty C2')).toEqual({ name: 'spiral-empty', column: 'C2' });
    expect(parseFaultSpec('DROP-BLOCKED')).toEqual({ name: 'drop-blocked' });
    expect(parseFaultSpec('drop-blind')).toEqual({ name: 'drop-blind' });
    expect(parseFaultSpec('bill-jam')).toEqual({ name: 'bill-jam' });
    expect(parseFaultSpec('card-declined')).toEqual({ name: 'card-declined' });
    expect(parseFaultSpec('card-timeout')).toEqual({ name: 'card-timeout' });
    expect(parseFaultSpec('offline bill')).toEqual({ name: 'offline', device: 'bill' });
  });

  it.each([
    ['', /empty fault/],
    ['coin-jm', /unknown fault 'coin-jm'; expected one of: coin-jam/],
    ['tube-empty', /tube-empty takes 1 parameter, got 0 \(usage: tube-empty <coin value/],
    ['tube-empty fifty', /tube-empty: 'fifty' is not a coin value/],
    ['tube-empty 0', /coin value must be positive/],
    ['tube-count-wrong 20', /takes 2 parameters, got 1/],
    ['tube-count-wrong 20 x', /'x' is not a signed whole number/],
    ['payout-short -1', /payout-short: '-1' is not a whole number of coins/],
    ['motor-stall Z1', /'Z1' is not a column code like A1/],
    ['motor-stall', /takes 1 parameter/],
    ['coin-jam 5', /coin-jam takes no parameters, got 1/],
    ['offline toaster', /offline: unknown device 'toaster' \(usage: offline <coin\|bill/],
  ])('rejects %j with a clear error', (text, message) => {
    expect(() => parseFaultSpec(text)).toThrow(FaultSpecError);
    expect(() => parseFaultSpec(text)).toThrow(message);
  });

  it('formatFaultSpec is the inverse of parseFaultSpec (property)', () => {
    const spec: fc.Arbitrary<FaultSpec> = fc.oneof(
      fc.constantFrom<FaultSpec>(
        { name: 'coin-jam' },
        { name: 'drop-blocked' },
        { name: 'drop-blind' },
        { name: 'bill-jam' },
        { name: 'card-declined' },
        { name: 'card-timeout' },
      ),
      fc.integer({ min: 1, max: 100_000 }).map((coin): FaultSpec => ({ name: 'tube-empty', coin })),
      fc
        .tuple(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: -50, max: 50 }))
        .map(([coin, delta]): FaultSpec => ({ name: 'tube-count-wrong', coin, delta })),
      fc.nat(20).map((count): FaultSpec => ({ name: 'payout-short', count })),
      fc
        .tuple(fc.constantFrom('motor-stall', 'motor-no-home', 'spiral-empty'), fc.constantFrom(...'ABCDEFGHIJ'), fc.nat(9))
        .map(([name, row, col]): FaultSpec => ({ name, column: `${row}${col}` })),
      fc.constantFrom(...SIM_DEVICE_NAMES).map((device): FaultSpec => ({ name: 'offline', device })),
    );
    fc.assert(
      fc.property(spec, (s) => {
        expect(parseFaultSpec(formatFaultSpec(s))).toEqual(s);
      }),
      { seed: 20240601, numRuns: 300 },
    );
  });

  it('knows 13 faults', () => {
    expect(FAULT_NAMES).toHaveLength(13);
  });
});

describe('Faults registry', () => {
  function make(): { clock: VirtualClock; faults: Faults; changes: FaultChange[] } {
    const clock = new VirtualClock(1000);
    const faults = new Faults(clock, { coins: [10, 50], columns: ['A1', 'A2'] });
    const changes: FaultChange[] = [];
    faults.changes$.subscribe((c) => changes.push(c));
    return { clock, faults, changes };
  }

  it('injects from text or spec, lists active faults with the time they began, clears by spec or name', () => {
    const { faults, changes } = make();
    faults.inject('tube-empty 50');
    faults.inject({ name: 'motor-stall', column: 'A1' });
    faults.inject('motor-stall A2');
    expect(faults.active().map((f) => formatFaultSpec(f.spec))).toEqual(['tube-empty 50', 'motor-stall A1', 'motor-stall A2']);
    expect(faults.active()[0]).toMatchObject({ since: 1000, once: false });
    expect(faults.clear('motor-stall A1')).toBe(1);
    expect(faults.has('motor-stall', (f) => f.column === 'A1')).toBe(false);
    expect(faults.clear('motor-stall')).toBe(1);
    expect(faults.clear({ name: 'tube-empty', coin: 50 })).toBe(1);
    expect(faults.active()).toEqual([]);
    expect(changes.map((c) => `${c.kind} ${formatFaultSpec(c.fault)}`)).toEqual([
      'activated tube-empty 50',
      'activated motor-stall A1',
      'activated motor-stall A2',
      'cleared motor-stall A1',
      'cleared motor-stall A2',
      'cleared tube-empty 50',
    ]);
  });

  it('does not duplicate a fault injected twice', () => {
    const { faults, changes } = make();
    faults.inject('coin-jam');
    faults.inject('coin-jam');
    expect(faults.active()).toHaveLength(1);
    expect(changes).toHaveLength(1);
  });

  it('validates against the machine: unknown coin or column is refused', () => {
    const { faults } = make();
    expect(() => faults.inject('tube-empty 20')).toThrow(/20 is not a coin of this machine \(10, 50\)/);
    expect(() => faults.inject('spiral-empty B1')).toThrow(/no column B1/);
    expect(() => faults.inject({ name: 'payout-short', count: -2 })).toThrow(/count must be a whole number/);
    expect(faults.active()).toEqual([]);
  });

  it('activates a fault at a virtual time, and clear cancels a scheduled one', async () => {
    const { clock, faults } = make();
    faults.inject('coin-jam', { at: 1500 });
    faults.inject('bill-jam', { at: 1600 });
    expect(faults.active()).toEqual([]);
    expect(faults.scheduled().map((s) => s.at)).toEqual([1500, 1600]);
    expect(faults.clear('bill-jam')).toBe(1);
    await clock.advanceTo(1499);
    expect(faults.has('coin-jam')).toBe(false);
    await clock.advanceTo(1500);
    expect(faults.has('coin-jam')).toBe(true);
    expect(faults.active()[0]?.since).toBe(1500);
    await clock.advanceTo(2000);
    expect(faults.has('bill-jam')).toBe(false);
    expect(faults.scheduled()).toEqual([]);
  });

  it('take() consumes a once-fault on its first use; payout-short is once by default', () => {
    const { faults, changes } = make();
    faults.inject('card-declined', { once: true });
    faults.inject('payout-short 1');
    faults.inject('payout-short 3', { once: false });
    expect(faults.take('card-declined')).toEqual({ name: 'card-declined' });
    expect(faults.take('card-declined')).toBeUndefined();
    expect(faults.take('payout-short')).toEqual({ name: 'payout-short', count: 1 });
    expect(faults.take('payout-short')).toEqual({ name: 'payout-short', count: 3 });
    expect(faults.take('payout-short')).toEqual({ name: 'payout-short', count: 3 });
    expect(changes.filter((c) => c.kind === 'consumed').map((c) => formatFaultSpec(c.fault))).toEqual(['card-declined', 'payout-short 1']);
  });

  it('clearAll removes everything; clearing an unknown text is a clear error', () => {
    const { faults } = make();
    faults.inject('coin-jam');
    faults.inject('offline coin');
    expect(faults.clearAll()).toBe(2);
    expect(() => faults.clear('nonsense 1')).toThrow(/unknown fault 'nonsense'/);
  });
});
