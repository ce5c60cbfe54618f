/**
 * The MDB wire-level emulator: an interface board (Qibixx-style ASCII, protocols.md §2.1) with
 * emulated changer, bill validator and cashless reader behind it, each a front-end over a port-level
 * device. Register it on the EmulatorBinding and the real SerialLink + MDB drivers talk to it.
 *
 * @example
 * ```ts
 * const emu = createMdbEmulator({ coin: sim.coin, bill: sim.bill, card: sim.card, clock, options: { coins: [5, 10, 20, 50, 100, 200], bills: [500, 1000, 2000] } });
 * binding.register(emu);
 * // wire faults: emu.changer?.mute(true), emu.validator?.corruptChecksums(1), emu.reader?.powerCycle(),
 * // emu.dropCommands(2), emu.sendGarbage('@@\n'), binding.unplug(emu.path) / binding.replug(emu.path)
 * ```
 */
import type { Clock } from '../../../src/clock.ts';
import type { BillValidatorPort, CashlessPort, CoinMechPort, Minor } from '../../../src/ports/index.ts';
import type { Logger } from '../../../hardware/serial/log.ts';
import { MdbBoardEmulator } from './board.ts';
import type { MdbBoardEmulatorOptions } from './board.ts';
import { MdbCashlessEmulator } from './cashless.ts';
import type { CashlessEmulatorOptions } from './cashless.ts';
import { MdbChangerEmulator } from './changer.ts';
import type { ChangerEmulatorOptions, PowerCut } from './changer.ts';
import { MdbValidatorEmulator } from './validator.ts';
import type { ValidatorEmulatorOptions } from './validator.ts';

export { MdbBoardEmulator } from './board.ts';
export type { MdbBoardEmulatorOptions, ReplyFault, ReplyFaultHook, ReplyFaultRule } from './board.ts';
export { MdbChangerEmulator } from './changer.ts';
export type { ChangerEmulatorOptions, PowerCut } from './changer.ts';
export { MdbValidatorEmulator } from './validator.ts';
export type { ValidatorEmulatorOptions } from './validator.ts';
export { MdbCashlessEmulator } from './cashless.ts';
export type { CashlessEmulatorOptions, ReaderState } from './cashless.ts';
export { EmulatedPeripheral } from './peripheral.ts';
export type { MdbBusDevice, PeripheralAnswer } from './peripheral.ts';

export interface MdbEmulatorOptions extends Omit<MdbBoardEmulatorOptions, 'clock' | 'log'> {
  /** Coin value per MDB coin type (index = type), e.g. the machine's `currency.coins`. */
  readonly coins?: readonly Minor[];
  /** Bill value per MDB bill type, e.g. `currency.bills`. */
  readonly bills?: readonly Minor[];
  /** ISO 4217 numeric currency (default 978, EUR). */
  readonly currency?: number;
  /** Decimal places of the machine's minor units and of the devices (default 2). */
  readonly decimals?: number;
  readonly changer?: Partial<ChangerEmulatorOptions>;
  readonly validator?: Partial<ValidatorEmulatorOptions>;
  readonly cashless?: CashlessEmulatorOptions;
  readonly log?: Logger;
}

export interface MdbEmulatorInput {
  /** The mech behind the changer; one with `halt` stops paying when the changer resets. */
  readonly coin?: CoinMechPort & Partial<PowerCut>;
  readonly bill?: BillValidatorPort;
  readonly card?: CashlessPort;
  readonly clock: Clock;
  readonly options?: MdbEmulatorOptions;
}

/** The board emulator with handles on its peripherals (for fault injection). */
export class MdbEmulator extends MdbBoardEmulator {
  constructor(
    opts: MdbBoardEmulatorOptions,
    readonly changer: MdbChangerEmulator | undefined,
    readonly validator: MdbValidatorEmulator | undefined,
    readonly reader: MdbCashlessEmulator | undefined,
  ) {
    super(opts);
    if (changer) this.addDevice(changer);
    if (validator) this.addDevice(validator);
    if (reader) this.addDevice(reader);
  }

  /** Stop listening to the port-level devices. */
  dispose(): void {
    this.changer?.dispose();
    this.validator?.dispose();
    this.reader?.dispose();
  }
}

export function createMdbEmulator(input: MdbEmulatorInput): MdbEmulator {
  const o = input.options ?? {};
  const decimals = o.decimals ?? 2;
  const currency = o.currency ?? 978;
  const common = { decimals, currencyDecimals: decimals, currency, log: o.log };
  const changer = input.coin ? new MdbChangerEmulator(input.coin, { coins: o.coins ?? [5, 10, 20, 50, 100, 200], clock: input.clock, ...common, ...o.changer }) : undefined;
  const validator = input.bill ? new MdbValidatorEmulator(input.bill, { bills: o.bills ?? [500, 1000, 2000], ...common, ...o.validator }) : undefined;
  const reader = input.card ? new MdbCashlessEmulator(input.card, { ...common, ...o.cashless }) : undefined;
  const { coins: _c, bills: _b, currency: _cur, decimals: _d, changer: _ch, validator: _v, cashless: _cl, ...board } = o;
  return new MdbEmulator({ ...board, clock: input.clock }, changer, validator, reader);
}
