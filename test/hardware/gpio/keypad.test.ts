import { describe, expect, it } from 'vitest';
import { Subject } from 'rxjs';
import type { Key, KeypadPort, LinkState } from '../../../src/ports/index.ts';
import { DEFAULT_KEYPAD_LAYOUT } from '../../../hardware/gpio/index.ts';
import { KEYPAD, collect, must, rig } from './helpers.ts';

async function keypadRig(keypad: Record<string, unknown> = {}) {
  const r = await rig({ keypad: { ...KEYPAD, ...keypad } });
  const pad = must(r.gpio.keypad, 'keypad');
  const bridge = must(r.sim.keypad, 'keypad bridge');
  return { ...r, pad, bridge, keys: collect(pad.keys$) };
}

describe('MatrixKeypad', () => {
  it('reports a press once, however long it is held', async () => {
    const { clock, bridge, keys } = await keypadRig();
    bridge.press('A', { holdMs: 1_500 });
    await clock.advance(2_000);
    expect(keys).toEqual(['A']);
  });

  it('maps every position of the layout to its key', async () => {
    const { clock, bridge, keys } = await keypadRig();
    const all = DEFAULT_KEYPAD_LAYOUT.flat().filter((l) => l !== '');
    for (const k of all) {
      bridge.press(k, { holdMs: 60 });
      await clock.advance(150);
    }
    expect(keys).toEqual(all);
  });

  it('rejects contact bounce: a chattering press is one key, whatever its phase against the scan', async () => {
    const { clock, bridge, keys } = await keypadRig();
    // 30 ms of chatter (3 ms flips) at make and at break, seen by a 20 ms scan cycle.
    // The scan starts with the press, so vary the hold time to move the release chatter across it.
    for (let extra = 0; extra < 20; extra++) {
      bridge.press('7', { holdMs: 80 + extra, bounces: 5, bounceMs: 3 });
      await clock.advance(300);
    }
    expect(keys).toEqual(Array<Key>(20).fill('7'));
  });

  it('ignores a blip shorter than the debounce time', async () => {
    const { clock, bridge, keys } = await keypadRig();
    bridge.press('B', { holdMs: 8 });
    await clock.advance(500);
    expect(keys).toEqual([]);
  });

  it('needs the key released for the debounce time before it counts again', async () => {
    const { clock, bridge, keys } = await keypadRig();
    bridge.down('3');
    await clock.advance(100);
    bridge.up('3');
    await clock.advance(6); // a release shorter than the debounce time: the same press
    bridge.down('3');
    await clock.advance(100);
    bridge.up('3');
    await clock.advance(100);
    bridge.down('3');
    await clock.advance(100);
    bridge.up('3');
    await clock.advance(100);
    expect(keys).toEqual(['3', '3']);
  });

  it('reports two keys held together, each once', async () => {
    const { clock, bridge, keys } = await keypadRig();
    bridge.down('C');
    await clock.advance(50);
    bridge.down('8'); // other row, other column
    await clock.advance(200);
    bridge.up('C');
    bridge.up('8');
    await clock.advance(200);
    expect(keys).toEqual(['C', '8']);
  });

  it('reports two quick keys in sequence', async () => {
    const { clock, bridge, keys } = await keypadRig();
    bridge.press('D', { holdMs: 50 });
    await clock.advance(75);
    bridge.press('4', { holdMs: 50 });
    await clock.advance(300);
    expect(keys).toEqual(['D', '4']);
  });

  it('sits idle with all rows driven and no timer running until a key goes down', async () => {
    const { clock, sim, bridge } = await keypadRig();
    const rowLevels = () => KEYPAD.rowPins.map((p) => sim.io.output(p));
    expect(clock.nextDue()).toBeUndefined();
    expect(rowLevels()).toEqual([0, 0, 0, 0]); // active low: all rows active
    bridge.press('J', { holdMs: 50 });
    await clock.advance(10);
    expect(rowLevels().filter((v) => v === 0)).toHaveLength(1); // scanning: one row at a time
    await clock.advance(500);
    expect(clock.nextDue()).toBeUndefined();
    expect(rowLevels()).toEqual([0, 0, 0, 0]);
  });

  it('uses the key map for printed labels (a 4×3 phone pad: * = CLEAR, # = RETURN)', async () => {
    const { clock, bridge, keys } = await keypadRig({
      rowPins: [12, 13, 14, 15],
      colPins: [16, 17, 18],
      layout: [
        ['1', '2', '3'],
        ['4', '5', '6'],
        ['7', '8', '9'],
        ['*', '0', '#'],
      ],
    });
    for (const label of ['*', '0', '#']) {
      bridge.press(label, { holdMs: 60 });
      await clock.advance(150);
    }
    expect(keys).toEqual(['CLEAR', '0', 'RETURN']);
  });

  it('works with active-high rows and pull-down columns', async () => {
    const { clock, sim, bridge, keys } = await keypadRig({ activeLevel: 'high', pull: 'down' });
    expect(sim.io.pullOf(KEYPAD.colPins[0] ?? -1)).toBe('down');
    bridge.press('E', { holdMs: 80 });
    await clock.advance(300);
    expect(keys).toEqual(['E']);
  });

  it('follows a port-level keypad through the matrix bridge', async () => {
    const { clock, bridge, keys } = await keypadRig();
    const port: KeypadPort = { name: 'keypad', link$: new Subject<LinkState>(), keys$: new Subject<Key>() };
    const source = port.keys$ as Subject<Key>;
    bridge.attach(port, { holdMs: 60 });
    for (const k of ['B', '2', 'RETURN'] as const) {
      source.next(k);
      await clock.advance(200);
    }
    expect(keys).toEqual(['B', '2', 'RETURN']);
  });
});
