/**
 * Fake keypad: the customer's key presses appear on `keys$`. An offline keypad (cable off) loses
 * the presses.
 */
import { Subject, type Observable } from 'rxjs';
import { isKey, type Key, type KeypadPort } from '../../src/ports/index.ts';
import { SimDevice, type SimDeps } from './base.ts';

export class SimKeypad extends SimDevice implements KeypadPort {
  readonly keys$: Observable<Key>;
  private readonly keys = new Subject<Key>();

  constructor(deps: SimDeps) {
    super('keypad', deps);
    this.keys$ = this.keys.asObservable();
  }

  /** Press one key. Throws RangeError for a key the keypad does not have; false when offline. */
  press(key: string): boolean {
    if (!isKey(key)) throw new RangeError(`no key '${key}' on the keypad (A-J, 0-9, CLEAR, RETURN)`);
    if (!this.online) return false;
    this.keys.next(key);
    return true;
  }

  /** Press each character of a selection such as "A1" in turn. */
  type(text: string): boolean {
    const keys = [...text.toUpperCase()].filter((c) => c.trim() !== '');
    for (const k of keys) if (!isKey(k)) throw new RangeError(`no key '${k}' on the keypad (in '${text}')`);
    let all = true;
    for (const k of keys) all = this.press(k) && all;
    return all;
  }
}
