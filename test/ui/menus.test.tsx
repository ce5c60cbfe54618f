/** The fault menu (every fault the simulator knows, with parameters) and the service menu (door open only). */
import { afterEach, describe, expect, it } from 'vitest';
import { FAULT_NAMES } from '../../sim/faults.ts';
import { BACKSPACE, DOWN, ENTER, ESC, UP, closeAll, startUi, type Harness } from './helpers.tsx';

afterEach(closeAll);

/** Moves the menu cursor onto the item whose label contains `label` and presses Enter. */
async function choose(h: Harness, label: string): Promise<void> {
  for (let i = 0; i < 40; i++) {
    const current = h.lines().find((l) => l.startsWith('› '));
    if (current?.includes(label)) {
      await h.type(ENTER);
      return;
    }
    await h.type(DOWN);
  }
  throw new Error(`no menu item '${label}' in:\n${h.frame()}`);
}

describe('the fault menu', () => {
  it('lists every fault the simulator knows, with its parameters', async () => {
    const h = await startUi({ size: { cols: 80, rows: 40 } });
    await h.type('f');
    for (const name of FAULT_NAMES) expect(h.frame()).toContain(`inject ${name}`);
    expect(h.frame()).toContain('inject motor-stall <column>');
    expect(h.frame()).toContain('inject tube-count-wrong <coin> <diff>');
  });

  it('injects a fault that acts on the machine, then clears it', async () => {
    const h = await startUi();
    await h.type('f');
    await choose(h, 'inject coin-jam');
    expect(h.frame()).toContain('fault coin-jam injected');
    // The new "clear" entry goes on top; the cursor stays on the entry just used.
    expect(h.frame()).toContain('  clear  coin-jam');
    expect(h.frame()).toContain('› inject coin-jam');
    await h.type(ESC, '4');
    await h.advance(400);
    expect(h.frame()).toContain('coin €0.50: jammed in the acceptor');
    expect(h.frame()).toMatch(/Credit €0\.00/);
    expect(h.frame()).toContain('⚡ coin-jam');
    await h.type('f');
    await choose(h, 'clear  coin-jam');
    expect(h.frame()).toContain('cleared 1 fault');
    await h.type(ESC);
    await h.advance(100);
    // Clearing the jam drops the stuck coin into the return cup.
    expect(h.frame()).toMatch(/Cup +€0\.50/);
    expect(h.frame()).not.toContain('⚡ coin-jam');
  });

  it('asks for a fault parameter from a list (offline <device>) and the link panel shows it', async () => {
    const h = await startUi();
    await h.type('f');
    await choose(h, 'inject offline');
    expect(h.frame()).toContain('which device');
    await h.type('1'); // coin, the first device
    await h.advance(10);
    expect(h.frame()).toContain('fault offline coin injected');
    await h.type(ESC);
    expect(h.frame()).toMatch(/○ coin +offline/);
    expect(h.frame()).toContain('fault offline coin injected');
  });

  it('takes a typed parameter, prefilled with the focused column, and reports a bad one', async () => {
    const h = await startUi();
    await h.type('f');
    await choose(h, 'inject motor-stall');
    expect(h.frame()).toContain('column (e.g. A1): A1');
    await h.type(BACKSPACE, BACKSPACE, 'z', '9', ENTER);
    expect(h.frame()).toContain("'Z9' is not a column code like A1");
    await h.type(BACKSPACE, BACKSPACE, 'b', '2', ENTER);
    expect(h.frame()).toContain('fault motor-stall B2 injected');
    expect(h.machine.sim.faults.has('motor-stall', (f) => f.column === 'B2')).toBe(true);
  });

  it('o makes the next fault apply once', async () => {
    const h = await startUi();
    await h.type('f', 'o');
    expect(h.frame()).toContain('o: once ON');
    await choose(h, 'inject drop-blind');
    expect(h.machine.sim.faults.active()).toEqual([expect.objectContaining({ once: true, spec: { name: 'drop-blind' } })]);
  });

  it('Esc leaves the menu; arrows wrap around', async () => {
    const h = await startUi();
    await h.type('f', UP);
    expect(h.frame()).toContain('› inject offline');
    await h.type(ESC);
    expect(h.frame()).not.toContain('Fault menu');
  });
});

describe('the service menu', () => {
  it('opens only while the door is open, and closes with the door', async () => {
    const h = await startUi();
    await h.type('s');
    expect(h.frame()).toContain('the service menu needs the door open');
    expect(h.frame()).not.toContain('Service menu');
    await h.type('d');
    await h.advance(10);
    await h.type('s');
    expect(h.frame()).toContain('Service menu');
    expect(h.frame()).toContain('SERVICE MODE');
    await h.type(ESC, 'd');
    await h.advance(10);
    expect(h.frame()).not.toContain('Service menu');
    await h.type('d');
    await h.advance(10);
    await h.type('s');
    h.machine.sim.devices.door.close();
    await h.advance(10);
    expect(h.frame()).not.toContain('Service menu');
    expect(h.frame()).toContain('door closed: service menu left');
  });

  async function serviceUi(): Promise<Harness> {
    const h = await startUi({ size: { cols: 80, rows: 30 } });
    await h.type('d');
    await h.advance(10);
    await h.type('s');
    return h;
  }

  it('test vends a column: the spiral turns once, unpaid, and the product lands in the bin', async () => {
    const h = await serviceUi();
    expect(h.frame()).not.toContain('not in the controller core yet');
    await choose(h, 'test vend');
    await h.type(ENTER); // A1, the focused column
    await h.machine.clock.advance(10_000);
    expect(h.machine.controller.snapshot.context.catalog.A1?.stock).toBe(9);
    expect(h.machine.sim.world.bin.map((b) => b.column)).toEqual(['A1']);
    expect(h.machine.controller.snapshot.context.credit).toBe(0);
  });

  it('refills a column: the controller stock and the physical spiral both go to capacity', async () => {
    const h = await serviceUi();
    await choose(h, 'refill one column');
    await h.type(BACKSPACE, BACKSPACE, 'f', '3', ENTER);
    expect(h.frame()).toContain('refilled F3: 3 products put in');
    expect(h.machine.controller.snapshot.context.catalog.F3?.stock).toBe(8);
    expect(h.machine.sim.world.spirals.get('F3')?.count).toBe(8);
    expect(h.lines().find((l) => l.startsWith('F '))).toMatch(/^F +1\.00 +8 +1\.50 +8 +1\.50 +8/);
  });

  it('changes a price, refusing text that is not money', async () => {
    const h = await serviceUi();
    await choose(h, 'change a price');
    await h.type(ENTER); // A1, the focused column
    expect(h.frame()).toContain('price of A1 (now €1.20)');
    await h.type('x', 'y', ENTER);
    expect(h.frame()).toContain('cannot read "xy" as EUR money');
    await h.type(BACKSPACE, BACKSPACE, '1', '.', '3', '5', ENTER);
    expect(h.frame()).toContain('price of A1 set to €1.35');
    expect(h.lines().find((l) => l.startsWith('A '))).toMatch(/^A 1\.35 10/);
  });

  it('fills a tube through the coin mech', async () => {
    const h = await serviceUi();
    await choose(h, 'fill coin tubes');
    await h.type('6'); // €2.00, holds 10
    await h.type(BACKSPACE, BACKSPACE, '5', ENTER);
    expect(h.frame()).toContain('tube €2.00: 5 coins added');
    expect(h.machine.sim.world.tubeCount(200)).toBe(15);
    await h.advance(10);
    expect(h.machine.controller.snapshot.context.tubes[200]).toBe(15);
  });

  it('clears controller faults and jammed marks', async () => {
    const h = await startUi({ size: { cols: 80, rows: 30 } });
    h.machine.sim.faults.inject('motor-stall A1', { once: true });
    await h.type('6');
    await h.advance(400);
    await h.type('k', 'a', '1');
    await h.advance(30_000);
    expect(h.lines().find((l) => l.startsWith('A '))).toContain('1.20 10#');
    await h.type('d');
    await h.advance(10);
    await h.type('s');
    await choose(h, 'clear faults');
    expect(h.frame()).toContain('controller faults and jammed marks cleared');
    expect(h.lines().find((l) => l.startsWith('A '))).toMatch(/^A 1\.20 10 /);
  });

  it('settles a debt after a short payout; the entries are disabled while there is none', async () => {
    const h = await startUi({ size: { cols: 80, rows: 30 } });
    h.machine.sim.faults.inject('payout-short 0');
    await h.type('6');
    await h.advance(400);
    await h.type('k', 'a', '1');
    await h.advance(30_000);
    expect(h.machine.controller.snapshot.context.debt).toBe(80);
    expect(h.frame()).toContain('Debt €0.80');
    await h.type('d');
    await h.advance(10);
    await h.type('s');
    await choose(h, 'settle debt: write off');
    expect(h.frame()).toContain('debt of €0.80 settled (written off)');
    expect(h.machine.controller.snapshot.context.debt).toBe(0);
    expect(h.frame()).toContain('settle debt: paid by hand  (no debt)');
  });

  it('reads the counters', async () => {
    const h = await serviceUi();
    await choose(h, 'read counters');
    expect(h.frame()).toContain('Counters');
    expect(h.frame()).toMatch(/credit €0\.00 +debt €0\.00 +stock 428\/464/);
    expect(h.frame()).toContain('door openings 1');
    await h.type(ESC);
    expect(h.frame()).toContain('Service menu');
  });
});
