/** Shared fixtures for the simulator tests: a small machine config and an event recorder. */
import type { Observable } from 'rxjs';
import { parseConfig } from '../../src/config/load.ts';
import type { MachineConfig, MachineConfigInput } from '../../src/config/schema.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { createSimMachine, type SimMachine } from '../../sim/machine.ts';

export interface ConfigTweaks {
  readonly tubes?: Record<string, number>;
  readonly tubeCapacity?: number;
  readonly wallet?: { coins?: Record<string, number>; bills?: Record<string, number> };
  readonly bill?: boolean;
  readonly card?: boolean;
  readonly cardBalance?: number;
}

/** A 2×3 machine with euro coins and bills; timing is the schema's defaults. */
export function testConfig(t: ConfigTweaks = {}): MachineConfig {
  const raw: MachineConfigInput = {
    machine: { name: 'test machine' },
    currency: { code: 'EUR', decimals: 2, coins: [5, 10, 20, 50, 100, 200], bills: [500, 1000, 2000] },
    display: { rows: 2, cols: 16 },
    catalog: {
      rows: 2,
      columns: 3,
      slots: [
        { code: 'A1', product: 'Crisps', price: 120, capacity: 5, stock: 3 },
        { code: 'A2', product: 'Pretzels', price: 110, capacity: 5, stock: 0 },
        { code: 'B1', product: 'Water', price: 100, capacity: 4, stock: 4 },
      ],
    },
    devices: { bill: { present: t.bill ?? true }, card: { present: t.card ?? true } },
    sim: {
      seed: 7,
      tubes: t.tubes ?? { '5': 10, '10': 10, '20': 10, '50': 5, '100': 2, '200': 0 },
      tubeCapacity: t.tubeCapacity ?? 20,
      wallet: {
        coins: t.wallet?.coins ?? { '10': 3, '50': 2, '100': 2 },
        bills: t.wallet?.bills ?? { '500': 1, '1000': 1 },
      },
      cardBalance: t.cardBalance ?? 500,
    },
  };
  return parseConfig(raw, 'test');
}

export interface Rig {
  readonly clock: VirtualClock;
  readonly sim: SimMachine;
  readonly config: MachineConfig;
}

export function rig(t: ConfigTweaks = {}): Rig {
  const config = testConfig(t);
  const clock = new VirtualClock();
  return { clock, config, sim: createSimMachine(config, clock) };
}

export interface Recorded<T> {
  readonly at: number;
  readonly value: T;
}

/** Records every value with the virtual time it arrived at. */
export function record<T>(source: Observable<T>, clock: VirtualClock): Recorded<T>[] {
  const out: Recorded<T>[] = [];
  source.subscribe((value) => out.push({ at: clock.now(), value }));
  return out;
}

export function values<T>(recorded: readonly Recorded<T>[]): T[] {
  return recorded.map((r) => r.value);
}

/** Catches a promise's rejection so a test can look at it after advancing the clock. */
export function settle<T>(p: Promise<T>): { readonly result: () => { ok: true; value: T } | { ok: false; error: unknown } | undefined } {
  let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  p.then(
    (value) => {
      outcome = { ok: true, value };
    },
    (error: unknown) => {
      outcome = { ok: false, error };
    },
  );
  return { result: () => outcome };
}
