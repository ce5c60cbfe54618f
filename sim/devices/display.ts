/**
 * Fake character display: keeps the last lines shown, for UIs and tests. Lines must already fit
 * (the port's contract): a text too long or too many lines is a controller bug, reported as
 * DEVICE_REJECTED instead of being cut silently.
 */
import { BehaviorSubject, type Observable } from 'rxjs';
import type { DisplayPort } from '../../src/ports/index.ts';
import { SimDevice, type SimDeps } from './base.ts';

export class SimDisplay extends SimDevice implements DisplayPort {
  readonly rows: number;
  readonly cols: number;
  /** The lines on the glass: current first, then every change. */
  readonly lines$: Observable<readonly string[]>;
  private readonly shown = new BehaviorSubject<readonly string[]>([]);

  constructor(deps: SimDeps) {
    super('display', deps);
    this.rows = deps.config.display.rows;
    this.cols = deps.config.display.cols;
    this.lines$ = this.shown.asObservable();
  }

  get lines(): readonly string[] {
    return this.shown.getValue();
  }

  async show(lines: readonly string[]): Promise<void> {
    this.assertOnline();
    if (lines.length > this.rows) throw this.error('DEVICE_REJECTED', `${lines.length} lines for a ${this.rows}-row display`);
    const long = lines.find((l) => l.length > this.cols);
    if (long !== undefined) throw this.error('DEVICE_REJECTED', `'${long}' is ${long.length} characters; the display has ${this.cols}`);
    this.shown.next([...lines]);
  }
}
