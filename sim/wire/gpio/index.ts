/**
 * The simulated GPIO board, wired from the same options the adapters use (hardware/gpio/config.ts),
 * so the simulator and the real wiring cannot drift apart.
 *
 * ```ts
 * const sim = createSimIO({ clock, options });
 * const gpio = await createGpioDevices({ io: sim.io, clock, options });
 * sim.coin?.insertCoin(50);          // pulses on the coin pin
 * sim.keypad?.press('A');            // contacts on the keypad matrix
 * sim.lcd?.lines();                  // what the LCD shows, decoded from HD44780 writes
 * ```
 */
import type { Observable } from 'rxjs';
import type { Clock } from '../../../src/clock.ts';
import type { FrameTrace } from '../../../hardware/serial/types.ts';
import { keyForLabel, motorAddresses, parseGpioOptions, type GpioOptions, type GpioOptionsInput, type PinId } from '../../../hardware/gpio/config.ts';
import type { Key } from '../../../src/ports/index.ts';
import {
  CoinPulseBridge,
  DoorSwitchBridge,
  DropBeamBridge,
  KeypadMatrixBridge,
  MotorMatrixBridge,
  type CoinPulseTiming,
  type MotorTiming,
} from './bridges.ts';
import { Hd44780, wireI2cLcd, wireParallelLcd } from './hd44780.ts';
import { SimIO, type SimIOOptions } from './io-plugin.ts';

export * from './bridges.ts';
export * from './hd44780.ts';
export * from './io-plugin.ts';

export interface CreateSimIOOptions extends Omit<SimIOOptions, 'clock'> {
  clock: Clock;
  /** The machine's GPIO options (raw or parsed): which devices exist and on which pins. */
  options: GpioOptions | GpioOptionsInput;
  coinTiming?: Partial<CoinPulseTiming>;
  motorTiming?: Partial<MotorTiming>;
}

export interface SimGpio {
  readonly io: SimIO;
  readonly coin?: CoinPulseBridge;
  readonly keypad?: KeypadMatrixBridge;
  readonly motors?: MotorMatrixBridge;
  readonly drop?: DropBeamBridge;
  readonly door?: DoorSwitchBridge;
  /** The LCD as decoded from the board's writes. */
  readonly lcd?: Hd44780;
  /** Pin changes and decoded LCD bytes on bus 'gpio'. */
  readonly trace$: Observable<FrameTrace>;
}

/** Build a SimIO board and the device bridges for every device in `options`. */
export function createSimIO(args: CreateSimIOOptions): SimGpio {
  const options = parseGpioOptions(args.options);
  const ioOptions: SimIOOptions = { clock: args.clock };
  if (args.pinCount !== undefined) ioOptions.pinCount = args.pinCount;
  if (args.name !== undefined) ioOptions.name = args.name;
  if (args.ready !== undefined) ioOptions.ready = args.ready;
  if (args.readLatencyMs !== undefined) ioOptions.readLatencyMs = args.readLatencyMs;
  const io = new SimIO(ioOptions);
  const pin = (id: PinId): number => io.normalize(id);

  let coin: CoinPulseBridge | undefined;
  if (options.coin) {
    const c = options.coin;
    coin = new CoinPulseBridge(io, {
      pin: pin(c.pin),
      activeLevel: c.activeLevel,
      pulses: c.pulses,
      ...(c.inhibit ? { inhibit: { pin: pin(c.inhibit.pin), activeLevel: c.inhibit.activeLevel } } : {}),
      ...(c.returnButton ? { returnButton: { pin: pin(c.returnButton.pin), activeLevel: c.returnButton.activeLevel } } : {}),
      ...(args.coinTiming ? { timing: args.coinTiming } : {}),
    });
  }

  let keypad: KeypadMatrixBridge | undefined;
  if (options.keypad) {
    const k = options.keypad;
    const keyMap: Record<string, Key> = {};
    for (const row of k.layout)
      for (const label of row) {
        const key = keyForLabel(label, k.keyMap);
        if (key !== undefined) keyMap[label] = key;
      }
    keypad = new KeypadMatrixBridge(io, { rowPins: k.rowPins.map(pin), colPins: k.colPins.map(pin), activeLevel: k.activeLevel, layout: k.layout, keyMap });
  }

  let motors: MotorMatrixBridge | undefined;
  if (options.dispenser) {
    const d = options.dispenser;
    const home = d.home;
    motors = new MotorMatrixBridge(io, {
      rowPins: d.rowPins.map(pin),
      colPins: d.colPins.map(pin),
      rowActive: d.rowActive,
      colActive: d.colActive,
      motors: motorAddresses(d),
      home: home.mode === 'shared' ? { mode: 'shared', pin: pin(home.pin) } : { mode: 'perMotor', pins: Object.fromEntries(Object.entries(home.pins).map(([c, p]) => [c, pin(p)])) },
      homeLevel: d.homeLevel,
      ...(args.motorTiming ? { timing: args.motorTiming } : {}),
    });
  }

  const drop = options.drop ? new DropBeamBridge(io, { pin: pin(options.drop.pin), activeLevel: options.drop.activeLevel }) : undefined;
  const door = options.door ? new DoorSwitchBridge(io, { pin: pin(options.door.pin), openLevel: options.door.openLevel }) : undefined;

  let lcd: Hd44780 | undefined;
  if (options.lcd) {
    const l = options.lcd;
    lcd = new Hd44780({ rows: l.rows, cols: l.cols });
    if (l.controller === 'PARALLEL') {
      const p = l.pins;
      wireParallelLcd(io, { rs: pin(p.rs), en: pin(p.en), d4: pin(p.d4), d5: pin(p.d5), d6: pin(p.d6), d7: pin(p.d7) }, lcd);
    } else {
      // johnny-five's default addresses for the PCF8574 family (lib/lcd.js).
      const address = l.address ?? (l.controller === 'PCF8574A' || l.controller === 'PCF8574AT' ? 0x3f : 0x27);
      wireI2cLcd(io, address, lcd);
    }
  }

  return {
    io,
    ...(coin ? { coin } : {}),
    ...(keypad ? { keypad } : {}),
    ...(motors ? { motors } : {}),
    ...(drop ? { drop } : {}),
    ...(door ? { door } : {}),
    ...(lcd ? { lcd } : {}),
    trace$: io.trace$,
  };
}
