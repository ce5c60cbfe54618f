/**
 * The character-device IO plugin (Pi 5 and current kernels) under the real johnny-five board and
 * GPIO adapters, its lines answered by a fake chip: pins by BCM name, bias, outputs, sampled
 * inputs, and a chip that cannot be opened.
 */
import { describe, expect, it } from 'vitest';
import { GpioChipIO, GPIOCHIP_SAMPLING_MS, libgpiodBackend, type ChipBackend, type Libgpiod, type LibgpiodLine, type LineBias } from '../../../hardware/gpio/gpiochip.ts';
import { createGpioDevices, type GpioDevices } from '../../../hardware/gpio/index.ts';
import type { DoorState } from '../../../src/ports/index.ts';
import { VirtualClock } from '../../../sim/clock.ts';

/** A gpiochip: inputs float to their bias unless driven from outside; outputs remember their level. */
class FakeChip implements ChipBackend {
  readonly inputs = new Map<number, LineBias>();
  readonly outputs = new Map<number, 0 | 1>();
  readonly driven = new Map<number, 0 | 1>();
  readonly log: string[] = [];
  closed = false;
  input(offset: number, bias: LineBias): void {
    this.outputs.delete(offset);
    this.inputs.set(offset, bias);
    this.log.push(`input ${offset} ${bias}`);
  }
  output(offset: number, value: 0 | 1): void {
    this.inputs.delete(offset);
    this.outputs.set(offset, value);
    this.log.push(`output ${offset}=${value}`);
  }
  read(offset: number): 0 | 1 {
    const external = this.driven.get(offset);
    if (external !== undefined) return external;
    return this.inputs.get(offset) === 'up' ? 1 : 0;
  }
  write(offset: number, value: 0 | 1): void {
    if (!this.outputs.has(offset)) throw new Error(`line ${offset} is not an output`);
    this.outputs.set(offset, value);
  }
  close(): void {
    this.closed = true;
  }
}

function plugin(chip: ChipBackend | (() => never)): { io: GpioChipIO; tick: () => void; intervals: number[] } {
  const ticks: (() => void)[] = [];
  const intervals: number[] = [];
  const io = new GpioChipIO({
    ...(typeof chip === 'function' ? {} : { backend: chip }),
    setInterval: (fn, ms) => {
      ticks.push(fn);
      intervals.push(ms);
      return ticks.length;
    },
    clearInterval: () => undefined,
  });
  return { io, tick: () => ticks.forEach((t) => t()), intervals };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

async function open(io: GpioChipIO, clock: VirtualClock, options: Parameters<typeof createGpioDevices>[0]['options']): Promise<GpioDevices> {
  const devices = createGpioDevices({ io, clock, options });
  // The plugin reports ready on the next turn of the event loop, as a real one does.
  await turn();
  await turn();
  return devices;
}

describe('gpiochip IO plugin', () => {
  it('a door switch on GPIO18 with the pull-up: the line is claimed by its BCM offset, biased, and sampled every 5 ms', async () => {
    const clock = new VirtualClock();
    const chip = new FakeChip();
    const { io, tick, intervals } = plugin(chip);
    const gpio = await open(io, clock, { door: { pin: 'GPIO18', openLevel: 'high', pull: 'up', debounceMs: 0 } });
    const states: DoorState[] = [];
    gpio.door?.door$.subscribe((s) => states.push(s));
    expect(chip.log).toEqual(expect.arrayContaining(['input 18 none', 'input 18 up']));
    expect(intervals).toEqual([GPIOCHIP_SAMPLING_MS]);
    await clock.advance(10);
    expect(states.at(-1)).toBe('open');
    chip.driven.set(18, 0);
    tick();
    await clock.advance(10);
    expect(states.at(-1)).toBe('closed');
    gpio.close();
    io.close();
    expect(chip.closed).toBe(true);
  });

  it('motor matrix outputs go to the lines the config names, and off again', async () => {
    const clock = new VirtualClock();
    const chip = new FakeChip();
    const { io } = plugin(chip);
    const gpio = await open(io, clock, { dispenser: { rowPins: ['GPIO23'], colPins: ['GPIO24', 'GPIO25'], home: { mode: 'shared', pin: 'GPIO26' } } });
    expect([...chip.outputs.keys()].sort()).toEqual([23, 24, 25]);
    expect([...chip.outputs.values()]).toEqual([0, 0, 0]);
    expect(chip.inputs.get(26)).toBe('up');
    void gpio.dispenser?.motorOn('A2');
    await clock.advance(1);
    expect(chip.outputs.get(23)).toBe(1);
    expect(chip.outputs.get(25)).toBe(1);
    expect(chip.outputs.get(24)).toBe(0);
    await gpio.dispenser?.motorOff();
    expect([...chip.outputs.values()]).toEqual([0, 0, 0]);
    gpio.close();
    io.close();
  });

  it('a chip that cannot be opened (no native binding, no /dev/gpiochip0) fails the board with the reason', async () => {
    const clock = new VirtualClock();
    const io = new GpioChipIO({ backend: undefined });
    const opening = createGpioDevices({ io, clock, options: { door: { pin: 18 } } }).then(
      () => 'opened',
      (e: unknown) => (e instanceof Error ? e.message : String(e)),
    );
    await turn();
    await turn();
    await clock.advance(10_000);
    expect(await opening).toMatch(/node-libgpiod|DEVICE|IO plugin/);
  });

  it('rejects a line outside the header and a mode it does not have', async () => {
    const chip = new FakeChip();
    const { io } = plugin(chip);
    await turn();
    expect(() => io.pinMode(28, io.MODES.INPUT)).toThrow(/no line 28/);
    expect(() => io.pinMode(4, io.MODES.PWM)).toThrow(/INPUT and OUTPUT only/);
    io.close();
  });

  it('the node-libgpiod backend claims lines with the bias flags and the output level in its own argument order', () => {
    const calls: string[] = [];
    class Line implements LibgpiodLine {
      static RequestFlags = { OPEN_DRAIN: 1, OPEN_SOURCE: 2, ACTIVE_LOW: 4, BIAS_DISABLE: 8, BIAS_PULL_DOWN: 16, BIAS_PULL_UP: 32 };
      constructor(
        _chip: object,
        private readonly offset: number,
      ) {}
      requestInputMode(consumer?: string): void {
        calls.push(`${this.offset} input ${consumer ?? ''}`);
      }
      requestInputModeFlags(consumer: string, flags: number): void {
        calls.push(`${this.offset} input ${consumer} flags=${flags}`);
      }
      requestOutputMode(consumer?: string, value?: 0 | 1): void {
        calls.push(`${this.offset} output ${consumer ?? ''} ${value ?? '-'}`);
      }
      getValue(): number {
        return 1;
      }
      setValue(v: number): void {
        calls.push(`${this.offset} set ${v}`);
      }
      release(): void {
        calls.push(`${this.offset} release`);
      }
    }
    const lib: Libgpiod = { Chip: class {}, Line };
    const b = libgpiodBackend(0, lib);
    b.input(18, 'up');
    b.input(18, 'down');
    b.output(23, 1);
    b.write(23, 0);
    expect(b.read(18)).toBe(1);
    b.close();
    expect(calls).toEqual(['18 input vendomat flags=32', '18 release', '18 input vendomat flags=16', '23 output vendomat 1', '23 set 0', '18 release', '23 release']);
  });
});
