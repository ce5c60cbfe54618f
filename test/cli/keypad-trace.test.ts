/**
 * The GPIO trace never records the level of a keypad matrix pin: the scan pattern decodes to the
 * keys typed, service PIN included. The frames stay (activity is visible), their levels do not;
 * every other pin is traced as before.
 */
import { describe, expect, it } from 'vitest';
import { traceIoPlugin } from '../../src/cli/hardware.ts';
import { keypadTracePins } from '../../hardware/gpio/keypad.ts';
import { FrameTracer } from '../../hardware/serial/trace.ts';
import { VirtualClock } from '../../sim/clock.ts';
import { SimIO } from '../../sim/wire/gpio/index.ts';

describe('keypad pins in the GPIO trace', () => {
  it('maps configured BCM lines to the plugin numbers as the board does (by name through normalize)', () => {
    const normalize = (p: number | string): number => {
      const m = /^GPIO(\d+)$/.exec(String(p));
      if (!m) throw new Error(`unknown pin ${String(p)}`);
      return Number(m[1]) + 100;
    };
    expect([...keypadTracePins({ rowPins: [5, 6], colPins: [7] }, { normalize })].sort()).toEqual([105, 106, 107]);
    expect([...keypadTracePins({ rowPins: [5, 6], colPins: [7] })].sort()).toEqual([5, 6, 7]);
    expect(keypadTracePins(undefined).size).toBe(0);
  });

  it('writes and reads of keypad pins are traced without their level; other pins are traced in full', async () => {
    const clock = new VirtualClock(1_000);
    const io = new SimIO({ clock });
    const tracer = new FrameTracer();
    const traced = traceIoPlugin(io, tracer, clock, keypadTracePins({ rowPins: [5, 6], colPins: [7] }));
    traced.pinMode(5, io.MODES.OUTPUT);
    traced.digitalWrite(5, 1);
    traced.digitalWrite(5, 0);
    traced.pinMode(3, io.MODES.OUTPUT);
    traced.digitalWrite(3, 1);
    const seen: number[] = [];
    traced.pinMode(7, io.MODES.INPUT);
    traced.digitalRead(7, (v) => seen.push(v));
    io.drive(7, 1);
    await clock.advance(1);
    io.drive(7, 0);
    await clock.advance(1);
    const frames = tracer.recent().map((t) => `${t.dir} ${t.raw}`);
    expect(frames).toContain('tx 3=1');
    expect(frames.filter((f) => f.startsWith('tx 5='))).toEqual(['tx 5=*', 'tx 5=*']);
    const reads = frames.filter((f) => f.startsWith('rx 7='));
    expect(reads.length).toBeGreaterThanOrEqual(2);
    expect(reads.every((f) => f === 'rx 7=*')).toBe(true);
    expect(tracer.recent().some((t) => /keypad pin (5|7) \(level not traced\)/.test(t.meaning ?? ''))).toBe(true);
    expect(frames.some((f) => /^(tx|rx) [567]=[01]$/.test(f))).toBe(false);
    // The plugin itself still gets every level: only the trace is masked.
    expect(seen).toContain(1);
    expect(seen.at(-1)).toBe(0);
  });
  it('the simulated IO plugin traces keypad pins without their level too (sim --wire --trace-log)', async () => {
    const clock = new VirtualClock(1_000);
    const io = new SimIO({ clock });
    const seen: string[] = [];
    io.trace$.subscribe((t) => seen.push(`${t.dir} ${t.raw}`));
    io.label(5, 'keypad.row0', { masked: true });
    io.label(3, 'motor.row0');
    io.pinMode(5, io.MODES.OUTPUT);
    io.digitalWrite(5, 1);
    io.digitalWrite(5, 0);
    io.pinMode(3, io.MODES.OUTPUT);
    io.digitalWrite(3, 1);
    io.pinMode(7, io.MODES.INPUT);
    io.label(7, 'keypad.col0', { masked: true });
    io.digitalRead(7, () => undefined);
    io.drive(7, 1);
    await clock.advance(5);
    expect(seen.filter((f) => f.includes('GPIO5='))).toEqual(['tx GPIO5=*', 'tx GPIO5=*']);
    expect(seen.filter((f) => f.includes('GPIO7='))).toEqual(['rx GPIO7=*']);
    expect(seen).toContain('tx GPIO3=1');
  });
});
