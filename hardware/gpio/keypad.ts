/**
 * A matrix keypad scanned through GPIO (protocols.md §6 "Keypad"): row lines are outputs, column
 * lines are inputs biased to the inactive level; a pressed key connects its row to its column.
 *
 * Idle: all rows are driven active, so any press shows on a column without any timer running. On
 * the first active column the scan starts: one row active at a time for `dwellMs` (on the Clock),
 * then the columns are sampled. A key must read the same for `debounceMs` before a press (or its
 * release) is accepted, so contact bounce and short blips are ignored; a key is reported once per
 * press. When a full scan sees nothing pressed and every key has settled released, the keypad
 * goes back to idle. Two keys held together are both reported; three keys forming a rectangle can
 * ghost without per-key diodes (a wiring limit, not handled here).
 *
 * Inactive rows are driven to the inactive level (push-pull). Two keys in one column on different
 * rows then short an active row to an inactive one through the keys: fit a series resistor per row
 * or per-key diodes.
 */
import { Subject, type Observable } from 'rxjs';
import type { TimerHandle } from '../../src/clock.ts';
import type { Key, KeypadPort, LinkState } from '../../src/ports/index.ts';
import { type GpioBoard, inverse, levelValue } from './board.ts';
import { keyForLabel, type KeypadOptions } from './config.ts';
import { pinName } from './pins.ts';

/**
 * The matrix pins of a keypad: their levels, traced, decode to the keys pressed (a service PIN
 * included). A GPIO trace never records them; see `maskedPinFrame`.
 */
export function keypadTracePins(
  opts: Pick<KeypadOptions, 'rowPins' | 'colPins'> | undefined,
  io: { normalize?(pin: number | string): number } = {},
): ReadonlySet<number> {
  const out = new Set<number>();
  for (const id of opts ? [...opts.rowPins, ...opts.colPins] : []) {
    // The plugin's pin number, as the board resolves it (board.ts `pin`: a BCM line goes to the
    // plugin by its name); a name the plugin cannot map is skipped.
    let n: number | undefined;
    if (typeof io.normalize === 'function') {
      try {
        n = io.normalize(pinName(id));
      } catch {
        n = undefined;
      }
    } else n = id;
    if (n !== undefined && Number.isInteger(n)) out.add(n);
  }
  return out;
}

/**
 * The trace text of a keypad matrix pin change, with its level left out. Always masked, not only
 * while a PIN is typed: the scan looks the same for a selection and for a PIN, and a trace must
 * never depend on the controller telling it which is which. The frame itself stays (keypad activity
 * is visible for diagnosis); which key was pressed is in the controller's log, not the trace.
 */
export function maskedPinFrame(pin: number): { readonly raw: string; readonly meaning: string } {
  return { raw: `${pin}=*`, meaning: `keypad pin ${pin} (level not traced)` };
}

interface KeyState {
  readonly key: Key | undefined;
  readonly label: string;
  /** Accepted state. */
  down: boolean;
  /** Latest reading and since when it has been read. */
  reading: boolean;
  since: number;
}

export class MatrixKeypad implements KeypadPort {
  readonly name: string;
  readonly link$: Observable<LinkState>;
  private readonly keys = new Subject<Key>();
  readonly keys$: Observable<Key> = this.keys.asObservable();

  private readonly rowPins: number[];
  private readonly colWatches: { readonly value: 0 | 1 | undefined; unwatch(): void }[];
  private readonly grid: KeyState[][];
  private readonly activeValue: 0 | 1;
  private scanning = false;
  private row = 0;
  private timer: TimerHandle | undefined;
  private anyThisCycle = false;
  private closed = false;

  constructor(
    private readonly board: GpioBoard,
    private readonly opts: KeypadOptions,
    name = 'keypad',
  ) {
    this.name = name;
    this.link$ = board.link$;
    this.activeValue = levelValue(opts.activeLevel);
    this.rowPins = opts.rowPins.map((p) => board.pin(p));
    this.grid = opts.layout.map((row) =>
      row.map((label) => ({ key: keyForLabel(label, opts.keyMap), label, down: false, reading: false, since: 0 })),
    );
    this.driveAll();
    this.colWatches = opts.colPins.map((p) => board.watch(board.pin(p), opts.pull, () => this.onColumn()));
    // A key held at start shows at once in the seeded values.
    this.onColumn();
  }

  /** Detach from the pins and stop scanning (the board stays open). */
  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.board.clock.clearTimeout(this.timer);
    this.timer = undefined;
    for (const w of this.colWatches) w.unwatch();
    this.keys.complete();
  }

  private columnActive(c: number): boolean {
    return this.colWatches[c]?.value === this.activeValue;
  }

  private onColumn(): void {
    if (this.scanning || this.closed) return;
    if (!this.colWatches.some((_, c) => this.columnActive(c))) return;
    this.scanning = true;
    this.anyThisCycle = false;
    this.selectRow(0);
  }

  private selectRow(r: number): void {
    this.row = r;
    const active = this.opts.activeLevel;
    this.rowPins.forEach((pin, i) => {
      if (i !== r) this.board.write(pin, inverse(active));
    });
    const pin = this.rowPins[r];
    if (pin !== undefined) this.board.write(pin, active);
    this.timer = this.board.clock.setTimeout(() => this.sample(), this.opts.dwellMs);
  }

  private sample(): void {
    this.timer = undefined;
    if (this.closed) return;
    const now = this.board.clock.now();
    const r = this.row;
    const rowKeys = this.grid[r] ?? [];
    rowKeys.forEach((k, c) => {
      const reading = this.columnActive(c);
      if (reading) this.anyThisCycle = true;
      this.update(k, reading, now);
      if (k.down || k.reading !== k.down) this.anyThisCycle = true;
    });
    const next = r + 1;
    if (next < this.rowPins.length) {
      this.selectRow(next);
      return;
    }
    if (this.anyThisCycle) {
      this.anyThisCycle = false;
      this.selectRow(0);
      return;
    }
    // Nothing pressed and nothing settling: back to idle, waiting on the columns.
    this.scanning = false;
    this.driveAll();
    this.onColumn();
  }

  private update(k: KeyState, reading: boolean, now: number): void {
    if (reading !== k.reading) {
      k.reading = reading;
      k.since = now;
    }
    if (k.reading === k.down || now - k.since < this.opts.debounceMs) return;
    k.down = k.reading;
    if (!k.down) return;
    if (k.key === undefined) {
      this.board.log.debug({ device: this.name, label: k.label }, 'keypad: press on an unmapped position ignored');
      return;
    }
    this.keys.next(k.key);
  }

  private driveAll(): void {
    for (const pin of this.rowPins) this.board.write(pin, this.opts.activeLevel);
  }
}
