/** The machine's front in the terminal UI: display, grid with marks, credit, bin, cup, card, keys. */
import { afterEach, describe, expect, it } from 'vitest';
import { BACKSPACE, ENTER, ESC, RIGHT, closeAll, demoWith, startUi } from './helpers.tsx';

afterEach(closeAll);

describe('the front', () => {
  it('shows the display box with the LCD lines, the grid, credit, bin, cup and card', async () => {
    const h = await startUi();
    const f = h.frame();
    expect(f).toContain('│INSERT MONEY    │');
    expect(f).toContain('│OR TAP CARD     │');
    expect(f).toMatch(/Credit €0\.00/);
    expect(f).toMatch(/Bin +empty/);
    expect(f).toMatch(/Cup +empty/);
    expect(f).toMatch(/Card +reader on/);
    // Column numbers across, row letters down, price and stock per cell.
    expect(h.lines().find((l) => l.startsWith('  1 '))).toMatch(/^ {2}1 +2 +3 +4 +5 +6 +7 +8/);
    expect(h.lines().find((l) => l.startsWith('A '))).toContain('1.20 10');
    expect(h.lines().find((l) => l.startsWith('F '))).toContain('1.50  5');
    // The focused cell's name, price and stock.
    expect(f).toContain('▸ A1 Crisps Salted  €1.20  stock 10/10');
  });

  it('the display box is as wide as the configured LCD', async () => {
    const h = await startUi({ config: demoWith((c) => (c.display = { rows: 4, cols: 20 })) });
    const box = h.lines().filter((l) => l.startsWith('│'));
    expect(box).toHaveLength(4);
    expect(box[0]?.indexOf('│', 1)).toBe(21);
  });

  it('marks a sold-out column with ✗ and names it on focus', async () => {
    const h = await startUi({ config: demoWith((c) => c.catalog.slots.forEach((s) => s.code === 'A2' && (s.stock = 0))) });
    expect(h.lines().find((l) => l.startsWith('A '))).toContain('1.20  0✗');
    await h.type(RIGHT);
    expect(h.frame()).toContain('▸ A2 Crisps Paprika  €1.20  stock 0/10  SOLD OUT');
  });

  it('a coin key inserts the coin: the display and the credit change after validation', async () => {
    const h = await startUi();
    await h.type('5');
    // Not credited until the validator is done (300 ms of virtual time).
    expect(h.frame()).toMatch(/Credit €0\.00 +validating €1\.00/);
    await h.advance(400);
    expect(h.frame()).toContain('│CREDIT €1.00    │');
    expect(h.frame()).toMatch(/Credit €1\.00/);
    expect(h.frame()).toContain('coin €1.00: accepted (tube)');
  });

  it('keys typed in one chunk are each handled (a fast typist, a paste)', async () => {
    const h = await startUi();
    await h.type('53');
    await h.advance(400);
    expect(h.frame()).toMatch(/Credit €1\.20/);
  });

  it('a coin key beyond the denominations says so and inserts nothing', async () => {
    const h = await startUi();
    await h.type('9');
    expect(h.frame()).toContain('no coin on key 9: 1-6');
    await h.advance(400);
    expect(h.frame()).toMatch(/Credit €0\.00/);
  });

  it('a keypad selection vends: product in the bin, change in the cup; g takes both', async () => {
    const h = await startUi();
    await h.type('6'); // €2.00
    await h.advance(400);
    await h.type('k', 'a', '1');
    await h.advance(15_000);
    expect(h.frame()).toMatch(/Bin +Crisps Salted \(A1\)/);
    expect(h.frame()).toMatch(/Cup +€0\.80/);
    expect(h.lines().find((l) => l.startsWith('A '))).toContain('1.20  9');
    await h.type('g');
    expect(h.frame()).toMatch(/Bin +empty/);
    expect(h.frame()).toContain('you took Crisps Salted; coins €0.80');
  });

  it('keypad mode: Backspace sends CLEAR, Esc leaves without selecting', async () => {
    const h = await startUi();
    await h.type('k', 'b');
    expect(h.frame()).toContain('│SELECT B_');
    expect(h.frame()).toContain('KEYPAD');
    await h.type(BACKSPACE, ESC);
    expect(h.frame()).not.toContain('SELECT B_');
    expect(h.frame()).not.toContain('KEYPAD');
  });

  it('arrows and Enter buy the focused column', async () => {
    const h = await startUi();
    await h.type('6');
    await h.advance(400);
    await h.type(RIGHT, RIGHT, RIGHT, RIGHT); // A5 Pretzels €1.10
    expect(h.frame()).toContain('▸ A5 Pretzels');
    await h.type(ENTER);
    await h.advance(15_000);
    expect(h.frame()).toMatch(/Bin +Pretzels \(A5\)/);
  });

  it('bills: b then a digit feeds that bill into escrow, then credit', async () => {
    const h = await startUi();
    await h.type('b');
    expect(h.frame()).toContain('BILL');
    await h.type('1');
    await h.advance(5_000);
    expect(h.frame()).toMatch(/Credit €5\.00/);
  });

  it('a tapped card opens a session; a declined card is turned down at vend time', async () => {
    const h = await startUi();
    await h.type('c');
    await h.advance(100);
    expect(h.frame()).toContain('│CARD €20.00');
    await h.type('x');
    await h.advance(2_000);
    await h.type('C');
    await h.advance(100);
    await h.type('k', 'a', '1');
    await h.advance(3_000);
    expect(h.frame()).toContain('card declined for A1');
    expect(h.frame()).toMatch(/Bin +empty/);
  });

  it('coin return gives the credit back into the cup', async () => {
    const h = await startUi();
    await h.type('4');
    await h.advance(400);
    await h.type('r');
    await h.advance(2_000);
    expect(h.frame()).toMatch(/Cup +€0\.50/);
    expect(h.frame()).toMatch(/Credit €0\.00/);
  });

  it('a failed vend leaves the ! mark and a jammed motor the # mark', async () => {
    const h = await startUi();
    h.machine.sim.faults.inject('spiral-empty A1');
    h.machine.sim.faults.inject('motor-stall A2');
    await h.type('6');
    await h.advance(400);
    await h.type('k', 'a', '1');
    await h.advance(30_000);
    await h.type('6');
    await h.advance(400);
    await h.type('k', 'a', '2');
    await h.advance(30_000);
    const rowA = h.lines().find((l) => l.startsWith('A ')) ?? '';
    expect(rowA).toMatch(/^A +1\.20 10! +1\.20 10#/);
    expect(h.frame()).toContain('▸ A1 Crisps Salted  €1.20  stock 10/10 (spiral holds 0)  FAILED');
  });
});
