/**
 * Driving the virtual clock from the UI: real time × speed, pause, step, and at most one frame per
 * tick. The real interval is faked (only setInterval; the virtual clock's setImmediate stays real)
 * and the wall clock is a number the test moves.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadDemoConfig } from '../../sim/session.ts';
import { keyPress } from '../../sim/ui/keys.ts';
import { createUiMachine, type UiMachine } from '../../sim/ui/model.ts';
import { FRAME_MS, UiStore } from '../../sim/ui/store.ts';

let machine: UiMachine;
let store: UiStore;
let wall = 0;
let frames = 0;

beforeEach(async () => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
  machine = await createUiMachine(loadDemoConfig());
  store = new UiStore(machine);
  store.subscribe(() => {
    frames += 1;
  });
  wall = 0;
  frames = 0;
  store.startRealtime(() => wall);
});

afterEach(async () => {
  store.quit();
  await machine.close();
  vi.useRealTimers();
});

/** Lets `ms` of wall time pass, tick by tick, waiting for each clock move to finish. */
async function realTime(ms: number): Promise<void> {
  for (let t = 0; t < ms; t += FRAME_MS) {
    wall += FRAME_MS;
    vi.advanceTimersByTime(FRAME_MS);
    await store.idle();
  }
}

describe('real-time driving of the virtual clock', () => {
  it('runs at 1× by default', async () => {
    const start = machine.clock.now();
    await realTime(1000);
    expect(machine.clock.now() - start).toBeGreaterThanOrEqual(950);
    expect(machine.clock.now() - start).toBeLessThanOrEqual(1000);
    expect(store.speed).toBe(1);
  });

  it('+ speeds up through 2×, 10×, 100× and - slows down', async () => {
    store.key(keyPress('+'));
    expect(store.speed).toBe(2);
    store.key(keyPress('+'));
    store.key(keyPress('+'));
    store.key(keyPress('+'));
    expect(store.speed).toBe(100);
    const start = machine.clock.now();
    await realTime(500);
    expect(machine.clock.now() - start).toBeGreaterThanOrEqual(45_000);
    store.key(keyPress('-'));
    expect(store.speed).toBe(10);
  });

  it('space pauses: the virtual clock stands still, and the machine with it', async () => {
    store.key(keyPress(' '));
    expect(store.speed).toBe(0);
    store.key(keyPress('4'));
    const start = machine.clock.now();
    await realTime(2000);
    expect(machine.clock.now()).toBe(start);
    expect(machine.controller.snapshot.context.credit).toBe(0);
    store.key(keyPress(' '));
    await realTime(500);
    expect(machine.controller.snapshot.context.credit).toBe(50);
  });

  it('n steps to the next timer, and pauses', async () => {
    store.key(keyPress('4')); // validation timer at now + 300 ms
    const start = machine.clock.now();
    store.key(keyPress('n'));
    await store.idle();
    expect(store.isPaused).toBe(true);
    expect(machine.clock.now()).toBe(start + 300);
    expect(machine.controller.snapshot.context.credit).toBe(50);
  });

  it('publishes at most one frame per tick however much happens', async () => {
    store.key(keyPress('+'));
    store.key(keyPress('+'));
    store.key(keyPress('+'));
    frames = 0;
    for (let i = 0; i < 5; i++) store.key(keyPress('1'));
    // Five changes, no frame yet: frames go out on the tick.
    expect(frames).toBe(0);
    for (let t = 0; t < 20; t++) {
      const before = frames;
      wall += FRAME_MS;
      vi.advanceTimersByTime(FRAME_MS);
      await store.idle();
      expect(frames - before).toBeLessThanOrEqual(1);
    }
    expect(frames).toBeGreaterThan(0);
    expect(machine.controller.snapshot.context.credit).toBe(25);
  });

  it('q stops the real-time loop and resolves quitted', async () => {
    store.key(keyPress('q'));
    await store.quitted;
    const at = machine.clock.now();
    await realTime(500);
    expect(machine.clock.now()).toBe(at);
  });
});
