import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { VirtualClock } from '../../../sim/clock.ts';
import { CctalkDecoder, checksum, encodeFrame, toHex, type CctalkFrame } from '../../../hardware/cctalk/codec.ts';

const SEED = 20240611;
const RUNS = 400;

const frameArb = (dest: fc.Arbitrary<number>, src: fc.Arbitrary<number>): fc.Arbitrary<Uint8Array> =>
  fc
    .record({ dest, src, header: fc.integer({ min: 0, max: 255 }), data: fc.uint8Array({ maxLength: 40 }) })
    .map((f) => encodeFrame(f));

/** Replies to the host from the acceptor: dest 1, src 2. */
const replyArb = frameArb(fc.constant(1), fc.constant(2));
/** Garbage that cannot start a frame for the host (no byte 0x01). */
const noiseArb = fc.array(fc.integer({ min: 0, max: 255 }).filter((b) => b !== 1), { maxLength: 40 }).map((a) => Uint8Array.from(a));

/** Split `bytes` at the given cut points (any order, duplicates allowed). */
function chunk(bytes: Uint8Array, cuts: readonly number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let at = 0;
  for (const p of [...points, bytes.length]) {
    if (p > at) out.push(bytes.subarray(at, p));
    at = Math.max(at, p);
  }
  return out;
}

const cat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

const hostDecoder = (clock?: VirtualClock): CctalkDecoder =>
  new CctalkDecoder({ accept: (dest, src) => dest === 1 && (src === undefined || src === 2), ...(clock ? { clock } : {}) });

const hexes = (fs: readonly CctalkFrame[]): string[] => fs.map((f) => toHex(encodeFrame(f)));

function feed(d: CctalkDecoder, bytes: Uint8Array, cuts: readonly number[]): CctalkFrame[] {
  const out: CctalkFrame[] = [];
  for (const c of chunk(bytes, cuts)) out.push(...d.push(c));
  return out;
}

describe('CctalkDecoder fuzz (fast-check, seeded)', () => {
  it('never throws on random bytes in random chunks, and only emits frames with a good checksum', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.array(fc.nat(), { maxLength: 20 }), (bytes, cuts) => {
        const d = new CctalkDecoder();
        const out = feed(d, bytes, cuts);
        for (const f of out) expect(checksum(encodeFrame(f))).toBe(0);
        // Every byte is accounted for: in a frame, dropped, or still held.
        const inFrames = out.reduce((n, f) => n + f.data.length + 5, 0);
        expect(inFrames + d.stats.droppedBytes + d.buffered).toBe(bytes.length);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('round-trips any frame, however it is chunked', () => {
    fc.assert(
      fc.property(frameArb(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })), fc.array(fc.nat(), { maxLength: 10 }), (bytes, cuts) => {
        const out = feed(new CctalkDecoder(), bytes, cuts);
        expect(hexes(out)).toEqual([toHex(bytes)]);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('resyncs after garbage: the frames after it all come out, in order', () => {
    fc.assert(
      fc.property(noiseArb, replyArb, replyArb, fc.array(fc.nat(), { maxLength: 10 }), (noise, f, g, cuts) => {
        const out = feed(hostDecoder(), cat(noise, f, g), cuts);
        expect(hexes(out)).toEqual([toHex(f), toHex(g)]);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('a frame with one corrupted byte (not its length) is dropped and the next frame comes out', () => {
    fc.assert(
      fc.property(
        replyArb,
        replyArb,
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (f, g, at, delta, cuts) => {
          const bad = f.slice();
          const positions = [...bad.keys()].filter((i) => i !== 1);
          const i = positions[at % positions.length] ?? 0;
          bad[i] = ((bad[i] ?? 0) + delta) & 0xff;
          const out = feed(hostDecoder(), cat(bad, g), cuts);
          expect(hexes(out)).toEqual([toHex(g)]);
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('a corrupted length byte costs at most that frame: later frames still come out', () => {
    fc.assert(
      fc.property(replyArb, replyArb, replyArb, fc.integer({ min: 1, max: 255 }), (f, g, h, delta) => {
        const bad = f.slice();
        bad[1] = ((bad[1] ?? 0) + delta) & 0xff;
        const out = hexes(feed(hostDecoder(), cat(bad, g, h), []));
        // The simple checksum lets 1 in 256 wrong windows pass; even then h must survive.
        expect(out).toContain(toHex(h));
        expect(out.slice(-1)).toEqual([toHex(h)]);
      }),
      { seed: SEED, numRuns: RUNS },
    );
  });

  it('a truncated frame followed by a pause is dropped on the inter-byte timeout; the next frame is whole', async () => {
    await fc.assert(
      fc.asyncProperty(replyArb, replyArb, fc.nat(), async (f, g, cutAt) => {
        const clock = new VirtualClock();
        const d = hostDecoder(clock);
        const cut = 1 + (cutAt % (f.length - 1));
        const out = [...d.push(f.subarray(0, cut))];
        await clock.advance(60);
        out.push(...d.push(g));
        expect(hexes(out)).toEqual([toHex(g)]);
      }),
      { seed: SEED, numRuns: 150 },
    );
  });

  it('removes the echo of the request and returns only the reply, in any chunking, with noise before the reply', () => {
    fc.assert(
      fc.property(
        frameArb(fc.integer({ min: 2, max: 255 }), fc.constant(1)),
        replyArb,
        noiseArb,
        fc.array(fc.nat(), { maxLength: 10 }),
        (request, reply, noise, cuts) => {
          const d = hostDecoder();
          d.expectEcho(request);
          const out = feed(d, cat(request, noise, reply), cuts);
          expect(hexes(out)).toEqual([toHex(reply)]);
          expect(d.stats.echoBytes).toBe(request.length);
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
  });
});
