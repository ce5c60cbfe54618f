/**
 * ccTalk packet codec (protocols.md §3.2): `[dest][N][src][header][data × N][checksum]` with the
 * simple 8-bit checksum, where the sum of every byte of the packet, checksum included, is 0 mod 256.
 * The 16-bit CRC and encrypted variants are not covered.
 *
 * Why not `@serialport/parser-cctalk` (protocols.md §3.6): it checks no checksum, removes no echo,
 * cannot resync once a garbage byte shifted its length field (it waits for `N + 5` bytes from
 * wherever it is), and it times the inter-byte gap with `Date.now()`, which a VirtualClock cannot
 * drive. This decoder runs on the injected Clock, knows what the host sent (echo removal), checks
 * the checksum and the addresses before it trusts a length byte, and looks past a bad candidate so
 * one garbage byte costs at most the frame it landed in.
 *
 * Nothing here throws on bad input: problems are counted in `stats` and reported to `onError`.
 */
import type { Clock } from '../../src/clock.ts';

/** Reply headers (protocols.md §3.2). */
export const HDR_REPLY = 0x00;
export const HDR_NAK = 0x05;
export const HDR_BUSY = 0x06;

/** Default addresses (protocols.md §3.1). */
export const ADDR_BROADCAST = 0;
export const ADDR_HOST = 1;
export const ADDR_COIN_ACCEPTOR = 2;
export const ADDR_HOPPER = 3;

/** Header numbers used by the drivers and emulators (protocols.md §3.3). */
export const Header = {
  RESET_DEVICE: 1,
  COMMS_REVISION: 4,
  TEST_HOPPER: 163,
  ENABLE_HOPPER: 164,
  HOPPER_STATUS: 166,
  DISPENSE_HOPPER_COINS: 167,
  EMERGENCY_STOP: 172,
  REQUEST_COIN_ID: 184,
  MASTER_INHIBIT_STATUS: 227,
  MODIFY_MASTER_INHIBIT: 228,
  READ_BUFFERED_CREDIT: 229,
  INHIBIT_STATUS: 230,
  MODIFY_INHIBIT: 231,
  SOFTWARE_REVISION: 241,
  SERIAL_NUMBER: 242,
  PRODUCT_CODE: 244,
  EQUIPMENT_CATEGORY: 245,
  MANUFACTURER_ID: 246,
  POLLING_PRIORITY: 249,
  SIMPLE_POLL: 254,
} as const;

/** The largest packet: 255 data bytes + 5 framing bytes. */
export const MAX_DATA = 255;
const OVERHEAD = 5;

export interface CctalkFrame {
  readonly dest: number;
  readonly src: number;
  readonly header: number;
  readonly data: Uint8Array;
}

function isByte(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= 255;
}

/** The checksum byte that makes `bytes` plus itself sum to 0 mod 256. */
export function checksum(bytes: ArrayLike<number>, start = 0, end = bytes.length): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum += bytes[i] ?? 0;
  return (256 - (sum & 0xff)) & 0xff;
}

/** Encode one packet. Throws a RangeError on a field that is not a byte (a caller bug, not input). */
export function encodeFrame(frame: CctalkFrame): Uint8Array {
  const { dest, src, header, data } = frame;
  for (const [name, v] of [['dest', dest], ['src', src], ['header', header]] as const)
    if (!isByte(v)) throw new RangeError(`ccTalk ${name} must be a byte, got ${String(v)}`);
  if (data.length > MAX_DATA) throw new RangeError(`ccTalk data is at most ${MAX_DATA} bytes, got ${data.length}`);
  const out = new Uint8Array(data.length + OVERHEAD);
  out[0] = dest;
  out[1] = data.length;
  out[2] = src;
  out[3] = header;
  out.set(data, 4);
  out[out.length - 1] = checksum(out, 0, out.length - 1);
  return out;
}

/** Decode exactly one whole packet, or null when the bytes are not one (length or checksum wrong). */
export function decodeFrame(bytes: Uint8Array): CctalkFrame | null {
  if (bytes.length < OVERHEAD) return null;
  const n = bytes[1] ?? 0;
  if (bytes.length !== n + OVERHEAD) return null;
  if (checksum(bytes) !== 0) return null;
  return {
    dest: bytes[0] ?? 0,
    src: bytes[2] ?? 0,
    header: bytes[3] ?? 0,
    data: bytes.slice(4, 4 + n),
  };
}

export function toHex(bytes: ArrayLike<number>): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += (i ? ' ' : '') + (bytes[i] ?? 0).toString(16).padStart(2, '0').toUpperCase();
  return s;
}

export type DecodeErrorKind = 'checksum' | 'garbage' | 'timeout' | 'echo-mismatch' | 'overflow';

export interface DecodeError {
  readonly kind: DecodeErrorKind;
  readonly bytes: Uint8Array;
  readonly message: string;
}

export interface DecoderStats {
  frames: number;
  /** Echo bytes recognised and removed. */
  echoBytes: number;
  /** Bytes thrown away (garbage, bad frames, timed-out partials). */
  droppedBytes: number;
  checksumErrors: number;
  timeouts: number;
  echoMismatches: number;
}

export interface DecoderOptions {
  /** When set, a partial frame older than `interByteTimeoutMs` is dropped on the next byte. */
  readonly clock?: Clock;
  /**
   * Gap after which a partial frame is abandoned. The spec value is unconfirmed (protocols.md §7
   * item 3); 50 ms is `@serialport/parser-cctalk`'s default. 0 disables it.
   */
  readonly interByteTimeoutMs?: number;
  /**
   * Address filter checked BEFORE a length byte is trusted: a host passes `dest === 1` (and the
   * address it polled), an emulator its own address. Cuts false frames in garbage by ~256× each.
   * `src` is undefined while only the first bytes of a candidate have arrived.
   */
  readonly accept?: (dest: number, src: number | undefined) => boolean;
  readonly onError?: (e: DecodeError) => void;
  /** Bytes held while waiting for a frame to complete; beyond this the oldest are dropped. */
  readonly maxBuffer?: number;
}

/**
 * Streaming decoder: push arbitrary chunks, get whole valid frames back.
 *
 * Echo removal (protocols.md §3.1, single-wire bus): the host calls `expectEcho(sent)` before it
 * writes; incoming bytes that match `sent` from its first byte are held and dropped once the whole
 * echo matched. The first mismatching byte releases the held bytes to the frame parser, so a link
 * without echo (or a lost echo) costs nothing: a reply to the host never starts with the device
 * address the request started with.
 *
 * Resync: candidates are tried from the oldest byte. A candidate whose (dest, src) fail `accept`,
 * or whose complete bytes fail the checksum, is skipped by ONE byte, not by its claimed length.
 * If the oldest plausible candidate is still incomplete but a later candidate is already a
 * complete valid frame, the later one wins (the bytes before it were garbage with a large length
 * field); this is what bounds the loss to one frame.
 */
export class CctalkDecoder {
  readonly stats: DecoderStats = {
    frames: 0,
    echoBytes: 0,
    droppedBytes: 0,
    checksumErrors: 0,
    timeouts: 0,
    echoMismatches: 0,
  };

  private buf = new Uint8Array(512);
  private len = 0;
  private lastByteAt = 0;
  private echo: Uint8Array | null = null;
  private echoMatched = 0;
  private readonly timeoutMs: number;
  private readonly maxBuffer: number;

  constructor(private readonly opts: DecoderOptions = {}) {
    this.timeoutMs = opts.interByteTimeoutMs ?? 50;
    this.maxBuffer = Math.max(2 * (MAX_DATA + OVERHEAD), opts.maxBuffer ?? 4096);
  }

  /** The host is about to send `bytes`; expect them back first (single-wire echo). */
  expectEcho(bytes: Uint8Array): void {
    this.releaseEcho(false);
    this.echo = bytes.slice();
    this.echoMatched = 0;
  }

  /** Drop everything held (partial frame and any pending echo), e.g. after a reply timeout. */
  reset(): void {
    if (this.len > 0) this.drop(this.len, 'timeout', 'partial frame abandoned');
    this.echo = null;
    this.echoMatched = 0;
  }

  /** Bytes held in the frame buffer (not counting a held echo prefix). */
  get buffered(): number {
    return this.len;
  }

  push(chunk: Uint8Array): CctalkFrame[] {
    const out: CctalkFrame[] = [];
    if (chunk.length === 0) return out;
    const clock = this.opts.clock;
    if (clock && this.timeoutMs > 0) {
      const now = clock.now();
      if (this.len > 0 && now - this.lastByteAt > this.timeoutMs) {
        this.stats.timeouts++;
        this.drop(this.len, 'timeout', `partial frame older than ${this.timeoutMs} ms dropped`);
      }
      this.lastByteAt = now;
    }
    for (const b of chunk) {
      if (this.echo) {
        if (b === this.echo[this.echoMatched]) {
          this.echoMatched++;
          if (this.echoMatched === this.echo.length) {
            this.stats.echoBytes += this.echo.length;
            this.echo = null;
            this.echoMatched = 0;
          }
          continue;
        }
        this.releaseEcho(true);
      }
      this.append(b);
    }
    this.parse(out);
    return out;
  }

  /** Give bytes held as a possible echo back to the frame parser. */
  private releaseEcho(mismatch: boolean): void {
    const echo = this.echo;
    if (!echo) return;
    const held = echo.subarray(0, this.echoMatched);
    this.echo = null;
    this.echoMatched = 0;
    // An empty prefix is a link without echo (or a lost echo): normal, not worth a report.
    if (mismatch && held.length > 0) {
      this.stats.echoMismatches++;
      this.report('echo-mismatch', held, 'reply did not start with the echo of the request');
    }
    for (const b of held) this.append(b);
  }

  private append(b: number): void {
    if (this.len === this.buf.length) {
      if (this.len >= this.maxBuffer) {
        this.drop(this.len - (MAX_DATA + OVERHEAD), 'overflow', 'receive buffer full');
      } else {
        const bigger = new Uint8Array(Math.min(this.maxBuffer, this.buf.length * 2));
        bigger.set(this.buf.subarray(0, this.len));
        this.buf = bigger;
      }
    }
    this.buf[this.len++] = b;
  }

  private plausible(i: number): boolean {
    const accept = this.opts.accept;
    if (!accept) return true;
    // `src` is undefined while its byte has not arrived yet.
    return accept(this.buf[i] ?? 0, i + 2 < this.len ? (this.buf[i + 2] ?? 0) : undefined);
  }

  /** 'valid' | 'bad' | 'partial' for a candidate frame starting at i. */
  private candidate(i: number): 'valid' | 'bad' | 'partial' {
    if (!this.plausible(i)) return 'bad';
    if (i + 1 >= this.len) return 'partial';
    const total = (this.buf[i + 1] ?? 0) + OVERHEAD;
    if (i + total > this.len) return 'partial';
    let sum = 0;
    for (let k = i; k < i + total; k++) sum += this.buf[k] ?? 0;
    if ((sum & 0xff) !== 0) {
      // Counted at the head only: a head candidate is dropped right away, so each is counted once.
      if (i === 0) this.stats.checksumErrors++;
      return 'bad';
    }
    return 'valid';
  }

  private parse(out: CctalkFrame[]): void {
    for (;;) {
      let firstPartial = -1;
      let found = -1;
      for (let i = 0; i < this.len; i++) {
        const c = this.candidate(i);
        if (c === 'valid') {
          found = i;
          break;
        }
        if (c === 'partial' && firstPartial < 0) firstPartial = i;
      }
      if (found < 0) {
        // Keep from the oldest candidate that may still complete; the rest before it is garbage.
        const keepFrom = firstPartial < 0 ? this.len : firstPartial;
        if (keepFrom > 0) this.drop(keepFrom, 'garbage', 'bytes that start no valid frame');
        return;
      }
      if (found > 0) this.drop(found, 'garbage', 'bytes before a valid frame');
      const n = this.buf[1] ?? 0;
      out.push({ dest: this.buf[0] ?? 0, src: this.buf[2] ?? 0, header: this.buf[3] ?? 0, data: this.buf.slice(4, 4 + n) });
      this.stats.frames++;
      this.consume(n + OVERHEAD);
    }
  }

  private drop(count: number, kind: DecodeErrorKind, message: string): void {
    const bytes = this.buf.slice(0, count);
    this.consume(count);
    this.stats.droppedBytes += count;
    this.report(kind, bytes, message);
  }

  private consume(count: number): void {
    this.buf.copyWithin(0, count, this.len);
    this.len -= count;
  }

  private report(kind: DecodeErrorKind, bytes: Uint8Array, message: string): void {
    const cb = this.opts.onError;
    if (!cb) return;
    try {
      cb({ kind, bytes, message });
    } catch {
      // A failing error callback must not break decoding.
    }
  }
}
