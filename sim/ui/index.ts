/**
 * The terminal simulator (ink): `runTerminalUi` runs it on a terminal until the person quits;
 * `measureUi` times start-up and frames off-screen for the benchmark; `captureFrame` gives a
 * frame as plain text (docs, tests).
 */
import type { Instance } from 'ink';
import type { Observable } from 'rxjs';
import type { FrameTrace } from '../../hardware/serial/types.ts';
import type { MachineConfig } from '../../src/config/schema.ts';
import { loadDemoConfig } from '../session.ts';
import { paintFrame } from './ansi.ts';
import { FakeStdin, FakeStdout } from './fake-terminal.ts';
import { plainLines, renderFrame, type Size } from './layout.ts';
import { createUiMachine, type UiMachine } from './model.ts';
import { UiStore } from './store.ts';

export { KEYS, SPEEDS, keyPress, type KeyPress, type KeyBinding, type KeyGroup } from './keys.ts';
export { createUiMachine, fromSession, type UiMachine, type CreateUiMachineOptions } from './model.ts';
export { UiStore, FRAME_MS, IDLE_FRAME_MS } from './store.ts';
export { PANEL_ORDER, type PanelId, type UiView } from './view.ts';
export { renderFrame, plainLines, MIN_SIZE, WIDE_COLS, type Size } from './layout.ts';

export interface TerminalUiOptions {
  readonly config: MachineConfig;
  /** Wire-level frames to show in the wire panel (absent: "port level: no wire trace"). */
  readonly trace$?: Observable<FrameTrace>;
  readonly stdin?: NodeJS.ReadStream;
  readonly stdout?: NodeJS.WriteStream;
  /** A machine built elsewhere (e.g. at the wire level); default: `createUiMachine(config)`. */
  readonly machine?: UiMachine;
}

/** The terminal's alternate screen, so quitting gives the shell its screen back. */
const ALT_SCREEN_ON = '\x1b[?1049h\x1b[H\x1b[?25l';
const ALT_SCREEN_OFF = '\x1b[?25h\x1b[?1049l';
const CLEAR = '\x1b[2J\x1b[H';

/** The frame size used on a terminal: one line less than its height (see App.tsx). */
function screenSize(stdout: NodeJS.WriteStream): Size {
  return { cols: stdout.columns || 80, rows: Math.max(6, (stdout.rows || 24) - 1) };
}

/**
 * Runs the full-screen simulator until the person quits (q or Ctrl-C), then restores the terminal
 * and stops the machine. The virtual clock runs against wall time at 1× from the start.
 *
 * Start-up: the machine is built and its first frame painted directly (ansi.ts) while ink loads;
 * ink then takes over the same frame and the keys.
 */
export async function runTerminalUi(opts: TerminalUiOptions): Promise<void> {
  const stdout = opts.stdout ?? process.stdout;
  const stdin = opts.stdin ?? process.stdin;
  const screen = stdout.isTTY === true;
  const colour = screen && process.env.NO_COLOR === undefined;
  // Keys typed during start-up wait in the terminal instead of echoing over the frame.
  if (stdin.isTTY) stdin.setRawMode(true);
  if (screen) stdout.write(ALT_SCREEN_ON);
  let machine: UiMachine | undefined;
  let store: UiStore | undefined;
  let app: Instance | undefined;
  // A hang-up, an interrupt or a kill ends the UI like q does, so the terminal is restored.
  const signals = ['SIGTERM', 'SIGHUP', 'SIGINT'] as const;
  let signalled = false;
  const onSignal = (): void => {
    signalled = true;
    store?.quit();
  };
  for (const sig of signals) process.once(sig, onSignal);
  try {
    machine = opts.machine ?? (await createUiMachine(opts.config, opts.trace$ ? { trace$: opts.trace$ } : {}));
    const ui = new UiStore(machine);
    store = ui;
    if (signalled) ui.quit();
    const paint = (): void => {
      stdout.write(paintFrame(renderFrame(ui.view(), screenSize(stdout)), colour));
    };
    paint();
    const stopPainting = ui.subscribe(paint);
    ui.startRealtime();
    const { mountInk } = await import('./ink-app.ts');
    stopPainting();
    if (screen) stdout.write(CLEAR);
    app = mountInk(ui, { stdout, stdin });
    await Promise.race([ui.quitted, app.waitUntilExit()]);
  } finally {
    for (const sig of signals) process.off(sig, onSignal);
    store?.quit();
    if (app) {
      app.unmount();
      await app.waitUntilExit().catch(() => undefined);
    }
    if (screen) stdout.write(ALT_SCREEN_OFF);
    if (stdin.isTTY) stdin.setRawMode(false);
    stdin.pause();
    await machine?.close();
  }
}

/** One frame of `store` as plain text lines (exactly size.rows lines of size.cols characters). */
export function captureFrame(store: UiStore, size: Size): string[] {
  return plainLines(renderFrame(store.view(), size));
}

export interface UiMeasurement {
  /** From nothing (config not loaded, ink not imported unless it already was) to the first frame written. */
  readonly firstFrameMs: number;
  /** Mean time from a machine change to its frame written, over `frames` frames. */
  readonly frameMs: number;
  readonly frames: number;
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Times the UI off-screen (a fake 80×24 terminal, ink in debug mode so each render is written at
 * once): start-up to the first frame, and the frame time while the virtual clock moves.
 */
export async function measureUi(opts: { readonly config?: MachineConfig; readonly frames?: number; readonly size?: Size } = {}): Promise<UiMeasurement> {
  const size = opts.size ?? { cols: 80, rows: 24 };
  const frames = opts.frames ?? 50;
  const t0 = performance.now();
  const config = opts.config ?? loadDemoConfig();
  const machine = await createUiMachine(config);
  const store = new UiStore(machine, { panels: { counters: true } });
  const stdout = new FakeStdout(size.cols, size.rows);
  const stdin = new FakeStdin();
  const { mountInk } = await import('./ink-app.ts');
  const app = mountInk(store, { stdout: stdout.asStream(), stdin: stdin.asStream(), size, debug: true });
  for (let i = 0; i < 100 && stdout.frames.length === 0; i++) await nextTurn();
  const firstFrameMs = performance.now() - t0;

  let total = 0;
  const coins = config.currency.coins;
  for (let i = 0; i < frames; i++) {
    // A visible change every frame (the grid cursor moves; every tenth frame a coin goes in too),
    // timed from the change to its frame written.
    const before = stdout.frames.length;
    const t = performance.now();
    if (i % 10 === 0) store.insertCoin(coins[0] ?? 1);
    store.key({ input: '', right: true });
    for (let j = 0; j < 1000 && stdout.frames.length === before; j++) await nextTurn();
    total += performance.now() - t;
    await store.advance(100);
  }
  app.unmount();
  store.quit();
  await machine.close();
  return { firstFrameMs, frameMs: total / frames, frames };
}
