import { describe, expect, it } from 'vitest';
import { createRandom } from '../../sim/random.ts';

describe('createRandom', () => {
  it('repeats the same sequence for the same seed', () => {
    const a = createRandom(42);
    const b = createRandom(42);
    const sa = Array.from({ length: 20 }, () => a.next());
    const sb = Array.from({ length: 20 }, () => b.next());
    expect(sa).toEqual(sb);
  });

  it('gives different sequences for different seeds', () => {
    const a = createRandom(1);
    const b = createRandom(2);
    expect(Array.from({ length: 5 }, () => a.next())).not.toEqual(Array.from({ length: 5 }, () => b.next()));
  });

  it('next() stays in [0, 1) and int() in [lo, hi] with both ends reached', () => {
    const r = createRandom(3);
    const seen = new Set<number>();
    let outOfRange = 0;
    for (let i = 0; i < 2000; i++) {
      const x = r.next();
      if (!(x >= 0 && x < 1)) outOfRange += 1;
      const n = r.int(-2, 2);
      if (!Number.isInteger(n)) outOfRange += 1;
      seen.add(n);
    }
    expect(outOfRange).toBe(0);
    expect([...seen].sort((a, b) => a - b)).toEqual([-2, -1, 0, 1, 2]);
  });

  it('is roughly uniform (each of 4 buckets within 20% of its share)', () => {
    const r = createRandom(99);
    const buckets = [0, 0, 0, 0];
    for (let i = 0; i < 8000; i++) {
      const k = r.int(0, 3);
      buckets[k] = (buckets[k] ?? 0) + 1;
    }
    for (const b of buckets) expect(Math.abs(b - 2000)).toBeLessThan(400);
  });

  it('pick() returns members and chance() honours 0 and 1', () => {
    const r = createRandom(5);
    const items = ['a', 'b', 'c'] as const;
    for (let i = 0; i < 50; i++) expect(items).toContain(r.pick(items));
    for (let i = 0; i < 50; i++) {
      expect(r.chance(0)).toBe(false);
      expect(r.chance(1)).toBe(true);
    }
  });

  it('reports bad arguments clearly', () => {
    const r = createRandom(5);
    expect(() => r.pick([])).toThrow(/non-empty/);
    expect(() => r.int(3, 1)).toThrow(/lo ≤ hi/);
    expect(() => r.int(0.5, 1)).toThrow(/whole numbers/);
    expect(() => createRandom(Number.NaN)).toThrow(/finite/);
  });
});
