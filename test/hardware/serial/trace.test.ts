import { describe, it, expect } from 'vitest';
import { FrameTracer, escapeRaw, formatTrace, sniff } from '../../../hardware/serial/trace.ts';
import type { FrameTrace } from '../../../hardware/serial/types.ts';

const frame = (i: number, extra: Partial<FrameTrace> = {}): FrameTrace => ({ bus: 'mdb', dir: 'tx', at: i, raw: `R,${i}`, ...extra });

describe('FrameTracer', () => {
  it('keeps only the most recent frames, oldest first', () => {
    const t = new FrameTracer({ capacity: 3 });
    for (let i = 1; i <= 5; i++) t.record(frame(i));
    expect(t.recent().map((f) => f.at)).toEqual([3, 4, 5]);
    expect(t.recent(2).map((f) => f.at)).toEqual([4, 5]);
  });

  it('returns fewer frames than capacity before it wraps', () => {
    const t = new FrameTracer({ capacity: 10 });
    t.record(frame(1));
    t.record(frame(2));
    expect(t.recent().map((f) => f.at)).toEqual([1, 2]);
    t.clear();
    expect(t.recent()).toEqual([]);
  });

  it('falls back to a sane capacity for nonsense options', () => {
    expect(new FrameTracer({ capacity: -1 }).capacity).toBe(500);
    expect(new FrameTracer({ capacity: 2.5 }).capacity).toBe(500);
  });

  it('streams frames live and feeds a sniffer with formatted lines', () => {
    const t = new FrameTracer();
    const lines: string[] = [];
    const sub = sniff(t, (l) => lines.push(l), (f) => f.dir === 'rx');
    t.record(frame(1));
    t.record(frame(1500, { dir: 'rx', raw: 'p,ACK', meaning: 'changer POLL: nothing to report' }));
    sub.unsubscribe();
    t.record(frame(2, { dir: 'rx' }));
    expect(lines).toEqual(['     1.500 mdb    << p,ACK                    changer POLL: nothing to report']);
  });
});

describe('formatTrace', () => {
  it('puts time, bus, direction, raw text, meaning and error on one line', () => {
    const line = formatTrace({ bus: 'mdb', dir: 'rx', at: 12_345, raw: 'zz\u0001\r\n', error: 'garbage line' });
    expect(line).toBe('    12.345 mdb    << zz\\x01\\r\\n               !! garbage line');
    expect(line).not.toMatch(/\n/);
  });

  it('escapes non-ASCII and backslashes', () => {
    expect(escapeRaw('a\\b\u00ff\u20ac\u007f')).toBe('a\\\\b\\xff\\u{20ac}\\x7f');
  });
});
