/**
 * GPIO hardware through johnny-five: one call opens the board over an IO plugin and builds every
 * device the options describe.
 *
 * ```ts
 * // On a Raspberry Pi (npm install raspi-io there; run as root):
 * const io = await loadIoPlugin('raspi-io');
 * const gpio = await createGpioDevices({ io, clock: realClock, options: config.hardware.gpio });
 * // In the simulator / tests:
 * const sim = createSimIO({ clock, options });
 * const gpio = await createGpioDevices({ io: sim.io, clock, options });
 * ```
 */
import type { Clock } from '../../src/clock.ts';
import { GpioBoard, type GpioLog, type IoPlugin } from './board.ts';
import { parseGpioOptions, type GpioOptions, type GpioOptionsInput } from './config.ts';
import { MatrixKeypad } from './keypad.ts';
import { LcdDisplay } from './lcd.ts';
import { GpioDispenser } from './motors.ts';
import { PulseCoinAcceptor } from './pulse-acceptor.ts';
import { GpioDoor, GpioDropSensor } from './sensors.ts';

export { GpioBoard, DebouncedInput, isIoPlugin, loadIoPlugin, silentLog } from './board.ts';
export type { GpioLog, IoPlugin, IoPinInfo, IoModes } from './board.ts';
export * from './config.ts';
export { MatrixKeypad } from './keypad.ts';
export { LcdDisplay, changedRuns } from './lcd.ts';
export { GpioDispenser } from './motors.ts';
export { PulseCoinAcceptor, type PulseDiagnostic } from './pulse-acceptor.ts';
export { GpioDoor, GpioDropSensor } from './sensors.ts';

export interface GpioDevices {
  readonly board: GpioBoard;
  readonly coin?: PulseCoinAcceptor;
  readonly keypad?: MatrixKeypad;
  readonly dispenser?: GpioDispenser;
  readonly drop?: GpioDropSensor;
  readonly door?: GpioDoor;
  readonly display?: LcdDisplay;
  /** Detach every device and stop the board's dispatching (motors off). */
  close(): void;
}

export interface CreateGpioDevicesOptions {
  /** Any johnny-five IO plugin: raspi-io / pi-io on a Pi, SimIO in the simulator. */
  io: IoPlugin;
  clock: Clock;
  /** Parsed or raw options; raw input is validated with `gpioOptionsSchema`. */
  options: GpioOptions | GpioOptionsInput;
  log?: GpioLog;
}

/**
 * Open the board (waiting for ready on the Clock, DEVICE_TIMEOUT after `readyTimeoutMs`) and create
 * the devices present in `options`. Bad options throw one error listing every bad field.
 */
export async function createGpioDevices(args: CreateGpioDevicesOptions): Promise<GpioDevices> {
  const options = parseGpioOptions(args.options);
  const board = await GpioBoard.open({ io: args.io, clock: args.clock, readyTimeoutMs: options.readyTimeoutMs, ...(args.log ? { log: args.log } : {}) });
  let devices: Omit<GpioDevices, 'board' | 'close'>;
  try {
    devices = buildDevices(board, options);
  } catch (e) {
    // A pin the plugin does not have, etc.: leave nothing half-open behind.
    board.close();
    throw e;
  }
  const { coin, keypad, dispenser, drop, door, display } = devices;
  return {
    board,
    ...(coin ? { coin } : {}),
    ...(keypad ? { keypad } : {}),
    ...(dispenser ? { dispenser } : {}),
    ...(drop ? { drop } : {}),
    ...(door ? { door } : {}),
    ...(display ? { display } : {}),
    close() {
      coin?.close();
      keypad?.close();
      dispenser?.close();
      drop?.close();
      door?.close();
      board.close();
    },
  };
}

function buildDevices(board: GpioBoard, options: GpioOptions): Omit<GpioDevices, 'board' | 'close'> {
  const built: { -readonly [K in keyof Omit<GpioDevices, 'board' | 'close'>]?: GpioDevices[K] } = {};
  try {
    if (options.coin) built.coin = new PulseCoinAcceptor(board, options.coin);
    if (options.keypad) built.keypad = new MatrixKeypad(board, options.keypad);
    if (options.dispenser) built.dispenser = new GpioDispenser(board, options.dispenser);
    if (options.drop) built.drop = new GpioDropSensor(board, options.drop);
    if (options.door) built.door = new GpioDoor(board, options.door);
    if (options.lcd) built.display = new LcdDisplay(board, options.lcd);
  } catch (e) {
    built.coin?.close();
    built.keypad?.close();
    built.dispenser?.close();
    built.drop?.close();
    built.door?.close();
    throw e;
  }
  return built;
}
