/** Shared wiring for the GPIO adapter tests: one simulated board, the adapters on top, a VirtualClock. */
import type { Observable } from 'rxjs';
import { VirtualClock } from '../../../sim/clock.ts';
import { createSimIO, type CreateSimIOOptions, type SimGpio } from '../../../sim/wire/gpio/index.ts';
import { createGpioDevices, type GpioDevices, type GpioLog, type GpioOptionsInput } from '../../../hardware/gpio/index.ts';

export const PULSES = { '1': 10, '2': 20, '5': 50, '10': 100 };

export const COIN = { pin: 4, pulses: PULSES, inhibit: { pin: 5 }, returnButton: { pin: 6 } };
export const KEYPAD = { rowPins: [12, 13, 14, 15], colPins: [16, 17, 18, 19, 20, 21] };
export const DISPENSER = {
  rowPins: [22, 23],
  colPins: [24, 25, 26],
  home: { mode: 'perMotor' as const, pins: { A1: 27, A2: 28, A3: 29, B1: 30, B2: 31, B3: 32 } },
};
export const LCD_PARALLEL = { controller: 'PARALLEL' as const, pins: { rs: 33, en: 34, d4: 35, d5: 36, d6: 37, d7: 38 } };

export interface Rig {
  readonly clock: VirtualClock;
  readonly sim: SimGpio;
  readonly gpio: GpioDevices;
  readonly logs: { level: string; msg: string; obj: object }[];
}

/** A board with the given devices; initial reads delivered before returning. */
export async function rig(options: GpioOptionsInput, sim: Partial<Omit<CreateSimIOOptions, 'clock' | 'options'>> = {}): Promise<Rig> {
  const clock = new VirtualClock();
  const s = createSimIO({ clock, options, ...sim });
  const logs: Rig['logs'] = [];
  const log: GpioLog = {
    debug: (obj, msg) => logs.push({ level: 'debug', msg, obj }),
    info: (obj, msg) => logs.push({ level: 'info', msg, obj }),
    warn: (obj, msg) => logs.push({ level: 'warn', msg, obj }),
    error: (obj, msg) => logs.push({ level: 'error', msg, obj }),
  };
  const gpio = await createGpioDevices({ io: s.io, clock, options, log });
  await clock.advance(0);
  return { clock, sim: s, gpio, logs };
}

/** Everything an observable emits, from now on. */
export function collect<T>(obs: Observable<T>): T[] {
  const out: T[] = [];
  obs.subscribe((v) => out.push(v));
  return out;
}

/** Require a value the rig was configured to have. */
export function must<T>(v: T | undefined, what = 'value'): T {
  if (v === undefined) throw new Error(`test rig has no ${what}`);
  return v;
}
