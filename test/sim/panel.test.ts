import { describe, expect, it } from 'vitest';
import { record, rig, values } from './helpers.ts';

describe('SimKeypad', () => {
  it('emits each pressed key; type() presses a selection key by key', () => {
    const { clock, sim } = rig();
    const keys = record(sim.devices.keypad.keys$, clock);
    expect(sim.devices.keypad.press('A')).toBe(true);
    sim.devices.keypad.press('CLEAR');
    sim.devices.keypad.type('b1');
    expect(values(keys)).toEqual(['A', 'CLEAR', 'B', '1']);
  });

  it('refuses keys the keypad does not have, pressing nothing', () => {
    const { clock, sim } = rig();
    const keys = record(sim.devices.keypad.keys$, clock);
    expect(() => sim.devices.keypad.press('Z')).toThrow(/no key 'Z'/);
    expect(() => sim.devices.keypad.type('A#')).toThrow(/no key '#'/);
    expect(keys).toEqual([]);
  });
});

describe('SimDisplay', () => {
  it('keeps the last lines and publishes them on lines$ (replaying the current)', async () => {
    const { clock, sim } = rig();
    const display = sim.devices.display;
    expect(display.rows).toBe(2);
    expect(display.cols).toBe(16);
    expect(display.lines).toEqual([]);
    await display.show(['HELLO', 'INSERT COINS']);
    const seen = record(display.lines$, clock);
    await display.show(['A1  1.20']);
    expect(display.lines).toEqual(['A1  1.20']);
    expect(values(seen)).toEqual([['HELLO', 'INSERT COINS'], ['A1  1.20']]);
  });

  it('rejects lines that do not fit (a controller bug), keeping what was shown', async () => {
    const { sim } = rig();
    const display = sim.devices.display;
    await display.show(['OK']);
    await expect(display.show(['a', 'b', 'c'])).rejects.toMatchObject({ code: 'DEVICE_REJECTED' });
    await expect(display.show(['x'.repeat(17)])).rejects.toThrow(/17 characters/);
    expect(display.lines).toEqual(['OK']);
  });
});

describe('SimDoor', () => {
  it('replays the current state and reports changes once each', () => {
    const { clock, sim } = rig();
    const door = sim.devices.door;
    const seen = record(door.door$, clock);
    door.open();
    door.open();
    door.close();
    expect(values(seen)).toEqual(['closed', 'open', 'closed']);
    expect(sim.world.door).toBe('closed');
    door.open();
    const late = record(door.door$, clock);
    expect(values(late)).toEqual(['open']);
  });
});
