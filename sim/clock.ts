/**
 * The virtual clock: one clock for the statechart, the simulated devices and the emulators, so an
 * hour of machine time runs in milliseconds, deterministically. Timers due at the same instant run
 * in the order they were set.
 */
import type { Clock, TimerHandle } from '../src/clock.ts';

interface Timer {
  readonly id: number;
  readonly due: number;
  readonly fn: () => void;
}

/** Lets promise continuations (device commands awaiting a timer) run before the next timer fires. */
function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class VirtualClock implements Clock {
  private time: number;
  private nextId = 1;
  private heap: Timer[] = [];
  private cancelled = new Set<number>();

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.push({ id, due: this.time + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    if (typeof handle === 'number') this.cancelled.add(handle);
  }

  /** Timers still waiting (cancelled ones excluded). */
  get pending(): number {
    return this.heap.length - this.cancelled.size;
  }

  /** Due time of the next live timer, or undefined when none is set. */
  nextDue(): number | undefined {
    this.dropCancelledHead();
    return this.heap[0]?.due;
  }

  /** Move time forward by `ms`, firing every timer that falls due on the way, in order. */
  async advance(ms: number): Promise<void> {
    await this.advanceTo(this.time + ms);
  }

  async advanceTo(target: number): Promise<void> {
    await flushMicrotasks();
    for (;;) {
      this.dropCancelledHead();
      const next = this.heap[0];
      if (!next || next.due > target) break;
      this.pop();
      this.time = Math.max(this.time, next.due);
      next.fn();
      await flushMicrotasks();
    }
    this.time = Math.max(this.time, target);
  }

  /**
   * Fire timers until `done()` holds or nothing is left to fire within `limitMs`.
   * Returns true when `done()` became true.
   */
  async runUntil(done: () => boolean, limitMs = 3_600_000): Promise<boolean> {
    const stop = this.time + limitMs;
    await flushMicrotasks();
    while (!done()) {
      const due = this.nextDue();
      if (due === undefined || due > stop) return done();
      await this.advanceTo(due);
    }
    return true;
  }

  /** Fire every timer there is, up to `limitMs` ahead (for draining at the end of a test). */
  async runAll(limitMs = 3_600_000): Promise<void> {
    await this.runUntil(() => this.nextDue() === undefined, limitMs);
  }

  private dropCancelledHead(): void {
    while (this.heap.length > 0) {
      const head = this.heap[0];
      if (!head || !this.cancelled.has(head.id)) return;
      this.cancelled.delete(head.id);
      this.pop();
    }
  }

  private less(a: Timer, b: Timer): boolean {
    return a.due < b.due || (a.due === b.due && a.id < b.id);
  }

  private push(t: Timer): void {
    const h = this.heap;
    h.push(t);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = h[p];
      if (!parent || !this.less(t, parent)) break;
      h[i] = parent;
      i = p;
    }
    h[i] = t;
  }

  private pop(): Timer | undefined {
    const h = this.heap;
    const top = h[0];
    const last = h.pop();
    if (h.length === 0 || !last) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      let best = last;
      const lt = h[l];
      const rt = h[r];
      if (lt && this.less(lt, best)) {
        m = l;
        best = lt;
      }
      if (rt && this.less(rt, best)) m = r;
      if (m === i) break;
      const child = h[m];
      if (!child) break;
      h[i] = child;
      i = m;
    }
    h[i] = last;
    return top;
  }
}
