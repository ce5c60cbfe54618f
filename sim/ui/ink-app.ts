/**
 * Mounting the ink app. Kept apart from index.ts and loaded on demand, because importing ink costs
 * more than starting the machine (see ansi.ts).
 */
import { render, type Instance } from 'ink';
import { createElement } from 'react';
import { App } from './App.tsx';
import type { Size } from './layout.ts';
import type { UiStore } from './store.ts';

export interface MountOptions {
  readonly stdout: NodeJS.WriteStream;
  readonly stdin: NodeJS.ReadStream;
  /** A fixed size (off-screen rendering); default: follow the terminal. */
  readonly size?: Size;
  /** Write every render at once, unthrottled (off-screen measurement). */
  readonly debug?: boolean;
}

export function mountInk(store: UiStore, opts: MountOptions): Instance {
  return render(createElement(App, { store, ...(opts.size ? { size: opts.size } : {}) }), {
    stdout: opts.stdout,
    stdin: opts.stdin,
    exitOnCtrlC: false,
    patchConsole: opts.debug !== true,
    debug: opts.debug === true,
    maxFps: 20,
  });
}
