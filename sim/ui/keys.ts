/**
 * The terminal simulator's key map, in one place: the help panel (`?`), the hint bar and
 * docs/terminal-ui.md all show this list, and the store dispatches on the same keys.
 */

export interface KeyBinding {
  /** The key(s) as a person reads them. */
  readonly keys: string;
  readonly what: string;
}

export interface KeyGroup {
  readonly title: string;
  readonly bindings: readonly KeyBinding[];
}

/** Every key of the main screen, grouped. Menus show their own keys in the hint bar. */
export const KEYS: readonly KeyGroup[] = [
  {
    title: 'Customer',
    bindings: [
      { keys: '1-9', what: 'insert a coin (1=lowest)' },
      { keys: 'b 1-9', what: 'feed a bill (1=lowest)' },
      { keys: 'c', what: 'tap a card' },
      { keys: 'C', what: 'tap a card to be declined' },
      { keys: 'x', what: 'take the card away' },
      { keys: 'k', what: 'keypad mode (Esc leaves)' },
      { keys: 'arrows Enter', what: 'pick a column and buy it' },
      { keys: 'r', what: 'coin return lever' },
      { keys: 'g', what: 'take from bin and cup' },
    ],
  },
  {
    title: 'Operator',
    bindings: [
      { keys: 'd', what: 'open / close the door' },
      { keys: 's', what: 'service menu (door open)' },
      { keys: 'f', what: 'fault menu' },
      { keys: ':', what: 'command line (coin 50..)' },
    ],
  },
  {
    title: 'Clock',
    bindings: [
      { keys: 'space', what: 'pause / run the clock' },
      { keys: 'n', what: 'step to the next timer' },
      { keys: '+ -', what: 'faster / slower' },
    ],
  },
  {
    title: 'View',
    bindings: [
      { keys: 't', what: 'states panel' },
      { keys: 'l', what: 'device links panel' },
      { keys: 'e', what: 'event log panel' },
      { keys: 'w', what: 'wire trace panel' },
      { keys: 'i', what: 'inside the machine panel' },
      { keys: 'a', what: 'audit counters panel' },
      { keys: '?', what: 'this help' },
      { keys: 'q Ctrl-C', what: 'quit' },
    ],
  },
];

/** Speeds the `+`/`-` keys step through (virtual ms per real ms). Pause is separate (space). */
export const SPEEDS = [1, 2, 10, 100] as const;

/** A key press, independent of ink (so the store is testable without a terminal). */
export interface KeyPress {
  /** The printable text of the key ('' for arrows, Enter, ...). */
  readonly input: string;
  readonly up?: boolean;
  readonly down?: boolean;
  readonly left?: boolean;
  readonly right?: boolean;
  readonly enter?: boolean;
  readonly escape?: boolean;
  readonly backspace?: boolean;
  readonly tab?: boolean;
  readonly ctrl?: boolean;
  readonly pageUp?: boolean;
  readonly pageDown?: boolean;
}

/** Shorthand for tests and scripts: 'a', 'enter', 'esc', 'up', 'backspace', 'ctrl-c'. */
export function keyPress(name: string): KeyPress {
  switch (name) {
    case 'enter':
      return { input: '', enter: true };
    case 'esc':
      return { input: '', escape: true };
    case 'up':
    case 'down':
    case 'left':
    case 'right':
      return { input: '', [name]: true };
    case 'backspace':
      return { input: '', backspace: true };
    case 'tab':
      return { input: '', tab: true };
    case 'ctrl-c':
      return { input: 'c', ctrl: true };
    default:
      return { input: name };
  }
}
