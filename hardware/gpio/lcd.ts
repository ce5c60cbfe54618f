/**
 * An HD44780 character LCD through johnny-five's `LCD` component, wired 4-bit parallel on GPIO or
 * through a PCF8574 I2C backpack. `show(lines)` keeps a copy of what is on the glass and rewrites only
 * the characters that changed (a cursor move plus the changed run), because every byte costs a few
 * GPIO writes and johnny-five busy-waits ~40 µs per nibble.
 *
 * Only characters of the HD44780 ROM (A00) are sent: printable ASCII except '\' and '~'; others go
 * through `substitutions` (e.g. '€' → 'E') or print '?'.
 */
import type five from 'johnny-five';
import type { Observable } from 'rxjs';
import type { DisplayPort, LinkState } from '../../src/ports/index.ts';
import { johnnyFive, type GpioBoard } from './board.ts';
import type { LcdOptions } from './config.ts';

/** The LCD methods used here (`command` is real but missing from @types/johnny-five). */
interface J5Lcd {
  cursor(row: number, col: number): unknown;
  print(message: string): unknown;
  command(value: number): unknown;
}

/** Options johnny-five's LCD reads (lib/lcd.js); @types/johnny-five lists only some of them. */
type J5LcdOptions = five.LCDGeneralOption & { controller?: string; address?: number; pins?: number[] };

export class LcdDisplay implements DisplayPort {
  readonly name: string;
  readonly rows: number;
  readonly cols: number;
  readonly link$: Observable<LinkState>;
  private readonly lcd: J5Lcd;
  private readonly shadow: string[];
  /** Characters sent to the LCD since start (for write-budget checks). */
  charsWritten = 0;

  constructor(
    private readonly board: GpioBoard,
    private readonly opts: LcdOptions,
    name = 'display',
  ) {
    this.name = name;
    this.rows = opts.rows;
    this.cols = opts.cols;
    this.link$ = board.link$;
    const base: J5LcdOptions = { board: board.j5, rows: opts.rows, cols: opts.cols };
    let options: J5LcdOptions;
    if (opts.controller === 'PARALLEL') {
      const p = opts.pins;
      // johnny-five's array order: RS, EN, D4, D5, D6, D7.
      options = { ...base, pins: [p.rs, p.en, p.d4, p.d5, p.d6, p.d7].map((id) => board.pin(id)) };
    } else {
      options = { ...base, controller: opts.controller, ...(opts.address === undefined ? {} : { address: opts.address }) };
    }
    // The constructor runs the HD44780 init sequence at once (busy-waiting ~10 ms in johnny-five).
    this.lcd = new (johnnyFive().LCD)(options) as unknown as J5Lcd;
    if (opts.controller === 'PARALLEL') {
      // johnny-five's 4-bit parallel init never sends a 4-bit function set with N=1 (it sends 0x08
      // where 0x28 belongs), leaving the controller in 1-line mode; set 4-bit, 2-line, 5×8 here.
      this.lcd.command(0x28);
    }
    this.shadow = Array.from({ length: opts.rows }, () => ' '.repeat(opts.cols));
  }

  async show(lines: readonly string[]): Promise<void> {
    this.board.assertOnline(this.name);
    for (let r = 0; r < this.rows; r++) {
      const want = this.fit(lines[r] ?? '');
      const have = this.shadow[r] ?? ' '.repeat(this.cols);
      for (const [from, to] of changedRuns(have, want)) {
        const text = want.slice(from, to);
        this.lcd.cursor(r, from);
        this.lcd.print(text);
        this.charsWritten += text.length;
      }
      this.shadow[r] = want;
    }
  }

  /** What this adapter believes is on the display. */
  get contents(): readonly string[] {
    return [...this.shadow];
  }

  private fit(line: string): string {
    let out = '';
    for (const ch of line) {
      if (out.length >= this.cols) break;
      out += this.romChar(ch);
    }
    return out.padEnd(this.cols, ' ');
  }

  private romChar(ch: string): string {
    const sub = this.opts.substitutions[ch];
    if (sub !== undefined) return sub;
    const code = ch.charCodeAt(0);
    return ch.length === 1 && code >= 0x20 && code <= 0x7d && ch !== '\\' ? ch : '?';
  }
}

/**
 * Runs [from, to) where the two equal-length strings differ. Runs one unchanged character apart are
 * merged: rewriting it costs the same one byte as the cursor move it saves.
 */
export function changedRuns(have: string, want: string): [number, number][] {
  const runs: [number, number][] = [];
  for (let i = 0; i < want.length; i++) {
    if (have[i] === want[i]) continue;
    const last = runs[runs.length - 1];
    if (last && i - last[1] <= 1) last[1] = i + 1;
    else runs.push([i, i + 1]);
  }
  return runs;
}
