/** Rendering the terminal UI off-screen with ink-testing-library, on a virtual clock driven by the test. */
import { render } from 'ink-testing-library';
import type { Observable } from 'rxjs';
import type { FrameTrace } from '../../hardware/serial/types.ts';
import type { MachineConfig } from '../../src/config/schema.ts';
import { loadDemoConfig } from '../../sim/session.ts';
import { App } from '../../sim/ui/App.tsx';
import type { Size } from '../../sim/ui/layout.ts';
import { createUiMachine, type UiMachine } from '../../sim/ui/model.ts';
import { UiStore } from '../../sim/ui/store.ts';

export const ESC = '\x1b';
export const ENTER = '\r';
export const UP = '\x1b[A';
export const DOWN = '\x1b[B';
export const RIGHT = '\x1b[C';
export const BACKSPACE = '\x7f';

/** Lets ink read the input and React commit (a few event-loop turns, no waiting on time). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

export function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
}

export interface Harness {
  readonly machine: UiMachine;
  readonly store: UiStore;
  /** The last frame as plain text. */
  frame(): string;
  lines(): string[];
  /** Types keys (each string one chunk, as a terminal sends it) and lets the UI catch up. */
  type(...chunks: string[]): Promise<void>;
  /** Moves the virtual clock and lets the UI catch up. */
  advance(ms: number): Promise<void>;
  close(): Promise<void>;
}

const open: Harness[] = [];

export function demoWith(change: (c: MachineConfig) => void): MachineConfig {
  const config = structuredClone(loadDemoConfig());
  change(config);
  return config;
}

export async function startUi(opts: { config?: MachineConfig; trace$?: Observable<FrameTrace>; size?: Size } = {}): Promise<Harness> {
  const machine = await createUiMachine(opts.config ?? loadDemoConfig(), opts.trace$ ? { trace$: opts.trace$ } : {});
  const store = new UiStore(machine);
  const ui = render(<App store={store} size={opts.size ?? { cols: 80, rows: 24 }} />);
  await settle();
  const frame = (): string => stripAnsi(ui.lastFrame() ?? '');
  const h: Harness = {
    machine,
    store,
    frame,
    lines: () => frame().split('\n'),
    async type(...chunks) {
      for (const c of chunks) {
        ui.stdin.write(c);
        await settle();
      }
    },
    async advance(ms) {
      await store.advance(ms);
      await settle();
    },
    async close() {
      ui.unmount();
      store.quit();
      await machine.close();
    },
  };
  open.push(h);
  return h;
}

export async function closeAll(): Promise<void> {
  for (const h of open.splice(0)) await h.close();
}
