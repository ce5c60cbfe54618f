/**
 * An HD44780 character LCD as seen from its pins: it decodes the nibbles johnny-five's LCD writes
 * (4-bit parallel on GPIO, or a PCF8574 I2C backpack) into DDRAM, so a test can read what the
 * display shows. Instruction set after the Hitachi HD44780U datasheet, table 6; DDRAM addresses of
 * rows 0..3 are 0x00, 0x40, 0x14, 0x54.
 *
 * Modelled: 8-bit power-up state and the switch to 4-bit mode, clear, home, entry mode (increment /
 * decrement), display on/off, cursor shift, function set (the N bit: a 1-line setup shows row 0
 * only, as on a real module), CGRAM writes (ignored for display), DDRAM writes with the 2-line
 * address wrap. Not modelled: display shift, busy flag, reads.
 */
import type { SimIO } from './io-plugin.ts';

const ROW_OFFSETS = [0x00, 0x40, 0x14, 0x54] as const;

export interface Hd44780Options {
  rows: number;
  cols: number;
}

export class Hd44780 {
  readonly rows: number;
  readonly cols: number;
  private readonly ddram = new Uint8Array(0x80).fill(0x20);
  private addr = 0;
  private toCgram = false;
  private eightBit = true;
  private high: number | undefined;
  private increment = true;
  /** The function-set N bit (2-line mode). */
  twoLine = false;
  displayOn = false;
  /** Bytes written to DDRAM/CGRAM (RS=1), for write-budget assertions. */
  dataWrites = 0;
  /** Instructions executed (RS=0). */
  commands = 0;
  private readonly listeners = new Set<(rs: boolean, byte: number) => void>();

  constructor(options: Hd44780Options) {
    this.rows = options.rows;
    this.cols = options.cols;
  }

  /** One enable pulse with D4..D7 = `nibble` (4-bit wiring: D0..D3 are not connected, read 0). */
  latch(rs: boolean, nibble: number): void {
    const n = nibble & 0x0f;
    if (this.eightBit) {
      this.exec(rs, n << 4);
      return;
    }
    if (this.high === undefined) {
      this.high = n;
      return;
    }
    const byte = (this.high << 4) | n;
    this.high = undefined;
    this.exec(rs, byte);
  }

  /** Called with each decoded byte (for traces). */
  onByte(listener: (rs: boolean, byte: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** What the display shows, one string per row (blank when the display is off). */
  lines(): string[] {
    const out: string[] = [];
    for (let r = 0; r < this.rows; r++) {
      // 1-line mode only shows the first row; the rest stays dark.
      if (!this.displayOn || (!this.twoLine && r > 0)) {
        out.push(' '.repeat(this.cols));
        continue;
      }
      const base = ROW_OFFSETS[r] ?? 0;
      let s = '';
      for (let c = 0; c < this.cols; c++) s += charFor(this.ddram[(base + c) & 0x7f] ?? 0x20);
      out.push(s);
    }
    return out;
  }

  /** The rows joined with newlines, trailing spaces kept. */
  get text(): string {
    return this.lines().join('\n');
  }

  private exec(rs: boolean, b: number): void {
    for (const l of this.listeners) l(rs, b);
    if (rs) {
      this.dataWrites++;
      if (!this.toCgram) this.ddram[this.addr] = b;
      this.step();
      return;
    }
    this.commands++;
    if (b & 0x80) {
      this.addr = b & 0x7f;
      this.toCgram = false;
    } else if (b & 0x40) {
      this.toCgram = true;
    } else if (b & 0x20) {
      this.eightBit = (b & 0x10) !== 0;
      this.twoLine = (b & 0x08) !== 0;
      this.high = undefined;
    } else if (b & 0x10) {
      // Cursor shift (S/C = 0) moves the address; display shift is not modelled.
      if ((b & 0x08) === 0) this.addr = this.move(this.addr, (b & 0x04) !== 0);
    } else if (b & 0x08) {
      this.displayOn = (b & 0x04) !== 0;
    } else if (b & 0x04) {
      this.increment = (b & 0x02) !== 0;
    } else if (b & 0x02) {
      this.addr = 0;
      this.toCgram = false;
    } else if (b & 0x01) {
      this.ddram.fill(0x20);
      this.addr = 0;
      this.increment = true;
      this.toCgram = false;
    }
  }

  private step(): void {
    if (!this.toCgram) this.addr = this.move(this.addr, this.increment);
  }

  /** DDRAM address after one step: 2-line mode runs 0x00–0x27 and 0x40–0x67; 1-line mode 0x00–0x4F. */
  private move(a: number, forward: boolean): number {
    if (this.twoLine) {
      if (forward) return a === 0x27 ? 0x40 : a === 0x67 ? 0x00 : (a + 1) & 0x7f;
      return a === 0x40 ? 0x27 : a === 0x00 ? 0x67 : (a - 1) & 0x7f;
    }
    if (forward) return a >= 0x4f ? 0 : a + 1;
    return a === 0 ? 0x4f : a - 1;
  }
}

/** HD44780 ROM code A00: ASCII in 0x20–0x7D except 0x5C (¥); 0x7E/0x7F are arrows; 0–7 are CGRAM. */
function charFor(b: number): string {
  if (b === 0x5c) return '¥';
  if (b === 0x7e) return '→';
  if (b === 0x7f) return '←';
  if (b >= 0x20 && b < 0x7e) return String.fromCharCode(b);
  if (b < 0x08) return '□';
  return '?';
}

/** Parallel 4-bit wiring: the byte is latched on the falling edge of EN (datasheet timing fig. 25). */
export interface ParallelLcdPins {
  rs: number;
  en: number;
  d4: number;
  d5: number;
  d6: number;
  d7: number;
}

/** Decode the LCD from the board's GPIO writes. Returns a detach function. */
export function wireParallelLcd(io: SimIO, pins: ParallelLcdPins, lcd: Hd44780): () => void {
  for (const [name, pin] of Object.entries(pins)) io.label(pin, `lcd.${name}`, { quiet: true });
  let en = io.output(pins.en) ?? 0;
  const sub = io.writes$.subscribe((w) => {
    if (w.pin !== pins.en) return;
    const was = en;
    en = w.value;
    if (!(was === 1 && w.value === 0)) return;
    const bit = (p: number): number => io.output(p) ?? 0;
    const nibble = bit(pins.d4) | (bit(pins.d5) << 1) | (bit(pins.d6) << 2) | (bit(pins.d7) << 3);
    lcd.latch(bit(pins.rs) === 1, nibble);
  });
  const off = traceBytes(io, lcd);
  return () => {
    sub.unsubscribe();
    off();
  };
}

/**
 * PCF8574 backpack wiring as johnny-five's PCF8574 controller drives it (lib/lcd.js): P0 = RS,
 * P1 = RW, P2 = EN, P3 = backlight, P4..P7 = D4..D7. Latched when EN falls between two port writes.
 */
export function wireI2cLcd(io: SimIO, address: number, lcd: Hd44780): () => void {
  let prev = 0;
  const sub = io.i2cWrites$.subscribe((w) => {
    if (w.address !== address) return;
    for (const b of w.bytes) {
      if ((prev & 0x04) !== 0 && (b & 0x04) === 0) lcd.latch((prev & 0x01) !== 0, prev >> 4);
      prev = b;
    }
  });
  const off = traceBytes(io, lcd);
  return () => {
    sub.unsubscribe();
    off();
  };
}

function traceBytes(io: SimIO, lcd: Hd44780): () => void {
  return lcd.onByte((rs, b) => {
    const hex = `0x${b.toString(16).padStart(2, '0')}`;
    io.note('tx', `lcd ${rs ? 'data' : 'cmd'} ${hex}`, rs ? `'${charFor(b)}'` : describeCommand(b));
  });
}

function describeCommand(b: number): string {
  if (b & 0x80) return `set DDRAM address 0x${(b & 0x7f).toString(16)}`;
  if (b & 0x40) return 'set CGRAM address';
  if (b & 0x20) return `function set ${b & 0x10 ? '8' : '4'}-bit ${b & 0x08 ? '2' : '1'}-line`;
  if (b & 0x10) return 'cursor/display shift';
  if (b & 0x08) return `display ${b & 0x04 ? 'on' : 'off'}`;
  if (b & 0x04) return 'entry mode';
  if (b & 0x02) return 'home';
  if (b & 0x01) return 'clear';
  return 'nop';
}
