import { describe, expect, it } from 'vitest';
import five from 'johnny-five';
import { VirtualClock } from '../../../sim/clock.ts';
import { Hd44780, SimIO, wireParallelLcd } from '../../../sim/wire/gpio/index.ts';
import { GpioBoard, changedRuns } from '../../../hardware/gpio/index.ts';
import { LCD_PARALLEL, must, rig } from './helpers.ts';

async function lcdRig(lcd: Record<string, unknown> = LCD_PARALLEL) {
  const r = await rig({ lcd: lcd as typeof LCD_PARALLEL });
  return { ...r, display: must(r.gpio.display, 'display'), glass: must(r.sim.lcd, 'lcd') };
}

describe('LcdDisplay (4-bit parallel)', () => {
  it('shows the lines on the decoded HD44780', async () => {
    const { display, glass } = await lcdRig();
    expect(display.rows).toBe(2);
    expect(display.cols).toBe(16);
    await display.show(['INSERT COINS', 'A1  1.20']);
    expect(glass.lines()).toEqual(['INSERT COINS    ', 'A1  1.20        ']);
    expect(glass.displayOn).toBe(true);
  });

  it('sets 2-line mode itself (johnny-five’s parallel init leaves the controller in 1-line mode)', async () => {
    const { glass } = await lcdRig();
    expect(glass.twoLine).toBe(true);
  });

  it('rewrites only what changed', async () => {
    const { display, glass } = await lcdRig();
    await display.show(['CREDIT  0.50', 'SELECT']);
    const before = glass.dataWrites;
    await display.show(['CREDIT  0.50', 'SELECT']);
    expect(glass.dataWrites).toBe(before);
    await display.show(['CREDIT  0.70', 'SELECT']);
    expect(glass.dataWrites).toBe(before + 1);
    expect(glass.lines()[0]).toBe('CREDIT  0.70    ');
    await display.show(['CREDIT  1.20', 'SELECT']); // two changes one apart: one run of three
    expect(glass.dataWrites).toBe(before + 1 + 3);
    expect(glass.lines()[0]).toBe('CREDIT  1.20    ');
  });

  it('fits lines: truncates, blanks missing rows, replaces characters the ROM lacks', async () => {
    const { display, glass } = await lcdRig();
    await display.show(['THIS LINE IS FAR TOO LONG', 'second']);
    await display.show(['Price €1.20 ~ok\\']);
    expect(glass.lines()).toEqual(['Price E1.20 -ok/', '                ']);
    await display.show(['naïve ✓']);
    expect(glass.lines()[0]).toBe('na?ve ?         ');
    expect(display.contents).toEqual(glass.lines());
  });

  it('rejects show() with DEVICE_OFFLINE when the board is gone', async () => {
    const { display, sim } = await lcdRig();
    sim.io.unplug();
    await expect(display.show(['x'])).rejects.toMatchObject({ code: 'DEVICE_OFFLINE' });
  });

  it('drives a 20×4 display at the right DDRAM rows', async () => {
    const { display, glass } = await lcdRig({ ...LCD_PARALLEL, rows: 4, cols: 20 });
    await display.show(['row zero', 'row one', 'row two', 'row three']);
    expect(glass.lines().map((l) => l.trimEnd())).toEqual(['row zero', 'row one', 'row two', 'row three']);
  });
});

describe('LcdDisplay (PCF8574 I2C backpack)', () => {
  it('shows the lines through the expander bit layout', async () => {
    const { display, glass, sim } = await lcdRig({ controller: 'PCF8574', rows: 2, cols: 16 });
    const writes: number[] = [];
    sim.io.i2cWrites$.subscribe((w) => writes.push(w.address));
    await display.show(['HELLO', 'I2C']);
    expect(glass.lines()).toEqual(['HELLO           ', 'I2C             ']);
    expect(glass.twoLine).toBe(true);
    expect(new Set(writes)).toEqual(new Set([0x27]));
  });

  it('uses the configured address', async () => {
    const { display, glass } = await lcdRig({ controller: 'PCF8574A', address: 0x3e, rows: 2, cols: 16 });
    await display.show(['ADDR 3E']);
    expect(glass.lines()[0]).toBe('ADDR 3E         ');
  });
});

describe('johnny-five LCD behaviour the adapter relies on', () => {
  it('plain johnny-five parallel init leaves the HD44780 in 1-line mode (only row 0 visible)', async () => {
    const clock = new VirtualClock();
    const io = new SimIO({ clock });
    const glass = new Hd44780({ rows: 2, cols: 16 });
    wireParallelLcd(io, { rs: 33, en: 34, d4: 35, d5: 36, d6: 37, d7: 38 }, glass);
    const board = await GpioBoard.open({ io, clock });
    const lcd = new five.LCD({ board: board.j5, pins: [33, 34, 35, 36, 37, 38], rows: 2, cols: 16 });
    lcd.cursor(1, 0).print('second');
    expect(glass.twoLine).toBe(false);
    expect(glass.lines()[1]).toBe(' '.repeat(16));
  });
});

describe('changedRuns', () => {
  it('finds differing runs and merges runs one character apart', () => {
    expect(changedRuns('abcdef', 'abcdef')).toEqual([]);
    expect(changedRuns('abcdef', 'xbcdef')).toEqual([[0, 1]]);
    expect(changedRuns('abcdef', 'xbxdef')).toEqual([[0, 3]]);
    expect(changedRuns('abcdef', 'xbcdex')).toEqual([
      [0, 1],
      [5, 6],
    ]);
  });
});
