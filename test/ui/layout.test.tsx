/** Panels, the adaptive layout (80×24 and up), help, the command line and the wire trace. */
import fc from 'fast-check';
import { Subject } from 'rxjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FrameTrace } from '../../hardware/serial/types.ts';
import { loadDemoConfig } from '../../sim/session.ts';
import { KEYS, keyPress } from '../../sim/ui/keys.ts';
import { WIDE_COLS, plainLines, renderFrame } from '../../sim/ui/layout.ts';
import { createUiMachine, type UiMachine } from '../../sim/ui/model.ts';
import { UiStore } from '../../sim/ui/store.ts';
import { ENTER, ESC, closeAll, startUi, type Harness } from './helpers.tsx';

afterEach(closeAll);

function fits(h: Harness, cols: number, rows: number): void {
  const lines = h.lines();
  expect(lines.length).toBeLessThanOrEqual(rows);
  for (const l of lines) expect([...l].length).toBeLessThanOrEqual(cols);
}

describe('panels', () => {
  it('show the active states, the device links and the event log by default', async () => {
    const h = await startUi();
    expect(h.frame()).toContain('─ States');
    expect(h.frame()).toContain('sales.idle');
    expect(h.frame()).toMatch(/● dispenser +online/);
    expect(h.frame()).toContain('─ Events');
    await h.type('4');
    await h.advance(400);
    expect(h.frame()).toContain('coin €0.50 → tube');
    expect(h.frame()).toContain('sales.session');
  });

  it('t l e w i a toggle them', async () => {
    const h = await startUi({ size: { cols: 80, rows: 40 } });
    await h.type('t');
    expect(h.frame()).not.toContain('─ States');
    await h.type('l', 'e');
    expect(h.frame()).not.toContain('─ Links');
    expect(h.frame()).not.toContain('─ Events');
    expect(h.frame()).toContain('panels hidden');
    await h.type('w');
    expect(h.frame()).toContain('─ Wire trace');
    expect(h.frame()).toContain('port level: no wire trace');
    await h.type('i');
    expect(h.frame()).toContain('─ Inside the machine');
    expect(h.frame()).toMatch(/money +in machine €69\.00 \(expected €69\.00\) balanced/);
    await h.type('a');
    expect(h.frame()).toContain('─ Audit counters');
    await h.type('t');
    expect(h.frame()).toContain('─ States');
  });

  it('the wire panel shows the frames of an attached trace', async () => {
    const trace$ = new Subject<FrameTrace>();
    const h = await startUi({ trace$, size: { cols: 100, rows: 30 } });
    expect(h.frame()).toContain('─ Wire trace');
    trace$.next({ bus: 'mdb', dir: 'tx', at: 1200, raw: '0B 0B', meaning: 'POLL changer' });
    trace$.next({ bus: 'cctalk', dir: 'rx', at: 1300, raw: '01 00 02 00 FD', error: 'checksum' });
    trace$.next({ bus: 'gpio', dir: 'rx', at: 1400, raw: 'garbage\x1b[2J\r\n' });
    await h.advance(0);
    expect(h.frame()).toContain('1.200s mdb > 0B 0B POLL changer');
    expect(h.frame()).toContain('1.300s cctalk < 01 00 02 00 FD !checksum');
    // Control characters on the wire cannot move the cursor or clear the screen.
    expect(h.frame()).toContain('1.400s gpio < garbage·[2J··');
  });

  it('the audit panel counts from the controller events', async () => {
    const h = await startUi({ size: { cols: 80, rows: 40 } });
    await h.type('a', '6');
    await h.advance(400);
    await h.type('k', 'c', '8');
    await h.advance(15_000);
    expect(h.frame()).toMatch(/vends paid 1 \(€0\.60\) +cash 1/);
    expect(h.frame()).toMatch(/cash in €2\.00/);
    expect(h.frame()).toMatch(/change €1\.40/);
  });
});

describe('layout', () => {
  it('fits 80×24 in every screen: no line longer than 80, at most 24 lines', async () => {
    const h = await startUi({ size: { cols: 80, rows: 24 } });
    fits(h, 80, 24);
    await h.type('?');
    expect(h.frame()).toContain('─ Keys');
    fits(h, 80, 24);
    await h.type(ESC, 'f');
    fits(h, 80, 24);
    await h.type(ESC, 'w', 'i', 'a');
    fits(h, 80, 24);
    await h.type('d');
    await h.advance(10);
    await h.type('s');
    fits(h, 80, 24);
  });

  it('from WIDE_COLS columns the panels sit beside the front; taller terminals show product names in the grid', async () => {
    const h = await startUi({ size: { cols: WIDE_COLS + 10, rows: 40 } });
    const first = h.lines()[1] ?? '';
    expect(first).toMatch(/┌─+┐ +Credit €0\.00 +─ States/);
    expect(h.frame()).toContain('Crisps S');
    fits(h, WIDE_COLS + 10, 40);
  });

  it('help lists every key of the key map', async () => {
    const h = await startUi({ size: { cols: 100, rows: 40 } });
    await h.type('?');
    for (const g of KEYS) {
      expect(h.frame()).toContain(g.title);
      for (const b of g.bindings) expect(h.frame()).toContain(b.what);
    }
    await h.type(ESC);
    expect(h.frame()).not.toContain('─ Keys');
  });
});

describe('every frame fits its terminal (property)', () => {
  let machine: UiMachine;
  beforeAll(async () => {
    machine = await createUiMachine(loadDemoConfig());
  });
  afterAll(async () => {
    await machine.close();
  });

  const keys = ['1', '4', '6', 'b', '1', 'c', 'C', 'x', 'k', 'a', '3', 'r', 'g', 'd', 's', 'f', 'o', 't', 'l', 'e', 'w', 'i', 'a', '?', ' ', 'n', '+', '-', 'enter', 'esc', 'up', 'down', 'left', 'right', 'backspace'];

  it('random key sequences at random sizes from 80×24 up', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...keys), { maxLength: 25 }),
        fc.integer({ min: 80, max: 220 }),
        fc.integer({ min: 24, max: 70 }),
        async (seq, cols, rows) => {
          const store = new UiStore(machine);
          try {
            for (const k of seq) {
              store.key(keyPress(k));
              if (store.hasQuit) break;
              const frame = plainLines(renderFrame(store.view(), { cols, rows }));
              expect(frame).toHaveLength(rows);
              for (const l of frame) expect([...l]).toHaveLength(cols);
            }
            await store.advance(200);
          } finally {
            store.quit();
          }
        },
      ),
      { seed: 20260501, numRuns: 30 },
    );
  });
});

describe('the command line', () => {
  it(': runs a line-mode command through the session and shows its answer', async () => {
    const h = await startUi();
    await h.type(':', 'coin 1.00');
    expect(h.frame()).toContain(':coin 1.00█');
    await h.type(ENTER);
    await h.store.idle();
    await h.advance(0);
    expect(h.frame()).toContain('coin €1.00: accepted (to the tube)');
    expect(h.frame()).toMatch(/Credit €1\.00/);
  });

  it('reports a bad command without crashing', async () => {
    const h = await startUi();
    await h.type(':', 'coni 50', ENTER);
    await h.store.idle();
    await h.advance(0);
    expect(h.frame()).toContain("unknown command 'coni' (did you mean coin?)");
  });
});
