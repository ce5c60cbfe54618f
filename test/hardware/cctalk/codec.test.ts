import { describe, it, expect } from 'vitest';
import { VirtualClock } from '../../../sim/clock.ts';
import {
  CctalkDecoder,
  checksum,
  decodeFrame,
  encodeFrame,
  toHex,
  type CctalkFrame,
  type DecodeError,
} from '../../../hardware/cctalk/codec.ts';

const hex = (s: string): Uint8Array => Uint8Array.from(s.trim().split(/\s+/).map((x) => parseInt(x, 16)));

/** Valid packets quoted in protocols.md §3.2, §3.4 and §3.5. */
const EXAMPLES: readonly [string, string][] = [
  ['request equipment category', '02 00 01 F5 08'],
  ['equipment category reply "Coin Acceptor"', '01 0D 02 00 43 6F 69 6E 20 41 63 63 65 70 74 6F 72 16'],
  ['request serial number', '02 00 01 F2 0B'],
  ['serial number reply 12345678', '01 03 02 00 4E 61 BC 8F'],
  ['simple poll', '02 00 01 FE FF'],
  ['ACK', '01 00 02 00 FD'],
  ['NAK', '01 00 02 05 F8'],
  ['read buffered credit', '02 00 01 E5 18'],
  ['modify inhibit status, coins 1-16', '02 02 01 E7 FF FF 16'],
  ['modify master inhibit, normal', '02 01 01 E4 01 17'],
  ['request coin id 1', '02 01 01 B8 01 43'],
  ['reset device', '02 00 01 01 FC'],
  ['manufacturer id', '02 00 01 F6 07'],
  ['product code', '02 00 01 F4 09'],
  ['read opto', '02 00 01 EC 11'],
  ['read input lines', '02 00 01 ED 10'],
  ['worked 229 reply', '01 0B 02 00 04 03 01 00 01 02 01 01 01 00 00 E4'],
  ['test hopper', '03 00 01 A3 59'],
  ['enable hopper', '03 01 01 A4 A5 B2'],
  ['hopper ACK', '01 00 03 00 FC'],
  ['dispense 1 coin, serial mode', '03 04 01 A7 DF D7 0A 01 90'],
  ['dispense reply, event counter 1', '01 01 03 00 01 FA'],
  ['hopper status', '03 00 01 A6 56'],
  ['hopper status reply', '01 04 03 00 00 00 07 03 EE'],
  ['emergency stop', '03 00 01 AC 50'],
];

describe('ccTalk checksum and packet codec (protocols.md §3.2)', () => {
  it.each(EXAMPLES)('%s: checksum and round trip match the reference bytes', (_name, text) => {
    const bytes = hex(text);
    expect(checksum(bytes, 0, bytes.length - 1)).toBe(bytes[bytes.length - 1]);
    const f = decodeFrame(bytes);
    expect(f).not.toBeNull();
    if (f) expect(toHex(encodeFrame(f))).toBe(toHex(bytes));
  });

  it('decodes the fields of the serial number reply (LSB first)', () => {
    const f = decodeFrame(hex('01 03 02 00 4E 61 BC 8F'));
    expect(f).toMatchObject({ dest: 1, src: 2, header: 0 });
    expect([...(f?.data ?? [])]).toEqual([0x4e, 0x61, 0xbc]);
  });

  it('encodes a request exactly as the spec example', () => {
    expect(toHex(encodeFrame({ dest: 2, src: 1, header: 231, data: Uint8Array.from([0xff, 0xff]) }))).toBe('02 02 01 E7 FF FF 16');
  });

  it('the §3.5 test-hopper reply "01 01 03 00 80 BA" fails the checksum as printed; 7B is the right one', () => {
    expect(decodeFrame(hex('01 01 03 00 80 BA'))).toBeNull();
    expect(decodeFrame(hex('01 01 03 00 80 7B'))?.data[0]).toBe(0x80);
  });

  it('rejects a wrong checksum, a wrong length, and too few bytes', () => {
    expect(decodeFrame(hex('01 00 02 00 FE'))).toBeNull();
    expect(decodeFrame(hex('01 01 02 00 FD'))).toBeNull();
    expect(decodeFrame(hex('01 00 02'))).toBeNull();
  });

  it('refuses to encode fields that are not bytes or data over 255 bytes', () => {
    expect(() => encodeFrame({ dest: 256, src: 1, header: 0, data: new Uint8Array(0) })).toThrow(RangeError);
    expect(() => encodeFrame({ dest: 2, src: 1, header: 0, data: new Uint8Array(256) })).toThrow(RangeError);
  });
});

describe('CctalkDecoder', () => {
  const frame = (dest: number, src: number, header: number, data: number[] = []): Uint8Array =>
    encodeFrame({ dest, src, header, data: Uint8Array.from(data) });
  const hostDecoder = (extra: Partial<ConstructorParameters<typeof CctalkDecoder>[0]> = {}): CctalkDecoder =>
    new CctalkDecoder({ accept: (dest) => dest === 1, ...extra });
  const hexes = (fs: readonly CctalkFrame[]): string[] => fs.map((f) => toHex(encodeFrame(f)));

  it('decodes frames split at every byte and frames glued together', () => {
    const d = hostDecoder();
    const a = frame(1, 2, 0, [1, 2, 3]);
    const b = frame(1, 2, 0);
    const out: CctalkFrame[] = [];
    for (const byte of [...a, ...b]) out.push(...d.push(Uint8Array.of(byte)));
    expect(hexes(out)).toEqual([toHex(a), toHex(b)]);
    const glued = new Uint8Array([...a, ...b]);
    expect(hexes(hostDecoder().push(glued))).toEqual([toHex(a), toHex(b)]);
  });

  it('removes the echo of what the host sent and keeps the reply', () => {
    const d = hostDecoder();
    const req = hex('02 00 01 FE FF');
    d.expectEcho(req);
    const out = d.push(new Uint8Array([...req, ...hex('01 00 02 00 FD')]));
    expect(hexes(out)).toEqual(['01 00 02 00 FD']);
    expect(d.stats.echoBytes).toBe(5);
    expect(d.stats.droppedBytes).toBe(0);
  });

  it('removes the echo even without an address filter (echo is dest 2, would decode as a frame)', () => {
    const d = new CctalkDecoder();
    const req = hex('02 00 01 E5 18');
    d.expectEcho(req);
    expect(hexes(d.push(new Uint8Array([...req, ...hex('01 00 02 00 FD')])))).toEqual(['01 00 02 00 FD']);
  });

  it('on a link without echo the expected echo is given up at the first byte, silently', () => {
    const errors: DecodeError[] = [];
    const d = hostDecoder({ onError: (e) => errors.push(e) });
    d.expectEcho(hex('02 00 01 FE FF'));
    expect(hexes(d.push(hex('01 00 02 00 FD')))).toEqual(['01 00 02 00 FD']);
    expect(errors).toEqual([]);
  });

  it('a broken echo (partial) releases the held bytes to the parser and reports it', () => {
    const errors: DecodeError[] = [];
    const d = hostDecoder({ onError: (e) => errors.push(e) });
    d.expectEcho(hex('02 00 01 FE FF'));
    const out = d.push(new Uint8Array([0x02, 0x00, ...hex('01 00 02 00 FD')]));
    expect(hexes(out)).toEqual(['01 00 02 00 FD']);
    expect(d.stats.echoMismatches).toBe(1);
    expect(errors.map((e) => e.kind)).toContain('echo-mismatch');
  });

  it('skips garbage before a frame, including a garbage length byte of 255', () => {
    const d = hostDecoder();
    const reply = hex('01 00 02 00 FD');
    const out = d.push(new Uint8Array([0x01, 0xff, 0x33, ...reply]));
    expect(hexes(out)).toEqual([toHex(reply)]);
    expect(d.stats.droppedBytes).toBe(3);
  });

  it('drops a frame with a bad checksum and resyncs on the next one', () => {
    const d = hostDecoder();
    const bad = hex('01 00 02 00 FE');
    const good = hex('01 01 02 00 07 F5');
    const out = d.push(new Uint8Array([...bad, ...good]));
    expect(hexes(out)).toEqual([toHex(good)]);
    expect(d.stats.checksumErrors).toBeGreaterThanOrEqual(1);
  });

  it('drops a stale partial frame after the inter-byte timeout on the Clock', async () => {
    const clock = new VirtualClock();
    const errors: DecodeError[] = [];
    const d = hostDecoder({ clock, interByteTimeoutMs: 50, onError: (e) => errors.push(e) });
    expect(d.push(hex('01 05 02 00'))).toEqual([]);
    expect(d.buffered).toBe(4);
    await clock.advance(51);
    const out = d.push(hex('01 00 02 00 FD'));
    expect(hexes(out)).toEqual(['01 00 02 00 FD']);
    expect(d.stats.timeouts).toBe(1);
    expect(errors.some((e) => e.kind === 'timeout')).toBe(true);
  });

  it('keeps a partial frame within the inter-byte timeout', async () => {
    const clock = new VirtualClock();
    const d = hostDecoder({ clock, interByteTimeoutMs: 50 });
    const f = hex('01 01 02 00 07 F5');
    d.push(f.subarray(0, 3));
    await clock.advance(40);
    expect(hexes(d.push(f.subarray(3)))).toEqual([toHex(f)]);
  });

  it('ignores frames for other addresses when filtered', () => {
    const d = hostDecoder();
    expect(d.push(hex('02 00 01 FE FF'))).toEqual([]);
    expect(hexes(d.push(hex('01 00 02 00 FD')))).toEqual(['01 00 02 00 FD']);
    expect(d.stats.droppedBytes).toBe(5);
  });

  it('reset() drops the partial frame and the pending echo', () => {
    const d = hostDecoder();
    d.expectEcho(hex('02 00 01 FE FF'));
    d.push(hex('02 00'));
    d.reset();
    expect(hexes(d.push(hex('01 00 02 00 FD')))).toEqual(['01 00 02 00 FD']);
  });

  it('an onError callback that throws does not break decoding', () => {
    const d = hostDecoder({
      onError: () => {
        throw new Error('boom');
      },
    });
    expect(hexes(d.push(hex('FF FF 01 00 02 00 FD')))).toEqual(['01 00 02 00 FD']);
  });

  it('bounds its buffer under a flood of bytes that never make a frame', () => {
    const d = new CctalkDecoder({ maxBuffer: 600 });
    // 0x01 0xFF ... claims 260-byte frames everywhere; none completes with a good checksum.
    const flood = new Uint8Array(5000).map((_, i) => (i % 2 === 0 ? 0x01 : 0xff));
    expect(() => d.push(flood)).not.toThrow();
    expect(d.buffered).toBeLessThanOrEqual(600);
  });
});
