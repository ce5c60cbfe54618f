/**
 * MDB over a Qibixx-style interface board: one factory that wires the board client and the three
 * drivers onto a ByteLink, plus a helper to open the serial link with MDB-board defaults.
 *
 * @example
 * ```ts
 * const link = openMdbSerialLink({ clock, binding });          // USB 16d0:0bd7, 115200 8N1
 * const mdb = createMdbDevices({ link, clock, tracer, options: { currencyDecimals: 2 } });
 * mdb.start();
 * await link.open();
 * // mdb.coin / mdb.bill / mdb.card implement CoinMechPort / BillValidatorPort / CashlessPort
 * ```
 */
import type { BindingInterface } from '@serialport/bindings-interface' with { 'resolution-mode': 'require' };
import type { Clock } from '../../src/clock.ts';
import type { Logger } from '../serial/log.ts';
import { SerialLink } from '../serial/link.ts';
import type { BackoffOptions, SerialTarget } from '../serial/link.ts';
import type { FrameTracer } from '../serial/trace.ts';
import type { ByteLink } from '../serial/types.ts';
import { MdbBoard } from './board.ts';
import type { MdbBoardOptions } from './board.ts';
import { MdbCashless } from './cashless.ts';
import type { MdbCashlessOptions } from './cashless.ts';
import { MdbCoinChanger } from './changer.ts';
import type { MdbCoinChangerOptions } from './changer.ts';
import { MdbBillValidator } from './validator.ts';
import type { MdbBillValidatorOptions } from './validator.ts';

export { MdbBoard, LineSplitter, parseBoardLine, commandLine } from './board.ts';
export type { MdbBoardOptions, MdbReply, BoardLine, SendOptions } from './board.ts';
export { MdbCoinChanger } from './changer.ts';
export type { MdbCoinChangerOptions } from './changer.ts';
export { MdbBillValidator } from './validator.ts';
export type { MdbBillValidatorOptions } from './validator.ts';
export { MdbCashless } from './cashless.ts';
export type { MdbCashlessOptions } from './cashless.ts';
export type { MdbDeviceOptions, MdbPhase } from './device.ts';
export { mdbBlockSchema } from './options.ts';

/** USB ids of the Qibixx MDB-USB interface (protocols.md §2.1). */
export const MDB_USB_ID = { vendorId: '16d0', productId: '0bd7' } as const;

export interface MdbDevicesOptions {
  /** Interface-board options (reply CHK mode, line ending, timeouts, retry policy). */
  readonly board?: Omit<MdbBoardOptions, 'link' | 'clock' | 'tracer' | 'log'>;
  /** Coin changer options; `false` leaves the changer out (the factory then returns no `coin`). */
  readonly coin?: MdbCoinChangerOptions | false;
  /** Bill validator options; `false` when the machine has none. */
  readonly bill?: MdbBillValidatorOptions | false;
  /** Cashless reader options; `false` when the machine has none. */
  readonly card?: MdbCashlessOptions | false;
  /** Machine minor-unit decimals, given to every driver that does not set its own (EUR: 2). */
  readonly currencyDecimals?: number;
  readonly log?: Logger;
}

export interface MdbDevicesInput {
  readonly link: ByteLink;
  readonly clock: Clock;
  /** Every line on the board link is traced here (sniffer, fault reports). */
  readonly tracer?: FrameTracer;
  readonly options?: MdbDevicesOptions;
}

export interface MdbDevices {
  readonly board: MdbBoard;
  readonly coin?: MdbCoinChanger;
  readonly bill?: MdbBillValidator;
  readonly card?: MdbCashless;
  /** Start the board client and every driver's poll loop (open the link separately). */
  start(): void;
  /** Stop polling; the link is left as it is. */
  stop(): Promise<void>;
}

/** Build the board client and the drivers on one link. Nothing talks until `start()`. */
export function createMdbDevices(input: MdbDevicesInput): MdbDevices {
  const o = input.options ?? {};
  const board = new MdbBoard({ ...o.board, link: input.link, clock: input.clock, tracer: input.tracer, log: o.log });
  const common = { currencyDecimals: o.currencyDecimals, log: o.log };
  const coin = o.coin === false ? undefined : new MdbCoinChanger(board, input.clock, { ...common, ...o.coin });
  const bill = o.bill === false ? undefined : new MdbBillValidator(board, input.clock, { ...common, ...o.bill });
  const card = o.card === false ? undefined : new MdbCashless(board, input.clock, { ...common, ...o.card });
  const drivers = [coin, bill, card].filter((d) => d !== undefined);
  return {
    board,
    coin,
    bill,
    card,
    start() {
      board.start();
      for (const d of drivers) d.start();
    },
    async stop() {
      await Promise.all(drivers.map((d) => d.stop()));
      board.stop();
    },
  };
}

export interface MdbSerialOptions {
  readonly clock: Clock;
  /** Default: the MDB-USB by USB id (16d0:0bd7). A path such as "/dev/ttyAMA0" for the Pi HAT. */
  readonly target?: SerialTarget;
  /** Injected serialport binding (the EmulatorBinding in the simulator); default the real one. */
  readonly binding?: BindingInterface;
  readonly backoff?: Partial<BackoffOptions>;
  readonly presenceCheckMs?: number;
  readonly log?: Logger;
}

/** A SerialLink with the board's settings (115200 8N1). Call `open()` on it to connect. */
export function openMdbSerialLink(opts: MdbSerialOptions): SerialLink {
  return new SerialLink({
    target: opts.target ?? MDB_USB_ID,
    clock: opts.clock,
    baudRate: 115_200,
    binding: opts.binding,
    name: 'mdb',
    backoff: opts.backoff,
    presenceCheckMs: opts.presenceCheckMs,
    log: opts.log,
  });
}
